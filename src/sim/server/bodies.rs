//! Request bodies, read the way `wire` reads answers: unknown fields ignored, booleans and numbers accepted as
//! JSON strings (`body-values`), ChasitorInit fields defaulted when missing (`init-fields`), and only what the
//! server cannot act without required, with a 400 that names it.
//!
//! Each tolerance is reported back ([`Tolerated`]) so the caller records it as a warning finding.

use crate::sim::dialect::{BodyValues, Dialect, InitFields};
use crate::wire::Noun;
use serde_json::{Map, Value};

/// Something the lenient reading accepted that the guide types otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tolerated {
    /// A boolean or number sent as a JSON string (the field's path, e.g. `prechatEntities[0].showOnCreate`).
    StringValue(String),
    /// A ChasitorInit field that was missing and took a default.
    MissingField(&'static str),
}

/// A body the server cannot act on: the 400 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyRefusal(pub(crate) String);

/// What a field holds.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
}

/// The booleans and numbers of each noun's body, by path from the body's root (`*` = every array element).
fn typed_fields(noun: &str) -> &'static [(&'static [&'static str], Kind)] {
    use Kind::{Bool, Int};
    match noun {
        "ChasitorInit" => &[
            (&["receiveQueueUpdates"], Bool),
            (&["isPost"], Bool),
            (&["doFallback"], Bool),
            (&["prechatDetails", "*", "displayToAgent"], Bool),
            (&["prechatDetails", "*", "doKnowledgeSearch"], Bool),
            (
                &["prechatDetails", "*", "entityMaps", "*", "isFastFillable"],
                Bool,
            ),
            (
                &["prechatDetails", "*", "entityMaps", "*", "isAutoQueryable"],
                Bool,
            ),
            (
                &["prechatDetails", "*", "entityMaps", "*", "isExactMatchable"],
                Bool,
            ),
            (&["prechatEntities", "*", "showOnCreate"], Bool),
            (
                &["prechatEntities", "*", "entityFieldsMaps", "*", "doFind"],
                Bool,
            ),
            (
                &[
                    "prechatEntities",
                    "*",
                    "entityFieldsMaps",
                    "*",
                    "isExactMatch",
                ],
                Bool,
            ),
            (
                &["prechatEntities", "*", "entityFieldsMaps", "*", "doCreate"],
                Bool,
            ),
            (
                &["prechatEntities", "*", "entityFieldsMap", "*", "doFind"],
                Bool,
            ),
            (
                &[
                    "prechatEntities",
                    "*",
                    "entityFieldsMap",
                    "*",
                    "isExactMatch",
                ],
                Bool,
            ),
            (
                &["prechatEntities", "*", "entityFieldsMap", "*", "doCreate"],
                Bool,
            ),
        ],
        "ChasitorSneakPeek" => &[(&["position"], Int)],
        "RichMessage" => &[(&["actions", "*", "index"], Int)],
        _ => &[],
    }
}

/// The documented ChasitorInit fields a body may leave out under `init-fields=optional`, with their defaults.
/// `sessionId` is filled in by the caller (the session's own id).
const INIT_DEFAULTS: &[(&str, InitDefault)] = &[
    ("organizationId", InitDefault::Text),
    ("deploymentId", InitDefault::Text),
    ("buttonId", InitDefault::Text),
    ("sessionId", InitDefault::SessionId),
    ("userAgent", InitDefault::Text),
    ("language", InitDefault::Text),
    ("screenResolution", InitDefault::Text),
    ("visitorName", InitDefault::Text),
    ("receiveQueueUpdates", InitDefault::False),
    ("isPost", InitDefault::True),
];

#[derive(Clone, Copy)]
enum InitDefault {
    Text,
    SessionId,
    False,
    True,
}

/// Only these missing fields are findings: the others are taken silently (the guide marks none as required,
/// and the server needs none of them); these two are what a client most likely forgot.
const WARN_WHEN_MISSING: &[&str] = &["sessionId", "visitorName"];

/// Decodes the body of the noun `name` as `dialect` reads it. `session_id` fills a missing ChasitorInit
/// `sessionId`.
pub(crate) fn decode_noun(
    name: &str,
    body: &[u8],
    dialect: &Dialect,
    session_id: &str,
) -> Result<(Noun, Vec<Tolerated>), BodyRefusal> {
    let strict_values = dialect.body_values == BodyValues::Strict;
    let strict_init = dialect.init_fields == InitFields::Required;
    if strict_values && (strict_init || name != "ChasitorInit") {
        return Noun::decode(name, body)
            .map(|n| (n, Vec::new()))
            .map_err(|e| BodyRefusal(format!("Bad request body: {e}")));
    }
    let mut value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| BodyRefusal(format!("Bad request body: {e}")))?
    };
    let mut tolerated = Vec::new();
    if !strict_values {
        for (path, kind) in typed_fields(name) {
            coerce(&mut value, path, *kind, String::new(), &mut tolerated);
        }
    }
    if name == "ChasitorInit"
        && !strict_init
        && let Value::Object(map) = &mut value
    {
        for (field, default) in INIT_DEFAULTS {
            if map.get(*field).is_some_and(|v| !v.is_null()) {
                continue;
            }
            let v = match default {
                InitDefault::Text => Value::String(String::new()),
                InitDefault::SessionId => Value::String(session_id.to_owned()),
                InitDefault::False => Value::Bool(false),
                InitDefault::True => Value::Bool(true),
            };
            map.insert((*field).to_owned(), v);
            if WARN_WHEN_MISSING.contains(field) {
                tolerated.push(Tolerated::MissingField(field));
            }
        }
    }
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    let noun =
        Noun::decode(name, &bytes).map_err(|e| BodyRefusal(format!("Bad request body: {e}")))?;
    Ok((noun, tolerated))
}

/// Rewrites the value at `path` into its JSON type when it is a string that spells one.
fn coerce(value: &mut Value, path: &[&str], kind: Kind, at: String, out: &mut Vec<Tolerated>) {
    let Some((head, rest)) = path.split_first() else {
        let fixed = match (&*value, kind) {
            (Value::String(s), Kind::Bool) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            (Value::String(s), Kind::Int) => s.trim().parse::<i64>().ok().map(Value::from),
            _ => None,
        };
        if let Some(v) = fixed {
            *value = v;
            out.push(Tolerated::StringValue(at));
        }
        return;
    };
    if *head == "*" {
        if let Value::Array(items) = value {
            for (i, item) in items.iter_mut().enumerate() {
                coerce(item, rest, kind, format!("{at}[{i}]"), out);
            }
        }
    } else if let Value::Object(map) = value
        && let Some(v) = map.get_mut(*head)
    {
        let at = if at.is_empty() {
            (*head).to_owned()
        } else {
            format!("{at}.{head}")
        };
        coerce(v, rest, kind, at, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_booleans_are_read_as_booleans_and_reported() -> Result<(), BodyRefusal> {
        let body = br#"{"organizationId":"o","deploymentId":"d","buttonId":"b","sessionId":"s",
            "userAgent":"u","language":"en","screenResolution":"768X1024","visitorName":"v",
            "prechatEntities":[{"entityName":"Contact","showOnCreate":"true",
              "entityFieldsMaps":[{"fieldName":"Email","label":"E","doFind":"true","isExactMatch":"false","doCreate":"TRUE"}]}],
            "receiveQueueUpdates":"true","isPost":"true"}"#;
        let (noun, tolerated) = decode_noun("ChasitorInit", body, &Dialect::default(), "s")?;
        let Noun::ChasitorInit(init) = noun else {
            return Err(BodyRefusal("not an init".into()));
        };
        assert!(init.receive_queue_updates && init.is_post);
        assert_eq!(tolerated.len(), 6, "{tolerated:?}");
        assert!(tolerated.contains(&Tolerated::StringValue(
            "prechatEntities[0].entityFieldsMaps[0].doCreate".into()
        )));
        Ok(())
    }

    #[test]
    fn strict_values_refuse_strings() {
        let d = Dialect {
            body_values: BodyValues::Strict,
            init_fields: InitFields::Required,
            ..Dialect::default()
        };
        let r = decode_noun(
            "ChasitorSneakPeek",
            br#"{"position":"3","text":"a"}"#,
            &d,
            "s",
        );
        assert!(
            r.is_ok(),
            "the wire reads numeric strings here already: {r:?}"
        );
        let r = decode_noun("ChatMessage", br#"{"txt":"a"}"#, &d, "s");
        assert_eq!(
            r.map(|_| ()),
            Err(BodyRefusal(
                "Bad request body: missing field `text` at line 1 column 11".into()
            ))
        );
    }
}
