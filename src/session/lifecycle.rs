//! State changes and the timer walk: [`Session::enter`] is the one place the state changes (with the
//! timers and requests each change abandons), [`Session::finish`] ends the session, and
//! [`Session::expire_timers`] / [`Session::next_timeout`] read the timer table.

use super::ending::Ending;
use super::event::{CommandError, EndReason, Event, Failure, InputError, RequestId, RequestKind};
use super::guard::MAX_COUNTER;
use super::handover::Reconnect;
use super::outbound::Command;
use super::requests::{Failures, InFlight, Slot};
use super::snapshot::SessionSnapshot;
use super::timers::{Timer, TimerTable};
use super::{Session, State, later};
use crate::config::Config;
use crate::time::Timestamp;
use crate::wire::{ChatEndReason, IdleWarning};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

impl Session {
    /// A session resumed from a validated snapshot: nothing in flight, no timers.
    pub(crate) fn from_snapshot(
        config: Arc<Config>,
        snapshot: SessionSnapshot,
        now: Timestamp,
    ) -> Session {
        let parts = snapshot.into_parts();
        let mut s = Session {
            config,
            state: parts.state,
            credentials: parts.credentials,
            endpoint: parts.endpoint,
            reconnect: parts.reconnect,
            agent: parts.agent,
            agent_typing: parts.agent_typing,
            next_request_id: parts.next_request_id,
            rng: parts.rng,
            outbound: parts.outbound,
            poll: parts.poll,
            ending: parts.ending,
            now,
            in_flight: Vec::new(),
            failures: Failures::default(),
            timers: TimerTable::default(),
            events: VecDeque::new(),
            end_reason: None,
            idle_warned: false,
            switch: None,
            switch_offers: 0,
            budget: super::rate::RequestBudget::default(),
            handovers: 0,
        };
        // The old process may have sent the unacknowledged batch: the server may hold it already.
        s.outbound.resumed();
        if s.state == State::Connecting && s.ending == Ending::BeforeConnected {
            // The visitor ended the chat while SessionId was in flight; that request is lost with the old
            // process, so there is no session to delete: the end is complete.
            s.finish(EndReason::VisitorEnded {
                attached_records: None,
            });
        }
        s.make_endable();
        // The idle timer is not restored: it restarts with the agent's next message.
        s
    }

    /// A resumed session in Ending must still be able to end: its ChatEnd queued or unacknowledged, or
    /// accepted (then one more poll ends it). A stored snapshot with none of these (written by an older
    /// release, or edited) gets its ChatEnd queued again; otherwise `end()` would do nothing while the session
    /// polled for ever.
    fn make_endable(&mut self) {
        if self.state != State::Ending || self.ending.chat_end_accepted() {
            return;
        }
        let queued = self
            .outbound
            .queue
            .iter()
            .chain(self.outbound.unacked.iter().flat_map(|b| b.commands.iter()))
            .any(|c| matches!(c.command, Command::End(_)));
        if !queued {
            let reason = self
                .ending
                .reason()
                .cloned()
                .unwrap_or(ChatEndReason::Client);
            self.begin_chat_end(reason);
        }
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    pub(crate) fn tick(&mut self, now: Timestamp) {
        // Time never goes backwards: an earlier `now` is clamped to the latest seen.
        if now > self.now {
            self.now = now;
        }
    }

    pub(crate) fn take_in_flight(&mut self, id: RequestId) -> Result<Option<InFlight>, InputError> {
        if id.0 == 0 || id.0 >= self.next_request_id {
            return Err(InputError::UnknownRequest(id));
        }
        Ok(self
            .in_flight
            .iter()
            .position(|f| f.id == id.0)
            .map(|pos| self.in_flight.remove(pos)))
    }

    /// Every state change goes through here, with what the change abandons: entering Deleting abandons the
    /// requests in flight and the handover (and, coming from a refused ChatEnd, every retry); entering
    /// Ending stops the idle timer (and, coming from a refused DELETE, the POST and poll retries); entering
    /// Ended stops everything.
    pub(crate) fn enter(&mut self, next: State) {
        let from = self.state;
        self.state = next;
        match next {
            State::Ended => {
                self.in_flight.clear();
                self.timers.stop_all();
                self.failures = Failures::default();
                self.reconnect = Reconnect::None;
            }
            State::Deleting => {
                self.in_flight.clear();
                self.reconnect = Reconnect::None;
                self.reset_slot(Slot::Control);
                if from == State::Ending {
                    self.reset_slot(Slot::Post);
                    self.reset_slot(Slot::Poll);
                }
            }
            State::Ending => {
                self.timers.stop(Timer::IdleWarning);
                self.timers.stop(Timer::IdleEnd);
                if from == State::Deleting {
                    self.reset_slot(Slot::Post);
                    self.reset_slot(Slot::Poll);
                }
            }
            State::Connecting
            | State::Initializing
            | State::Requested
            | State::Queued
            | State::Chatting
            | State::AgentDisconnected => {}
        }
    }

    /// Ends the session: commands the server never accepted are reported, so the application can tell what
    /// was not sent; a batch that may have reached the server (in flight, or an attempt's outcome unknown) is
    /// uncertain.
    pub(crate) fn finish(&mut self, reason: EndReason) {
        if self.is_ended() {
            return;
        }
        self.enter(State::Ended);
        let left = self.outbound.leftover();
        if let Some(ids) = left.uncertain {
            self.events.push_back(Event::DeliveryUncertain(ids));
        }
        if !left.undelivered.is_empty() {
            self.events.push_back(Event::Undelivered(left.undelivered));
        }
        self.end_reason = Some(Box::new(reason.clone()));
        self.events.push_back(Event::Ended(reason));
    }

    pub(crate) fn begin_chat_end(&mut self, reason: ChatEndReason) {
        self.ending = Ending::ChatEnd {
            reason: reason.clone(),
            accepted: false,
        };
        self.outbound.enqueue(Command::End(reason));
        self.enter(State::Ending);
    }

    pub(crate) fn check_accepting(&self) -> Result<(), CommandError> {
        match self.state {
            State::Ended => Err(CommandError::Ended),
            State::Ending | State::Deleting => Err(CommandError::Ending),
            _ if self.outbound.next_command_id >= MAX_COUNTER => Err(CommandError::Ended),
            _ if self.outbound.queue.len() >= self.config.max_queued_commands => {
                Err(CommandError::QueueFull {
                    limit: self.config.max_queued_commands,
                })
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn check_text(&self, text: &str) -> Result<(), CommandError> {
        if text.is_empty() {
            return Err(CommandError::EmptyText);
        }
        if text.len() > self.config.max_text_bytes {
            return Err(CommandError::TextTooLong {
                len: text.len(),
                limit: self.config.max_text_bytes,
            });
        }
        Ok(())
    }

    /// The visitor answered: the idle timer stops (until the agent's next message) and a shown warning is
    /// cleared. Salesforce's "Customer Time-Out" counts from an agent message to the visitor's reply; typing
    /// and sneak peeks are not replies.
    pub(crate) fn visitor_replied(&mut self) {
        if self.idle_warned {
            self.idle_warned = false;
            self.outbound
                .enqueue(Command::IdleWarning(IdleWarning::Cleared));
            self.events.push_back(Event::IdleWarningCleared);
        }
        self.timers.stop(Timer::IdleWarning);
        self.timers.stop(Timer::IdleEnd);
    }

    pub(crate) fn arm_idle_timer(&mut self) {
        self.timers.stop(Timer::IdleWarning);
        self.timers.stop(Timer::IdleEnd);
        if !self.config.enforce_idle_timeout {
            return;
        }
        let Some(settings) = self
            .agent
            .as_ref()
            .and_then(|a| a.chasitor_idle_timeout.as_ref())
        else {
            return;
        };
        if settings.is_enabled != Some(true) {
            return;
        }
        let timeout = settings.timeout.unwrap_or(0);
        if timeout <= 0 {
            return;
        }
        let secs = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or(0).min(365 * 24 * 3600));
        let end_at = later(self.now, secs(timeout));
        let warn_at = settings
            .warning_time
            .filter(|&w| w > 0 && w < timeout)
            .map(|w| later(self.now, secs(w)));
        self.timers.set(Timer::IdleEnd, Some(end_at));
        self.timers.set(Timer::IdleWarning, warn_at);
    }

    /// The earliest deadline: a request's answer, a retry, the message spacing (only while a POST waits
    /// for it), a switch decision, the idle timer.
    pub(crate) fn next_timeout(&self) -> Option<Timestamp> {
        let spacing_matters = self.outbound.has_outbound() && !self.busy(Slot::Post);
        let now = self.now;
        let timers = self.timers.next(|timer, at| match timer {
            Timer::MessageSpacing => spacing_matters && at > now,
            _ => true,
        });
        let answers = self.in_flight.iter().map(|f| f.deadline).min();
        match (timers, answers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, None) => a,
            (None, b) => b,
        }
    }

    /// The expiry walk: a lapsed switch offer, requests past their deadline (in the order they were issued,
    /// each a failure), due retries and spacing, then the idle timer.
    pub(crate) fn expire_timers(&mut self) {
        let now = self.now;
        self.lapse_switch_offer(now);
        if self.is_ended() {
            return;
        }
        while let Some(pos) = self.in_flight.iter().position(|f| f.deadline <= now) {
            let f = self.in_flight.remove(pos);
            self.on_failure(f.kind, Failure::NoAnswer);
            if self.is_ended() {
                return;
            }
        }
        for slot in [Slot::Control, Slot::Post, Slot::Poll] {
            self.timers.take_fired(Timer::Retry(slot), now);
        }
        self.timers.take_fired(Timer::MessageSpacing, now);
        self.timers.take_fired(Timer::RequestBudget, now);
        if self.timers.take_fired(Timer::IdleWarning, now) && !self.idle_warned {
            self.idle_warned = true;
            self.outbound
                .enqueue(Command::IdleWarning(IdleWarning::Triggered));
            let ends_at = self.timers.get(Timer::IdleEnd).unwrap_or(now);
            self.events.push_back(Event::IdleWarning { ends_at });
        }
        if self.timers.take_fired(Timer::IdleEnd, now)
            && matches!(self.state, State::Chatting | State::AgentDisconnected)
        {
            self.begin_chat_end(ChatEndReason::ClientIdleTimeout);
        }
    }

    /// Empty answers that come back at once are paced ([`Poll::pace`](super::poll::Poll::pace)).
    pub(crate) fn pace_empty_polls(&mut self, answered: &InFlight, now: Timestamp) {
        let sent = answered
            .deadline
            .checked_sub(self.timeout_for(RequestKind::Messages));
        let floor = crate::config::floors::MIN_BACKOFF;
        let ended = self.is_ended();
        if let Some(at) = self.poll.pace(sent, now, floor, ended) {
            self.timers.set(Timer::Retry(Slot::Poll), Some(at));
        }
    }
}
