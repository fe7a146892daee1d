//! Every deadline the session keeps besides its requests' own: one table keyed by what each is for, so
//! [`Session::poll_timeout`](super::Session::poll_timeout) takes one minimum and
//! [`Session::handle_timeout`](super::Session::handle_timeout) walks one list. (The deadline of a request in
//! flight lives with its record, one per slot; the same walk visits them in the order they were issued.)

use super::requests::Slot;
use crate::time::Timestamp;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The next attempt of a slot's request is not due before this (backoff after a failure, or the pacing
    /// of empty polls for the poll slot).
    Retry(Slot),
    /// No command POST before this: the previous one carried a ChatMessage (`Config::message_spacing`).
    MessageSpacing,
    /// The request-rate ceiling lets the next request go ([`RequestBudget`](super::rate::RequestBudget)).
    RequestBudget,
    /// An undecided switch offer lapses ([`EndReason::SwitchUndecided`](crate::EndReason::SwitchUndecided)).
    SwitchDecision,
    /// The visitor is warned that the idle timeout is near.
    IdleWarning,
    /// The chat ends for the visitor's idleness.
    IdleEnd,
}

const SLOTS: usize = 8;

impl Timer {
    fn index(self) -> usize {
        match self {
            Timer::Retry(Slot::Control) => 0,
            Timer::Retry(Slot::Post) => 1,
            Timer::Retry(Slot::Poll) => 2,
            Timer::MessageSpacing => 3,
            Timer::SwitchDecision => 4,
            Timer::IdleWarning => 5,
            Timer::IdleEnd => 6,
            Timer::RequestBudget => 7,
        }
    }
}

/// The deadlines, by [`Timer`]. Unset is `None`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    at: [Option<Timestamp>; SLOTS],
}

impl TimerTable {
    /// When `timer` fires, if it is set.
    pub(crate) fn get(&self, timer: Timer) -> Option<Timestamp> {
        self.at.get(timer.index()).copied().flatten()
    }

    /// Sets (or with `None` stops) `timer`.
    pub(crate) fn set(&mut self, timer: Timer, at: Option<Timestamp>) {
        if let Some(slot) = self.at.get_mut(timer.index()) {
            *slot = at;
        }
    }

    /// Stops `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.set(timer, None);
    }

    /// Stops every timer.
    pub(crate) fn stop_all(&mut self) {
        self.at = [None; SLOTS];
    }

    /// Whether `timer` is unset or has fired by `now` (a retry is due, a spacing is over).
    pub(crate) fn elapsed(&self, timer: Timer, now: Timestamp) -> bool {
        self.get(timer).is_none_or(|t| t <= now)
    }

    /// Stops `timer` and returns true if it was set and has fired by `now`.
    pub(crate) fn take_fired(&mut self, timer: Timer, now: Timestamp) -> bool {
        let fired = self.get(timer).is_some_and(|t| t <= now);
        if fired {
            self.stop(timer);
        }
        fired
    }

    /// The earliest deadline of the timers `counts` selects.
    pub(crate) fn next(
        &self,
        mut counts: impl FnMut(Timer, Timestamp) -> bool,
    ) -> Option<Timestamp> {
        [
            Timer::Retry(Slot::Control),
            Timer::Retry(Slot::Post),
            Timer::Retry(Slot::Poll),
            Timer::MessageSpacing,
            Timer::SwitchDecision,
            Timer::IdleWarning,
            Timer::IdleEnd,
            Timer::RequestBudget,
        ]
        .into_iter()
        .filter_map(|timer| self.get(timer).filter(|&at| counts(timer, at)))
        .min()
    }
}
