//! Which request goes out next and how it is built: the three slots (control, command POST, poll), each with
//! at most one request in flight, and the HTTP request for each kind.

use super::ending::Ending;
use super::event::{EndReason, OutgoingRequest, RequestId, RequestKind};
use super::guard::MAX_COUNTER;
use super::handover::Reconnect;
use super::timers::Timer;
use super::{Session, State, later};
use crate::time::Timestamp;
use crate::wire::{self, AffinityToken, Api, Noun, SessionAuth, SessionKey};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the SessionId answer gave: the session's id and its secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Credentials {
    pub(crate) id: String,
    pub(crate) key: SessionKey,
    pub(crate) affinity: AffinityToken,
}

/// The session sends at most one request of each slot at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// SessionId, ReconnectSession, DELETE SessionId.
    Control,
    /// ChasitorInit, the command POSTs, ChasitorResyncState (one sequence of POSTs).
    Post,
    /// The long poll.
    Poll,
}

impl Slot {
    pub(crate) fn of(kind: RequestKind) -> Slot {
        match kind {
            RequestKind::Messages => Slot::Poll,
            RequestKind::ChasitorInit | RequestKind::Chat | RequestKind::ResyncState => Slot::Post,
            RequestKind::SessionId | RequestKind::ReconnectSession | RequestKind::DeleteSession => {
                Slot::Control
            }
        }
    }

    fn index(self) -> usize {
        match self {
            Slot::Control => 0,
            Slot::Post => 1,
            Slot::Poll => 2,
        }
    }
}

/// Failed attempts in a row, per slot (the retry budget counts them).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Failures([u32; 3]);

impl Failures {
    /// Counts one more failure of `slot`'s request; returns the attempt number it was.
    pub(crate) fn add(&mut self, slot: Slot) -> u32 {
        match self.0.get_mut(slot.index()) {
            Some(n) => {
                *n = n.saturating_add(1);
                *n
            }
            None => 0,
        }
    }

    /// Forgets `slot`'s failures.
    pub(crate) fn clear(&mut self, slot: Slot) {
        if let Some(n) = self.0.get_mut(slot.index()) {
            *n = 0;
        }
    }
}

/// A request handed out and not answered yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlight {
    pub(crate) id: u64,
    pub(crate) kind: RequestKind,
    pub(crate) deadline: Timestamp,
}

/// Why `build` produced no request.
pub(crate) enum Unbuildable {
    Build(wire::BuildError),
    NoCredentials,
}

impl Session {
    pub(crate) fn busy(&self, slot: Slot) -> bool {
        self.in_flight.iter().any(|f| Slot::of(f.kind) == slot)
    }

    /// The slot's request may go (nothing of it in flight, its retry due).
    fn free(&self, slot: Slot, now: Timestamp) -> bool {
        !self.busy(slot) && self.timers.elapsed(Timer::Retry(slot), now)
    }

    fn api(&self) -> Api<'_> {
        Api::new(&self.endpoint, self.config.api_version)
    }

    fn auth(&self) -> Option<SessionAuth<'_>> {
        self.credentials.as_ref().map(|c| SessionAuth {
            key: &c.key,
            affinity: Some(&c.affinity),
        })
    }

    /// Picks the next request to send, if any, and records it as in flight.
    pub(crate) fn next_request(&mut self) -> Option<OutgoingRequest> {
        if self.is_ended() || self.switch.is_some() {
            return None;
        }
        if let Some(counter) = self.exhausted_counter() {
            self.finish(EndReason::CounterExhausted { counter });
            return None;
        }
        let now = self.now;
        let kind = self.next_kind(now)?;
        if !self.budget.allows(now, &self.config.limits) {
            // Over the ceiling: the request waits (it is chosen again then; nothing was sent).
            let at = self.budget.next_allowed(&self.config.limits);
            self.timers.set(Timer::RequestBudget, at);
            return None;
        }
        match self.build(kind) {
            Ok(http) => {
                self.budget.spend(now, &self.config.limits);
                let id = self.next_request_id;
                self.next_request_id = self.next_request_id.saturating_add(1);
                let deadline = later(now, self.timeout_for(kind));
                if kind == RequestKind::Messages {
                    self.poll.issued(self.ending.chat_end_accepted());
                }
                if kind == RequestKind::Chat
                    && self.outbound.sent()
                    && !self.config.message_spacing.is_zero()
                {
                    self.timers.set(
                        Timer::MessageSpacing,
                        Some(later(now, self.config.message_spacing)),
                    );
                }
                if self.in_flight.capacity() == 0 {
                    // At most one request per slot (control, POST, poll) is in flight: three, not the four a
                    // first `push` would allocate room for.
                    self.in_flight.reserve_exact(3);
                }
                self.in_flight.push(InFlight { id, kind, deadline });
                Some(OutgoingRequest {
                    id: RequestId(id),
                    kind,
                    http,
                    deadline,
                })
            }
            Err(Unbuildable::Build(error)) => {
                self.finish(EndReason::Protocol {
                    request: kind,
                    error,
                });
                None
            }
            Err(Unbuildable::NoCredentials) => {
                self.finish(EndReason::MissingCredentials { request: kind });
                None
            }
        }
    }

    /// A counter that has reached [`MAX_COUNTER`] (a hostile 409 `Actual`, or a snapshot near the top):
    /// continuing would reuse ids or sequence numbers.
    fn exhausted_counter(&self) -> Option<&'static str> {
        [
            ("next_request_id", self.next_request_id),
            ("X-LIVEAGENT-SEQUENCE", self.outbound.next_sequence),
            ("pc", self.poll.pc),
        ]
        .into_iter()
        .find(|&(_, v)| v >= MAX_COUNTER)
        .map(|(name, _)| name)
    }

    fn next_kind(&mut self, now: Timestamp) -> Option<RequestKind> {
        let state = self.state;
        let connected = self.credentials.is_some();
        let delete_refused = matches!(self.ending, Ending::DeleteRefused { .. });
        if self.free(super::requests::Slot::Control, now) {
            if !connected && state == State::Connecting {
                return Some(RequestKind::SessionId);
            }
            if state == State::Deleting && connected && !delete_refused {
                return Some(RequestKind::DeleteSession);
            }
            if self.reconnect == Reconnect::Needed && connected {
                return Some(RequestKind::ReconnectSession);
            }
        }
        if state == State::Deleting && delete_refused && connected && !self.busy(Slot::Post) {
            // DELETE SessionId was refused: end with ChatEnd instead (the SDK sends both). After a restart
            // the same ChatEnd is re-sent.
            self.outbound.prepare_fallback_chat_end();
            return Some(RequestKind::Chat);
        }
        if !connected || state == State::Deleting {
            return None;
        }
        if self.free(Slot::Post, now) {
            match self.reconnect {
                Reconnect::Needed | Reconnect::AwaitingSessionData => {}
                Reconnect::ResyncPending => return Some(RequestKind::ResyncState),
                Reconnect::None => {
                    if state == State::Initializing {
                        return Some(RequestKind::ChasitorInit);
                    }
                    if matches!(state, State::Chatting | State::Ending)
                        && self.outbound.has_outbound()
                        && self.timers.elapsed(Timer::MessageSpacing, now)
                    {
                        self.outbound.prepare_batch(self.config.max_batch);
                        return Some(RequestKind::Chat);
                    }
                }
            }
        }
        // Backpressure: no new poll while the application has not drained what the last ones brought.
        let drained = self.events.len() < self.config.limits.max_undrained_events.max(1);
        if state.polls()
            && drained
            && self.reconnect != Reconnect::Needed
            && self.free(Slot::Poll, now)
        {
            return Some(RequestKind::Messages);
        }
        None
    }

    fn build(&self, kind: RequestKind) -> Result<http::Request<Vec<u8>>, Unbuildable> {
        let api = self.api();
        let missing = || Unbuildable::NoCredentials;
        let built = match kind {
            RequestKind::SessionId => api.session_id(),
            RequestKind::DeleteSession => api.delete_session(self.auth().ok_or_else(missing)?),
            RequestKind::ReconnectSession => {
                let c = self.credentials.as_ref().ok_or_else(missing)?;
                api.reconnect_session(&c.key, self.poll.offset)
            }
            RequestKind::Messages => {
                let pc = self.config.send_poll_counter.then_some(self.poll.pc);
                let auth = self.auth().ok_or_else(missing)?;
                match self.poll.next_ack() {
                    None => api.messages_without_ack(auth, pc),
                    Some(ack) => api.messages(auth, ack, pc),
                }
            }
            RequestKind::ChasitorInit => {
                let c = self.credentials.as_ref().ok_or_else(missing)?;
                let noun = Noun::ChasitorInit(Box::new(self.chasitor_init(&c.id)));
                // ChasitorInit is always the first sequenced POST: 1, or whatever a reset left. The counter
                // is advanced only when the server accepts it, so a retry reuses the number.
                api.chasitor(
                    self.auth().ok_or_else(missing)?,
                    &noun,
                    self.outbound.next_sequence,
                )
            }
            RequestKind::ResyncState => api.chasitor(
                self.auth().ok_or_else(missing)?,
                &Noun::ChasitorResyncState {
                    organization_id: self.config.organization_id.clone(),
                },
                0,
            ),
            RequestKind::Chat => {
                // The batch was prepared just before; no batch cannot happen (reported like no credentials).
                let batch = self.outbound.unacked.as_ref().ok_or_else(missing)?;
                let auth = self.auth().ok_or_else(missing)?;
                match batch.commands.as_slice() {
                    [one] => api.chasitor(auth, &one.command.to_noun(), batch.sequence),
                    many => {
                        let nouns: Vec<Noun> = many.iter().map(|c| c.command.to_noun()).collect();
                        api.multi_noun(auth, &nouns, batch.sequence)
                    }
                }
            }
        };
        built.map_err(Unbuildable::Build)
    }

    /// How long the session waits for an answer to a request of this kind.
    pub(crate) fn timeout_for(&self, kind: RequestKind) -> Duration {
        let timeout = if kind == RequestKind::Messages {
            let secs = self
                .poll
                .client_poll_timeout_secs
                .filter(|&s| s > 0)
                .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0).min(3600)))
                .unwrap_or(self.config.default_client_poll_timeout);
            secs.saturating_add(self.config.poll_margin)
        } else {
            self.config.request_timeout
        };
        // Zero timeouts in the configuration must not make a busy loop of expiring requests.
        timeout.max(crate::config::floors::MIN_REQUEST_TIMEOUT)
    }

    fn chasitor_init(&self, session_id: &str) -> wire::ChasitorInit {
        let c = &self.config;
        wire::ChasitorInit {
            organization_id: c.organization_id.clone(),
            deployment_id: c.deployment_id.clone(),
            button_id: c.button_id.clone(),
            agent_id: c.agent_id.clone(),
            do_fallback: c.do_fallback,
            session_id: session_id.to_owned(),
            user_agent: c.visitor.user_agent.clone(),
            language: c.visitor.language.clone(),
            screen_resolution: c.visitor.screen_resolution.clone(),
            visitor_name: c.visitor.name.clone(),
            prechat_details: c.prechat_details.clone(),
            prechat_entities: c.prechat_entities.clone(),
            button_overrides: c.button_overrides.clone(),
            receive_queue_updates: c.receive_queue_updates,
            is_post: true,
            tracking_id: None,
        }
    }
}
