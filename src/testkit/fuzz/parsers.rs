//! The parser and codec targets: `parse_session_id`, `parse_messages`, `parse_visitor`, `parse_error` and
//! `decode_noun`. Their inputs are framed bytes (a selector or a status, then a body), documented on each.

use super::Finding;
use crate::Timestamp;
use crate::sim::{Reply as SimReply, Server, SimConfig};
use crate::testkit::wire_internals::{self, SNIPPET_LEN};
use crate::wire::{
    self, Api, DecodeError, Limits, Message, MessagesAnswer, MessagesBody, Noun, ServerError,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

/// Splits the status off an input: a first byte below 0xE0 means 200 (so a seed is `\0` + a fixture body);
/// from 0xE0 on, the next two bytes are the status, big-endian (any `u16`).
fn split_status(data: &[u8]) -> (u16, &[u8]) {
    match data {
        [b, hi, lo, rest @ ..] if *b >= 0xE0 => (u16::from_be_bytes([*hi, *lo]), rest),
        [_, rest @ ..] => (200, rest),
        [] => (200, &[]),
    }
}

/// Floats that print and parse back may move by an ulp with serde_json's default (not `float_roundtrip`)
/// parser; that is serde_json's documented trade-off, not a bug of the crate.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs())
}

/// JSON equality with [`close`] floats.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => close(p, q),
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// `a == b`, or equal as JSON up to [`close`] floats.
fn same<T: PartialEq + serde::Serialize + std::fmt::Debug>(
    what: &str,
    a: &T,
    b: &T,
) -> Result<(), Finding> {
    if a == b {
        return Ok(());
    }
    let (ja, jb) = (serde_json::to_value(a), serde_json::to_value(b));
    match (ja, jb) {
        (Ok(ja), Ok(jb)) if json_eq(&ja, &jb) => Ok(()),
        _ => fail!("{what}: round trip changed the value\n before: {a:?}\n after:  {b:?}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Typed,
    Unknown,
    Invalid,
}

fn class(m: &Message) -> Class {
    match m {
        Message::Unknown { .. } => Class::Unknown,
        Message::Invalid { .. } => Class::Invalid,
        _ => Class::Typed,
    }
}

/// A message and its round trip must agree: same `type`, same variant, same payload (floats up to [`close`]).
/// `Invalid::error` is not compared: it quotes serde_json's line and column, which move when the JSON is
/// re-printed compactly.
fn same_message(what: &str, a: &Message, b: &Message) -> Result<(), Finding> {
    if a == b {
        return Ok(());
    }
    let ok = a.kind() == b.kind()
        && class(a) == class(b)
        && json_eq(&a.payload_json(), &b.payload_json());
    ensure!(
        ok,
        "{what}: message changed in a round trip\n before: {a:?}\n after:  {b:?}"
    );
    Ok(())
}

fn same_body(what: &str, a: &MessagesBody, b: &MessagesBody) -> Result<(), Finding> {
    ensure!(
        a.sequence == b.sequence && a.offset == b.offset && a.messages.len() == b.messages.len(),
        "{what}: envelope changed in a round trip\n before: {a:?}\n after:  {b:?}"
    );
    for (x, y) in a.messages.iter().zip(&b.messages) {
        same_message(what, x, y)?;
    }
    Ok(())
}

fn to_json<T: serde::Serialize + std::fmt::Debug>(what: &str, v: &T) -> Result<Vec<u8>, Finding> {
    match serde_json::to_vec(v) {
        Ok(b) => Ok(b),
        Err(e) => fail!("{what}: {v:?} does not serialise: {e}"),
    }
}

/// Errors of parsers whose body holds secrets must not quote it.
fn no_snippet(what: &str, e: &DecodeError) -> Result<(), Finding> {
    match e {
        DecodeError::Json { snippet, .. } | DecodeError::UnexpectedStatus { snippet, .. } => {
            ensure!(snippet.is_empty(), "{what}: error quotes the body: {e:?}");
        }
        _ => {}
    }
    Ok(())
}

/// Every error renders, and its snippet stays short.
fn error_renders(e: &DecodeError) -> Result<(), Finding> {
    let _ = e.to_string();
    if let DecodeError::Json { snippet, .. } | DecodeError::UnexpectedStatus { snippet, .. } = e {
        // Lossy UTF-8 of at most SNIPPET_LEN bytes: each byte becomes at most U+FFFD (3 bytes).
        ensure!(
            snippet.len() <= 3 * SNIPPET_LEN,
            "snippet of {} bytes: {e:?}",
            snippet.len()
        );
    }
    Ok(())
}

fn limits_for(sel: u8) -> Limits {
    if sel & 0x40 != 0 {
        Limits {
            max_body_bytes: usize::from(sel & 0x3f),
            ..Limits::default()
        }
    } else {
        Limits::default()
    }
}

// ---------------------------------------------------------------------------------------------------------
// parse_session_id
// ---------------------------------------------------------------------------------------------------------

/// Input: `split_status` framing, then the body (bit 0x40 of the first byte below 0xE0: a tiny size limit).
///
/// Checks: no panic; errors never quote the body (it holds the key); an accepted body has a non-empty `id` and
/// `key`, and re-serialises and parses to the same value.
pub fn parse_session_id(data: &[u8]) -> Result<(), Finding> {
    let (status, body) = split_status(data);
    let limits = limits_for(data.first().copied().unwrap_or(0));
    match wire::parse_session_id(status, body, &limits) {
        Ok(v) => {
            ensure_eq!(status, 200, "SessionId accepted with status {status}");
            ensure!(!v.id.is_empty() && !v.key.expose().is_empty());
            let bytes = to_json("SessionIdBody", &v)?;
            match wire::parse_session_id(200, &bytes, &Limits::default()) {
                Ok(again) => ensure_eq!(v, again, "SessionIdBody round trip"),
                Err(e) => fail!("SessionIdBody {v:?} re-serialised does not parse: {e}"),
            }
        }
        Err(e) => {
            error_renders(&e)?;
            no_snippet("SessionId", &e)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// parse_messages
// ---------------------------------------------------------------------------------------------------------

/// Input: the first byte chooses the mode.
/// * below 0xC0: `split_status` framing and a Messages body (`parse_messages`, and `parse_envelope` on the
///   same bytes);
/// * 0xC0..0xE0: `Message::decode` with the type `KNOWN_MESSAGE_TYPES[second byte]` (or an unknown type past
///   the end) and the rest, as lossy UTF-8, as the payload;
/// * from 0xE0: `split_status` framing with an explicit status.
///
/// Checks: no panic; `parse_messages(200, b)` and `parse_envelope(b)` agree; the decoded `MessagesBody`
/// serialised and parsed again is the same (see `same_message` for how `Invalid`/`Unknown` and floats are
/// compared); each `Message` serialised alone and deserialised is the same; serialising is then stable.
pub fn parse_messages(data: &[u8]) -> Result<(), Finding> {
    let sel = data.first().copied().unwrap_or(0);
    if (0xC0..0xE0).contains(&sel) {
        return decode_one(data.get(1..).unwrap_or_default());
    }
    let (status, body) = split_status(data);
    let limits = limits_for(sel);
    let answer = wire::parse_messages(status, body, &limits);
    let envelope = wire::parse_envelope(body, &limits);
    match &answer {
        Ok(MessagesAnswer::Batch(b)) => {
            ensure_eq!(status, 200, "a batch from status {status}");
            match &envelope {
                Ok(e) => ensure_eq!(b, e, "parse_messages and parse_envelope disagree"),
                Err(e) => fail!("parse_messages accepted what parse_envelope refused: {e}"),
            }
            check_body(b)?;
        }
        Ok(_) => {
            // NoContent: 204, or a 200 of whitespace.
            ensure!(
                status == 204 || (status == 200 && body.iter().all(u8::is_ascii_whitespace)),
                "NoContent for status {status} and a non-blank body"
            );
        }
        Err(e) => error_renders(e)?,
    }
    if let Ok(e) = &envelope {
        check_body(e)?;
    }
    Ok(())
}

fn check_body(b: &MessagesBody) -> Result<(), Finding> {
    let bytes = to_json("MessagesBody", b)?;
    let again = match wire::parse_messages(
        200,
        &bytes,
        &Limits {
            max_body_bytes: usize::MAX,
            max_messages: usize::MAX,
        },
    ) {
        Ok(MessagesAnswer::Batch(again)) => again,
        other => fail!(
            "MessagesBody re-serialised does not parse as a batch: {other:?}\n {}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    same_body("MessagesBody", b, &again)?;
    // Printing is stable after one round trip (the first may drop unknown fields and normalise aliases, and
    // turns a duplicate-key `Invalid` typed).
    let bytes2 = to_json("MessagesBody", &again)?;
    let third = match wire::parse_messages(
        200,
        &bytes2,
        &Limits {
            max_body_bytes: usize::MAX,
            max_messages: usize::MAX,
        },
    ) {
        Ok(MessagesAnswer::Batch(third)) => third,
        other => fail!("MessagesBody re-serialised twice does not parse as a batch: {other:?}"),
    };
    let bytes3 = to_json("MessagesBody", &third)?;
    if bytes2 != bytes3 {
        let (a, c) = (
            serde_json::from_slice::<Value>(&bytes2),
            serde_json::from_slice::<Value>(&bytes3),
        );
        ensure!(
            matches!((&a, &c), (Ok(a), Ok(c)) if json_eq(a, c)),
            "MessagesBody prints differently after a round trip"
        );
    }
    for m in &b.messages {
        check_message(m)?;
    }
    Ok(())
}

fn check_message(m: &Message) -> Result<(), Finding> {
    let bytes = to_json("Message", m)?;
    match serde_json::from_slice::<Message>(&bytes) {
        Ok(again) => same_message("Message", m, &again),
        Err(e) => fail!(
            "Message {m:?} re-serialised does not deserialise: {e}\n {}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}

fn decode_one(data: &[u8]) -> Result<(), Finding> {
    let (kind, payload) = match data.split_first() {
        Some((k, rest)) => (
            wire::KNOWN_MESSAGE_TYPES
                .get(usize::from(*k))
                .copied()
                .unwrap_or("SomethingNew"),
            rest,
        ),
        None => ("ChatMessage", data),
    };
    let payload = String::from_utf8_lossy(payload);
    let m = Message::decode(kind, &payload);
    ensure_eq!(m.kind(), kind, "Message::decode changed the type");
    let _ = format!("{m:?}");
    // Only payloads that are JSON can be re-serialised meaningfully.
    if serde_json::from_str::<Value>(&payload).is_ok() {
        check_message(&m)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// parse_visitor
// ---------------------------------------------------------------------------------------------------------

/// Input: the first byte's low two bits pick Settings, Availability, VisitorId or ReconnectSession; bit 0x80
/// means the next two bytes are the status (else 200); bit 0x40 a tiny size limit; the rest is the body.
///
/// Checks: no panic; a parsed value re-serialised bare, and wrapped in a Messages envelope, parses to the same
/// value; ReconnectSession errors never quote the body and an accepted one has a token.
pub fn parse_visitor(data: &[u8]) -> Result<(), Finding> {
    let Some((&sel, rest)) = data.split_first() else {
        return Ok(());
    };
    let (status, body) = match rest {
        [hi, lo, body @ ..] if sel & 0x80 != 0 => (u16::from_be_bytes([*hi, *lo]), body),
        _ => (200, rest),
    };
    let limits = limits_for(sel);
    match sel & 3 {
        0 => visitor_round_trip("Settings", status, body, &limits, wire::parse_settings),
        1 => visitor_round_trip(
            "Availability",
            status,
            body,
            &limits,
            wire::parse_availability,
        ),
        2 => visitor_round_trip("VisitorId", status, body, &limits, wire::parse_visitor_id),
        _ => {
            match wire::parse_reconnect_session(status, body, &limits) {
                Ok(r) => ensure!(
                    !r.affinity_token.is_empty(),
                    "ReconnectSession without a token"
                ),
                Err(e) => no_snippet("ReconnectSession", &e)?,
            }
            visitor_round_trip(
                "ReconnectSession",
                status,
                body,
                &limits,
                wire::parse_reconnect_session,
            )
        }
    }
}

fn visitor_round_trip<T>(
    noun: &str,
    status: u16,
    body: &[u8],
    limits: &Limits,
    parse: fn(u16, &[u8], &Limits) -> Result<T, DecodeError>,
) -> Result<(), Finding>
where
    T: PartialEq + serde::Serialize + std::fmt::Debug,
{
    let v = match parse(status, body, limits) {
        Ok(v) => v,
        Err(e) => {
            error_renders(&e)?;
            return Ok(());
        }
    };
    ensure_eq!(status, 200, "{noun} accepted with status {status}");
    let bare = to_json(noun, &v)?;
    let big = Limits {
        max_body_bytes: usize::MAX,
        max_messages: usize::MAX,
    };
    match parse(200, &bare, &big) {
        Ok(again) => same(noun, &v, &again)?,
        Err(e) => fail!(
            "{noun} re-serialised bare does not parse: {e}\n {}",
            String::from_utf8_lossy(&bare)
        ),
    }
    let payload = serde_json::to_value(&v).unwrap_or(Value::Null);
    let wrapped = serde_json::json!({"messages": [{"type": noun, "message": payload}]});
    let wrapped = to_json(noun, &wrapped)?;
    match parse(200, &wrapped, &big) {
        Ok(again) => same(noun, &v, &again)?,
        Err(e) => fail!(
            "{noun} re-serialised wrapped does not parse: {e}\n {}",
            String::from_utf8_lossy(&wrapped)
        ),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// parse_error
// ---------------------------------------------------------------------------------------------------------

/// Input: two bytes of status (big-endian, any `u16`), then the body.
///
/// Checks: no panic; `status()` is the status given; `OutOfSync` only for 409 with "out of sync" in the text,
/// and it re-renders to the peer's text and parses back to the same numbers; otherwise the text is trimmed, at
/// most `SNIPPET_LEN` bytes, and parsing it again gives the same error (when it cannot turn into the 409 case).
pub fn parse_error(data: &[u8]) -> Result<(), Finding> {
    let (status, body) = match data {
        [hi, lo, body @ ..] => (u16::from_be_bytes([*hi, *lo]), body),
        _ => (409, data),
    };
    let e = ServerError::parse(status, body);
    let _ = e.to_string();
    ensure_eq!(e.status(), status, "status changed: {e:?}");
    match &e {
        ServerError::OutOfSync { expected, actual } => {
            ensure_eq!(status, 409, "OutOfSync for status {status}");
            let lower = String::from_utf8_lossy(body).to_ascii_lowercase();
            ensure!(lower.contains("out of sync"), "OutOfSync without the words");
            let text = format!("Out of sync Ack. Expected {expected}. Actual {actual}");
            ensure_eq!(
                ServerError::parse(409, text.as_bytes()),
                e,
                "OutOfSync round trip"
            );
        }
        ServerError::Status { text, .. } => {
            ensure!(text.len() <= SNIPPET_LEN, "text of {} bytes", text.len());
            ensure_eq!(text.trim(), text, "text not trimmed");
            let again = ServerError::parse(status, text.as_bytes());
            if status != 409 {
                ensure_eq!(again, e, "Status round trip");
            }
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// decode_noun
// ---------------------------------------------------------------------------------------------------------

/// Input: the first byte's low bits pick `NOUN_NAMES[b % (len + 1)]`; the extra value means "a name of its own":
/// the rest up to the first newline. Bit 0x80: also send the body to the simulator as a Chasitor POST of that
/// noun; bit 0x40: as the `object` of a MultiNoun entry. The rest is the body.
///
/// Checks: no panic (in the codec or in the simulator); a decoded noun has the name asked for, its `body()`
/// builds, decodes to the same noun, and a request built with `Api::chasitor` carries that body; the simulator
/// answers every request.
pub fn decode_noun(data: &[u8]) -> Result<(), Finding> {
    let Some((&sel, rest)) = data.split_first() else {
        return Ok(());
    };
    let names = wire_internals::NOUN_NAMES;
    let pick = usize::from(sel & 0x3f) % (names.len() + 1);
    let (name, body): (String, &[u8]) = match names.get(pick) {
        Some(n) => ((*n).to_owned(), rest),
        None => {
            let cut = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            (
                String::from_utf8_lossy(rest.get(..cut).unwrap_or_default()).into_owned(),
                rest.get(cut.saturating_add(1)..).unwrap_or_default(),
            )
        }
    };
    if let Ok(noun) = Noun::decode(&name, body) {
        ensure_eq!(noun.name(), name, "decoded under another name");
        let encoded = match noun.body() {
            Ok(b) => b,
            Err(e) => fail!("{noun:?}: body() failed: {e}"),
        };
        match Noun::decode(&name, &encoded) {
            Ok(again) => ensure_eq!(noun, again, "Noun round trip"),
            Err(e) => fail!(
                "{noun:?} encoded as {} does not decode: {e}",
                String::from_utf8_lossy(&encoded)
            ),
        }
        let endpoint = match wire::Endpoint::parse("https://d.la1-c1-fuzz.salesforceliveagent.com")
        {
            Ok(e) => e,
            Err(e) => fail!("endpoint: {e}"),
        };
        let key = wire::SessionKey::new("k");
        let token = wire::AffinityToken::new("t");
        let auth = wire::SessionAuth {
            key: &key,
            affinity: Some(&token),
        };
        match Api::new(&endpoint, 59).chasitor(auth, &noun, 1) {
            Ok(req) => ensure_eq!(req.body(), &encoded, "request body differs from body()"),
            Err(e) => fail!("{noun:?}: chasitor request failed: {e}"),
        }
    }
    if sel & 0xC0 != 0 {
        sim_post(&name, body, sel & 0x40 != 0)?;
    }
    Ok(())
}

/// Opens a session on a fresh simulator and sends `body` as a POST of noun `name` (or inside a MultiNoun).
fn sim_post(name: &str, body: &[u8], multi: bool) -> Result<(), Finding> {
    let now = Timestamp::ZERO;
    let config = SimConfig::default();
    let Ok(endpoint) = config.endpoint() else {
        return Ok(());
    };
    let mut server = Server::new(config, now);
    let api = Api::new(&endpoint, 59);
    let Ok(req) = api.session_id() else {
        return Ok(());
    };
    let t = server.handle_request(&req, now);
    let Some((t2, SimReply::Response(resp))) = server.poll_reply(now) else {
        fail!("the simulator did not answer SessionId");
    };
    ensure_eq!(t, t2);
    let Ok(s) = wire::parse_session_id(resp.status().as_u16(), resp.body(), &Limits::default())
    else {
        fail!("the simulator's SessionId answer does not parse");
    };
    let (path, body) = if multi {
        let object = serde_json::from_slice::<Value>(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        let entry = if object.is_string() {
            serde_json::json!({"prefix": "Chasitor", "noun": name, "data": object})
        } else {
            serde_json::json!({"prefix": "Chasitor", "noun": name, "object": object})
        };
        (
            "/chat/rest/System/MultiNoun".to_owned(),
            to_json("MultiNoun", &serde_json::json!({"nouns": [entry]}))?,
        )
    } else {
        let mut p = "/chat/rest/Chasitor/".to_owned();
        wire_internals::encode_path_segment(name, &mut p);
        (p, body.to_vec())
    };
    let req = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("{endpoint}{path}"))
        .header(wire::header::API_VERSION, "59")
        .header(wire::header::SESSION_KEY, s.key.expose())
        .header(wire::header::AFFINITY, s.affinity_token.expose())
        .header(wire::header::SEQUENCE, "1")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body);
    let Ok(req) = req else {
        return Ok(());
    };
    let t = server.handle_request(&req, now);
    match server.poll_reply(now) {
        Some((t2, _)) => ensure_eq!(t, t2, "the simulator answered another ticket"),
        None => fail!("the simulator did not answer a POST at once"),
    }
    let _ = server.transcript_text();
    Ok(())
}
