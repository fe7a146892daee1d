//! Time as data: the crate's one time type, [`Timestamp`], and [`Clock`], the native drivers' bridge from
//! `std::time::Instant`.
//!
//! The core never reads a clock. Every entry point takes `now` as a [`Timestamp`]: a point on the driver's
//! monotonic clock, counted from an origin the driver picks (the process start, the session's start, zero on a
//! virtual clock). Only differences between timestamps mean anything, so any origin works as long as one
//! session sees one origin. Drivers outside native Rust pass plain numbers (`performance.now()` in JavaScript,
//! `time.monotonic()` in Python, converted to milliseconds); a native driver maps `Instant`s with a [`Clock`].
//!
//! All arithmetic saturates: no timestamp, however large, and no duration can make it panic.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest number of milliseconds read from JSON as a time or a duration: 2^53, the largest integer a
/// JavaScript number holds exactly (about 285,000 years).
pub(crate) const MAX_JSON_MILLIS: f64 = 9_007_199_254_740_992.0;

/// What a number of milliseconds read from JSON must be (for error messages, after the field's name).
pub(crate) const JSON_MILLIS_RULE: &str =
    "must be a finite, non-negative number of milliseconds, at most 2^53";

/// A duration from a number of milliseconds read from JSON; `None` for what [`JSON_MILLIS_RULE`] refuses.
pub(crate) fn duration_from_json_millis(ms: f64) -> Option<Duration> {
    if ms.is_finite() && (0.0..=MAX_JSON_MILLIS).contains(&ms) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()
    } else {
        None
    }
}

/// A point on the driver's monotonic clock: the time since an origin the driver picks.
///
/// `Copy`, totally ordered and hashable. It serialises as a JSON number of milliseconds since the origin
/// (rounded up to the next whole millisecond, so a driver that sleeps until a serialised deadline never
/// wakes before it); it deserialises from a non-negative number of milliseconds, whole or fractional.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The origin itself.
    pub const ZERO: Timestamp = Timestamp(Duration::ZERO);
    /// The latest representable point; arithmetic that would pass it stops here.
    pub const MAX: Timestamp = Timestamp(Duration::MAX);

    /// `since` after the origin.
    pub const fn from_duration(since: Duration) -> Timestamp {
        Timestamp(since)
    }

    /// `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Timestamp {
        Timestamp(Duration::from_millis(ms))
    }

    /// `ms` milliseconds after the origin, fractions kept to the nanosecond; `None` for a value that is not a
    /// time: NaN, infinite or negative. A finite value beyond [`Timestamp::MAX`] saturates to it.
    pub fn from_millis_f64(ms: f64) -> Option<Timestamp> {
        if !ms.is_finite() || ms < 0.0 {
            return None;
        }
        Some(Timestamp(
            Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::MAX),
        ))
    }

    /// The time since the origin.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole milliseconds since the origin (saturating at `u64::MAX`).
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// Milliseconds since the origin rounded up to a whole millisecond (saturating): the form a deadline
    /// takes across a language boundary, so a driver sleeping until it never wakes before it.
    pub fn as_millis_ceil(self) -> u64 {
        let whole = self.as_millis();
        if !self.0.subsec_nanos().is_multiple_of(1_000_000) {
            whole.saturating_add(1)
        } else {
            whole
        }
    }

    /// Milliseconds since the origin as a float, fractions included.
    pub fn as_millis_f64(self) -> f64 {
        self.0.as_secs_f64() * 1000.0
    }

    /// `self + d`, or [`Timestamp::MAX`] if that passes it.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d))
    }

    /// `self - d`, or [`Timestamp::ZERO`] if that comes before the origin.
    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(d))
    }

    /// `self + d`, or `None` past [`Timestamp::MAX`].
    pub fn checked_add(self, d: Duration) -> Option<Timestamp> {
        self.0.checked_add(d).map(Timestamp)
    }

    /// `self - d`, or `None` before the origin.
    pub fn checked_sub(self, d: Duration) -> Option<Timestamp> {
        self.0.checked_sub(d).map(Timestamp)
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// The time from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(self, earlier: Timestamp) -> Option<Duration> {
        self.0.checked_sub(earlier.0)
    }
}

/// Saturating, like [`Timestamp::saturating_add`]: never panics, unlike `Instant + Duration`.
impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

/// Saturating, like [`Timestamp::saturating_add`].
impl std::ops::AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

/// Saturating at the origin, like [`Timestamp::saturating_sub`].
impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        self.saturating_sub(d)
    }
}

/// Saturating at the origin, like [`Timestamp::saturating_sub`].
impl std::ops::SubAssign<Duration> for Timestamp {
    fn sub_assign(&mut self, d: Duration) {
        *self = self.saturating_sub(d);
    }
}

/// The time between two timestamps, zero if `earlier` is later (like
/// [`Timestamp::saturating_duration_since`]).
impl std::ops::Sub<Timestamp> for Timestamp {
    type Output = Duration;
    fn sub(self, earlier: Timestamp) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?})", self.0)
    }
}

impl fmt::Display for Timestamp {
    /// Milliseconds since the origin, e.g. `1500.25ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.as_millis();
        let sub = self.0.subsec_nanos() % 1_000_000;
        if sub == 0 {
            write!(f, "{ms}ms")
        } else {
            let frac = format!("{:06}", sub);
            write!(f, "{ms}.{}ms", frac.trim_end_matches('0'))
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.as_millis_ceil())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Millis;
        impl serde::de::Visitor<'_> for Millis {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number of milliseconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
                Ok(Timestamp::from_millis(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
                u64::try_from(v)
                    .map(Timestamp::from_millis)
                    .map_err(|_| E::custom("a timestamp cannot be negative"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Timestamp::from_millis_f64(v).ok_or_else(|| {
                    E::custom("a timestamp must be a finite, non-negative number of milliseconds")
                })
            }
        }
        d.deserialize_any(Millis)
    }
}

/// Maps `std::time::Instant` to [`Timestamp`] and back for native drivers: `Clock::new(Instant::now())`
/// once, then `clock.at(Instant::now())` for every `now` and `clock.instant(deadline)` to sleep until one.
///
/// The clock does not read the time itself (the driver passes every `Instant`); it only remembers the
/// origin. Not available on `wasm32-unknown-unknown`, where `Instant` cannot be had: pass milliseconds
/// there ([`Timestamp::from_millis_f64`]).
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    origin: std::time::Instant,
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl Clock {
    /// A clock whose [`Timestamp::ZERO`] is `origin`.
    pub fn new(origin: std::time::Instant) -> Clock {
        Clock { origin }
    }

    /// The origin this clock counts from.
    pub fn origin(&self) -> std::time::Instant {
        self.origin
    }

    /// `t` as a timestamp; an instant before the origin is the origin.
    pub fn at(&self, t: std::time::Instant) -> Timestamp {
        Timestamp(t.saturating_duration_since(self.origin))
    }

    /// `t` as an instant, or as late as the platform's `Instant` can go (never panics).
    pub fn instant(&self, t: Timestamp) -> std::time::Instant {
        let mut d = t.0;
        loop {
            if let Some(x) = self.origin.checked_add(d) {
                return x;
            }
            d /= 2;
            if d.is_zero() {
                return self.origin;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_at_both_ends() {
        assert_eq!(
            Timestamp::MAX.saturating_add(Duration::from_secs(1)),
            Timestamp::MAX
        );
        assert_eq!(
            Timestamp::ZERO.saturating_sub(Duration::from_secs(1)),
            Timestamp::ZERO
        );
        assert_eq!(
            Timestamp::ZERO.saturating_duration_since(Timestamp::MAX),
            Duration::ZERO
        );
        assert_eq!(Timestamp::MAX.checked_add(Duration::from_nanos(1)), None);
        assert_eq!(Timestamp::MAX.as_millis(), u64::MAX);
    }

    #[test]
    fn floats_that_are_not_times_are_refused() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, -0.001] {
            assert_eq!(Timestamp::from_millis_f64(bad), None, "{bad}");
        }
        assert_eq!(Timestamp::from_millis_f64(1e300), Some(Timestamp::MAX));
        assert_eq!(
            Timestamp::from_millis_f64(1.5),
            Some(Timestamp::from_duration(Duration::from_micros(1500)))
        );
    }

    #[test]
    fn serialised_milliseconds_round_up() {
        let t = Timestamp::from_duration(Duration::from_micros(1500));
        assert_eq!(t.to_string(), "1.5ms");
        assert_eq!(t.as_millis_ceil(), 2);
        assert_eq!(serde_json::to_string(&t).ok().as_deref(), Some("2"));
        let back: Result<Timestamp, _> = serde_json::from_str("1.5");
        assert_eq!(back.ok(), Some(t));
        assert!(serde_json::from_str::<Timestamp>("-3").is_err());
    }
}
