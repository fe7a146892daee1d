//! SwitchServer: where a server may move the session. A target inside the redirect policy is followed; one
//! outside it ends the chat, or under [`RedirectPolicy::AskApplication`](crate::RedirectPolicy::AskApplication)
//! is offered to the application, which decides before the offer lapses. Trust is always checked against
//! the configured endpoint, so it never widens hop by hop.

use super::event::{EndReason, Event};
use super::timers::Timer;
use super::{Session, later};
use crate::time::Timestamp;
use crate::wire::Endpoint;

/// A SwitchServer target offered to the application. Not persisted: a resumed session stays where it was and
/// the server repeats SwitchServer if it means it. (When it lapses is [`Timer::SwitchDecision`].)
#[derive(Debug)]
pub(crate) struct PendingSwitch {
    pub(crate) target: Endpoint,
}

impl Session {
    /// SwitchServer to a well-formed URL: follow it if the redirect policy allows, offer it to the
    /// application under `AskApplication`, or return the end reason. In every case the event is queued before
    /// any request can go to the new host (`poll_output` yields events first).
    pub(crate) fn on_switch_server(&mut self, target: Endpoint) -> Option<EndReason> {
        match self.config.redirect.check(&self.config.endpoint, &target) {
            Ok(()) => {
                self.endpoint = target.clone();
                self.events.push_back(Event::ServerSwitched(target));
                None
            }
            Err(reason) if self.config.redirect == crate::RedirectPolicy::AskApplication => {
                // The application has as long as any request would get; then the offer is refused.
                let decide_by = later(
                    self.now,
                    self.config
                        .request_timeout
                        .max(crate::config::floors::MIN_REQUEST_TIMEOUT),
                );
                self.events.push_back(Event::SwitchOffered {
                    endpoint: target.clone(),
                    reason,
                    decide_by,
                });
                self.switch = Some(Box::new(PendingSwitch { target }));
                self.timers.set(Timer::SwitchDecision, Some(decide_by));
                None
            }
            Err(reason) => Some(EndReason::RedirectRefused { target, reason }),
        }
    }

    /// Takes the pending offer (the decision is being made).
    pub(crate) fn take_switch(&mut self) -> Option<PendingSwitch> {
        self.timers.stop(Timer::SwitchDecision);
        self.switch.take().map(|p| *p)
    }

    /// Why the policy refuses `target`.
    pub(crate) fn refusal_of(&self, target: &Endpoint) -> crate::RedirectRefusal {
        self.config
            .redirect
            .check(&self.config.endpoint, target)
            .err()
            .unwrap_or(crate::RedirectRefusal::Disabled)
    }

    /// An offered switch the application left undecided past its deadline: refused, as if it had called
    /// [`refuse_switch`](Session::refuse_switch), with its own end reason.
    pub(crate) fn lapse_switch_offer(&mut self, now: Timestamp) {
        if self.switch.is_none() || !self.timers.take_fired(Timer::SwitchDecision, now) {
            return;
        }
        let Some(p) = self.take_switch() else {
            return;
        };
        let target = p.target;
        let reason = self.refusal_of(&target);
        self.finish(EndReason::SwitchUndecided { target, reason });
    }
}
