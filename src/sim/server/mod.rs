//! The simulated server: its state, the event loop (time, timers, replies) and the public API. Each resource
//! family has its own file (`session_id`, `chasitor`, `messages`, `reconnect`, `visitor`, `upload`), routing
//! and encoding are apart, and the agent and the faults live in `agent` and `faults`.

mod admin;
pub(crate) mod agent;
mod bodies;
mod chasitor;
mod encoding;
pub(crate) mod faults;
mod forms;
mod messages;
mod reconnect;
mod routing;
mod session_id;
mod upload;
mod visitor;

use crate::sim::conformance::{
    ConformanceReport, Finding, FindingLog, SessionReport, Severity, codes,
};
use crate::sim::dialect as d;
use crate::sim::session::{Armed, Effects};
use crate::sim::timers::TimerQueue;
use crate::sim::{
    FaultKind, Reply, ServerEnd, SessionRecord, SessionState, SimConfig, Ticket, TranscriptLine,
    Trigger, VisitorEvent, rng,
};
use crate::time::Timestamp;
use crate::wire::{Message, header};
use encoding::*;
use http::Request;
use messages::*;
use routing::*;
use std::collections::{HashMap, VecDeque};
use std::fmt;

use crate::sim::{session, timers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// A held poll reaches `poll_hold`.
    Held(usize),
    /// The next agent step is due.
    Agent(usize),
    /// The session idle timeout.
    Idle(usize),
    /// A time-triggered fault (session, index in the plan).
    Fault(usize, usize),
}

/// The simulated Chat server. See the [module docs](crate::sim) for the behaviour. `Debug` shows counters only
/// (no session keys or affinity tokens).
pub struct Server {
    config: SimConfig,
    start: Timestamp,
    now: Timestamp,
    rng: rng::SplitMix64,
    sessions: Vec<session::ChatRecord>,
    by_key: HashMap<String, usize, rng::FastHash>,
    by_id: HashMap<String, usize, rng::FastHash>,
    timers: timers::TimerQueue<Timer>,
    timer_seq: u64,
    ready: timers::TimerQueue<(Ticket, Reply)>,
    ready_seq: u64,
    next_ticket: u64,
    server_requests: u64,
    global: session::Armed,
    transcript: Vec<TranscriptLine>,
    dirty: Vec<usize>,
    live: usize,
    /// Plan indices of faults that can apply to sessions (not ServerRequest-triggered).
    session_faults: Vec<usize>,
    any_duplicate_fault: bool,
    /// Held polls by ticket, for [`Server::cancel`].
    held_by_ticket: HashMap<u64, usize, rng::FastHash>,
    /// Transcript lines of the request being handled, logged after its own line.
    deferred: Option<Vec<TranscriptLine>>,
    /// Findings of refused requests that belong to no session.
    outside: FindingLog,
    /// The number of the request being handled (its ticket), for its findings.
    current_request: u64,
    /// A finding was recorded for the request being handled (else a refusal gets a generic one).
    refusal_noted: bool,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("sessions", &self.sessions.len())
            .field("live", &self.live)
            .field("timers", &self.timers.len())
            .field("ready_replies", &self.ready.len())
            .field("elapsed", &self.now.saturating_duration_since(self.start))
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server with no sessions; `now` is time zero of the transcript.
    pub fn new(config: SimConfig, now: Timestamp) -> Server {
        let (session_faults, any_duplicate_fault) = plan_summary(&config);
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
            outside: FindingLog::default(),
            current_request: 0,
            refusal_noted: false,
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
        if self.config.admin_api && req.uri().path().starts_with(admin::PREFIX) {
            let ctx = Ctx {
                ticket,
                now,
                session: None,
                fx: Effects::default(),
                line: String::new(),
                session_kinds: Vec::new(),
                end_after: None,
                planned: true,
            };
            let a = self.admin(req, &ctx);
            self.send(ticket, None, a, Effects::default(), now, None);
            self.flush(now);
            return ticket;
        }
        self.server_requests = self.server_requests.saturating_add(1);
        self.current_request = ticket.0;
        self.refusal_noted = false;
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
            planned: false,
        };
        // Lines caused by the request (emits, faults) are logged after the request's own line.
        self.deferred = Some(Vec::new());
        let outcome = self.dispatch(req, &mut ctx);
        let deferred = self.deferred.take().unwrap_or_default();
        match outcome {
            Outcome::Respond(a) => {
                if a.status >= 400 && !ctx.planned && !self.refusal_noted {
                    self.note_refusal(req, &ctx, &a);
                }
                let line = std::mem::take(&mut ctx.line);
                let lost = ctx.fx.drop;
                self.send(ticket, ctx.session, a, ctx.fx, now, Some(line));
                if let (Some(si), Some(reason)) = (ctx.session, ctx.end_after) {
                    self.final_batch_sent(si, reason, lost, now);
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

    /// The fault plan changed: sessions created from now on follow the new one.
    fn plan_changed(&mut self) {
        let (session_faults, any_duplicate) = plan_summary(&self.config);
        self.session_faults = session_faults;
        self.any_duplicate_fault = any_duplicate;
    }

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
                    self.end_session(si, ServerEnd::IdleTimeout, t);
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
        if let Some(after) = fx.unreachable {
            // The request never reached the server: no answer, the transport fails `after` later.
            if recording {
                let head = prefix.map_or_else(String::new, |p| format!("{p} "));
                let text = format!(
                    "{head}-> never reached the server (the transport fails after {}.{:03}s)",
                    after.as_secs(),
                    after.subsec_millis()
                );
                self.log(t, Some(ticket), session, text);
            }
            let at = t.checked_add(after).unwrap_or(t);
            self.ready
                .insert((at, self.ready_seq), (ticket, Reply::Drop));
            self.ready_seq = self.ready_seq.wrapping_add(1);
            return;
        }
        if a.status == 403
            && let Some(s) = session.and_then(|si| self.sessions.get_mut(si))
        {
            s.dx.told_403 = true;
        }
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
        // Every answer takes the configured latency to reach the client.
        let at = at.checked_add(self.config.answer_latency).unwrap_or(at);
        self.ready.insert((at, self.ready_seq), (ticket, reply));
        self.ready_seq = self.ready_seq.wrapping_add(1);
    }

    fn end_session(&mut self, si: usize, reason: ServerEnd, t: Timestamp) {
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        let reason = match s.rec.state {
            SessionState::Ended(_) => return,
            SessionState::Ending(r)
                if matches!(reason, ServerEnd::IdleTimeout | ServerEnd::Deleted) =>
            {
                r
            }
            _ => reason,
        };
        s.rec.state = SessionState::Ended(reason);
        // A finished chat keeps its record (report, transcript, tests) and what answers its late requests (403),
        // nothing more: the simulator may hold a hundred thousand of them.
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
    fn finish_chat(&mut self, si: usize, msg: Message, reason: ServerEnd, t: Timestamp) {
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
        self.refusal_noted = true;
        if log.push(
            sev,
            Finding::new(self.current_request, line, code, section, what),
        ) {
            self.log(t, None, Some(si), text);
        }
    }

    /// Records a violation for a refused request: in the session its key names, else outside sessions.
    fn refusal<B>(
        &mut self,
        req: &Request<B>,
        ctx: &Ctx,
        code: &'static str,
        section: &'static str,
        what: String,
    ) {
        let si = ctx.session.or_else(|| {
            header_str(req, header::SESSION_KEY_NAME).and_then(|k| self.by_key.get(k).copied())
        });
        match si {
            Some(si) => self.note(si, req, Severity::Violation, code, section, what, ctx.now),
            None => {
                self.refusal_noted = true;
                let text = if self.config.record_transcript {
                    format!("violation {code} ({section}): {what}")
                } else {
                    String::new()
                };
                let f = Finding::new(self.current_request, finding_line(req), code, section, what);
                if self.outside.push(Severity::Violation, f) {
                    self.log(ctx.now, None, None, text);
                }
            }
        }
    }

    /// The generic finding of a refusal no specific check recorded.
    fn note_refusal<B>(&mut self, req: &Request<B>, ctx: &Ctx, a: &Answer) {
        let (code, section) = match a.status {
            403 => (codes::UNKNOWN_SESSION, "§8"),
            404 | 405 => (codes::UNKNOWN_RESOURCE, "§3"),
            _ => (codes::BAD_REQUEST, "§8"),
        };
        let reason = match a.content_type {
            Some(TEXT) => String::from_utf8_lossy(&a.body).into_owned(),
            _ => String::new(),
        };
        let what = format!("refused {}: {reason}", a.status);
        self.refusal(req, ctx, code, section, what);
    }

    /// The conformance findings of every session so far (see [`conformance`](crate::sim::conformance)).
    pub fn conformance_report(&self) -> ConformanceReport {
        ConformanceReport {
            sessions: self
                .sessions
                .iter()
                .map(|s| {
                    SessionReport::from_log(
                        s.rec.id.clone(),
                        completion(s),
                        s.requests,
                        s.findings.as_deref(),
                    )
                })
                .collect(),
            outside_sessions: self.outside.items.iter().map(|(_, f)| f.clone()).collect(),
            outside_dropped: self.outside.dropped,
        }
    }
}

/// The plan indices of faults that can apply to sessions, and whether any is a duplicate batch.
fn plan_summary(config: &SimConfig) -> (Vec<usize>, bool) {
    let faults = &config.faults.faults;
    let session_faults = faults
        .iter()
        .enumerate()
        .filter(|(_, f)| !matches!(f.at, Trigger::ServerRequest(_)))
        .map(|(i, _)| i)
        .collect();
    let any_duplicate = faults.iter().any(|f| f.kind == FaultKind::DuplicateBatch);
    (session_faults, any_duplicate)
}

/// Whether a session completed, and how it ended or why it did not complete: the one meaning of `completed`
/// (see [`conformance`](crate::sim::conformance)).
fn completion(s: &session::ChatRecord) -> (bool, String) {
    let delivered = s.dx.final_delivered;
    let init = s
        .rec
        .visitor_events
        .iter()
        .any(|e| matches!(e, VisitorEvent::Init { .. }));
    let (completed, end) = match s.rec.state {
        SessionState::Ending(ServerEnd::Visitor) | SessionState::Ended(ServerEnd::Visitor) => {
            (true, "ended by the visitor (ChatEnd accepted)")
        }
        SessionState::Ended(ServerEnd::Deleted) => {
            (true, "ended by the visitor (DELETE SessionId accepted)")
        }
        SessionState::Ending(ServerEnd::Agent) | SessionState::Ended(ServerEnd::Agent)
            if delivered =>
        {
            (true, "ended by the agent (ChatEnded delivered)")
        }
        SessionState::Ending(ServerEnd::Declined) | SessionState::Ended(ServerEnd::Declined)
            if delivered =>
        {
            (true, "declined (ChatRequestFail delivered)")
        }
        SessionState::Ending(ServerEnd::Agent) | SessionState::Ended(ServerEnd::Agent) => {
            (false, "ended by the agent and never polled for ChatEnded")
        }
        SessionState::Ending(ServerEnd::Declined) | SessionState::Ended(ServerEnd::Declined) => {
            (false, "declined and never polled for ChatRequestFail")
        }
        SessionState::Ended(ServerEnd::IdleTimeout) if !init => (
            false,
            "never requested a chat (no ChasitorInit), then expired",
        ),
        SessionState::Ended(ServerEnd::IdleTimeout) => (
            false,
            "expired: no poll in progress for the poll gap (or the idle timeout)",
        ),
        SessionState::Ended(ServerEnd::Expired) => (false, "expired (a planned fault)"),
        SessionState::Ended(ServerEnd::DuplicatePoll) => {
            (false, "ended by a second concurrent poll (409)")
        }
        SessionState::Created => (
            false,
            "never requested a chat (no ChasitorInit); still open",
        ),
        _ => (false, "still open"),
    };
    (completed, end.to_owned())
}
