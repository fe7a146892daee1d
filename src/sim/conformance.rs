//! The conformance report: where a client deviated from the guide, per session.
//!
//! The simulator checks every request against the guide (spec `docs/chat-rest-api.md`). What the guide forbids
//! and the configured [`Dialect`](super::Dialect) refuses is a [`Severity::Violation`]; what the dialect
//! tolerates although the guide says otherwise (or does not say it) is a [`Severity::Warning`]. Each
//! [`Finding`] names the request (its number as the transcript shows it, `#n`, counted over the whole server,
//! and its request line), a stable code, what was wrong and the spec section.
//!
//! Every request the server refuses of its own accord (a 4xx or 5xx that no planned fault caused) is a
//! violation; requests that belong to no session (a refused SessionId, an unknown session key, an unknown
//! path) are reported in [`ConformanceReport::outside_sessions`], so a report is never empty when something
//! was refused. Get the report from [`Server::conformance_report`](super::Server::conformance_report); it
//! serialises as `{"sessions": [{"id", "completed", "end", "requests", "violations": [...], "warnings":
//! [...], "dropped"}], "outside_sessions": [...], "outside_dropped"}`.
//!
//! **Completed** has one meaning: the chat ended the way the protocol ends chats — the visitor's ChatEnd or
//! `DELETE System/SessionId` was accepted (ended by the visitor, whether or not it polled again), or the
//! agent's ChatEnded / the ChatRequestFail was delivered to the visitor by a poll. Every other session says in
//! [`SessionReport::end`] why it did not complete (never requested a chat, expired after the poll gap, ended by
//! the agent and never polled for it, still open, ...).
//!
//! Memory is bounded: a session keeps at most [`MAX_FINDINGS_PER_SESSION`] findings, and at most
//! [`MAX_FINDINGS_PER_CODE`] of each code; the rest are counted in [`SessionReport::dropped`].
//!
//! Codes (stable, kebab-case): see [`codes`].

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// At most this many findings are kept per session.
pub const MAX_FINDINGS_PER_SESSION: usize = 64;
/// At most this many findings of one code are kept per session (a client that never sends the sequence
/// header would otherwise fill the report with one line per POST).
pub const MAX_FINDINGS_PER_CODE: usize = 8;

/// The stable finding codes.
pub mod codes {
    /// A sequenced POST without `X-LIVEAGENT-SEQUENCE` (§4.4).
    pub const MISSING_SEQUENCE: &str = "missing-sequence";
    /// `X-LIVEAGENT-SEQUENCE` that is not a decimal number (§4.4, §11).
    pub const INVALID_SEQUENCE: &str = "invalid-sequence";
    /// A sequence number more than one above the last accepted (§4.4).
    pub const SEQUENCE_GAP: &str = "sequence-gap";
    /// An already accepted sequence number on a different request (§4.4).
    pub const SEQUENCE_REUSED: &str = "sequence-reused";
    /// The same request again under a new sequence number: the server cannot recognise it as a retry (§4.4).
    pub const RETRY_NEW_SEQUENCE: &str = "retry-new-sequence";
    /// `X-LIVEAGENT-SEQUENCE` on ChasitorResyncState, which the guide does not list (§4.4).
    pub const SEQUENCE_ON_RESYNC: &str = "sequence-on-resync";
    /// A Messages poll without `ack` (§4.3).
    pub const MISSING_ACK: &str = "missing-ack";
    /// An `ack` above the last `sequence` delivered: acknowledges messages never received (§4.3).
    pub const ACK_AHEAD: &str = "ack-ahead";
    /// An `ack` below one sent before: asks for messages already acknowledged (§4.3, §9 pitfall 6).
    pub const ACK_REGRESSED: &str = "ack-regressed";
    /// The first poll after ReconnectSession carried an `ack` the dialect refuses (§4.6).
    pub const RECONNECT_ACK: &str = "reconnect-ack";
    /// A second Messages poll while one was held (§8, §9 pitfall 2).
    pub const DUPLICATE_POLL: &str = "duplicate-poll";
    /// A request after a 503 other than ReconnectSession: the handover procedure was not followed (§4.6).
    pub const IGNORED_503: &str = "ignored-503";
    /// A request with the affinity token the visitor held before the ReconnectSession (§4.5).
    pub const STALE_AFFINITY: &str = "stale-affinity";
    /// A request with an affinity token the server never issued (e.g. read from the wrong level of the
    /// ReconnectSession answer) (§4.5, §9 pitfall 11).
    pub const WRONG_AFFINITY: &str = "wrong-affinity";
    /// ReconnectSession with an `X-LIVEAGENT-AFFINITY` other than `null` (§4.5 step 3).
    pub const RECONNECT_AFFINITY: &str = "reconnect-affinity";
    /// ReconnectSession without a preceding 503 (§9 pitfall 9).
    pub const RECONNECT_WITHOUT_503: &str = "reconnect-without-503";
    /// A `ReconnectSession.offset` that is missing, not a number or never issued (§4.6 step 3).
    pub const INVALID_OFFSET: &str = "invalid-offset";
    /// A request for a session after the server answered 403 for it (§8).
    pub const REQUEST_AFTER_403: &str = "request-after-403";
    /// A chat POST before ChatEstablished (§2 step 5, §9 pitfall 1).
    pub const BEFORE_ESTABLISHED: &str = "before-established";
    /// A chat POST after ReconnectSession before ChasitorResyncState (§4.6 step 5).
    pub const MISSING_RESYNC: &str = "missing-resync";
    /// A ChatMessage within 15 ms of the previous one (§9 pitfall 7).
    pub const RAPID_MESSAGES: &str = "rapid-messages";
    /// A request without `X-LIVEAGENT-API-VERSION`, or with a bad one (§1.3).
    pub const MISSING_VERSION: &str = "missing-version";
    /// A POST body that is not the noun's JSON (§3.2, §3.3).
    pub const MALFORMED_BODY: &str = "malformed-body";
    /// ChasitorInit that is not the first POST, or for another session id (§3.2.1).
    pub const BAD_INIT: &str = "bad-init";
    /// A request at the other host after the visitor acknowledged a SwitchServer (§6.6).
    pub const WRONG_HOST: &str = "wrong-host";
    /// Any other request the server refused (a 4xx or 5xx of its own, §8).
    pub const BAD_REQUEST: &str = "bad-request";
    /// A boolean or number sent as a JSON string in a request body (§3.2.1, §11; `body-values`).
    pub const LENIENT_BODY: &str = "lenient-body";
    /// ChasitorInit without `sessionId` or `visitorName` (§3.2.1; `init-fields`).
    pub const MISSING_FIELD: &str = "missing-field";
    /// SessionId without `X-LIVEAGENT-AFFINITY`, or with a value other than `null` (§1.3.1;
    /// `session-id-affinity`).
    pub const MISSING_AFFINITY: &str = "missing-affinity";
    /// A 403: no session key, an unknown one, or one of a session that is over (§8).
    pub const UNKNOWN_SESSION: &str = "unknown-session";
    /// A path the server does not serve (404) or a method it does not take there (405) (§3).
    pub const UNKNOWN_RESOURCE: &str = "unknown-resource";

    /// Every code, in the order above.
    pub const ALL: &[&str] = &[
        MISSING_SEQUENCE,
        INVALID_SEQUENCE,
        SEQUENCE_GAP,
        SEQUENCE_REUSED,
        RETRY_NEW_SEQUENCE,
        SEQUENCE_ON_RESYNC,
        MISSING_ACK,
        ACK_AHEAD,
        ACK_REGRESSED,
        RECONNECT_ACK,
        DUPLICATE_POLL,
        IGNORED_503,
        STALE_AFFINITY,
        WRONG_AFFINITY,
        RECONNECT_AFFINITY,
        RECONNECT_WITHOUT_503,
        INVALID_OFFSET,
        REQUEST_AFTER_403,
        BEFORE_ESTABLISHED,
        MISSING_RESYNC,
        RAPID_MESSAGES,
        MISSING_VERSION,
        MALFORMED_BODY,
        BAD_INIT,
        WRONG_HOST,
        BAD_REQUEST,
        LENIENT_BODY,
        MISSING_FIELD,
        MISSING_AFFINITY,
        UNKNOWN_SESSION,
        UNKNOWN_RESOURCE,
    ];
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// The guide forbids it and the dialect refused it (or lost data because of it).
    Violation,
    /// The dialect tolerated it, but the guide says otherwise or does not say it.
    Warning,
}

/// One deviation from the guide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// The number of the request, as the transcript shows it (`#n`): counted over the whole server from 1.
    pub request: u64,
    /// `METHOD /path?query`, e.g. `POST /chat/rest/Chasitor/ChatMessage`.
    pub request_line: String,
    /// A stable kebab-case id (see [`codes`]).
    pub code: String,
    /// What was wrong, in a sentence.
    pub what: String,
    /// The spec section, e.g. `§4.4`.
    pub section: String,
}

/// The findings of one session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionReport {
    /// The session id (`id` of the SessionId answer; not the secret key).
    pub id: String,
    /// The chat ended the way the protocol ends chats: the visitor's ChatEnd or DELETE accepted, or the
    /// agent's ChatEnded / the ChatRequestFail delivered (see the [module docs](self)).
    pub completed: bool,
    /// How the session ended, or why it did not complete (e.g. `ended by the visitor (ChatEnd accepted)`,
    /// `never requested a chat (no ChasitorInit)`, `expired: no poll in progress for the poll gap`).
    #[serde(default)]
    pub end: String,
    /// Requests received for the session.
    pub requests: u64,
    /// What the dialect refused.
    pub violations: Vec<Finding>,
    /// What the dialect tolerated.
    pub warnings: Vec<Finding>,
    /// Findings not kept (beyond [`MAX_FINDINGS_PER_SESSION`] or [`MAX_FINDINGS_PER_CODE`]).
    #[serde(default)]
    pub dropped: u64,
}

/// The findings of every session, in creation order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConformanceReport {
    /// One entry per session.
    pub sessions: Vec<SessionReport>,
    /// Refused requests that belong to no session (a refused SessionId, a missing or unknown session key,
    /// an unknown path), in arrival order.
    #[serde(default)]
    pub outside_sessions: Vec<Finding>,
    /// Findings outside sessions not kept (beyond [`MAX_FINDINGS_PER_SESSION`] or
    /// [`MAX_FINDINGS_PER_CODE`]).
    #[serde(default)]
    pub outside_dropped: u64,
}

impl ConformanceReport {
    /// An empty report.
    pub fn new() -> ConformanceReport {
        ConformanceReport::default()
    }

    /// Total violations kept, over all sessions and outside them.
    pub fn violations(&self) -> usize {
        self.sessions
            .iter()
            .map(|s| s.violations.len())
            .sum::<usize>()
            + self.outside_sessions.len()
    }

    /// Total warnings kept over all sessions.
    pub fn warnings(&self) -> usize {
        self.sessions.iter().map(|s| s.warnings.len()).sum()
    }

    /// Every finding's code, per severity, over all sessions, in order, then those outside sessions (all
    /// violations) (handy in tests).
    pub fn codes(&self, severity: Severity) -> Vec<&str> {
        let outside = match severity {
            Severity::Violation => self.outside_sessions.iter(),
            Severity::Warning => [].iter(),
        };
        self.sessions
            .iter()
            .flat_map(|s| match severity {
                Severity::Violation => s.violations.iter(),
                Severity::Warning => s.warnings.iter(),
            })
            .chain(outside)
            .map(|f| f.code.as_str())
            .collect()
    }

    /// A readable summary: one block per session, one line per finding.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Conformance report: {} session(s), {} violation(s), {} warning(s)",
            self.sessions.len(),
            self.violations(),
            self.warnings()
        );
        for s in &self.sessions {
            let _ = writeln!(
                out,
                "\nsession {} ({}: {}; {} request(s)): {} violation(s), {} warning(s)",
                s.id,
                if s.completed {
                    "completed"
                } else {
                    "not completed"
                },
                s.end,
                s.requests,
                s.violations.len(),
                s.warnings.len()
            );
            for (label, list) in [("VIOLATION", &s.violations), ("warning", &s.warnings)] {
                for f in list {
                    let _ = writeln!(
                        out,
                        "  {label} {} [{}] request #{} {}: {}",
                        f.section, f.code, f.request, f.request_line, f.what
                    );
                }
            }
            if s.dropped > 0 {
                let _ = writeln!(out, "  ({} more finding(s) not kept)", s.dropped);
            }
        }
        if !self.outside_sessions.is_empty() || self.outside_dropped > 0 {
            let _ = writeln!(
                out,
                "\noutside sessions: {} violation(s)",
                self.outside_sessions.len()
            );
            for f in &self.outside_sessions {
                let _ = writeln!(
                    out,
                    "  VIOLATION {} [{}] request #{} {}: {}",
                    f.section, f.code, f.request, f.request_line, f.what
                );
            }
            if self.outside_dropped > 0 {
                let _ = writeln!(out, "  ({} more finding(s) not kept)", self.outside_dropped);
            }
        }
        out
    }
}

/// A session's findings as the server keeps them (bounded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FindingLog {
    pub(crate) items: Vec<(Severity, Finding)>,
    pub(crate) dropped: u64,
}

impl FindingLog {
    /// Keeps `finding` unless a cap is reached; returns whether it was kept.
    pub(crate) fn push(&mut self, severity: Severity, finding: Finding) -> bool {
        let same = self
            .items
            .iter()
            .filter(|(_, f)| f.code == finding.code)
            .count();
        if self.items.len() >= MAX_FINDINGS_PER_SESSION || same >= MAX_FINDINGS_PER_CODE {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        self.items.push((severity, finding));
        true
    }
}

impl Finding {
    pub(crate) fn new(
        request: u64,
        request_line: String,
        code: &str,
        section: &str,
        what: String,
    ) -> Finding {
        Finding {
            request,
            request_line,
            code: code.to_owned(),
            what,
            section: section.to_owned(),
        }
    }
}

impl SessionReport {
    pub(crate) fn from_log(
        id: String,
        (completed, end): (bool, String),
        requests: u64,
        log: Option<&FindingLog>,
    ) -> SessionReport {
        let mut violations = Vec::new();
        let mut warnings = Vec::new();
        let mut dropped = 0;
        if let Some(log) = log {
            dropped = log.dropped;
            for (sev, f) in &log.items {
                match sev {
                    Severity::Violation => violations.push(f.clone()),
                    Severity::Warning => warnings.push(f.clone()),
                }
            }
        }
        SessionReport {
            id,
            completed,
            end,
            requests,
            violations,
            warnings,
            dropped,
        }
    }
}
