//! One ceiling on the session's request rate that no answer can lift: a token bucket over every request
//! the session sends, whatever its kind or the answer it follows ([`LimitsConfig::max_requests_per_second`]
//! sustained, [`LimitsConfig::request_burst`] at once). The per-answer pacing (backoff, empty polls, message
//! spacing) shapes a well-behaved exchange; this bounds a hostile one: a server that answers each poll at once
//! with something that looks new, or a 503 with an instant reconnect, gets at most this many requests.
//!
//! Kept as the bucket's "theoretical arrival time" (GCRA): one timestamp, no float, exact on a virtual clock.
//!
//! [`LimitsConfig::max_requests_per_second`]: crate::LimitsConfig::max_requests_per_second
//! [`LimitsConfig::request_burst`]: crate::LimitsConfig::request_burst

use crate::config::{LimitsConfig, floors};
use crate::time::Timestamp;
use std::time::Duration;

/// The bucket: when the next request would be due if requests went at exactly the sustained rate.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestBudget {
    due: Option<Timestamp>,
}

fn interval(limits: &LimitsConfig) -> Duration {
    let rate = limits
        .max_requests_per_second
        .max(floors::MIN_REQUESTS_PER_SECOND);
    Duration::from_secs(1) / rate
}

fn tolerance(limits: &LimitsConfig) -> Duration {
    let burst = limits.request_burst.max(floors::MIN_REQUEST_BURST);
    interval(limits).saturating_mul(burst.saturating_sub(1))
}

impl RequestBudget {
    /// When the next request may go: `None` if it may go at any time now or later.
    pub(crate) fn next_allowed(&self, limits: &LimitsConfig) -> Option<Timestamp> {
        self.due.and_then(|t| t.checked_sub(tolerance(limits)))
    }

    /// Whether a request may go at `now`.
    pub(crate) fn allows(&self, now: Timestamp, limits: &LimitsConfig) -> bool {
        self.next_allowed(limits).is_none_or(|t| t <= now)
    }

    /// A request goes at `now`.
    pub(crate) fn spend(&mut self, now: Timestamp, limits: &LimitsConfig) {
        let base = self.due.map_or(now, |t| t.max(now));
        self.due = Some(base.saturating_add(interval(limits)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limits = LimitsConfig {
            max_requests_per_second: 10,
            request_burst: 3,
            ..LimitsConfig::default()
        };
        let mut b = RequestBudget::default();
        let t0 = Timestamp::from_millis(1000);
        for _ in 0..3 {
            assert!(b.allows(t0, &limits));
            b.spend(t0, &limits);
        }
        assert!(!b.allows(t0, &limits));
        assert_eq!(b.next_allowed(&limits), Some(Timestamp::from_millis(1100)));
        let mut sent = 3;
        let mut now = t0;
        while now < Timestamp::from_millis(2000) {
            now = now.saturating_add(Duration::from_millis(1));
            if b.allows(now, &limits) {
                b.spend(now, &limits);
                sent += 1;
            }
        }
        // Over one second from a full bucket: the burst plus ten.
        assert_eq!(sent, 13);
    }
}
