//! Test kit for the session state machine: a deterministic, sans-IO harness that applies scripted [`Op`]s to a
//! [`Session`](crate::Session), drains every output, and checks the protocol invariants after each step with
//! a [`Monitor`]. The property test (`tests/session_model.rs`) and the fuzz targets ([`fuzz`]) share this code.
//!
//! Everything here is plain data and never panics: a fuzz target can build [`Op`]s from raw bytes.
//!
//! Invariants checked after every step (see [`Monitor`]):
//! * at most one Messages poll and one POST (ChasitorInit/Chat/ResyncState) in flight;
//! * `X-LIVEAGENT-SEQUENCE` starts at 1, strictly increases across distinct POSTs, is reused by a retry of the
//!   same batch (which must be byte-identical), continues from `Actual + 1` after a 409 `Out of sync`, and
//!   restarts at 1 after a `resetSequence` ReconnectSession; it is absent on every other request;
//! * no Chat/ResyncState POST before ChatEstablished; nothing but ReconnectSession after a 503 until it
//!   succeeds; no command POST after a reconnect until ChasitorResyncState has been answered;
//! * the right key, affinity token, host, `ack`, `pc` and `ReconnectSession.offset` on every request;
//! * nothing after `Event::Ended`, `Wait(None)` exactly when ended, state only moves forward;
//! * request ids unique; each answered, failed or expired at most once; `Stale` and `UnknownRequest` exactly
//!   when due;
//! * every server message the harness delivered reaches the app once, in order, with the documented folding
//!   (typing as state changes, index de-duplication, nothing but agent texts after ChatEnded/ChatRequestFail),
//!   and the end reason matches;
//! * no hot loop: after `handle_timeout(now)`, `poll_timeout()` is `None` or later than `now`; a retry is
//!   never scheduled at or before `now`; a drain always reaches `Wait`;
//! * a refused command changes nothing;
//! * the session keys and affinity tokens handed out never appear in `Debug` of an output, the session or the
//!   snapshot.

mod coverage;
pub mod fuzz;
mod harness;
mod monitor;
mod op;
mod render;

/// The simulator's timer wheel, for its model test (`tests/sim_timers.rs`).
pub use crate::sim::timers::{Key as TimerKey, TimerQueue};
pub use coverage::{CommandKind, Coverage, InputKind, StatusClass};
pub use harness::{Harness, Out, Setup};
pub use monitor::{Monitor, Violation, classify};
pub use op::{
    BatchSpec, ErrorStatus, MsgSpec, Op, ReconnectSpec, ScriptedAnswer, SeqSpec, SessionBodySpec,
    TimeStep,
};
pub use render::{ECHO_SECRETS, SECRET_MARK};

/// Crate-private wire helpers that tests and the fuzz crate check against (not part of the public API).
pub mod wire_internals {
    /// Every Chasitor noun name the codecs know.
    pub const NOUN_NAMES: &[&str] = crate::wire::NOUN_NAMES;
    /// How many bytes of a body an error keeps.
    pub const SNIPPET_LEN: usize = crate::wire::SNIPPET_LEN;

    /// Decodes `%XX` escapes (see the codec).
    pub fn percent_decode(s: &str) -> String {
        crate::wire::percent_decode(s)
    }
    /// Percent-encodes a path segment as the DELETE SessionId path does.
    pub fn encode_path_segment(value: &str, out: &mut String) {
        crate::wire::encode_path_segment(value, out)
    }
    /// Percent-encodes a query value.
    pub fn encode_query_value(value: &str, out: &mut String) {
        crate::wire::encode_query_value(value, out)
    }
}
