//! The `sim_session` target: a [`Session`](crate::Session) against the simulator under a fault plan, an agent
//! script, a visitor script and a dialect, all drawn from the input, judged from the simulator's record.

use crate::sim::{AgentScript, Dialect, Fault, FaultPlan, Pair, PairError, SimConfig};
use crate::{Config, RetryPolicy, Timestamp};
use arbitrary::{Arbitrary, Unstructured};
use std::time::Duration;

/// Pair steps per run segment (each hands out one output, delivers one reply, or moves the clock).
const SIM_MAX_STEPS: usize = 20_000;
/// Virtual time per run.
const SIM_MAX_TIME: Duration = Duration::from_secs(15 * 60);

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
    /// The server's dialect. Last, so an input whose bytes run out before it keeps the default dialect.
    pub dialect: Dialect,
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
        sim.faults = FaultPlan {
            faults: self.faults.clone(),
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
        Some(config)
    }
}

/// Input: an `Arbitrary` [`SimInput`]: a fault plan for session 0 (up to 6 faults, every `FaultKind`, triggers
/// by request/poll/POST/server-request count 1..=12 or by time), the agent script (the default, an echo agent,
/// or up to 16 steps of any action), a visitor script (up to 12 steps: send a unique text, typing, sneak peek,
/// custom event, end; each some tenths of a second after the previous one), simulator and retry knobs, and
/// the server's dialect (every value of every `sim::Dialect` switch; the default when the bytes run out).
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
///   `Undelivered` is not, and once the session ended every text had a verdict. The one exception is what the
///   protocol cannot settle and the session says so: a text named by `Event::DeliveryUncertain` may be at the
///   server twice or not at all.
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
