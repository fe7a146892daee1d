//! How the server writes its answers: text and JSON bodies (numbers quoted or not, as the dialect says),
//! Messages batches, and the transcript notes of each answer.

use crate::sim::dialect as d;
use crate::wire::{GeoLocation, Message, Noun};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;

pub(super) const TEXT: &str = "text/plain; charset=utf-8";

pub(super) const JSON: &str = "application/json";

/// A 200 Messages body serialised straight from a session's retained messages: the same JSON as the
/// equivalent [`MessagesBody`], without cloning the messages into one first.
pub(super) struct BatchBody<'a> {
    pub(super) retained: &'a VecDeque<(i64, Message)>,
    /// Only messages with an index up to this one (a `resync=required` barrier).
    pub(super) upto: i64,
    pub(super) sequence: i64,
    pub(super) offset: i64,
}

impl serde::Serialize for BatchBody<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Messages<'a>(&'a VecDeque<(i64, Message)>, i64);
        impl serde::Serialize for Messages<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let upto = self.1;
                s.collect_seq(
                    self.0
                        .iter()
                        .take_while(|(i, _)| *i <= upto)
                        .map(|(_, m)| m),
                )
            }
        }
        let mut st = s.serialize_struct("MessagesBody", 3)?;
        st.serialize_field("messages", &Messages(self.retained, self.upto))?;
        st.serialize_field("sequence", &self.sequence)?;
        st.serialize_field("offset", &self.offset)?;
        st.end()
    }
}

/// An answer before it becomes a response.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    pub(super) content_type: Option<&'static str>,
    pub(super) note: Note,
}

/// How an answer is described in the transcript; rendered only when the transcript is recorded.
pub(super) enum Note {
    /// `{status} {body}` (text answers: the body is the message).
    Body,
    /// `{status}`, or `{status} {note}` when the note is not empty.
    Status(Cow<'static, str>),
}

impl Answer {
    pub(super) fn text(status: u16, msg: &str) -> Answer {
        Answer {
            status,
            body: msg.as_bytes().to_vec(),
            content_type: Some(TEXT),
            note: Note::Body,
        }
    }
    pub(super) fn empty(status: u16, note: impl Into<Cow<'static, str>>) -> Answer {
        Answer {
            status,
            body: Vec::new(),
            content_type: None,
            note: Note::Status(note.into()),
        }
    }
    pub(super) fn json(body: Vec<u8>, note: String) -> Answer {
        Answer {
            status: 200,
            body,
            content_type: Some(JSON),
            note: Note::Status(note.into()),
        }
    }
    pub(super) fn describe(&self) -> String {
        let status = self.status;
        match &self.note {
            Note::Body => format!("{status} {}", String::from_utf8_lossy(&self.body)),
            Note::Status(n) if n.is_empty() => status.to_string(),
            Note::Status(n) => format!("{status} {n}"),
        }
    }
    /// JSON with numbers written as `numbers` says; numbers at object depth <= `keep_depth` (1: the
    /// Messages envelope's `sequence` and `offset`) are never quoted.
    pub(super) fn json_of<T: serde::Serialize>(
        value: &T,
        note: String,
        numbers: d::Numbers,
        keep_depth: usize,
    ) -> Answer {
        let mut out = Vec::with_capacity(128);
        let fmt = NumberFormatter {
            mode: numbers,
            depth: 0,
            keep_depth,
        };
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        match value.serialize(&mut ser) {
            Ok(()) => Answer::json(out, note),
            Err(e) => Answer::text(500, &format!("serialisation failed: {e}")),
        }
    }
}

/// Writes JSON numbers as the [`Numbers`](d::Numbers) switch says (spec §11, `field-evidence.md` §7):
/// integral floats as integers, as floats, or every number as a numeric string.
pub(super) struct NumberFormatter {
    pub(super) mode: d::Numbers,
    pub(super) depth: usize,
    pub(super) keep_depth: usize,
}

impl NumberFormatter {
    fn quoted(&self) -> bool {
        self.mode == d::Numbers::Strings && self.depth > self.keep_depth
    }

    fn int<W: ?Sized + std::io::Write>(
        &self,
        w: &mut W,
        v: impl fmt::Display,
    ) -> std::io::Result<()> {
        if self.quoted() {
            write!(w, "\"{v}\"")
        } else {
            write!(w, "{v}")
        }
    }
}

/// The largest integer an f64 holds exactly.
pub(super) const F64_EXACT: f64 = 9_007_199_254_740_992.0;

macro_rules! int_writers {
    ($($name:ident: $t:ty),+) => {
        $(fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: $t) -> std::io::Result<()> {
            self.int(w, v)
        })+
    };
}

impl serde_json::ser::Formatter for NumberFormatter {
    int_writers!(write_i8: i8, write_i16: i16, write_i32: i32, write_i64: i64, write_i128: i128,
        write_u8: u8, write_u16: u16, write_u32: u32, write_u64: u64, write_u128: u128);

    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        self.write_f64(w, f64::from(v))
    }

    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        let integral = v.is_finite() && v.fract() == 0.0 && v.abs() <= F64_EXACT;
        match self.mode {
            d::Numbers::Floats => serde_json::ser::CompactFormatter.write_f64(w, v),
            // Exact: |v| <= 2^53 and integral, so the cast loses nothing.
            _ if integral => self.int(w, v as i64),
            d::Numbers::Strings if self.quoted() => {
                w.write_all(b"\"")?;
                serde_json::ser::CompactFormatter.write_f64(w, v)?;
                w.write_all(b"\"")
            }
            _ => serde_json::ser::CompactFormatter.write_f64(w, v),
        }
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth = self.depth.saturating_add(1);
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        w.write_all(b"}")
    }
}

pub(super) fn build_response(a: Answer) -> Response<Vec<u8>> {
    let mut r = Response::new(a.body);
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = a.content_type {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    r
}

pub(super) fn quote(text: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    format!("{out:?}")
}

/// A short description of a message for the transcript.
pub(super) fn describe(m: &Message) -> String {
    match m {
        Message::ChatMessage(p) => format!("ChatMessage {}", quote(&p.text)),
        Message::QueueUpdate(p) => format!("QueueUpdate position {}", p.position.unwrap_or(-1)),
        Message::ChatRequestSuccess(p) => format!(
            "ChatRequestSuccess queuePosition {}",
            p.queue_position.unwrap_or(-1)
        ),
        Message::ChatEnded(p) => format!(
            "ChatEnded {}",
            p.reason.as_ref().map_or("?", |r| r.as_str())
        ),
        Message::ChatRequestFail(p) => {
            format!("ChatRequestFail {}", p.reason.as_deref().unwrap_or("?"))
        }
        Message::ChatEstablished(p) | Message::ChatTransferred(p) => {
            format!("{} {}", m.kind(), quote(p.name.as_deref().unwrap_or("")))
        }
        Message::SwitchServer(p) => format!("SwitchServer {}", p.new_url),
        Message::FileTransfer(p) => format!("FileTransfer {}", p.kind.as_deref().unwrap_or("?")),
        other => other.kind().to_owned(),
    }
}

pub(super) fn describe_noun(n: &Noun) -> String {
    match n {
        Noun::ChatMessage { text } => format!("ChatMessage {}", quote(text)),
        Noun::ChatEnd { reason } => format!("ChatEnd {reason}"),
        other => other.name().to_owned(),
    }
}

pub(super) fn geo() -> GeoLocation {
    GeoLocation {
        country_code: Some("US".into()),
        country_name: Some("United States".into()),
        region: Some("CA".into()),
        city: Some("San Francisco".into()),
        organization: Some("Example ISP".into()),
        latitude: Some(37.77),
        longitude: Some(-122.41),
    }
}

pub(super) fn npe() -> Answer {
    Answer::text(
        500,
        "Internal Server Error: java.lang.NullPointerException (chat not established)",
    )
}
