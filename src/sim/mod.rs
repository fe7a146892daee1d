//! A deterministic, sans-IO model of the **server** side of the Chat REST API, for testing clients.
//!
//! [`Server`] hosts any number of chat sessions. Feed it requests ([`Server::handle_request`]) and the time
//! ([`Server::handle_timeout`]); take replies out with [`Server::poll_reply`]; ask [`Server::poll_timeout`]
//! when it next needs the clock. It does no I/O, reads no clock and draws randomness only from a PRNG seeded
//! by [`SimConfig::seed`]: the same configuration and the same inputs at the same instants give the same
//! replies and the same [`transcript`](Server::transcript), byte for byte. It never panics: a bad request
//! gets an HTTP error answer.
//!
//! # What it enforces (spec references are to `docs/chat-rest-api.md`)
//!
//! * Routing: unknown path 404, known path with the wrong method 405. `.jsonp` variants are not served.
//! * `X-LIVEAGENT-API-VERSION` on every request (400 `No version header found`; not an integer 400).
//! * `System/SessionId`: `X-LIVEAGENT-AFFINITY` must be the literal `null` or (by default, with a warning)
//!   absent (`session-id-affinity`), and no session key may be sent (400 otherwise). Session-scoped requests need the `X-LIVEAGENT-SESSION-KEY` of a live session (403
//!   `Session required but was invalid or not found`) and the current affinity token: any other token (a
//!   stale one after a handover, a made-up one, `null`) gets **503**, which — like every 503 — allows one
//!   ReconnectSession. After a ReconnectSession, the first poll and the first POST with the token held before
//!   the 503 were in flight when the visitor read it: 503 without a finding; any other is `stale-affinity`.
//! * `System/ReconnectSession`: only after the server answered 503 for the session (else 405), or again before
//!   any request carried the token it gave (the answer was lost: the same answer again, nothing re-queued twice), with affinity
//!   `null` or (by default, with a warning) the token held before the 503 (else 400; [`Dialect`]'s
//!   `reconnect-affinity`). Answers by default the wrapped form `{"messages":[{"type":"ReconnectSession",
//!   "message":{"resetSequence":true,"affinityToken":...}}]}` (`reconnect-body`, `reset-sequence`). The
//!   `ReconnectSession.offset` is mapped back to the message it was issued with; the retained messages after
//!   it are re-queued behind a new `ChasitorSessionData` (`session-data`) with fresh indices continuing
//!   after that message's index, so the visitor's `ack` stays valid (`reconnect-ack=minus-one` restarts the
//!   wire numbering at 0 instead). An offset below every issued offset (e.g. `0`: no batch received yet)
//!   means "nothing received"; an offset that was never issued is 400. By default the sequence restarts: the
//!   next sequenced POST must carry 1. Chat POSTs are accepted again at once; whether ChasitorResyncState
//!   arrived is recorded (`resync=required`: until it arrives chat POSTs answer 500, nothing after
//!   ChasitorSessionData is delivered and the agent script waits). A reconnect before ChasitorInit expects
//!   no ChasitorResyncState (there is no chat yet).
//! * `X-LIVEAGENT-SEQUENCE` on every sequenced POST (all Chasitor nouns but ChasitorResyncState, and
//!   MultiNoun with one number for the batch): how a missing header, a gap, a reused number are read is the
//!   [`Dialect`]'s (default: missing tolerated, gaps tolerated, a reused number dropped as a retransmission;
//!   each with a conformance finding). Not a number: 400. A 409 `Out of sync Ack. Expected {seq}. Actual
//!   {last}` answers a refused gap. A request refused for another reason (400, 403, 500, 503, 5xx fault)
//!   does not consume its sequence number.
//! * ChasitorInit must be the first POST (`sessionId` must be the session's id; a second ChasitorInit is 400).
//!   Chat POSTs before ChatEstablished was emitted answer 500 (the guide's NullPointerException), except
//!   **ChatEnd, which is accepted while queued: it is how a visitor cancels a waiting request** (the chat ends
//!   with ChatEnded reason `client`). After the final message (ChatEnded/ChatRequestFail) chat POSTs answer
//!   403. POST bodies must be JSON of the noun's shape (400 naming what is wrong), read the way `wire` reads
//!   answers: unknown fields ignored, and by default booleans and numbers as JSON strings (`body-values`) and
//!   a ChasitorInit without `sessionId` or `visitorName` (`init-fields`) accepted with a warning.
//! * Every refusal of the server's own (a 4xx or 5xx no planned fault caused) is a finding in the
//!   [conformance report](conformance); refused requests that belong to no session have a section of their own.
//! * `System/Messages`: each emitted message gets the next session-wide index 0, 1, 2, ... A poll with
//!   `ack=k` acknowledges (discards) messages with index <= k and gets all retained messages with a higher
//!   index in one 200 `{"messages":[...],"sequence":<index of the last>,"offset":<97_000_000 + 7 * index>}`
//!   (see [`offset_for_index`]); with none, the poll is held until a message is emitted (answered at once) or
//!   [`SimConfig::poll_hold`] passes (204, empty body). A lower `ack` than before redelivers what is still
//!   retained. Without `ack` (as the Android SDK polls) everything delivered so far counts as acknowledged
//!   (a `missing-ack` warning in the conformance report).
//!   Only one poll may be held per session: **both** polls of a second concurrent poll are answered 409;
//!   by default the chat goes on ("Duplicate Long Polling", a warning), `poll-conflict=ends-chat` ends it
//!   (spec §8). An idle poll ends in 204, or `{"messages":[]}` under `empty-poll=empty-batch`. `pc` is
//!   only recorded.
//! * The poll that delivers the final message (ChatEnded, ChatRequestFail) ends the session (unless its answer
//!   is lost: a [`FaultKind::DropReply`] keeps it open for the next poll): later requests get 403, the first
//!   POST without a finding (it may have been in flight when the visitor read the final message). A session with no poll in progress for 45 s (`poll-gap=limited`, the default) or
//!   [`SimConfig::session_idle_timeout`], whichever is shorter, expires (403).
//! * `DELETE System/SessionId/{key}` (affinity checked; a session-key header, if sent, must match the path)
//!   ends the session at once; a held poll gets 403.
//! * SwitchServer: after the visitor acknowledged the message, requests of that session that arrive at the
//!   other host are refused — polls with 200 and the SwitchServer envelope again (what the guide says a wrong
//!   instance answers), everything else with 400 — except the one POST the visitor may have had in flight
//!   when it read the switch (served at the old host, before any non-poll request at the new one). Requests whose URI has no authority and no `Host` header are
//!   not checked; hosts other than the alternate count as the primary.
//! * Visitor resources (`Settings`, `Availability`, `VisitorId`, `Breadcrumb`) need only the version header;
//!   the GETs need `org_id` and `deployment_id` (400). A Breadcrumb sent with a valid session's headers is
//!   recorded and echoed to that session as `NewVisitorBreadcrumb`.
//! * The FileTransfer upload servlet (`POST /content/rest/fileupload`, not under `/chat/rest`, no Chat API
//!   headers), where [`AgentAction::RequestFile`] points the visitor: the query must carry `orgId` (the
//!   ChasitorInit's), `chatKey` (the session id), `fileToken` (issued to that session, not yet used) and
//!   `encoding=UTF-8`; the body must be `multipart/form-data` with a `file` part that has a filename (a
//!   `filename` field, if sent, must match), 1 byte to [`MAX_UPLOAD_BYTES`](crate::wire::MAX_UPLOAD_BYTES).
//!   A valid upload gets `200 Success`, a [`VisitorEvent::FileUploaded`] record and a FileTransfer `Success`
//!   message to the visitor; otherwise 405 (method), 400 (parameter or body), 403 (chat or token), 413
//!   (size) or 415 (not multipart), and the token stays unused.
//!
//! # The admin API
//!
//! Under `/__sim/`, on the same listener as the Chat API (so every front end has it), unless
//! [`SimConfig::admin_api`] is off: `GET report`, `POST reset`, `GET sessions`, `GET sessions/{id}`, `GET`/`PUT
//! scenario` (dialect, agent script and fault plan for the next sessions), and the agent acting on a live
//! session now: `POST sessions/{id}/accept`, `say` (`{"text"}`), `typing`, `not-typing`, `transfer`
//! (`{"name"}`), `request-file`, `end`, `action` (any [`AgentAction`] in its serde form) and `handover` (a 503
//! server handover). Answers are JSON; bad input gets a 4xx with `{"error": ...}` and changes nothing. Admin
//! requests leave no finding and are not counted by fault triggers. [`Server::reset`] is the same reset.

pub mod conformance;
pub mod dialect;

mod pair;
pub(crate) mod render;
mod rng;
mod server;
mod session;
pub(crate) mod timers;
mod transcript;

pub use conformance::{ConformanceReport, Finding, SessionReport, Severity};
pub use dialect::{Dialect, DialectError, SwitchInfo};
pub use pair::{
    Credential, DeliveryNote, DeliveryReport, Discrepancy, MAX_STEPS, MAX_STEPS_AT_ONE_INSTANT,
    Pair, PairError, PairStep, ReplyRecord, ReplyTap, SentRequest, Side, SideHook, TapInfo,
};
pub use server::Server;
pub use server::agent::{AgentAction, AgentProfile, AgentScript, AgentStep};
pub use server::faults::{Fault, FaultKind, FaultPlan, Trigger};
pub use session::{ServerEnd, SessionRecord, SessionState, VisitorEvent};
pub use transcript::TranscriptLine;

use crate::wire::{BuildError, Endpoint};
use std::fmt;
use std::time::Duration;

/// The first offset; offsets are opaque large numbers to the client (real ones look like `97391055`).
pub(crate) const OFFSET_BASE: i64 = 97_000_000;
/// Distance between the offsets of consecutive message indices.
pub(crate) const OFFSET_STRIDE: i64 = 7;

/// The `offset` the server sends with a batch whose last message has this index.
pub fn offset_for_index(index: i64) -> i64 {
    OFFSET_BASE.saturating_add(index.saturating_mul(OFFSET_STRIDE))
}

/// How the simulated server behaves. All fields are public; start from `SimConfig::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// `http` or `https`: the scheme of `newUrl` in SwitchServer messages.
    pub scheme: String,
    /// The authority (host and optional port) the server answers as.
    pub host: String,
    /// The authority a SwitchServer moves sessions to.
    pub alternate_host: String,
    /// How long an idle Messages poll is held before 204 (default 30 s, as observed).
    pub poll_hold: Duration,
    /// How long every answer takes to reach the client (default zero: at once). A request answered when it
    /// arrives is answered this much later; a held poll this much after the message (or the end of the hold)
    /// that answers it. Adds to a [`FaultKind::DelayReply`]; a [`FaultKind::Unreachable`] request fails after
    /// its own delay.
    pub answer_latency: Duration,
    /// `clientPollTimeout` of the SessionId answer, in seconds (default 40, as in real captures).
    pub client_poll_timeout: i64,
    /// A session with no poll in progress for this long expires (default 60 s; the default dialect's
    /// `poll-gap=limited` caps it at 45 s).
    pub session_idle_timeout: Duration,
    /// How the server reads the protocol's open questions (default: the evidence-weighted reading). See
    /// [`Dialect`].
    pub dialect: Dialect,
    /// Lowest accepted `X-LIVEAGENT-API-VERSION` (default 29; lower is 400).
    pub min_api_version: u32,
    /// The agent side of every chat.
    pub agent: AgentScript,
    /// Planned faults.
    pub faults: FaultPlan,
    /// Seed of the id generator.
    pub seed: u64,
    /// Buttons and agents report `isAvailable` (Settings, Availability).
    pub available: bool,
    /// Answer Settings, Availability and VisitorId wrapped in `{"messages":[{"type":..,"message":..}]}`
    /// (as observed by several peers) rather than bare (the guide's shape). Default true.
    pub wrap_visitor_answers: bool,
    /// Record the transcript (default true; turn off for huge load tests).
    pub record_transcript: bool,
    /// Serve the admin API under `/__sim/` (default true): read the report and sessions, reset, put a
    /// scenario, act as the agent. See the [module docs](self#the-admin-api).
    pub admin_api: bool,
    /// Milliseconds since the Unix epoch that the `now` given to [`Server::new`] stands for (timestamps in
    /// transcripts and session keys). Default 1_700_000_000_000.
    pub epoch_ms: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            scheme: "https".into(),
            host: "d.la1-c1-sim.salesforceliveagent.test".into(),
            alternate_host: "d.la2-c2-sim.salesforceliveagent.test".into(),
            poll_hold: Duration::from_secs(30),
            answer_latency: Duration::ZERO,
            client_poll_timeout: 40,
            session_idle_timeout: Duration::from_secs(60),
            dialect: Dialect::default(),
            min_api_version: 29,
            agent: AgentScript::default(),
            faults: FaultPlan::default(),
            seed: 0x5EED,
            available: true,
            wrap_visitor_answers: true,
            record_transcript: true,
            admin_api: true,
            epoch_ms: 1_700_000_000_000,
        }
    }
}

impl SimConfig {
    /// Sets the seed (builder style).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the agent script (builder style).
    #[must_use]
    pub fn with_agent(mut self, agent: AgentScript) -> Self {
        self.agent = agent;
        self
    }

    /// Sets the dialect (builder style).
    pub fn with_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Sets the answer latency (builder style; see [`SimConfig::answer_latency`]).
    #[must_use]
    pub fn with_answer_latency(mut self, latency: Duration) -> Self {
        self.answer_latency = latency;
        self
    }

    /// Sets the fault plan (builder style).
    #[must_use]
    pub fn with_faults(mut self, faults: FaultPlan) -> Self {
        self.faults = faults;
        self
    }

    /// Adds one fault (builder style).
    #[must_use]
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.faults.push(fault);
        self
    }

    /// The endpoint clients should use: `scheme://host`.
    pub fn endpoint(&self) -> Result<Endpoint, BuildError> {
        Endpoint::parse(&format!("{}://{}", self.scheme, self.host))
    }

    /// The endpoint a SwitchServer moves sessions to: `scheme://alternate_host`.
    pub fn alternate_endpoint(&self) -> Result<Endpoint, BuildError> {
        Endpoint::parse(&format!("{}://{}", self.scheme, self.alternate_host))
    }
}

/// Identifies one request the server received; its reply carries the same ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the transport should do with a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Reply {
    /// Send this response.
    Response(http::Response<Vec<u8>>),
    /// Close the connection without answering (a fault: the response was lost).
    Drop,
}

impl Reply {
    /// The response, unless dropped.
    pub fn response(&self) -> Option<&http::Response<Vec<u8>>> {
        match self {
            Reply::Response(r) => Some(r),
            Reply::Drop => None,
        }
    }

    /// The HTTP status, unless dropped.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status().as_u16())
    }
}
