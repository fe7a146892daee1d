//! What the session gives back: requests to send, events for the application, and when to wake it next.

use crate::RedirectRefusal;
use crate::time::Timestamp;
use crate::wire::{
    AgentInfo, AgentMessage, BuildError, ChasitorSessionData, ChatEndReason, DecodeError, Endpoint,
    LogSafe, Message, ServerError,
};
use std::fmt;

/// Identifies one request handed out by [`Session::poll_output`](crate::Session::poll_output). Report its
/// outcome with exactly this id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Identifies a command (message, typing, ...) so the application can see when the server accepted it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct CommandId(pub u64);

/// Identifies one [`Event::SwitchOffered`]: the decision
/// ([`accept_switch`](crate::Session::accept_switch), [`refuse_switch`](crate::Session::refuse_switch)) names
/// the offer it decides, so it can never apply to another one. Unique within a session's life in one process
/// (offers are not persisted).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SwitchOfferId(pub u64);

/// Which resource a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum RequestKind {
    /// `GET System/SessionId`.
    SessionId,
    /// `POST Chasitor/ChasitorInit`.
    ChasitorInit,
    /// `GET System/Messages`, the long poll.
    Messages,
    /// One or more visitor commands: `POST Chasitor/<noun>` or `POST System/MultiNoun`.
    Chat,
    /// `POST Chasitor/ChasitorResyncState` after a handover.
    ResyncState,
    /// `GET System/ReconnectSession` after a 503.
    ReconnectSession,
    /// `DELETE System/SessionId/{key}`.
    DeleteSession,
}

impl RequestKind {
    /// True for the long poll.
    pub fn is_poll(self) -> bool {
        self == RequestKind::Messages
    }
    /// True for the POSTs that share the single outbound slot.
    pub fn is_post(self) -> bool {
        matches!(
            self,
            RequestKind::ChasitorInit | RequestKind::Chat | RequestKind::ResyncState
        )
    }
}

/// A request to perform. Send `http` as is (do not follow redirects), and report the outcome with
/// [`handle_response`](crate::Session::handle_response) or
/// [`handle_transport_error`](crate::Session::handle_transport_error) using `id`. If nothing is reported by
/// `deadline`, the session counts the request as failed at that time (set your transport timeout at or above it).
///
/// `Debug` redacts the session key and affinity token (found by the model test: the derived `Debug` printed
/// `http::Request`, whose affinity header is not marked sensitive and whose DELETE path holds the key).
#[must_use = "send the request and report its outcome, or the session waits until its deadline"]
pub struct OutgoingRequest {
    /// The id to report back with.
    pub id: RequestId,
    /// What it is for.
    pub kind: RequestKind,
    /// The HTTP request, complete with headers and body.
    pub http: http::Request<Vec<u8>>,
    /// When the session stops waiting for it.
    pub deadline: Timestamp,
}

impl fmt::Debug for OutgoingRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::wire::header::{AFFINITY, SESSION_KEY};
        let uri = self.http.uri();
        let path = uri.path();
        // DELETE System/SessionId/{key}: the last path segment is the session key.
        let path = match (self.kind, path.rfind('/')) {
            (RequestKind::DeleteSession, Some(i)) => {
                format!("{}/<redacted>", path.get(..i).unwrap_or_default())
            }
            _ => path.to_owned(),
        };
        let headers: Vec<(&str, String)> = self
            .http
            .headers()
            .iter()
            .map(|(name, value)| {
                let shown = if name.as_str() == AFFINITY || name.as_str() == SESSION_KEY {
                    if value.as_bytes() == b"null" {
                        "null".to_owned()
                    } else {
                        "<redacted>".to_owned()
                    }
                } else {
                    String::from_utf8_lossy(value.as_bytes()).into_owned()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("OutgoingRequest")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("method", self.http.method())
            .field(
                "uri",
                &format_args!(
                    "{}://{}{}{}",
                    uri.scheme_str().unwrap_or(""),
                    uri.authority().map(|a| a.as_str()).unwrap_or(""),
                    path,
                    uri.query().map(|q| format!("?{q}")).unwrap_or_default()
                ),
            )
            .field("headers", &headers)
            .field("body", &String::from_utf8_lossy(self.http.body()))
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// One step of the drain loop.
///
/// Exhaustive on purpose: a driver matches all three arms without a wildcard, so if a fourth kind of output
/// were ever added, every driver would fail to compile instead of dropping it silently (a breaking release).
#[derive(Debug)]
#[must_use = "an Output is a request to send, an event to handle or a deadline to sleep until"]
pub enum Output {
    /// Send this request now.
    Request(OutgoingRequest),
    /// Hand this to the application.
    Event(Event),
    /// Nothing more to do: wait until this instant (then call
    /// [`handle_timeout`](crate::Session::handle_timeout)), or until a response or a command arrives.
    /// `None` once the session has ended.
    Wait(Option<Timestamp>),
}

/// What went wrong in the transport, as the driver reports it to
/// [`handle_transport_error`](crate::Session::handle_transport_error). All are retried the same way today;
/// the cause is kept so events and end reasons can say what happened (and a later policy can tell them
/// apart). Carries no text: an HTTP client's error message may hold the URL, and a DELETE URL holds the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportError {
    /// The driver's own timeout for this request fired.
    Timeout,
    /// The connection could not be established (refused, DNS failure, unreachable).
    ConnectRefused,
    /// The connection broke after the request may have been sent (reset, closed mid-answer).
    Reset,
    /// Any other failure.
    Other,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportError::Timeout => "the request timed out",
            TransportError::ConnectRefused => "the connection could not be established",
            TransportError::Reset => "the connection was reset",
            TransportError::Other => "transport error",
        })
    }
}

impl std::error::Error for TransportError {}

/// Why a request failed (the cause carried by [`Event::Retrying`] and [`EndReason::GaveUp`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Failure {
    /// The driver reported a transport error.
    Transport(TransportError),
    /// Nothing was reported for the request by its deadline: the session counted it as failed.
    NoAnswer,
    /// The server answered with an error status.
    Server(ServerError),
    /// The answer did not decode.
    Decode(DecodeError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Transport(e) => e.fmt(f),
            Failure::NoAnswer => f.write_str("no answer by the deadline"),
            Failure::Server(e) => e.fmt(f),
            Failure::Decode(e) => e.fmt(f),
        }
    }
}

/// Why the session ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EndReason {
    /// The visitor ended the chat ([`Session::end`](crate::Session::end)).
    VisitorEnded {
        /// `attachedRecords` of the final ChatEnded, when it arrived.
        attached_records: Option<serde_json::Value>,
    },
    /// The agent side ended the chat (ChatEnded).
    AgentEnded {
        /// The server's reason, e.g. [`ChatEndReason::Agent`].
        reason: Option<ChatEndReason>,
        /// `attachedRecords`, raw.
        attached_records: Option<serde_json::Value>,
    },
    /// The chat request failed (ChatRequestFail), before or during the chat.
    RequestFailed {
        /// The server's reason, e.g. `Unavailable`.
        reason: Option<String>,
    },
    /// The visitor was idle past `chasitorIdleTimeout`; the session sent ChatEnd `clientIdleTimeout`.
    IdleTimeout,
    /// 403: the session is not valid any more (expired or ended on the server).
    SessionInvalid {
        /// Which request got the 403.
        request: RequestKind,
        /// The answer.
        error: ServerError,
    },
    /// 409 on the long poll: per the guide, a duplicate poll terminated the chat.
    Conflict {
        /// Which request got the 409.
        request: RequestKind,
        /// The answer.
        error: ServerError,
    },
    /// The server refused a request as malformed (400, 404, 405, a redirect, ...): retrying it unchanged is
    /// pointless.
    Rejected {
        /// Which request.
        request: RequestKind,
        /// The answer.
        error: ServerError,
    },
    /// A request kept failing until the retry budget ran out.
    GaveUp {
        /// Which request.
        request: RequestKind,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        last: Failure,
    },
    /// A SwitchServer pointed outside the [`RedirectPolicy`](crate::RedirectPolicy) (or the application
    /// refused it): nothing was sent there, and the session ended without contacting the new host.
    RedirectRefused {
        /// Where the server wanted the session to go.
        target: Endpoint,
        /// Why the policy refuses it.
        reason: RedirectRefusal,
    },
    /// A SwitchServer outside the policy was offered to the application
    /// ([`RedirectPolicy::AskApplication`](crate::RedirectPolicy::AskApplication), [`Event::SwitchOffered`])
    /// and it decided nothing within `Config::request_timeout`: the offer was refused and nothing was sent to
    /// the offered endpoint.
    SwitchUndecided {
        /// Where the server wanted the session to go.
        target: Endpoint,
        /// Why the policy does not allow it on its own.
        reason: RedirectRefusal,
    },
    /// A batch `sequence` outside `-1..=2^53`, or more than
    /// [`MAX_SEQUENCE_JUMP`](crate::MAX_SEQUENCE_JUMP) past the last one seen: not a plausible continuation
    /// (a batch numbered `i64::MAX` would otherwise mute every later one). The batch's texts were delivered.
    BadSequence {
        /// The highest index seen before, when the problem is the jump.
        previous: Option<i64>,
        /// The batch's `sequence`.
        sequence: i64,
    },
    /// A counter (request ids, `X-LIVEAGENT-SEQUENCE`, `pc`) reached [`MAX_COUNTER`](crate::MAX_COUNTER),
    /// e.g. after a 409 `Actual` near `i64::MAX`: continuing would reuse numbers.
    CounterExhausted {
        /// Which counter.
        counter: &'static str,
    },
    /// A request could not be built from the session's values (e.g. a token with a newline).
    Protocol {
        /// The request that could not be built.
        request: RequestKind,
        /// Why.
        error: BuildError,
    },
    /// A request needs the session's credentials but the session has none (only reachable through an
    /// inconsistent snapshot; it used to be reported as an invalid URI).
    MissingCredentials {
        /// The request that needed them.
        request: RequestKind,
    },
}

impl EndReason {
    /// True when the chat ended the ordinary way (visitor, agent or idle timeout).
    pub fn is_normal(&self) -> bool {
        matches!(
            self,
            EndReason::VisitorEnded { .. } | EndReason::AgentEnded { .. } | EndReason::IdleTimeout
        )
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::VisitorEnded { .. } => f.write_str("the visitor ended the chat"),
            EndReason::AgentEnded { reason, .. } => {
                write!(
                    f,
                    "the chat was ended ({})",
                    LogSafe(reason.as_ref().map_or("unknown", ChatEndReason::as_str))
                )
            }
            EndReason::RequestFailed { reason } => write!(
                f,
                "the chat request failed ({})",
                LogSafe(reason.as_deref().unwrap_or("Unknown"))
            ),
            EndReason::IdleTimeout => f.write_str("the visitor was idle too long"),
            EndReason::SessionInvalid { request, error } => {
                write!(f, "the session is no longer valid ({request:?}: {error})")
            }
            EndReason::Conflict { request, error } => {
                write!(f, "the server terminated the chat ({request:?}: {error})")
            }
            EndReason::Rejected { request, error } => {
                write!(f, "the server rejected a request ({request:?}: {error})")
            }
            EndReason::GaveUp {
                request,
                attempts,
                last,
            } => write!(
                f,
                "gave up on {request:?} after {attempts} attempts: {last}"
            ),
            EndReason::RedirectRefused { target, reason } => write!(
                f,
                "refused to move the session to {}: {reason}",
                LogSafe(&target.to_string())
            ),
            EndReason::SwitchUndecided { target, reason } => write!(
                f,
                "no decision on moving the session to {} ({reason}); refused",
                LogSafe(&target.to_string())
            ),
            EndReason::BadSequence { previous, sequence } => match previous {
                Some(p) => write!(
                    f,
                    "protocol error: batch sequence jumped from {p} to {sequence}"
                ),
                None => write!(
                    f,
                    "protocol error: batch sequence {sequence} is out of range"
                ),
            },
            EndReason::CounterExhausted { counter } => write!(
                f,
                "protocol error: {counter} reached {}; the session cannot count further",
                super::MAX_COUNTER
            ),
            EndReason::Protocol { request, error } => {
                write!(f, "could not build {request:?}: {error}")
            }
            EndReason::MissingCredentials { request } => {
                write!(
                    f,
                    "{request:?} needs a session, but the session has no credentials"
                )
            }
        }
    }
}

/// Something the application should know about. Server messages arrive in server order, each once; typing
/// indicators are folded into state changes ([`Event::AgentTyping`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// ChasitorInit was accepted: the chat request is on its way to the routing engine.
    ChatRequested,
    /// ChatRequestSuccess: routed and waiting for an agent. Position 0 may mean "unknown" (Omni-Channel).
    Queued {
        /// Queue position.
        position: Option<i64>,
        /// Estimated wait in seconds (beta; `-1` unknown).
        estimated_wait_secs: Option<f64>,
    },
    /// QueueUpdate.
    QueueUpdate {
        /// New queue position.
        position: Option<i64>,
        /// Estimated wait in seconds (beta; `-1` unknown).
        estimated_wait_secs: Option<f64>,
    },
    /// ChatEstablished: an agent accepted; commands queued so far are now sent.
    ChatEstablished(AgentInfo),
    /// ChatTransferred: another agent serves the chat.
    ChatTransferred(AgentInfo),
    /// AgentDisconnect: the chat is still alive; another agent may pick it up. Commands wait meanwhile.
    AgentDisconnected,
    /// A text from the agent. Implies the agent stopped typing.
    AgentMessage(AgentMessage),
    /// The agent started or stopped typing (only changes are reported; a batch holding both ends "not typing").
    AgentTyping(bool),
    /// After a 503 handover, the server restored the session (ChasitorSessionData; boxed as in
    /// [`Message`], so every `Event` is not as large as this rare one).
    SessionRestored(Box<ChasitorSessionData>),
    /// SwitchServer: later requests go to this endpoint (it is inside the redirect policy, or the application
    /// accepted it). Comes before any request to it.
    ServerSwitched(Endpoint),
    /// SwitchServer to an endpoint outside the redirect policy, under
    /// [`RedirectPolicy::AskApplication`](crate::RedirectPolicy::AskApplication): nothing new is sent until the
    /// application calls [`Session::accept_switch`](crate::Session::accept_switch) or
    /// [`Session::refuse_switch`](crate::Session::refuse_switch) naming `offer`. An offer still undecided at
    /// `decide_by` (`Config::request_timeout` after it was made) is refused: the chat ends with
    /// [`EndReason::SwitchUndecided`]; an accept at or after `decide_by` is refused the same way. A later
    /// SwitchServer replaces a pending offer (a new `SwitchOffered` with a new id, or a switch inside the
    /// policy); a decision naming the replaced offer is refused with [`CommandError::SwitchOfferGone`] and
    /// decides nothing.
    SwitchOffered {
        /// The offer; a decision names it.
        offer: SwitchOfferId,
        /// Where the server wants the session to go.
        endpoint: Endpoint,
        /// Why the default policy would refuse it.
        reason: RedirectRefusal,
        /// When the offer lapses (the session's clock).
        decide_by: Timestamp,
    },
    /// A batch `sequence` went below the last one seen without a reconnect: the server renumbered its
    /// messages. De-duplication restarted, so the batch's messages are delivered (some may repeat earlier ones).
    SequenceReset {
        /// The highest message index seen before.
        previous: i64,
        /// The new batch's `sequence`.
        sequence: i64,
    },
    /// The server accepted these commands (a 2xx to an attempt whose earlier attempts were all refused, or a
    /// ChasitorSessionData transcript that shows them after a handover).
    Delivered(Vec<CommandId>),
    /// The server may hold these commands once, twice or not at all: an attempt's answer was lost (transport
    /// error, timeout, a 503 or a restart abandoned it) and the protocol cannot tell whether it was taken, so a
    /// later 2xx proves nothing (it may be the server dropping a number it already holds). Comes instead of
    /// [`Event::Delivered`] when the batch is finally accepted, or before [`Event::Ended`] when the session
    /// ends with the batch unconfirmed. See "Delivery guarantees" in the crate docs.
    DeliveryUncertain(Vec<CommandId>),
    /// The session ended before these commands were sent, or after the server refused them: the server does
    /// not hold them. Comes just before [`Event::Ended`].
    Undelivered(Vec<CommandId>),
    /// The visitor idle-timeout warning fired; the chat ends at `ends_at` unless the visitor acts.
    IdleWarning {
        /// When the chat will end.
        ends_at: Timestamp,
    },
    /// Visitor activity cleared the idle warning.
    IdleWarningCleared,
    /// A request failed and will be retried at `at`.
    Retrying {
        /// Which request.
        request: RequestKind,
        /// Consecutive failures so far.
        attempt: u32,
        /// When it is retried.
        at: Timestamp,
        /// Why it failed.
        cause: Failure,
    },
    /// Any other server message: CustomEvent, FileTransfer, RichMessage, SensitiveDataRules, conference
    /// messages, unknown types (kept whole), ...
    Message(Message),
    /// The session is over; nothing more will be sent.
    Ended(EndReason),
}

/// What the text of a failure or a server error holds at most (each of its strings is cut to
/// [`LOG_SAFE_MAX`](crate::wire::LOG_SAFE_MAX) or less; two of them at most).
const FAILURE_TEXT_BYTES: usize = 2 * crate::wire::LOG_SAFE_MAX;

/// What an endpoint owns: its host and a little more (scheme, port).
fn endpoint_bytes(e: &Endpoint) -> usize {
    e.host().len().saturating_add(32)
}

impl EndReason {
    /// The heap memory this reason owns, estimated (see [`Event::heap_bytes`]).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            EndReason::VisitorEnded { attached_records }
            | EndReason::AgentEnded {
                attached_records, ..
            } => attached_records.as_ref().map_or(0, crate::wire::heap_bytes),
            EndReason::RequestFailed { reason } => reason.as_ref().map_or(0, String::len),
            EndReason::RedirectRefused { target, .. }
            | EndReason::SwitchUndecided { target, .. } => endpoint_bytes(target),
            EndReason::SessionInvalid { .. }
            | EndReason::Conflict { .. }
            | EndReason::Rejected { .. }
            | EndReason::GaveUp { .. } => FAILURE_TEXT_BYTES,
            _ => 0,
        }
    }
}

impl Event {
    /// The heap memory this event owns (its own size excluded), estimated from what it carries: strings at
    /// their length, lists at the capacity pushing leaves, maps at their B-tree nodes, failure texts at their
    /// cap. What the application's backlog of undrained events is measured by
    /// ([`LimitsConfig::max_undrained_event_bytes`](crate::LimitsConfig::max_undrained_event_bytes)).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Event::ChatEstablished(agent) | Event::ChatTransferred(agent) => {
                crate::wire::heap_bytes(agent)
            }
            Event::AgentMessage(m) => crate::wire::heap_bytes(m),
            Event::SessionRestored(data) => std::mem::size_of::<ChasitorSessionData>()
                .saturating_add(crate::wire::heap_bytes(data)),
            Event::ServerSwitched(e) | Event::SwitchOffered { endpoint: e, .. } => {
                endpoint_bytes(e)
            }
            Event::Delivered(ids) | Event::DeliveryUncertain(ids) | Event::Undelivered(ids) => ids
                .capacity()
                .saturating_mul(std::mem::size_of::<CommandId>()),
            Event::Retrying { .. } => FAILURE_TEXT_BYTES,
            Event::Message(m) => m.heap_bytes(),
            Event::Ended(reason) => reason.heap_bytes(),
            _ => 0,
        }
    }
}

/// What [`handle_response`](crate::Session::handle_response) and friends did with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled {
    /// The answer was for an outstanding request and has been processed.
    Accepted,
    /// The request had already been answered, expired or abandoned (e.g. by a 503): the answer was ignored.
    Stale,
}

/// A driver reported an outcome for a request id the session never handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// The id was never issued by this session.
    UnknownRequest(RequestId),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::UnknownRequest(id) => {
                write!(f, "request {id} was never issued by this session")
            }
        }
    }
}

impl std::error::Error for InputError {}

/// A command was refused; the session is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The session has ended.
    Ended,
    /// The visitor already asked to end the chat.
    Ending,
    /// The outbound queue is full.
    QueueFull {
        /// The configured limit.
        limit: usize,
    },
    /// The text is empty.
    EmptyText,
    /// The text is longer than allowed.
    TextTooLong {
        /// Its length in bytes.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A custom event, rich message or rule list is larger than
    /// [`LimitsConfig::max_command_bytes`](crate::LimitsConfig::max_command_bytes).
    PayloadTooLarge {
        /// Its size in bytes (of its text fields).
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A list-valued command has more items than
    /// [`LimitsConfig::max_command_items`](crate::LimitsConfig::max_command_items).
    TooManyItems {
        /// How many it has.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// [`accept_switch`](crate::Session::accept_switch) or [`refuse_switch`](crate::Session::refuse_switch)
    /// without a pending [`Event::SwitchOffered`].
    NoSwitchOffered,
    /// The decision names an offer that is no longer pending: a later SwitchServer replaced it, or it was
    /// decided already. Nothing was decided; a pending offer, if any, came with its own event.
    SwitchOfferGone {
        /// The offer named.
        offer: SwitchOfferId,
    },
    /// [`accept_switch`](crate::Session::accept_switch) at or after the offer's `decide_by`: too late, the
    /// offer is refused as undecided ([`EndReason::SwitchUndecided`]).
    SwitchOfferLapsed {
        /// The offer named.
        offer: SwitchOfferId,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Ended => f.write_str("the session has ended"),
            CommandError::Ending => f.write_str("the chat is ending"),
            CommandError::QueueFull { limit } => {
                write!(f, "the outbound queue is full ({limit} commands)")
            }
            CommandError::EmptyText => f.write_str("the text is empty"),
            CommandError::TextTooLong { len, limit } => {
                write!(f, "the text is {len} bytes, more than the limit of {limit}")
            }
            CommandError::PayloadTooLarge { len, limit } => {
                write!(
                    f,
                    "the payload is {len} bytes, more than the limit of {limit}"
                )
            }
            CommandError::TooManyItems { len, limit } => {
                write!(
                    f,
                    "the command has {len} items, more than the limit of {limit}"
                )
            }
            CommandError::NoSwitchOffered => {
                f.write_str("no server switch is waiting for a decision")
            }
            CommandError::SwitchOfferGone { offer } => write!(
                f,
                "server switch offer {} is no longer pending (replaced or decided)",
                offer.0
            ),
            CommandError::SwitchOfferLapsed { offer } => write!(
                f,
                "server switch offer {} lapsed before it was accepted",
                offer.0
            ),
        }
    }
}

impl std::error::Error for CommandError {}

/// [`Session::resume`](crate::Session::resume) refused a snapshot; nothing was resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeError {
    /// The snapshot was written by a newer version of this crate, whose format this one cannot read safely.
    UnsupportedVersion {
        /// The snapshot's format version.
        found: u32,
        /// The newest format this version reads.
        supported: u32,
    },
    /// The snapshot is of a session that had already ended: there is nothing to resume.
    AlreadyEnded,
    /// The snapshot's endpoint is neither the configured one nor one the redirect policy allows from it.
    /// (To resume on an endpoint the application approved through
    /// [`RedirectPolicy::AskApplication`](crate::RedirectPolicy::AskApplication), configure that endpoint.)
    EndpointOutsidePolicy {
        /// The snapshot's endpoint.
        endpoint: Endpoint,
        /// Why the policy refuses it.
        reason: RedirectRefusal,
    },
    /// The state and the rest of the snapshot contradict each other (e.g. Chatting without credentials).
    Inconsistent {
        /// What is contradictory.
        what: &'static str,
    },
    /// A counter is outside the range a session can reach (ids, sequence numbers, `ack`).
    CounterOutOfRange {
        /// Which counter.
        counter: &'static str,
        /// Its value.
        value: i128,
    },
    /// The session key or affinity token is not 1 to [`MAX_SECRET_BYTES`](crate::wire::MAX_SECRET_BYTES) bytes
    /// of visible ASCII (the value is not repeated).
    MalformedCredentials,
    /// A queued command breaks the configured caps.
    CommandRefused {
        /// The command.
        id: CommandId,
        /// Why.
        error: CommandError,
    },
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::UnsupportedVersion { found, supported } => write!(
                f,
                "the snapshot has format version {found}; this version reads up to {supported}"
            ),
            ResumeError::AlreadyEnded => f.write_str("the snapshot is of a session that has ended"),
            ResumeError::EndpointOutsidePolicy { endpoint, reason } => write!(
                f,
                "the snapshot's endpoint {} is outside the redirect policy: {reason}",
                LogSafe(&endpoint.to_string())
            ),
            ResumeError::Inconsistent { what } => write!(f, "inconsistent snapshot: {what}"),
            ResumeError::CounterOutOfRange { counter, value } => {
                write!(f, "snapshot counter {counter} = {value} is out of range")
            }
            ResumeError::MalformedCredentials => {
                f.write_str("the snapshot's session key or affinity token is malformed")
            }
            ResumeError::CommandRefused { id, error } => {
                write!(f, "queued command {} is refused: {error}", id.0)
            }
        }
    }
}

impl std::error::Error for ResumeError {}
