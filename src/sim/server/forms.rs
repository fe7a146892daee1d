//! The JSON forms of the agent's actions, the fault triggers and the fault kinds: tagged by `"type"`, camelCase,
//! durations in milliseconds (`{"type": "say", "text": "hi"}`, `{"type": "after", "ms": 5000}`,
//! `{"type": "sequenceDrift", "by": 3}`), as `docs/boundary.md` describes them. One definition, derived on
//! [`AgentAction`], [`Trigger`] and [`FaultKind`] themselves, serves the JSON boundary, the admin API and
//! scenario files. The helpers here give the variants that hold a bare value their named field.
//!
//! Scenario files and admin requests written before this form used serde's externally tagged one
//! (`"Accept"`, `{"Say": {"text": "hi"}}`, `{"Poll": 4}`, `{"After": {"secs": 5, "nanos": 0}}`); where a
//! scenario or an admin request holds one of these values, that spelling is still read ([`action`],
//! [`trigger`], [`fault_kind`]).

use super::agent::AgentAction;
use super::faults::{FaultKind, Trigger};
use crate::time::{JSON_MILLIS_RULE, duration_from_json_millis};
use crate::wire::Message;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::time::Duration;

/// A duration as a JSON number of milliseconds: whole milliseconds as an integer, others as a fraction.
fn millis_number(d: Duration) -> Value {
    match u64::try_from(d.as_millis()) {
        Ok(ms) if d.subsec_nanos().is_multiple_of(1_000_000) => Value::from(ms),
        _ => Value::from(d.as_secs_f64() * 1000.0),
    }
}

/// `field` (as a fault names it: `at.ms`, `kind.ms`) as a duration.
fn duration_of<E: serde::de::Error>(ms: f64, field: &str) -> Result<Duration, E> {
    duration_from_json_millis(ms)
        .ok_or_else(|| E::custom(format_args!("{field} {JSON_MILLIS_RULE}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ms {
    ms: f64,
}

fn ms_object<S: Serializer>(d: Duration, s: S) -> Result<S::Ok, S::Error> {
    let mut m = Map::new();
    m.insert("ms".into(), millis_number(d));
    m.serialize(s)
}

/// A trigger that holds a duration, as `{"ms": n}`.
pub(crate) mod at_ms {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        ms_object(*d, s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        duration_of(Ms::deserialize(d)?.ms, "at.ms")
    }
}

/// A fault kind that holds a duration, as `{"ms": n}`.
pub(crate) mod kind_ms {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        ms_object(*d, s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        duration_of(Ms::deserialize(d)?.ms, "kind.ms")
    }
}

/// A duration field of a fault kind as a number of milliseconds (`"ms": 250`).
pub(crate) mod kind_ms_number {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        millis_number(*d).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        duration_of(f64::deserialize(d)?, "kind.ms")
    }
}

/// A trigger's count, as `{"n": n}`.
pub(crate) mod n_field {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct N {
        n: u64,
    }

    pub(crate) fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
        N { n: *n }.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        Ok(N::deserialize(d)?.n)
    }
}

/// A sequence drift, as `{"by": n}`.
pub(crate) mod by_field {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct By {
        by: u64,
    }

    pub(crate) fn serialize<S: Serializer>(by: &u64, s: S) -> Result<S::Ok, S::Error> {
        By { by: *by }.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        Ok(By::deserialize(d)?.by)
    }
}

/// A message the agent emits as given, as `{"messageType": "...", "payload": {...}}` (its protocol `type` and
/// `message`; a payload that does not decode is kept, as the client would receive it).
pub(crate) mod emit {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct EmitRef<'a> {
        message_type: &'a str,
        payload: Value,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Emit {
        message_type: String,
        payload: Value,
    }

    pub(crate) fn serialize<S: Serializer>(m: &Message, s: S) -> Result<S::Ok, S::Error> {
        EmitRef {
            message_type: m.kind(),
            payload: m.payload_json(),
        }
        .serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<Message>, D::Error> {
        let e = Emit::deserialize(d)?;
        Ok(Box::new(Message::decode(
            &e.message_type,
            &e.payload.to_string(),
        )))
    }
}

/// An [`AgentAction`] in its form or in serde's externally tagged one (`"Accept"`, `{"Say": {"text": "hi"}}`).
pub(crate) fn action<'de, D: Deserializer<'de>>(d: D) -> Result<AgentAction, D::Error> {
    let v = Value::deserialize(d)?;
    action_from(v).map_err(D::Error::custom)
}

/// [`action`] from a JSON value.
pub(crate) fn action_from(v: Value) -> Result<AgentAction, serde_json::Error> {
    serde_json::from_value(externally_tagged(v, |variant, content| {
        match (variant, content) {
            ("Emit", Value::Object(mut m)) => Some(object([
                ("messageType", m.remove("type").unwrap_or(Value::Null)),
                ("payload", m.remove("message").unwrap_or(Value::Null)),
            ])),
            ("CustomEvent", Value::Object(mut m)) => {
                if let Some(kind) = m.remove("kind") {
                    m.insert("eventType".into(), kind);
                }
                Some(Value::Object(camel_keys(m)))
            }
            (_, Value::Object(m)) => Some(Value::Object(camel_keys(m))),
            _ => None,
        }
    }))
}

/// A [`Trigger`] in its form or in serde's externally tagged one (`{"Poll": 4}`, `{"After": {"secs": 5,
/// "nanos": 0}}`).
pub(crate) fn trigger<'de, D: Deserializer<'de>>(d: D) -> Result<Trigger, D::Error> {
    let v = externally_tagged(Value::deserialize(d)?, |variant, content| {
        match (variant, content) {
            ("After", Value::Object(m)) => Some(object([("ms", legacy_millis(&m))])),
            (_, n @ Value::Number(_)) => Some(object([("n", n)])),
            _ => None,
        }
    });
    serde_json::from_value(v).map_err(D::Error::custom)
}

/// A [`FaultKind`] in its form or in serde's externally tagged one (`"Handover"`, `{"SequenceDrift": 3}`,
/// `{"DelayReply": {"secs": 1, "nanos": 0}}`).
pub(crate) fn fault_kind<'de, D: Deserializer<'de>>(d: D) -> Result<FaultKind, D::Error> {
    let v = externally_tagged(Value::deserialize(d)?, |variant, content| {
        match (variant, content) {
            ("DelayReply", Value::Object(m)) => Some(object([("ms", legacy_millis(&m))])),
            ("SequenceDrift", by @ Value::Number(_)) => Some(object([("by", by)])),
            ("Unreachable", Value::Object(mut m)) => {
                let after = match m.remove("after") {
                    Some(Value::Object(a)) => legacy_millis(&a),
                    _ => Value::Null,
                };
                m.insert("ms".into(), after);
                Some(Value::Object(m))
            }
            (_, Value::Object(m)) => Some(Value::Object(camel_keys(m))),
            _ => None,
        }
    });
    serde_json::from_value(v).map_err(D::Error::custom)
}

/// The tagged form of an externally tagged value: a unit variant's name (`"Accept"`) becomes
/// `{"type": "accept"}`; `{"Variant": content}` becomes the object `fields` makes of the content with
/// `"type": "variant"` added. A value in the tagged form (or anything else) is left as it is.
fn externally_tagged(v: Value, fields: impl FnOnce(&str, Value) -> Option<Value>) -> Value {
    match v {
        Value::String(variant) if variant.starts_with(|c: char| c.is_ascii_uppercase()) => {
            object([("type", Value::String(lower_first(&variant)))])
        }
        Value::Object(m) if m.len() == 1 && !m.contains_key("type") => {
            let Some((variant, content)) = m.into_iter().next() else {
                return Value::Object(Map::new());
            };
            match fields(&variant, content.clone()) {
                Some(Value::Object(mut f))
                    if variant.starts_with(|c: char| c.is_ascii_uppercase()) =>
                {
                    f.insert("type".into(), Value::String(lower_first(&variant)));
                    Value::Object(f)
                }
                _ => object([(variant.as_str(), content)]),
            }
        }
        other => other,
    }
}

/// serde's `{"secs": s, "nanos": n}` as milliseconds (`null` when it is not one: the tagged form refuses it).
fn legacy_millis(d: &Map<String, Value>) -> Value {
    match (
        d.get("secs").and_then(Value::as_u64),
        d.get("nanos").and_then(Value::as_u64),
    ) {
        (Some(secs), Some(nanos)) if d.len() == 2 => {
            millis_number(Duration::from_secs(secs).saturating_add(Duration::from_nanos(nanos)))
        }
        _ => Value::Null,
    }
}

fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// `to_name` → `toName`.
fn camel_keys(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .map(|(k, v)| {
            let mut out = String::with_capacity(k.len());
            let mut upper = false;
            for c in k.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    out.push(c.to_ascii_uppercase());
                    upper = false;
                } else {
                    out.push(c);
                }
            }
            (out, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Fault;
    use serde_json::json;

    fn emit() -> AgentAction {
        AgentAction::Emit(Box::new(Message::decode(
            "ChatMessage",
            r#"{"name":"A","text":"hi"}"#,
        )))
    }

    /// Every action: its form, read back to the same action, and the older spelling read to it too.
    #[test]
    fn every_agent_action_has_one_tagged_form_and_the_older_spelling_reads() {
        let cases = [
            (
                AgentAction::QueueUpdate { position: 2 },
                json!({"type": "queueUpdate", "position": 2}),
                json!({"QueueUpdate": {"position": 2}}),
            ),
            (
                AgentAction::Accept,
                json!({"type": "accept"}),
                json!("Accept"),
            ),
            (
                AgentAction::Decline {
                    reason: "Unavailable".into(),
                },
                json!({"type": "decline", "reason": "Unavailable"}),
                json!({"Decline": {"reason": "Unavailable"}}),
            ),
            (
                AgentAction::NotTyping,
                json!({"type": "notTyping"}),
                json!("NotTyping"),
            ),
            (
                AgentAction::Say { text: "hi".into() },
                json!({"type": "say", "text": "hi"}),
                json!({"Say": {"text": "hi"}}),
            ),
            (
                AgentAction::EchoVisitor,
                json!({"type": "echoVisitor"}),
                json!("EchoVisitor"),
            ),
            (
                AgentAction::Transfer {
                    to_name: "Sam".into(),
                },
                json!({"type": "transfer", "toName": "Sam"}),
                json!({"Transfer": {"to_name": "Sam"}}),
            ),
            (
                AgentAction::RequestFile,
                json!({"type": "requestFile"}),
                json!("RequestFile"),
            ),
            (
                AgentAction::Menu {
                    header: "h".into(),
                    items: vec!["a".into()],
                },
                json!({"type": "menu", "header": "h", "items": ["a"]}),
                json!({"Menu": {"header": "h", "items": ["a"]}}),
            ),
            (
                AgentAction::CustomEvent {
                    kind: "k".into(),
                    data: "d".into(),
                },
                json!({"type": "customEvent", "eventType": "k", "data": "d"}),
                json!({"CustomEvent": {"kind": "k", "data": "d"}}),
            ),
            (
                emit(),
                json!({"type": "emit", "messageType": "ChatMessage", "payload": {"name": "A", "text": "hi"}}),
                json!({"Emit": {"type": "ChatMessage", "message": {"name": "A", "text": "hi"}}}),
            ),
        ];
        for (action, form, older) in cases {
            assert_eq!(serde_json::to_value(&action).ok(), Some(form.clone()));
            assert_eq!(
                action_from(form.clone()).ok(),
                Some(action.clone()),
                "{form}"
            );
            assert_eq!(action_from(older.clone()).ok(), Some(action), "{older}");
        }
    }

    /// Every trigger and fault kind in a fault: its form, read back, and the older spelling read to it too.
    #[test]
    fn every_trigger_and_fault_kind_has_one_tagged_form_and_the_older_spelling_reads() {
        let cases = [
            (
                Trigger::Request(1),
                json!({"type": "request", "n": 1}),
                json!({"Request": 1}),
                FaultKind::DropReply,
                json!({"type": "dropReply"}),
                json!("DropReply"),
            ),
            (
                Trigger::Poll(4),
                json!({"type": "poll", "n": 4}),
                json!({"Poll": 4}),
                FaultKind::DelayReply(Duration::from_millis(1500)),
                json!({"type": "delayReply", "ms": 1500}),
                json!({"DelayReply": {"secs": 1, "nanos": 500_000_000}}),
            ),
            (
                Trigger::Post(2),
                json!({"type": "post", "n": 2}),
                json!({"Post": 2}),
                FaultKind::ServerErrors {
                    count: 2,
                    status: 503,
                },
                json!({"type": "serverErrors", "count": 2, "status": 503}),
                json!({"ServerErrors": {"count": 2, "status": 503}}),
            ),
            (
                Trigger::After(Duration::from_micros(2500)),
                json!({"type": "after", "ms": 2.5}),
                json!({"After": {"secs": 0, "nanos": 2_500_000}}),
                FaultKind::SequenceDrift(3),
                json!({"type": "sequenceDrift", "by": 3}),
                json!({"SequenceDrift": 3}),
            ),
            (
                Trigger::ServerRequest(7),
                json!({"type": "serverRequest", "n": 7}),
                json!({"ServerRequest": 7}),
                FaultKind::Unreachable {
                    count: 2,
                    after: Duration::from_secs(1),
                },
                json!({"type": "unreachable", "count": 2, "ms": 1000}),
                json!({"Unreachable": {"count": 2, "after": {"secs": 1, "nanos": 0}}}),
            ),
        ];
        for (at, at_form, at_older, kind, kind_form, kind_older) in cases {
            let fault = Fault::every_session(at, kind);
            let form = json!({"session": null, "at": at_form, "kind": kind_form});
            assert_eq!(serde_json::to_value(&fault).ok(), Some(form.clone()));
            assert_eq!(
                serde_json::from_value::<Fault>(form).ok(),
                Some(fault.clone())
            );
            let older = json!({"session": null, "at": at_older, "kind": kind_older});
            assert_eq!(
                serde_json::from_value::<Fault>(older.clone()).ok(),
                Some(fault),
                "{older}"
            );
        }
        for kind in [
            FaultKind::Expire,
            FaultKind::Handover,
            FaultKind::SwitchServer,
            FaultKind::DuplicateBatch,
        ] {
            let older = serde_json::to_value(kind).ok().and_then(|v| {
                let name = v["type"].as_str()?.to_owned();
                Some(Value::String(name[..1].to_uppercase() + &name[1..]))
            });
            let fault = Fault::for_session(0, Trigger::Poll(1), kind);
            let older = json!({"session": 0, "at": {"type": "poll", "n": 1}, "kind": older});
            assert_eq!(serde_json::from_value::<Fault>(older).ok(), Some(fault));
        }
    }

    #[test]
    fn bad_forms_are_refused_with_what_is_wrong() {
        let refused = |v: Value| match serde_json::from_value::<Fault>(v) {
            Ok(f) => format!("accepted {f:?}"),
            Err(e) => e.to_string(),
        };
        let at = json!({"type": "poll", "n": 1});
        let cases = [
            (
                json!({"at": at, "kind": {"type": "meteor"}}),
                "unknown variant `meteor`",
            ),
            (
                json!({"at": {"type": "after", "ms": -5}, "kind": {"type": "expire"}}),
                "at.ms must be a finite, non-negative number of milliseconds",
            ),
            (
                json!({"at": {"type": "poll", "n": 1, "m": 2}, "kind": {"type": "expire"}}),
                "unknown field `m`",
            ),
            (
                json!({"at": at, "kind": {"type": "delayReply", "ms": 1, "x": 1}}),
                "unknown field `x`",
            ),
            (
                json!({"at": at, "kind": {"type": "expire"}, "when": 1}),
                "unknown field `when`",
            ),
            (
                json!({"at": {"After": {"secs": -1, "nanos": 0}}, "kind": "Expire"}),
                "invalid type: null",
            ),
        ];
        for (v, expected) in cases {
            let e = refused(v.clone());
            assert!(e.contains(expected), "{v}: {e}");
        }
        let e = action_from(json!({"Fly": {}}))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(e.is_err(), "{e:?}");
    }
}
