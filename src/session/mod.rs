//! The visitor session: a sans-IO state machine that drives a whole chat.
//!
//! The contract is on [`Session`].
//!
//! # Layout
//!
//! `Session` (here) holds the public API and delegates to the types that own each part of the state:
//! [`outbound`] (the command queue, its numbering and delivery), [`poll`] (the long poll: `ack`, `pc`,
//! offset, de-duplication, pacing), [`ending`] (how far ending is), [`switch`] (an offered SwitchServer),
//! [`handover`] (the 503 reconnect), [`requests`] (which request goes next and its HTTP form), [`timers`]
//! (every deadline, in one table), [`answers`] and [`messages`] (what each answer and message does),
//! [`lifecycle`] (state changes and timers), [`snapshot`] (the persisted form) and [`guard`] (defences
//! against a hostile peer). The decisions where the spec is silent are listed in the crate docs and in each
//! module's docs.

mod answers;
mod backoff;
mod ending;
mod event;
mod guard;
mod handover;
mod lifecycle;
mod messages;
mod outbound;
mod poll;
mod rate;
mod recovery;
mod requests;
mod snapshot;
mod switch;
mod timers;

pub use event::*;
#[cfg(feature = "__testkit")]
pub(crate) use guard::batch_event_bytes;
pub use guard::{MAX_COUNTER, MAX_SEQUENCE_JUMP};
pub use snapshot::{SNAPSHOT_VERSION, SessionSnapshot};

use crate::config::Config;
use crate::time::Timestamp;
use crate::wire::{self, AgentInfo, ChatEndReason, Endpoint, RichAction, TriggeredRule};
use backoff::Rng;
use ending::Ending;
use handover::Reconnect;
use outbound::{Command, Outbound};
use poll::Poll;
use requests::{Credentials, Failures, InFlight};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use switch::PendingSwitch;
use timers::TimerTable;

/// Where the chat is. Reconnecting after a 503 is orthogonal: see [`Session::is_reconnecting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum State {
    /// Asking for a session (`SessionId`).
    Connecting,
    /// Session created; sending ChasitorInit.
    Initializing,
    /// ChasitorInit accepted; polling, waiting for ChatRequestSuccess.
    Requested,
    /// Routed, waiting for an agent to accept.
    Queued,
    /// An agent accepted; messages flow both ways.
    Chatting,
    /// The agent disconnected; the chat is alive and may be picked up again.
    AgentDisconnected,
    /// ChatEnd queued or sent; waiting for the final ChatEnded.
    Ending,
    /// Ending a chat that was never established: DELETE SessionId.
    Deleting,
    /// Over. See [`Session::end_reason`].
    Ended,
}

impl State {
    /// The states with a long poll running (ChasitorInit was accepted and the chat is not being deleted).
    fn polls(self) -> bool {
        matches!(
            self,
            State::Requested
                | State::Queued
                | State::Chatting
                | State::AgentDisconnected
                | State::Ending
        )
    }
}

/// The visitor side of one chat (see the crate docs for a drive loop).
///
/// # Contract
///
/// A [`Session`] never touches a socket or a clock. The driver feeds it inputs — the answer to each request
/// ([`handle_response`](Session::handle_response), [`handle_transport_error`](Session::handle_transport_error)),
/// the time ([`handle_timeout`](Session::handle_timeout)) and the visitor's commands — and after **every**
/// input drains [`poll_output`](Session::poll_output) until it returns [`Output::Wait`]: each
/// [`Output::Request`] is sent as is and its outcome reported under its id, each [`Output::Event`] is handed
/// to the application, and `Wait(t)` says when to call `handle_timeout` if nothing else happens first
/// (`None`: the session has ended). Events always come out before requests. Time is what the driver says it
/// is and never goes backwards (an earlier `now` is clamped to the latest seen). Inputs the session did not
/// ask for (unknown ids, stale answers, hostile bodies) are refused or ignored without touching its state;
/// nothing panics.
pub struct Session {
    config: Arc<Config>,
    state: State,
    credentials: Option<Credentials>,
    /// Where requests go (changes on SwitchServer).
    endpoint: Endpoint,
    reconnect: Reconnect,
    agent: Option<AgentInfo>,
    agent_typing: bool,
    next_request_id: u64,
    /// Retry jitter (persisted).
    rng: Rng,
    outbound: Outbound,
    poll: Poll,
    ending: Ending,
    now: Timestamp,
    in_flight: Vec<InFlight>,
    failures: Failures,
    timers: TimerTable,
    events: VecDeque<Event>,
    /// Boxed, like [`Session::switch`]: `None` for the whole chat, so it should not cost its size in every
    /// idle session.
    end_reason: Option<Box<EndReason>>,
    idle_warned: bool,
    /// A SwitchServer target outside the policy, offered to the application
    /// ([`RedirectPolicy::AskApplication`](crate::RedirectPolicy::AskApplication)); nothing new is sent until
    /// it decides, and an offer still undecided after `request_timeout` is refused
    /// ([`EndReason::SwitchUndecided`]).
    switch: Option<Box<PendingSwitch>>,
    /// Switch offers made so far (the last one's id).
    switch_offers: u64,
    /// The ceiling on the request rate.
    budget: rate::RequestBudget,
    /// 503 handovers since the last poll the server answered 2xx: backed off like failures.
    handovers: u32,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("reconnect", &self.reconnect)
            .field("ack", &self.poll.ack)
            .field("next_sequence", &self.outbound.next_sequence)
            .field("in_flight", &self.in_flight)
            .field("queued", &self.outbound.queue.len())
            .field("end_reason", &self.end_reason)
            .finish_non_exhaustive()
    }
}

/// `now + d` (at least 1 ms), never panicking: a duration too large for the platform's `Timestamp` is shortened.
fn later(now: Timestamp, d: Duration) -> Timestamp {
    now.saturating_add(d.max(Duration::from_millis(1)))
}

impl Session {
    // ----------------------------------------------------------------------------------------------
    // Construction and getters
    // ----------------------------------------------------------------------------------------------

    /// A new session; the first output is the SessionId request.
    pub fn new(config: Config, now: Timestamp) -> Session {
        Session::with_shared_config(Arc::new(config), now)
    }

    /// Like [`Session::new`], sharing one configuration between many sessions (bots, load tests).
    pub fn with_shared_config(config: Arc<Config>, now: Timestamp) -> Session {
        let endpoint = config.endpoint.clone();
        let rng = Rng::new(config.seed);
        Session {
            config,
            state: State::Connecting,
            credentials: None,
            endpoint,
            reconnect: Reconnect::None,
            agent: None,
            agent_typing: false,
            next_request_id: 1,
            rng,
            outbound: Outbound::new(),
            poll: Poll::new(),
            ending: Ending::Open {
                chat_requested: false,
            },
            now,
            in_flight: Vec::new(),
            failures: Failures::default(),
            timers: TimerTable::default(),
            events: VecDeque::new(),
            end_reason: None,
            idle_warned: false,
            switch: None,
            switch_offers: 0,
            budget: rate::RequestBudget::default(),
            handovers: 0,
        }
    }

    /// Resumes a chat from a [`snapshot`](Session::snapshot) taken earlier (possibly in another process).
    /// Requests that were in flight are considered lost: the poll is re-issued with the same `ack`, an
    /// unacknowledged POST is re-sent with the same sequence number so the server can drop a duplicate.
    ///
    /// Refuses a snapshot of a newer format ([`ResumeError::UnsupportedVersion`]) and one of a session that
    /// had already ended ([`ResumeError::AlreadyEnded`]). A snapshot is data from storage, so it is checked
    /// before use: its endpoint must be the configured one or one the configured
    /// [`RedirectPolicy`](crate::RedirectPolicy) allows from it, its state must match its credentials, its
    /// counters must be in range and its queued commands within the caps. Anything else is refused with a
    /// [`ResumeError`] (nothing is sent).
    pub fn resume(
        config: Config,
        snapshot: SessionSnapshot,
        now: Timestamp,
    ) -> Result<Session, ResumeError> {
        if snapshot.version > SNAPSHOT_VERSION {
            return Err(ResumeError::UnsupportedVersion {
                found: snapshot.version,
                supported: SNAPSHOT_VERSION,
            });
        }
        if snapshot.state == State::Ended {
            return Err(ResumeError::AlreadyEnded);
        }
        guard::validate_snapshot(&snapshot, &config)?;
        Ok(Session::from_snapshot(Arc::new(config), snapshot, now))
    }

    /// The durable state, for persisting. Taking it does not change the session.
    pub fn snapshot(&self) -> SessionSnapshot {
        self.to_snapshot()
    }

    /// Where the chat is.
    pub fn state(&self) -> State {
        self.state
    }

    /// True between a 503 and the end of the handover (ChasitorResyncState sent).
    pub fn is_reconnecting(&self) -> bool {
        self.reconnect != Reconnect::None
    }

    /// Why the session ended, once it has.
    pub fn end_reason(&self) -> Option<&EndReason> {
        self.end_reason.as_deref()
    }

    /// The agent serving the chat, if any.
    pub fn agent(&self) -> Option<&AgentInfo> {
        self.agent.as_ref()
    }

    /// Whether the agent is typing.
    pub fn agent_typing(&self) -> bool {
        self.agent_typing
    }

    /// The endpoint requests go to (changes on SwitchServer).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The session id (goes into ChasitorInit), once known. Not a secret.
    pub fn session_id(&self) -> Option<&str> {
        self.credentials.as_ref().map(|c| c.id.as_str())
    }

    /// The `ack` the next poll will carry. Test kit only: not part of the API.
    #[cfg(feature = "__testkit")]
    #[doc(hidden)]
    pub fn ack(&self) -> i64 {
        self.poll.ack
    }

    /// The next `X-LIVEAGENT-SEQUENCE` a new POST will carry. Test kit only: not part of the API.
    #[cfg(feature = "__testkit")]
    #[doc(hidden)]
    pub fn next_sequence(&self) -> u64 {
        self.outbound.next_sequence
    }

    /// The memory the undrained events hold, as [`LimitsConfig::max_undrained_event_bytes`] estimates it.
    /// Test kit only: not part of the API.
    ///
    /// [`LimitsConfig::max_undrained_event_bytes`]: crate::LimitsConfig::max_undrained_event_bytes
    #[cfg(feature = "__testkit")]
    #[doc(hidden)]
    pub fn queued_event_bytes(&self) -> usize {
        guard::queued_event_bytes(&self.events)
    }

    /// The last reconnect offset received. Test kit only: not part of the API.
    #[cfg(feature = "__testkit")]
    #[doc(hidden)]
    pub fn offset(&self) -> Option<i64> {
        self.poll.offset
    }

    /// Requests handed out and not yet answered.
    pub fn in_flight(&self) -> impl Iterator<Item = (RequestId, RequestKind)> + '_ {
        self.in_flight.iter().map(|f| (RequestId(f.id), f.kind))
    }

    /// Commands not yet accepted by the server (queued or in flight).
    pub fn pending_commands(&self) -> usize {
        self.outbound.pending()
    }

    // ----------------------------------------------------------------------------------------------
    // Inputs
    // ----------------------------------------------------------------------------------------------

    /// Feeds the answer to request `id`. A late answer to an abandoned, expired or already answered request
    /// is ignored and reported as [`Handled::Stale`].
    pub fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        id: RequestId,
        response: http::Response<B>,
        now: Timestamp,
    ) -> Result<Handled, InputError> {
        self.tick(now);
        let Some(f) = self.take_in_flight(id)? else {
            return Ok(Handled::Stale);
        };
        let status = response.status().as_u16();
        let body = response.body().as_ref();
        self.poll.came_back_empty = false;
        self.on_response(f.kind, status, body);
        if f.kind == RequestKind::Messages {
            self.pace_empty_polls(&f, now);
        }
        Ok(Handled::Accepted)
    }

    /// Reports that request `id` failed in the transport (connection error, timeout). It is retried with
    /// backoff until the retry budget runs out.
    pub fn handle_transport_error(
        &mut self,
        id: RequestId,
        error: TransportError,
        now: Timestamp,
    ) -> Result<Handled, InputError> {
        self.tick(now);
        let Some(f) = self.take_in_flight(id)? else {
            return Ok(Handled::Stale);
        };
        self.on_failure(f.kind, Failure::Transport(error));
        Ok(Handled::Accepted)
    }

    /// Tells the session the time: expires requests past their deadline (as transport errors), releases
    /// retries that are due, and runs the idle timer. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        if !self.is_ended() {
            self.expire_timers();
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Commands
    // ----------------------------------------------------------------------------------------------

    /// Sends a text to the agent. Before ChatEstablished it is queued (the server answers 500 to early POSTs).
    pub fn send_message(&mut self, text: impl Into<String>) -> Result<CommandId, CommandError> {
        let text = text.into();
        self.check_accepting()?;
        self.check_text(&text)?;
        self.visitor_replied();
        Ok(self.outbound.enqueue(Command::Message(text)))
    }

    /// Reports that the visitor started or stopped typing.
    pub fn set_typing(&mut self, typing: bool) -> Result<CommandId, CommandError> {
        self.check_accepting()?;
        Ok(self.outbound.enqueue(Command::Typing(typing)))
    }

    /// Sends what the visitor is typing (Sneak Peek). The position counts up by itself.
    pub fn sneak_peek(&mut self, text: impl Into<String>) -> Result<CommandId, CommandError> {
        let text = text.into();
        self.check_accepting()?;
        if text.len() > self.config.max_text_bytes {
            return Err(CommandError::TextTooLong {
                len: text.len(),
                limit: self.config.max_text_bytes,
            });
        }
        let position = self.outbound.next_sneak_peek_position();
        Ok(self.outbound.enqueue(Command::SneakPeek { position, text }))
    }

    /// Sends a custom event to the agent side.
    pub fn send_custom_event(
        &mut self,
        kind: impl Into<String>,
        data: impl Into<String>,
    ) -> Result<CommandId, CommandError> {
        self.check_accepting()?;
        let kind = kind.into();
        if kind.is_empty() {
            return Err(CommandError::EmptyText);
        }
        let command = Command::CustomEvent {
            kind,
            data: data.into(),
        };
        guard::check_command(&command, &self.config)?;
        Ok(self.outbound.enqueue(command))
    }

    /// Reports the sensitive-data rules the application applied to the visitor's text.
    pub fn report_sensitive_data_rules(
        &mut self,
        rules: Vec<TriggeredRule>,
    ) -> Result<CommandId, CommandError> {
        self.check_accepting()?;
        let command = Command::SensitiveDataRules(rules);
        guard::check_command(&command, &self.config)?;
        Ok(self.outbound.enqueue(command))
    }

    /// Sends a chatbot menu or button choice (undocumented `Chasitor/RichMessage`).
    pub fn send_rich_message(
        &mut self,
        actions: Vec<RichAction>,
    ) -> Result<CommandId, CommandError> {
        self.check_accepting()?;
        let command = Command::RichMessage(actions);
        guard::check_command(&command, &self.config)?;
        self.visitor_replied();
        Ok(self.outbound.enqueue(command))
    }

    /// The upload POST answering a FileTransfer `Requested` message (delivered as [`Event::Message`]): `file`
    /// named `filename`, of type `content_type` (e.g. `text/plain`), as [`wire::Upload`] builds it, with
    /// `orgId` from the [`Config`], `chatKey` from the session key ([`wire::chat_key`]; the session id if the
    /// key has no `!`), and the upload host checked by [`RedirectPolicy::check_upload`] against the
    /// configured endpoint, [`Config::redirect`] and [`Config::upload_hosts`].
    ///
    /// The session neither sends nor tracks it: the application sends it with its HTTP client (it is not a
    /// Chat REST request and needs no sequence number), reads the answer with [`Session::upload_answer`],
    /// and the outcome also arrives as a FileTransfer `Success`/`Failure` message on the poll. The chat key
    /// goes only into the returned request's query; the session key itself never leaves the session.
    ///
    /// [`RedirectPolicy::check_upload`]: crate::RedirectPolicy::check_upload
    pub fn upload_request(
        &self,
        transfer: &wire::FileTransfer,
        filename: &str,
        content_type: &str,
        file: &[u8],
    ) -> Result<http::Request<Vec<u8>>, wire::UploadError> {
        if self.is_ended() {
            return Err(wire::UploadError::NotConnected);
        }
        let creds = self
            .credentials
            .as_ref()
            .ok_or(wire::UploadError::NotConnected)?;
        let chat_key = wire::chat_key(&creds.key).unwrap_or(creds.id.as_str());
        wire::Upload::new(
            transfer,
            &self.config.organization_id,
            chat_key,
            filename,
            file,
        )
        .content_type(content_type)
        .upload_hosts(&self.config.upload_hosts)
        .build(&self.config.redirect, &self.config.endpoint)
    }

    /// Reads the upload servlet's answer to an [`upload_request`](Session::upload_request) (its format is
    /// undocumented; read leniently, see [`wire::UploadAnswer`]). The body is held to
    /// [`LimitsConfig::max_body_bytes`](crate::LimitsConfig::max_body_bytes) like every answer. A failure's
    /// `detail` quotes the servlet's answer, escaped and bounded, with this session's key and affinity token
    /// redacted by the rule every error text follows (no run of 8 of their characters survives, however
    /// re-spelled): an error page may echo them. The only reader of the answer, so the detail cannot carry
    /// them. Reads the session without changing it; works after the chat ended too.
    pub fn upload_answer(&self, status: u16, body: &[u8]) -> wire::UploadAnswer {
        let mut answer = wire::parse_upload_answer(status, body, &self.config.limits.into());
        if let (wire::UploadAnswer::Failed { detail, .. }, Some(c)) =
            (&mut answer, &self.credentials)
        {
            wire::redact_secrets(detail, &[c.key.expose(), c.affinity.expose()]);
        }
        answer
    }

    /// Ends the chat. Established: queued commands go first, then ChatEnd, then one more poll for ChatEnded.
    /// Not yet established: in-flight requests are abandoned and the session is deleted. Calling it again
    /// while ending is harmless.
    pub fn end(&mut self) -> Result<(), CommandError> {
        // Ending declines an offered switch: the chat ends where it is (inside the policy).
        self.take_switch();
        match self.state {
            State::Ended => Err(CommandError::Ended),
            State::Ending | State::Deleting => Ok(()),
            State::Chatting | State::AgentDisconnected => {
                self.begin_chat_end(ChatEndReason::Client);
                Ok(())
            }
            State::Connecting => {
                if self.in_flight.is_empty() {
                    self.finish(EndReason::VisitorEnded {
                        attached_records: None,
                    });
                } else {
                    self.ending = Ending::BeforeConnected;
                }
                Ok(())
            }
            State::Initializing | State::Requested | State::Queued => {
                // Queued commands stay queued; they are reported as undelivered when the session ends.
                self.ending = Ending::Delete {
                    chat_requested: self.ending.chat_requested(),
                };
                self.enter(State::Deleting);
                Ok(())
            }
        }
    }

    /// Follows the switch offered by [`Event::SwitchOffered`] `offer` (only under
    /// [`RedirectPolicy::AskApplication`](crate::RedirectPolicy::AskApplication)): later requests, carrying the
    /// session key, go to that endpoint. Emits [`Event::ServerSwitched`].
    ///
    /// The decision names the offer, so it never applies to another: an offer a later SwitchServer replaced
    /// is refused with [`CommandError::SwitchOfferGone`] (nothing changes; the new offer has its own event).
    /// `now` is the application's clock when it decided: an accept at or after the offer's `decide_by` is
    /// too late whatever the order of calls (also when `handle_timeout` has not run yet), so it is refused
    /// with [`CommandError::SwitchOfferLapsed`] and the offer lapses ([`EndReason::SwitchUndecided`]).
    pub fn accept_switch(
        &mut self,
        offer: SwitchOfferId,
        now: Timestamp,
    ) -> Result<(), CommandError> {
        self.tick(now);
        let offer = self.decide_switch(offer, Some(self.now))?;
        self.endpoint = offer.target.clone();
        self.events.push_back(Event::ServerSwitched(offer.target));
        Ok(())
    }

    /// Declines the switch offered by [`Event::SwitchOffered`] `offer`: the chat ends with
    /// [`EndReason::RedirectRefused`] and nothing is sent to the offered endpoint. A replaced offer is
    /// refused with [`CommandError::SwitchOfferGone`] (the pending one, if any, is not touched).
    pub fn refuse_switch(&mut self, offer: SwitchOfferId) -> Result<(), CommandError> {
        let offer = self.decide_switch(offer, None)?;
        let target = offer.target;
        let reason = self.refusal_of(&target);
        self.finish(EndReason::RedirectRefused { target, reason });
        Ok(())
    }

    // ----------------------------------------------------------------------------------------------
    // Outputs
    // ----------------------------------------------------------------------------------------------

    /// The single drain point: call it after every input or command until it returns [`Output::Wait`].
    /// Events come before requests: the application sees what an answer said (e.g. [`Event::ServerSwitched`])
    /// before any request it leads to, and a server that answers every poll at once cannot starve it of
    /// events. Extra calls are harmless.
    #[must_use = "drain every Output: send requests, handle events, sleep until the Wait deadline"]
    pub fn poll_output(&mut self, now: Timestamp) -> Output {
        self.tick(now);
        if let Some(ev) = self.events.pop_front() {
            return Output::Event(ev);
        }
        if let Some(req) = self.next_request() {
            return Output::Request(req);
        }
        // Building a request can end the session (e.g. an exhausted counter): report that first.
        if let Some(ev) = self.events.pop_front() {
            return Output::Event(ev);
        }
        if self.events.capacity() > 0 {
            // A drained session keeps no event buffer: an `Event` is ~350 bytes and the queue's smallest
            // allocation holds 4, which was most of an idle session's heap. Costs one allocation per answer that
            // produces events.
            self.events = VecDeque::new();
        }
        Output::Wait(self.poll_timeout())
    }

    /// When [`handle_timeout`](Session::handle_timeout) should next be called; `None` once ended.
    /// After `handle_timeout(now)` this is `None` or later than `now`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.is_ended() {
            return None;
        }
        self.next_timeout()
    }
}
