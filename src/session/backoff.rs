//! Capped exponential backoff with jitter drawn from a seeded generator (no randomness from the OS).

use crate::config::RetryPolicy;
use std::time::Duration;

/// The session's jitter source (persisted with the session).
pub(crate) type Rng = crate::rng::SplitMix64;

/// The delay before retry number `attempt` (1-based): `initial * 2^(attempt-1)`, capped at `max`, then reduced
/// by a random fraction of up to `jitter_percent`, never below [`MIN_BACKOFF`](crate::config::floors::MIN_BACKOFF).
pub(crate) fn delay(policy: &RetryPolicy, attempt: u32, rng: &mut Rng) -> Duration {
    let exp = attempt.saturating_sub(1).min(31);
    let base = policy
        .initial_backoff
        .checked_mul(1u32 << exp)
        .unwrap_or(policy.max_backoff)
        .min(policy.max_backoff);
    let floor = crate::config::floors::MIN_BACKOFF;
    let jitter = u64::from(policy.jitter_percent.min(100));
    if jitter == 0 {
        return base.max(floor);
    }
    let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
    let max_cut = nanos / 100 * jitter;
    let cut = if max_cut == 0 {
        0
    } else {
        rng.next_u64() % max_cut.saturating_add(1)
    };
    // Zero or tiny backoff settings must not make a busy retry loop.
    Duration::from_nanos(nanos - cut).max(floor)
}
