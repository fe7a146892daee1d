//! Scenarios of the visitor `Session` against the simulator: [`Scenario`] is a `sim::Pair` (the crate's one
//! client↔server loop) that checks the driver contract after every step — after `handle_timeout(now)`,
//! `poll_timeout()` is `None` or later than `now`; every request's deadline is in the future; at most one poll
//! and one POST are in flight — plus the queries the scenario tests assert with.

use liveagent::sim::{AgentAction, AgentScript, AgentStep, Pair, PairStep, SentRequest, SimConfig};
use liveagent::{CommandId, Config, Event, Handled, RequestKind, Timestamp};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// Org id of every scenario.
pub const ORG: &str = "00DD0000000JVXs";
/// The org's host (the simulator answers as it).
pub const HOST: &str = "d.la1-c1-phx.salesforceliveagent.com";
/// Where a SwitchServer moves the chat.
pub const NEW_HOST: &str = "d.la2-c2-ia4.salesforceliveagent.com";
/// How long every answer takes to come back.
pub const LATENCY: Duration = Duration::from_millis(50);

/// `n` seconds (fractional).
pub fn secs(n: f64) -> Duration {
    Duration::from_secs_f64(n)
}

/// The simulator of the scenarios: answers [`LATENCY`] after each request, at [`HOST`] (SwitchServer to
/// [`NEW_HOST`]), with an agent that does nothing unless the scenario scripts it.
pub fn sim() -> SimConfig {
    SimConfig {
        host: HOST.into(),
        alternate_host: NEW_HOST.into(),
        ..SimConfig::default()
    }
    .with_answer_latency(LATENCY)
    .with_agent(AgentScript::idle())
}

/// The visitor's configuration for `sim`.
pub fn config(sim: &SimConfig) -> Config {
    Config::new(
        sim.endpoint().expect("endpoint"),
        ORG,
        "572D000000000J6",
        "573D000000000OC",
    )
    .visitor_name("Jon A.")
    .seed(7)
}

/// An agent script whose actions happen at these virtual times (seconds, in order) under [`sim`]: the
/// script's clock starts when ChasitorInit arrives, one answer latency after the start.
pub fn agent_at(steps: Vec<(f64, AgentAction)>) -> AgentScript {
    let mut prev = LATENCY;
    let steps = steps
        .into_iter()
        .map(|(at, action)| {
            let at = secs(at);
            let step = AgentStep::new(at.checked_sub(prev).expect("in time order"), action);
            prev = at;
            step
        })
        .collect();
    AgentScript::new(steps)
}

/// A pair that checks the driver contract after every step.
pub struct Scenario {
    pair: Pair,
}

impl Deref for Scenario {
    type Target = Pair;
    fn deref(&self) -> &Pair {
        &self.pair
    }
}

impl DerefMut for Scenario {
    fn deref_mut(&mut self) -> &mut Pair {
        &mut self.pair
    }
}

impl Scenario {
    /// A session with [`config`] against a simulator built from `sim`, at virtual time zero.
    pub fn new(sim: SimConfig) -> Scenario {
        let config = config(&sim);
        Scenario::with_config(config, sim)
    }

    /// A session with `config` against a simulator built from `sim`, at virtual time zero.
    pub fn with_config(config: Config, sim: SimConfig) -> Scenario {
        Scenario {
            pair: Pair::new(config, sim, Timestamp::ZERO),
        }
    }

    /// Runs until virtual time `t` (seconds); the clock then stands at `t`.
    pub fn run_until(&mut self, t: f64) {
        while let Some(step) = self.pair.step_until(secs(t)).expect("the pair runs") {
            if step == PairStep::Finished {
                break;
            }
            self.check(&step);
        }
    }

    /// Hands out what is due now (requests, events, replies that are ready) without moving the clock.
    pub fn drain(&mut self) {
        let now = self.pair.elapsed();
        while let Some(step) = self.pair.step_until(now).expect("the pair runs") {
            if step == PairStep::Finished {
                break;
            }
            self.check(&step);
        }
    }

    /// Runs a visitor command now, logs it under `label` with its result, and drains.
    pub fn act<R: std::fmt::Debug>(
        &mut self,
        label: &str,
        f: impl FnOnce(&mut liveagent::Session) -> R,
    ) -> R {
        let r = self.pair.command(label, f);
        self.drain();
        r
    }

    /// Runs until the session has ended and everything is drained.
    pub fn run_to_end(&mut self) {
        for _ in 0..liveagent::sim::MAX_STEPS {
            let step = self.pair.step().expect("the pair runs");
            if step == PairStep::Finished {
                return;
            }
            self.check(&step);
        }
        panic!("the scenario never ends");
    }

    fn check(&self, step: &PairStep) {
        let session = self.pair.session();
        let in_flight: Vec<_> = session.in_flight().collect();
        let polls = in_flight.iter().filter(|(_, k)| k.is_poll()).count();
        let posts = in_flight.iter().filter(|(_, k)| k.is_post()).count();
        assert!(polls <= 1, "{polls} polls in flight: {in_flight:?}");
        assert!(posts <= 1, "{posts} POSTs in flight: {in_flight:?}");
        match step {
            PairStep::Advanced { to } => {
                if let Some(next) = session.poll_timeout() {
                    assert!(
                        next > self.pair.now(),
                        "poll_timeout() {:?} is not later than now {to:?} after handle_timeout",
                        self.at(next)
                    );
                }
            }
            PairStep::Sent { id, .. } => {
                let sent = self.pair.sent().last().expect("recorded");
                assert_eq!(sent.id, *id);
                assert!(
                    sent.deadline > sent.at,
                    "deadline not in the future: {sent:?}"
                );
            }
            _ => {}
        }
    }

    /// Virtual time of a `Timestamp` the session handed out.
    pub fn at(&self, t: Timestamp) -> Duration {
        t.saturating_duration_since(Timestamp::ZERO)
    }

    /// The requests of one kind, in order.
    pub fn sent_of(&self, kind: RequestKind) -> Vec<&SentRequest> {
        self.pair.sent().iter().filter(|s| s.kind == kind).collect()
    }

    /// The `ack` of every poll, in order (every poll must carry one).
    pub fn acks(&self) -> Vec<i64> {
        self.sent_of(RequestKind::Messages)
            .iter()
            .map(|s| s.query_param("ack").expect("ack"))
            .collect()
    }

    /// `(path, sequence)` of every POST, in order.
    pub fn posts(&self) -> Vec<(&str, Option<u64>)> {
        self.pair
            .sent()
            .iter()
            .filter(|s| s.method == "POST")
            .map(|s| (s.path.as_str(), s.sequence))
            .collect()
    }

    /// The sequence numbers of every POST, in order.
    pub fn seqs(&self) -> Vec<Option<u64>> {
        self.posts().into_iter().map(|(_, s)| s).collect()
    }

    /// The events, without their times.
    pub fn event_list(&self) -> Vec<Event> {
        self.pair.events().iter().map(|(_, e)| e.clone()).collect()
    }

    /// How many replies the session called stale.
    pub fn stale_count(&self) -> usize {
        self.pair
            .replies()
            .iter()
            .filter(|r| r.handled == Some(Handled::Stale))
            .count()
    }

    /// The chat's id, as the simulator issued it.
    pub fn session_id(&self) -> String {
        self.pair
            .server()
            .session_by_index(0)
            .expect("a session")
            .id
            .clone()
    }

    /// How often the simulator took a ChatMessage with this text.
    pub fn accepted(&self, text: &str) -> usize {
        self.pair
            .server()
            .session_by_index(0)
            .expect("a session")
            .visitor_messages
            .iter()
            .filter(|t| *t == text)
            .count()
    }

    /// The commands reported delivered, in order.
    pub fn delivered(&self) -> Vec<CommandId> {
        self.event_list()
            .into_iter()
            .filter_map(|e| match e {
                Event::Delivered(ids) => Some(ids),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The commands reported uncertain, in order.
    pub fn uncertain(&self) -> Vec<CommandId> {
        self.event_list()
            .into_iter()
            .filter_map(|e| match e {
                Event::DeliveryUncertain(ids) => Some(ids),
                _ => None,
            })
            .flatten()
            .collect()
    }
}
