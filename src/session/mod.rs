//! The visitor session: a sans-IO state machine that drives a whole chat.
//!
//! It owns the protocol's counters (`ack`, `pc`, `offset`, `X-LIVEAGENT-SEQUENCE`), the single long poll, the
//! single outbound POST slot and its queue, the 503 handover, retries and timers. It never touches a socket
//! or a clock: the driver feeds it answers and the time, and drains [`Output`]s.
//!
//! Decisions where the spec is silent or sources disagree (see the crate docs for the full list):
//! * `ack` echoes the last 200's `sequence`; an empty 200 `{"messages":[]}` is read like a 204. After a
//!   ReconnectSession polls carry no `ack` until a batch shows the numbering again: the new app server may
//!   continue it (the kept ack is right, CARBON's `-1` is not) or restart it at 0 (then only `-1` is right);
//!   a poll without `ack` is right in both (the Android SDK never sends one).
//! * Messages are de-duplicated by index (`sequence - len + 1 ..= sequence`); the floor resets after a
//!   ReconnectSession because the server may renumber.
//! * A POST 409 `Out of sync ... Actual M` re-sends the same batch at once with M + 1, or with M when M + 1
//!   was the number refused (see `recovery`); bounded by the retry budget.
//! * ChasitorResyncState is sent when ChasitorSessionData arrives, before any re-sent command, in every state
//!   once ChasitorInit was accepted (queued too); a refusal is skipped. If a poll completes after a reconnect
//!   without ChasitorSessionData, the session proceeds as if it had arrived.
//! * Ending before an agent accepted uses `DELETE System/SessionId/{key}` (the documented way to end a
//!   session), falling back to ChatEnd if refused; afterwards `ChatEnd {"reason":"client"}` then one more poll
//!   for ChatEnded, falling back to the DELETE if ChatEnd is refused.
//! * A batch whose attempt's outcome is unknown is `DeliveryUncertain`, not `Delivered`, unless the
//!   transcript of ChasitorSessionData settles it after a handover; so are later batches until a 409
//!   `Out of sync` or a `resetSequence` reconnect shows the server's numbering again.

mod backoff;
mod event;
mod guard;
mod recovery;

pub use event::*;
pub use guard::{MAX_COUNTER, MAX_SEQUENCE_JUMP};

use crate::config::Config;
use crate::wire::{
    self, AffinityToken, AgentInfo, Api, ChatEndReason, CustomEvent, Endpoint, IdleWarning,
    Message, MessagesAnswer, MessagesBody, Noun, RichAction, ServerError, SessionAuth, SessionKey,
    TriggeredRule,
};
use backoff::Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::time::Timestamp;

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

/// A visitor command waiting to be sent (persisted with the session). Crate-private: the public commands
/// are `Session`'s methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Command {
    /// A text message.
    Message(String),
    /// Typing started (true) or stopped (false).
    Typing(bool),
    /// What the visitor is typing right now.
    SneakPeek {
        /// Position of this update.
        position: i64,
        /// The text so far.
        text: String,
    },
    /// A custom event.
    CustomEvent {
        /// Event type.
        kind: String,
        /// Payload.
        data: String,
    },
    /// Report which sensitive-data rules fired.
    SensitiveDataRules(Vec<TriggeredRule>),
    /// A chatbot menu or button choice.
    RichMessage(Vec<RichAction>),
    /// The idle warning was shown or cleared.
    IdleWarning(IdleWarning),
    /// End the chat with this reason (`client` or `clientIdleTimeout`).
    End(ChatEndReason),
}

impl Command {
    fn to_noun(&self) -> Noun {
        match self {
            Command::Message(text) => Noun::ChatMessage { text: text.clone() },
            Command::Typing(true) => Noun::ChasitorTyping,
            Command::Typing(false) => Noun::ChasitorNotTyping,
            Command::SneakPeek { position, text } => Noun::ChasitorSneakPeek {
                position: *position,
                text: text.clone(),
            },
            Command::CustomEvent { kind, data } => Noun::CustomEvent(CustomEvent {
                kind: kind.clone(),
                data: data.clone(),
            }),
            Command::SensitiveDataRules(rules) => Noun::SensitiveDataRuleTriggered {
                rules: rules.clone(),
            },
            Command::RichMessage(actions) => Noun::RichMessage {
                actions: actions.clone(),
            },
            Command::IdleWarning(w) => Noun::IdleTimeoutWarning(*w),
            Command::End(reason) => Noun::ChatEnd {
                reason: reason.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct QueuedCommand {
    id: CommandId,
    command: Command,
}

/// A POST batch sent but not yet accepted: retried with the same sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Batch {
    commands: Vec<QueuedCommand>,
    sequence: u64,
    /// An attempt's outcome is unknown (its answer was lost, it timed out, or a 503 or a restart abandoned
    /// it): the server may hold the batch already, so a later 2xx proves nothing (issue #9).
    #[serde(default)]
    uncertain: bool,
    /// Handed out and not answered yet (so a restart cannot know whether it reached the server).
    #[serde(default)]
    in_flight: bool,
    /// Renumbered by a `resetSequence` and not sent since: dropping it gives its number back.
    #[serde(default)]
    renumbered: bool,
}

impl Batch {
    fn new(commands: Vec<QueuedCommand>, sequence: u64) -> Batch {
        Batch {
            commands,
            sequence,
            uncertain: false,
            in_flight: false,
            renumbered: false,
        }
    }

    fn ids(&self) -> Vec<CommandId> {
        self.commands.iter().map(|c| c.id).collect()
    }

    /// The visitor texts it carries (the only commands a transcript shows).
    fn texts(&self) -> Vec<&str> {
        self.commands
            .iter()
            .filter_map(|c| match &c.command {
                Command::Message(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Whether it carries a visitor text (without collecting them).
    fn has_text(&self) -> bool {
        self.commands
            .iter()
            .any(|c| matches!(c.command, Command::Message(_)))
    }

    fn has_end(&self) -> bool {
        self.commands
            .iter()
            .any(|c| matches!(c.command, Command::End(_)))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Credentials {
    id: String,
    key: SessionKey,
    affinity: AffinityToken,
}

/// Progress of a 503 handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Reconnect {
    None,
    /// A 503 arrived: ReconnectSession must be sent (or is in flight).
    Needed,
    /// Reconnected; polling for ChasitorSessionData, sending nothing else.
    AwaitingSessionData,
    /// ChasitorSessionData arrived: ChasitorResyncState goes before anything else.
    ResyncPending,
}

/// The format version [`Session::snapshot`] writes. Bumped only for a change an older reader cannot take by
/// ignoring fields it does not know; every field added within a version carries `#[serde(default)]`, so a
/// snapshot written earlier still resumes (tested against a stored snapshot in `tests/snapshot_compat.rs`).
pub const SNAPSHOT_VERSION: u32 = 1;

fn snapshot_version_before_versioning() -> u32 {
    1
}

/// The durable part of a session: everything needed to resume the same chat after a restart. Serialise it
/// with serde; it holds the session key and affinity token, so store it like a credential. `Debug` hides them.
///
/// Versioned: it carries [`SNAPSHOT_VERSION`]. A snapshot from an older release of the same format version
/// resumes (fields added since take their defaults); one from a newer format is refused by
/// [`Session::resume`] with [`ResumeError::UnsupportedVersion`] instead of being half-read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionSnapshot {
    /// Format version (absent in snapshots written before versioning, which are version 1).
    #[serde(default = "snapshot_version_before_versioning")]
    version: u32,
    state: State,
    credentials: Option<Credentials>,
    endpoint: Endpoint,
    client_poll_timeout_secs: Option<i64>,
    ack: i64,
    last_index: Option<i64>,
    offset: Option<i64>,
    pc: u64,
    next_sequence: u64,
    reconnect: Reconnect,
    queue: VecDeque<QueuedCommand>,
    unacked: Option<Batch>,
    agent: Option<AgentInfo>,
    agent_typing: bool,
    ending_reason: Option<ChatEndReason>,
    next_request_id: u64,
    next_command_id: u64,
    sneak_peek_position: i64,
    rng: Rng,
    /// Ending was asked for before a SessionId answer arrived. Persisted (found by the model test: a resumed
    /// session forgot the visitor's `end()` and went on to request the chat).
    #[serde(default)]
    end_requested: bool,
    /// ChatEnd was accepted: the next poll that completes ends the session. Persisted so a resumed session
    /// still ends after its one more poll.
    #[serde(default)]
    chat_end_accepted: bool,
    /// ChasitorInit was accepted: ending falls back to ChatEnd only for a chat that was requested.
    #[serde(default)]
    chat_requested: bool,
    /// Visitor texts confirmed delivered: a ChasitorSessionData transcript shorter than this is incomplete.
    #[serde(default)]
    confirmed_texts: u64,
    /// Ending before establishment: DELETE SessionId was refused, so ChatEnd is tried instead.
    #[serde(default)]
    delete_refused: bool,
    /// Ending an established chat: ChatEnd was refused, so DELETE SessionId is tried instead.
    #[serde(default)]
    chat_end_refused: bool,
    /// A batch whose attempt's answer was lost was then answered 2xx: all the session knows is that the
    /// server's counter is at or above that number. If the lost answer was a 409 `Out of sync`, the counter
    /// is ahead and a server that drops repeated numbers answers the next POSTs 200 without taking them, so
    /// no 2xx proves delivery until the numbering is known again (a 409 `Out of sync`, or a
    /// `resetSequence` reconnect).
    #[serde(default)]
    numbering_unverified: bool,
    /// Which `ack` polls carry after a ReconnectSession, until a batch shows the server's numbering again.
    #[serde(default)]
    poll_ack: PollAck,
}

/// The `ack` of the polls after a ReconnectSession (spec §4.6: undocumented). The new app server may
/// continue the numbering (the kept `ack` is right, CARBON's `-1` may be refused) or restart it at 0 (`-1`
/// is right, the kept `ack` would acknowledge messages never received). The session converges, bounded:
/// no `ack` first (right under both readings: it acknowledges what the server delivered, the Android SDK
/// polls so); if such a poll's answer may have been lost, the retry must not acknowledge that unseen batch,
/// so it carries `-1` (asks again for everything the server retains; under a restarted numbering the
/// kept `ack` could fall inside the new numbers and acknowledge the lost batch unseen); if that is refused
/// 400, the kept `ack`. A batch ends the uncertainty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum PollAck {
    /// The numbering is known: echo the last `sequence`.
    #[default]
    Known,
    /// Just reconnected: no `ack`.
    Omitted,
    /// A poll without `ack` may have lost its answer: `-1`.
    MinusOne,
    /// `-1` was refused: the kept `ack` (the numbering continues).
    Kept,
}

/// Why `build` produced no request.
enum Unbuildable {
    Build(wire::BuildError),
    NoCredentials,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u64,
    kind: RequestKind,
    deadline: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Control,
    Post,
    Poll,
}

fn slot_of(kind: RequestKind) -> Slot {
    match kind {
        RequestKind::Messages => Slot::Poll,
        RequestKind::ChasitorInit | RequestKind::Chat | RequestKind::ResyncState => Slot::Post,
        RequestKind::SessionId | RequestKind::ReconnectSession | RequestKind::DeleteSession => {
            Slot::Control
        }
    }
}

/// Packed to 4-byte alignment: 20 bytes instead of 24 (three per session; issue #13's idle-session budget).
/// Fields are only ever copied, never borrowed, so the packing costs nothing.
#[derive(Debug, Default, Clone, Copy)]
#[repr(C, packed(4))]
struct SlotTimers {
    retry_at: Option<Timestamp>,
    failures: u32,
}

/// A SwitchServer target offered to the application, and when the offer lapses.
#[derive(Debug)]
struct PendingSwitch {
    target: Endpoint,
    decide_by: Timestamp,
}

/// The visitor side of one chat. See the crate docs for the drive loop.
pub struct Session {
    config: Arc<Config>,
    d: SessionSnapshot,
    now: Timestamp,
    in_flight: Vec<InFlight>,
    control: SlotTimers,
    post: SlotTimers,
    poll: SlotTimers,
    events: VecDeque<Event>,
    /// Boxed, like [`Session::pending_switch`]: `None` for the whole chat, so it should not cost its size in
    /// every idle session (issue #13).
    end_reason: Option<Box<EndReason>>,
    idle_warn_at: Option<Timestamp>,
    idle_end_at: Option<Timestamp>,
    idle_warned: bool,
    /// A poll was issued after ChatEnd was accepted: its answer is the last one.
    final_poll_issued: bool,
    /// The poll answer being handled held no messages ([`Session::pace_empty_polls`]).
    poll_came_back_empty: bool,
    /// The previous poll answer was empty and came back sooner than a long poll can.
    quick_empty_poll: bool,
    /// Consecutive 409s on the poll: the first is re-polled ("Duplicate Long Polling"), the second ends.
    poll_conflicts: u32,
    /// No command POST before this instant: the previous one carried a ChatMessage (`Config::message_spacing`).
    paced_until: Option<Timestamp>,
    /// A SwitchServer target outside the policy, offered to the application ([`RedirectPolicy::AskApplication`]);
    /// nothing new is sent until it decides, and an offer still undecided after `request_timeout` is refused
    /// ([`EndReason::SwitchUndecided`]). Not persisted: a resumed session stays where it was and the server
    /// repeats SwitchServer if it means it.
    ///
    /// [`RedirectPolicy::AskApplication`]: crate::RedirectPolicy::AskApplication
    pending_switch: Option<Box<PendingSwitch>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.d.state)
            .field("reconnect", &self.d.reconnect)
            .field("ack", &self.d.ack)
            .field("next_sequence", &self.d.next_sequence)
            .field("in_flight", &self.in_flight)
            .field("queued", &self.d.queue.len())
            .field("end_reason", &self.end_reason)
            .finish_non_exhaustive()
    }
}

/// `now + d` (at least 1 ms), never panicking: a duration too large for the platform's `Timestamp` is shortened.
fn later(now: Timestamp, d: Duration) -> Timestamp {
    now.saturating_add(d.max(Duration::from_millis(1)))
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn due(t: Option<Timestamp>, now: Timestamp) -> bool {
    t.is_none_or(|t| t <= now)
}

impl Session {
    /// A new session; the first output is the SessionId request.
    pub fn new(config: Config, now: Timestamp) -> Session {
        Session::with_shared_config(Arc::new(config), now)
    }

    /// Like [`Session::new`], sharing one configuration between many sessions (bots, load tests).
    pub fn with_shared_config(config: Arc<Config>, now: Timestamp) -> Session {
        let d = SessionSnapshot {
            version: SNAPSHOT_VERSION,
            state: State::Connecting,
            credentials: None,
            endpoint: config.endpoint.clone(),
            client_poll_timeout_secs: None,
            ack: -1,
            last_index: None,
            offset: None,
            pc: 0,
            next_sequence: 1,
            reconnect: Reconnect::None,
            queue: VecDeque::new(),
            unacked: None,
            agent: None,
            agent_typing: false,
            ending_reason: None,
            next_request_id: 1,
            next_command_id: 1,
            sneak_peek_position: 0,
            rng: Rng::new(config.seed),
            end_requested: false,
            chat_end_accepted: false,
            chat_requested: false,
            confirmed_texts: 0,
            delete_refused: false,
            chat_end_refused: false,
            numbering_unverified: false,
            poll_ack: PollAck::Known,
        };
        Session::from_parts(config, d, now)
    }

    fn from_parts(config: Arc<Config>, d: SessionSnapshot, now: Timestamp) -> Session {
        Session {
            config,
            d,
            now,
            in_flight: Vec::new(),
            control: SlotTimers::default(),
            post: SlotTimers::default(),
            poll: SlotTimers::default(),
            events: VecDeque::new(),
            end_reason: None,
            idle_warn_at: None,
            idle_end_at: None,
            idle_warned: false,
            final_poll_issued: false,
            poll_came_back_empty: false,
            quick_empty_poll: false,
            poll_conflicts: 0,
            paced_until: None,
            pending_switch: None,
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
        let mut s = Session::from_parts(Arc::new(config), snapshot, now);
        s.d.version = SNAPSHOT_VERSION;
        if let Some(b) = s.d.unacked.as_mut().filter(|b| b.in_flight) {
            // The old process may have sent it: the server may hold it already.
            b.in_flight = false;
            b.uncertain = true;
        }
        if s.d.state == State::Connecting && s.d.end_requested {
            // The visitor ended the chat while SessionId was in flight; that request is lost with the old
            // process, so there is no session to delete: the end is complete.
            s.finish(EndReason::VisitorEnded {
                attached_records: None,
            });
        }
        // The idle timer is not restored: it restarts with the agent's next message.
        Ok(s)
    }

    /// The durable state, for persisting. Taking it does not change the session.
    pub fn snapshot(&self) -> SessionSnapshot {
        self.d.clone()
    }

    /// Where the chat is.
    pub fn state(&self) -> State {
        self.d.state
    }

    /// True between a 503 and the end of the handover (ChasitorResyncState sent).
    pub fn is_reconnecting(&self) -> bool {
        self.d.reconnect != Reconnect::None
    }

    /// Why the session ended, once it has.
    pub fn end_reason(&self) -> Option<&EndReason> {
        self.end_reason.as_deref()
    }

    /// The agent serving the chat, if any.
    pub fn agent(&self) -> Option<&AgentInfo> {
        self.d.agent.as_ref()
    }

    /// Whether the agent is typing.
    pub fn agent_typing(&self) -> bool {
        self.d.agent_typing
    }

    /// The endpoint requests go to (changes on SwitchServer).
    pub fn endpoint(&self) -> &Endpoint {
        &self.d.endpoint
    }

    /// The session id (goes into ChasitorInit), once known. Not a secret.
    pub fn session_id(&self) -> Option<&str> {
        self.d.credentials.as_ref().map(|c| c.id.as_str())
    }

    /// The `ack` the next poll will carry.
    pub fn ack(&self) -> i64 {
        self.d.ack
    }

    /// The next `X-LIVEAGENT-SEQUENCE` a new POST will carry.
    pub fn next_sequence(&self) -> u64 {
        self.d.next_sequence
    }

    /// The last reconnect offset received.
    pub fn offset(&self) -> Option<i64> {
        self.d.offset
    }

    /// Requests handed out and not yet answered.
    pub fn in_flight(&self) -> impl Iterator<Item = (RequestId, RequestKind)> + '_ {
        self.in_flight.iter().map(|f| (RequestId(f.id), f.kind))
    }

    /// Commands not yet accepted by the server (queued or in flight).
    pub fn pending_commands(&self) -> usize {
        self.d.queue.len() + self.d.unacked.as_ref().map_or(0, |b| b.commands.len())
    }

    fn is_ended(&self) -> bool {
        self.d.state == State::Ended
    }

    fn tick(&mut self, now: Timestamp) {
        // Time never goes backwards: an earlier `now` is clamped to the latest seen.
        if now > self.now {
            self.now = now;
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Commands
    // ----------------------------------------------------------------------------------------------

    fn check_accepting(&self) -> Result<(), CommandError> {
        match self.d.state {
            State::Ended => Err(CommandError::Ended),
            State::Ending | State::Deleting => Err(CommandError::Ending),
            _ if self.d.next_command_id >= MAX_COUNTER => Err(CommandError::Ended),
            _ if self.d.queue.len() >= self.config.max_queued_commands => {
                Err(CommandError::QueueFull {
                    limit: self.config.max_queued_commands,
                })
            }
            _ => Ok(()),
        }
    }

    fn check_text(&self, text: &str) -> Result<(), CommandError> {
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

    fn enqueue(&mut self, command: Command) -> CommandId {
        let id = CommandId(self.d.next_command_id);
        self.d.next_command_id = self.d.next_command_id.saturating_add(1);
        self.d.queue.push_back(QueuedCommand { id, command });
        id
    }

    /// The visitor answered: the idle timer stops (until the agent's next message) and a shown warning is
    /// cleared. Salesforce's "Customer Time-Out" counts from an agent message to the visitor's reply; typing
    /// and sneak peeks are not replies.
    fn visitor_replied(&mut self) {
        if self.idle_warned {
            self.idle_warned = false;
            self.enqueue(Command::IdleWarning(IdleWarning::Cleared));
            self.events.push_back(Event::IdleWarningCleared);
        }
        self.idle_warn_at = None;
        self.idle_end_at = None;
    }

    /// Sends a text to the agent. Before ChatEstablished it is queued (the server answers 500 to early POSTs).
    pub fn send_message(&mut self, text: impl Into<String>) -> Result<CommandId, CommandError> {
        let text = text.into();
        self.check_accepting()?;
        self.check_text(&text)?;
        self.visitor_replied();
        Ok(self.enqueue(Command::Message(text)))
    }

    /// Reports that the visitor started or stopped typing.
    pub fn set_typing(&mut self, typing: bool) -> Result<CommandId, CommandError> {
        self.check_accepting()?;
        Ok(self.enqueue(Command::Typing(typing)))
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
        self.d.sneak_peek_position = self.d.sneak_peek_position.saturating_add(1);
        let position = self.d.sneak_peek_position;
        Ok(self.enqueue(Command::SneakPeek { position, text }))
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
        Ok(self.enqueue(command))
    }

    /// Reports the sensitive-data rules the application applied to the visitor's text.
    pub fn report_sensitive_data_rules(
        &mut self,
        rules: Vec<TriggeredRule>,
    ) -> Result<CommandId, CommandError> {
        self.check_accepting()?;
        let command = Command::SensitiveDataRules(rules);
        guard::check_command(&command, &self.config)?;
        Ok(self.enqueue(command))
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
        Ok(self.enqueue(command))
    }

    /// The upload POST answering a FileTransfer `Requested` message (delivered as [`Event::Message`]): `file`
    /// named `filename`, of type `content_type` (e.g. `text/plain`), as [`wire::Upload`] builds it, with
    /// `orgId` from the [`Config`], `chatKey` from the session key ([`wire::chat_key`]; the session id if the
    /// key has no `!`), and the upload host checked by [`RedirectPolicy::check_upload`] against the
    /// configured endpoint, [`Config::redirect`] and [`Config::upload_hosts`].
    ///
    /// The session neither sends nor tracks it: the application sends it with its HTTP client (it is not a
    /// Chat REST request and needs no sequence number), reads the answer with [`wire::parse_upload_answer`],
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
            .d
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

    /// Ends the chat. Established: queued commands go first, then ChatEnd, then one more poll for ChatEnded.
    /// Not yet established: in-flight requests are abandoned and the session is deleted. Calling it again
    /// while ending is harmless.
    pub fn end(&mut self) -> Result<(), CommandError> {
        // Ending declines an offered switch: the chat ends where it is (inside the policy).
        self.pending_switch = None;
        match self.d.state {
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
                    self.d.end_requested = true;
                }
                Ok(())
            }
            State::Initializing | State::Requested | State::Queued => {
                // Queued commands stay queued; they are reported as undelivered when the session ends.
                self.in_flight.clear();
                self.d.reconnect = Reconnect::None;
                self.d.state = State::Deleting;
                self.control = SlotTimers::default();
                Ok(())
            }
        }
    }

    fn begin_chat_end(&mut self, reason: ChatEndReason) {
        self.d.ending_reason = Some(reason.clone());
        self.enqueue(Command::End(reason));
        self.d.state = State::Ending;
        self.idle_warn_at = None;
        self.idle_end_at = None;
    }

    // ----------------------------------------------------------------------------------------------
    // Outputs and time
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
        let mut t = None;
        for f in &self.in_flight {
            t = min_opt(t, Some(f.deadline));
        }
        for slot in [&self.control, &self.post, &self.poll] {
            t = min_opt(t, slot.retry_at);
        }
        t = min_opt(t, self.idle_warn_at);
        t = min_opt(t, self.pending_switch.as_ref().map(|p| p.decide_by));
        if self.has_outbound() && !self.busy(Slot::Post) {
            t = min_opt(t, self.paced_until.filter(|&p| p > self.now));
        }
        min_opt(t, self.idle_end_at)
    }

    /// Tells the session the time: expires requests past their deadline (as transport errors), releases
    /// retries that are due, and runs the idle timer. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        if self.is_ended() {
            return;
        }
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
        for slot in [&mut self.control, &mut self.post, &mut self.poll] {
            if slot.retry_at.is_some_and(|t| t <= now) {
                slot.retry_at = None;
            }
        }
        if self.paced_until.is_some_and(|t| t <= now) {
            self.paced_until = None;
        }
        if self.idle_warn_at.is_some_and(|t| t <= now) {
            self.idle_warn_at = None;
            if !self.idle_warned {
                self.idle_warned = true;
                self.enqueue(Command::IdleWarning(IdleWarning::Triggered));
                let ends_at = self.idle_end_at.unwrap_or(now);
                self.events.push_back(Event::IdleWarning { ends_at });
            }
        }
        if self.idle_end_at.is_some_and(|t| t <= now) {
            self.idle_end_at = None;
            if matches!(self.d.state, State::Chatting | State::AgentDisconnected) {
                self.begin_chat_end(ChatEndReason::ClientIdleTimeout);
            }
        }
    }

    fn arm_idle_timer(&mut self) {
        self.idle_warn_at = None;
        self.idle_end_at = None;
        if !self.config.enforce_idle_timeout {
            return;
        }
        let Some(settings) = self
            .d
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
        self.idle_end_at = Some(later(self.now, secs(timeout)));
        if let Some(w) = settings.warning_time.filter(|&w| w > 0 && w < timeout) {
            self.idle_warn_at = Some(later(self.now, secs(w)));
        }
    }

    fn busy(&self, slot: Slot) -> bool {
        self.in_flight.iter().any(|f| slot_of(f.kind) == slot)
    }

    fn api(&self) -> Api<'_> {
        Api::new(&self.d.endpoint, self.config.api_version)
    }

    fn auth(&self) -> Option<SessionAuth<'_>> {
        self.d.credentials.as_ref().map(|c| SessionAuth {
            key: &c.key,
            affinity: Some(&c.affinity),
        })
    }

    /// Picks the next request to send, if any, and records it as in flight.
    fn next_request(&mut self) -> Option<OutgoingRequest> {
        if self.is_ended() || self.pending_switch.is_some() {
            return None;
        }
        if let Some(counter) = self.exhausted_counter() {
            self.finish(EndReason::CounterExhausted { counter });
            return None;
        }
        let now = self.now;
        let kind = self.next_kind(now)?;
        let built = self.build(kind);
        match built {
            Ok(http) => {
                let id = self.d.next_request_id;
                self.d.next_request_id = self.d.next_request_id.saturating_add(1);
                let deadline = later(now, self.timeout_for(kind));
                if kind == RequestKind::Messages {
                    self.d.pc = self.d.pc.saturating_add(1);
                    if self.d.chat_end_accepted {
                        self.final_poll_issued = true;
                    }
                }
                if kind == RequestKind::Chat
                    && let Some(b) = self.d.unacked.as_mut()
                {
                    b.in_flight = true;
                    b.renumbered = false;
                    if !self.config.message_spacing.is_zero() && b.has_text() {
                        self.paced_until = Some(later(now, self.config.message_spacing));
                    }
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
            ("next_request_id", self.d.next_request_id),
            ("X-LIVEAGENT-SEQUENCE", self.d.next_sequence),
            ("pc", self.d.pc),
        ]
        .into_iter()
        .find(|&(_, v)| v >= MAX_COUNTER)
        .map(|(name, _)| name)
    }

    fn next_kind(&mut self, now: Timestamp) -> Option<RequestKind> {
        let state = self.d.state;
        if !self.busy(Slot::Control) && due(self.control.retry_at, now) {
            if self.d.credentials.is_none() && state == State::Connecting {
                return Some(RequestKind::SessionId);
            }
            if state == State::Deleting && self.d.credentials.is_some() && !self.d.delete_refused {
                return Some(RequestKind::DeleteSession);
            }
            if self.d.reconnect == Reconnect::Needed && self.d.credentials.is_some() {
                return Some(RequestKind::ReconnectSession);
            }
        }
        if state == State::Deleting
            && self.d.delete_refused
            && self.d.credentials.is_some()
            && !self.busy(Slot::Post)
        {
            // DELETE SessionId was refused: end with ChatEnd instead (the SDK sends both). After a restart
            // the same ChatEnd is re-sent.
            if self.d.unacked.is_none() {
                let id = CommandId(self.d.next_command_id);
                self.d.next_command_id = self.d.next_command_id.saturating_add(1);
                let end = QueuedCommand {
                    id,
                    command: Command::End("client".into()),
                };
                self.d.unacked = Some(Batch::new(vec![end], self.d.next_sequence));
                self.d.next_sequence = self.d.next_sequence.saturating_add(1);
            }
            return Some(RequestKind::Chat);
        }
        if self.d.credentials.is_none() || state == State::Deleting {
            return None;
        }
        if !self.busy(Slot::Post) && due(self.post.retry_at, now) {
            match self.d.reconnect {
                Reconnect::Needed | Reconnect::AwaitingSessionData => {}
                Reconnect::ResyncPending => return Some(RequestKind::ResyncState),
                Reconnect::None => {
                    if state == State::Initializing {
                        return Some(RequestKind::ChasitorInit);
                    }
                    if matches!(state, State::Chatting | State::Ending)
                        && self.has_outbound()
                        && due(self.paced_until, now)
                    {
                        self.prepare_batch();
                        return Some(RequestKind::Chat);
                    }
                }
            }
        }
        let polling = matches!(
            state,
            State::Requested
                | State::Queued
                | State::Chatting
                | State::AgentDisconnected
                | State::Ending
        );
        // Backpressure: no new poll while the application has not drained what the last ones brought.
        let drained = self.events.len() < self.config.limits.max_undrained_events.max(1);
        if polling
            && drained
            && self.d.reconnect != Reconnect::Needed
            && !self.busy(Slot::Poll)
            && due(self.poll.retry_at, now)
        {
            return Some(RequestKind::Messages);
        }
        None
    }

    fn has_outbound(&self) -> bool {
        self.d
            .unacked
            .as_ref()
            .is_some_and(|b| !b.commands.is_empty())
            || !self.d.queue.is_empty()
    }

    /// Moves queued commands into the unacknowledged batch unless a batch is already waiting for a retry.
    fn prepare_batch(&mut self) {
        if self
            .d
            .unacked
            .as_ref()
            .is_some_and(|b| b.commands.is_empty())
        {
            // Never POST `{"nouns":[]}`.
            self.d.unacked = None;
        }
        if self.d.unacked.is_some() {
            return;
        }
        let n = self.d.queue.len().min(self.config.max_batch.max(1));
        let commands: Vec<QueuedCommand> = self.d.queue.drain(..n).collect();
        let sequence = self.d.next_sequence;
        self.d.next_sequence = self.d.next_sequence.saturating_add(1);
        self.d.unacked = Some(Batch::new(commands, sequence));
    }

    fn build(&self, kind: RequestKind) -> Result<http::Request<Vec<u8>>, Unbuildable> {
        let api = self.api();
        let missing = || Unbuildable::NoCredentials;
        let built = match kind {
            RequestKind::SessionId => api.session_id(),
            RequestKind::DeleteSession => api.delete_session(self.auth().ok_or_else(missing)?),
            RequestKind::ReconnectSession => {
                let c = self.d.credentials.as_ref().ok_or_else(missing)?;
                api.reconnect_session(&c.key, self.d.offset)
            }
            RequestKind::Messages => {
                let pc = self.config.send_poll_counter.then_some(self.d.pc);
                let auth = self.auth().ok_or_else(missing)?;
                match self.d.poll_ack {
                    PollAck::Omitted => api.messages_without_ack(auth, pc),
                    PollAck::MinusOne => api.messages(auth, -1, pc),
                    PollAck::Known | PollAck::Kept => api.messages(auth, self.d.ack, pc),
                }
            }
            RequestKind::ChasitorInit => {
                let c = self.d.credentials.as_ref().ok_or_else(missing)?;
                let noun = Noun::ChasitorInit(Box::new(self.chasitor_init(&c.id)));
                // ChasitorInit is always the first sequenced POST: 1, or whatever a reset left.
                api.chasitor(
                    self.auth().ok_or_else(missing)?,
                    &noun,
                    self.init_sequence(),
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
                // `prepare_batch` ran just before; no batch cannot happen (reported like no credentials).
                let batch = self.d.unacked.as_ref().ok_or_else(missing)?;
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
    fn timeout_for(&self, kind: RequestKind) -> Duration {
        let timeout = if kind == RequestKind::Messages {
            let secs = self
                .d
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

    fn init_sequence(&self) -> u64 {
        // ChasitorInit takes the sequence the counter holds; it is advanced only when the server accepts it,
        // so a retry reuses the number.
        self.d.next_sequence
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

    // ----------------------------------------------------------------------------------------------
    // Inputs
    // ----------------------------------------------------------------------------------------------

    fn take_in_flight(&mut self, id: RequestId) -> Result<Option<InFlight>, InputError> {
        if id.0 == 0 || id.0 >= self.d.next_request_id {
            return Err(InputError::UnknownRequest(id));
        }
        Ok(self
            .in_flight
            .iter()
            .position(|f| f.id == id.0)
            .map(|pos| self.in_flight.remove(pos)))
    }

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
        self.poll_came_back_empty = false;
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

    fn slot_timers(&mut self, kind: RequestKind) -> &mut SlotTimers {
        match slot_of(kind) {
            Slot::Control => &mut self.control,
            Slot::Post => &mut self.post,
            Slot::Poll => &mut self.poll,
        }
    }

    fn on_success(&mut self, kind: RequestKind) {
        let t = self.slot_timers(kind);
        t.failures = 0;
        t.retry_at = None;
    }

    /// The unacknowledged batch was answered with a 2xx, or its answer was lost: the server may have taken
    /// its ChatMessage. The spacing then also counts from now: the server took it before it answered, so the
    /// next one arrives at least the spacing after it however long either spent on the way (counted from the
    /// send alone, a slow first request and a fast second one arrived 5 ms apart over loopback on a loaded
    /// machine, and a `rapid-messages=dropped` server dropped the second). A refusal needs no spacing: the
    /// server did not take it.
    fn pace_from_answer(&mut self) {
        if let Some(b) = self.d.unacked.as_ref()
            && !self.config.message_spacing.is_zero()
            && b.has_text()
        {
            let until = later(self.now, self.config.message_spacing);
            self.paced_until = Some(self.paced_until.map_or(until, |p| p.max(until)));
        }
    }

    /// A server that answers every poll at once without new messages (204, `{"messages":[]}` whatever its
    /// `sequence`, or only messages already delivered) would otherwise be re-polled as fast as the network allows. A long poll is held for
    /// seconds; an empty answer sooner than [`MIN_BACKOFF`](crate::config::floors::MIN_BACKOFF) after the
    /// poll went out is not one. The first such answer is re-polled at once (a poll can be cut short for
    /// good reasons); from the second in a row on, the next poll goes no sooner than `MIN_BACKOFF` after the
    /// previous one was sent: at most ten polls a second against a server that floods empty answers.
    fn pace_empty_polls(&mut self, answered: &InFlight, now: Timestamp) {
        if !self.poll_came_back_empty && !self.quick_empty_poll {
            return; // the common case: the answer brought messages
        }
        let floor = crate::config::floors::MIN_BACKOFF;
        let sent = answered
            .deadline
            .checked_sub(self.timeout_for(RequestKind::Messages));
        let quick_empty = self.poll_came_back_empty
            && sent.is_some_and(|s| now < later(s, floor))
            && !self.is_ended();
        if quick_empty
            && self.quick_empty_poll
            && let Some(s) = sent
        {
            self.poll.retry_at = Some(later(s, floor));
        }
        self.quick_empty_poll = quick_empty;
    }

    /// Marks the answer to the unacknowledged batch as in: `uncertain` when its outcome stays unknown.
    fn batch_answered(&mut self, uncertain: bool) {
        if let Some(b) = self.d.unacked.as_mut() {
            b.in_flight = false;
            b.uncertain |= uncertain;
        }
    }

    /// The server accepted the unacknowledged batch: `Delivered`, or `DeliveryUncertain` when an earlier
    /// attempt's outcome is unknown (the 2xx may be the server dropping a number it already holds).
    fn batch_accepted(&mut self) {
        if let Some(ev) = self.accept_batch(false) {
            self.events.push_back(ev);
        }
    }

    /// `seen_in_transcript`: the server's transcript shows the batch, which proves it whatever the numbering.
    fn accept_batch(&mut self, seen_in_transcript: bool) -> Option<Event> {
        let batch = self.d.unacked.take()?;
        if batch.has_end() {
            self.d.chat_end_accepted = true;
        }
        let ids = batch.ids();
        if batch.uncertain {
            self.d.numbering_unverified = true;
        }
        Some(
            if !seen_in_transcript && (batch.uncertain || self.d.numbering_unverified) {
                Event::DeliveryUncertain(ids)
            } else {
                let n = u64::try_from(batch.texts().len()).unwrap_or(u64::MAX);
                self.d.confirmed_texts = self.d.confirmed_texts.saturating_add(n);
                Event::Delivered(ids)
            },
        )
    }

    /// Ending before establishment: any answer to DELETE but a 2xx or 403 is a refusal. Falls back to ChatEnd
    /// once; if ChatEnd was the way already refused, the end is complete (the server expires the session).
    fn delete_refused(&mut self) {
        if self.d.chat_end_refused || self.d.delete_refused || !self.d.chat_requested {
            self.finish(self.visitor_end_reason(None));
        } else {
            self.d.delete_refused = true;
            self.post = SlotTimers::default();
        }
    }

    /// The ChatEnd of an established chat was refused for good: fall back to DELETE SessionId (once), so
    /// `end()` always ends. Returns false when this is not that case.
    fn chat_end_refused(&mut self, kind: RequestKind) -> bool {
        if kind != RequestKind::Chat || self.d.state != State::Ending || self.d.chat_end_refused {
            return false;
        }
        self.d.chat_end_refused = true;
        self.d.state = State::Deleting;
        self.in_flight.clear();
        self.d.reconnect = Reconnect::None;
        self.control = SlotTimers::default();
        self.post = SlotTimers::default();
        self.poll = SlotTimers::default();
        self.batch_answered(false);
        true
    }

    /// A refusal of the ChatEnd sent after a refused DELETE: the end is complete (the server expires the
    /// session). (That ChatEnd is the session's own, so no delivery event names it.)
    fn fallback_chat_end_answered(&mut self) {
        self.d.unacked = None;
        self.finish(self.visitor_end_reason(None));
    }

    /// The ChatEnd sent after a refused DELETE was accepted: the server ends the chat with ChatEnded, so keep
    /// polling for it like after any accepted ChatEnd (one more poll; it carries `attachedRecords`). Ending
    /// here would leave the server's session open until it expires. Commands still queued are never sent
    /// (a queued chat takes none): they are reported undelivered now.
    fn fallback_chat_end_accepted(&mut self) {
        self.d.unacked = None;
        let undelivered: Vec<CommandId> = self.d.queue.drain(..).map(|c| c.id).collect();
        if !undelivered.is_empty() {
            self.events.push_back(Event::Undelivered(undelivered));
        }
        self.d.ending_reason.get_or_insert(ChatEndReason::Client);
        self.d.chat_end_accepted = true;
        self.d.state = State::Ending;
        self.post = SlotTimers::default();
        self.poll = SlotTimers::default();
    }

    /// ChasitorResyncState could not be delivered: carry on without it (its placement is inferred, CARBON
    /// only; the Android SDK never sends it), so a refused resync never ends or stalls the chat.
    fn skip_resync(&mut self) {
        self.post = SlotTimers::default();
        if self.d.reconnect == Reconnect::ResyncPending {
            self.d.reconnect = Reconnect::None;
        }
    }

    /// Hides this session's own key and affinity token in the text a failure quotes from the server (an
    /// error page may echo them; the failure's text reaches events, end reasons and logs).
    fn redact_failure(&self, cause: &mut Failure) {
        let Some(c) = &self.d.credentials else {
            return;
        };
        let secrets = [c.key.expose(), c.affinity.expose()];
        match cause {
            Failure::Decode(e) => e.redact(&secrets),
            // Redacted where it is parsed (`on_error_status`), the only place a `ServerError` comes from.
            Failure::Server(_) | Failure::Transport(_) | Failure::NoAnswer => {}
        }
    }

    /// A retryable failure: back off, or give up when the budget is spent.
    fn on_failure(&mut self, kind: RequestKind, mut cause: Failure) {
        self.redact_failure(&mut cause);
        if kind == RequestKind::DeleteSession {
            // The visitor asked to leave: try the other way once, then stop (the server expires it anyway).
            self.delete_refused();
            return;
        }
        if kind == RequestKind::Chat {
            if self.d.state == State::Deleting {
                self.fallback_chat_end_answered();
                return;
            }
            // A lost answer (transport error, timeout) or a gateway error: the server may have taken it. A
            // connection that was never established sent nothing.
            let unknown = match &cause {
                Failure::Transport(TransportError::ConnectRefused) | Failure::Decode(_) => false,
                Failure::Transport(_) | Failure::NoAnswer => true,
                Failure::Server(e) => matches!(e.status(), 502 | 504),
            };
            if unknown {
                self.pace_from_answer();
            }
            self.batch_answered(unknown);
        }
        if kind == RequestKind::Messages && self.d.poll_ack == PollAck::Omitted {
            // A poll without `ack` whose answer may have been a batch (lost, undecodable, behind a gateway
            // error): the server counts it delivered, so the retry must not acknowledge it unseen. It carries
            // -1 (see `PollAck`).
            let maybe_delivered = match &cause {
                Failure::Transport(TransportError::ConnectRefused) => false,
                Failure::Transport(_) | Failure::NoAnswer | Failure::Decode(_) => true,
                Failure::Server(e) => matches!(e.status(), 502 | 504),
            };
            if maybe_delivered {
                self.d.poll_ack = PollAck::MinusOne;
            }
        }
        let max = self
            .config
            .retry
            .max_attempts
            .max(crate::config::floors::MIN_ATTEMPTS);
        let t = self.slot_timers(kind);
        t.failures = t.failures.saturating_add(1);
        let attempt = t.failures;
        if attempt >= max {
            if kind == RequestKind::ResyncState {
                self.skip_resync();
                return;
            }
            if self.chat_end_refused(kind) {
                return;
            }
            self.finish(EndReason::GaveUp {
                request: kind,
                attempts: attempt,
                last: cause,
            });
            return;
        }
        let delay = backoff::delay(&self.config.retry, attempt, &mut self.d.rng);
        let at = later(self.now, delay);
        self.slot_timers(kind).retry_at = Some(at);
        self.events.push_back(Event::Retrying {
            request: kind,
            attempt,
            at,
            cause,
        });
    }

    fn on_response(&mut self, kind: RequestKind, status: u16, body: &[u8]) {
        if self.is_ended() {
            return;
        }
        if kind == RequestKind::Messages && status != 409 {
            // Only 409s in a row count: anything else the server answered breaks the run.
            self.poll_conflicts = 0;
        }
        let ok = (200..300).contains(&status);
        if !ok {
            self.on_error_status(kind, status, body);
            return;
        }
        let limits = self.config.limits.into();
        match kind {
            RequestKind::SessionId => match wire::parse_session_id(status, body, &limits) {
                Ok(s) => {
                    self.on_success(kind);
                    self.d.client_poll_timeout_secs = s.client_poll_timeout;
                    self.d.credentials = Some(Credentials {
                        id: s.id,
                        key: s.key,
                        affinity: s.affinity_token,
                    });
                    self.d.state = if self.d.end_requested {
                        State::Deleting
                    } else {
                        State::Initializing
                    };
                }
                Err(e) => self.on_failure(kind, Failure::Decode(e)),
            },
            RequestKind::ChasitorInit => {
                self.on_success(kind);
                self.d.chat_requested = true;
                self.d.next_sequence = self.d.next_sequence.saturating_add(1);
                if self.d.state == State::Initializing {
                    self.d.state = State::Requested;
                    self.events.push_back(Event::ChatRequested);
                }
            }
            RequestKind::ResyncState => {
                self.on_success(kind);
                self.d.reconnect = Reconnect::None;
            }
            RequestKind::Chat if self.d.state == State::Deleting => {
                self.fallback_chat_end_accepted()
            }
            RequestKind::Chat => {
                self.on_success(kind);
                self.pace_from_answer();
                self.batch_answered(false);
                self.batch_accepted();
            }
            RequestKind::DeleteSession => self.finish(self.visitor_end_reason(None)),
            RequestKind::ReconnectSession => {
                match wire::parse_reconnect_session(status, body, &limits) {
                    Ok(r) => {
                        self.on_success(kind);
                        if let Some(c) = self.d.credentials.as_mut() {
                            c.affinity = AffinityToken::new(r.affinity_token.clone());
                        }
                        // `resetSequence: false` keeps the numbering going (the abandoned batch keeps its number,
                        // so a server that took it can drop the re-send); absent counts as true (the SDK).
                        if r.resets_sequence() {
                            self.d.next_sequence = 1;
                            self.d.numbering_unverified = false;
                            if let Some(b) = self.d.unacked.as_mut() {
                                // The abandoned batch is re-sent under the new numbering.
                                b.sequence = 1;
                                b.renumbered = true;
                                self.d.next_sequence = 2;
                            }
                        }
                        // The server may renumber what it re-delivers: index de-duplication starts afresh,
                        // and polls carry no `ack` until a batch shows the numbering.
                        self.d.last_index = None;
                        self.d.poll_ack = PollAck::Omitted;
                        self.d.reconnect = if self.d.state == State::Initializing {
                            // No chat yet, so no session data will come: just re-send ChasitorInit.
                            Reconnect::None
                        } else {
                            Reconnect::AwaitingSessionData
                        };
                    }
                    Err(e) => self.on_failure(kind, Failure::Decode(e)),
                }
            }
            RequestKind::Messages => match wire::parse_messages(status, body, &limits) {
                Ok(answer) => {
                    self.on_success(kind);
                    self.on_poll_answer(answer);
                }
                Err(e) => self.on_failure(kind, Failure::Decode(e)),
            },
        }
    }

    fn on_error_status(&mut self, kind: RequestKind, status: u16, body: &[u8]) {
        let mut error = ServerError::parse(status, body);
        if let Some(c) = &self.d.credentials {
            error.redact(&[c.key.expose(), c.affinity.expose()]);
        }
        if kind == RequestKind::Chat {
            if self.d.state == State::Deleting {
                // The ChatEnd tried after a refused DELETE: the end is complete either way.
                self.fallback_chat_end_answered();
                return;
            }
            // The server answered: the attempt was refused, not lost (a gateway error aside, see on_failure).
            if !matches!(status, 502 | 504) {
                self.batch_answered(false);
            }
        }
        match (status, kind) {
            (503, RequestKind::SessionId | RequestKind::ReconnectSession) => {
                self.on_failure(kind, Failure::Server(error))
            }
            (403, RequestKind::DeleteSession) => self.finish(self.visitor_end_reason(None)),
            (_, RequestKind::DeleteSession) => self.delete_refused(),
            (503, _) => self.start_handover(),
            (_, RequestKind::ResyncState) => {
                // Refused (500 while queued, 403, 405, ...): carry on without it; only a poll decides
                // whether the session is still valid.
                self.skip_resync();
            }
            (403, _) if self.d.state == State::Ending => {
                // The chat is already over on the server (e.g. the agent ended it first).
                self.finish(self.visitor_end_reason(None))
            }
            (403, _) => self.finish(EndReason::SessionInvalid {
                request: kind,
                error,
            }),
            (409, RequestKind::Chat | RequestKind::ChasitorInit) => match error {
                ServerError::OutOfSync { actual, .. } => {
                    // The server just said where its counter is.
                    self.d.numbering_unverified = false;
                    self.resync_sequence(kind, actual, error)
                }
                _ if self.chat_end_refused(kind) => {}
                _ => self.finish(EndReason::Conflict {
                    request: kind,
                    error,
                }),
            },
            (409, RequestKind::Messages) if self.poll_conflicts == 0 => {
                // "Duplicate Long Polling": two production clients polled again (field evidence §9); a
                // second 409 in a row is the guide's "chat terminated".
                self.poll_conflicts = 1;
                let delay = backoff::delay(&self.config.retry, 1, &mut self.d.rng);
                let at = later(self.now, delay);
                self.poll.retry_at = Some(at);
                self.events.push_back(Event::Retrying {
                    request: kind,
                    attempt: 1,
                    at,
                    cause: Failure::Server(error),
                });
            }
            (409, _) => self.finish(EndReason::Conflict {
                request: kind,
                error,
            }),
            (408 | 425 | 429, _) | (500..=599, _) => self.on_failure(kind, Failure::Server(error)),
            (400, RequestKind::Messages) if self.d.poll_ack == PollAck::MinusOne => {
                // -1 after a reconnect was refused: the new app server continues the numbering.
                self.d.poll_ack = PollAck::Kept;
                self.on_failure(kind, Failure::Server(error));
            }
            _ if self.chat_end_refused(kind) => {}
            _ => self.finish(EndReason::Rejected {
                request: kind,
                error,
            }),
        }
    }

    /// POST 409 `Out of sync`: re-send the same batch at once with the number [`recovery::out_of_sync_next`]
    /// picks (M + 1, or M when M + 1 was the number refused; spec §4.4).
    fn resync_sequence(&mut self, kind: RequestKind, actual: i64, error: ServerError) {
        // Counts against the retry budget so a server that keeps refusing cannot loop us forever.
        let max = self
            .config
            .retry
            .max_attempts
            .max(crate::config::floors::MIN_ATTEMPTS);
        let t = self.slot_timers(kind);
        t.failures = t.failures.saturating_add(1);
        if t.failures >= max {
            let attempts = t.failures;
            if self.chat_end_refused(kind) {
                return;
            }
            self.finish(EndReason::GaveUp {
                request: kind,
                attempts,
                last: Failure::Server(error),
            });
            return;
        }
        match kind {
            RequestKind::ChasitorInit => {
                self.d.next_sequence = recovery::out_of_sync_next(self.d.next_sequence, actual);
            }
            _ => {
                if let Some(b) = self.d.unacked.as_mut() {
                    let next = recovery::out_of_sync_next(b.sequence, actual);
                    b.sequence = next;
                    self.d.next_sequence = next.saturating_add(1);
                }
            }
        }
    }

    /// 503: the affinity token changed. Abandon everything in flight and reconnect (spec §4.6).
    fn start_handover(&mut self) {
        if self.busy(Slot::Post) {
            // An abandoned command POST may have reached the old server.
            let chat_in_flight = self.in_flight.iter().any(|f| f.kind == RequestKind::Chat);
            self.batch_answered(chat_in_flight);
        }
        self.in_flight.clear();
        self.poll.retry_at = None;
        self.post.retry_at = None;
        self.control = SlotTimers::default();
        self.d.reconnect = Reconnect::Needed;
    }

    fn visitor_end_reason(&self, attached_records: Option<serde_json::Value>) -> EndReason {
        if self.d.ending_reason == Some(ChatEndReason::ClientIdleTimeout) {
            EndReason::IdleTimeout
        } else {
            EndReason::VisitorEnded { attached_records }
        }
    }

    fn on_poll_answer(&mut self, answer: MessagesAnswer) {
        let mut restored = false;
        match answer {
            MessagesAnswer::NoContent => self.poll_came_back_empty = true,
            // `{"messages":[]}` (with or without `sequence`): nothing was delivered, so it is read like a 204
            // and `ack` stays (no capture shows one; field evidence §5).
            MessagesAnswer::Batch(batch) if batch.messages.is_empty() => {
                self.poll_came_back_empty = true
            }
            MessagesAnswer::Batch(batch) => restored = self.on_batch(batch),
        }
        if self.is_ended() {
            return;
        }
        if self.d.reconnect == Reconnect::AwaitingSessionData && !restored {
            // Lenient: a poll completed after the reconnect without ChasitorSessionData; carry on.
            self.after_session_data();
        }
        if self.final_poll_issued && self.d.state == State::Ending {
            // This was the "one more poll" after ChatEnd and it held no ChatEnded.
            self.finish(self.visitor_end_reason(None));
        }
    }

    /// Session data is in after a reconnect: ChasitorResyncState goes out next, in whatever state the chat is
    /// (queued too: the reconnect procedure of §4.6 applies once ChasitorInit was accepted; §2 step 5 forbids
    /// chat traffic, not the procedure). A refusal is skipped ([`Session::skip_resync`]).
    fn after_session_data(&mut self) {
        self.d.reconnect = if matches!(
            self.d.state,
            State::Requested
                | State::Queued
                | State::Chatting
                | State::AgentDisconnected
                | State::Ending
        ) {
            Reconnect::ResyncPending
        } else {
            Reconnect::None
        };
    }

    /// After a handover, the transcript in ChasitorSessionData (`chatMessages`) tells whether the server
    /// already holds the batch whose outcome was unknown: if so it is not re-sent (it is `Delivered`); if the
    /// transcript proves it absent, the re-send is a first delivery. Otherwise it stays uncertain.
    fn check_transcript(&mut self, data: &wire::ChasitorSessionData) -> Option<Event> {
        let entries = data.chat_messages.as_deref()?;
        let confirmed = self.d.confirmed_texts;
        let b = self.d.unacked.as_mut().filter(|b| b.uncertain)?;
        match recovery::transcript_holds(&b.texts(), confirmed, entries) {
            Some(true) => {
                if let Some(b) = self.d.unacked.take() {
                    if b.renumbered {
                        // Never sent under the new numbering: its number is free again.
                        self.d.next_sequence = b.sequence;
                    }
                    self.post = SlotTimers::default();
                    // Uncertain no more: the server shows it holds the batch.
                    let mut b = b;
                    b.uncertain = false;
                    self.d.unacked = Some(b);
                    return self.accept_batch(true);
                }
                None
            }
            Some(false) => {
                b.uncertain = false;
                None
            }
            None => None,
        }
    }

    /// Processes one batch; returns whether it held ChasitorSessionData.
    fn on_batch(&mut self, batch: MessagesBody) -> bool {
        let MessagesBody {
            messages,
            sequence,
            offset,
        } = batch;
        // Anomalies are surfaced, never silent: a renumbering restarts de-duplication (nothing dropped), an
        // absurd number ends the chat after delivering the batch's texts.
        let mut absurd = None;
        match guard::classify_sequence(sequence, messages.len(), self.d.last_index) {
            guard::SequenceVerdict::Continues => {}
            guard::SequenceVerdict::Renumbered { previous } => {
                self.d.last_index = None;
                self.events.push_back(Event::SequenceReset {
                    previous,
                    sequence: sequence.unwrap_or_default(),
                });
            }
            guard::SequenceVerdict::Absurd { previous, sequence } => {
                self.d.last_index = None;
                absurd = Some(EndReason::BadSequence { previous, sequence });
            }
        }
        let len = i64::try_from(messages.len()).unwrap_or(i64::MAX);
        let first_index = sequence.map(|s| s.saturating_sub(len.saturating_sub(1)));
        let floor = self.d.last_index;
        let is_new = |i: usize| match (first_index, floor) {
            (Some(first), Some(floor)) => {
                first.saturating_add(i64::try_from(i).unwrap_or(i64::MAX)) > floor
            }
            _ => true,
        };
        // Only messages not delivered before count: an old, re-delivered AgentNotTyping must not hide a new
        // AgentTyping.
        let has_not_typing = messages
            .iter()
            .enumerate()
            .any(|(i, m)| is_new(i) && matches!(m, Message::AgentNotTyping(_)));
        // A batch of nothing but re-deliveries brings nothing either (pacing, as for an empty answer).
        if !(0..messages.len()).any(is_new) {
            self.poll_came_back_empty = true;
        }
        let mut restored = false;
        let accept_numbering = absurd.is_none();
        let mut pending_end: Option<EndReason> = absurd;
        for (i, m) in messages.into_iter().enumerate() {
            if !is_new(i) {
                continue; // already delivered
            }
            if pending_end.is_some() {
                // After ChatEnded/ChatRequestFail nothing changes state; content still reaches the app.
                if let Message::ChatMessage(msg) = m {
                    self.events.push_back(Event::AgentMessage(msg));
                }
                continue;
            }
            match m {
                Message::ChatRequestSuccess(s) => {
                    if self.d.state == State::Requested {
                        self.d.state = State::Queued;
                    }
                    self.events.push_back(Event::Queued {
                        position: s.queue_position,
                        estimated_wait_secs: s.estimated_wait_time,
                    });
                }
                Message::QueueUpdate(q) => self.events.push_back(Event::QueueUpdate {
                    position: q.position,
                    estimated_wait_secs: q.estimated_wait_time,
                }),
                Message::ChatEstablished(agent) => {
                    if matches!(
                        self.d.state,
                        State::Requested
                            | State::Queued
                            | State::AgentDisconnected
                            | State::Chatting
                    ) {
                        self.d.state = State::Chatting;
                    }
                    self.d.agent = Some(agent.clone());
                    self.d.agent_typing = false;
                    self.events.push_back(Event::ChatEstablished(agent));
                }
                Message::ChatTransferred(agent) => {
                    if self.d.state == State::AgentDisconnected {
                        self.d.state = State::Chatting;
                    }
                    self.d.agent = Some(agent.clone());
                    self.d.agent_typing = false;
                    self.events.push_back(Event::ChatTransferred(agent));
                }
                Message::AgentDisconnect(_) => {
                    if self.d.state == State::Chatting {
                        self.d.state = State::AgentDisconnected;
                    }
                    self.d.agent_typing = false;
                    // Nobody is waiting for the visitor's reply now.
                    self.idle_warn_at = None;
                    self.idle_end_at = None;
                    self.events.push_back(Event::AgentDisconnected);
                }
                Message::ChatMessage(msg) => {
                    self.d.agent_typing = false;
                    // The visitor idle timeout counts from an unanswered agent message.
                    if self.d.state == State::Chatting
                        && self.idle_end_at.is_none()
                        && !self.idle_warned
                    {
                        self.arm_idle_timer();
                    }
                    self.events.push_back(Event::AgentMessage(msg));
                }
                Message::AgentTyping(_) => {
                    // A batch holding both typing events ends "not typing" (they can arrive out of order).
                    if !has_not_typing && !self.d.agent_typing {
                        self.d.agent_typing = true;
                        self.events.push_back(Event::AgentTyping(true));
                    }
                }
                Message::AgentNotTyping(_) => {
                    if self.d.agent_typing {
                        self.d.agent_typing = false;
                        self.events.push_back(Event::AgentTyping(false));
                    }
                }
                Message::ChatEnded(e) => {
                    pending_end = Some(if self.d.state == State::Ending {
                        self.visitor_end_reason(e.attached_records)
                    } else {
                        EndReason::AgentEnded {
                            reason: e.reason,
                            attached_records: e.attached_records,
                        }
                    });
                }
                Message::ChatRequestFail(f) => {
                    pending_end = Some(EndReason::RequestFailed { reason: f.reason });
                }
                Message::ChasitorSessionData(data) => {
                    let mut confirmed = None;
                    if self.d.reconnect == Reconnect::AwaitingSessionData {
                        restored = true;
                        confirmed = self.check_transcript(&data);
                        self.after_session_data();
                    }
                    self.events.push_back(Event::SessionRestored(data));
                    self.events.extend(confirmed);
                }
                Message::SwitchServer(s) => match Endpoint::parse(&s.new_url) {
                    Ok(e) if !s.new_url.trim().is_empty() => {
                        if let Some(end) = self.on_switch_server(e) {
                            pending_end = Some(end);
                        }
                    }
                    // Not a URL: nothing can be sent there; the application sees the message.
                    _ => self
                        .events
                        .push_back(Event::Message(Message::SwitchServer(s))),
                },
                other => self.events.push_back(Event::Message(other)),
            }
        }
        if let Some(s) = sequence.filter(|_| accept_numbering) {
            self.d.ack = s;
            self.d.poll_ack = PollAck::Known;
            self.d.last_index = Some(self.d.last_index.map_or(s, |f| f.max(s)));
        }
        if let Some(o) = offset {
            self.d.offset = Some(o);
        }
        if let Some(reason) = pending_end {
            self.finish(reason);
        }
        restored
    }

    /// SwitchServer to a well-formed URL: follow it if the redirect policy allows (checked against the
    /// configured endpoint, so trust never widens hop by hop), offer it to the application under
    /// `AskApplication`, or return the end reason. In every case the event is queued before any request can
    /// go to the new host (`poll_output` yields events first).
    fn on_switch_server(&mut self, target: Endpoint) -> Option<EndReason> {
        match self.config.redirect.check(&self.config.endpoint, &target) {
            Ok(()) => {
                self.d.endpoint = target.clone();
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
                self.pending_switch = Some(Box::new(PendingSwitch { target, decide_by }));
                None
            }
            Err(reason) => Some(EndReason::RedirectRefused { target, reason }),
        }
    }

    /// Follows the switch offered by [`Event::SwitchOffered`] (only under
    /// [`RedirectPolicy::AskApplication`](crate::RedirectPolicy::AskApplication)): later requests, carrying the
    /// session key, go to that endpoint. Emits [`Event::ServerSwitched`].
    pub fn accept_switch(&mut self) -> Result<(), CommandError> {
        let target = self
            .pending_switch
            .take()
            .ok_or(CommandError::NoSwitchOffered)?;
        if self.is_ended() {
            return Err(CommandError::Ended);
        }
        let target = target.target;
        self.d.endpoint = target.clone();
        self.events.push_back(Event::ServerSwitched(target));
        Ok(())
    }

    /// Declines the switch offered by [`Event::SwitchOffered`]: the chat ends with
    /// [`EndReason::RedirectRefused`] and nothing is sent to the offered endpoint.
    pub fn refuse_switch(&mut self) -> Result<(), CommandError> {
        let target = self
            .pending_switch
            .take()
            .ok_or(CommandError::NoSwitchOffered)?;
        if self.is_ended() {
            return Err(CommandError::Ended);
        }
        let target = target.target;
        let reason = self.refusal_of(&target);
        self.finish(EndReason::RedirectRefused { target, reason });
        Ok(())
    }

    fn refusal_of(&self, target: &Endpoint) -> crate::RedirectRefusal {
        self.config
            .redirect
            .check(&self.config.endpoint, target)
            .err()
            .unwrap_or(crate::RedirectRefusal::Disabled)
    }

    /// An offered switch the application left undecided past its deadline: refused, as if it had called
    /// [`refuse_switch`](Session::refuse_switch), with its own end reason.
    fn lapse_switch_offer(&mut self, now: Timestamp) {
        let Some(p) = self.pending_switch.take_if(|p| p.decide_by <= now) else {
            return;
        };
        let target = p.target;
        let reason = self.refusal_of(&target);
        self.finish(EndReason::SwitchUndecided { target, reason });
    }

    fn finish(&mut self, reason: EndReason) {
        if self.is_ended() {
            return;
        }
        self.d.state = State::Ended;
        self.in_flight.clear();
        self.control = SlotTimers::default();
        self.post = SlotTimers::default();
        self.poll = SlotTimers::default();
        self.idle_warn_at = None;
        self.idle_end_at = None;
        self.d.reconnect = Reconnect::None;
        // Commands the server never accepted are reported, so the application can tell what was not sent;
        // a batch that may have reached the server (in flight, or an attempt's outcome unknown) is uncertain.
        let mut undelivered: Vec<CommandId> = Vec::new();
        if let Some(b) = self.d.unacked.take() {
            if b.uncertain || b.in_flight {
                self.events.push_back(Event::DeliveryUncertain(b.ids()));
            } else {
                undelivered = b.ids();
            }
        }
        undelivered.extend(self.d.queue.drain(..).map(|c| c.id));
        if !undelivered.is_empty() {
            self.events.push_back(Event::Undelivered(undelivered));
        }
        self.end_reason = Some(Box::new(reason.clone()));
        self.events.push_back(Event::Ended(reason));
    }
}
