//! The one transcript format of the crate's drive loops ([`Pair`](super::Pair) and the test kit's harness):
//! one line per request, reply, event and command, stamped with the virtual time since the loop began.
//! Session keys and affinity tokens seen in answers are shown as `<key>` and `<affinity>`; control characters
//! of server-chosen text are escaped, so a hostile body cannot forge transcript lines.

use crate::time::Timestamp;
use crate::{Event, OutgoingRequest, RequestId, RequestKind};
use std::fmt::{self, Write as _};
use std::time::Duration;

/// How many bytes of a body a transcript line shows.
pub(crate) const BODY_BRIEF: usize = 160;
/// How many bytes of an event's `Debug` a transcript line shows (a hostile server can make it huge).
const EVENT_BRIEF: usize = 2000;
/// How many messages of a batch a transcript line names.
const BATCH_BRIEF: usize = 12;

/// `+12.345s`
pub(crate) struct Stamp(pub(crate) Duration);

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}.{:03}s", self.0.as_secs(), self.0.subsec_millis())
    }
}

/// The first `max` bytes of `s`, cut at a character boundary, with `…` when cut; control characters escaped.
pub(crate) fn brief(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let head = s.get(..end).unwrap_or_default();
    let mut out = String::with_capacity(head.len() + 4);
    for c in head.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if end < s.len() {
        out.push('…');
    }
    out
}

/// Collects the values of `key` and `affinityToken` fields anywhere in an answer body.
fn collect_secrets(v: &serde_json::Value, out: &mut Vec<(String, &'static str)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let label = match k.as_str() {
                    "key" => Some("<key>"),
                    "affinityToken" => Some("<affinity>"),
                    _ => None,
                };
                match (label, x.as_str()) {
                    (Some(label), Some(s)) if !s.is_empty() && s != "null" => {
                        if !out.iter().any(|(o, _)| o == s) {
                            out.push((s.to_owned(), label));
                        }
                    }
                    _ => collect_secrets(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_secrets(x, out)),
        _ => {}
    }
}

/// A Messages answer as `seq 3: ChatEstablished, ChatMessage "hi"`; `None` when it is not one.
fn summarise_batch(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let messages = v.get("messages")?.as_array()?;
    let mut out = String::new();
    if let Some(seq) = v.get("sequence") {
        let _ = write!(out, "seq {}: ", brief(&seq.to_string(), 40));
    }
    for (i, m) in messages.iter().enumerate() {
        if i == BATCH_BRIEF {
            let _ = write!(out, ", … {} more", messages.len().saturating_sub(i));
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        let kind = m.get("type").and_then(|t| t.as_str()).unwrap_or("?");
        out.push_str(&brief(kind, 40));
        if let Some(text) = m
            .get("message")
            .and_then(|p| p.get("text"))
            .and_then(|t| t.as_str())
        {
            let _ = write!(out, " {:?}", brief(text, 60));
        }
    }
    Some(out)
}

/// Renders the lines of one drive loop's transcript.
#[derive(Debug, Clone)]
pub(crate) struct Render {
    /// Virtual time zero.
    start: Timestamp,
    /// The authority requests are not prefixed with (others show `//authority`).
    primary: String,
    /// Session keys and affinity tokens seen in answers.
    secrets: Vec<(String, &'static str)>,
}

impl Render {
    pub(crate) fn new(start: Timestamp, primary: &str) -> Render {
        Render {
            start,
            primary: primary.to_owned(),
            secrets: Vec::new(),
        }
    }

    /// Virtual time of `t`.
    pub(crate) fn stamp(&self, t: Timestamp) -> Stamp {
        Stamp(t.saturating_duration_since(self.start))
    }

    /// A stamped line, secrets scrubbed.
    pub(crate) fn line(&self, at: Timestamp, text: &str) -> String {
        let mut text = text.to_owned();
        for (secret, label) in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), label);
            }
        }
        format!("{:>9} {text}", self.stamp(at).to_string())
    }

    /// Which of the values learned under `label` (`<key>` or `<affinity>`) `value` is: 1 for the first.
    pub(crate) fn issued_index(&self, label: &str, value: &str) -> Option<usize> {
        self.secrets
            .iter()
            .filter(|(_, l)| *l == label)
            .position(|(v, _)| v == value)
            .map(|i| i.saturating_add(1))
    }

    /// Learns the key and token of a SessionId or ReconnectSession answer (to scrub them from later lines).
    pub(crate) fn learn_secrets(&mut self, kind: RequestKind, body: &[u8]) {
        if matches!(kind, RequestKind::SessionId | RequestKind::ReconnectSession)
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        {
            collect_secrets(&v, &mut self.secrets);
        }
    }

    /// `→ GET /chat/rest/System/Messages?ack=1&pc=2 [3]`, with the host when it is not the primary one, the
    /// sequence header and the body.
    pub(crate) fn request(&self, req: &OutgoingRequest) -> String {
        let uri = req.http.uri();
        let path = uri.path();
        let mut line = format!("→ {} ", req.http.method());
        if let Some(a) = uri.authority()
            && !a.as_str().eq_ignore_ascii_case(&self.primary)
        {
            let _ = write!(line, "//{}", brief(a.as_str(), 80));
        }
        if req.kind == RequestKind::DeleteSession {
            // DELETE System/SessionId/{key}: the last segment is the session key.
            let head = path.rfind('/').and_then(|i| path.get(..i)).unwrap_or(path);
            let _ = write!(line, "{head}/<key>");
        } else {
            line.push_str(path);
            if let Some(q) = uri.query() {
                let _ = write!(line, "?{q}");
            }
        }
        let _ = write!(line, " [{}]", req.id);
        if let Some(seq) = req
            .http
            .headers()
            .get(crate::wire::header::SEQUENCE)
            .and_then(|v| v.to_str().ok())
        {
            let _ = write!(line, " seq={seq}");
        }
        let body = String::from_utf8_lossy(req.http.body());
        if !body.is_empty() {
            let _ = write!(line, " {}", brief(&body, BODY_BRIEF));
        }
        line
    }

    /// `← 200 [3] seq 4: ChatMessage "hi"` (a Messages batch summarised; other bodies cut short).
    pub(crate) fn reply(
        &self,
        id: RequestId,
        kind: RequestKind,
        status: u16,
        body: &[u8],
    ) -> String {
        let shown = if kind == RequestKind::Messages && status == 200 {
            summarise_batch(body)
        } else {
            None
        };
        let shown = shown.unwrap_or_else(|| brief(&String::from_utf8_lossy(body), BODY_BRIEF));
        if shown.is_empty() {
            format!("← {status} [{id}]")
        } else {
            format!("← {status} [{id}] {shown}")
        }
    }

    /// `  event ...`, with times as offsets from the start.
    pub(crate) fn event(&self, ev: &Event) -> String {
        let text = match ev {
            Event::AgentMessage(m) => format!("AgentMessage({:?})", brief(&m.text, BODY_BRIEF)),
            Event::IdleWarning { ends_at } => {
                format!("IdleWarning {{ ends_at: {} }}", self.stamp(*ends_at))
            }
            Event::Retrying {
                request,
                attempt,
                at,
                cause,
            } => format!(
                "Retrying {{ request: {request:?}, attempt: {attempt}, at: {}, cause: {cause} }}",
                self.stamp(*at)
            ),
            Event::SwitchOffered {
                offer,
                endpoint,
                reason,
                decide_by,
            } => format!(
                "SwitchOffered {{ offer: {}, endpoint: {endpoint}, reason: {reason:?}, decide_by: {} }}",
                offer.0,
                self.stamp(*decide_by)
            ),
            Event::Ended(reason) => format!("Ended({reason})"),
            other => brief(&format!("{other:?}"), EVENT_BRIEF),
        };
        format!("  event {text}")
    }
}
