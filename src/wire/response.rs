//! Parsers for every answer (spec §5, §6, §8). Each takes the HTTP status and the body bytes, checks the size
//! limit first, and returns a typed value or a [`DecodeError`] that says what, where and why.

use super::error::{offset_of, snippet, snippet_around};
use super::lenient;
use super::messages::{
    Availability, MessagesBody, RawEnvelope, ReconnectSession, Settings, VisitorId,
    parse_envelope_fast,
};
use super::{AffinityToken, DecodeError, MAX_SECRET_BYTES, SessionKey};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Limits applied before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bodies longer than this are refused with [`DecodeError::TooLarge`]. Default 1 MiB: the largest real
    /// batch we have seen is a few KiB.
    pub max_body_bytes: usize,
    /// A Messages envelope with more messages than this is refused with [`DecodeError::TooManyMessages`]
    /// before any message is decoded. Default 500: real batches hold a handful.
    pub max_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_messages: 500,
        }
    }
}

/// The SessionId answer (spec §6.1). `Debug` hides the key and the affinity token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SessionIdBody {
    /// Session id: goes into ChasitorInit `sessionId`.
    pub id: String,
    /// Session key: `X-LIVEAGENT-SESSION-KEY`.
    pub key: SessionKey,
    /// Affinity token: `X-LIVEAGENT-AFFINITY`.
    pub affinity_token: AffinityToken,
    /// Seconds a poll may stay silent (integer, or a numeric string as in the guide's example).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_poll_timeout: Option<i64>,
}

impl SessionIdBody {
    /// A SessionId answer with no `clientPollTimeout` (what a test or a simulator builds).
    pub fn new(id: impl Into<String>, key: SessionKey, affinity_token: AffinityToken) -> Self {
        SessionIdBody {
            id: id.into(),
            key,
            affinity_token,
            client_poll_timeout: None,
        }
    }
}

/// What a Messages poll returned.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MessagesAnswer {
    /// 200 with a batch.
    Batch(MessagesBody),
    /// 204, or a 200 with an empty body: nothing new; poll again with the same `ack`.
    NoContent,
}

fn check_size(what: &'static str, body: &[u8], limits: &Limits) -> Result<(), DecodeError> {
    if body.len() > limits.max_body_bytes {
        return Err(DecodeError::TooLarge {
            what,
            len: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    Ok(())
}

fn check_count(
    what: &'static str,
    env: &RawEnvelope<'_>,
    limits: &Limits,
) -> Result<(), DecodeError> {
    let len = env.messages.as_ref().map_or(0, Vec::len);
    if len > limits.max_messages {
        return Err(DecodeError::TooManyMessages {
            what,
            len,
            limit: limits.max_messages,
        });
    }
    Ok(())
}

fn expect_200(
    what: &'static str,
    status: u16,
    body: &[u8],
    secret: bool,
) -> Result<(), DecodeError> {
    if status == 200 {
        Ok(())
    } else {
        Err(DecodeError::UnexpectedStatus {
            what,
            status,
            snippet: if secret { String::new() } else { snippet(body) },
        })
    }
}

fn json_error(
    what: &'static str,
    status: u16,
    body: &[u8],
    e: &serde_json::Error,
    secret: bool,
) -> DecodeError {
    let (line, column) = (e.line(), e.column());
    DecodeError::Json {
        what,
        status,
        line,
        column,
        reason: without_position(e),
        snippet: if secret {
            String::new()
        } else {
            snippet_around(body, offset_of(body, line, column))
        },
    }
}

/// serde_json appends " at line L column C"; we report those separately.
fn without_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Parses the SessionId answer. Errors never quote the body (it holds the key).
pub fn parse_session_id(
    status: u16,
    body: &[u8],
    limits: &Limits,
) -> Result<SessionIdBody, DecodeError> {
    const WHAT: &str = "SessionId";
    check_size(WHAT, body, limits)?;
    expect_200(WHAT, status, body, true)?;
    let parsed: SessionIdBody =
        serde_json::from_slice(body).map_err(|e| json_error(WHAT, status, body, &e, true))?;
    check_credentials(&parsed.id, &parsed.key, &parsed.affinity_token).map_err(|reason| {
        DecodeError::Invalid {
            what: WHAT,
            reason: reason.into(),
        }
    })?;
    Ok(parsed)
}

/// The one rule for a session's credentials, applied to the SessionId answer and to a resumed snapshot
/// alike (so every snapshot the session writes resumes): an `id` and `key` of 1 to [`MAX_SECRET_BYTES`]
/// bytes, the key (and the affinity token, unless empty) visible ASCII, so each is a clean header value
/// (no padding, control bytes or 900 KiB). The error never quotes a value.
pub(crate) fn check_credentials(
    id: &str,
    key: &SessionKey,
    affinity: &AffinityToken,
) -> Result<(), &'static str> {
    if key.expose().is_empty() || id.is_empty() {
        return Err("empty `id` or `key`");
    }
    if id.len() > MAX_SECRET_BYTES {
        return Err("`id` is longer than 1024 bytes");
    }
    if !key.is_well_formed() || !(affinity.expose().is_empty() || affinity.is_well_formed()) {
        return Err("`key` or `affinityToken` is not 1-1024 bytes of visible ASCII");
    }
    Ok(())
}

/// Parses a Messages answer: 204 (or an empty 200) is [`MessagesAnswer::NoContent`]; a 200 body is the envelope
/// with each message typed (unknown types kept as [`Message::Unknown`](super::Message::Unknown)).
pub fn parse_messages(
    status: u16,
    body: &[u8],
    limits: &Limits,
) -> Result<MessagesAnswer, DecodeError> {
    const WHAT: &str = "Messages";
    check_size(WHAT, body, limits)?;
    match status {
        204 => return Ok(MessagesAnswer::NoContent),
        200 if body.iter().all(u8::is_ascii_whitespace) => return Ok(MessagesAnswer::NoContent),
        200 => {}
        _ => return expect_200(WHAT, status, body, false).map(|()| MessagesAnswer::NoContent),
    }
    if let Some(batch) = parse_envelope_fast(body, limits.max_messages) {
        return Ok(MessagesAnswer::Batch(batch));
    }
    let env: RawEnvelope<'_> =
        serde_json::from_slice(body).map_err(|e| json_error(WHAT, status, body, &e, false))?;
    check_count(WHAT, &env, limits)?;
    Ok(MessagesAnswer::Batch(env.into_body()))
}

/// Decodes a body that may come bare (`{...}`) or wrapped in a Messages envelope
/// (`{"messages":[{"type":NOUN,"message":{...}}]}`) (spec §5.1).
fn parse_wrapped_or_bare<T: DeserializeOwned>(
    what: &'static str,
    noun: &str,
    status: u16,
    body: &[u8],
    limits: &Limits,
    secret: bool,
) -> Result<T, DecodeError> {
    check_size(what, body, limits)?;
    expect_200(what, status, body, secret)?;
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| json_error(what, status, body, &e, secret))?;
    let payload = match value.get("messages").and_then(|m| m.as_array()) {
        Some(list) => {
            let found = list
                .iter()
                .find(|m| m.get("type").and_then(|t| t.as_str()) == Some(noun))
                .or_else(|| list.first());
            match found.and_then(|m| m.get("message")) {
                Some(p) => p.clone(),
                None => {
                    return Err(DecodeError::Invalid {
                        what,
                        reason: format!("wrapped answer has no `{noun}` message"),
                    });
                }
            }
        }
        None => value,
    };
    if !payload.is_object() {
        return Err(DecodeError::Invalid {
            what,
            reason: "expected a JSON object".into(),
        });
    }
    serde_json::from_value(payload).map_err(|e| DecodeError::Invalid {
        what,
        reason: without_position(&e),
    })
}

/// Parses the ReconnectSession answer, wrapped or bare. Errors never quote the body (it holds the token).
pub fn parse_reconnect_session(
    status: u16,
    body: &[u8],
    limits: &Limits,
) -> Result<ReconnectSession, DecodeError> {
    let r: ReconnectSession = parse_wrapped_or_bare(
        "ReconnectSession",
        "ReconnectSession",
        status,
        body,
        limits,
        true,
    )?;
    if r.affinity_token.is_empty() {
        return Err(DecodeError::Invalid {
            what: "ReconnectSession",
            reason: "missing `affinityToken`".into(),
        });
    }
    if !super::well_formed_secret(&r.affinity_token) {
        return Err(DecodeError::Invalid {
            what: "ReconnectSession",
            reason: format!("`affinityToken` is not 1-{MAX_SECRET_BYTES} bytes of visible ASCII"),
        });
    }
    Ok(r)
}

/// Parses the Visitor/Settings answer, wrapped or bare.
pub fn parse_settings(status: u16, body: &[u8], limits: &Limits) -> Result<Settings, DecodeError> {
    parse_wrapped_or_bare("Settings", "Settings", status, body, limits, false)
}

/// Parses the Visitor/Availability answer, wrapped or bare.
pub fn parse_availability(
    status: u16,
    body: &[u8],
    limits: &Limits,
) -> Result<Availability, DecodeError> {
    parse_wrapped_or_bare("Availability", "Availability", status, body, limits, false)
}

/// Parses the Visitor/VisitorId answer, wrapped or bare.
pub fn parse_visitor_id(
    status: u16,
    body: &[u8],
    limits: &Limits,
) -> Result<VisitorId, DecodeError> {
    parse_wrapped_or_bare("VisitorId", "VisitorId", status, body, limits, false)
}

/// Parses a `{"messages":[...]}` envelope regardless of status, e.g. a SwitchServer answer to a Visitor request.
pub fn parse_envelope(body: &[u8], limits: &Limits) -> Result<MessagesBody, DecodeError> {
    const WHAT: &str = "envelope";
    check_size(WHAT, body, limits)?;
    if let Some(batch) = parse_envelope_fast(body, limits.max_messages) {
        return Ok(batch);
    }
    let env: RawEnvelope<'_> =
        serde_json::from_slice(body).map_err(|e| json_error(WHAT, 200, body, &e, false))?;
    check_count(WHAT, &env, limits)?;
    Ok(env.into_body())
}
