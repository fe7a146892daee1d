//! The harness: owns a [`Session`] and a virtual clock, applies one [`Op`] at a time, drains the outputs and has
//! the [`Monitor`] check everything.

use super::coverage::{CommandKind, Coverage, InputKind};
use super::monitor::{Check, Monitor, Violation, classify};
use super::op::{Op, ScriptedAnswer, TimeStep};
use super::render::{Server, Target};
use crate::sim::render::Render;
use crate::wire::{Endpoint, Limits};
use crate::{
    Config, Event, Handled, InputError, OutgoingRequest, Output, RequestId, RequestKind,
    RetryPolicy, Session, SessionSnapshot,
};
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use crate::time::Timestamp;

/// Knobs for the session under test. Small limits make refusals (full queue, long text) reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// Jitter seed.
    pub seed: u64,
    /// `Config::max_batch`.
    pub max_batch: u8,
    /// `Config::max_queued_commands`.
    pub max_queued: u8,
    /// `Config::max_text_bytes`.
    pub max_text: u16,
    /// `RetryPolicy::max_attempts`.
    pub max_attempts: u8,
    /// `Config::send_poll_counter`.
    pub poll_counter: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            seed: 7,
            max_batch: 3,
            max_queued: 6,
            max_text: 40,
            max_attempts: 4,
            poll_counter: true,
        }
    }
}

/// How many trace lines a [`Violation`] carries.
const TRACE_LINES: usize = 40;
/// A drain that yields more outputs than this without `Wait` is a hot loop.
const MAX_DRAIN: usize = 10_000;

/// `t - d`, stopping at the earliest representable `Timestamp`.
fn sub(t: Timestamp, d: Duration) -> Timestamp {
    let mut d = d;
    loop {
        if let Some(x) = t.checked_sub(d) {
            return x;
        }
        d /= 2;
        if d.is_zero() {
            return t;
        }
    }
}

fn step_duration(step: TimeStep) -> Duration {
    match step {
        TimeStep::Millis(n) => Duration::from_millis(u64::from(n)),
        TimeStep::Secs(n) => Duration::from_secs(u64::from(n)),
        TimeStep::Hours(n) => Duration::from_secs(u64::from(n).saturating_mul(3600)),
        TimeStep::Huge => Duration::MAX,
    }
}

/// One output of the session, kept in order by a harness that records ([`Harness::with_config`]).
#[derive(Debug)]
pub enum Out {
    /// A request handed out.
    Request(OutgoingRequest),
    /// An event handed out.
    Event(Event),
}

/// Runs a session against scripted answers and checks the invariants after every step.
///
/// Two ways to drive it: [`Op`]s ([`apply`](Self::apply), for the property test and the fuzz target), or by
/// hand ([`with_config`](Self::with_config), [`answer`](Self::answer), [`timeout`](Self::timeout)), for tests
/// that answer exactly what a hostile server would send, byte for byte. Answers the simulator would send
/// belong on [`sim::Pair`](crate::sim::Pair) instead.
#[derive(Debug)]
pub struct Harness {
    config: Config,
    session: Session,
    now: Timestamp,
    monitor: Monitor,
    server: Server,
    coverage: Coverage,
    trace: VecDeque<String>,
    step: usize,
    op_text: String,
    /// The last answer the session accepted: (id, status, body).
    last_answer: Option<(u64, u16, Vec<u8>)>,
    /// Every output drained, in order, as text (bounded).
    outputs: usize,
    /// Keep the transcript and the output log (the hand-driven harness does; ops-driven runs do not).
    record: bool,
    render: Render,
    lines: Vec<String>,
    log: Vec<Out>,
    /// Requests handed out so far.
    issued: usize,
    /// The test drives the session by hand ([`Harness::session_mut`]): the monitor no longer follows it.
    detached: bool,
}

impl Harness {
    /// A fresh session at a virtual time. Fails only if the built-in endpoint does not parse.
    pub fn new(setup: Setup, start: Timestamp) -> Result<Harness, Violation> {
        let config = Self::setup_config(setup)?;
        Self::build(config, Session::new, start, false, false)
    }

    /// A fresh session built from `config` at `start`, driven by hand: it keeps a transcript
    /// ([`transcript`](Self::transcript)) and every output ([`log`](Self::log)). The monitor follows the
    /// session until the test takes the wheel with [`session_mut`](Self::session_mut).
    pub fn with_config(config: Config, start: Timestamp) -> Result<Harness, Violation> {
        Self::build(config, Session::new, start, true, false)
    }

    /// Like [`with_config`](Self::with_config), around a session built elsewhere (e.g. by `Session::resume`).
    /// The monitor cannot know what the session did before, so it stays out.
    pub fn resumed(config: Config, session: Session, now: Timestamp) -> Result<Harness, Violation> {
        Self::build(config, |_, _| session, now, true, true)
    }

    fn build(
        config: Config,
        make: impl FnOnce(Config, Timestamp) -> Session,
        start: Timestamp,
        record: bool,
        detached: bool,
    ) -> Result<Harness, Violation> {
        let limits: Limits = config.limits.into();
        let mut monitor = Monitor::new(&config.endpoint, limits);
        monitor.set_policy(config.redirect.clone());
        monitor.set_event_byte_cap(config.limits.max_undrained_event_bytes);
        monitor.set_retry_budget(
            config
                .retry
                .max_attempts
                .max(crate::config::floors::MIN_ATTEMPTS),
        );
        let render = Render::new(start, config.endpoint.authority());
        let session = make(config.clone(), start);
        let mut h = Harness {
            monitor,
            config,
            session,
            now: start,
            server: Server::default(),
            coverage: Coverage::default(),
            trace: VecDeque::new(),
            step: 0,
            op_text: "setup".into(),
            last_answer: None,
            outputs: 0,
            record,
            render,
            lines: Vec::new(),
            log: Vec::new(),
            issued: 0,
            detached,
        };
        if detached {
            h.note("resumed");
        }
        h.drain_outputs(false)?;
        Ok(h)
    }

    fn setup_config(setup: Setup) -> Result<Config, Violation> {
        let endpoint = Endpoint::parse("https://d.la1-c1-ia2.salesforceliveagent.com/chat/rest/")
            .map_err(|e| Violation {
            step: 0,
            op: "setup".into(),
            what: format!("endpoint: {e}"),
            trace: Vec::new(),
        })?;
        let mut config = Config::new(
            endpoint,
            "00Dxx0000001gPL",
            "572xx0000004CDV",
            "573xx0000004CFH",
        )
        .seed(setup.seed)
        .retry(RetryPolicy {
            max_attempts: u32::from(setup.max_attempts),
            ..RetryPolicy::default()
        });
        config.max_batch = usize::from(setup.max_batch);
        config.max_queued_commands = usize::from(setup.max_queued);
        config.max_text_bytes = usize::from(setup.max_text);
        config.send_poll_counter = setup.poll_counter;
        Ok(config)
    }

    /// The session under test.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The (state, input) pairs reached so far.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// How many outputs were drained so far.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The trace so far (last lines).
    pub fn trace(&self) -> Vec<String> {
        self.trace.iter().cloned().collect()
    }

    /// Applies every op in order, stopping at the first violation.
    pub fn run(setup: Setup, start: Timestamp, ops: &[Op]) -> Result<Harness, Violation> {
        let mut h = Harness::new(setup, start)?;
        for op in ops {
            h.apply(op)?;
        }
        Ok(h)
    }

    // --------------------------------------------------------------------------------------------
    // Driving by hand
    // --------------------------------------------------------------------------------------------

    /// The session, to give it any command or input directly. From here on the monitor no longer follows it
    /// (it would see effects of inputs it never saw); the transcript and the log still do. Call
    /// [`drain`](Self::drain) after, as a driver would.
    pub fn session_mut(&mut self) -> &mut Session {
        self.detached = true;
        &mut self.session
    }

    /// Whether the monitor still checks the session (see [`session_mut`](Self::session_mut)).
    pub fn is_monitored(&self) -> bool {
        !self.detached
    }

    /// The virtual clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Sets the virtual clock (no input reaches the session until the next one).
    pub fn set_now(&mut self, now: Timestamp) {
        self.now = now;
    }

    /// Moves the virtual clock forward by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.now = self.now.saturating_add(d);
    }

    /// Answers request `id` with exactly `status` and `body` at the current time, then drains: what a hostile
    /// server may send, checked by the monitor like every answer. An id not in flight gets what the session
    /// says to it (`Stale`, `UnknownRequest`).
    pub fn answer(&mut self, id: RequestId, status: u16, body: &[u8]) -> Result<(), Violation> {
        self.step = self.step.saturating_add(1);
        self.op_text = format!("answer {id} with {status}");
        let reply = ScriptedAnswer::Raw {
            status,
            body: body.to_vec(),
        };
        if self.monitor.issued(id.0).is_some() {
            self.respond(id, &reply)?;
        } else {
            let resp = self.response(status, body.to_vec());
            let r = self.session.handle_response(id, resp, self.now);
            if self.record {
                self.push_line(format!("← {status} [{id}] (never issued) → {r:?}"));
            }
        }
        self.drain_outputs(false)
    }

    /// Calls `handle_timeout(now)` and drains, as a driver does when its `Wait` deadline passes.
    pub fn timeout(&mut self) -> Result<(), Violation> {
        self.step = self.step.saturating_add(1);
        self.op_text = "handle_timeout".into();
        self.fire()?;
        self.drain_outputs(true)
    }

    /// Drains the session's outputs until `Wait`.
    pub fn drain(&mut self) -> Result<(), Violation> {
        self.drain_outputs(false)
    }

    /// Every output handed out since the start (or since the test last edited the log), in order.
    pub fn log(&self) -> &[Out] {
        &self.log
    }

    /// The output log, for a test to take requests from or to clear.
    pub fn log_mut(&mut self) -> &mut Vec<Out> {
        &mut self.log
    }

    /// Takes the oldest request of `kind` out of the log (the test answers it with [`answer`](Self::answer)).
    pub fn take(&mut self, kind: RequestKind) -> Option<OutgoingRequest> {
        let pos = self
            .log
            .iter()
            .position(|o| matches!(o, Out::Request(r) if r.kind == kind))?;
        match self.log.remove(pos) {
            Out::Request(r) => Some(r),
            Out::Event(_) => None,
        }
    }

    /// The events in the log, in order.
    pub fn events(&self) -> Vec<&Event> {
        self.log
            .iter()
            .filter_map(|o| match o {
                Out::Event(e) => Some(e),
                Out::Request(_) => None,
            })
            .collect()
    }

    /// The requests in the log, in order.
    pub fn requests(&self) -> Vec<&OutgoingRequest> {
        self.log
            .iter()
            .filter_map(|o| match o {
                Out::Request(r) => Some(r),
                Out::Event(_) => None,
            })
            .collect()
    }

    /// How many requests the session handed out so far.
    pub fn issued(&self) -> usize {
        self.issued
    }

    /// Adds a free-form line (`# text`) to the transcript.
    pub fn note(&mut self, text: &str) {
        if self.record {
            self.push_line(format!("# {text}"));
        }
    }

    /// The transcript, in the format of [`sim::Pair`](crate::sim::Pair)'s: requests, answers and events, one
    /// line each with its virtual time; keys and tokens shown as `<key>` and `<affinity>`.
    #[must_use]
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    fn push_line(&mut self, text: String) {
        let line = self.render.line(self.now, &text);
        self.lines.push(line);
    }

    fn ended_noted(&self) -> bool {
        self.lines
            .last()
            .is_some_and(|l| l.ends_with("(Wait(None))"))
    }

    fn trace_line(&mut self, line: String) {
        if self.trace.len() >= TRACE_LINES {
            self.trace.pop_front();
        }
        self.trace.push_back(line);
    }

    fn violation(&self, what: String) -> Violation {
        Violation {
            step: self.step,
            op: self.op_text.clone(),
            what,
            trace: self.trace.iter().cloned().collect(),
        }
    }

    fn lift(&self, r: Check) -> Result<(), Violation> {
        if self.detached {
            return Ok(());
        }
        r.map_err(|what| self.violation(what))
    }

    /// Applies one op, drains the session until `Wait`, and checks every invariant.
    pub fn apply(&mut self, op: &Op) -> Result<(), Violation> {
        self.step = self.step.saturating_add(1);
        self.op_text = format!("{op:?}");
        let before = self.session.state();
        self.trace_line(format!(
            "step {} [{before:?}{}] {:?}",
            self.step,
            if self.session.is_reconnecting() {
                ", reconnecting"
            } else {
                ""
            },
            op
        ));
        let fired = self.apply_inner(op)?;
        self.drain_outputs(fired)
    }

    /// Returns whether `handle_timeout` was called.
    fn apply_inner(&mut self, op: &Op) -> Result<bool, Violation> {
        let before = self.session.state();
        match op {
            Op::SendMessage(text) => {
                let t = text.clone();
                self.command(CommandKind::SendMessage, |s| s.send_message(t).map(|_| ()))?;
            }
            Op::SetTyping(b) => {
                let b = *b;
                self.command(CommandKind::SetTyping, |s| s.set_typing(b).map(|_| ()))?;
            }
            Op::SneakPeek(text) => {
                let t = text.clone();
                self.command(CommandKind::SneakPeek, |s| s.sneak_peek(t).map(|_| ()))?;
            }
            Op::CustomEvent { kind, data } => {
                let (k, d) = (kind.clone(), data.clone());
                self.command(CommandKind::CustomEvent, |s| {
                    s.send_custom_event(k, d).map(|_| ())
                })?;
            }
            Op::End => self.command(CommandKind::End, |s| s.end())?,
            Op::Respond { pick, reply } => {
                let live: Vec<_> = self.session.in_flight().collect();
                if live.is_empty() {
                    self.trace_line("  (nothing in flight)".into());
                    return Ok(false);
                }
                let i = usize::from(*pick) % live.len();
                if let Some(&(id, _)) = live.get(i) {
                    self.respond(id, reply)?;
                }
            }
            Op::TransportError { pick } => {
                let live: Vec<_> = self.session.in_flight().collect();
                if live.is_empty() {
                    self.trace_line("  (nothing in flight)".into());
                    return Ok(false);
                }
                let i = usize::from(*pick) % live.len();
                if let Some(&(id, kind)) = live.get(i) {
                    self.coverage
                        .record(before, InputKind::TransportError(kind));
                    let live_before = self.live_ids();
                    let r = self.session.handle_transport_error(
                        id,
                        crate::TransportError::Reset,
                        self.now,
                    );
                    self.trace_line(format!("  transport error {id} ({kind:?}) -> {r:?}"));
                    let c = self.monitor.on_answer_result(id.0, &live_before, &r);
                    self.lift(c)?;
                }
            }
            Op::RespondStale { pick, reply } => {
                let gone = self.monitor.gone_ids();
                if gone.is_empty() {
                    self.trace_line("  (no stale id yet)".into());
                    return Ok(false);
                }
                let i = usize::from(*pick) % gone.len();
                if let Some(&id) = gone.get(i) {
                    self.respond(RequestId(id), reply)?;
                }
            }
            Op::RespondUnknown { ahead } => {
                let id = if *ahead == 0 {
                    0
                } else {
                    self.monitor.last_id().saturating_add(u64::from(*ahead))
                };
                self.coverage.record(before, InputKind::UnknownId);
                let live_before = self.live_ids();
                let resp = self.response(200, Vec::new());
                let r = self.session.handle_response(RequestId(id), resp, self.now);
                self.trace_line(format!("  answer to never-issued #{id} -> {r:?}"));
                let c = self.monitor.on_answer_result(id, &live_before, &r);
                self.lift(c)?;
                if !matches!(r, Err(InputError::UnknownRequest(_))) {
                    return Err(self.violation(format!(
                        "answer to never-issued #{id} gave {r:?}, expected UnknownRequest"
                    )));
                }
            }
            Op::DuplicateAnswer => {
                let Some((id, status, body)) = self.last_answer.clone() else {
                    self.trace_line("  (nothing answered yet)".into());
                    return Ok(false);
                };
                self.coverage.record(before, InputKind::StaleId);
                let live_before = self.live_ids();
                let resp = self.response(status, body);
                let r = self.session.handle_response(RequestId(id), resp, self.now);
                self.trace_line(format!("  duplicate answer to #{id} -> {r:?}"));
                let c = self.monitor.on_answer_result(id, &live_before, &r);
                self.lift(c)?;
                if r != Ok(Handled::Stale) {
                    return Err(self.violation(format!(
                        "a duplicate answer to #{id} gave {r:?}, expected Stale"
                    )));
                }
            }
            Op::Advance { step, fire } => {
                self.now = self.now.saturating_add(step_duration(*step));
                if *fire {
                    self.fire()?;
                    return Ok(true);
                }
            }
            Op::Backwards(step) => {
                self.coverage.record(before, InputKind::TimeBackwards);
                self.now = sub(self.now, step_duration(*step));
                self.fire()?;
                return Ok(true);
            }
            Op::Sleep => {
                if let Some(t) = self.session.poll_timeout()
                    && t > self.now
                {
                    self.now = t;
                }
                self.fire()?;
                return Ok(true);
            }
            Op::SpuriousTimeout => {
                self.fire()?;
                return Ok(true);
            }
            Op::SnapshotResume => {
                self.coverage.record(before, InputKind::Resume);
                let snap = self.session.snapshot();
                let json = serde_json::to_string(&snap)
                    .map_err(|e| self.violation(format!("snapshot does not serialise: {e}")))?;
                let back: SessionSnapshot = serde_json::from_str(&json)
                    .map_err(|e| self.violation(format!("snapshot does not deserialise: {e}")))?;
                let again = serde_json::to_string(&back)
                    .map_err(|e| self.violation(format!("snapshot does not serialise: {e}")))?;
                if again != json {
                    return Err(self.violation(format!(
                        "snapshot changed in a serde round trip:\n{json}\n{again}"
                    )));
                }
                match Session::resume(self.config.clone(), back, self.now) {
                    Ok(resumed) => {
                        self.session = resumed;
                        self.monitor.on_resume();
                        self.trace_line("  resumed".into());
                    }
                    // An ended session is not resumed: the old one carries on (it is ended and stays so).
                    Err(crate::ResumeError::AlreadyEnded)
                        if self.session.state() == crate::State::Ended =>
                    {
                        self.trace_line("  resume refused: already ended".into());
                    }
                    Err(e) => return Err(self.violation(format!("resume refused: {e}"))),
                }
            }
        }
        Ok(false)
    }

    fn live_ids(&self) -> BTreeSet<u64> {
        self.session.in_flight().map(|(i, _)| i.0).collect()
    }

    fn response(&self, status: u16, body: Vec<u8>) -> http::Response<Vec<u8>> {
        let mut r = http::Response::new(body);
        *r.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        r
    }

    fn command(
        &mut self,
        kind: CommandKind,
        f: impl FnOnce(&mut Session) -> Result<(), crate::CommandError>,
    ) -> Result<(), Violation> {
        let before = self.session.state();
        self.coverage.record(before, InputKind::Command(kind));
        let pending = self.session.pending_commands();
        let snap = serde_json::to_string(&self.session.snapshot()).unwrap_or_default();
        let r = f(&mut self.session);
        self.trace_line(format!("  -> {r:?}"));
        match r {
            Ok(()) => {
                let after = self.session.state();
                let c = self
                    .monitor
                    .on_command_ok(kind == CommandKind::End, before, after);
                self.lift(c)?;
                if kind != CommandKind::End && self.session.pending_commands() <= pending {
                    return Err(self.violation(format!(
                        "an accepted {kind:?} did not add to pending_commands() ({pending})"
                    )));
                }
            }
            Err(e) => {
                let c = self
                    .monitor
                    .check_no_secret("a CommandError", &format!("{e:?} {e}"));
                self.lift(c)?;
                let after = serde_json::to_string(&self.session.snapshot()).unwrap_or_default();
                if self.session.pending_commands() != pending
                    || self.session.state() != before
                    || after != snap
                {
                    return Err(self.violation(format!(
                        "a refused command ({e}) changed the session: pending {pending} -> {}, state {before:?} -> {:?}",
                        self.session.pending_commands(),
                        self.session.state()
                    )));
                }
            }
        }
        Ok(())
    }

    fn respond(&mut self, id: RequestId, reply: &ScriptedAnswer) -> Result<(), Violation> {
        let Some(issued) = self.monitor.issued(id.0).cloned() else {
            return Ok(());
        };
        let state = self.session.state();
        let target = Target {
            kind: issued.kind,
            ack: issued.ack,
            seq: issued.seq,
            state,
            reconnecting: self.session.is_reconnecting(),
        };
        let (status, body) = self.server.render(reply, &target);
        self.monitor.set_secrets(&self.server.secrets);
        let live_before = self.live_ids();
        let class = classify(
            issued.kind,
            status,
            &body,
            &self.monitor.limits,
            self.monitor.event_byte_cap,
        );
        if live_before.contains(&id.0) {
            self.coverage
                .record(state, InputKind::Response(issued.kind, class));
        } else {
            self.coverage.record(state, InputKind::StaleId);
        }
        let resp = self.response(status, body.clone());
        if self.record {
            self.render.learn_secrets(issued.kind, &body);
            let line = self.render.reply(id, issued.kind, status, &body);
            self.push_line(line);
        }
        let r = self.session.handle_response(id, resp, self.now);
        if self.record && r == Ok(Handled::Stale) {
            self.push_line(format!("  (the session ignored [{id}]: stale)"));
        }
        self.trace_line(format!(
            "  answer {id} ({:?}) {status} {:?} [{class:?}] -> {r:?}",
            issued.kind,
            String::from_utf8_lossy(body.get(..body.len().min(160)).unwrap_or_default())
        ));
        let c = self.monitor.on_answer_result(id.0, &live_before, &r);
        self.lift(c)?;
        if r == Ok(Handled::Accepted) {
            self.last_answer = Some((id.0, status, body.clone()));
            let c =
                self.monitor
                    .on_accepted_response(issued.kind, status, &body, state, &self.session);
            self.lift(c)?;
        }
        Ok(())
    }

    fn fire(&mut self) -> Result<(), Violation> {
        let before = self.session.state();
        self.coverage.record(before, InputKind::Timeout);
        let live: Vec<_> = self.session.in_flight().collect();
        self.session.handle_timeout(self.now);
        let after = self.live_ids();
        for (id, kind) in live {
            if !after.contains(&id.0) {
                self.coverage.record(before, InputKind::Expiry(kind));
                self.trace_line(format!("  expired {id} ({kind:?})"));
            }
        }
        let c = self.monitor.after_timeout(&self.session, self.now);
        self.lift(c)
    }

    fn drain_outputs(&mut self, _fired: bool) -> Result<(), Violation> {
        for _ in 0..MAX_DRAIN {
            let out = self.session.poll_output(self.now);
            self.outputs = self.outputs.saturating_add(1);
            let line = match &out {
                Output::Request(r) => format!(
                    "  -> Request {} {:?} {} {}{}",
                    r.id,
                    r.kind,
                    r.http.method(),
                    r.http.uri().path(),
                    r.http
                        .headers()
                        .get(crate::wire::header::SEQUENCE)
                        .and_then(|v| v.to_str().ok())
                        .map(|s| format!(" seq={s}"))
                        .unwrap_or_default()
                ),
                Output::Event(e) => format!("  -> {e:?}"),
                Output::Wait(w) => format!(
                    "  -> Wait({})",
                    match w {
                        Some(t) => format!("+{:?}", t.saturating_duration_since(self.now)),
                        None => "None".into(),
                    }
                ),
            };
            self.trace_line(line);
            let c = self.monitor.on_output(&out, &self.session, self.now);
            self.lift(c)?;
            match out {
                Output::Wait(w) => {
                    if w.is_none() && self.record && !self.ended_noted() {
                        self.push_line("■ session over (Wait(None))".to_owned());
                    }
                    let c = self.monitor.end_step(&self.session, w);
                    return self.lift(c);
                }
                Output::Request(r) => {
                    self.issued = self.issued.saturating_add(1);
                    if self.record {
                        let line = self.render.request(&r);
                        self.push_line(line);
                        self.log.push(Out::Request(r));
                    }
                }
                Output::Event(e) => {
                    if self.record {
                        let line = self.render.event(&e);
                        self.push_line(line);
                        self.log.push(Out::Event(e));
                    }
                }
            }
        }
        Err(self.violation(format!(
            "poll_output gave {MAX_DRAIN} outputs without Wait (hot loop)"
        )))
    }
}
