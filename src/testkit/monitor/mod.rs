//! The invariant checker: watches every input the harness gives the session and every output it drains, keeps
//! an independent model of what the session must do, and reports the first violation.

use super::coverage::StatusClass;
use crate::time::Timestamp;
use crate::wire::{self, Endpoint, Limits, Message, MessagesAnswer, MessagesBody, ServerError};
use crate::{
    EndReason, Event, Handled, InputError, Output, RedirectPolicy, RedirectRefusal, RequestKind,
    Session, State,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// A broken invariant, with enough context to read it without a debugger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// 1-based index of the op being applied (0: setup).
    pub step: usize,
    /// The op, as `Debug`.
    pub op: String,
    /// What went wrong.
    pub what: String,
    /// The last lines of the run's trace (ops and outputs).
    pub trace: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invariant violated at step {} ({}):", self.step, self.op)?;
        writeln!(f, "  {}", self.what)?;
        writeln!(f, "trace (most recent last):")?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// What the monitor remembers about one request the session handed out.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub kind: RequestKind,
    /// `ack` query parameter (Messages).
    pub ack: Option<i64>,
    /// `X-LIVEAGENT-SEQUENCE`, when present.
    pub seq: Option<u64>,
}

/// Why the chat went into `Ending`, to predict the end reason of the final ChatEnded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndingCause {
    Visitor,
    Idle,
}

/// A ChatEnded/ChatRequestFail the harness delivered: the session must end with the matching reason.
#[derive(Debug, Clone, PartialEq)]
enum ExpectedEnd {
    ChatEnded {
        reason: Option<crate::wire::ChatEndReason>,
        attached_records: Option<serde_json::Value>,
        ending: Option<EndingCause>,
    },
    RequestFail {
        reason: Option<String>,
    },
    /// A batch `sequence` out of range or an absurd jump : a protocol error.
    Protocol,
    /// A SwitchServer outside the default redirect policy.
    RedirectRefused,
}

/// The default redirect policy as the crate documents it, written independently of `RedirectPolicy::check`:
/// from loopback only to loopback; otherwise https, default (or the configured) port, and a host that is the
/// configured one or under salesforceliveagent.com (no registrable-domain guess).
fn switch_allowed(configured: &Endpoint, target: &Endpoint) -> bool {
    if configured.is_loopback() {
        return target.is_loopback();
    }
    let norm = |h: &str| h.trim_end_matches('.').to_ascii_lowercase();
    let host = norm(target.host());
    let conf = norm(configured.host());
    let host_ok = host == conf
        || host == "salesforceliveagent.com"
        || host.ends_with(".salesforceliveagent.com");
    let port_ok = match target.port() {
        None | Some(443) => true,
        Some(p) => configured.is_tls() && configured.port() == Some(p),
    };
    target.is_tls() && host_ok && port_ok
}

/// An allowlist entry as the crate documents it: a host, exactly; or `*.` and a suffix of two or more labels,
/// matching hosts with at least one more label in front.
fn listed(entry: &str, host: &str) -> bool {
    let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
    match entry.strip_prefix("*.") {
        Some(suffix) => {
            let labels: Vec<&str> = suffix.split('.').collect();
            labels.len() >= 2
                && labels.iter().all(|l| !l.is_empty() && !l.contains('*'))
                && host.len() > suffix.len() + 1
                && host.ends_with(&format!(".{suffix}"))
        }
        None => !entry.is_empty() && !entry.contains('*') && host == entry,
    }
}

/// Where a 503 handover stands, as the monitor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handover {
    None,
    /// A 503 was accepted: only ReconnectSession (or DeleteSession) may go out.
    Needed,
    /// Reconnected: polls only, until a poll completes (pre-chat) or ChasitorResyncState goes out.
    Reconnected,
    /// A poll completed after the reconnect once the chat was requested (queued too): ChasitorResyncState must
    /// be sent before any command POST.
    ResyncRequired,
    /// ChasitorResyncState #id was sent: command POSTs wait until it is no longer in flight (answered, failed
    /// or expired; a refused resync is skipped).
    ResyncSent(u64),
    /// The ChasitorResyncState failed in the transport or expired: the session retries or skips it.
    ResyncFailed,
}

/// The last sequenced POST not yet accepted: a retry must be the same request.
#[derive(Debug, Clone)]
struct PendingPost {
    kind: RequestKind,
    body: Vec<u8>,
    seq: u64,
}

fn rank(s: State) -> u8 {
    match s {
        State::Connecting => 0,
        State::Initializing => 1,
        State::Requested => 2,
        State::Queued => 3,
        State::Chatting | State::AgentDisconnected => 4,
        State::Ending | State::Deleting => 5,
        _ => 6,
    }
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn query_param(uri: &http::Uri, name: &str) -> Option<i64> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        if k == name { v.parse().ok() } else { None }
    })
}

/// How the session will read an answer (uses the stateless wire parsers, which have their own tests, and the
/// session's stateless estimate of a batch's event memory, which `benches/backlog.rs` checks against an
/// allocator): `event_byte_cap` is the configured `LimitsConfig::max_undrained_event_bytes` after its floor.
pub fn classify(
    kind: RequestKind,
    status: u16,
    body: &[u8],
    limits: &Limits,
    event_byte_cap: usize,
) -> StatusClass {
    match status {
        200..=299 => match kind {
            RequestKind::SessionId => match wire::parse_session_id(status, body, limits) {
                Ok(_) => StatusClass::Ok,
                Err(_) => StatusClass::BadBody,
            },
            RequestKind::ReconnectSession => {
                match wire::parse_reconnect_session(status, body, limits) {
                    Ok(_) => StatusClass::Ok,
                    Err(_) => StatusClass::BadBody,
                }
            }
            RequestKind::Messages => match wire::parse_messages(status, body, limits) {
                Ok(MessagesAnswer::NoContent) => StatusClass::NoContent,
                // Decoded, but its events would pin more memory than allowed (the harness drains after every
                // step, so nothing else waits): refused and not acknowledged, like a bad body.
                Ok(MessagesAnswer::Batch(b))
                    if crate::session::batch_event_bytes(&b.messages) > event_byte_cap =>
                {
                    StatusClass::BadBody
                }
                Ok(_) => StatusClass::Ok,
                Err(_) => StatusClass::BadBody,
            },
            _ => StatusClass::Ok,
        },
        403 => StatusClass::Forbidden403,
        409 => match ServerError::parse(status, body) {
            ServerError::OutOfSync { .. } => StatusClass::OutOfSync409,
            _ => StatusClass::Conflict409,
        },
        503 => StatusClass::Unavailable503,
        500..=599 => StatusClass::Server5xx,
        _ => StatusClass::Rejected4xx,
    }
}

/// Events that only a server message produces (besides the `Ended` of ChatEnded/ChatRequestFail).
fn from_server(ev: &Event) -> bool {
    matches!(
        ev,
        Event::Queued { .. }
            | Event::QueueUpdate { .. }
            | Event::ChatEstablished(_)
            | Event::ChatTransferred(_)
            | Event::AgentDisconnected
            | Event::AgentMessage(_)
            | Event::AgentTyping(_)
            | Event::SessionRestored(_)
            | Event::ServerSwitched(_)
            | Event::SwitchOffered { .. }
            | Event::SequenceReset { .. }
            | Event::Message(_)
    )
}

/// The invariant checker. Drive it through a [`Harness`](super::Harness); the same code serves the property
/// test and the fuzz target.
#[derive(Debug)]
pub struct Monitor {
    pub(crate) limits: Limits,
    /// `LimitsConfig::max_undrained_event_bytes` after its floor.
    pub(crate) event_byte_cap: usize,
    secrets: Vec<String>,
    // Requests.
    issued: BTreeMap<u64, Issued>,
    last_id: u64,
    live: BTreeSet<u64>,
    gone: BTreeSet<u64>,
    answered: BTreeSet<u64>,
    // Credentials and routing the session must use.
    key: Option<String>,
    affinity: Option<String>,
    authority: String,
    /// Whether requests must use https (follows the endpoint like `authority`).
    tls: bool,
    /// Events drained since the last step ended: bounded by the batch cap (no answer may flood
    /// the application or the session's memory).
    events_this_step: usize,
    /// The configured endpoint: the redirect policy is relative to it.
    configured: Endpoint,
    /// The configured redirect policy.
    policy: RedirectPolicy,
    // Poll model.
    ack: i64,
    /// After a ReconnectSession until a batch shows the numbering: polls carry no `ack`, or the kept one once
    /// a poll's answer may have been lost (documented).
    ack_unknown: bool,
    /// The server's numbering of every message it delivered since the last renumbering: its index, as the
    /// batch that carried it says (`sequence` is the index of the batch's last message). A message whose
    /// index the application already got — or which the server numbered before one the application got — is
    /// a re-delivery.
    delivered: BTreeSet<i64>,
    typing: bool,
    offset: Option<i64>,
    next_pc: u64,
    expected: VecDeque<Event>,
    expected_end: Option<ExpectedEnd>,
    established: bool,
    // X-LIVEAGENT-SEQUENCE model.
    pending_post: Option<PendingPost>,
    forced_seq: Option<u64>,
    last_seq: Option<u64>,
    handover: Handover,
    /// 503 handovers since the last poll answered 2xx (documented: backed off, and the session gives up
    /// after the retry budget).
    handovers: u32,
    /// The configured retry budget (`max_attempts`, at least one).
    retry_budget: u32,
    // Lifecycle.
    state: State,
    ended_event: bool,
    end_called: bool,
    end_called_prechat: bool,
    ending_cause: Option<EndingCause>,
    last_delivered: Option<u64>,
    /// A DELETE SessionId was issued while ending: a ChatEnd may follow it as the fallback.
    delete_issued: bool,
    /// The SEQUENCE of the ChatEnd fallback after a refused DELETE, once issued (only re-sent after a restart).
    fallback_chat_end: Option<u64>,
    /// That ChatEnd was accepted: the session polls for ChatEnded (documented).
    fallback_chat_end_accepted: bool,
    /// The last poll answer was a 409: a second one in a row ends the chat, the first must not.
    poll_conflict: bool,
}

pub(crate) type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}

// After `ensure!`, which it uses (macro_rules! scope is textual).
mod outputs;

impl Monitor {
    pub(crate) fn new(endpoint: &Endpoint, limits: Limits) -> Monitor {
        Monitor {
            limits,
            event_byte_cap: crate::LimitsConfig::default().max_undrained_event_bytes,
            secrets: Vec::new(),
            issued: BTreeMap::new(),
            last_id: 0,
            live: BTreeSet::new(),
            gone: BTreeSet::new(),
            answered: BTreeSet::new(),
            key: None,
            affinity: None,
            authority: endpoint.authority().to_owned(),
            tls: endpoint.is_tls(),
            events_this_step: 0,
            configured: endpoint.clone(),
            policy: RedirectPolicy::default(),
            ack: -1,
            ack_unknown: false,
            delivered: BTreeSet::new(),
            typing: false,
            offset: None,
            next_pc: 0,
            expected: VecDeque::new(),
            expected_end: None,
            established: false,
            pending_post: None,
            forced_seq: Some(1),
            last_seq: None,
            handover: Handover::None,
            handovers: 0,
            retry_budget: crate::RetryPolicy::default().max_attempts,
            state: State::Connecting,
            ended_event: false,
            end_called: false,
            end_called_prechat: false,
            ending_cause: None,
            last_delivered: None,
            delete_issued: false,
            fallback_chat_end: None,
            fallback_chat_end_accepted: false,
            poll_conflict: false,
        }
    }

    /// The session's redirect policy (default: the trust class).
    /// The session was resumed from its snapshot: what it does not persist starts afresh (the count of
    /// handovers in a row).
    pub(crate) fn on_resume(&mut self) {
        self.handovers = 0;
    }

    /// The retry budget the session was configured with (handovers in a row are bounded by it).
    pub(crate) fn set_event_byte_cap(&mut self, cap: usize) {
        self.event_byte_cap = cap.max(crate::config::floors::MIN_UNDRAINED_EVENT_BYTES);
    }

    pub(crate) fn set_retry_budget(&mut self, budget: u32) {
        self.retry_budget = budget;
    }

    pub(crate) fn set_policy(&mut self, policy: RedirectPolicy) {
        self.policy = policy;
    }

    /// Whether the policy lets the session follow a switch to `target`; `None`: the application decides.
    fn switch_verdict(&self, target: &Endpoint) -> Option<bool> {
        let in_class = switch_allowed(&self.configured, target);
        match &self.policy {
            RedirectPolicy::Never => Some(false),
            RedirectPolicy::AlsoAllow(hosts) => {
                let host = target.host().trim_end_matches('.').to_ascii_lowercase();
                let listed = hosts.iter().any(|h| listed(h, &host));
                let default_port = matches!(target.port(), None | Some(443));
                Some(in_class || (listed && target.is_tls() && default_port))
            }
            RedirectPolicy::AskApplication if !in_class => None,
            _ => Some(in_class),
        }
    }

    /// Adds the secrets the answering side handed out (those of raw answers are learnt when accepted).
    pub(crate) fn set_secrets(&mut self, secrets: &[String]) {
        for s in secrets {
            self.learn_secret(s);
        }
    }

    /// `got` is `sent` with a secret the server echoed in it redacted: `sent` holds eight characters of a
    /// known secret (any case) and `got` says `<redacted>`.
    fn redacted_echo(&self, sent: Option<&str>, got: Option<&str>) -> bool {
        let (Some(sent), Some(got)) = (sent, got) else {
            return false;
        };
        let sent = sent.to_ascii_lowercase();
        got.contains("<redacted>")
            && self.secrets.iter().any(|k| {
                let k: Vec<char> = k.to_ascii_lowercase().chars().collect();
                k.windows(8)
                    .any(|w| sent.contains(&w.iter().collect::<String>()))
            })
    }

    fn learn_secret(&mut self, s: &str) {
        // Too short to tell from other text (e.g. a made-up one-letter key): the leak check would cry wolf.
        if s.len() >= 6 && !self.secrets.iter().any(|x| x == s) {
            self.secrets.push(s.to_owned());
        }
    }

    pub(crate) fn issued(&self, id: u64) -> Option<&Issued> {
        self.issued.get(&id)
    }

    pub(crate) fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Ids issued and no longer in flight (answered, expired, abandoned).
    pub(crate) fn gone_ids(&self) -> Vec<u64> {
        self.gone.iter().copied().collect()
    }

    fn leaks(&self, text: &str) -> Option<&str> {
        self.secrets
            .iter()
            .find(|s| text.contains(s.as_str()))
            .map(String::as_str)
    }

    /// Error text as a reader of a log reassembles it, written apart from the session's redaction: lowercase,
    /// `%XX`, `\uXXXX` and `&#NN;` decoded (twice, for layers), line breaks (raw or escaped), spaces and
    /// `<wbr>` removed.
    fn as_read(text: &str) -> String {
        fn decode(t: &str) -> String {
            let b = t.as_bytes();
            let mut out: Vec<u8> = Vec::with_capacity(b.len());
            let mut i = 0usize;
            while let Some(&c) = b.get(i) {
                let hex = |r: std::ops::Range<usize>| {
                    b.get(r)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                };
                let (decoded, len) = match c {
                    b'%' => (hex(i + 1..i + 3), 3),
                    b'\\' if b.get(i + 1) == Some(&b'u') => (hex(i + 2..i + 6), 6),
                    b'&' if b.get(i + 1) == Some(&b'#') => {
                        let end = (i + 2..(i + 10).min(b.len())).find(|&j| b.get(j) == Some(&b';'));
                        match end.and_then(|e| std::str::from_utf8(b.get(i + 2..e)?).ok()) {
                            Some(n) => (n.parse::<u32>().ok(), n.len() + 3),
                            None => (None, 1),
                        }
                    }
                    _ => (None, 1),
                };
                match decoded.filter(|v| *v < 0x80) {
                    Some(v) => {
                        out.push(v as u8);
                        i += len;
                    }
                    None => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        let mut t = text.to_ascii_lowercase();
        for _ in 0..2 {
            t = decode(&t).to_ascii_lowercase();
            for gone in ["\r", "\n", "\\r", "\\n", " ", "<wbr>"] {
                t = t.replace(gone, "");
            }
        }
        t
    }

    /// Error text (a failure's or an end reason's, which quote the server) must not hold eight consecutive
    /// characters of a secret, however the server spelled its echo.
    pub(crate) fn check_no_secret_run(&self, what: &str, text: &str) -> Check {
        let read = Monitor::as_read(text);
        for s in &self.secrets {
            let s: Vec<char> = s.to_ascii_lowercase().chars().collect();
            if let Some(w) = s
                .windows(8)
                .map(|w| w.iter().collect::<String>())
                .find(|w| read.contains(w.as_str()))
            {
                return Err(format!("{w:?} of a secret appears in {what}: {text}"));
            }
        }
        Ok(())
    }

    pub(crate) fn check_no_secret(&self, what: &str, text: &str) -> Check {
        if let Some(s) = self.leaks(text) {
            return Err(format!("secret {s:?} appears in Debug of {what}: {text}"));
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------------
    // Commands
    // ------------------------------------------------------------------------------------------------

    /// A command returned `Ok`; `before` is the state it was given in.
    pub(crate) fn on_command_ok(&mut self, is_end: bool, before: State, after: State) -> Check {
        ensure!(
            before != State::Ended,
            "a command was accepted after the session ended"
        );
        if is_end {
            self.end_called = true;
            if matches!(
                before,
                State::Connecting | State::Initializing | State::Requested | State::Queued
            ) {
                self.end_called_prechat = true;
                self.handover = Handover::None;
            }
            if after == State::Ending && before != State::Ending {
                self.ending_cause = Some(EndingCause::Visitor);
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------------
    // Answers
    // ------------------------------------------------------------------------------------------------

    /// Checks what `handle_response`/`handle_transport_error` returned for `id`.
    pub(crate) fn on_answer_result(
        &mut self,
        id: u64,
        live_before: &BTreeSet<u64>,
        result: &Result<Handled, InputError>,
    ) -> Check {
        let issued = self.issued.contains_key(&id);
        match result {
            Err(InputError::UnknownRequest(x)) => {
                ensure!(x.0 == id, "UnknownRequest names {x} for id #{id}");
                ensure!(!issued, "the session refused id #{id}, which it issued");
            }
            Ok(Handled::Accepted) => {
                ensure!(issued, "accepted an answer for #{id}, never issued");
                ensure!(
                    live_before.contains(&id),
                    "accepted an answer for #{id}, which was not in flight (answered, expired or abandoned)"
                );
                ensure!(self.answered.insert(id), "#{id} was answered twice");
            }
            Ok(Handled::Stale) => {
                ensure!(
                    issued,
                    "Stale for #{id}, never issued (must be UnknownRequest)"
                );
                ensure!(
                    !live_before.contains(&id),
                    "Stale for #{id}, which was in flight"
                );
            }
        }
        Ok(())
    }

    /// An accepted answer: update the model with what the session was told. `before` is the state then.
    pub(crate) fn on_accepted_response(
        &mut self,
        kind: RequestKind,
        status: u16,
        body: &[u8],
        before: State,
        session: &Session,
    ) -> Check {
        let class = classify(kind, status, body, &self.limits, self.event_byte_cap);
        match (kind, class) {
            (RequestKind::SessionId, StatusClass::Ok) => {
                if let Ok(s) = wire::parse_session_id(status, body, &self.limits) {
                    self.learn_secret(s.key.expose());
                    self.learn_secret(s.affinity_token.expose());
                    self.key = Some(s.key.expose().to_owned());
                    self.affinity = Some(s.affinity_token.expose().to_owned());
                }
            }
            (RequestKind::ReconnectSession, StatusClass::Ok) => {
                if let Ok(r) = wire::parse_reconnect_session(status, body, &self.limits) {
                    self.learn_secret(&r.affinity_token);
                    self.affinity = Some(r.affinity_token.clone());
                    if r.resets_sequence() {
                        self.forced_seq = Some(1);
                    }
                    self.delivered.clear();
                    self.ack_unknown = true;
                    self.handover = if before == State::Initializing {
                        Handover::None
                    } else {
                        Handover::Reconnected
                    };
                }
            }
            (RequestKind::Messages, StatusClass::Ok | StatusClass::NoContent) => {
                self.handovers = 0;
                // Documented: ChasitorResyncState after every reconnect once the chat was requested.
                let in_chat = matches!(
                    before,
                    State::Requested
                        | State::Queued
                        | State::Chatting
                        | State::AgentDisconnected
                        | State::Ending
                );
                let in_chat = match wire::parse_messages(status, body, &self.limits) {
                    Ok(MessagesAnswer::Batch(b)) => self.apply_batch(b, before, in_chat),
                    _ => in_chat,
                };
                if self.handover == Handover::Reconnected {
                    // A poll completed after the reconnect without ChasitorSessionData: carry on (documented).
                    self.handover = Self::after_session_data(in_chat);
                }
            }
            (RequestKind::ChasitorInit | RequestKind::Chat, StatusClass::Ok) => {
                if kind == RequestKind::Chat
                    && before == State::Deleting
                    && self.fallback_chat_end.is_some()
                {
                    self.fallback_chat_end_accepted = true;
                    self.ending_cause.get_or_insert(EndingCause::Visitor);
                }
                self.pending_post = None;
            }
            (RequestKind::ChasitorInit | RequestKind::Chat, StatusClass::OutOfSync409) => {
                if let ServerError::OutOfSync { actual, .. } = ServerError::parse(status, body) {
                    // Documented: continue from Actual + 1, or Actual when Actual + 1 was the number refused
                    // (the server then reads Actual as the next expected); a negative Actual restarts at 1.
                    let m = u64::try_from(actual).unwrap_or(0);
                    let sent = self.pending_post.as_ref().map(|p| p.seq);
                    self.forced_seq = Some(if sent == Some(m.saturating_add(1)) {
                        m.max(1)
                    } else {
                        m.saturating_add(1)
                    });
                }
            }
            (
                RequestKind::Messages
                | RequestKind::ChasitorInit
                | RequestKind::Chat
                | RequestKind::ResyncState,
                StatusClass::Unavailable503,
            ) if before != State::Deleting => {
                self.handovers = self.handovers.saturating_add(1);
                if self.handovers >= self.retry_budget {
                    ensure!(
                        matches!(session.end_reason(), Some(crate::EndReason::GaveUp { .. })),
                        "{} handovers in a row: the session must give up, it is {:?}",
                        self.handovers,
                        session.state()
                    );
                    return Ok(());
                }
                self.handover = Handover::Needed;
                let left: Vec<_> = session.in_flight().collect();
                ensure!(
                    left.is_empty(),
                    "after a 503 every request must be abandoned, still in flight: {left:?}"
                );
                ensure!(
                    session.is_reconnecting(),
                    "after a 503 the session must be reconnecting"
                );
            }
            (RequestKind::ResyncState, c) if c != StatusClass::Unavailable503 => {
                // Accepted or refused: either way the handover is over (a refusal is skipped).
                self.handover = Handover::None;
            }
            _ => {}
        }
        if kind == RequestKind::Messages {
            ensure!(
                session.queued_event_bytes() <= self.event_byte_cap,
                "an answer left {} bytes of events waiting, over the cap of {}",
                session.queued_event_bytes(),
                self.event_byte_cap
            );
            let conflict = matches!(class, StatusClass::Conflict409 | StatusClass::OutOfSync409);
            if conflict && !self.poll_conflict {
                ensure!(
                    session.state() != State::Ended,
                    "a single 409 on the poll ended the chat (it must be re-polled once)"
                );
            }
            self.poll_conflict = conflict;
        }
        Ok(())
    }

    /// Once session data is in after a reconnect: ChasitorResyncState is due only if the chat is established.
    fn after_session_data(in_chat: bool) -> Handover {
        if in_chat {
            Handover::ResyncRequired
        } else {
            Handover::None
        }
    }

    /// Predicts the events of a batch the session accepted, with the crate's documented folding. `in_chat`:
    /// whether the chat is established; returns it after the batch.
    fn apply_batch(&mut self, b: MessagesBody, before: State, mut in_chat: bool) -> bool {
        let MessagesBody {
            messages,
            sequence,
            offset,
        } = b;
        if messages.is_empty() {
            // Documented: `{"messages":[]}` is read like a 204 (ack and offset stay).
            return in_chat;
        }
        let len = i64::try_from(messages.len()).unwrap_or(i64::MAX);
        let first = sequence.map(|s| s.saturating_sub(len.saturating_sub(1)));
        // The index the server gave each message (`None`: the batch carries no `sequence`).
        let index_of =
            |i: usize| first.map(|f| f.saturating_add(i64::try_from(i).unwrap_or(i64::MAX)));
        // A sequence outside [-1, 2^53], or a first index more than 2^20 past the last one delivered, ends the
        // chat (protocol error) after the batch's texts, ack unchanged; a sequence below the last index
        // delivered is a renumbering: SequenceReset first, and the record of delivered indices starts over.
        let last_delivered = self.delivered.last().copied();
        let mut absurd = false;
        if let (Some(s), Some(first)) = (sequence, first) {
            let out_of_range = !(-1..=(1i64 << 53)).contains(&s);
            match last_delivered {
                _ if out_of_range => absurd = true,
                Some(last) if s < last => {
                    self.expected.push_back(Event::SequenceReset {
                        previous: last,
                        sequence: s,
                    });
                    self.delivered.clear();
                }
                Some(last) if first.saturating_sub(last) > (1 << 20) => absurd = true,
                _ => {}
            }
            if absurd {
                self.delivered.clear();
            }
        }
        // A message is new unless the application got it, or one the server numbered after it, already.
        let delivered = &self.delivered;
        let is_new =
            |i: usize| index_of(i).is_none_or(|idx| delivered.range(idx..).next().is_none());
        let new: Vec<bool> = (0..messages.len()).map(is_new).collect();
        // Documented: a batch holding both typing events (among messages not delivered before) ends "not typing".
        let has_not_typing = messages
            .iter()
            .zip(&new)
            .any(|(m, new)| *new && matches!(m, Message::AgentNotTyping(_)));
        let mut end: Option<ExpectedEnd> = absurd.then_some(ExpectedEnd::Protocol);
        for (m, new) in messages.into_iter().zip(new) {
            if !new {
                continue; // delivered before: must not reach the app twice
            }
            if end.is_some() {
                // After ChatEnded/ChatRequestFail only agent texts still reach the app.
                if let Message::ChatMessage(msg) = m {
                    self.expected.push_back(Event::AgentMessage(msg));
                }
                continue;
            }
            let ev = match m {
                Message::ChatRequestSuccess(s) => Some(Event::Queued {
                    position: s.queue_position,
                    estimated_wait_secs: s.estimated_wait_time,
                }),
                Message::QueueUpdate(q) => Some(Event::QueueUpdate {
                    position: q.position,
                    estimated_wait_secs: q.estimated_wait_time,
                }),
                Message::ChatEstablished(a) => {
                    self.established = true;
                    if matches!(before, State::Requested | State::Queued) {
                        in_chat = true;
                    }
                    self.typing = false;
                    Some(Event::ChatEstablished(a))
                }
                Message::ChatTransferred(a) => {
                    self.typing = false;
                    Some(Event::ChatTransferred(a))
                }
                Message::AgentDisconnect(_) => {
                    self.typing = false;
                    Some(Event::AgentDisconnected)
                }
                Message::ChatMessage(msg) => {
                    self.typing = false;
                    Some(Event::AgentMessage(msg))
                }
                Message::AgentTyping(_) => {
                    if !has_not_typing && !self.typing {
                        self.typing = true;
                        Some(Event::AgentTyping(true))
                    } else {
                        None
                    }
                }
                Message::AgentNotTyping(_) => {
                    if self.typing {
                        self.typing = false;
                        Some(Event::AgentTyping(false))
                    } else {
                        None
                    }
                }
                Message::ChatEnded(e) => {
                    end = Some(ExpectedEnd::ChatEnded {
                        reason: e.reason,
                        attached_records: e.attached_records,
                        ending: (before == State::Ending)
                            .then_some(self.ending_cause.unwrap_or(EndingCause::Visitor)),
                    });
                    None
                }
                Message::ChatRequestFail(f) => {
                    end = Some(ExpectedEnd::RequestFail { reason: f.reason });
                    None
                }
                Message::ChasitorSessionData(d) => {
                    if self.handover == Handover::Reconnected {
                        self.handover = Self::after_session_data(in_chat);
                    }
                    Some(Event::SessionRestored(d))
                }
                Message::SwitchServer(s) => match Endpoint::parse(&s.new_url) {
                    Ok(e) if !s.new_url.trim().is_empty() => {
                        let verdict = self.switch_verdict(&e);
                        if verdict == Some(true) {
                            self.authority = e.authority().to_owned();
                            self.tls = e.is_tls();
                            Some(Event::ServerSwitched(e))
                        } else if verdict.is_none() {
                            // Offered to the application (its decision is a command the monitor does not
                            // follow: a test that decides drives the session by hand).
                            Some(Event::SwitchOffered {
                                offer: crate::SwitchOfferId(0),
                                endpoint: e,
                                reason: RedirectRefusal::ForeignHost,
                                decide_by: Timestamp::ZERO,
                            })
                        } else {
                            // Never contacted: the chat ends, and every later request check still expects
                            // the old authority.
                            end = Some(ExpectedEnd::RedirectRefused);
                            None
                        }
                    }
                    _ => Some(Event::Message(Message::SwitchServer(s))),
                },
                other => Some(Event::Message(other)),
            };
            if let Some(ev) = ev {
                self.expected.push_back(ev);
            }
        }
        if let (Some(s), Some(first)) = (sequence.filter(|_| !absurd), first) {
            self.ack = s;
            self.ack_unknown = false;
            // At most a batch's worth of indices (the batch cap bounds `len`).
            self.delivered.extend(first..=s);
        }
        if let Some(o) = offset {
            self.offset = Some(o);
        }
        if end.is_some() {
            self.expected_end = end;
        }
        in_chat
    }

    // ------------------------------------------------------------------------------------------------
    // After every step
    // ------------------------------------------------------------------------------------------------

    /// Checks run once the drain reached `Wait(wait)`; `is_timeout_op` notes an op that moved time.
    pub(crate) fn end_step(&mut self, session: &Session, wait: Option<Timestamp>) -> Check {
        self.events_this_step = 0;
        ensure!(
            self.expected.is_empty(),
            "server messages that never reached the app: {:?}",
            self.expected
        );
        ensure!(
            self.expected_end.is_none(),
            "the server ended the chat ({:?}) but the session did not end",
            self.expected_end
        );
        let state = session.state();
        ensure!(
            self.ended_event == (state == State::Ended),
            "state {state:?} but Event::Ended {} been emitted",
            if self.ended_event { "has" } else { "has not" }
        );
        if state == State::Ended {
            ensure!(wait.is_none(), "Wait({wait:?}) after the session ended");
            ensure!(
                session.poll_timeout().is_none(),
                "poll_timeout() is set after the session ended"
            );
            let live: Vec<_> = session.in_flight().collect();
            ensure!(
                live.is_empty(),
                "requests in flight after the end: {live:?}"
            );
        } else {
            ensure!(
                wait.is_some(),
                "Wait(None) in state {state:?}: the session would wait forever"
            );
        }
        // State only moves forward (Chatting <-> AgentDisconnected aside).
        let (from, to) = (self.state, state);
        ensure!(
            rank(to) >= rank(from),
            "state went back from {from:?} to {to:?}"
        );
        if to == State::Deleting && from != State::Deleting {
            // From Ending too: a refused ChatEnd falls back to DELETE SessionId.
            ensure!(
                rank(from) <= 3 || from == State::Ending,
                "Deleting entered from {from:?}"
            );
        }
        if to == State::Ending && from != State::Ending {
            // From Deleting too: the ChatEnd sent after a refused DELETE was accepted, and the session polls
            // for ChatEnded.
            ensure!(
                rank(from) == 4 || (from == State::Deleting && self.fallback_chat_end_accepted),
                "Ending entered from {from:?}"
            );
            if self.ending_cause.is_none() {
                self.ending_cause = Some(EndingCause::Idle);
            }
        }
        self.state = to;
        // In-flight bookkeeping.
        let now: BTreeSet<u64> = session.in_flight().map(|(i, _)| i.0).collect();
        let mut polls = 0;
        let mut posts = 0;
        for (i, k) in session.in_flight() {
            ensure!(
                self.issued.contains_key(&i.0),
                "in flight: {i}, never handed out"
            );
            ensure!(
                !self.gone.contains(&i.0),
                "{i} is in flight again after it was answered, expired or abandoned"
            );
            polls += usize::from(k.is_poll());
            posts += usize::from(k.is_post());
        }
        ensure!(
            polls <= 1 && posts <= 1,
            "{polls} polls / {posts} POSTs in flight"
        );
        for id in self.live.difference(&now) {
            self.gone.insert(*id);
        }
        self.live = now;
        self.check_no_secret("the session", &format!("{session:?}"))?;
        self.check_no_secret("the snapshot", &format!("{:?}", session.snapshot()))?;
        Ok(())
    }

    /// `handle_timeout(now)` was just called.
    pub(crate) fn after_timeout(&self, session: &Session, now: Timestamp) -> Check {
        if let Some(t) = session.poll_timeout() {
            ensure!(
                t > now,
                "hot loop: after handle_timeout(now), poll_timeout() is {:?} before or at now",
                now.saturating_duration_since(t)
            );
        }
        Ok(())
    }
}
