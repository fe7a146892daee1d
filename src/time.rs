//! Arithmetic on `Instant`s that never panics (the crate takes every time value as input).

use std::time::{Duration, Instant};

/// `t + d`, or as much of `d` as the platform's `Instant` can still take (halving until it fits); `t` itself
/// when nothing fits.
pub(crate) fn saturating_add(t: Instant, d: Duration) -> Instant {
    let mut d = d;
    loop {
        if let Some(x) = t.checked_add(d) {
            return x;
        }
        d /= 2;
        if d.is_zero() {
            return t;
        }
    }
}
