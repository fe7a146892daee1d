//! # liveagent
//!
//! A sans-IO client for the Salesforce Chat REST API (the legacy "Live Agent" visitor API): it takes in
//! HTTP answers, transport failures and the time, and gives back the next `http::Request` to send (every
//! header and sequence number set) plus typed chat events. No runtime, no sockets, no clock, no randomness:
//! any executor or HTTP stack can drive it, and tests can cover every transition deterministically.
//!
//! ## Layers
//! * [`wire`]: stateless codecs — a request builder per resource, a parser per answer, typed messages.
//! * [`Session`]: the visitor state machine — lifecycle, the single long poll, the outbound queue,
//!   `ack`/`pc`/`offset`/`X-LIVEAGENT-SEQUENCE`, the 503 handover, retries with seeded jitter, timers.
//! * `sim` (feature `sim`, on by default): the server side, also sans-IO, for tests and rehearsal.
//!
//! ## The drive loop
//! After any input or command, call [`Session::poll_output`] until it returns [`Output::Wait`]:
//! * [`Output::Request`]: send it (without following redirects), then report the outcome with
//!   [`Session::handle_response`] or [`Session::handle_transport_error`] using the same [`RequestId`]. Set the
//!   transport timeout at or above the request's `deadline`; if nothing is reported by then the session counts
//!   the request as failed, so a lost answer can never hang it. Several requests can be in flight at once
//!   (the long poll and one POST): send them concurrently if you can.
//! * [`Output::Event`]: hand it to the application.
//! * [`Output::Wait`]: sleep until the instant (then call [`Session::handle_timeout`]) or until an answer or
//!   a command arrives. `Wait(None)` means the session has ended.
//!
//! ## Time
//! Every `now` is an `Instant` you pass in. A `now` earlier than one seen before is clamped; no arithmetic on
//! it can panic; after `handle_timeout(now)`, `poll_timeout()` is `None` or later than `now`, so a driver
//! cannot hot-loop.
//!
//! ## Errors and panics
//! Nothing here panics on any input: not on bytes from the network, not on any order of calls, not on any
//! time value. A bad command is refused with a [`CommandError`] and changes nothing; a bad answer becomes a
//! retry ([`Event::Retrying`]) or an end ([`EndReason`]); an id the session never issued is an
//! [`InputError`]; a late answer to an abandoned request is [`Handled::Stale`]. Session keys and affinity
//! tokens never appear in `Debug` output or error text.
//!
//! ## Decisions where the spec is silent or sources disagree
//! * Headers: the spec's header matrix, plus its recommendations: SESSION-KEY on DELETE SessionId, all four
//!   headers on SensitiveDataRuleTriggered and ChasitorIdleTimeoutWarningEvent (POST), literal `null` affinity
//!   on SessionId and ReconnectSession, no SEQUENCE on ChasitorResyncState.
//! * `ack` echoes the last 200's `sequence` (kept on 204 and across a handover); `pc` counts polls from 0.
//! * `X-LIVEAGENT-SEQUENCE`: 1 on ChasitorInit, +1 per sequenced POST; a retry reuses its number; a MultiNoun
//!   batch takes one number; 409 `Out of sync ... Actual M` continues from M + 1; `resetSequence` absent = true.
//! * ReconnectSession with no offset yet sends `ReconnectSession.offset=0`.
//! * MultiNoun payloads go under `object`; ChatEnd inside a MultiNoun carries `{"reason": ...}`.
//! * `attachedRecords` is kept as raw JSON; `chasitorIdleTimeout` accepts the object, a number, and the
//!   guide's `chasitorIdletimeout` spelling.
//! * A known message type whose payload does not decode becomes `Message::Invalid` (with the reason) rather
//!   than failing the batch, so one odd message cannot make the client re-poll forever.
//! * Messages are de-duplicated by index (`sequence - len + 1 ..= sequence`, the rule every capture obeys);
//!   the floor restarts after a ReconnectSession because the server may renumber what it re-delivers.
//! * ChasitorResyncState goes out when ChasitorSessionData arrives, before any re-sent command, and only in an
//!   established chat (before that the guide allows no POST but ChasitorInit); a poll that completes after a
//!   reconnect without ChasitorSessionData is taken as if it had arrived.
//! * Ending before an agent accepted sends `DELETE System/SessionId/{key}`; afterwards `ChatEnd` then one more
//!   poll for ChatEnded (a 204 or 403 on that poll ends the session too). Commands never accepted are reported
//!   in [`Event::Undelivered`].
//! * The visitor idle timeout (`chasitorIdleTimeout`) follows Salesforce's Customer Time-Out: it starts with an
//!   unanswered agent message and stops when the visitor replies; warning at `warningTime`, ChatEnd
//!   `clientIdleTimeout` at `timeout`.
//! * 5xx, 408, 425, 429, transport errors, timeouts and undecodable 200 bodies are retried with backoff; other
//!   4xx and redirects end the session ([`EndReason::Rejected`]); 409 on the poll ends it
//!   ([`EndReason::Conflict`], the guide's meaning).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod rng;
mod session;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "sim")]
#[doc(hidden)]
pub mod testkit;
pub mod wire;

pub use config::{Config, LimitsConfig, RetryPolicy, Visitor};
pub use http;
pub use session::{
    CommandError, CommandId, EndReason, Event, Failure, Handled, InputError, OutgoingRequest,
    Output, RequestId, RequestKind, ResumeError, SNAPSHOT_VERSION, Session, SessionSnapshot, State,
    TransportError,
};

/// The README's code blocks, compiled as doctests so the quickstart cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
