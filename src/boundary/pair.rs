//! [`JsonPair`]: the simulator's [`Pair`] (a session against a simulated server on virtual time) through
//! JSON, so a test suite in another language rehearses a whole chat with faults in milliseconds.

use super::input::{Obj, kind_of};
use super::out::{EndReasonJson, EventJson, event_type};
use super::{BoundaryError, ErrorCode, config_from_json, duration_ms, run_command, to_json};
use crate::Timestamp;
use crate::sim::{
    AgentAction, AgentProfile, AgentScript, AgentStep, Dialect, Fault, Pair, PairError, SimConfig,
};
use crate::wire::IdleTimeoutSettings;
use serde::{Deserialize, Serialize};
use std::time::Duration;

fn sim_error(message: impl Into<String>) -> BoundaryError {
    BoundaryError::new(ErrorCode::Simulation, message)
}

impl From<PairError> for BoundaryError {
    fn from(e: PairError) -> Self {
        sim_error(e.to_string())
    }
}

fn millis(ms: f64, what: &str) -> Result<Duration, String> {
    duration_ms(ms).ok_or_else(|| format!("{what} {}", super::TIME_RULE))
}

/// Reads the simulator's configuration from JSON (`docs/boundary.md`, "Simulator"): every field optional.
pub(crate) fn sim_config_from_json(json: &str) -> Result<SimConfig, BoundaryError> {
    let mut o = Obj::parse(json, ErrorCode::Simulation, "the simulator configuration")?;
    super::config::check_version(&mut o)?;
    let mut c = SimConfig::default();
    o.set("seed", &mut c.seed)?;
    o.set("scheme", &mut c.scheme)?;
    o.set("host", &mut c.host)?;
    o.set("alternateHost", &mut c.alternate_host)?;
    o.set_ms("pollHoldMs", &mut c.poll_hold)?;
    o.set_ms("answerLatencyMs", &mut c.answer_latency)?;
    o.set("clientPollTimeoutSecs", &mut c.client_poll_timeout)?;
    o.set_ms("sessionIdleTimeoutMs", &mut c.session_idle_timeout)?;
    o.set("minApiVersion", &mut c.min_api_version)?;
    o.set("available", &mut c.available)?;
    o.set("wrapVisitorAnswers", &mut c.wrap_visitor_answers)?;
    o.set("recordTranscript", &mut c.record_transcript)?;
    o.set("epochMs", &mut c.epoch_ms)?;
    if let Some(v) = o.value("dialect") {
        c.dialect = dialect(v).map_err(|m| o.invalid("dialect", m))?;
    }
    if let Some(v) = o.value("agent") {
        c.agent = agent(v).map_err(|m| o.invalid("agent", m))?;
    }
    if let Some(faults) = o.opt::<Vec<Fault>>("faults")? {
        c.faults.faults.extend(faults);
    }
    o.finish()?;
    Ok(c)
}

/// A preset name (`"guide"`), `NAME=VALUE` assignments (`"poll-conflict=ends-chat"`), or an object of
/// switch names to values on top of the default.
fn dialect(v: serde_json::Value) -> Result<Dialect, String> {
    match v {
        serde_json::Value::String(s) => match Dialect::named(&s) {
            Some(d) => Ok(d),
            None => Dialect::default()
                .parse_assignments(&s)
                .map_err(|e| e.to_string()),
        },
        serde_json::Value::Object(m) => {
            let mut d = Dialect::default();
            for (name, value) in m {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("switch {name:?}: the value must be a string"))?;
                d.set(&name, value).map_err(|e| e.to_string())?;
            }
            Ok(d)
        }
        other => Err(format!(
            "expected a preset name, assignments or an object, not {}",
            kind_of(&other)
        )),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AgentJson {
    #[serde(default)]
    queue_position: Option<i64>,
    #[serde(default)]
    echo_prefix: Option<String>,
    #[serde(default)]
    attached_records: Option<serde_json::Value>,
    #[serde(default)]
    profile: Option<ProfileJson>,
    #[serde(default)]
    steps: Vec<StepJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileJson {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    sneak_peek_enabled: Option<bool>,
    /// The protocol's `chasitorIdleTimeout` object (`isEnabled`, `warningTime`, `timeout`).
    #[serde(default)]
    idle_timeout: Option<IdleTimeoutSettings>,
}

/// `{"afterMs": 500, "type": "say", "text": "hi"}`: the action in [`AgentAction`]'s own form (no
/// `deny_unknown_fields`: serde cannot combine it with `flatten`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StepJson {
    #[serde(default)]
    after_ms: f64,
    #[serde(flatten)]
    action: AgentAction,
}

/// `"default"` (the default script: queued, accepted after 2 s, a greeting, echoes), `"idle"` (never
/// answers), or an object: `queuePosition`, `echoPrefix`, `attachedRecords`, `profile`, `steps`.
fn agent(v: serde_json::Value) -> Result<AgentScript, String> {
    match v {
        serde_json::Value::String(s) => match s.as_str() {
            "default" => Ok(AgentScript::default()),
            "idle" => Ok(AgentScript::idle()),
            other => Err(format!(
                "unknown script {other:?} (\"default\", \"idle\" or an object)"
            )),
        },
        v @ serde_json::Value::Object(_) => {
            let a: AgentJson = serde_json::from_value(v).map_err(|e| e.to_string())?;
            let mut steps = Vec::with_capacity(a.steps.len());
            for (i, s) in a.steps.into_iter().enumerate() {
                steps.push(AgentStep::new(
                    millis(s.after_ms, &format!("steps[{i}].afterMs"))?,
                    s.action,
                ));
            }
            let mut script = AgentScript::new(steps);
            if let Some(p) = a.queue_position {
                script.queue_position = p;
            }
            if let Some(p) = a.echo_prefix {
                script.echo_prefix = p;
            }
            if let Some(r) = a.attached_records {
                script.attached_records = r;
            }
            if let Some(p) = a.profile {
                let d = AgentProfile::default();
                script.agent = AgentProfile {
                    name: p.name.unwrap_or(d.name),
                    user_id: p.user_id.unwrap_or(d.user_id),
                    sneak_peek_enabled: p.sneak_peek_enabled.unwrap_or(d.sneak_peek_enabled),
                    idle_timeout: p.idle_timeout.or(d.idle_timeout),
                };
            }
            Ok(script)
        }
        other => Err(format!(
            "expected \"default\", \"idle\" or an object, not {}",
            kind_of(&other)
        )),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimedEventJson<'a> {
    at_ms: u64,
    event: EventJson<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryJson<'a> {
    clean: bool,
    sent: usize,
    accepted_by_server: usize,
    agent_emitted: usize,
    agent_received: usize,
    ended: Option<EndReasonJson<'a>>,
    discrepancies: Vec<String>,
    notes: Vec<String>,
    text: String,
}

fn ms_of(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A session against the simulated server on a virtual clock that starts at 0 ([`Pair`] through JSON).
/// The session's configuration is [`JsonSession`](super::JsonSession)'s; its `endpoint` is replaced by the
/// simulator's (so `{}`-like configurations work: only the ids are needed). The simulator's configuration is
/// described in `docs/boundary.md`.
///
/// ```
/// use liveagent::boundary::JsonPair;
/// let session = r#"{"endpoint": "https://sim.invalid", "organizationId": "00D", "deploymentId": "572",
///                   "buttonId": "573"}"#;
/// let mut pair = JsonPair::new(session, r#"{"agent": "default"}"#)?;
/// pair.run_until_event("agentMessage")?;
/// pair.send_message("Hello")?;
/// pair.run_until_event("agentMessage")?;
/// pair.end()?;
/// pair.run()?;
/// assert!(pair.check_delivery()?.starts_with(r#"{"clean":true"#));
/// # Ok::<(), liveagent::boundary::BoundaryError>(())
/// ```
#[derive(Debug)]
pub struct JsonPair {
    pair: Pair,
}

impl JsonPair {
    /// A pair from the session's and the simulator's configurations (JSON); the simulator's may be `""`
    /// or `{}` for the defaults.
    pub fn new(
        session_config_json: &str,
        sim_config_json: &str,
    ) -> Result<JsonPair, BoundaryError> {
        let mut config = config_from_json(session_config_json)?;
        let sim = if sim_config_json.trim().is_empty() {
            SimConfig::default()
        } else {
            sim_config_from_json(sim_config_json)?
        };
        config.endpoint = sim
            .endpoint()
            .map_err(|e| sim_error(format!("the simulator's scheme and host: {e}")))?;
        Ok(JsonPair {
            pair: Pair::new(config, sim, Timestamp::ZERO),
        })
    }

    /// The pair.
    pub fn pair(&self) -> &Pair {
        &self.pair
    }

    /// The pair, mutably (faults, commands not covered here).
    pub fn pair_mut(&mut self) -> &mut Pair {
        &mut self.pair
    }

    /// Sends a visitor text (judged by [`check_delivery`](JsonPair::check_delivery)); returns its command id.
    pub fn send_message(&mut self, text: &str) -> Result<u64, BoundaryError> {
        Ok(self.pair.send_message(text)?.0)
    }

    /// Ends the chat from the visitor's side.
    pub fn end(&mut self) -> Result<(), BoundaryError> {
        Ok(self.pair.end()?)
    }

    /// Any command, as [`JsonSession::command`](super::JsonSession::command) takes it (texts sent this way
    /// are not judged by `check_delivery`: use [`send_message`](JsonPair::send_message)).
    pub fn command(&mut self, command_json: &str) -> Result<String, BoundaryError> {
        self.pair
            .command("command", |s| run_command(s, command_json))
    }

    /// Runs until the session has ended and every output is drained.
    pub fn run(&mut self) -> Result<(), BoundaryError> {
        Ok(self.pair.run()?)
    }

    /// Runs until the session hands out an event of this `type` (e.g. `agentMessage`); returns its JSON,
    /// or `null` if the session ended first.
    pub fn run_until_event(&mut self, event_type_name: &str) -> Result<String, BoundaryError> {
        match self
            .pair
            .run_until_event(|e| event_type(e) == event_type_name)?
        {
            Some(e) => to_json(&EventJson::new(&e)),
            None => Ok("null".to_owned()),
        }
    }

    /// Runs until `elapsed_ms` of virtual time since the start (everything due by then happens).
    pub fn run_until_elapsed(&mut self, elapsed_ms: f64) -> Result<(), BoundaryError> {
        let d = duration_ms(elapsed_ms).ok_or_else(|| {
            BoundaryError::new(
                ErrorCode::InvalidTime,
                format!(
                    "elapsedMs {}; got {}",
                    super::TIME_RULE,
                    super::JsNumber(elapsed_ms)
                ),
            )
        })?;
        Ok(self.pair.run_until_elapsed(d)?)
    }

    /// Virtual milliseconds since the start.
    pub fn elapsed_ms(&self) -> f64 {
        self.pair.elapsed().as_secs_f64() * 1000.0
    }

    /// Every event so far: `[{"atMs": n, "event": {...}}, ...]`.
    pub fn events(&self) -> Result<String, BoundaryError> {
        let events: Vec<TimedEventJson<'_>> = self
            .pair
            .events()
            .iter()
            .map(|(at, e)| TimedEventJson {
                at_ms: ms_of(*at),
                event: EventJson::new(e),
            })
            .collect();
        to_json(&events)
    }

    /// The agent texts the application got, in order (a JSON array of strings).
    pub fn agent_texts(&self) -> Result<String, BoundaryError> {
        to_json(&self.pair.agent_texts())
    }

    /// The pair's transcript (keys and tokens shown as `<key>` and `<affinity>`).
    pub fn transcript(&self) -> String {
        self.pair.transcript()
    }

    /// Judges the chat from the simulator's record ([`Pair::check_delivery`]): `{"clean": bool, "sent",
    /// "acceptedByServer", "agentEmitted", "agentReceived", "ended", "discrepancies": [text], "notes":
    /// [text], "text"}`.
    pub fn check_delivery(&self) -> Result<String, BoundaryError> {
        let r = self.pair.check_delivery();
        to_json(&DeliveryJson {
            clean: r.is_clean(),
            sent: r.sent,
            accepted_by_server: r.accepted_by_server,
            agent_emitted: r.agent_emitted,
            agent_received: r.agent_received,
            ended: r.ended.as_ref().map(EndReasonJson::new),
            discrepancies: r.discrepancies.iter().map(|d| d.to_string()).collect(),
            notes: r.notes.iter().map(|n| n.to_string()).collect(),
            text: r.to_string(),
        })
    }

    /// The session's snapshot (see [`JsonSession::snapshot`](super::JsonSession::snapshot)).
    pub fn snapshot(&self) -> Result<String, BoundaryError> {
        to_json(&self.pair.session().snapshot())
    }
}
