//! The simulator's only source of randomness: a seeded SplitMix64, so every id is a function of the seed and
//! the order of requests.

pub(crate) use crate::rng::SplitMix64;

const HEX: &[u8; 16] = b"0123456789abcdef";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl SplitMix64 {
    fn push_hex(out: &mut String, v: u64, digits: u32) {
        for i in (0..digits).rev() {
            let nibble = ((v >> (i * 4)) & 0xF) as usize;
            out.push(HEX.get(nibble).copied().unwrap_or(b'0') as char);
        }
    }

    /// A version-4-shaped UUID string: `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
    pub(crate) fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        let mut s = String::with_capacity(36);
        Self::push_hex(&mut s, a >> 32, 8);
        s.push('-');
        Self::push_hex(&mut s, (a >> 16) & 0xFFFF, 4);
        s.push('-');
        Self::push_hex(&mut s, 0x4000 | (a & 0x0FFF), 4);
        s.push('-');
        Self::push_hex(&mut s, 0x8000 | ((b >> 48) & 0x3FFF), 4);
        s.push('-');
        Self::push_hex(&mut s, b & 0xFFFF_FFFF_FFFF, 12);
        s
    }

    /// Eight lowercase hex digits, like real affinity tokens (`878a1fa0`).
    pub(crate) fn hex8(&mut self) -> String {
        let mut s = String::with_capacity(8);
        Self::push_hex(&mut s, self.next_u64() >> 32, 8);
        s
    }

    /// An affinity token in the shape the dialect says ([`AffinityShape`](super::dialect::AffinityShape)):
    /// eight hex digits (`878a1fa0`), or a private address and port (`10.44.144.152:443`, as SRI saw).
    /// Either way one draw, so the shapes do not shift the other ids of a seed.
    pub(crate) fn token(&mut self, shape: super::dialect::AffinityShape) -> String {
        match shape {
            super::dialect::AffinityShape::Hex => self.hex8(),
            super::dialect::AffinityShape::HostPort => {
                let v = self.next_u64() >> 32;
                format!(
                    "10.{}.{}.{}:443",
                    (v >> 16) & 0xFF,
                    (v >> 8) & 0xFF,
                    // 1..=254: never a network or broadcast address.
                    (v & 0xFF) % 254 + 1
                )
            }
        }
    }

    /// A 20-byte signature in standard base64 (28 characters ending in `=`), like the third part of real
    /// session keys (`IbjEwmJkIIyqalZS3YBU8WO3nSM=`). May contain `+` and `/`, as real ones may.
    pub(crate) fn signature(&mut self) -> String {
        let mut bytes = [0u8; 21];
        for chunk in bytes.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(v.iter()) {
                *d = *s;
            }
        }
        // Only 20 bytes are encoded; the 21st pads the last group with zero bits.
        if let Some(b) = bytes.get_mut(20) {
            *b = 0;
        }
        let mut s = String::with_capacity(28);
        // 20 bytes = 6 full groups of 3 plus 2 bytes -> 27 chars + '='.
        for group in bytes.chunks(3).take(7) {
            let b0 = u32::from(group.first().copied().unwrap_or(0));
            let b1 = u32::from(group.get(1).copied().unwrap_or(0));
            let b2 = u32::from(group.get(2).copied().unwrap_or(0));
            let n = (b0 << 16) | (b1 << 8) | b2;
            for shift in [18u32, 12, 6, 0] {
                let i = ((n >> shift) & 63) as usize;
                s.push(B64.get(i).copied().unwrap_or(b'A') as char);
            }
        }
        s.truncate(27);
        s.push('=');
        s
    }
}

/// The hasher of the simulator's session maps (keys, ids, tickets): a word-at-a-time multiply-rotate hash
/// (FxHash's scheme) instead of SipHash, which hashed a 100-byte session key byte-block by byte-block on every
/// request. The keys in these maps are the server's own (random ids and keys it issued), so a client cannot
/// choose colliding entries; a lookup of a crafted key costs one probe sequence like any other.
pub(crate) type FastHash = std::hash::BuildHasherDefault<WordHasher>;

/// See [`FastHash`].
#[derive(Default, Clone, Copy)]
pub(crate) struct WordHasher(u64);

impl WordHasher {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}
