//! The harness: owns a [`Session`] and a virtual clock, applies one [`Op`] at a time, drains the outputs and has
//! the [`Monitor`] check everything.

use super::coverage::{CommandKind, Coverage, InputKind};
use super::monitor::{Check, Monitor, Violation, classify};
use super::op::{Op, Reply, TimeStep};
use super::render::{Server, Target};
use crate::wire::{Endpoint, Limits};
use crate::{
    Config, Handled, InputError, Output, RequestId, RetryPolicy, Session, SessionSnapshot,
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

/// Runs a session against scripted answers and checks the invariants after every step.
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
}

impl Harness {
    /// A fresh session at a virtual time. Fails only if the built-in endpoint does not parse.
    pub fn new(setup: Setup, start: Timestamp) -> Result<Harness, Violation> {
        let endpoint = Endpoint::parse("https://d.la1-c1-ia2.salesforceliveagent.com/chat/rest/")
            .map_err(|e| Violation {
            step: 0,
            op: "setup".into(),
            what: format!("endpoint: {e}"),
            trace: Vec::new(),
        })?;
        let mut config = Config::new(
            endpoint.clone(),
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
        let now = start;
        let limits: Limits = config.limits.into();
        let session = Session::new(config.clone(), now);
        let mut h = Harness {
            monitor: Monitor::new(&endpoint, limits),
            config,
            session,
            now,
            server: Server::default(),
            coverage: Coverage::default(),
            trace: VecDeque::new(),
            step: 0,
            op_text: "setup".into(),
            last_answer: None,
            outputs: 0,
        };
        h.drain(false)?;
        Ok(h)
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

    fn log(&mut self, line: String) {
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
        r.map_err(|what| self.violation(what))
    }

    /// Applies one op, drains the session until `Wait`, and checks every invariant.
    pub fn apply(&mut self, op: &Op) -> Result<(), Violation> {
        self.step = self.step.saturating_add(1);
        self.op_text = format!("{op:?}");
        let before = self.session.state();
        self.log(format!(
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
        self.drain(fired)
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
                    self.log("  (nothing in flight)".into());
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
                    self.log("  (nothing in flight)".into());
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
                    self.log(format!("  transport error {id} ({kind:?}) -> {r:?}"));
                    let c = self.monitor.on_answer_result(id.0, &live_before, &r);
                    self.lift(c)?;
                }
            }
            Op::RespondStale { pick, reply } => {
                let gone = self.monitor.gone_ids();
                if gone.is_empty() {
                    self.log("  (no stale id yet)".into());
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
                self.log(format!("  answer to never-issued #{id} -> {r:?}"));
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
                    self.log("  (nothing answered yet)".into());
                    return Ok(false);
                };
                self.coverage.record(before, InputKind::StaleId);
                let live_before = self.live_ids();
                let resp = self.response(status, body);
                let r = self.session.handle_response(RequestId(id), resp, self.now);
                self.log(format!("  duplicate answer to #{id} -> {r:?}"));
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
                    self.timeout()?;
                    return Ok(true);
                }
            }
            Op::Backwards(step) => {
                self.coverage.record(before, InputKind::TimeBackwards);
                self.now = sub(self.now, step_duration(*step));
                self.timeout()?;
                return Ok(true);
            }
            Op::Sleep => {
                if let Some(t) = self.session.poll_timeout()
                    && t > self.now
                {
                    self.now = t;
                }
                self.timeout()?;
                return Ok(true);
            }
            Op::SpuriousTimeout => {
                self.timeout()?;
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
                        self.log("  resumed".into());
                    }
                    // An ended session is not resumed: the old one carries on (it is ended and stays so).
                    Err(crate::ResumeError::AlreadyEnded)
                        if self.session.state() == crate::State::Ended =>
                    {
                        self.log("  resume refused: already ended".into());
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
        self.log(format!("  -> {r:?}"));
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

    fn respond(&mut self, id: RequestId, reply: &Reply) -> Result<(), Violation> {
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
        let class = classify(issued.kind, status, &body, &self.monitor.limits);
        if live_before.contains(&id.0) {
            self.coverage
                .record(state, InputKind::Response(issued.kind, class));
        } else {
            self.coverage.record(state, InputKind::StaleId);
        }
        let resp = self.response(status, body.clone());
        let r = self.session.handle_response(id, resp, self.now);
        self.log(format!(
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

    fn timeout(&mut self) -> Result<(), Violation> {
        let before = self.session.state();
        self.coverage.record(before, InputKind::Timeout);
        let live: Vec<_> = self.session.in_flight().collect();
        self.session.handle_timeout(self.now);
        let after = self.live_ids();
        for (id, kind) in live {
            if !after.contains(&id.0) {
                self.coverage.record(before, InputKind::Expiry(kind));
                self.log(format!("  expired {id} ({kind:?})"));
            }
        }
        let c = self.monitor.after_timeout(&self.session, self.now);
        self.lift(c)
    }

    fn drain(&mut self, _fired: bool) -> Result<(), Violation> {
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
            self.log(line);
            let c = self.monitor.on_output(&out, &self.session, self.now);
            self.lift(c)?;
            if let Output::Wait(w) = out {
                let c = self.monitor.end_step(&self.session, w);
                return self.lift(c);
            }
        }
        Err(self.violation(format!(
            "poll_output gave {MAX_DRAIN} outputs without Wait (hot loop)"
        )))
    }
}
