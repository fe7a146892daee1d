//! [`RawPayload`]: the payload of a message this crate could not type, kept as the JSON text the server sent,
//! and the redaction of its secret-bearing fields for `Debug` and logs.

use serde::Serialize;
use serde_json::value::RawValue;

/// The payload of a [`Message::Unknown`](super::Message::Unknown) or [`Message::Invalid`](super::Message::Invalid), kept as the JSON text the server sent.
///
/// Text rather than a `serde_json::Value` tree: a tree takes up to 97 times its text's length in memory (32
/// bytes per element, a 632-byte B-tree node per one-key object; `benches/backlog.rs`), so a hostile batch of
/// such payloads within the body cap pinned 100 MiB until the application drained it. The text is also the
/// more faithful record (key order, duplicate keys, numbers out of `f64` range survive).
///
/// Two payloads are equal when their texts are, or when both parse to the same `serde_json::Value`.
/// `Debug` redacts secret-bearing fields (`affinityToken`, `key`, `sessionKey`, at any depth): an undecodable
/// ReconnectSession still holds its token. `Serialize` writes the text as it is.
#[derive(Clone)]
pub struct RawPayload(Box<RawValue>);

impl RawPayload {
    /// `text` if it is JSON (surrounding whitespace dropped), otherwise `text` as a JSON string: nothing the
    /// server sent is lost.
    pub fn new(text: &str) -> RawPayload {
        match serde_json::from_str::<Box<RawValue>>(text) {
            Ok(raw) => RawPayload(raw),
            Err(_) => RawPayload::from_value(&serde_json::Value::String(text.to_owned())),
        }
    }

    /// A copy of JSON text already checked by the parser.
    pub(crate) fn from_raw(raw: &RawValue) -> RawPayload {
        RawPayload(raw.to_owned())
    }

    /// The JSON text of `value` (compact).
    pub fn from_value(value: &serde_json::Value) -> RawPayload {
        // A `Value` always serialises (its keys are strings); `null` only if that ever changed.
        RawPayload(
            serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned()),
        )
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The payload as a `serde_json::Value`, parsed on each call. Text that `Value` cannot hold (a number out
    /// of `f64` range such as `1e400`, nesting deeper than serde_json's limit) comes back as a string holding
    /// the text rather than as `null`, which would read as a different message.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.get())
            .unwrap_or_else(|_| serde_json::Value::String(self.get().to_owned()))
    }
}

impl From<serde_json::Value> for RawPayload {
    fn from(value: serde_json::Value) -> RawPayload {
        RawPayload::from_value(&value)
    }
}

impl PartialEq for RawPayload {
    fn eq(&self, other: &RawPayload) -> bool {
        self.get() == other.get() || self.to_value() == other.to_value()
    }
}

impl std::fmt::Debug for RawPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&redacted(&self.to_value()), f)
    }
}

impl Serialize for RawPayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Field names whose values are secrets wherever they appear in a raw payload.
const SECRET_FIELDS: &[&str] = &["affinitytoken", "key", "sessionkey"];

/// A copy of a message payload with the values of secret-bearing fields (`affinityToken`, `key`, `sessionKey`,
/// any case, any depth) replaced: for output meant for logs (the JSON boundary's events).
pub(crate) fn redacted_payload(raw: &serde_json::Value) -> serde_json::Value {
    redacted(raw)
}

/// A copy of `raw` with the values of [`SECRET_FIELDS`] (any case, any depth) replaced, for `Debug`.
fn redacted(raw: &serde_json::Value) -> serde_json::Value {
    match raw {
        // A payload kept as its JSON text (too deep or out of range for `Value`) may hold a token anywhere.
        serde_json::Value::String(s) => {
            let lower = s.to_ascii_lowercase();
            if SECRET_FIELDS
                .iter()
                .any(|f| lower.contains(&format!("\"{f}\"")))
            {
                serde_json::Value::String("<redacted JSON text>".into())
            } else {
                raw.clone()
            }
        }
        _ => redact_fields(raw),
    }
}

fn redact_fields(raw: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match raw {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if SECRET_FIELDS.contains(&k.to_ascii_lowercase().as_str()) {
                        Value::String("<redacted>".into())
                    } else {
                        redact_fields(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_fields).collect()),
        other => other.clone(),
    }
}
