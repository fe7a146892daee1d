//! SwitchServer: where a server may move the session. A target inside the redirect policy is followed; one
//! outside it ends the chat, or under [`RedirectPolicy::AskApplication`](crate::RedirectPolicy::AskApplication)
//! is offered to the application, which decides before the offer lapses. Trust is always checked against
//! the configured endpoint, so it never widens hop by hop.

use super::event::{CommandError, EndReason, Event, SwitchOfferId};
use super::timers::Timer;
use super::{Session, later};
use crate::time::Timestamp;
use crate::wire::Endpoint;

/// A SwitchServer target offered to the application. Not persisted: a resumed session stays where it was and
/// the server repeats SwitchServer if it means it. (When it lapses is [`Timer::SwitchDecision`].)
#[derive(Debug)]
pub(crate) struct PendingSwitch {
    pub(crate) id: SwitchOfferId,
    pub(crate) target: Endpoint,
}

impl Session {
    /// SwitchServer to a well-formed URL: follow it if the redirect policy allows, offer it to the
    /// application under `AskApplication`, or return the end reason. In every case the event is queued before
    /// any request can go to the new host (`poll_output` yields events first).
    pub(crate) fn on_switch_server(&mut self, target: Endpoint) -> Option<EndReason> {
        // The server's latest word replaces a pending offer: a decision naming that one decides nothing.
        self.take_switch();
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
                self.switch_offers = self.switch_offers.saturating_add(1);
                let id = SwitchOfferId(self.switch_offers);
                self.events.push_back(Event::SwitchOffered {
                    offer: id,
                    endpoint: target.clone(),
                    reason,
                    decide_by,
                });
                self.switch = Some(Box::new(PendingSwitch { id, target }));
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

    /// Takes the pending offer if `offer` names it. A decision on an offer that is gone (replaced, decided,
    /// lapsed) or was never made decides nothing. With `at`, the decision is an accept made at that time: at
    /// or after the offer's deadline it comes too late and the offer lapses (the chat ends as undecided).
    pub(crate) fn decide_switch(
        &mut self,
        offer: SwitchOfferId,
        at: Option<Timestamp>,
    ) -> Result<PendingSwitch, CommandError> {
        let pending = self.switch.as_ref().map(|p| p.id);
        if pending != Some(offer) {
            return Err(if offer.0 >= 1 && offer.0 <= self.switch_offers {
                CommandError::SwitchOfferGone { offer }
            } else {
                CommandError::NoSwitchOffered
            });
        }
        if self.is_ended() {
            return Err(CommandError::Ended);
        }
        if let Some(at) = at
            && self
                .timers
                .get(Timer::SwitchDecision)
                .is_some_and(|by| by <= at)
        {
            self.lapse_switch_offer(at);
            return Err(CommandError::SwitchOfferLapsed { offer });
        }
        self.take_switch().ok_or(CommandError::NoSwitchOffered)
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
