//! What the pair records for tests to assert on (with the transcript on): every request the sessions sent and
//! every reply on its way to them. No secret is kept: credentials are named by where they came from.

use crate::sim::render::Render;
use crate::time::Timestamp;
use crate::{Handled, OutgoingRequest, RequestId, RequestKind};
use std::time::Duration;

/// A credential header of a recorded request, named by where its value came from (the value is never kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// The header was not sent.
    Absent,
    /// The literal `null` (the affinity of SessionId and ReconnectSession).
    Null,
    /// The `n`-th distinct value of its kind (1 = the first) in the SessionId and ReconnectSession answers the
    /// pair delivered: `Issued(2)` is the token of the first ReconnectSession of a one-session pair.
    Issued(usize),
    /// A value no answer the pair delivered issued.
    Unknown,
}

/// A request a session handed out, as the pair recorded it (with the transcript on): what a test asserts on.
/// No secret is kept: the session key in a DELETE path is shown as `<key>`, the key and affinity headers as
/// [`Credential`]s, and no other header but the sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentRequest {
    /// Virtual time it went out (since the pair's start).
    pub at: Duration,
    /// Which session sent it.
    pub session: usize,
    /// The session's id for it.
    pub id: RequestId,
    /// What it is for.
    pub kind: RequestKind,
    /// `GET`, `POST` or `DELETE`.
    pub method: String,
    /// The host it went to.
    pub host: String,
    /// Path and query.
    pub path: String,
    /// `X-LIVEAGENT-SEQUENCE`, if sent.
    pub sequence: Option<u64>,
    /// The body, as text.
    pub body: String,
    /// Its deadline, in virtual time (since the pair's start).
    pub deadline: Duration,
    /// `X-LIVEAGENT-AFFINITY`.
    pub affinity: Credential,
    /// `X-LIVEAGENT-SESSION-KEY`.
    pub session_key: Credential,
}

impl SentRequest {
    pub(super) fn of(
        req: &OutgoingRequest,
        at: Duration,
        session: usize,
        start: Timestamp,
        render: &Render,
    ) -> SentRequest {
        let uri = req.http.uri();
        let path = uri.path();
        let path = if req.kind == RequestKind::DeleteSession {
            let head = path.rfind('/').and_then(|i| path.get(..i)).unwrap_or(path);
            format!("{head}/<key>")
        } else {
            match uri.query() {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            }
        };
        let header = |name: &str| {
            req.http
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or_default())
        };
        let credential = |name: &str, label: &str| match header(name) {
            None => Credential::Absent,
            Some("null") => Credential::Null,
            Some(v) => render
                .issued_index(label, v)
                .map_or(Credential::Unknown, Credential::Issued),
        };
        SentRequest {
            at,
            session,
            id: req.id,
            kind: req.kind,
            method: req.http.method().as_str().to_owned(),
            host: uri.host().unwrap_or_default().to_owned(),
            path,
            sequence: header(crate::wire::header::SEQUENCE).and_then(|v| v.parse().ok()),
            body: String::from_utf8_lossy(req.http.body()).into_owned(),
            deadline: req.deadline.saturating_duration_since(start),
            affinity: credential(crate::wire::header::AFFINITY, "<affinity>"),
            session_key: credential(crate::wire::header::SESSION_KEY, "<key>"),
        }
    }

    /// A query parameter (e.g. a poll's `ack`), parsed.
    pub fn query_param(&self, name: &str) -> Option<i64> {
        let (_, q) = self.path.split_once('?')?;
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse().ok())
    }
}

/// A reply on its way to a session, as the pair recorded it (with the transcript on).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplyRecord {
    /// Virtual time it reached the session (or was lost), since the pair's start.
    pub at: Duration,
    /// Which session it was for.
    pub session: usize,
    /// The request it answers.
    pub id: RequestId,
    /// What the request was for.
    pub kind: RequestKind,
    /// The HTTP status; `None` for a closed connection (the session got a transport error) or a reply the tap
    /// lost.
    pub status: Option<u16>,
    /// What the session did with it; `None` when the reply tap lost it (the session never heard).
    pub handled: Option<Handled>,
}
