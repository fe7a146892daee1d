//! The 503 handover (spec §4.6): the affinity token changed, so everything in flight is abandoned, the
//! session reconnects (`ReconnectSession`), polls for ChasitorSessionData, and sends ChasitorResyncState
//! before anything else.
//!
//! * ChasitorResyncState is sent when ChasitorSessionData arrives, before any re-sent command, in every state
//!   once ChasitorInit was accepted (queued too); a refusal is skipped. If a poll completes after a reconnect
//!   without ChasitorSessionData, the session proceeds as if it had arrived.

use super::backoff;
use super::event::{EndReason, Event, Failure, RequestKind};
use super::requests::Slot;
use super::timers::Timer;
use super::{Session, State, later};
use crate::wire::{AffinityToken, ReconnectSession, ServerError};
use serde::{Deserialize, Serialize};

/// Progress of a 503 handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Reconnect {
    None,
    /// A 503 arrived: ReconnectSession must be sent (or is in flight).
    Needed,
    /// Reconnected; polling for ChasitorSessionData, sending nothing else.
    AwaitingSessionData,
    /// ChasitorSessionData arrived: ChasitorResyncState goes before anything else.
    ResyncPending,
}

impl Session {
    /// 503: the affinity token changed. Abandon everything in flight and reconnect. Handovers in a row
    /// (no poll answered 2xx in between) are backed off like failures and bounded by the retry budget: a
    /// server answering 503 to everything and each ReconnectSession at once cannot make a loop of them.
    pub(crate) fn start_handover(&mut self, kind: RequestKind, error: ServerError) {
        self.handovers = self.handovers.saturating_add(1);
        let attempt = self.handovers;
        if attempt >= self.retry_budget() {
            self.finish(EndReason::GaveUp {
                request: kind,
                attempts: attempt,
                last: Failure::Server(error),
            });
            return;
        }
        if self.busy(Slot::Post) {
            // An abandoned command POST may have reached the old server.
            let chat_in_flight = self.in_flight.iter().any(|f| f.kind == RequestKind::Chat);
            self.outbound.answered(chat_in_flight);
        }
        self.in_flight.clear();
        self.timers.stop(Timer::Retry(Slot::Poll));
        self.timers.stop(Timer::Retry(Slot::Post));
        self.reset_slot(Slot::Control);
        self.reconnect = Reconnect::Needed;
        if attempt > 1 {
            let delay = backoff::delay(&self.config.retry, attempt - 1, &mut self.rng);
            let at = later(self.now, delay);
            self.timers.set(Timer::Retry(Slot::Control), Some(at));
            self.events.push_back(Event::Retrying {
                request: RequestKind::ReconnectSession,
                attempt: attempt - 1,
                at,
                cause: Failure::Server(error),
            });
        }
    }

    /// ReconnectSession succeeded: the new affinity token, the numbering (`resetSequence: false` keeps it
    /// going, so the abandoned batch keeps its number and a server that took it can drop the re-send; absent
    /// counts as true, as in the SDK), and the poll starts afresh.
    pub(crate) fn reconnected(&mut self, answer: &ReconnectSession) {
        if let Some(c) = self.credentials.as_mut() {
            c.affinity = AffinityToken::new(answer.affinity_token.clone());
        }
        if answer.resets_sequence() {
            self.outbound.restart_numbering();
        }
        self.poll.reconnected();
        self.reconnect = if self.state == State::Initializing {
            // No chat yet, so no session data will come: just re-send ChasitorInit.
            Reconnect::None
        } else {
            Reconnect::AwaitingSessionData
        };
    }

    /// Session data is in after a reconnect: ChasitorResyncState goes out next, in whatever state the chat is
    /// (queued too: the reconnect procedure of §4.6 applies once ChasitorInit was accepted; §2 step 5 forbids
    /// chat traffic, not the procedure). A refusal is skipped ([`Session::skip_resync`]).
    pub(crate) fn after_session_data(&mut self) {
        self.reconnect = if self.state.polls() {
            Reconnect::ResyncPending
        } else {
            Reconnect::None
        };
    }

    /// ChasitorResyncState could not be delivered: carry on without it (its placement is inferred, CARBON
    /// only; the Android SDK never sends it), so a refused resync never ends or stalls the chat.
    pub(crate) fn skip_resync(&mut self) {
        self.reset_slot(Slot::Post);
        if self.reconnect == Reconnect::ResyncPending {
            self.reconnect = Reconnect::None;
        }
    }
}
