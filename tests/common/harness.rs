//! A deterministic driver for [`Session`] scenario tests: a virtual clock (one base `Timestamp` plus offsets), a
//! SCRIPTED in-process server (not the simulator) and a readable transcript.
//!
//! The harness drives the session exactly as a real driver would: drain `poll_output(now)` until `Wait`,
//! deliver answers that are due through `handle_response` / `handle_transport_error`, advance the clock to the
//! earlier of the next answer and `poll_timeout()`, and call `handle_timeout`. After every `handle_timeout(now)`
//! it checks that `poll_timeout()` is `None` or later than `now`, and after every drain that at most one
//! Messages poll and one POST are in flight.
//!
//! The scripted server answers every request with a default behaviour (below) unless the scenario queued a
//! [`Reply`] for that request kind. Server-side messages are scheduled at virtual times; the server numbers
//! them 0, 1, 2, ... as they become available, and a poll with `ack=A` gets every available message with an
//! index above `A` (`sequence` = index of the last one, i.e. `ack + n`, as in every captured answer; `offset`
//! = 5000 + sequence). A poll with nothing to deliver is held, then answered 204 after `hold` (30 s).
#![allow(dead_code)]

use liveagent::Timestamp;
use liveagent::http;
use liveagent::{Config, Event, Handled, Output, RequestId, RequestKind, Session};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

/// The fake session key the scripted server issues. It is a "secret": it must never show up in a transcript or
/// in `Debug` output.
pub const KEY: &str = "c0ffee00-SECRET-KEY!1519169434766!c2lnbmF0dXJl=";
/// The session id (not a secret).
pub const SESSION_ID: &str = "sess-1";
/// The org's original host.
pub const HOST: &str = "d.la1-c1-phx.salesforceliveagent.com";
/// Org id.
pub const ORG: &str = "00DD0000000JVXs";

/// The configuration every scenario starts from.
pub fn config() -> Config {
    let endpoint =
        liveagent::wire::Endpoint::parse(&format!("https://{HOST}/chat/rest/")).expect("endpoint");
    Config::new(endpoint, ORG, "572D000000000J6", "573D000000000OC")
        .visitor_name("Jon A.")
        .seed(7)
}

/// `n` seconds (fractional) as a `Duration`.
pub fn secs(n: f64) -> Duration {
    Duration::from_secs_f64(n)
}

/// One `{type, message}` element of a Messages answer.
pub fn msg(kind: &str, payload: Value) -> Value {
    json!({"type": kind, "message": payload})
}

/// `+12.345s`
pub fn ts(d: Duration) -> String {
    format!("+{}.{:03}s", d.as_secs(), d.subsec_millis())
}

/// What the scripted server does with one request (queued per request kind with [`Server::script`]).
#[derive(Debug, Clone)]
pub enum Reply {
    /// The default behaviour (a placeholder to script a later request of the same kind).
    Default,
    /// The default behaviour, answered after this latency instead of the server's default.
    DefaultAfter(Duration),
    /// An error status with a text body after the default latency; the request is not processed.
    Status(u16, &'static str),
    /// An error status with a text body after this latency; the request is not processed.
    StatusAfter(u16, &'static str, Duration),
    /// POST: 409 `Out of sync Ack. Expected <sent>. Actual <actual>`; the server's counter is now `actual`.
    OutOfSync {
        /// The last sequence the server claims it accepted.
        actual: u64,
    },
    /// POST: 409 `Out of sync Ack. Expected <sent>. Actual <expected>` from a server that reads `Actual` as
    /// the NEXT number it expects (LINE's reading); its counter is now `expected - 1`.
    OutOfSyncNext {
        /// The number the server wants next.
        expected: u64,
    },
    /// POST: like [`Reply::OutOfSync`], but the 409 is lost in transit (never delivered).
    OutOfSyncLost {
        /// The last sequence the server claims it accepted.
        actual: u64,
    },
    /// The default processing, answered with this (success) status and an empty body.
    DefaultStatus(u16),
    /// The transport fails after this long; the server never saw the request.
    TransportError(Duration),
    /// The server processes the request as usual but the answer is lost in transit (never delivered).
    Lose,
}

/// How the server's answer to one request will come back.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An HTTP answer.
    Response {
        /// Status.
        status: u16,
        /// Body.
        body: Vec<u8>,
        /// What goes in the transcript.
        summary: String,
    },
    /// The transport failed.
    TransportError,
}

#[derive(Debug, Clone)]
enum Due {
    At(Duration, Outcome),
    /// A long poll the server holds until messages past `ack` are available, or until `since + hold`.
    Held {
        since: Duration,
        ack: i64,
    },
}

#[derive(Debug, Clone)]
struct Pending {
    id: RequestId,
    due: Due,
    /// The answer never reaches the client.
    lost: bool,
    /// The process that sent it is gone (after a restart).
    orphan: bool,
}

impl Pending {
    fn at(&self) -> Option<Duration> {
        match &self.due {
            Due::At(t, _) => Some(*t),
            Due::Held { .. } => None,
        }
    }
}

/// Everything about a request the session sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// When.
    pub at: Duration,
    /// Its id.
    pub id: RequestId,
    /// Its kind.
    pub kind: RequestKind,
    /// GET/POST/DELETE.
    pub method: String,
    /// Host it went to.
    pub host: String,
    /// Path and query (the session key in a DELETE path is replaced by `<key>`).
    pub path: String,
    /// `X-LIVEAGENT-AFFINITY`, if sent.
    pub affinity: Option<String>,
    /// `X-LIVEAGENT-SESSION-KEY` was sent (and equals the issued key).
    pub has_key: bool,
    /// `X-LIVEAGENT-SEQUENCE`, if sent.
    pub seq: Option<u64>,
    /// The body as text.
    pub body: String,
    /// Its deadline, as an offset on the virtual clock.
    pub deadline: Duration,
}

impl Sent {
    /// The `ack` query parameter of a poll.
    pub fn ack(&self) -> Option<i64> {
        query_param(&self.path, "ack").and_then(|v| v.parse().ok())
    }
    /// The `pc` query parameter of a poll.
    pub fn pc(&self) -> Option<u64> {
        query_param(&self.path, "pc").and_then(|v| v.parse().ok())
    }
}

fn query_param<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    let q = path.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

struct Reaction {
    noun: String,
    delay: Duration,
    messages: Vec<Value>,
}

/// The scripted server.
pub struct Server {
    /// Default answer latency.
    pub latency: Duration,
    /// How long an idle poll is held before 204.
    pub hold: Duration,
    /// `clientPollTimeout` in the SessionId answer.
    pub client_poll_timeout: i64,
    /// Last `X-LIVEAGENT-SEQUENCE` accepted; a POST at or below it is a duplicate and is not processed.
    pub last_seq: u64,
    /// What the server processed, in order: `"seq=2 ChatMessage {\"text\":\"hi\"}"`.
    pub accepted: Vec<String>,
    scripts: HashMap<RequestKind, VecDeque<Reply>>,
    scheduled: Vec<(Duration, Value)>,
    log: Vec<Value>,
    reactions: Vec<Reaction>,
    affinity_n: u32,
    /// Index of the last message put into a 200 batch: a poll without `ack` acknowledges up to it (the
    /// Android SDK polls so; spec §4.3).
    delivered: i64,
    /// `resetSequence` in the ReconnectSession answer (`None`: the field is absent). When false, the
    /// server's sequence counter is kept.
    pub reset_sequence: Option<bool>,
    /// ChasitorSessionData carries the transcript (`chatMessages`, one Chasitor entry per visitor text the
    /// server processed) instead of an empty list.
    pub session_data_transcript: bool,
    /// Visitor texts processed, in order (for the transcript).
    pub visitor_texts: Vec<String>,
}

impl Server {
    fn new() -> Server {
        Server {
            latency: secs(0.05),
            hold: secs(30.0),
            client_poll_timeout: 40,
            last_seq: 0,
            accepted: Vec::new(),
            scripts: HashMap::new(),
            scheduled: Vec::new(),
            log: Vec::new(),
            reactions: Vec::new(),
            affinity_n: 1,
            delivered: -1,
            reset_sequence: Some(true),
            session_data_transcript: false,
            visitor_texts: Vec::new(),
        }
    }

    /// The affinity token currently issued.
    pub fn affinity(&self) -> String {
        format!("aff-{}", self.affinity_n)
    }

    /// Queues a reply for the next request of `kind` that arrives (FIFO per kind).
    pub fn script(&mut self, kind: RequestKind, reply: Reply) {
        self.scripts.entry(kind).or_default().push_back(reply);
    }

    /// Server-side messages that become available at virtual time `at` (seconds).
    pub fn push_at(&mut self, at: f64, messages: Vec<Value>) {
        let at = secs(at);
        for m in messages {
            self.schedule(at, m);
        }
    }

    fn schedule(&mut self, at: Duration, m: Value) {
        // Keep `scheduled` sorted by time, stable for equal times.
        let pos = self.scheduled.partition_point(|(t, _)| *t <= at);
        self.scheduled.insert(pos, (at, m));
    }

    /// When a POST carrying `noun` is processed, these messages become available `delay` seconds later (once).
    pub fn on_noun(&mut self, noun: &str, delay: f64, messages: Vec<Value>) {
        self.reactions.push(Reaction {
            noun: noun.to_owned(),
            delay: secs(delay),
            messages,
        });
    }

    fn next_release(&self) -> Option<Duration> {
        self.scheduled.first().map(|(t, _)| *t)
    }

    /// Moves messages that are due into the log; returns their types for the transcript.
    fn release(&mut self, now: Duration) -> Vec<(Duration, Vec<String>)> {
        let mut out: Vec<(Duration, Vec<String>)> = Vec::new();
        while self.scheduled.first().is_some_and(|(t, _)| *t <= now) {
            let (t, m) = self.scheduled.remove(0);
            let kind = m["type"].as_str().unwrap_or("?").to_owned();
            self.log.push(m);
            match out.last_mut() {
                Some((lt, kinds)) if *lt == t => kinds.push(kind),
                _ => out.push((t, vec![kind])),
            }
        }
        out
    }

    /// The batch for a poll with `ack`, if anything is available.
    fn batch(&self, ack: i64) -> Option<Outcome> {
        let from = usize::try_from(ack.saturating_add(1)).unwrap_or(0);
        if from >= self.log.len() {
            return None;
        }
        let messages: Vec<Value> = self.log[from..].to_vec();
        let sequence = i64::try_from(self.log.len()).expect("small") - 1;
        let offset = 5000 + sequence;
        let kinds: Vec<&str> = messages
            .iter()
            .map(|m| m["type"].as_str().unwrap_or("?"))
            .collect();
        let summary = format!(
            "200 ({} message{}: {}; sequence {sequence}, offset {offset})",
            messages.len(),
            if messages.len() == 1 { "" } else { "s" },
            kinds.join(", ")
        );
        let body = json!({"messages": messages, "sequence": sequence, "offset": offset});
        Some(Outcome::Response {
            status: 200,
            body: serde_json::to_vec(&body).expect("json"),
            summary,
        })
    }

    fn take_script(&mut self, kind: RequestKind) -> Reply {
        self.scripts
            .get_mut(&kind)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Reply::Default)
    }

    fn ok(summary: impl Into<String>, body: Vec<u8>) -> Outcome {
        Outcome::Response {
            status: 200,
            body,
            summary: summary.into(),
        }
    }

    /// The default processing of a request (at arrival time `now`).
    fn process(&mut self, now: Duration, sent: &Sent) -> Outcome {
        match sent.kind {
            RequestKind::SessionId => {
                let body = json!({
                    "id": SESSION_ID,
                    "key": KEY,
                    "affinityToken": self.affinity(),
                    "clientPollTimeout": self.client_poll_timeout,
                });
                Self::ok(
                    format!(
                        "200 SessionId(id={SESSION_ID}, affinityToken={}, clientPollTimeout={})",
                        self.affinity(),
                        self.client_poll_timeout
                    ),
                    serde_json::to_vec(&body).expect("json"),
                )
            }
            RequestKind::ReconnectSession => {
                self.affinity_n += 1;
                if self.reset_sequence != Some(false) {
                    self.last_seq = 0;
                }
                let chat_messages: Vec<Value> = if self.session_data_transcript {
                    self.visitor_texts
                        .iter()
                        .map(|t| json!({"type": "Chasitor", "name": "Jon A.", "content": t}))
                        .collect()
                } else {
                    Vec::new()
                };
                // The first message after a reconnect is ChasitorSessionData (spec §4.6 step 4).
                self.schedule(
                    now,
                    msg(
                        "ChasitorSessionData",
                        json!({"queuePosition": 0, "sneakPeekEnabled": true, "chatMessages": chat_messages}),
                    ),
                );
                let mut payload = json!({"affinityToken": self.affinity()});
                if let Some(r) = self.reset_sequence {
                    payload["resetSequence"] = json!(r);
                }
                let body = json!({"messages": [{"type": "ReconnectSession", "message": payload}]});
                let reset = match self.reset_sequence {
                    Some(r) => r.to_string(),
                    None => "absent".to_owned(),
                };
                Self::ok(
                    format!(
                        "200 ReconnectSession(resetSequence={reset}, affinityToken={})",
                        self.affinity()
                    ),
                    serde_json::to_vec(&body).expect("json"),
                )
            }
            RequestKind::DeleteSession => Self::ok("200 (session deleted)", Vec::new()),
            RequestKind::ResyncState => Self::ok("200", Vec::new()),
            RequestKind::ChasitorInit | RequestKind::Chat => {
                if let Some(seq) = sent.seq {
                    if seq <= self.last_seq {
                        return Self::ok(
                            format!(
                                "200 (server: duplicate sequence {seq} <= {}, not processed again)",
                                self.last_seq
                            ),
                            Vec::new(),
                        );
                    }
                    self.last_seq = seq;
                }
                for (noun, object) in nouns_of(sent) {
                    if noun == "ChatMessage"
                        && let Ok(v) = serde_json::from_str::<Value>(&object)
                        && let Some(t) = v["text"].as_str()
                    {
                        self.visitor_texts.push(t.to_owned());
                    }
                    self.accepted
                        .push(format!("seq={} {noun} {object}", sent.seq.unwrap_or(0)));
                    while let Some(i) = self.reactions.iter().position(|r| r.noun == noun) {
                        let r = self.reactions.remove(i);
                        for m in r.messages {
                            self.schedule(now + r.delay, m);
                        }
                    }
                }
                Self::ok("200", Vec::new())
            }
            RequestKind::Messages => unreachable!("polls are held"),
            other => panic!("unexpected request kind {other:?}"),
        }
    }
}

/// The nouns a POST carries: `(name, object)`.
fn nouns_of(sent: &Sent) -> Vec<(String, String)> {
    let path = sent.path.split('?').next().unwrap_or("");
    if path.ends_with("/System/MultiNoun") {
        let v: Value = serde_json::from_str(&sent.body).expect("MultiNoun body is JSON");
        v["nouns"]
            .as_array()
            .expect("nouns")
            .iter()
            .map(|n| {
                (
                    n["noun"].as_str().unwrap_or("?").to_owned(),
                    n["object"].to_string(),
                )
            })
            .collect()
    } else {
        let name = path.rsplit('/').next().unwrap_or("?").to_owned();
        vec![(name, sent.body.clone())]
    }
}

/// The harness: session + scripted server + virtual clock + transcript.
pub struct Harness {
    /// The session under test.
    pub session: Session,
    /// The scripted server.
    pub server: Server,
    /// Virtual time (offset from the start of the scenario).
    pub t: Duration,
    /// Every request the session sent, in order.
    pub sent: Vec<Sent>,
    /// Every event, with the time it was drained.
    pub events: Vec<(Duration, Event)>,
    /// Every answer delivered and what the session said.
    pub handled: Vec<(RequestId, Handled)>,
    transcript: String,
    /// The `Timestamp` for virtual time `epoch_start` (changes on a process restart).
    base: Timestamp,
    epoch_start: Duration,
    pending: Vec<Pending>,
    ended_logged: bool,
}

impl Harness {
    /// A new session created at virtual time 0.
    pub fn new(config: Config) -> Harness {
        let base = Timestamp::ZERO;
        let mut h = Harness {
            session: Session::new(config, base),
            server: Server::new(),
            t: Duration::ZERO,
            sent: Vec::new(),
            events: Vec::new(),
            handled: Vec::new(),
            transcript: String::new(),
            base,
            epoch_start: Duration::ZERO,
            pending: Vec::new(),
            ended_logged: false,
        };
        h.drain();
        h
    }

    /// The `Timestamp` for virtual time `t`.
    pub fn instant(&self, t: Duration) -> Timestamp {
        self.base + t.saturating_sub(self.epoch_start)
    }

    /// The current `Timestamp`.
    pub fn now(&self) -> Timestamp {
        self.instant(self.t)
    }

    /// Virtual time of an `Timestamp` handed out by the session.
    pub fn offset(&self, i: Timestamp) -> Duration {
        self.epoch_start + i.saturating_duration_since(self.base)
    }

    fn line(&mut self, t: Duration, text: &str) {
        let _ = writeln!(self.transcript, "{:>9} {text}", ts(t));
    }

    /// A free-form annotation in the transcript.
    pub fn note(&mut self, text: &str) {
        let t = self.t;
        self.line(t, &format!("# {text}"));
    }

    /// Runs a visitor command at the current time, logs it with its result, and drains.
    pub fn act<R: std::fmt::Debug>(&mut self, label: &str, f: impl FnOnce(&mut Session) -> R) -> R {
        let r = f(&mut self.session);
        let t = self.t;
        self.line(t, &format!("✎ {label} → {r:?}"));
        self.drain();
        r
    }

    /// The transcript so far, checked for the secret key.
    pub fn transcript(&self) -> String {
        assert!(
            !self.transcript.contains(KEY) && !self.transcript.contains("SECRET"),
            "the session key leaked into the transcript"
        );
        self.transcript.clone()
    }

    // ------------------------------------------------------------------------------------------
    // Queries for assertions
    // ------------------------------------------------------------------------------------------

    /// Requests of one kind.
    pub fn sent_of(&self, kind: RequestKind) -> Vec<&Sent> {
        self.sent.iter().filter(|s| s.kind == kind).collect()
    }

    /// The `ack` of every poll, in order (every poll must carry one).
    pub fn acks(&self) -> Vec<i64> {
        self.sent_of(RequestKind::Messages)
            .iter()
            .map(|s| s.ack().expect("ack"))
            .collect()
    }

    /// The `ack` of every poll, in order, `None` for a poll without one.
    pub fn acks_or_none(&self) -> Vec<Option<i64>> {
        self.sent_of(RequestKind::Messages)
            .iter()
            .map(|s| s.ack())
            .collect()
    }

    /// `(path, seq)` of every POST, in order.
    pub fn posts(&self) -> Vec<(String, Option<u64>)> {
        self.sent
            .iter()
            .filter(|s| s.method == "POST")
            .map(|s| (s.path.clone(), s.seq))
            .collect()
    }

    /// Only the events (no times).
    pub fn event_list(&self) -> Vec<Event> {
        self.events.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Texts of agent messages the application got.
    pub fn agent_texts(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::AgentMessage(m) => Some(m.text.clone()),
                _ => None,
            })
            .collect()
    }

    // ------------------------------------------------------------------------------------------
    // The drive loop
    // ------------------------------------------------------------------------------------------

    /// Drains `poll_output(now)` until `Wait`, sending requests to the scripted server.
    pub fn drain(&mut self) {
        for _ in 0..10_000 {
            let now = self.now();
            match self.session.poll_output(now) {
                Output::Request(req) => self.on_request(req),
                Output::Event(ev) => {
                    let text = self.fmt_event(&ev);
                    let t = self.t;
                    self.line(t, &format!("  event {text}"));
                    self.events.push((t, ev));
                }
                Output::Wait(w) => {
                    if w.is_none() && !self.ended_logged {
                        self.ended_logged = true;
                        let t = self.t;
                        self.line(t, "■ Wait(None)");
                    }
                    self.check_in_flight();
                    return;
                }
            }
        }
        panic!("poll_output never returned Wait");
    }

    fn check_in_flight(&self) {
        let inflight: Vec<_> = self.session.in_flight().collect();
        let polls = inflight.iter().filter(|(_, k)| k.is_poll()).count();
        let posts = inflight.iter().filter(|(_, k)| k.is_post()).count();
        assert!(polls <= 1, "{polls} polls in flight: {inflight:?}");
        assert!(posts <= 1, "{posts} POSTs in flight: {inflight:?}");
    }

    fn on_request(&mut self, req: liveagent::OutgoingRequest) {
        let http = &req.http;
        let headers = http.headers();
        let get = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().expect("ASCII header").to_owned())
        };
        let host = http.uri().host().unwrap_or("?").to_owned();
        let mut path = http
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        if let Some(seg) = path.strip_prefix("/chat/rest/System/SessionId/") {
            assert_eq!(
                liveagent::testkit::wire_internals::percent_decode(seg),
                KEY,
                "DELETE path carries the session key"
            );
            path = "/chat/rest/System/SessionId/<key>".to_owned();
        }
        let key = get(liveagent::wire::header::SESSION_KEY);
        if let Some(k) = &key {
            assert_eq!(k, KEY, "wrong session key header");
        }
        let sent = Sent {
            at: self.t,
            id: req.id,
            kind: req.kind,
            method: http.method().as_str().to_owned(),
            host,
            path,
            affinity: get(liveagent::wire::header::AFFINITY),
            has_key: key.is_some(),
            seq: get(liveagent::wire::header::SEQUENCE).map(|s| s.parse().expect("sequence")),
            body: String::from_utf8(http.body().clone()).expect("UTF-8 body"),
            deadline: self.offset(req.deadline),
        };
        assert!(sent.deadline > self.t, "deadline not in the future");
        let mut line = format!("→ {} ", sent.method);
        if sent.host != HOST {
            let _ = write!(line, "//{}", sent.host);
        }
        let _ = write!(
            line,
            "{} [{}] affinity={}",
            sent.path,
            sent.id,
            sent.affinity.as_deref().unwrap_or("-")
        );
        if sent.has_key {
            line.push_str(" key=✓");
        }
        if let Some(s) = sent.seq {
            let _ = write!(line, " seq={s}");
        }
        if !sent.body.is_empty() {
            let _ = write!(line, " {}", sent.body);
        }
        let t = self.t;
        self.line(t, &line);
        self.plan(&sent);
        self.sent.push(sent);
    }

    /// The scripted server receives a request (at the current time) and decides how it answers.
    fn plan(&mut self, sent: &Sent) {
        let now = self.t;
        let reply = self.server.take_script(sent.kind);
        let lat = self.server.latency;
        let (due, lost) = match reply {
            Reply::TransportError(d) => (Due::At(now + d, Outcome::TransportError), false),
            Reply::Status(status, text) | Reply::StatusAfter(status, text, _) => {
                let d = match reply {
                    Reply::StatusAfter(_, _, d) => d,
                    _ => lat,
                };
                let summary = if text.is_empty() {
                    format!("{status}")
                } else {
                    format!("{status} {text:?}")
                };
                let out = Outcome::Response {
                    status,
                    body: text.as_bytes().to_vec(),
                    summary,
                };
                (Due::At(now + d, out), false)
            }
            Reply::OutOfSync { actual } | Reply::OutOfSyncLost { actual } => {
                let text = format!(
                    "Out of sync Ack. Expected {}. Actual {actual}",
                    sent.seq.unwrap_or(0)
                );
                self.server.last_seq = actual;
                let out = Outcome::Response {
                    status: 409,
                    summary: format!("409 {text:?}"),
                    body: text.into_bytes(),
                };
                (
                    Due::At(now + lat, out),
                    matches!(reply, Reply::OutOfSyncLost { .. }),
                )
            }
            Reply::OutOfSyncNext { expected } => {
                let text = format!(
                    "Out of sync Ack. Expected {}. Actual {expected}",
                    sent.seq.unwrap_or(0)
                );
                self.server.last_seq = expected.saturating_sub(1);
                let out = Outcome::Response {
                    status: 409,
                    summary: format!("409 {text:?} (Actual = next expected)"),
                    body: text.into_bytes(),
                };
                (Due::At(now + lat, out), false)
            }
            Reply::DefaultStatus(status) => {
                let out = match self.server.process(now, sent) {
                    Outcome::Response { summary, body, .. } => Outcome::Response {
                        status,
                        body: if status == 204 { Vec::new() } else { body },
                        summary: summary.replacen("200", &status.to_string(), 1),
                    },
                    other => other,
                };
                (Due::At(now + lat, out), false)
            }
            Reply::Default | Reply::DefaultAfter(_) | Reply::Lose => {
                let lost = matches!(reply, Reply::Lose);
                let d = match reply {
                    Reply::DefaultAfter(d) => d,
                    _ => lat,
                };
                if sent.kind == RequestKind::Messages {
                    // A new poll supersedes one the server still holds: that one is answered 204.
                    for p in &mut self.pending {
                        if matches!(p.due, Due::Held { .. }) {
                            p.due = Due::At(now + lat, no_content("superseded by a newer poll"));
                        }
                    }
                    let ack = sent.ack().unwrap_or(self.server.delivered);
                    (Due::Held { since: now, ack }, lost)
                } else {
                    // DELETE ends the session; after a ReconnectSession the old server is gone. Either way a
                    // poll the server still holds is answered now.
                    let release = match sent.kind {
                        RequestKind::DeleteSession => Some(no_content("session deleted")),
                        RequestKind::ReconnectSession => Some(Outcome::Response {
                            status: 503,
                            body: Vec::new(),
                            summary: "503 (from the old server)".to_owned(),
                        }),
                        _ => None,
                    };
                    if let Some(out) = release {
                        for p in &mut self.pending {
                            if matches!(p.due, Due::Held { .. }) {
                                p.due = Due::At(now + lat, out.clone());
                            }
                        }
                    }
                    (Due::At(now + d, self.server.process(now, sent)), lost)
                }
            }
        };
        self.pending.push(Pending {
            id: sent.id,
            due,
            lost,
            orphan: false,
        });
        self.settle();
    }

    /// Releases due server messages and answers held polls that can be answered now.
    fn settle(&mut self) {
        let now = self.t;
        for (t, kinds) in self.server.release(now) {
            self.line(t, &format!("⚑ server: {} available", kinds.join(", ")));
        }
        let lat = self.server.latency;
        let hold = self.server.hold;
        for i in 0..self.pending.len() {
            if let Due::Held { since, ack } = self.pending[i].due {
                if let Some(out) = self.server.batch(ack) {
                    self.server.delivered = i64::try_from(self.server.log.len()).unwrap_or(0) - 1;
                    self.pending[i].due = Due::At(now + lat, out);
                } else if now >= since + hold {
                    self.pending[i].due = Due::At(since + hold + lat, no_content(""));
                }
            }
        }
    }

    /// Makes the server answer the poll it holds at virtual time `at` with `status` (or a transport error when
    /// `status` is 0) instead of the default.
    pub fn answer_held_poll_at(&mut self, at: f64, status: u16, text: &'static str) {
        let p = self
            .pending
            .iter_mut()
            .find(|p| matches!(p.due, Due::Held { .. }) && !p.orphan)
            .expect("no poll is held");
        let out = if status == 0 {
            Outcome::TransportError
        } else {
            Outcome::Response {
                status,
                body: text.as_bytes().to_vec(),
                summary: if text.is_empty() {
                    format!("{status}")
                } else {
                    format!("{status} {text:?}")
                },
            }
        };
        p.due = Due::At(secs(at), out);
    }

    fn next_time(&self) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut consider = |t: Duration| next = Some(next.map_or(t, |n: Duration| n.min(t)));
        for p in &self.pending {
            match &p.due {
                Due::At(t, _) => consider(*t),
                Due::Held { since, .. } => consider(*since + self.server.hold),
            }
        }
        if let Some(t) = self.server.next_release() {
            consider(t);
        }
        if let Some(i) = self.session.poll_timeout() {
            consider(self.offset(i));
        }
        next
    }

    /// Runs the loop until virtual time `until` (seconds); the clock then stands at `until`.
    pub fn run_until(&mut self, until: f64) {
        self.run(Some(secs(until)));
    }

    /// Runs until nothing is left to happen (the session ended and every answer was delivered).
    pub fn run_to_end(&mut self) {
        self.run(None);
    }

    fn run(&mut self, limit: Option<Duration>) {
        self.drain();
        for _ in 0..100_000 {
            self.settle();
            let Some(next) = self.next_time() else {
                break;
            };
            if limit.is_some_and(|l| next > l) {
                break;
            }
            if next > self.t {
                self.t = next;
            }
            self.settle();
            self.deliver_due();
            if let Some(i) = self.session.poll_timeout()
                && self.offset(i) <= self.t
            {
                self.timeout();
            }
        }
        match limit {
            Some(l) if l > self.t => {
                self.t = l;
                self.settle();
            }
            Some(_) => {}
            None => assert!(
                self.next_time().is_none(),
                "run_to_end: the scenario never settles"
            ),
        }
    }

    /// Calls `handle_timeout(now)` and checks the no-hot-loop guarantee.
    pub fn timeout(&mut self) {
        let now = self.now();
        self.session.handle_timeout(now);
        if let Some(next) = self.session.poll_timeout() {
            assert!(
                next > now,
                "poll_timeout() {:?} is not later than now {:?} after handle_timeout",
                ts(self.offset(next)),
                ts(self.t)
            );
        }
        self.drain();
    }

    fn deliver_due(&mut self) {
        loop {
            let now = self.t;
            let Some(i) = self
                .pending
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.at().filter(|t| *t <= now).map(|t| (t, p.id, i)))
                .min()
                .map(|(_, _, i)| i)
            else {
                return;
            };
            let p = self.pending.remove(i);
            let Due::At(_, out) = p.due else {
                unreachable!()
            };
            self.deliver(p.id, out, p.lost, p.orphan);
        }
    }

    fn deliver(&mut self, id: RequestId, out: Outcome, lost: bool, orphan: bool) {
        let t = self.t;
        let what = match &out {
            Outcome::Response { summary, .. } => summary.clone(),
            Outcome::TransportError => "transport error".to_owned(),
        };
        if orphan {
            self.line(
                t,
                &format!("✗ {what} [{id}] (lost: the old process is gone)"),
            );
            return;
        }
        if lost {
            self.line(
                t,
                &format!("✗ {what} [{id}] (lost in transit, never delivered)"),
            );
            return;
        }
        let now = self.now();
        let handled = match out {
            Outcome::Response { status, body, .. } => {
                let resp = http::Response::builder()
                    .status(status)
                    .body(body)
                    .expect("response");
                self.session.handle_response(id, resp, now)
            }
            Outcome::TransportError => {
                self.session
                    .handle_transport_error(id, liveagent::TransportError::Reset, now)
            }
        }
        .expect("the session issued this id");
        let arrow = if matches!(what.as_str(), "transport error") {
            "✗"
        } else {
            "←"
        };
        let stale = if handled == Handled::Stale {
            " → Stale"
        } else {
            ""
        };
        self.line(t, &format!("{arrow} {what} [{id}]{stale}"));
        self.handled.push((id, handled));
        self.drain();
    }

    /// Simulates a process restart: the session is dropped (its connections with it) and a new one is built by
    /// `make` from a fresh base `Timestamp` (the resumed process has its own clock origin).
    pub fn restart(&mut self, make: impl FnOnce(Timestamp) -> Session) {
        for p in &mut self.pending {
            p.orphan = true;
        }
        // A fresh clock origin, deliberately far from the old one.
        let new_base = Timestamp::ZERO + Duration::from_secs(3600);
        self.base = new_base;
        self.epoch_start = self.t;
        self.session = make(new_base);
        self.ended_logged = false;
        self.note("process restarted: Session::resume with a new base Timestamp");
        self.drain();
    }

    fn fmt_event(&self, ev: &Event) -> String {
        match ev {
            Event::IdleWarning { ends_at } => {
                format!("IdleWarning {{ ends_at: {} }}", ts(self.offset(*ends_at)))
            }
            Event::Retrying {
                request,
                attempt,
                at,
                cause,
            } => format!(
                "Retrying {{ request: {request:?}, attempt: {attempt}, at: {}, cause: {cause:?} }}",
                ts(self.offset(*at))
            ),
            other => format!("{other:?}"),
        }
    }
}

fn no_content(why: &str) -> Outcome {
    Outcome::Response {
        status: 204,
        body: Vec::new(),
        summary: if why.is_empty() {
            "204".to_owned()
        } else {
            format!("204 ({why})")
        },
    }
}
