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
//! * `sim` (feature `sim`, opt-in): the server side, also sans-IO, for tests and rehearsal.
//!
//! ## The drive loop
//! After any input or command, call [`Session::poll_output`] until it returns [`Output::Wait`] (events come
//! before requests):
//! * [`Output::Request`]: send it (without following redirects), then report the outcome with
//!   [`Session::handle_response`] or [`Session::handle_transport_error`] using the same [`RequestId`]. Set the
//!   transport timeout at or above the request's `deadline`; if nothing is reported by then the session counts
//!   the request as failed, so a lost answer can never hang it. Several requests can be in flight at once
//!   (the long poll and one POST): send them concurrently if you can.
//! * [`Output::Event`]: hand it to the application.
//! * [`Output::Wait`]: sleep until the instant (then call [`Session::handle_timeout`]) or until an answer or
//!   a command arrives. `Wait(None)` means the session has ended.
//!
#![doc = include_str!("../docs/drive-loop.md")]
//!
//! ## Time
//! The session never reads a clock: every `now` is a [`Timestamp`] you pass in, a point on your monotonic
//! clock counted from an origin you pick (your process start, the session's start, zero on a virtual
//! clock). Only differences matter, so one session must see one origin; deadlines it hands back
//! ([`OutgoingRequest::deadline`], [`Output::Wait`]) are on the same clock. A native driver maps `Instant`s
//! with a [`Clock`] (`Clock::new(Instant::now())` once, `clock.at(Instant::now())` for each `now`,
//! `clock.instant(deadline)` to sleep); other runtimes pass milliseconds ([`Timestamp::from_millis_f64`] of
//! `performance.now()` or `time.monotonic() * 1000`). A `now` earlier than one seen before is clamped; all
//! arithmetic saturates, so no time value can panic; after `handle_timeout(now)`, `poll_timeout()` is `None`
//! or later than `now`, so a driver cannot hot-loop.
//!
//! ## Errors and panics
//! Nothing here panics on any input: not on bytes from the network, not on any order of calls, not on any
//! time value. A bad command is refused with a [`CommandError`] and changes nothing; a bad answer becomes a
//! retry ([`Event::Retrying`]) or an end ([`EndReason`]); an id the session never issued is an
//! [`InputError`]; a late answer to an abandoned request is [`Handled::Stale`]. Session keys and affinity
//! tokens never appear in `Debug` output or error text.
//!
//! ## Security model: the server is untrusted
//! The client trusts only its [`Config`] (the configured endpoint, the [`RedirectPolicy`], the caps) and the
//! application. Everything from the network, and a [`SessionSnapshot`] read back from storage, is checked:
//! * **Where the session key goes.** Every session-scoped request carries the key and the affinity token. A
//!   `SwitchServer` is followed only within the trust class of the *configured* endpoint (default
//!   [`RedirectPolicy::SameTrustClass`]: https → exactly the configured host or `*.salesforceliveagent.com`,
//!   default port; loopback → loopback; no "same domain" guess, so another tenant of a shared suffix such as
//!   `*.my.site.com` is foreign; other hosts only as the application names them in
//!   [`RedirectPolicy::AlsoAllow`], hosts or `*.suffix` patterns). Anything else ends the chat with
//!   [`EndReason::RedirectRefused`] (or, with [`RedirectPolicy::AskApplication`], is offered as
//!   [`Event::SwitchOffered`] and nothing new is sent until the application decides). A decision names the
//!   offer it decides ([`SwitchOfferId`]): a later `SwitchServer` replaces a pending offer with a new event,
//!   and a decision naming the replaced one decides nothing ([`CommandError::SwitchOfferGone`]); an accept
//!   carries the application's clock and at or after the offer's `decide_by` is refused
//!   ([`CommandError::SwitchOfferLapsed`]) whatever the order of calls. [`Session::resume`]
//!   re-checks a snapshot's endpoint against the policy and the configuration. Events are yielded before
//!   requests, so [`Event::ServerSwitched`] always precedes the first request to the new host. A FileTransfer
//!   upload ([`Session::upload_request`]) goes only where a switch could, or to [`Config::upload_hosts`] (none
//!   by default; not any `*.salesforce.com`), and the URL's own parameters named like the session's
//!   (`orgId`, `chatKey`, `fileToken`, `encoding`, compared percent-decoded and without case) are dropped.
//! * **Muting.** A batch `sequence` below the last one seen (without a reconnect) is a renumbering:
//!   [`Event::SequenceReset`], and its messages are delivered. A `sequence` outside `-1..=2^53` or a jump of
//!   more than [`MAX_SEQUENCE_JUMP`] ends the chat with [`EndReason::Protocol`] after delivering the batch's
//!   texts. No message is dropped without an event saying so (re-delivered indices aside, see below).
//! * **Exhaustion.** [`LimitsConfig`] caps the body size (1 MiB), messages per batch (500; a larger batch is
//!   refused unacknowledged, so the server keeps it), undrained events before the next poll (1024), the
//!   memory the undrained events hold ([`LimitsConfig::max_undrained_event_bytes`], 4 MiB, estimated per event:
//!   a batch whose events would exceed it is refused whole and unacknowledged like an oversized one, retried,
//!   and ends the chat with [`EndReason::GaveUp`] if it never fits, so nothing is muted or acknowledged
//!   unseen; a megabyte of `{}` in typed lists decoded to 61 MB of events), and the payload of every command
//!   (texts 32 KiB, other payloads 64 KiB, 64 list items). Unknown and undecodable messages keep their
//!   payload as its JSON text ([`wire::RawPayload`]), about its length in memory. [`floors`] bound the
//!   timing settings (every deadline at least 1 s, every retry delay at least 100 ms, at least one attempt)
//!   so no configuration makes a busy loop. A server answering every poll at once with nothing new (204, an
//!   empty array, only re-deliveries) is polled at most ten times a second (from the second such answer in a
//!   row, the next poll waits until [`floors::MIN_BACKOFF`] after the previous one went out). Above every
//!   per-answer pacing, one ceiling on the request rate no answer can lift: a token bucket over every request
//!   ([`LimitsConfig::max_requests_per_second`] 40 sustained, [`LimitsConfig::request_burst`] 40; a busy
//!   scripted chat peaks at 20 in its busiest second), and 503 handovers in a row back off like failures and
//!   end with [`EndReason::GaveUp`] after the retry budget. Counters stop
//!   at [`MAX_COUNTER`] with a protocol error instead of saturating into collisions.
//!   Decoding costs what parsing costs: a known message whose payload does not decode is diagnosed from where
//!   the parser stopped, in one scan of the payload (no copy per field), so no body within the cap costs more
//!   than a small multiple of a plain parse of its bytes; [`Session::upload_answer`] applies the same body
//!   cap and keeps only its four verdict fields.
//! * **Secrets and logs.** A session key or affinity token that is not 1 to
//!   [`wire::MAX_SECRET_BYTES`] bytes of visible ASCII is refused (never sent, never quoted). `Debug` of every
//!   type redacts them, including inside undecodable messages. `Display` of every error and end reason escapes
//!   control and invisible format characters of server text and bounds it ([`wire::LogSafe`]).
//!   Error text quotes what the server answered, so the session's own key and token are replaced by
//!   `<redacted>` in it (an error page may echo them), pieces of them cut off by a snippet's bounds too. The
//!   rule cannot be dodged by re-spelling: no run of 8 or more consecutive characters of the key or token
//!   survives in an error, an end reason (a ChatRequestFail reason included), an upload failure's detail
//!   (read only through [`Session::upload_answer`], which knows them) or their JSON, compared
//!   case-insensitively after percent-, JSON- and HTML-unescaping and with line breaks, whitespace and
//!   markup such as `<wbr>` between the characters ignored.
//! * **Snapshots.** [`Session::resume`] refuses a snapshot whose state contradicts its credentials, whose
//!   counters are out of range, whose batch is empty or whose commands break the caps ([`ResumeError`]).
//!   Credentials are checked by the one rule the SessionId answer was checked by, so every snapshot the
//!   session writes resumes; a snapshot in `Ending` with no ChatEnd queued, in flight or accepted gets it
//!   queued again, so every resumed session can end.
//!
//! What the driver must not do: log a request's URI or headers raw (`DELETE System/SessionId/{key}` carries
//! the key in its path; the key and token headers are marked sensitive, the path cannot be; the `Debug` of
//! [`OutgoingRequest`] redacts both), follow HTTP redirects (report them as answers: they end the session),
//! or store a snapshot anywhere it would not store a password.
//!
//! ## Decisions where the spec is silent or sources disagree
//! Each is argued, with its evidence and the simulator's switch for the other readings, in
//! `docs/protocol-decisions.md` in the repository; "spec §N" below is a section of `docs/chat-rest-api.md` (the
//! protocol reference), "field evidence §N" one of `docs/field-evidence.md` (how the real server behaved).
//! * Headers: the spec's header matrix, plus its recommendations: SESSION-KEY on DELETE SessionId, all four
//!   headers on SensitiveDataRuleTriggered and ChasitorIdleTimeoutWarningEvent (POST), literal `null` affinity
//!   on SessionId and ReconnectSession, no SEQUENCE on ChasitorResyncState.
//! * `ack` echoes the last 200's `sequence` (kept on 204); `pc` counts polls from 0. After a ReconnectSession
//!   polls carry no `ack` until a batch arrives: the new app server may continue the numbering or restart it
//!   at 0, and only a poll without `ack` is right for both.
//! * `X-LIVEAGENT-SEQUENCE`: 1 on ChasitorInit, +1 per sequenced POST; a retry reuses its number; a MultiNoun
//!   batch takes one number; `resetSequence` false keeps the numbering going, absent counts as true (the
//!   Android SDK's reading).
//! * 409 `Out of sync Ack. Expected N. Actual M` on a POST (spec §4.4, field evidence §3): nobody knows whether
//!   M is the last number accepted (CARBON) or the next one expected (LINE). The same batch is re-sent at once
//!   with M + 1 (right under the first reading, and under the second when numbers need only increase); when
//!   M + 1 itself was the number refused, with M (the second reading with consecutive numbers). Each 409
//!   counts against the retry budget, so a server that keeps refusing ends in [`EndReason::GaveUp`].
//! * ReconnectSession with no offset yet sends `ReconnectSession.offset=0`.
//! * MultiNoun payloads go under `object`; ChatEnd inside a MultiNoun carries `{"reason": ...}`.
//! * `attachedRecords` is kept as raw JSON; `chasitorIdleTimeout` accepts the object, a number, and the
//!   guide's `chasitorIdletimeout` spelling.
//! * A known message type whose payload does not decode becomes `Message::Invalid` (with the reason) rather
//!   than failing the batch, so one odd message cannot make the client re-poll forever.
//! * Messages are de-duplicated by index (`sequence - len + 1 ..= sequence`, the rule every capture obeys);
//!   the floor restarts after a ReconnectSession because the server may renumber what it re-delivers.
//! * ChasitorResyncState goes out when ChasitorSessionData arrives, before any re-sent command, after every
//!   reconnect once ChasitorInit was accepted, whatever the state, queued too (§4.6 and §4.9 apply once the
//!   chat was requested; §2 step 5 forbids chat traffic, not the reconnect procedure; a server may need it
//!   before it routes the restored session). Its placement rests on CARBON alone and the Android SDK never
//!   sends it, so a refusal (any status but 503, e.g. 500 while queued) is skipped and a transport failure is
//!   retried, then skipped: it never ends or stalls the chat. A poll that completes after a reconnect without
//!   ChasitorSessionData is taken as if it had arrived.
//! * Ending before an agent accepted sends `DELETE System/SessionId/{key}` (the documented way, §3.1.2); if it
//!   is refused (any answer but a 2xx or 403, or a transport failure), `ChatEnd {"reason":"client"}` is sent
//!   instead (the SDK sends both; field evidence §6). Ending an established chat sends `ChatEnd` then one more
//!   poll for ChatEnded (a 204 or 403 on that poll ends the session too); if ChatEnd is refused for good (a
//!   4xx but 403, a 409 that is not `Out of sync`, or the retry budget spent), DELETE SessionId is sent
//!   instead. Either way `end()` always ends, as [`EndReason::VisitorEnded`] (a 403 means "already ended").
//!   Commands never sent are reported in [`Event::Undelivered`].
//! * The visitor idle timeout (`chasitorIdleTimeout`) follows Salesforce's Customer Time-Out: it starts with an
//!   unanswered agent message and stops when the visitor replies; warning at `warningTime`, ChatEnd
//!   `clientIdleTimeout` at `timeout`.
//! * 5xx, 408, 425, 429, transport errors, timeouts and undecodable 200 bodies are retried with backoff; other
//!   4xx and redirects end the session ([`EndReason::Rejected`]). A single 409 on the poll is polled again after
//!   a backoff ("Duplicate Long Polling": Yalo and Rocket.Chat re-polled in production, field evidence §9); a
//!   second 409 in a row ends it ([`EndReason::Conflict`], the guide's meaning).
//! * A POST carrying a ChatMessage goes at least `Config::message_spacing` (20 ms) after the previous one:
//!   servers were seen to drop ChatMessages sent in quick succession although they answered 200 (CARBON paces
//!   them 15 ms apart, spec §9 pitfall 7); what is typed meanwhile is batched into the next MultiNoun.
//! * Any 2xx answers a POST successfully (200 in practice, 202 in the status table, 204 seen too).
//! * An empty 200 `{"messages":[]}`, with or without `sequence`, is read like a 204: `ack` and `offset` stay
//!   (no capture shows one; field evidence §5). Numbers written as strings are read as numbers (the wire
//!   layer's leniency).
//!
//! ## Delivery guarantees
//! Agent → visitor: each server message reaches the application once, in order (index de-duplication).
//!
//! Visitor → agent: one POST in flight, retried with the same `X-LIVEAGENT-SEQUENCE` so a server that drops
//! repeated numbers can de-duplicate. [`Event::Delivered`] names commands the server is known to hold: a 2xx
//! answered an attempt and every earlier attempt of that batch was refused by the server, or, after a
//! handover, the transcript in ChasitorSessionData (`chatMessages`) shows the batch's texts. After a handover
//! that transcript also drops a re-send the server already holds (which the restarted numbering would have
//! made it process twice), or proves the batch absent so that the re-send is a first delivery.
//! [`Event::Undelivered`] names commands the server does not hold (never sent, or refused).
//!
//! What the protocol cannot settle is reported as [`Event::DeliveryUncertain`]: the server may hold the batch
//! zero, one or two times (at-least-once re-sending, without a way to confirm). These are the remaining cases:
//! * an attempt's answer was lost (transport error, deadline, a 502/504 gateway error) or a restart abandoned
//!   it, and a later attempt got a 2xx: the 2xx may be the server dropping a number it already holds (the lost
//!   answer was a 2xx: delivered once), or one it refused (the lost answer was a 409 `Out of sync`: never
//!   delivered), and a server that processes repeated numbers again holds it twice;
//! * every later batch too, until the numbering is known again (a 409 `Out of sync` says where the server's
//!   counter is; a `resetSequence` reconnect restarts both): if the lost answer was such a 409, the server's
//!   counter is ahead, and a server that drops repeated numbers answers the next POSTs 200 without taking
//!   them — nothing in a 2xx tells the two apart (found by the `sim_session` fuzz target);
//! * the same after a 503 handover when ChasitorSessionData carries no transcript (or an incomplete one, or
//!   the batch has no text to look for: typing, sneak peek, custom events, ChatEnd) — the re-send may be a
//!   duplicate;
//! * the session ended (ChatEnded, 403, ...) while such a batch was in flight or unconfirmed.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod boundary;
mod config;
mod rng;
mod session;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "__testkit")]
#[doc(hidden)]
pub mod testkit;
mod time;
pub mod wire;

pub use config::{Config, LimitsConfig, RetryPolicy, Visitor, floors};
pub use http;
pub use session::{
    CommandError, CommandId, EndReason, Event, Failure, Handled, InputError, MAX_COUNTER,
    MAX_SEQUENCE_JUMP, OutgoingRequest, Output, RequestId, RequestKind, ResumeError,
    SNAPSHOT_VERSION, Session, SessionSnapshot, State, SwitchOfferId, TransportError,
};
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub use time::Clock;
pub use time::Timestamp;
pub use wire::{RedirectPolicy, RedirectRefusal};

/// The README's code blocks, compiled as doctests so the quickstart cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "sim"))]
pub struct ReadmeDoctests;
