//! The admin API under `/__sim/`, on the same listener as the Chat API, so that a test suite in any language
//! can reset the server, script it, read what it received and act as the agent while it runs (the way
//! WireMock's admin API and LocalStack are driven). It lives in the sans-IO server, so every front end has it;
//! [`SimConfig::admin_api`](crate::sim::SimConfig::admin_api) turns it off (then `/__sim/` is an unknown path
//! like any other).
//!
//! Every answer is JSON. Bad input (malformed JSON, an unknown field, an unknown session, an action the
//! session's state does not allow) gets a 4xx with `{"error": "..."}` and changes nothing. Admin requests are
//! not Chat API requests: they are not counted by fault triggers and leave no finding; those that change
//! something are logged in the transcript.
//!
//! | request | what it does |
//! |---|---|
//! | `GET /__sim/report` | the live conformance report |
//! | `POST /__sim/reset` | forgets every session, finding and transcript line (held polls are answered 403 first) |
//! | `GET /__sim/sessions` | one summary per session |
//! | `GET /__sim/sessions/{id}` | one session: state, messages, events, report, transcript |
//! | `GET /__sim/scenario`, `PUT /__sim/scenario` | the dialect, agent script and fault plan (`{"dialect", "agent", "faults"}`, each optional) for the next sessions |
//! | `POST /__sim/sessions/{id}/accept`, `say {"text"}`, `typing`, `not-typing`, `transfer {"name"}`, `request-file`, `end` | the agent acts now |
//! | `POST /__sim/sessions/{id}/action` | any [`AgentAction`] in its serde form, e.g. `{"type": "say", "text": "hi"}` (the form `docs/boundary.md` gives agent steps; the older `{"Say": {"text": "hi"}}` is read too) |
//! | `POST /__sim/sessions/{id}/handover` | a 503 server handover now (the next request with the old token gets 503) |

use super::Server;
use super::encoding::{Answer, JSON};
use super::routing::Ctx;
use crate::sim::{AgentAction, AgentScript, Dialect, FaultKind, FaultPlan, SessionState};
use http::{Method, Request};
use serde::Deserialize;
use serde_json::{Value, json};

/// The reserved path prefix.
pub(crate) const PREFIX: &str = "/__sim/";

/// The body of `PUT /__sim/scenario`: what is sent replaces what the server has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioUpdate {
    /// A dialect name (`"strict"`) or switches (`{"sequence-rule": "consecutive"}`, the others at their
    /// default); unknown names and values are refused.
    dialect: Option<Value>,
    agent: Option<AgentScript>,
    faults: Option<FaultPlan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SayBody {
    text: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    #[serde(default)]
    name: Option<String>,
}

fn ok(value: &Value) -> Answer {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Answer {
        status: 200,
        body,
        content_type: Some(JSON),
        note: super::encoding::Note::Status(std::borrow::Cow::Borrowed("")),
    }
}

fn error(status: u16, message: &str) -> Answer {
    let body = serde_json::to_vec(&json!({ "error": message })).unwrap_or_default();
    Answer {
        status,
        body,
        content_type: Some(JSON),
        note: super::encoding::Note::Body,
    }
}

/// A JSON body; an empty body reads as `{}`.
fn body_json<'a, T: Deserialize<'a> + Default>(body: &'a [u8]) -> Result<T, Answer> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| error(400, &format!("bad JSON body: {e}")))
}

/// A dialect from its name or its switches, refusing unknown names and values.
fn dialect_of(v: &Value) -> Result<Dialect, String> {
    match v {
        Value::String(name) => Dialect::named(name).ok_or_else(|| {
            format!(
                "unknown dialect {name:?} (known: {})",
                Dialect::NAMES.join(", ")
            )
        }),
        Value::Object(map) => {
            let mut d = Dialect::default();
            for (switch, value) in map {
                let Some(value) = value.as_str() else {
                    return Err(format!(
                        "dialect switch {switch:?}: the value must be a string"
                    ));
                };
                d.set(switch, value).map_err(|e| e.to_string())?;
            }
            Ok(d)
        }
        _ => Err("dialect: a name or an object of switches".into()),
    }
}

fn state_name(state: SessionState) -> String {
    match state {
        SessionState::Created => "created".into(),
        SessionState::Queued => "queued".into(),
        SessionState::Chatting => "chatting".into(),
        SessionState::AgentDisconnected => "agent-disconnected".into(),
        SessionState::Ending(r) => format!("ending ({r:?})"),
        SessionState::Ended(r) => format!("ended ({r:?})"),
    }
}

impl Server {
    /// Answers an admin request (the path starts with [`PREFIX`]).
    pub(super) fn admin<B: AsRef<[u8]>>(&mut self, req: &Request<B>, ctx: &Ctx) -> Answer {
        let path = req.uri().path();
        let rest = path.strip_prefix(PREFIX).unwrap_or_default();
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let parts: Vec<&str> = rest.split('/').collect();
        let method = req.method();
        let body = req.body().as_ref();
        let mutating = *method != Method::GET;
        let answer = match (method, parts.as_slice()) {
            (&Method::GET, ["report"]) => match serde_json::to_value(self.conformance_report()) {
                Ok(v) => ok(&v),
                Err(e) => error(500, &e.to_string()),
            },
            (&Method::POST, ["reset"]) => {
                self.reset(ctx.now);
                ok(&json!({ "reset": true }))
            }
            (&Method::GET, ["sessions"]) => ok(&Value::Array(
                (0..self.sessions.len())
                    .filter_map(|si| self.session_summary(si))
                    .collect(),
            )),
            (&Method::GET, ["sessions", id]) => match self.by_id.get(*id).copied() {
                Some(si) => self.session_detail(si),
                None => error(404, &format!("no session {id:?}")),
            },
            (&Method::GET, ["scenario"]) => self.scenario(),
            (&Method::PUT, ["scenario"]) => match body_json::<Option<ScenarioUpdate>>(body) {
                Ok(Some(update)) => self.apply_scenario(update),
                Ok(None) => error(400, "PUT /__sim/scenario needs a JSON object"),
                Err(a) => a,
            },
            (&Method::POST, ["sessions", id, verb]) => self.admin_act(id, verb, body, ctx),
            (_, ["report" | "reset" | "sessions" | "scenario"])
            | (_, ["sessions", _])
            | (_, ["sessions", _, _]) => error(405, &format!("{method} is not allowed on {path}")),
            _ => error(404, &format!("no admin resource {path}")),
        };
        if mutating && self.config.record_transcript {
            let text = format!("admin {method} {path} -> {}", answer.status);
            self.log(ctx.now, Some(ctx.ticket), None, text);
        }
        answer
    }

    /// Forgets every session, finding and transcript line; keeps the configuration (with any scenario put
    /// since). Held polls are answered 403 first, and replies already due still go out.
    pub fn reset(&mut self, now: crate::time::Timestamp) {
        let now = self.clock(now);
        self.advance(now);
        for si in 0..self.sessions.len() {
            self.answer_held(si, Answer::text(403, super::routing::SESSION_INVALID), now);
        }
        let ready = std::mem::replace(&mut self.ready, super::TimerQueue::new(now));
        let (ready_seq, next_ticket) = (self.ready_seq, self.next_ticket);
        *self = Server::new(self.config.clone(), now);
        self.ready = ready;
        self.ready_seq = ready_seq;
        self.next_ticket = next_ticket;
    }

    fn session_summary(&self, si: usize) -> Option<Value> {
        let s = self.sessions.get(si)?;
        let (completed, end) = super::completion(s);
        Some(json!({
            "index": s.rec.index,
            "id": s.rec.id,
            "state": state_name(s.rec.state),
            "completed": completed,
            "end": end,
            "requests": s.requests,
            "polls": s.rec.polls,
            "visitor_messages": s.rec.visitor_messages.len(),
            "agent_messages": s.rec.agent_messages.len(),
        }))
    }

    fn session_detail(&self, si: usize) -> Answer {
        let Some(s) = self.sessions.get(si) else {
            return error(404, "no such session");
        };
        let report = self
            .conformance_report()
            .sessions
            .into_iter()
            .nth(si)
            .and_then(|r| serde_json::to_value(r).ok())
            .unwrap_or(Value::Null);
        let transcript: Vec<String> = self
            .transcript
            .iter()
            .filter(|l| l.session == Some(si))
            .map(ToString::to_string)
            .collect();
        let events: Vec<String> = s
            .rec
            .visitor_events
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
        let mut v = self.session_summary(si).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert("visitor_messages".into(), json!(s.rec.visitor_messages));
            map.insert("agent_messages".into(), json!(s.rec.agent_messages));
            map.insert("visitor_events".into(), json!(events));
            map.insert("handovers".into(), json!(s.rec.handovers));
            map.insert("reconnects".into(), json!(s.rec.reconnects));
            map.insert("report".into(), report);
            map.insert("transcript".into(), json!(transcript));
        }
        ok(&v)
    }

    fn scenario(&self) -> Answer {
        ok(&json!({
            "dialect": self.config.dialect,
            "agent": self.config.agent,
            "faults": self.config.faults,
        }))
    }

    fn apply_scenario(&mut self, update: ScenarioUpdate) -> Answer {
        let dialect = match update.dialect.as_ref().map(dialect_of) {
            Some(Err(e)) => return error(400, &e),
            Some(Ok(d)) => Some(d),
            None => None,
        };
        if let Some(d) = dialect {
            self.config.dialect = d;
        }
        if let Some(a) = update.agent {
            self.config.agent = a;
        }
        if let Some(f) = update.faults {
            self.config.faults = f;
            self.plan_changed();
        }
        self.scenario()
    }

    fn admin_act(&mut self, id: &str, verb: &str, body: &[u8], ctx: &Ctx) -> Answer {
        let Some(&si) = self.by_id.get(id) else {
            return error(404, &format!("no session {id:?}"));
        };
        let action = match verb {
            "accept" => AgentAction::Accept,
            "say" => match serde_json::from_slice::<SayBody>(body) {
                Ok(b) => AgentAction::Say { text: b.text },
                Err(e) => return error(400, &format!("say needs {{\"text\": \"...\"}}: {e}")),
            },
            "typing" => AgentAction::Typing,
            "not-typing" => AgentAction::NotTyping,
            "transfer" => match body_json::<TransferBody>(body) {
                Ok(b) => AgentAction::Transfer {
                    to_name: b.name.unwrap_or_else(|| "Sam T.".into()),
                },
                Err(a) => return a,
            },
            "request-file" => AgentAction::RequestFile,
            "end" => AgentAction::End,
            "action" => match serde_json::from_slice(body).and_then(super::forms::action_from) {
                Ok(a) => a,
                Err(e) => return error(400, &format!("bad agent action: {e}")),
            },
            "handover" => {
                if !self.is_live(si) {
                    return error(409, "the session is over");
                }
                self.fire(si, FaultKind::Handover, ctx.now, None);
                return ok(&json!({ "done": "handover" }));
            }
            other => return error(404, &format!("no agent action {other:?}")),
        };
        let state = self.sessions.get(si).map(|s| s.rec.state);
        if self.run_action(si, &action, ctx.now) {
            ok(&json!({ "done": verb }))
        } else {
            let state = state.map(state_name).unwrap_or_default();
            error(
                409,
                &format!("the agent cannot {verb} now: the session is {state}"),
            )
        }
    }
}
