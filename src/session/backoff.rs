//! Capped exponential backoff with jitter drawn from a seeded generator (no randomness from the OS).

use crate::config::RetryPolicy;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// splitmix64: tiny, fast, and good enough for jitter. State is one `u64`, so it persists with the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The delay before retry number `attempt` (1-based): `initial * 2^(attempt-1)`, capped at `max`, then reduced
/// by a random fraction of up to `jitter_percent`.
pub(crate) fn delay(policy: &RetryPolicy, attempt: u32, rng: &mut Rng) -> Duration {
    let exp = attempt.saturating_sub(1).min(31);
    let base = policy
        .initial_backoff
        .checked_mul(1u32 << exp)
        .unwrap_or(policy.max_backoff)
        .min(policy.max_backoff);
    let jitter = u64::from(policy.jitter_percent.min(100));
    if jitter == 0 {
        return base;
    }
    let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
    let max_cut = nanos / 100 * jitter;
    let cut = if max_cut == 0 {
        0
    } else {
        rng.next_u64() % max_cut.saturating_add(1)
    };
    Duration::from_nanos(nanos - cut)
}
