//! The `sim_session` target: a [`Session`](crate::Session) against the simulator under a fault plan, an agent
//! script, a visitor script and a dialect, all drawn from the input, judged from the simulator's record.

use crate::sim::{
    AgentScript, Dialect, Fault, FaultKind, FaultPlan, Pair, PairError, SimConfig, Trigger,
};
use crate::{Config, RetryPolicy, Timestamp};
use arbitrary::{Arbitrary, Unstructured};
use std::time::Duration;

/// Pair steps per run segment (each hands out one output, delivers one reply, or moves the clock).
const SIM_MAX_STEPS: usize = 20_000;
/// Virtual time per run.
const SIM_MAX_TIME: Duration = Duration::from_secs(15 * 60);
/// The session's deadline for every request but the poll (`Config::request_timeout`, set to this):
/// answer latencies and transport failures are drawn around it, where a late answer races the deadline.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// The session's poll deadline is the server's `clientPollTimeout` plus this (`Config::poll_margin`).
const POLL_MARGIN: Duration = Duration::from_secs(5);

/// The chat of one `sim_session` run, in the order its fields are drawn.
#[derive(Debug, Clone, Arbitrary)]
pub struct SimInput {
    /// Seeds the simulator and the session.
    pub seed: u64,
    /// The fault plan for the first session (at most 6; see the `Arbitrary` impls of `Fault`).
    #[arbitrary(with = at_most_six)]
    pub faults: Vec<Fault>,
    /// The agent: the default, an echo agent, or a script of up to 16 steps of any action.
    pub agent: AgentScript,
    /// The visitor's steps (at most 12).
    #[arbitrary(with = at_most_twelve)]
    pub visitor: Vec<VisitorStep>,
    /// `sequence-rule=consecutive` whatever the dialect says.
    pub require_consecutive_sequence: bool,
    /// `SimConfig::wrap_visitor_answers`.
    pub wrap_visitor_answers: bool,
    /// The session's `RetryPolicy::max_attempts`: 2..=9.
    pub max_attempts: u8,
    /// The server's dialect (the default when the bytes run out before it).
    pub dialect: Dialect,
    /// `SimConfig::answer_latency`: none most of the time, sometimes up to 5 s, sometimes near a deadline of
    /// the session (see `answer_latency`). Drawn after the dialect, so the inputs stored before it existed
    /// (which end before their bytes run out, or have no bytes left) keep their meaning: no latency.
    #[arbitrary(with = answer_latency)]
    pub answer_latency: Duration,
    /// `FaultKind::Unreachable` faults (at most 3, see `unreachable_fault`), added to the plan after
    /// `faults`. Drawn last, for the same reason as the latency: none when the bytes run out.
    #[arbitrary(with = unreachable_faults)]
    pub unreachable: Vec<Fault>,
}

/// One step of the visitor: `after` tenths of a second after the previous one, once the pair is quiescent.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct VisitorStep {
    /// Tenths of a second after the previous step.
    pub after: u8,
    /// What the visitor does.
    pub act: VisitorAct,
}

/// What the visitor does at a step.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum VisitorAct {
    /// Sends a text of its own (`visitor says N`: every text unique).
    Send,
    /// `Session::set_typing`.
    Typing(bool),
    /// `Session::sneak_peek`.
    SneakPeek,
    /// `Session::send_custom_event`.
    CustomEvent,
    /// `Session::end`.
    End,
}

fn at_most_six(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<Fault>> {
    let mut v = Vec::<Fault>::arbitrary(u)?;
    v.truncate(6);
    Ok(v)
}

fn at_most_twelve(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<VisitorStep>> {
    let mut v = Vec::<VisitorStep>::arbitrary(u)?;
    v.truncate(12);
    Ok(v)
}

/// Requests of the session the transport fails on at most this often per run.
const MAX_UNREACHABLE_FAULTS: usize = 3;

/// A `bool` to go on (as `Vec`'s `Arbitrary` draws one before each element), then [`unreachable_fault`];
/// at most [`MAX_UNREACHABLE_FAULTS`].
fn unreachable_faults(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<Fault>> {
    let mut v = Vec::new();
    while v.len() < MAX_UNREACHABLE_FAULTS && bool::arbitrary(u)? {
        v.push(unreachable_fault(u)?);
    }
    Ok(v)
}

/// An `Unreachable` fault for the first session: the trigger (as the plan's faults draw it), the number of
/// requests lost in a row (a `u8` folded into 1..=6: below and above the retry budget), then how long the
/// transport takes to fail each: a `u8` modulo 4 picks at once, a `u8` of tenths of a second, near the
/// request deadline (see [`near`]), or up to four request deadlines in tenths of a second (a `u16`, folded).
fn unreachable_fault(u: &mut Unstructured<'_>) -> arbitrary::Result<Fault> {
    let at = Trigger::arbitrary(u)?;
    let count = u32::from(u8::arbitrary(u)? % 6) + 1;
    let after = match u8::arbitrary(u)? % 4 {
        0 => Duration::ZERO,
        1 => Duration::from_millis(u64::from(u8::arbitrary(u)?) * 100),
        2 => near(REQUEST_DEADLINE, i8::arbitrary(u)?),
        _ => {
            let most = u16::try_from(REQUEST_DEADLINE.as_millis() * 4 / 100).unwrap_or(u16::MAX);
            Duration::from_millis(u64::from(u16::arbitrary(u)? % (most + 1)) * 100)
        }
    };
    Ok(Fault::for_session(
        0,
        at,
        FaultKind::Unreachable { count, after },
    ))
}

/// `SimConfig::answer_latency`: a `u8`; below 160 (and when the bytes ran out) none; below 224 up to 5 s (a
/// `u16` of milliseconds, folded); above, near a deadline (see [`near`]): the request deadline when the `u8`
/// is even, else the time the poll's deadline leaves after the server's hold (an idle poll's 204 then arrives
/// as the poll times out).
fn answer_latency(u: &mut Unstructured<'_>) -> arbitrary::Result<Duration> {
    let tag = u8::arbitrary(u)?;
    Ok(match tag {
        0..=159 => Duration::ZERO,
        160..=223 => Duration::from_millis(u64::from(u16::arbitrary(u)? % 5001)),
        _ if tag % 2 == 0 => near(REQUEST_DEADLINE, i8::arbitrary(u)?),
        _ => {
            let sim = SimConfig::default();
            let poll_deadline =
                Duration::from_secs(u64::try_from(sim.client_poll_timeout).unwrap_or(0))
                    .saturating_add(POLL_MARGIN);
            near(
                poll_deadline.saturating_sub(sim.poll_hold),
                i8::arbitrary(u)?,
            )
        }
    })
}

/// `base` moved by `steps` times 10 ms (an `i8`: within 1.28 s either way, `base` itself at 0).
fn near(base: Duration, steps: i8) -> Duration {
    let by = Duration::from_millis(u64::from(steps.unsigned_abs()) * 10);
    if steps < 0 {
        base.saturating_sub(by)
    } else {
        base.saturating_add(by)
    }
}

impl SimInput {
    /// The input these bytes stand for (`None` when they do not make one: such an input is skipped).
    pub fn from_bytes(data: &[u8]) -> Option<SimInput> {
        SimInput::arbitrary(&mut Unstructured::new(data)).ok()
    }

    /// The simulator's configuration: seed, dialect, agent, fault plan (no transcript).
    pub fn sim_config(&self) -> SimConfig {
        let mut sim = SimConfig::default().with_seed(self.seed);
        sim.dialect = self.dialect.clone();
        sim.agent = self.agent.clone();
        if self.require_consecutive_sequence {
            sim.dialect.sequence_rule = crate::sim::dialect::SequenceRule::Consecutive;
        }
        sim.wrap_visitor_answers = self.wrap_visitor_answers;
        sim.answer_latency = self.answer_latency;
        sim.faults = FaultPlan {
            faults: self
                .faults
                .iter()
                .chain(&self.unreachable)
                .cloned()
                .collect(),
        };
        sim
    }

    /// The session's configuration against `sim` (`None` when the simulator has no valid endpoint).
    pub fn client_config(&self, sim: &SimConfig) -> Option<Config> {
        let endpoint = sim.endpoint().ok()?;
        let mut config = Config::new(
            endpoint,
            "00Dxx0000001gPL",
            "572xx0000004CDV",
            "573xx0000004CFH",
        )
        .seed(self.seed)
        .retry(RetryPolicy {
            max_attempts: u32::from(self.max_attempts % 8) + 2,
            ..RetryPolicy::default()
        });
        config.receive_queue_updates = true;
        config.request_timeout = REQUEST_DEADLINE;
        config.poll_margin = POLL_MARGIN;
        Some(config)
    }
}

/// Input: an `Arbitrary` [`SimInput`]: a fault plan for session 0 (up to 6 faults of every `FaultKind` but
/// `Unreachable`, triggers by request/poll/POST/server-request count 1..=12 or by time), the agent script (the
/// default, an echo agent, or up to 16 steps of any action), a visitor script (up to 12 steps: send a unique
/// text, typing, sneak peek, custom event, end; each some tenths of a second after the previous one),
/// simulator and retry knobs, the server's dialect (every value of every `sim::Dialect` switch), then, at
/// the end of the input, an answer latency and up to 3 `Unreachable` faults (requests that never reach the
/// server; the transport fails up to four request deadlines later). Bytes that run out leave the default
/// dialect, no latency and no unreachable fault.
///
/// The chat is driven by [`Pair`] (the crate's one client↔server harness: requests to the server, ready
/// replies back — `Reply::Drop` as a transport error —, abandoned requests cancelled on the server as a
/// transport closing the connection would, the virtual clock moved to the earlier side's deadline). Each
/// visitor step runs once the pair is quiescent at its due time. At most 15 virtual minutes and 20,000 pair
/// steps per visitor step; a livelock (`PairError::Stalled`: many steps without the clock moving) is a failure.
/// A failure runs the input again with both transcripts recorded and shows them.
///
/// Checks: [`Pair::check_delivery`], which judges the chat from the **simulator's record** (texts are unique,
/// so "exactly once" is checkable):
/// * visitor → agent: the server's `visitor_messages` hold each text at most once, only texts the session
///   accepted, in the order they were accepted; a text reported `Delivered` is among them, one reported
///   `Undelivered` is not, and once the session ended every text had a verdict. The exceptions are what the
///   protocol cannot settle: a text named by `Event::DeliveryUncertain` (the session says so) may be at the
///   server twice or not at all; a text the server answered 200 as a retransmission of a number its own
///   `SequenceDrift` skipped (`SessionRecord::lost_to_drift`: the drift's 409 never reached the session) is
///   lost though reported `Delivered`. A request that never reached the server (`Unreachable`) was not
///   processed: a text sent only that way is not at the server, and must not be reported `Delivered`.
/// * agent → visitor: the agent texts the session received are a prefix of the server's `agent_messages`: no
///   duplicate, no reordering, no gap; when the session ended through the server's final message
///   (`AgentEnded`, `RequestFailed`, or `VisitorEnded` carrying the ChatEnded's `attachedRecords`, which the
///   simulator always sends), it received **every** agent text the server emitted.
pub fn sim_session(data: &[u8]) -> Result<(), super::Finding> {
    let Some(input) = SimInput::from_bytes(data) else {
        return Ok(());
    };
    if let Err(failure) = run_sim(&input, false) {
        // Deterministic: the same run again, recording what both sides saw.
        let traced = match run_sim(&input, true) {
            Err(traced) => traced,
            Ok(()) => {
                format!("{failure}\n(the run with transcripts passed: a nondeterministic run?)")
            }
        };
        fail!("sim_session: {traced}");
    }
    Ok(())
}

/// Runs the chat; the failure message says what broke (with both transcripts when `trace`).
fn run_sim(input: &SimInput, trace: bool) -> Result<(), String> {
    let mut sim = input.sim_config();
    sim.record_transcript = trace;
    let Some(config) = input.client_config(&sim) else {
        return Ok(());
    };
    let mut pair = Pair::new(config, sim, Timestamp::ZERO);
    pair.set_transcript(trace);
    pair.set_max_steps(SIM_MAX_STEPS);
    let mut text_no = 0u32;
    let mut live = true;
    for step in &input.visitor {
        let due = pair.elapsed() + Duration::from_millis(u64::from(step.after) * 100);
        if due > SIM_MAX_TIME || !sim_run(&mut pair, due, trace)? || pair.is_finished() {
            live = false;
            break;
        }
        let _ = match step.act {
            VisitorAct::Send => {
                text_no += 1;
                pair.send_message(format!("visitor says {text_no}"))
                    .map(|_| ())
            }
            VisitorAct::Typing(b) => pair.command("set_typing", |s| s.set_typing(b).map(|_| ())),
            VisitorAct::SneakPeek => {
                pair.command("sneak_peek", |s| s.sneak_peek("typ").map(|_| ()))
            }
            VisitorAct::CustomEvent => pair.command("custom_event", |s| {
                s.send_custom_event("k", "d").map(|_| ())
            }),
            VisitorAct::End => pair.end(),
        };
    }
    if live {
        sim_run(&mut pair, SIM_MAX_TIME, trace)?;
    }
    let report = pair.check_delivery();
    if report.is_clean() {
        return Ok(());
    }
    Err(format!(
        "delivery broken\n{report}{}",
        transcripts(&pair, trace)
    ))
}

/// Runs the pair until virtual time `until`; `Ok(false)` when the step bound was hit; a livelock is an error.
fn sim_run(pair: &mut Pair, until: Duration, trace: bool) -> Result<bool, String> {
    match pair.run_until_elapsed(until) {
        Ok(()) => Ok(true),
        Err(PairError::StepLimit { .. }) => Ok(false),
        Err(e) => Err(format!("{e}{}", transcripts(pair, trace))),
    }
}

fn transcripts(pair: &Pair, trace: bool) -> String {
    if !trace {
        return String::new();
    }
    format!(
        "\n--- pair transcript\n{}\n--- server transcript\n{}",
        pair.transcript(),
        pair.server().transcript_text()
    )
}
