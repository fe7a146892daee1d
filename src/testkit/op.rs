//! The inputs a test (or a fuzz target) feeds the harness: plain data, cheap to build from random bytes.
//!
//! `Arbitrary` is derived on all of them (the `session_ops` fuzz target draws them from its input); a few
//! fields are shaped by `fuzz/shapes.rs`. The order of the variants is the order the fuzzer's bytes pick them
//! in: the first variant of [`Op`] and of [`ScriptedAnswer`] is what zero bytes draw, a cooperative server, and
//! reordering them changes what the committed fuzz inputs mean.

use super::fuzz::shapes;
use arbitrary::Arbitrary;

/// One step of a run: a visitor command, an answer from the "network", or a move of the clock.
#[derive(Debug, Clone, PartialEq, Arbitrary)]
pub enum Op {
    /// Answer one of the requests the session has in flight (`pick` modulo their number); a no-op when none is.
    Respond {
        /// Which in-flight request.
        pick: u8,
        /// What to answer.
        reply: ScriptedAnswer,
    },
    /// `Session::send_message`.
    SendMessage(#[arbitrary(with = shapes::command_text)] String),
    /// `Session::set_typing`.
    SetTyping(bool),
    /// `Session::sneak_peek`.
    SneakPeek(#[arbitrary(with = shapes::command_text)] String),
    /// `Session::send_custom_event`.
    CustomEvent {
        /// Event type (empty is refused).
        #[arbitrary(with = shapes::command_text)]
        kind: String,
        /// Payload.
        #[arbitrary(with = shapes::command_text)]
        data: String,
    },
    /// `Session::end`.
    End,
    /// Report a transport error for one of the requests in flight.
    TransportError {
        /// Which in-flight request.
        pick: u8,
    },
    /// Answer a request that is no longer in flight (answered before, expired, or abandoned): must be `Stale`.
    RespondStale {
        /// Which of those requests.
        pick: u8,
        /// What to answer.
        reply: ScriptedAnswer,
    },
    /// Answer an id the session never issued (`0`, or `ahead` past the last one): must be refused.
    RespondUnknown {
        /// How far past the last issued id (0 means the id `0`).
        ahead: u8,
    },
    /// Send the last accepted answer again, to the same id: must be `Stale`.
    DuplicateAnswer,
    /// Move the clock forward; with `fire`, then call `handle_timeout`.
    Advance {
        /// How far.
        step: TimeStep,
        /// Call `handle_timeout` afterwards.
        fire: bool,
    },
    /// Move the clock backwards, then call `handle_timeout` with the earlier time.
    Backwards(TimeStep),
    /// Sleep until the session's `poll_timeout()` and call `handle_timeout` (what a driver does on `Wait`).
    Sleep,
    /// Call `handle_timeout` without moving the clock.
    SpuriousTimeout,
    /// `snapshot()`, a serde_json round trip, and `Session::resume`.
    SnapshotResume,
}

/// A step of the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum TimeStep {
    /// Milliseconds.
    Millis(u16),
    /// Seconds.
    Secs(u16),
    /// Hours.
    Hours(u16),
    /// `Duration::MAX`, or as much of it as `Timestamp` can still take: each step at least halves the distance
    /// to the end of `Timestamp`, so repeated steps drive the clock there.
    Huge,
}

/// An HTTP answer the test scripts, described so that it can be applied to any kind of request (the
/// simulator's own answers are [`sim::Reply`](crate::sim::Reply)).
#[derive(Debug, Clone, PartialEq, Arbitrary)]
pub enum ScriptedAnswer {
    /// What a cooperative server would answer given the request and the chat's progress (the variant picks
    /// among plausible answers): drives runs deep into the chat.
    Natural(u8),
    /// 200 with the kind's minimal good body (SessionId/ReconnectSession: a valid body; otherwise empty).
    Ok,
    /// 202, empty body.
    Accepted202,
    /// 204, empty body.
    NoContent204,
    /// An error status with a short text body.
    Status(ErrorStatus),
    /// 409 `Out of sync Ack. Expected N. Actual M`: `M` is `actual`, or the sent sequence plus `actual` when
    /// `relative`.
    OutOfSync {
        /// `M` or its offset.
        actual: i32,
        /// Whether `actual` is relative to the sequence the request carried.
        relative: bool,
    },
    /// 200 with junk (the variant picks which).
    Garbage(u8),
    /// 200 with an empty body.
    Empty,
    /// 200 with a Messages batch.
    Batch(BatchSpec),
    /// 200 with a SessionId body, valid or broken.
    SessionBody(SessionBodySpec),
    /// 200 with a ReconnectSession body, valid or broken.
    ReconnectBody(ReconnectSpec),
    /// Any status (100..=999; others are sent as 500) with any bytes, as given. Drawn: any `u16` folded into
    /// 100..=999, the body without the harness's secret mark.
    Raw {
        /// The HTTP status.
        #[arbitrary(with = shapes::raw_status)]
        status: u16,
        /// The body.
        #[arbitrary(with = shapes::raw_body)]
        body: Vec<u8>,
    },
}

/// Error statuses the harness can answer with (409 `Out of sync` is [`ScriptedAnswer::OutOfSync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ErrorStatus {
    /// 400.
    BadRequest,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 409 with a plain body (the documented "chat terminated").
    Conflict,
    /// 500.
    Internal,
    /// 502.
    BadGateway,
    /// 503 (handover).
    Unavailable,
}

impl ErrorStatus {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            ErrorStatus::BadRequest => 400,
            ErrorStatus::Forbidden => 403,
            ErrorStatus::NotFound => 404,
            ErrorStatus::MethodNotAllowed => 405,
            ErrorStatus::Conflict => 409,
            ErrorStatus::Internal => 500,
            ErrorStatus::BadGateway => 502,
            ErrorStatus::Unavailable => 503,
        }
    }
}

/// A Messages batch.
#[derive(Debug, Clone, PartialEq, Arbitrary)]
pub struct BatchSpec {
    /// The messages, in order (drawn: at most eight).
    #[arbitrary(with = shapes::batch_messages)]
    pub msgs: Vec<MsgSpec>,
    /// The batch `sequence`.
    pub seq: SeqSpec,
    /// The batch `offset`.
    pub offset: Option<i64>,
}

/// How the batch `sequence` relates to the `ack` the poll carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum SeqSpec {
    /// `ack + n`: every message is new.
    Consistent,
    /// `ack + n - k`: the first `k` messages are re-deliveries.
    Overlap(u8),
    /// No `sequence` field.
    Absent,
    /// Any value.
    Arbitrary(i64),
}

/// One message of a batch; together these cover every message type the session treats specially, plus the
/// generic ones, an unknown type and a mistyped payload.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum MsgSpec {
    /// ChatMessage with this text.
    ChatMessage(#[arbitrary(with = shapes::command_text)] String),
    /// AgentTyping.
    AgentTyping,
    /// AgentNotTyping.
    AgentNotTyping,
    /// ChatRequestSuccess.
    ChatRequestSuccess {
        /// Queue position.
        position: i8,
    },
    /// QueueUpdate.
    QueueUpdate {
        /// Queue position.
        position: i8,
    },
    /// ChatEstablished, with idle-timeout settings `(warning, timeout)` in seconds or none.
    ChatEstablished {
        /// `chasitorIdleTimeout` warning and timeout, seconds.
        idle: Option<(u16, u16)>,
    },
    /// AgentDisconnect.
    AgentDisconnect,
    /// ChatTransferred.
    ChatTransferred,
    /// ChatEnded (`reason` picks agent/client/none; `records` adds attachedRecords).
    ChatEnded {
        /// Which reason.
        reason: u8,
        /// With attachedRecords.
        records: bool,
    },
    /// ChatRequestFail.
    ChatRequestFail,
    /// ChasitorSessionData.
    ChasitorSessionData,
    /// SwitchServer to a valid URL or a broken one.
    SwitchServer {
        /// Valid URL.
        valid: bool,
    },
    /// SwitchServer to exactly this `newUrl` (hostile targets: any scheme, host, port or junk). Not drawn by
    /// `Arbitrary`: the `hostile_server` fuzz target builds these from pieces of real and hostile URLs.
    #[arbitrary(skip)]
    SwitchServerTo(String),
    /// CustomEvent.
    CustomEvent,
    /// FileTransfer.
    FileTransfer,
    /// RichMessage.
    RichMessage,
    /// SensitiveDataRules.
    SensitiveDataRules,
    /// A type the crate does not know.
    Unknown,
    /// A known type whose payload does not decode (`variant` picks which).
    Mistyped(u8),
}

/// A 200 SessionId body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionBodySpec {
    /// Valid, with a fresh key and affinity token.
    Valid,
    /// No `key`.
    MissingKey,
    /// Empty `id`.
    EmptyId,
    /// A token that cannot go in a header (a newline): decodes, but no request can be built with it.
    BadTokenChars,
    /// Not JSON.
    NotJson,
}

/// A 200 ReconnectSession body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectSpec {
    /// Bare `{resetSequence, affinityToken}`; `reset` absent means true.
    Valid {
        /// `resetSequence`.
        reset: Option<bool>,
    },
    /// Wrapped in a Messages envelope.
    Wrapped {
        /// `resetSequence`.
        reset: Option<bool>,
    },
    /// No `affinityToken`.
    MissingToken,
    /// Not JSON.
    NotJson,
}
