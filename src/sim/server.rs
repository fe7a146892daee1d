//! The request handlers and the event loop of [`Server`].

#[path = "upload.rs"]
mod upload;

use super::conformance::{ConformanceReport, Finding, SessionReport, Severity, codes};
use super::dialect as d;
use super::session::{Armed, DialectState, Effects, Held, Session, Switch};
use super::timers::TimerQueue;
use super::{
    AgentAction, EndReason, FaultKind, OFFSET_BASE, OFFSET_STRIDE, Reply, Server, SessionRecord,
    SessionState, SimConfig, Ticket, Timer, TranscriptLine, Trigger, VisitorEvent,
    offset_for_index, rng,
};
use crate::time::Timestamp;
use crate::wire::{
    self, AgentInfo, AgentMessage, AgentRef, ChasitorSessionData, ChatEnded, ChatRequestFail,
    ChatRequestSuccess, CustomEvent, FileTransfer, GeoLocation, Message, MessagesBody, Noun,
    QueueUpdate, ReconnectSession, RichItem, RichMessage, SessionIdBody, TranscriptEntry, header,
};
use http::header::{CONTENT_TYPE, HOST, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;

const SESSION_INVALID: &str = "Session required but was invalid or not found";
const NO_VERSION: &str = "No version header found";
const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// A 200 Messages body serialised straight from a session's retained messages: the same JSON as the
/// equivalent [`MessagesBody`], without cloning the messages into one first.
struct BatchBody<'a> {
    retained: &'a VecDeque<(i64, Message)>,
    /// Only messages with an index up to this one (a `resync=required` barrier).
    upto: i64,
    sequence: i64,
    offset: i64,
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
struct Answer {
    status: u16,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    note: Note,
}

/// How an answer is described in the transcript; rendered only when the transcript is recorded.
enum Note {
    /// `{status} {body}` (text answers: the body is the message).
    Body,
    /// `{status}`, or `{status} {note}` when the note is not empty.
    Status(Cow<'static, str>),
}

impl Answer {
    fn text(status: u16, msg: &str) -> Answer {
        Answer {
            status,
            body: msg.as_bytes().to_vec(),
            content_type: Some(TEXT),
            note: Note::Body,
        }
    }
    fn empty(status: u16, note: impl Into<Cow<'static, str>>) -> Answer {
        Answer {
            status,
            body: Vec::new(),
            content_type: None,
            note: Note::Status(note.into()),
        }
    }
    fn json(body: Vec<u8>, note: String) -> Answer {
        Answer {
            status: 200,
            body,
            content_type: Some(JSON),
            note: Note::Status(note.into()),
        }
    }
    fn describe(&self) -> String {
        let status = self.status;
        match &self.note {
            Note::Body => format!("{status} {}", String::from_utf8_lossy(&self.body)),
            Note::Status(n) if n.is_empty() => status.to_string(),
            Note::Status(n) => format!("{status} {n}"),
        }
    }
    /// JSON with numbers written as `numbers` says; numbers at object depth <= `keep_depth` (1: the
    /// Messages envelope's `sequence` and `offset`) are never quoted.
    fn json_of<T: serde::Serialize>(
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
struct NumberFormatter {
    mode: d::Numbers,
    depth: usize,
    keep_depth: usize,
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
const F64_EXACT: f64 = 9_007_199_254_740_992.0;

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

enum Outcome {
    Respond(Answer),
    Held,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    SessionId,
    DeleteSession(String),
    Reconnect,
    Messages,
    Chasitor(&'static str),
    MultiNoun,
    Settings,
    Availability,
    VisitorId,
    Breadcrumb,
}

/// Per-request context.
struct Ctx {
    ticket: Ticket,
    now: Timestamp,
    session: Option<usize>,
    fx: Effects,
    line: String,
    /// Session-level fault kinds from a ServerRequest trigger, applied once the session is known.
    session_kinds: Vec<FaultKind>,
    /// End the request's session once the reply is queued (it delivered the final message).
    end_after: Option<EndReason>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Poll,
    Post,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Affinity {
    /// The current token is required.
    Token,
    /// Not checked by the gate (ReconnectSession checks `null` itself).
    Unchecked,
}

fn route(method: &Method, path: &str) -> Result<Route, Answer> {
    let Some(rest) = path.strip_prefix("/chat/rest/") else {
        return Err(Answer::text(404, "Not Found"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut parts = rest.splitn(3, '/');
    let prefix = parts.next().unwrap_or_default();
    let noun = parts.next().unwrap_or_default();
    let tail = parts.next();
    let (route, allowed): (Route, Method) = match (prefix, noun, tail) {
        ("System", "SessionId", None) => (Route::SessionId, Method::GET),
        ("System", "SessionId", Some(key)) if !key.is_empty() && !key.contains('/') => (
            Route::DeleteSession(wire::percent_decode(key)),
            Method::DELETE,
        ),
        ("System", "ReconnectSession", None) => (Route::Reconnect, Method::GET),
        ("System", "Messages", None) => (Route::Messages, Method::GET),
        ("System", "MultiNoun", None) => (Route::MultiNoun, Method::POST),
        ("Chasitor", n, None) => match wire::NOUN_NAMES.iter().find(|k| **k == n) {
            Some(k) => (Route::Chasitor(k), Method::POST),
            None => return Err(Answer::text(404, "Not Found")),
        },
        ("Visitor", "Settings", None) => (Route::Settings, Method::GET),
        ("Visitor", "Availability", None) => (Route::Availability, Method::GET),
        ("Visitor", "VisitorId", None) => (Route::VisitorId, Method::GET),
        ("Visitor", "Breadcrumb", None) => (Route::Breadcrumb, Method::POST),
        _ => return Err(Answer::text(404, "Not Found")),
    };
    if *method == allowed {
        Ok(route)
    } else {
        Err(Answer::text(405, "Method Not Allowed"))
    }
}

/// Decoded query pairs; text without escapes is borrowed, not copied.
type Query<'a> = [(Cow<'a, str>, Cow<'a, str>)];

fn decode(s: &str) -> Cow<'_, str> {
    if s.contains('%') {
        Cow::Owned(wire::percent_decode(s))
    } else {
        Cow::Borrowed(s)
    }
}

fn query_pairs(query: Option<&str>) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn param<'a>(pairs: &'a Query<'_>, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_ref())
}

/// `[a,b]` or a bare `a` or `a,b`.
fn list(value: &str) -> Vec<String> {
    let v = value.trim();
    let v = v.strip_prefix('[').unwrap_or(v);
    let v = v.strip_suffix(']').unwrap_or(v);
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn header_str<B>(req: &Request<B>, name: http::HeaderName) -> Option<&str> {
    let headers = req.headers();
    // A visitor request carries a handful of headers: comparing names is cheaper than hashing one (a custom
    // name is hashed byte by byte). `iter` yields a name's first value first, as `get` returns it.
    let value = if headers.len() <= 16 {
        headers.iter().find(|(n, _)| **n == name).map(|(_, v)| v)
    } else {
        headers.get(name)
    };
    value.and_then(|v| v.to_str().ok())
}

fn authority_of<B>(req: &Request<B>) -> Option<String> {
    req.uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| header_str(req, HOST).map(str::to_owned))
}

fn parse_version(v: &str) -> Option<u32> {
    let v = v.trim();
    let v = v.strip_suffix(".0").unwrap_or(v);
    v.parse().ok()
}

fn build_response(a: Answer) -> Response<Vec<u8>> {
    let mut r = Response::new(a.body);
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = a.content_type {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    r
}

fn quote(text: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    format!("{out:?}")
}

/// A short description of a message for the transcript.
fn describe(m: &Message) -> String {
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

fn describe_noun(n: &Noun) -> String {
    match n {
        Noun::ChatMessage { text } => format!("ChatMessage {}", quote(text)),
        Noun::ChatEnd { reason } => format!("ChatEnd {reason}"),
        other => other.name().to_owned(),
    }
}

fn geo() -> GeoLocation {
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

impl Server {
    /// A server with no sessions; `now` is time zero of the transcript.
    pub fn new(config: SimConfig, now: Timestamp) -> Server {
        let session_faults = config
            .faults
            .faults
            .iter()
            .enumerate()
            .filter(|(_, f)| !matches!(f.at, Trigger::ServerRequest(_)))
            .map(|(i, _)| i)
            .collect();
        let any_duplicate_fault = config
            .faults
            .faults
            .iter()
            .any(|f| f.kind == FaultKind::DuplicateBatch);
        Server {
            rng: rng::SplitMix64::new(config.seed),
            config,
            start: now,
            now,
            sessions: Vec::new(),
            by_key: HashMap::default(),
            by_id: HashMap::default(),
            timers: TimerQueue::new(now),
            timer_seq: 0,
            ready: TimerQueue::new(now),
            ready_seq: 0,
            next_ticket: 1,
            server_requests: 0,
            global: Armed::default(),
            transcript: Vec::new(),
            dirty: Vec::new(),
            live: 0,
            session_faults,
            any_duplicate_fault,
            held_by_ticket: HashMap::default(),
            deferred: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Receives one request. Never panics: malformed requests get error answers. The answer is available
    /// from [`poll_reply`](Self::poll_reply) at once, or later for a held poll or a delayed reply.
    pub fn handle_request<B: AsRef<[u8]>>(&mut self, req: &Request<B>, now: Timestamp) -> Ticket {
        let now = self.clock(now);
        self.advance(now);
        let ticket = Ticket(self.next_ticket);
        self.next_ticket = self.next_ticket.saturating_add(1);
        self.server_requests = self.server_requests.saturating_add(1);
        let mut ctx = Ctx {
            ticket,
            now,
            session: None,
            fx: Effects::default(),
            // Transcript text is only built when the transcript is kept (it dominated load runs).
            line: if self.config.record_transcript {
                request_line(req)
            } else {
                String::new()
            },
            session_kinds: Vec::new(),
            end_after: None,
        };
        // Lines caused by the request (emits, faults) are logged after the request's own line.
        self.deferred = Some(Vec::new());
        let outcome = self.dispatch(req, &mut ctx);
        let deferred = self.deferred.take().unwrap_or_default();
        match outcome {
            Outcome::Respond(a) => {
                let line = ctx.line.clone();
                self.send(ticket, ctx.session, a, ctx.fx, now, Some(line));
                if let (Some(si), Some(reason)) = (ctx.session, ctx.end_after) {
                    self.end_session(si, reason, now);
                }
            }
            Outcome::Held => {
                if self.config.record_transcript {
                    let text = format!("{} -> held", ctx.line);
                    self.log(now, Some(ticket), ctx.session, text);
                }
            }
        }
        // Inserted right after the request line (the end of a session, if any, comes after them).
        if self.config.record_transcript && !deferred.is_empty() {
            let at = self
                .transcript
                .iter()
                .rposition(|l| l.ticket == Some(ticket))
                .map_or(self.transcript.len(), |i| i.saturating_add(1));
            let tail = self.transcript.split_off(at.min(self.transcript.len()));
            self.transcript.extend(deferred);
            self.transcript.extend(tail);
        }
        self.flush(now);
        ticket
    }

    /// The next reply that is ready at `now`, in order of readiness (then of arrival).
    pub fn poll_reply(&mut self, now: Timestamp) -> Option<(Ticket, Reply)> {
        let now = self.clock(now);
        self.advance(now);
        let key = self.ready.first_key()?;
        if key.0 > now {
            return None;
        }
        self.ready.remove(&key)
    }

    /// When something next happens: a reply becomes ready, a held poll expires, an agent step or a timed
    /// fault is due, a session idles out. `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let reply = self.ready.first_key().map(|k| k.0);
        let timer = self.timers.first_key().map(|k| k.0);
        match (reply, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances the clock to `now`, running everything due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.clock(now);
        self.advance(now);
    }

    /// The transport lost the connection of `ticket` (e.g. the client gave up on a poll): a held poll is
    /// released without an answer, a ready reply is discarded. Returns whether anything was pending.
    pub fn cancel(&mut self, ticket: Ticket, now: Timestamp) -> bool {
        let now = self.clock(now);
        self.advance(now);
        let mut found = false;
        if let Some(si) = self.held_by_ticket.remove(&ticket.0) {
            if let Some(h) = self.sessions.get_mut(si).and_then(|s| s.held.take()) {
                self.timers.remove(&h.timer);
                found = true;
            }
            self.set_idle(si, now);
            self.log(
                now,
                Some(ticket),
                Some(si),
                "connection closed by the client".into(),
            );
        }
        if self.ready.remove_where(|(t, _)| *t == ticket) > 0 {
            found = true;
        }
        self.flush(now);
        found
    }

    /// Everything the server saw and did, in order.
    pub fn transcript(&self) -> &[TranscriptLine] {
        &self.transcript
    }

    /// The transcript as text, one line per entry.
    pub fn transcript_text(&self) -> String {
        let mut out = String::new();
        for l in &self.transcript {
            out.push_str(&l.to_string());
            out.push('\n');
        }
        out
    }

    /// The record of the session with this id.
    pub fn session(&self, session_id: &str) -> Option<&SessionRecord> {
        let si = *self.by_id.get(session_id)?;
        self.sessions.get(si).map(|s| &s.rec)
    }

    /// The record of the session with this creation index.
    pub fn session_by_index(&self, index: usize) -> Option<&SessionRecord> {
        self.sessions.get(index).map(|s| &s.rec)
    }

    /// Visitor ChatMessage texts the session received, in order, each once.
    pub fn visitor_messages(&self, session_id: &str) -> Option<&[String]> {
        self.session(session_id)
            .map(|r| r.visitor_messages.as_slice())
    }

    /// Agent ChatMessage texts the session emitted, in order.
    pub fn agent_messages(&self, session_id: &str) -> Option<&[String]> {
        self.session(session_id)
            .map(|r| r.agent_messages.as_slice())
    }

    /// Every session ever created (ended ones included), in creation order.
    pub fn sessions(&self) -> impl Iterator<Item = &SessionRecord> + '_ {
        self.sessions.iter().map(|s| &s.rec)
    }

    /// Sessions not yet ended.
    pub fn live_sessions(&self) -> usize {
        self.live
    }

    /// Makes the agent of a session do `action` now (interactive use). Returns false if there is no such
    /// session or the action does not fit its state.
    pub fn agent_act(&mut self, session_id: &str, action: AgentAction, now: Timestamp) -> bool {
        let now = self.clock(now);
        self.advance(now);
        let Some(&si) = self.by_id.get(session_id) else {
            return false;
        };
        let done = self.run_action(si, &action, now);
        self.flush(now);
        done
    }

    /// The agent says `text` now.
    pub fn agent_say(&mut self, session_id: &str, text: &str, now: Timestamp) -> bool {
        self.agent_act(session_id, AgentAction::Say { text: text.into() }, now)
    }

    /// The agent types (true) or stops typing (false) now.
    pub fn agent_typing(&mut self, session_id: &str, typing: bool, now: Timestamp) -> bool {
        let action = if typing {
            AgentAction::Typing
        } else {
            AgentAction::NotTyping
        };
        self.agent_act(session_id, action, now)
    }

    /// The agent ends the chat now (ChatEnded reason `agent`).
    pub fn agent_end(&mut self, session_id: &str, now: Timestamp) -> bool {
        self.agent_act(session_id, AgentAction::End, now)
    }

    /// Fires a fault on a session now, as a time trigger would. Returns false if there is no such live session.
    pub fn inject_fault(&mut self, session_id: &str, kind: FaultKind, now: Timestamp) -> bool {
        let now = self.clock(now);
        self.advance(now);
        let Some(&si) = self.by_id.get(session_id) else {
            return false;
        };
        if !self.is_live(si) {
            return false;
        }
        self.fire(si, kind, now, None);
        self.flush(now);
        true
    }

    // ----------------------------------------------------------------------------------------------------
    // clock, timers, transcript

    fn clock(&mut self, now: Timestamp) -> Timestamp {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    fn elapsed_ms(&self, t: Timestamp) -> i64 {
        let ms = t.saturating_duration_since(self.start).as_millis();
        self.config
            .epoch_ms
            .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    fn log(&mut self, t: Timestamp, ticket: Option<Ticket>, session: Option<usize>, text: String) {
        if self.config.record_transcript {
            let line = TranscriptLine {
                at: t.saturating_duration_since(self.start),
                ticket,
                session,
                text,
            };
            match self.deferred.as_mut() {
                Some(d) => d.push(line),
                None => self.transcript.push(line),
            }
        }
    }

    fn add_timer(&mut self, at: Timestamp, timer: Timer) -> (Timestamp, u64) {
        let key = (at, self.timer_seq);
        self.timer_seq = self.timer_seq.wrapping_add(1);
        self.timers.insert(key, timer);
        key
    }

    fn advance(&mut self, now: Timestamp) {
        while let Some((key, &timer)) = self.timers.first_key_value() {
            if key.0 > now {
                break;
            }
            self.timers.remove(&key);
            self.fire_timer(key, timer);
            // Messages emitted at one instant (e.g. consecutive zero-delay agent steps) go out in one batch.
            let same_instant = self.timers.first_key().is_some_and(|k| k.0 == key.0);
            if !same_instant {
                self.flush(key.0);
            }
        }
    }

    fn fire_timer(&mut self, key: (Timestamp, u64), timer: Timer) {
        let t = key.0;
        match timer {
            Timer::Held(si) => {
                let ours = self
                    .sessions
                    .get(si)
                    .and_then(|s| s.held.as_ref())
                    .is_some_and(|h| h.timer == key);
                if ours {
                    let a = self.no_messages();
                    self.answer_held(si, a, t);
                }
            }
            Timer::Agent(si) => {
                let Some(s) = self.sessions.get_mut(si) else {
                    return;
                };
                if s.agent_timer != Some(key) {
                    return;
                }
                s.agent_timer = None;
                if s.dx.resync_barrier.is_some() {
                    // `resync=required`: routing waits for ChasitorResyncState (the step runs after it).
                    return;
                }
                let idx = s.step;
                s.step = s.step.saturating_add(1);
                if !s.rec.state.is_live() {
                    return;
                }
                if let Some(step) = self.config.agent.steps.get(idx).cloned() {
                    self.run_action(si, &step.action, t);
                }
                self.schedule_agent(si, t);
            }
            Timer::Idle(si) => {
                let Some(s) = self.sessions.get_mut(si) else {
                    return;
                };
                if s.idle_timer != Some(key) {
                    return;
                }
                s.idle_timer = None;
                if s.held.is_none() {
                    self.end_session(si, EndReason::IdleTimeout, t);
                }
            }
            Timer::Fault(si, fi) => {
                if !self.is_live(si) {
                    return;
                }
                if let Some(kind) = self.config.faults.faults.get(fi).map(|f| f.kind) {
                    self.fire(si, kind, t, None);
                }
            }
        }
    }

    fn schedule_agent(&mut self, si: usize, from: Timestamp) {
        let Some(s) = self.sessions.get(si) else {
            return;
        };
        let active = matches!(
            s.rec.state,
            SessionState::Queued | SessionState::Chatting | SessionState::AgentDisconnected
        );
        if !active || s.agent_timer.is_some() {
            return;
        }
        let Some(step) = self.config.agent.steps.get(s.step) else {
            return;
        };
        let Some(at) = from.checked_add(step.after) else {
            return;
        };
        let key = self.add_timer(at, Timer::Agent(si));
        if let Some(s) = self.sessions.get_mut(si) {
            s.agent_timer = Some(key);
        }
    }

    fn set_idle(&mut self, si: usize, t: Timestamp) {
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        if let Some(old) = s.idle_timer.take() {
            self.timers.remove(&old);
        }
        let live = s.rec.state.is_live() && s.held.is_none();
        let idle = match self.config.dialect.poll_gap {
            d::PollGap::Limited => self.config.session_idle_timeout.min(POLL_GAP),
            d::PollGap::Unlimited => self.config.session_idle_timeout,
        };
        if live && let Some(at) = t.checked_add(idle) {
            let key = self.add_timer(at, Timer::Idle(si));
            if let Some(s) = self.sessions.get_mut(si) {
                s.idle_timer = Some(key);
            }
        }
    }

    fn is_live(&self, si: usize) -> bool {
        self.sessions.get(si).is_some_and(|s| s.rec.state.is_live())
    }

    /// Queues a reply and logs it.
    fn send(
        &mut self,
        ticket: Ticket,
        session: Option<usize>,
        a: Answer,
        fx: Effects,
        t: Timestamp,
        prefix: Option<String>,
    ) {
        let recording = self.config.record_transcript;
        let mut text = match (recording, prefix) {
            (false, _) => String::new(),
            (true, Some(p)) => format!("{p} -> {}", a.describe()),
            (true, None) => format!("-> {}", a.describe()),
        };
        let (at, reply) = if fx.drop {
            if recording {
                text.push_str(" (reply dropped)");
            }
            (t, Reply::Drop)
        } else if let Some(d) = fx.delay {
            if recording {
                text.push_str(&format!(
                    " (delayed {}.{:03}s)",
                    d.as_secs(),
                    d.subsec_millis()
                ));
            }
            (
                t.checked_add(d).unwrap_or(t),
                Reply::Response(build_response(a)),
            )
        } else {
            (t, Reply::Response(build_response(a)))
        };
        self.log(t, Some(ticket), session, text);
        self.ready.insert((at, self.ready_seq), (ticket, reply));
        self.ready_seq = self.ready_seq.wrapping_add(1);
    }

    // ----------------------------------------------------------------------------------------------------
    // messages out

    fn emit(&mut self, si: usize, msg: Message, t: Timestamp) {
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        if !s.rec.state.is_live() {
            return;
        }
        let idx = s.next_index;
        s.next_index = s.next_index.saturating_add(1);
        let mut text = if self.config.record_transcript {
            format!("emit {idx} {}", describe(&msg))
        } else {
            String::new()
        };
        // `typing-order=swapped`: an AgentNotTyping overtakes the undelivered AgentTyping just before it.
        let last_delivered = s.last_delivered;
        let overtaken = if self.config.dialect.typing_order == d::TypingOrder::Swapped
            && matches!(msg, Message::AgentNotTyping(_))
        {
            s.retained
                .back_mut()
                .filter(|(i, m)| *i > last_delivered && matches!(m, Message::AgentTyping(_)))
        } else {
            None
        };
        let msg = match overtaken {
            Some((prev, typing)) => {
                if self.config.record_transcript {
                    text.push_str(&format!(
                        " (swapped: goes out as {prev}, AgentTyping as {idx})"
                    ));
                }
                std::mem::replace(typing, msg)
            }
            None => msg,
        };
        s.retained.push_back((idx, msg));
        if !s.dirty {
            s.dirty = true;
            self.dirty.push(si);
        }
        self.log(t, None, Some(si), text);
    }

    /// Answers held polls of sessions that got new messages.
    fn flush(&mut self, t: Timestamp) {
        while let Some(si) = self.dirty.pop() {
            let Some(s) = self.sessions.get_mut(si) else {
                continue;
            };
            s.dirty = false;
            if s.held.is_some() && deliverable(s) {
                let (a, ends) = self.batch(si);
                self.answer_held(si, a, t);
                if let Some(reason) = ends {
                    self.end_session(si, reason, t);
                }
            }
        }
    }

    /// A 200 batch of every retained message, and the end reason if it carries the final message (the caller
    /// ends the session after sending it).
    fn batch(&mut self, si: usize) -> (Answer, Option<EndReason>) {
        let numbers = self.config.dialect.numbers;
        let Some(s) = self.sessions.get_mut(si) else {
            return (Answer::text(500, "no session"), None);
        };
        // Under a `resync=required` barrier only the messages up to it go out.
        let upto = s.dx.resync_barrier.unwrap_or(i64::MAX);
        let Some(last) = s
            .retained
            .iter()
            .take_while(|(i, _)| *i <= upto)
            .last()
            .map(|(i, _)| *i)
        else {
            return (Answer::empty(204, "no messages"), None);
        };
        // The wire `sequence` (internal indices minus `seq_base`: see `ReconnectAck::MinusOne`).
        let sequence = last.saturating_sub(s.dx.seq_base);
        let note = if self.config.record_transcript {
            let kinds: Vec<&str> = s
                .retained
                .iter()
                .take_while(|(i, _)| *i <= upto)
                .map(|(_, m)| m.kind())
                .collect();
            format!(
                "{} message{} seq {sequence} [{}]",
                kinds.len(),
                if kinds.len() == 1 { "" } else { "s" },
                kinds.join(", ")
            )
        } else {
            String::new()
        };
        // Serialised from the retained messages in place (the same bytes as a `MessagesBody`, without cloning).
        let body = BatchBody {
            retained: &s.retained,
            upto,
            sequence,
            offset: offset_for_index(last),
        };
        let a = Answer::json_of(&body, note, numbers, 1);
        s.last_delivered = s.last_delivered.max(last);
        if s.keep_last_batch && a.status == 200 {
            s.last_batch = Some(a.body.clone());
        }
        let ends = if s.final_index.is_some_and(|f| f <= last) {
            s.rec.state.end_reason()
        } else {
            None
        };
        (a, ends)
    }

    fn answer_held(&mut self, si: usize, a: Answer, t: Timestamp) {
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        let Some(h) = s.held.take() else {
            return;
        };
        self.timers.remove(&h.timer);
        self.held_by_ticket.remove(&h.ticket.0);
        self.send(h.ticket, Some(si), a, h.fx, t, None);
        self.set_idle(si, t);
    }

    fn end_session(&mut self, si: usize, reason: EndReason, t: Timestamp) {
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        let reason = match s.rec.state {
            SessionState::Ended(_) => return,
            SessionState::Ending(r)
                if matches!(reason, EndReason::IdleTimeout | EndReason::Deleted) =>
            {
                r
            }
            _ => reason,
        };
        s.rec.state = SessionState::Ended(reason);
        // A finished chat keeps its record (report, transcript, tests) and what answers its late requests (403),
        // nothing more: the simulator may hold a hundred thousand of them (issue #13).
        s.retained = VecDeque::new();
        s.last_batch = None;
        s.pending_faults = Vec::new();
        s.chat_log = Vec::new();
        s.prev_token = None;
        s.rec.visitor_messages.shrink_to_fit();
        s.rec.agent_messages.shrink_to_fit();
        s.rec.visitor_events.shrink_to_fit();
        let timers = [s.agent_timer.take(), s.idle_timer.take()];
        for k in timers.into_iter().flatten() {
            self.timers.remove(&k);
        }
        self.live = self.live.saturating_sub(1);
        self.log(t, None, Some(si), format!("session ended ({reason:?})"));
        self.answer_held(si, Answer::text(403, SESSION_INVALID), t);
    }

    /// Starts ending the chat: emits the final message.
    fn finish_chat(&mut self, si: usize, msg: Message, reason: EndReason, t: Timestamp) {
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        let idx = s.next_index;
        s.final_index = Some(idx);
        s.rec.state = SessionState::Ending(reason);
        // The script stops with the chat.
        if let Some(k) = s.agent_timer.take() {
            self.timers.remove(&k);
        }
        self.emit(si, msg, t);
    }

    // ----------------------------------------------------------------------------------------------------
    // faults

    fn fire(&mut self, si: usize, kind: FaultKind, t: Timestamp, ctx: Option<&mut Ctx>) {
        self.log(t, None, Some(si), format!("fault {kind:?}"));
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        match kind {
            FaultKind::DropReply => match ctx {
                Some(c) => c.fx.drop = true,
                None => s.armed.drop = true,
            },
            FaultKind::DelayReply(d) => match ctx {
                Some(c) => c.fx.delay = Some(d),
                None => s.armed.delay = Some(d),
            },
            FaultKind::ServerErrors { count, status } => {
                s.armed.burst_left = count;
                s.armed.burst_status = status;
            }
            FaultKind::DuplicateBatch => s.armed.duplicate = true,
            FaultKind::SequenceDrift(k) => s.armed.sequence_drift = k,
            FaultKind::Expire => self.end_session(si, EndReason::Expired, t),
            FaultKind::Handover => {
                // The session moved to another app server: the token the visitor holds is stale at once.
                let shape = self.config.dialect.affinity_shape;
                let mut token = self.rng.token(shape);
                if token == s.token {
                    token = self.rng.token(shape);
                }
                let old = std::mem::replace(&mut s.token, token);
                if !s.dx.handover_pending {
                    // The token the visitor holds (and may send on ReconnectSession, as CARBON does).
                    s.prev_token = Some(old.into_boxed_str());
                    s.dx.handover_pending = true;
                }
                s.rec.handovers = s.rec.handovers.saturating_add(1);
                if s.held.is_some() {
                    s.reconnect_allowed = true;
                    self.answer_held(si, Answer::text(503, "Service Unavailable"), t);
                }
            }
            FaultKind::SwitchServer => {
                let to_alternate = !s.switch.is_some_and(|w| w.to_alternate);
                let host = if to_alternate {
                    &self.config.alternate_host
                } else {
                    &self.config.host
                };
                let url = format!("{}://{host}/chat", self.config.scheme);
                let index = s.next_index;
                s.switch = Some(Switch {
                    index,
                    acked: false,
                    to_alternate,
                });
                s.rec.switched_to = Some(url.clone());
                self.emit(
                    si,
                    Message::SwitchServer(wire::SwitchServer { new_url: url }),
                    t,
                );
            }
        }
    }

    // ----------------------------------------------------------------------------------------------------
    // requests

    fn dispatch<B: AsRef<[u8]>>(&mut self, req: &Request<B>, ctx: &mut Ctx) -> Outcome {
        // Server-wide request-count faults.
        let n = self.server_requests;
        let kinds: Vec<FaultKind> = self
            .config
            .faults
            .faults
            .iter()
            .filter(|f| f.at == Trigger::ServerRequest(n))
            .map(|f| f.kind)
            .collect();
        for kind in kinds {
            let text = format!("fault {kind:?} (server request {n})");
            self.log(ctx.now, Some(ctx.ticket), None, text);
            match kind {
                FaultKind::DropReply => ctx.fx.drop = true,
                FaultKind::DelayReply(d) => ctx.fx.delay = Some(d),
                FaultKind::ServerErrors { count, status } => {
                    self.global.burst_left = count;
                    self.global.burst_status = status;
                }
                other => ctx.session_kinds.push(other),
            }
        }
        if self.global.burst_left > 0 {
            self.global.burst_left -= 1;
            let status = self.global.burst_status;
            return Outcome::Respond(Answer::text(status, "Simulated server error"));
        }

        if let Some(a) = self.upload_route(req, ctx) {
            return Outcome::Respond(a);
        }
        let route = match route(req.method(), req.uri().path()) {
            Ok(r) => r,
            Err(a) => return Outcome::Respond(a),
        };
        match header_str(req, header::API_VERSION_NAME).map(parse_version) {
            None => return Outcome::Respond(Answer::text(400, NO_VERSION)),
            Some(None) => {
                return Outcome::Respond(Answer::text(400, "Invalid X-LIVEAGENT-API-VERSION"));
            }
            Some(Some(v)) if v < self.config.min_api_version => {
                return Outcome::Respond(Answer::text(400, "Unsupported API version"));
            }
            Some(Some(_)) => {}
        }
        let body = req.body().as_ref();
        let query = query_pairs(req.uri().query());
        let r = match route {
            Route::SessionId => self.create_session(req, ctx),
            Route::DeleteSession(key) => self.delete_session(req, ctx, key),
            Route::Reconnect => self.reconnect(req, ctx, &query),
            Route::Messages => return self.messages(req, ctx, &query),
            Route::Chasitor(name) => self.chasitor(req, ctx, name, body),
            Route::MultiNoun => self.multi_noun(req, ctx, body),
            Route::Settings => self.settings(&query),
            Route::Availability => self.availability(&query),
            Route::VisitorId => self.visitor_id(&query),
            Route::Breadcrumb => self.breadcrumb(req, ctx, body),
        };
        Outcome::Respond(r)
    }

    /// Identifies the session of a request and applies faults, expiry, host and affinity checks.
    fn gate<B>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        key: Option<&str>,
        kind: Kind,
        affinity: Affinity,
    ) -> Result<usize, Answer> {
        let key = match key.or_else(|| header_str(req, header::SESSION_KEY_NAME)) {
            Some(k) => k,
            None => return Err(Answer::text(403, SESSION_INVALID)),
        };
        let Some(&si) = self.by_key.get(key) else {
            return Err(Answer::text(403, SESSION_INVALID));
        };
        ctx.session = Some(si);
        let t = ctx.now;
        let Some(s) = self.sessions.get_mut(si) else {
            return Err(Answer::text(403, SESSION_INVALID));
        };
        if !s.rec.state.is_live() {
            return Err(Answer::text(403, SESSION_INVALID));
        }
        s.requests = s.requests.saturating_add(1);
        match kind {
            Kind::Poll => s.rec.polls = s.rec.polls.saturating_add(1),
            Kind::Post => s.posts = s.posts.saturating_add(1),
            Kind::Other => {}
        }
        let (requests, polls, posts) = (s.requests, s.rec.polls, s.posts);
        let faults = &self.config.faults.faults;
        let mut due = Vec::new();
        s.pending_faults.retain(|&fi| {
            let hit = match faults.get(fi).map(|f| f.at) {
                Some(Trigger::Request(n)) => n == requests,
                Some(Trigger::Poll(n)) => kind == Kind::Poll && n == polls,
                Some(Trigger::Post(n)) => kind == Kind::Post && n == posts,
                _ => false,
            };
            if hit {
                due.push(fi);
            }
            !hit
        });
        let mut kinds: Vec<FaultKind> = due
            .iter()
            .filter_map(|&fi| faults.get(fi).map(|f| f.kind))
            .collect();
        kinds.append(&mut ctx.session_kinds);
        for k in kinds {
            self.fire(si, k, t, Some(ctx));
        }
        let alt = self.config.alternate_host.clone();
        let numbers = self.config.dialect.numbers;
        let Some(s) = self.sessions.get_mut(si) else {
            return Err(Answer::text(403, SESSION_INVALID));
        };
        if s.armed.drop {
            s.armed.drop = false;
            ctx.fx.drop = true;
        }
        if let Some(d) = s.armed.delay.take() {
            ctx.fx.delay = Some(d);
        }
        if !s.rec.state.is_live() {
            return Err(Answer::text(403, SESSION_INVALID));
        }
        if s.armed.burst_left > 0 {
            s.armed.burst_left -= 1;
            let status = s.armed.burst_status;
            if status == 503 {
                s.reconnect_allowed = true;
            }
            return Err(Answer::text(status, "Simulated server error"));
        }
        // Polls are checked once their `ack` is known (the poll acknowledging the switch must use the new host).
        if kind != Kind::Poll
            && let Some(a) = wrong_host(s, req, kind, &alt, numbers)
        {
            return Err(a);
        }
        if affinity == Affinity::Token {
            let sent = header_str(req, header::AFFINITY_NAME).unwrap_or_default();
            if sent != s.token {
                s.reconnect_allowed = true;
                return Err(Answer::text(503, "Service Unavailable"));
            }
        }
        Ok(si)
    }

    fn create_session<B>(&mut self, req: &Request<B>, ctx: &mut Ctx) -> Answer {
        if header_str(req, header::AFFINITY_NAME) != Some("null") {
            return Answer::text(400, "X-LIVEAGENT-AFFINITY must be null for SessionId");
        }
        if req.headers().contains_key(header::SESSION_KEY) {
            return Answer::text(400, "X-LIVEAGENT-SESSION-KEY must not be sent to SessionId");
        }
        let t = ctx.now;
        let index = self.sessions.len();
        let id = self.rng.uuid();
        let key = format!("{id}!{}!{}", self.elapsed_ms(t), self.rng.signature());
        let token = self.rng.token(self.config.dialect.affinity_shape);
        let applies = |f: &super::Fault| f.session.is_none_or(|s| s == index);
        let mut pending = Vec::new();
        let mut timed = Vec::new();
        for &fi in &self.session_faults {
            let Some(f) = self.config.faults.faults.get(fi) else {
                continue;
            };
            if !applies(f) {
                continue;
            }
            match f.at {
                Trigger::After(d) => timed.push((fi, d)),
                _ => pending.push(fi),
            }
        }
        let keep_last_batch = self.any_duplicate_fault
            && (self
                .config
                .faults
                .faults
                .iter()
                .any(|f| f.kind == FaultKind::DuplicateBatch && applies(f))
                || ctx.session_kinds.contains(&FaultKind::DuplicateBatch));
        let agent = &self.config.agent.agent;
        let s = Session {
            rec: SessionRecord {
                index,
                id: id.clone(),
                state: SessionState::Created,
                visitor_messages: Vec::new(),
                agent_messages: Vec::new(),
                visitor_events: Vec::new(),
                retransmissions: 0,
                handovers: 0,
                reconnects: 0,
                resyncs: 0,
                awaiting_resync: false,
                switched_to: None,
                polls: 0,
            },
            token: token.clone(),
            last_seq: 0,
            receive_queue_updates: false,
            queue_position: 0,
            visitor_name: String::new(),
            agent_name: agent.name.clone(),
            agent_user_id: agent.user_id.clone(),
            sneak_peek: agent.sneak_peek_enabled,
            echo: false,
            next_index: 0,
            retained: VecDeque::new(),
            last_delivered: -1,
            final_index: None,
            held: None,
            step: 0,
            agent_timer: None,
            idle_timer: None,
            reconnect_allowed: false,
            switch: None,
            armed: Armed::default(),
            pending_faults: pending,
            requests: 0,
            posts: 0,
            keep_last_batch,
            last_batch: None,
            chat_log: Vec::new(),
            dirty: false,
            findings: None,
            dx: DialectState {
                max_ack: -1,
                ..DialectState::default()
            },
            prev_token: None,
            upload: Default::default(),
        };
        self.sessions.push(s);
        self.by_key.insert(key.clone(), index);
        self.by_id.insert(id.clone(), index);
        self.live = self.live.saturating_add(1);
        ctx.session = Some(index);
        for (fi, d) in timed {
            if let Some(at) = t.checked_add(d) {
                self.add_timer(at, Timer::Fault(index, fi));
            }
        }
        self.set_idle(index, t);
        let kinds = std::mem::take(&mut ctx.session_kinds);
        for k in kinds {
            self.fire(index, k, t, Some(ctx));
        }
        let body = SessionIdBody {
            id,
            key: wire::SessionKey::new(key),
            affinity_token: wire::AffinityToken::new(token),
            client_poll_timeout: Some(self.config.client_poll_timeout),
        };
        Answer::json_of(
            &body,
            format!("new session s{index}"),
            self.config.dialect.numbers,
            0,
        )
    }

    fn delete_session<B>(&mut self, req: &Request<B>, ctx: &mut Ctx, key: String) -> Answer {
        if header_str(req, header::SESSION_KEY_NAME).is_some_and(|h| h != key) {
            return Answer::text(400, "X-LIVEAGENT-SESSION-KEY does not match the path");
        }
        let si = match self.gate(req, ctx, Some(&key), Kind::Other, Affinity::Token) {
            Ok(si) => si,
            Err(a) => return a,
        };
        let queued = self
            .sessions
            .get(si)
            .is_some_and(|s| s.rec.state == SessionState::Queued);
        if queued && self.config.dialect.end_while_queued == d::EndWhileQueued::ChatEndOnly {
            // This server ends a queued chat only by ChatEnd. DELETE is the documented way to end a session,
            // so the refusal is no finding.
            return npe();
        }
        self.end_session(si, EndReason::Deleted, ctx.now);
        Answer::empty(200, "session deleted")
    }

    fn reconnect<B>(&mut self, req: &Request<B>, ctx: &mut Ctx, query: &Query<'_>) -> Answer {
        let si = match self.gate(req, ctx, None, Kind::Other, Affinity::Unchecked) {
            Ok(si) => si,
            Err(a) => return a,
        };
        let t = ctx.now;
        let dialect = self.config.dialect.clone();
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        if !s.reconnect_allowed {
            return Answer::text(
                405,
                "Method Not Allowed: ReconnectSession is only allowed after a 503",
            );
        }
        // The token the visitor held when it got the 503: the one before a handover, else the current one.
        let held = if s.dx.handover_pending {
            s.prev_token.as_deref().unwrap_or_default().to_owned()
        } else {
            s.token.clone()
        };
        let sent = header_str(req, header::AFFINITY_NAME);
        if sent != Some("null") {
            let previous = sent == Some(held.as_str());
            if previous && dialect.reconnect_affinity == d::ReconnectAffinity::NullOrPrevious {
                let w = "ReconnectSession with the affinity token held before the 503 (accepted; the guide's example and the SDK send the literal null)";
                self.note(
                    si,
                    req,
                    Severity::Warning,
                    codes::RECONNECT_AFFINITY,
                    "§4.5",
                    w.into(),
                    t,
                );
            } else {
                let w = if previous {
                    "ReconnectSession with the affinity token held before the 503 (refused 400; this server takes only the literal null)"
                } else {
                    "ReconnectSession with an X-LIVEAGENT-AFFINITY that is neither null nor the token held before the 503 (refused 400)"
                };
                self.note(
                    si,
                    req,
                    Severity::Violation,
                    codes::RECONNECT_AFFINITY,
                    "§4.5",
                    w.into(),
                    t,
                );
                return Answer::text(
                    400,
                    "X-LIVEAGENT-AFFINITY must be null for ReconnectSession",
                );
            }
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        let Some(raw) = param(query, "ReconnectSession.offset") else {
            return Answer::text(400, "Missing ReconnectSession.offset");
        };
        let Ok(offset) = raw.trim().parse::<i64>() else {
            return Answer::text(400, "Invalid ReconnectSession.offset");
        };
        let o = if offset < OFFSET_BASE {
            -1
        } else {
            let d = offset.saturating_sub(OFFSET_BASE);
            let idx = d / OFFSET_STRIDE;
            if d % OFFSET_STRIDE != 0 || idx > s.last_delivered {
                return Answer::text(400, "Invalid ReconnectSession.offset");
            }
            idx
        };
        // New token, different from the old one.
        let mut token = self.rng.token(dialect.affinity_shape);
        if token == s.token {
            token = self.rng.token(dialect.affinity_shape);
        }
        s.token = token.clone();
        s.prev_token = Some(held.into_boxed_str());
        s.dx.handover_pending = false;
        // `resetSequence` false: the counter goes on from the last accepted number.
        if dialect.reset_sequence != d::ResetSequence::False {
            s.last_seq = 0;
        }
        s.dx.last_out_of_sync = None;
        s.reconnect_allowed = false;
        s.rec.reconnects = s.rec.reconnects.saturating_add(1);
        s.rec.awaiting_resync = true;
        s.last_batch = None;
        s.armed.duplicate = false;
        // Re-queue what the visitor did not get, behind ChasitorSessionData.
        let old = std::mem::take(&mut s.retained);
        let requeue: Vec<(i64, Message)> = old.into_iter().filter(|(i, _)| *i > o).collect();
        s.next_index = o.saturating_add(1);
        s.last_delivered = o;
        s.dx.first_poll_after_reconnect = Some(o);
        // `resync=required`: nothing after ChasitorSessionData (or, without it, after what the visitor
        // has) goes out, and the agent script waits, until ChasitorResyncState.
        s.dx.resync_barrier = (dialect.resync == d::ResyncRule::Required
            && s.rec.state != SessionState::Created)
            .then(|| match dialect.session_data {
                d::SessionData::SentFirst => o.saturating_add(1),
                d::SessionData::Never => o,
            });
        if dialect.reconnect_ack == d::ReconnectAck::MinusOne {
            // The new app server numbers from 0: the first message after the reconnect has `sequence` 0.
            s.dx.seq_base = s.next_index;
        }
        let data = ChasitorSessionData {
            queue_position: Some(if s.rec.state == SessionState::Queued {
                s.queue_position
            } else {
                0
            }),
            geo_location: Some(geo()),
            url: Some("https://www.example.com/support".into()),
            oref: Some("https://www.example.com/".into()),
            post_chat_url: Some("https://www.example.com/postchat".into()),
            sneak_peek_enabled: Some(s.sneak_peek),
            chat_messages: Some(s.chat_log.clone()),
        };
        let n = requeue.len();
        self.log(
            t,
            Some(ctx.ticket),
            Some(si),
            format!("reconnect from offset {offset} (index {o}): re-queue {n} message(s)"),
        );
        if dialect.session_data == d::SessionData::SentFirst {
            self.emit(si, Message::ChasitorSessionData(Box::new(data)), t);
        }
        for (old_idx, m) in requeue {
            if let Some(s) = self.sessions.get_mut(si) {
                let new_idx = s.next_index;
                if s.final_index == Some(old_idx) {
                    s.final_index = Some(new_idx);
                }
                if let Some(w) = s.switch.as_mut().filter(|w| w.index == old_idx) {
                    w.index = new_idx;
                }
            }
            self.emit(si, m, t);
        }
        // A poll still held with the old token is stale.
        if self.sessions.get(si).is_some_and(|s| s.held.is_some()) {
            if let Some(s) = self.sessions.get_mut(si) {
                s.reconnect_allowed = true;
            }
            self.answer_held(si, Answer::text(503, "Service Unavailable"), t);
        }
        let payload = ReconnectSession {
            reset_sequence: match dialect.reset_sequence {
                d::ResetSequence::True => Some(true),
                d::ResetSequence::False => Some(false),
                d::ResetSequence::Absent => None,
            },
            affinity_token: token,
        };
        let note = "ReconnectSession (new affinity token)".to_owned();
        match dialect.reconnect_body {
            d::ReconnectBody::Wrapped => {
                let body = MessagesBody {
                    messages: vec![Message::ReconnectSession(payload)],
                    sequence: None,
                    offset: None,
                };
                Answer::json_of(&body, note, dialect.numbers, 0)
            }
            d::ReconnectBody::Bare => Answer::json_of(&payload, note, dialect.numbers, 0),
        }
    }

    fn messages<B>(&mut self, req: &Request<B>, ctx: &mut Ctx, query: &Query<'_>) -> Outcome {
        let si = match self.gate(req, ctx, None, Kind::Poll, Affinity::Token) {
            Ok(si) => si,
            Err(a) => return Outcome::Respond(a),
        };
        let t = ctx.now;
        let ack = match param(query, "ack") {
            None => None,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(a) => Some(a),
                Err(_) => return Outcome::Respond(Answer::text(400, "Invalid ack")),
            },
        };
        let first_after_reconnect = self
            .sessions
            .get(si)
            .and_then(|s| s.dx.first_poll_after_reconnect);
        // Polls after a ReconnectSession may omit `ack` in every dialect until the first one with an `ack` (it
        // acknowledges what was delivered, which is what the visitor has): no finding.
        if ack.is_none() && first_after_reconnect.is_none() {
            let w = "Messages poll without ack: everything delivered so far counts as acknowledged, so the messages of a lost answer are lost";
            self.note(
                si,
                req,
                Severity::Warning,
                codes::MISSING_ACK,
                "§4.3",
                w.into(),
                t,
            );
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Outcome::Respond(Answer::text(403, SESSION_INVALID));
        };
        if s.held.is_some() {
            return Outcome::Respond(self.poll_conflict(si, req, t));
        }
        let delivered_wire = s.last_delivered.saturating_sub(s.dx.seq_base);
        if let (Some(o), Some(a)) = (first_after_reconnect, ack) {
            let refused = match self.config.dialect.reconnect_ack {
                d::ReconnectAck::Either => None,
                d::ReconnectAck::Continued if a < o => Some(format!(
                    "first ack after ReconnectSession is {a}, below the reconnect offset's message {o} (refused 400; this server continues the numbering)"
                )),
                d::ReconnectAck::Continued => None,
                // -1, or (once a batch of the new numbering went out) an ack within it.
                d::ReconnectAck::MinusOne if a < -1 || a > delivered_wire => Some(format!(
                    "first ack after ReconnectSession is {a} (refused 400; this server restarts the numbering at 0 and wants -1)"
                )),
                d::ReconnectAck::MinusOne => None,
            };
            if let Some(w) = refused {
                self.note(
                    si,
                    req,
                    Severity::Violation,
                    codes::RECONNECT_ACK,
                    "§4.6",
                    w,
                    t,
                );
                return Outcome::Respond(Answer::text(400, "Invalid ack"));
            }
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Outcome::Respond(Answer::text(403, SESSION_INVALID));
        };
        // Polls without `ack` leave the check armed: the first `ack` the visitor sends after the reconnect
        // is the one that must fit the numbering (e.g. after a lost answer to a poll without one).
        if ack.is_some() {
            s.dx.first_poll_after_reconnect = None;
        }
        // Wire numbers count from `seq_base` (non-zero once a `minus-one` reconnect restarted them).
        let ack = ack.map(|a| a.saturating_add(s.dx.seq_base));
        let ack = ack.unwrap_or(s.last_delivered).max(-1);
        while s.retained.front().is_some_and(|(i, _)| *i <= ack) {
            s.retained.pop_front();
        }
        if let Some(w) = s.switch.as_mut().filter(|w| ack >= w.index) {
            w.acked = true;
        }
        if let Some(a) = wrong_host(
            s,
            req,
            Kind::Poll,
            &self.config.alternate_host,
            self.config.dialect.numbers,
        ) {
            return Outcome::Respond(a);
        }
        if s.armed.duplicate
            && let Some(body) = s.last_batch.clone()
        {
            s.armed.duplicate = false;
            self.set_idle(si, t);
            return Outcome::Respond(Answer::json(
                body,
                "previous batch again (duplicate)".into(),
            ));
        }
        if deliverable(s) {
            let (a, ends) = self.batch(si);
            self.set_idle(si, t);
            // The final message: the session ends right after this reply is queued.
            ctx.end_after = ends;
            return Outcome::Respond(a);
        }
        let Some(deadline) = t.checked_add(self.config.poll_hold) else {
            return Outcome::Respond(self.no_messages());
        };
        let timer = self.add_timer(deadline, Timer::Held(si));
        if let Some(s) = self.sessions.get_mut(si) {
            if let Some(old) = s.idle_timer.take() {
                self.timers.remove(&old);
            }
            s.held = Some(Held {
                ticket: ctx.ticket,
                timer,
                fx: std::mem::take(&mut ctx.fx),
            });
        }
        self.held_by_ticket.insert(ctx.ticket.0, si);
        Outcome::Held
    }

    fn chasitor<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        name: &'static str,
        body: &[u8],
    ) -> Answer {
        let si = match self.gate(req, ctx, None, Kind::Post, Affinity::Token) {
            Ok(si) => si,
            Err(a) => return a,
        };
        let noun = match Noun::decode(name, body) {
            Ok(n) => n,
            Err(e) => return Answer::text(400, &format!("Bad request body: {e}")),
        };
        let sequenced = noun.is_sequenced();
        self.post(req, ctx, si, vec![noun], sequenced)
    }

    fn multi_noun<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        body: &[u8],
    ) -> Answer {
        let si = match self.gate(req, ctx, None, Kind::Post, Affinity::Token) {
            Ok(si) => si,
            Err(a) => return a,
        };
        let value: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Answer::text(400, &format!("Bad request body: {e}")),
        };
        let Some(items) = value.get("nouns").and_then(|n| n.as_array()) else {
            return Answer::text(400, "Bad request body: missing `nouns`");
        };
        if items.is_empty() {
            return Answer::text(400, "Bad request body: no nouns");
        }
        let mut nouns = Vec::with_capacity(items.len());
        for item in items {
            let prefix = item.get("prefix").and_then(|p| p.as_str());
            if prefix != Some("Chasitor") {
                return Answer::text(400, "Bad request body: unsupported prefix");
            }
            let Some(name) = item.get("noun").and_then(|p| p.as_str()) else {
                return Answer::text(400, "Bad request body: missing `noun`");
            };
            let object = match (item.get("object"), item.get("data")) {
                (Some(o), _) => serde_json::to_vec(o).unwrap_or_default(),
                (None, Some(serde_json::Value::String(s))) => s.as_bytes().to_vec(),
                _ => b"{}".to_vec(),
            };
            match Noun::decode(name, &object) {
                Ok(n) => nouns.push(n),
                Err(e) => return Answer::text(400, &format!("Bad request body: {e}")),
            }
        }
        self.post(req, ctx, si, nouns, true)
    }

    /// Sequence check, state check, then processing of one POST (one or several nouns).
    fn post<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        si: usize,
        nouns: Vec<Noun>,
        sequenced: bool,
    ) -> Answer {
        use Severity::{Violation, Warning};
        let t = ctx.now;
        let dialect = self.config.dialect.clone();
        let what = if self.config.record_transcript {
            let what: Vec<String> = nouns.iter().map(describe_noun).collect();
            what.join(" + ")
        } else {
            String::new()
        };
        let is_resync =
            nouns.len() == 1 && matches!(nouns.first(), Some(Noun::ChasitorResyncState { .. }));
        let retry_like = nouns.iter().any(|n| {
            matches!(
                n,
                Noun::ChatMessage { .. }
                    | Noun::CustomEvent(_)
                    | Noun::RichMessage { .. }
                    | Noun::ChatEnd { .. }
            )
        });
        let fingerprint = fingerprint(req.uri().path(), req.body().as_ref());
        let raw_seq = header_str(req, header::SEQUENCE_NAME);
        if is_resync && raw_seq.is_some() {
            let what = match dialect.resync_sequence {
                d::ResyncSequence::Counted => {
                    "X-LIVEAGENT-SEQUENCE on ChasitorResyncState, which the guide does not list; this server counts it"
                }
                d::ResyncSequence::Ignored => {
                    "X-LIVEAGENT-SEQUENCE on ChasitorResyncState, which the guide does not list; this server ignores it"
                }
            };
            self.note(
                si,
                req,
                Warning,
                codes::SEQUENCE_ON_RESYNC,
                "§4.4",
                what.into(),
                t,
            );
        }
        let counts =
            sequenced || (is_resync && dialect.resync_sequence == d::ResyncSequence::Counted);
        let mut seq = None;
        match raw_seq.filter(|_| counts) {
            None if !sequenced => {}
            None => match dialect.sequence_header {
                d::SequenceHeader::Required => {
                    let w = "no X-LIVEAGENT-SEQUENCE header on a sequenced POST (refused 400)";
                    self.note(
                        si,
                        req,
                        Violation,
                        codes::MISSING_SEQUENCE,
                        "§4.4",
                        w.into(),
                        t,
                    );
                    return Answer::text(400, "Missing X-LIVEAGENT-SEQUENCE header");
                }
                d::SequenceHeader::Optional => {
                    let w = "no X-LIVEAGENT-SEQUENCE header: processed, but a re-send cannot be recognised as a duplicate";
                    self.note(
                        si,
                        req,
                        Warning,
                        codes::MISSING_SEQUENCE,
                        "§4.4",
                        w.into(),
                        t,
                    );
                }
            },
            Some(raw) => {
                let Ok(n) = raw.trim().parse::<u64>() else {
                    let w = format!(
                        "X-LIVEAGENT-SEQUENCE {} is not a decimal number (refused 400)",
                        quote(raw)
                    );
                    self.note(si, req, Violation, codes::INVALID_SEQUENCE, "§4.4", w, t);
                    return Answer::text(400, "Invalid X-LIVEAGENT-SEQUENCE header");
                };
                let Some(s) = self.sessions.get_mut(si) else {
                    return Answer::text(403, SESSION_INVALID);
                };
                let last = s.last_seq;
                if n <= last {
                    // A retransmission (the same request again), or a different request under a used number.
                    let reused = n == last && s.dx.last_fingerprint != fingerprint;
                    let dropped = dialect.duplicate_sequence == d::DuplicateSequence::Dropped;
                    if dropped {
                        s.rec.retransmissions = s.rec.retransmissions.saturating_add(1);
                    }
                    if reused {
                        let (sev, w) = if dropped {
                            (
                                Violation,
                                format!(
                                    "sequence {n} was already used by a different request: this one was discarded as a duplicate"
                                ),
                            )
                        } else {
                            (
                                Warning,
                                format!(
                                    "sequence {n} was already used by a different request (processed anyway)"
                                ),
                            )
                        };
                        self.note(si, req, sev, codes::SEQUENCE_REUSED, "§4.4", w, t);
                    }
                    if dropped {
                        return self.post_ok(format!("{what} (retransmission, ignored)"));
                    }
                } else {
                    if s.armed.sequence_drift > 0 {
                        s.last_seq = s.last_seq.saturating_add(s.armed.sequence_drift);
                        s.armed.sequence_drift = 0;
                        let actual = out_of_sync_actual(s.last_seq, dialect.out_of_sync_actual);
                        s.dx.last_out_of_sync = Some(actual);
                        return Answer::text(
                            409,
                            &format!("Out of sync Ack. Expected {n}. Actual {actual}"),
                        );
                    }
                    let retry = retry_like && last > 0 && s.dx.last_fingerprint == fingerprint;
                    if n > last.saturating_add(1) {
                        match dialect.sequence_rule {
                            d::SequenceRule::Consecutive => {
                                let actual = out_of_sync_actual(last, dialect.out_of_sync_actual);
                                // After a 409 `Actual M` a client must probe M + 1 (under the likelier
                                // reading M is the last accepted number, and M itself would be dropped as a
                                // duplicate): refused here, but no client can know the reading without it.
                                let probe =
                                    s.dx.last_out_of_sync
                                        .is_some_and(|m| n == m.saturating_add(1));
                                s.dx.last_out_of_sync = Some(actual);
                                let (sev, w) = if probe {
                                    (
                                        Warning,
                                        format!(
                                            "sequence {n} after {last}: the probe of Actual + 1 after a 409 Out of sync (refused 409; this server reads Actual as the next expected number)"
                                        ),
                                    )
                                } else {
                                    (
                                        Violation,
                                        format!(
                                            "sequence {n} after {last}: not consecutive (refused 409)"
                                        ),
                                    )
                                };
                                self.note(si, req, sev, codes::SEQUENCE_GAP, "§4.4", w, t);
                                return Answer::text(
                                    409,
                                    &format!("Out of sync Ack. Expected {n}. Actual {actual}"),
                                );
                            }
                            d::SequenceRule::Increasing => {
                                let w = format!(
                                    "sequence {n} after {last}: numbers skipped (accepted; the guide says +1 per request)"
                                );
                                self.note(si, req, Warning, codes::SEQUENCE_GAP, "§4.4", w, t);
                            }
                        }
                    }
                    if retry {
                        let w = format!(
                            "the same request as the last accepted one again, under a new sequence {n}: processed twice (a retry must reuse its number)"
                        );
                        self.note(si, req, Warning, codes::RETRY_NEW_SEQUENCE, "§4.4", w, t);
                    }
                    seq = Some(n);
                }
            }
        }
        // State checks against the state each noun would see.
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        let awaiting_resync = s.rec.awaiting_resync;
        let mut state = s.rec.state;
        let mut refusal: Option<(Severity, &'static str, &'static str, String, Answer)> = None;
        let mut later: Vec<(Severity, &'static str, &'static str, String)> = Vec::new();
        for noun in &nouns {
            match noun {
                Noun::ChasitorInit(init) => {
                    if state != SessionState::Created {
                        refusal = Some((
                            Violation,
                            codes::BAD_INIT,
                            "§3.2.1",
                            "a second ChasitorInit (refused 400)".into(),
                            Answer::text(400, "ChasitorInit was already received"),
                        ));
                    } else if init.session_id != s.rec.id {
                        refusal = Some((
                            Violation,
                            codes::BAD_INIT,
                            "§3.2.1",
                            "ChasitorInit whose sessionId is not the session's id (refused 400)"
                                .into(),
                            Answer::text(400, "sessionId does not match the session"),
                        ));
                    }
                    state = SessionState::Queued;
                }
                Noun::ChatEnd { .. } => match state {
                    SessionState::Created => {
                        refusal = Some((
                            Violation,
                            codes::BEFORE_ESTABLISHED,
                            "§2",
                            "ChatEnd before ChasitorInit (refused 500)".into(),
                            npe(),
                        ));
                    }
                    SessionState::Queued => match dialect.end_while_queued {
                        d::EndWhileQueued::DeleteOnly => {
                            refusal = Some((Violation, codes::BEFORE_ESTABLISHED, "§2", "ChatEnd before ChatEstablished (refused 500; this server ends a queued chat only by DELETE SessionId)".into(), npe()));
                        }
                        _ => {
                            let w = "ChatEnd before ChatEstablished (accepted; the guide forbids requests before ChatEstablished, DELETE SessionId is the documented way)";
                            later.push((Warning, codes::BEFORE_ESTABLISHED, "§2", w.into()));
                        }
                    },
                    SessionState::Ending(_) | SessionState::Ended(_) => {
                        refusal = Some((
                            Warning,
                            "",
                            "",
                            String::new(),
                            Answer::text(403, SESSION_INVALID),
                        ));
                    }
                    _ => {}
                },
                Noun::ChasitorResyncState { .. } => {
                    if state == SessionState::Created {
                        refusal = Some((
                            Violation,
                            codes::BEFORE_ESTABLISHED,
                            "§4.6",
                            "ChasitorResyncState before ChasitorInit (refused 500)".into(),
                            npe(),
                        ));
                    } else if state == SessionState::Queued
                        && dialect.resync == d::ResyncRule::RefusedWhileQueued
                    {
                        // The guide does not forbid it: no finding, only the refusal this server makes.
                        refusal = Some((Warning, "", "", String::new(), npe()));
                    }
                }
                _ => match state {
                    SessionState::Created | SessionState::Queued => {
                        let w = format!("{} before ChatEstablished (refused 500)", noun.name());
                        refusal = Some((Violation, codes::BEFORE_ESTABLISHED, "§9.1", w, npe()));
                    }
                    SessionState::Ending(_) | SessionState::Ended(_) => {
                        refusal = Some((
                            Warning,
                            "",
                            "",
                            String::new(),
                            Answer::text(403, SESSION_INVALID),
                        ));
                    }
                    _ if awaiting_resync => match dialect.resync {
                        d::ResyncRule::Required => {
                            let w = format!(
                                "{} after ReconnectSession before ChasitorResyncState (refused 500)",
                                noun.name()
                            );
                            refusal = Some((Violation, codes::MISSING_RESYNC, "§4.6", w, npe()));
                        }
                        _ => {
                            let w = format!(
                                "{} after ReconnectSession without ChasitorResyncState (accepted)",
                                noun.name()
                            );
                            later.push((Warning, codes::MISSING_RESYNC, "§4.6", w));
                        }
                    },
                    _ => {}
                },
            }
            if refusal.is_some() {
                break;
            }
        }
        if let Some((sev, code, section, w, answer)) = refusal {
            if is_resync && answer.status == 500 {
                // A refused resync: nothing waits for it any more.
                if let Some(s) = self.sessions.get_mut(si) {
                    s.rec.awaiting_resync = false;
                    if s.dx.resync_barrier.take().is_some() {
                        self.barrier_lifted(si, t);
                    }
                }
            }
            if !code.is_empty() {
                self.note(si, req, sev, code, section, w, t);
            }
            return answer;
        }
        for (sev, code, section, w) in later {
            self.note(si, req, sev, code, section, w, t);
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        if let Some(n) = seq {
            s.last_seq = n;
            s.dx.last_out_of_sync = None;
        }
        // Only a POST that takes a number is what a reused number is compared with (an unnumbered
        // ChasitorResyncState in between must not make the re-send of the POST before it look different).
        if sequenced || seq.is_some() {
            s.dx.last_fingerprint = fingerprint;
        }
        // Rapid ChatMessages (CARBON): answered success, silently not processed.
        let rapid = nouns.iter().any(|n| matches!(n, Noun::ChatMessage { .. }))
            && s.dx
                .last_chat_message
                .is_some_and(|p| t.saturating_duration_since(p) < RAPID_GAP);
        if nouns.iter().any(|n| matches!(n, Noun::ChatMessage { .. })) {
            s.dx.last_chat_message = Some(t);
        }
        if rapid && dialect.rapid_messages == d::RapidMessages::Dropped {
            let w = "ChatMessage less than 15 ms after the previous one: this server answered success and dropped it";
            self.note(
                si,
                req,
                Violation,
                codes::RAPID_MESSAGES,
                "§9.7",
                w.into(),
                t,
            );
            return self.post_ok(format!("{what} (too fast, dropped)"));
        }
        for noun in nouns {
            self.process(si, noun, t);
        }
        self.post_ok(what)
    }

    /// The success answer of a POST ([`PostSuccess`](d::PostSuccess)).
    fn post_ok(&self, what: String) -> Answer {
        let status = match self.config.dialect.post_success {
            d::PostSuccess::Ok => 200,
            d::PostSuccess::Accepted => 202,
            d::PostSuccess::NoContent => 204,
        };
        Answer::empty(status, what)
    }

    /// `attachedRecords` of ChatEnded and ChatRequestFail ([`AttachedRecords`](d::AttachedRecords)): the
    /// script's JSON value, or (the guide's type String) its JSON text.
    fn attached_records(&self) -> serde_json::Value {
        let v = &self.config.agent.attached_records;
        match self.config.dialect.attached_records {
            d::AttachedRecords::Array => v.clone(),
            d::AttachedRecords::String => match v {
                serde_json::Value::String(_) => v.clone(),
                other => serde_json::Value::String(other.to_string()),
            },
        }
    }

    /// A `resync=required` barrier was lifted: the held poll gets what waited, the agent script goes on.
    fn barrier_lifted(&mut self, si: usize, t: Timestamp) {
        if let Some(s) = self.sessions.get_mut(si)
            && !s.dirty
        {
            s.dirty = true;
            self.dirty.push(si);
        }
        self.schedule_agent(si, t);
    }

    /// The answer to a poll that ends without messages ([`EmptyPoll`](d::EmptyPoll)).
    fn no_messages(&self) -> Answer {
        match self.config.dialect.empty_poll {
            d::EmptyPoll::NoContent => Answer::empty(204, "no messages"),
            d::EmptyPoll::EmptyBatch => Answer::json(
                br#"{"messages":[]}"#.to_vec(),
                "no messages (empty batch)".into(),
            ),
        }
    }

    /// A second Messages poll while one is held ([`PollConflict`](d::PollConflict)): both get 409; the
    /// held one here, the new one through the returned answer.
    fn poll_conflict<B>(&mut self, si: usize, req: &Request<B>, t: Timestamp) -> Answer {
        match self.config.dialect.poll_conflict {
            d::PollConflict::PollAgain => {
                let w = "a second Messages poll while one was held (both answered 409 Duplicate Long Polling; this server lets the chat go on)";
                self.note(
                    si,
                    req,
                    Severity::Warning,
                    codes::DUPLICATE_POLL,
                    "§8",
                    w.into(),
                    t,
                );
                let msg = "Conflict: Duplicate Long Polling";
                self.answer_held(si, Answer::text(409, msg), t);
                Answer::text(409, msg)
            }
            d::PollConflict::EndsChat => {
                let w = "a second Messages poll while one was held (both answered 409, the chat was terminated)";
                self.note(
                    si,
                    req,
                    Severity::Violation,
                    codes::DUPLICATE_POLL,
                    "§8",
                    w.into(),
                    t,
                );
                // Duplicate long poll: the chat is terminated (spec §8); both polls get 409.
                let msg = "Conflict: duplicate long poll, the chat was terminated";
                self.answer_held(si, Answer::text(409, msg), t);
                self.end_session(si, EndReason::DuplicatePoll, t);
                Answer::text(409, msg)
            }
        }
    }

    /// Records a finding for the session (bounded) and logs it in the transcript.
    #[allow(clippy::too_many_arguments)]
    fn note<B>(
        &mut self,
        si: usize,
        req: &Request<B>,
        sev: Severity,
        code: &'static str,
        section: &'static str,
        what: String,
        t: Timestamp,
    ) {
        let line = finding_line(req);
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        let log = s.findings.get_or_insert_with(Box::default);
        let text = if self.config.record_transcript {
            let label = match sev {
                Severity::Violation => "violation",
                Severity::Warning => "warning",
            };
            format!("{label} {code} ({section}): {what}")
        } else {
            String::new()
        };
        if log.push(sev, Finding::new(s.requests, line, code, section, what)) {
            self.log(t, None, Some(si), text);
        }
    }

    /// The conformance findings of every session so far (see [`conformance`](super::conformance)).
    pub fn conformance_report(&self) -> ConformanceReport {
        ConformanceReport {
            sessions: self
                .sessions
                .iter()
                .map(|s| {
                    let completed = matches!(
                        s.rec.state,
                        SessionState::Ended(
                            EndReason::Visitor
                                | EndReason::Agent
                                | EndReason::Declined
                                | EndReason::Deleted
                        )
                    );
                    SessionReport::from_log(
                        s.rec.id.clone(),
                        completed,
                        s.requests,
                        s.findings.as_deref(),
                    )
                })
                .collect(),
        }
    }

    fn process(&mut self, si: usize, noun: Noun, t: Timestamp) {
        let ms = self.elapsed_ms(t);
        let script_queue = self.config.agent.queue_position;
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        match noun {
            Noun::ChasitorInit(init) => {
                s.rec.visitor_events.push(VisitorEvent::Init {
                    visitor_name: init.visitor_name.clone(),
                });
                s.rec.state = SessionState::Queued;
                s.receive_queue_updates = init.receive_queue_updates;
                s.visitor_name = init.visitor_name.clone();
                s.upload.org_id = init.organization_id.clone();
                s.queue_position = script_queue;
                let visitor_id = self.rng.uuid();
                let msg = Message::ChatRequestSuccess(Box::new(ChatRequestSuccess {
                    queue_position: Some(script_queue),
                    estimated_wait_time: Some(-1.0),
                    geo_location: Some(geo()),
                    url: Some("https://www.example.com/support".into()),
                    oref: None,
                    post_chat_url: Some("https://www.example.com/postchat".into()),
                    custom_details: Some(init.prechat_details),
                    visitor_id: Some(visitor_id),
                    connection_timeout: Some(150_000.0),
                    sensitive_data_rules: Some(Vec::new()),
                    transcript_save_enabled: Some(true),
                }));
                self.emit(si, msg, t);
                self.schedule_agent(si, t);
            }
            Noun::ChasitorResyncState { organization_id } => {
                s.rec.resyncs = s.rec.resyncs.saturating_add(1);
                s.rec.awaiting_resync = false;
                s.rec
                    .visitor_events
                    .push(VisitorEvent::ResyncState { organization_id });
                if s.dx.resync_barrier.take().is_some() {
                    self.barrier_lifted(si, t);
                }
            }
            Noun::ChasitorTyping => s.rec.visitor_events.push(VisitorEvent::Typing),
            Noun::ChasitorNotTyping => s.rec.visitor_events.push(VisitorEvent::NotTyping),
            Noun::ChasitorSneakPeek { position, text } => s
                .rec
                .visitor_events
                .push(VisitorEvent::SneakPeek { position, text }),
            Noun::CustomEvent(CustomEvent { kind, data }) => s
                .rec
                .visitor_events
                .push(VisitorEvent::CustomEvent { kind, data }),
            Noun::IdleTimeoutWarning(w) => s.rec.visitor_events.push(VisitorEvent::IdleWarning(w)),
            Noun::SensitiveDataRuleTriggered { rules } => {
                s.rec
                    .visitor_events
                    .push(VisitorEvent::SensitiveDataRuleTriggered(
                        rules.into_iter().map(|r| r.name).collect(),
                    ))
            }
            Noun::RichMessage { actions } => s
                .rec
                .visitor_events
                .push(VisitorEvent::RichMessage(actions)),
            Noun::ChatMessage { text } => {
                let seq = s.chat_log.len().saturating_add(1);
                s.chat_log.push(TranscriptEntry {
                    kind: Some("Chasitor".into()),
                    name: Some(s.visitor_name.clone()),
                    content: Some(text.clone()),
                    timestamp: Some(ms as f64),
                    sequence: Some(seq as f64),
                });
                s.rec.visitor_messages.push(text.clone());
                if s.echo && s.rec.state == SessionState::Chatting {
                    let reply = format!("{}{text}", self.config.agent.echo_prefix);
                    self.say(si, reply, t);
                }
            }
            Noun::ChatEnd { reason } => {
                s.rec.visitor_events.push(VisitorEvent::ChatEnd {
                    reason: reason.to_string(),
                });
                let reason = if reason.as_str().is_empty() {
                    wire::ChatEndReason::Client
                } else {
                    reason
                };
                let msg = Message::ChatEnded(ChatEnded {
                    reason: Some(reason),
                    attached_records: Some(self.attached_records()),
                });
                self.finish_chat(si, msg, EndReason::Visitor, t);
            }
        }
    }

    fn say(&mut self, si: usize, text: String, t: Timestamp) {
        let ms = self.elapsed_ms(t);
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        let seq = s.chat_log.len().saturating_add(1);
        s.chat_log.push(TranscriptEntry {
            kind: Some("Agent".into()),
            name: Some(s.agent_name.clone()),
            content: Some(text.clone()),
            timestamp: Some(ms as f64),
            sequence: Some(seq as f64),
        });
        s.rec.agent_messages.push(text.clone());
        let msg = Message::ChatMessage(AgentMessage {
            name: Some(s.agent_name.clone()),
            text,
            agent_id: Some(s.agent_user_id.clone()),
            schedule: None,
        });
        self.emit(si, msg, t);
    }

    /// Runs one agent action; false when it does not fit the session's state.
    fn run_action(&mut self, si: usize, action: &AgentAction, t: Timestamp) -> bool {
        let attached = self.attached_records();
        let Some(s) = self.sessions.get_mut(si) else {
            return false;
        };
        let state = s.rec.state;
        let chatting = state == SessionState::Chatting;
        let active = matches!(
            state,
            SessionState::Queued | SessionState::Chatting | SessionState::AgentDisconnected
        );
        let done = match action {
            AgentAction::QueueUpdate { position } if state == SessionState::Queued => {
                s.queue_position = *position;
                if s.receive_queue_updates {
                    let m = Message::QueueUpdate(QueueUpdate {
                        position: Some(*position),
                        estimated_wait_time: None,
                    });
                    self.emit(si, m, t);
                }
                true
            }
            AgentAction::Accept
                if matches!(
                    state,
                    SessionState::Queued | SessionState::AgentDisconnected
                ) =>
            {
                s.rec.state = SessionState::Chatting;
                s.queue_position = 0;
                let p = &self.config.agent.agent;
                let m = Message::ChatEstablished(AgentInfo {
                    name: Some(s.agent_name.clone()),
                    user_id: Some(s.agent_user_id.clone()),
                    sneak_peek_enabled: Some(s.sneak_peek),
                    chasitor_idle_timeout: p.idle_timeout.clone(),
                    items: None,
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::Decline { reason } if active => {
                let m = Message::ChatRequestFail(ChatRequestFail {
                    reason: Some(reason.clone()),
                    post_chat_url: None,
                    attached_records: Some(attached),
                });
                self.finish_chat(si, m, EndReason::Declined, t);
                true
            }
            AgentAction::Typing if chatting => {
                self.emit(si, Message::AgentTyping(AgentRef::default()), t);
                true
            }
            AgentAction::NotTyping if chatting => {
                self.emit(si, Message::AgentNotTyping(AgentRef::default()), t);
                true
            }
            AgentAction::Say { text } if chatting => {
                self.say(si, text.clone(), t);
                true
            }
            AgentAction::EchoVisitor => {
                s.echo = true;
                true
            }
            AgentAction::StopEcho => {
                s.echo = false;
                true
            }
            AgentAction::Transfer { to_name } if chatting => {
                let uid = self.rng.uuid();
                let s = match self.sessions.get_mut(si) {
                    Some(s) => s,
                    None => return false,
                };
                s.agent_name = to_name.clone();
                s.agent_user_id = format!("005{}", uid.get(..8).unwrap_or("00000000"));
                let seq = s.chat_log.len().saturating_add(1);
                let ms = self.config.epoch_ms.saturating_add(
                    i64::try_from(t.saturating_duration_since(self.start).as_millis())
                        .unwrap_or(i64::MAX),
                );
                s.chat_log.push(TranscriptEntry {
                    kind: Some("OperatorTransferred".into()),
                    name: Some(to_name.clone()),
                    content: Some(format!("Transferred to {to_name}")),
                    timestamp: Some(ms as f64),
                    sequence: Some(seq as f64),
                });
                let m = Message::ChatTransferred(AgentInfo {
                    name: Some(s.agent_name.clone()),
                    user_id: Some(s.agent_user_id.clone()),
                    sneak_peek_enabled: Some(s.sneak_peek),
                    chasitor_idle_timeout: self.config.agent.agent.idle_timeout.clone(),
                    items: None,
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::Disconnect if chatting => {
                s.rec.state = SessionState::AgentDisconnected;
                self.emit(si, Message::AgentDisconnect(AgentRef::default()), t);
                true
            }
            AgentAction::End if active => {
                let m = Message::ChatEnded(ChatEnded {
                    reason: Some("agent".into()),
                    attached_records: Some(attached),
                });
                self.finish_chat(si, m, EndReason::Agent, t);
                true
            }
            AgentAction::RequestFile if chatting => {
                let token = self.rng.uuid();
                let base = format!("{}://{}", self.config.scheme, self.config.host);
                if let Some(s) = self.sessions.get_mut(si) {
                    s.upload.tokens.push(token.clone());
                }
                let m = Message::FileTransfer(FileTransfer {
                    kind: Some("Requested".into()),
                    upload_servlet_url: Some(format!("{base}{}", upload::UPLOAD_PATH)),
                    file_token: Some(token),
                    cdm_servlet_url: Some(format!("{base}{}", upload::CDM_PATH)),
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::Menu { header, items } if chatting => {
                let m = Message::RichMessage(RichMessage {
                    kind: "ChatWindowMenu".into(),
                    header: Some(header.clone()),
                    items: items
                        .iter()
                        .map(|i| RichItem {
                            text: Some(i.clone()),
                            value: None,
                        })
                        .collect(),
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::CustomEvent { kind, data } if chatting => {
                let m = Message::CustomEvent(CustomEvent {
                    kind: kind.clone(),
                    data: data.clone(),
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::Emit(m) if active => {
                self.emit(si, (**m).clone(), t);
                true
            }
            _ => false,
        };
        if !done {
            self.log(t, None, Some(si), format!("agent skipped {action:?}"));
        }
        done
    }

    // ----------------------------------------------------------------------------------------------------
    // Visitor resources

    fn org_and_deployment(query: &Query<'_>) -> Result<(), Answer> {
        for name in ["org_id", "deployment_id"] {
            if param(query, name).is_none_or(|v| v.trim().is_empty()) {
                return Err(Answer::text(400, &format!("Missing {name}")));
            }
        }
        Ok(())
    }

    fn wrapped(&self, kind: &str, payload: serde_json::Value) -> serde_json::Value {
        if self.config.wrap_visitor_answers {
            serde_json::json!({"messages": [{"type": kind, "message": payload}]})
        } else {
            payload
        }
    }

    fn settings(&mut self, query: &Query<'_>) -> Answer {
        if let Err(a) = Self::org_and_deployment(query) {
            return a;
        }
        let ids = list(param(query, "Settings.buttonIds").unwrap_or_default());
        let wait = param(query, "Settings.needEstimatedWaitTime") == Some("1");
        let buttons: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| {
                let mut b = serde_json::json!({"id": id, "type": "Standard", "language": "en"});
                if let Some(o) = b.as_object_mut() {
                    if self.config.available {
                        o.insert("isAvailable".into(), true.into());
                    }
                    if wait {
                        o.insert("estimatedWaitTime".into(), (-1).into());
                    }
                }
                b
            })
            .collect();
        let payload = serde_json::json!({
            "pingRate": 50000,
            "contentServerUrl": format!("{}://{}/content", self.config.scheme, self.config.host),
            "buttons": buttons,
        });
        let v = self.wrapped("Settings", payload);
        Answer::json_of(
            &v,
            format!("Settings ({} buttons)", ids.len()),
            self.config.dialect.numbers,
            0,
        )
    }

    fn availability(&mut self, query: &Query<'_>) -> Answer {
        if let Err(a) = Self::org_and_deployment(query) {
            return a;
        }
        let ids = list(param(query, "Availability.ids").unwrap_or_default());
        let wait = param(query, "Availability.needEstimatedWaitTime") == Some("1");
        let results: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| {
                let mut r = serde_json::json!({"id": id});
                if let Some(o) = r.as_object_mut() {
                    // isAvailable is omitted when false, as the real server does.
                    if self.config.available {
                        o.insert("isAvailable".into(), true.into());
                    }
                    if wait {
                        o.insert("estimatedWaitTime".into(), (-1).into());
                    }
                }
                r
            })
            .collect();
        let v = self.wrapped("Availability", serde_json::json!({ "results": results }));
        Answer::json_of(
            &v,
            format!(
                "Availability ({} ids, {})",
                ids.len(),
                if self.config.available {
                    "available"
                } else {
                    "unavailable"
                }
            ),
            self.config.dialect.numbers,
            0,
        )
    }

    fn visitor_id(&mut self, query: &Query<'_>) -> Answer {
        if let Err(a) = Self::org_and_deployment(query) {
            return a;
        }
        let id = self.rng.uuid();
        let v = self.wrapped("VisitorId", serde_json::json!({ "sessionId": id }));
        Answer::json_of(&v, "VisitorId".into(), self.config.dialect.numbers, 0)
    }

    fn breadcrumb<B>(&mut self, req: &Request<B>, ctx: &mut Ctx, body: &[u8]) -> Answer {
        let location = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => match v.get("location").and_then(|l| l.as_str()) {
                Some(l) => l.to_owned(),
                None => return Answer::text(400, "Bad request body: missing `location`"),
            },
            Err(e) => return Answer::text(400, &format!("Bad request body: {e}")),
        };
        if req.headers().contains_key(header::SESSION_KEY) {
            let si = match self.gate(req, ctx, None, Kind::Post, Affinity::Token) {
                Ok(si) => si,
                Err(a) => return a,
            };
            if let Some(s) = self.sessions.get_mut(si) {
                s.rec.visitor_events.push(VisitorEvent::Breadcrumb {
                    location: location.clone(),
                });
            }
            let m = Message::NewVisitorBreadcrumb(wire::Breadcrumb {
                location: location.clone(),
            });
            self.emit(si, m, ctx.now);
        }
        Answer::empty(200, format!("Breadcrumb {}", quote(&location)))
    }
}

/// After the visitor acknowledged a SwitchServer, a request at the other host is refused: a poll with the
/// SwitchServer envelope again, anything else with 400.
fn wrong_host<B>(
    s: &Session,
    req: &Request<B>,
    kind: Kind,
    alternate: &str,
    numbers: d::Numbers,
) -> Option<Answer> {
    let sw = s.switch.filter(|w| w.acked)?;
    let at_alt = authority_of(req)?.eq_ignore_ascii_case(alternate);
    if at_alt == sw.to_alternate {
        return None;
    }
    let url = s.rec.switched_to.clone().unwrap_or_default();
    if kind == Kind::Poll {
        let body = MessagesBody {
            messages: vec![Message::SwitchServer(wire::SwitchServer { new_url: url })],
            sequence: None,
            offset: None,
        };
        return Some(Answer::json_of(
            &body,
            "SwitchServer (wrong host)".into(),
            numbers,
            1,
        ));
    }
    Some(Answer::text(
        400,
        &format!("Wrong host for this session: use {url}"),
    ))
}

/// The session has a message the next poll may deliver (retained, and not behind a `resync=required`
/// barrier).
fn deliverable(s: &Session) -> bool {
    s.retained
        .front()
        .is_some_and(|(i, _)| s.dx.resync_barrier.is_none_or(|b| *i <= b))
}

/// `poll-gap=limited`: a session with no poll in progress for this long ends (YALO's runbook: polls more
/// than 45 s apart got 403).
const POLL_GAP: std::time::Duration = std::time::Duration::from_secs(45);

/// ChatMessages closer together than this are "rapid" (CARBON paces them 15 ms apart).
const RAPID_GAP: std::time::Duration = std::time::Duration::from_millis(15);

/// A stable fingerprint of a POST (path and body), to recognise the same request again.
fn fingerprint(path: &str, body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    body.hash(&mut h);
    h.finish()
}

/// The `Actual` of a 409 `Out of sync Ack` when the last accepted number is `last`.
fn out_of_sync_actual(last: u64, meaning: d::OutOfSyncActual) -> u64 {
    match meaning {
        d::OutOfSyncActual::LastAccepted => last,
        d::OutOfSyncActual::NextExpected => last.saturating_add(1),
    }
}

/// `METHOD /path?query` of a finding (the session key of a DELETE path masked).
fn finding_line<B>(req: &Request<B>) -> String {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let path = if path.starts_with("/chat/rest/System/SessionId/") {
        "/chat/rest/System/SessionId/<key>"
    } else {
        path
    };
    format!("{} {path}", req.method())
}

fn npe() -> Answer {
    Answer::text(
        500,
        "Internal Server Error: java.lang.NullPointerException (chat not established)",
    )
}

/// `METHOD /path?query` for the transcript, with the session key of a DELETE path and the sequence header.
fn request_line<B>(req: &Request<B>) -> String {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let path = if path.starts_with("/chat/rest/System/SessionId/") {
        "/chat/rest/System/SessionId/<key>"
    } else {
        path
    };
    let mut line = format!("{} {path}", req.method());
    if let Some(seq) = header_str(req, header::SEQUENCE_NAME) {
        line.push_str(&format!(" seq={seq}"));
    }
    line
}
