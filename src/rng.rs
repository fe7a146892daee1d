//! The crate's only source of randomness: SplitMix64 (Steele, Lea, Flood 2014), seeded from the
//! configuration. Tiny, fast, one `u64` of state (so it persists with a session), and good enough for retry
//! jitter and the simulator's ids. Never seeded from the OS: the same seed and inputs give the same outputs.

use serde::{Deserialize, Serialize};

/// A seeded SplitMix64 generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
