//! Decodes captured Chat REST API response bodies and prints what they are, one JSON line each.
//!
//! ```text
//! cargo run --example decode -- FILE...
//! ```
//!
//! The kind of body is recognised by its content:
//!
//! * a Messages envelope (`{"messages": [...]}`, also the wrapped Settings/Availability/VisitorId/ReconnectSession/
//!   SwitchServer answers): one line for the envelope (`"kind":"Messages"`, count, sequence, offset), then one line
//!   per message with its typed kind, e.g. `{"file":"x.json","index":0,"kind":"ChatMessage","known":true,"message":{...}}`
//!   (`known` is false for a type this crate does not know, and for a known type whose payload did not decode);
//! * a bare SessionId, ReconnectSession, Settings, Availability or VisitorId answer: one line with that kind;
//! * an empty body (a 204 or an empty 200 poll): one `NoContent` line;
//! * plain error text such as `Out of sync Ack. Expected 498. Actual 4` or `Session required but was invalid or not
//!   found`: one `ErrorText` line. The status is taken from an `error-NNN` in the file name when there is one (the
//!   naming of the vendored fixtures), else 409 for the out-of-sync text, else it is unknown.
//!
//! Session keys and affinity tokens are never printed: they are replaced by `"<redacted>"`.
//!
//! Exit status: 0 when every file decoded; 1 when any file could not be read or decoded (invalid JSON, a shape that
//! is none of the above, a payload of a known type that does not fit it), with one line on stderr naming the file
//! and the problem; 2 for a usage error.

use liveagent::wire::{
    Limits, Message, ServerError, parse_availability, parse_envelope, parse_reconnect_session,
    parse_session_id, parse_settings, parse_visitor_id,
};
use serde_json::{Map, Value, json};
use std::process::ExitCode;

const REDACTED: &str = "<redacted>";

/// Field names whose values are secrets wherever they appear.
const SECRET_FIELDS: &[&str] = &["key", "affinityToken", "sessionKey"];

/// Longest plain-text body taken as an error message; servers answer errors with one short line.
const MAX_ERROR_TEXT: usize = 2048;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() || files.iter().any(|f| f == "-h" || f == "--help") {
        eprintln!("usage: cargo run --example decode -- FILE...");
        return ExitCode::from(2);
    }
    let mut ok = true;
    for file in &files {
        let decoded = std::fs::read(file)
            .map_err(|e| format!("cannot read the file: {e}"))
            .and_then(|body| decode(file, &body));
        let Decoded { lines, problems } = decoded.unwrap_or_else(|p| Decoded {
            lines: Vec::new(),
            problems: vec![p],
        });
        for line in lines {
            println!("{line}");
        }
        for p in &problems {
            eprintln!("decode: {file}: {p}");
        }
        ok &= problems.is_empty();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What one file decoded to: the lines to print, and the problems found (any problem fails the run).
struct Decoded {
    lines: Vec<Value>,
    problems: Vec<String>,
}

impl From<Vec<Value>> for Decoded {
    fn from(lines: Vec<Value>) -> Self {
        Decoded {
            lines,
            problems: Vec::new(),
        }
    }
}

/// Recognises one body and renders it as JSON lines; `Err` when it cannot be decoded at all.
fn decode(file: &str, body: &[u8]) -> Result<Decoded, String> {
    let limits = Limits::default();
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Ok(vec![json!({"file": file, "kind": "NoContent"})].into());
    }
    if !matches!(trimmed.first(), Some(b'{' | b'[')) {
        return error_text(file, body).map(|l| vec![l].into());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let Some(obj) = value.as_object() else {
        return Err(format!(
            "unknown shape: a JSON {} is none of the Chat REST API answers",
            type_name(&value)
        ));
    };
    let has = |k: &str| obj.contains_key(k);
    let one = |kind: &str, body: Value| -> Decoded {
        vec![json!({"file": file, "kind": kind, "body": body})].into()
    };
    let fail = |e: liveagent::wire::DecodeError| e.to_string();

    if has("messages") {
        return envelope(file, body, &limits);
    }
    if has("key") && has("affinityToken") {
        let s = parse_session_id(200, body, &limits).map_err(fail)?;
        return Ok(one(
            "SessionId",
            json!({
                "id": s.id,
                "key": REDACTED,
                "affinityToken": REDACTED,
                "clientPollTimeout": s.client_poll_timeout,
            }),
        ));
    }
    if has("affinityToken") {
        let r = parse_reconnect_session(200, body, &limits).map_err(fail)?;
        return Ok(one(
            "ReconnectSession",
            json!({
                "resetSequence": r.reset_sequence,
                "resetsSequence": r.resets_sequence(),
                "affinityToken": REDACTED,
            }),
        ));
    }
    if has("results") {
        let a = parse_availability(200, body, &limits).map_err(fail)?;
        return Ok(one("Availability", redacted(to_json(&a))));
    }
    if [
        "buttons",
        "button",
        "pingRate",
        "pingrate",
        "contentServerUrl",
    ]
    .iter()
    .any(|k| has(k))
    {
        let s = parse_settings(200, body, &limits).map_err(fail)?;
        return Ok(one("Settings", redacted(to_json(&s))));
    }
    if has("sessionId") {
        let v = parse_visitor_id(200, body, &limits).map_err(fail)?;
        return Ok(one("VisitorId", to_json(&v)));
    }
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.truncate(8);
    Err(format!(
        "unknown shape: a JSON object with keys {keys:?} is none of the Chat REST API answers"
    ))
}

/// A Messages envelope: a summary line, then one line per message.
fn envelope(file: &str, body: &[u8], limits: &Limits) -> Result<Decoded, String> {
    let env = parse_envelope(body, limits).map_err(|e| e.to_string())?;
    let mut lines = vec![json!({
        "file": file,
        "kind": "Messages",
        "count": env.messages.len(),
        "sequence": env.sequence,
        "offset": env.offset,
    })];
    let mut problems = Vec::new();
    for (index, m) in env.messages.iter().enumerate() {
        let mut line = Map::new();
        line.insert("file".into(), file.into());
        line.insert("index".into(), index.into());
        line.insert("kind".into(), m.kind().into());
        let known = !matches!(m, Message::Unknown { .. } | Message::Invalid { .. });
        line.insert("known".into(), known.into());
        if let Message::Invalid { error, .. } = m {
            line.insert("error".into(), error.as_str().into());
            problems.push(format!(
                "message {index} ({}) does not fit its type: {error}",
                m.kind()
            ));
        }
        line.insert("message".into(), redacted(m.payload_json()));
        lines.push(Value::Object(line));
    }
    Ok(Decoded { lines, problems })
}

/// A plain-text error body.
fn error_text(file: &str, body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body)
        .map_err(|e| format!("unknown shape: neither JSON nor UTF-8 text ({e})"))?;
    if body.len() > MAX_ERROR_TEXT {
        return Err(format!(
            "unknown shape: {} bytes of text, not JSON and too long for an error message",
            body.len()
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("unknown shape: text with control characters, not JSON".into());
    }
    let status = status_from_name(file).or_else(|| {
        text.to_ascii_lowercase()
            .contains("out of sync")
            .then_some(409)
    });
    let error = match ServerError::parse(status.unwrap_or(0), body) {
        ServerError::OutOfSync { expected, actual } => {
            json!({"kind": "OutOfSync", "expected": expected, "actual": actual})
        }
        ServerError::Status { text, .. } => json!({"kind": "Status", "text": text}),
        other => json!({"kind": "Other", "text": other.to_string()}),
    };
    Ok(json!({"file": file, "kind": "ErrorText", "status": status, "error": error}))
}

/// `...error-409-...` in the file name.
fn status_from_name(file: &str) -> Option<u16> {
    let name = std::path::Path::new(file).file_name()?.to_str()?;
    let rest = &name[name.find("error-")? + "error-".len()..];
    let digits = rest.get(..3)?;
    let status: u16 = digits.parse().ok()?;
    (100..600).contains(&status).then_some(status)
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Replaces the value of every secret-named field, at any depth.
fn redacted(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if SECRET_FIELDS.contains(&k.as_str()) && !child.is_null() {
                        *child = Value::from(REDACTED);
                    } else {
                        walk(child);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
