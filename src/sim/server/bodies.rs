//! Request bodies, read the way `wire` reads answers: unknown fields ignored, booleans and numbers accepted as
//! JSON strings (`body-values`), ChasitorInit fields defaulted when missing (`init-fields`), and only what the
//! server cannot act without required, with a 400 that names it.
//!
//! Each tolerance is reported back ([`Tolerated`]) so the caller records it as a warning finding.

use crate::sim::dialect::{BodyValues, Dialect, InitFields};
use crate::wire::Noun;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
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
    // Most bodies leave the lenient reading nothing to tolerate: then it reads them as the strict one does,
    // once, without the JSON tree, the rewrite and the second parse (which cost a sixth of the simulator's
    // instructions per chat and 96 of its allocations). A missing or null ChasitorInit field needs no check
    // here: the strict read refuses it (`Noun::decode` defaults none of `INIT_DEFAULTS`; a test pins that).
    let typed = if strict_values {
        &[][..]
    } else {
        typed_fields(name)
    };
    let as_written = match simple_text(body, typed) {
        Some(typed_string) => !typed_string,
        None => reads_as_written(body, typed),
    };
    if as_written && let Ok(noun) = Noun::decode(name, body) {
        return Ok((noun, Vec::new()));
    }
    decode_lenient(name, body, strict_values, strict_init, session_id)
}

/// The lenient reading: the body as a JSON tree, its typed strings retyped and the missing ChasitorInit
/// fields defaulted, then decoded.
fn decode_lenient(
    name: &str,
    body: &[u8],
    strict_values: bool,
    strict_init: bool,
    session_id: &str,
) -> Result<(Noun, Vec<Tolerated>), BodyRefusal> {
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

/// [`reads_as_written`] from the bytes alone, for the bodies it can tell: `Some(whether a key that ends a
/// path of `typed` holds a string)` (at any depth: a superset of what the lenient reading retypes), `None`
/// for a body that needs the full pass. The bytes tell when nothing a typed read skips unchecked can be
/// what a `serde_json::Value` refuses: valid UTF-8, no escape (so no lone surrogate, no key spelled
/// otherwise, and every `"` opens or closes a string), no `$` (the raw-value key), and outside strings no
/// exponent and no run of over 300 digits (so no number out of `f64`'s range) and at most 100 brackets (so
/// no nesting past `serde_json`'s 128 levels).
fn simple_text(body: &[u8], typed: &[(&[&str], Kind)]) -> Option<bool> {
    if std::str::from_utf8(body).is_err() || body.contains(&b'\\') || body.contains(&b'$') {
        return None;
    }
    let mut typed_string = false;
    let mut brackets = 0usize;
    // Without escapes the pieces between quotes alternate: outside a string, inside one, outside, ...
    let mut last_string = None;
    for (i, piece) in body.split(|&b| b == b'"').enumerate() {
        if i % 2 == 1 {
            last_string = Some(piece);
            continue;
        }
        // A string followed by `:` is a key; `"key":"` holds a string.
        if let Some(key) = last_string.take()
            && let Some(value) = piece.trim_ascii_start().strip_prefix(b":")
            && value.trim_ascii_start().is_empty()
            && typed
                .iter()
                .any(|(path, _)| path.last().is_some_and(|leaf| leaf.as_bytes() == key))
        {
            typed_string = true;
        }
        let mut digits = 0usize;
        for &b in piece {
            match b {
                b'0'..=b'9' => {
                    digits = digits.saturating_add(1);
                    if digits > 300 {
                        return None;
                    }
                    continue;
                }
                b'e' | b'E' if digits > 0 => return None,
                b'[' | b'{' => brackets = brackets.saturating_add(1),
                _ => {}
            }
            digits = 0;
        }
    }
    (brackets <= 100).then_some(typed_string)
}

/// Whether [`decode_lenient`] would read `body` exactly as `Noun::decode` does, found in one pass that
/// allocates nothing: the body is JSON a `serde_json::Value` takes (a tree is stricter than a typed read,
/// which skips unknown fields unchecked: their UTF-8, escapes, number ranges and depth), and no field of
/// `typed` holds a string (which the lenient reading would retype and report). Then the tree changes nothing,
/// and re-encoding it loses only what a typed read ignores (key order, duplicate keys, which a typed read
/// refuses for its own fields).
fn reads_as_written(body: &[u8], typed: &[(&[&str], Kind)]) -> bool {
    if typed.len() > 64 {
        return false;
    }
    let scan = Scan {
        typed,
        live: u64::MAX,
        depth: 0,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    matches!(scan.deserialize(&mut de), Ok(true)) && de.end().is_ok()
}

/// The key `serde_json::Value` reads as an embedded raw value rather than as a key (with feature
/// `raw_value`, which this crate enables).
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// One value of the body in [`reads_as_written`]'s pass; the pass yields whether the value holds nothing
/// the lenient reading would act on.
#[derive(Clone, Copy)]
struct Scan<'p> {
    typed: &'p [(&'p [&'p str], Kind)],
    /// The typed paths (bits, by index in `typed`) whose elements so far lead to this value.
    live: u64,
    /// How many path elements lead to this value.
    depth: usize,
}

impl<'p> Scan<'p> {
    /// The live paths whose next element is `step`, one level down.
    fn child(&self, step: &str) -> Scan<'p> {
        let mut live = 0;
        for (i, (path, _)) in self.typed.iter().enumerate() {
            if self.live & (1 << i) != 0 && path.get(self.depth) == Some(&step) {
                live |= 1 << i;
            }
        }
        Scan {
            live,
            depth: self.depth.saturating_add(1),
            ..*self
        }
    }

    /// A typed path ends at this value.
    fn typed_here(&self) -> bool {
        self.typed
            .iter()
            .enumerate()
            .any(|(i, (path, _))| self.live & (1 << i) != 0 && path.len() == self.depth)
    }
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        // `deserialize_any`, as `Value` reads: the same checks of every string, number and nesting level.
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(!self.typed_here())
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let item = self.child("*");
        let mut plain = true;
        while let Some(p) = seq.next_element_seed(item)? {
            plain &= p;
        }
        Ok(plain)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut plain = true;
        while let Some(value) = map.next_key_seed(KeyScan(self))? {
            // `None`: the raw-value key.
            plain &= value.is_some();
            plain &= map.next_value_seed(value.unwrap_or(self))?;
        }
        Ok(plain)
    }
}

/// A key in [`reads_as_written`]'s pass: how to scan its value (`None` for the raw-value key).
struct KeyScan<'p>(Scan<'p>);

impl<'de, 'p> DeserializeSeed<'de> for KeyScan<'p> {
    type Value = Option<Scan<'p>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        // `deserialize_str`, as `Value` reads keys.
        d.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for KeyScan<'p> {
    type Value = Option<Scan<'p>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok((key != RAW_VALUE_KEY).then(|| self.0.child(key)))
    }
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

    /// Every dialect combination of the two switches, as `(strict_values, strict_init)`.
    fn dialects() -> [Dialect; 4] {
        let of = |body_values, init_fields| Dialect {
            body_values,
            init_fields,
            ..Dialect::default()
        };
        [
            of(BodyValues::Lenient, InitFields::Optional),
            of(BodyValues::Lenient, InitFields::Required),
            of(BodyValues::Strict, InitFields::Optional),
            of(BodyValues::Strict, InitFields::Required),
        ]
    }

    /// The single read gives what the tree-and-rewrite reading gives, refusal text included.
    fn assert_same_as_lenient(name: &str, body: &[u8]) {
        for d in dialects() {
            let fast = decode_noun(name, body, &d, "sid");
            let strict_values = d.body_values == BodyValues::Strict;
            let strict_init = d.init_fields == InitFields::Required;
            if strict_values && (strict_init || name != "ChasitorInit") {
                continue;
            }
            let full = decode_lenient(name, body, strict_values, strict_init, "sid");
            assert_eq!(
                fast,
                full,
                "{name} {} under {d:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    const INIT: &str = r#""organizationId":"o","deploymentId":"d","buttonId":"b","sessionId":"s","userAgent":"u","language":"en","screenResolution":"1x1","visitorName":"v","receiveQueueUpdates":true,"isPost":true"#;

    #[test]
    fn bodies_read_once_read_as_the_lenient_reading_does() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("ChatMessage", br#"{"text":"hi"}"#.to_vec()),
            ("ChatMessage", br#"{"text":"hi","x":1e400}"#.to_vec()),
            ("ChatMessage", br#"{"text":"hi","x":-1.5E400}"#.to_vec()),
            ("ChatMessage", br#"{"text":"hi","x":"\ud800"}"#.to_vec()),
            ("ChatMessage", br#"{"text":"3e","x":1e5,"y":1.5E-3}"#.to_vec()),
            ("ChatMessage", format!(r#"{{"text":"a","x":{}}}"#, "9".repeat(400)).into_bytes()),
            ("ChatMessage", format!(r#"{{"text":"a","x":{}.5}}"#, "9".repeat(300)).into_bytes()),
            ("ChatMessage", format!(r#"{{"text":"a","x":{}1{}}}"#, "[".repeat(110), "]".repeat(110)).into_bytes()),
            ("ChatMessage", br#"{"text":"costs $5, caf\u00e9"}"#.to_vec()),
            ("ChatMessage", "{\"text\":\"caf\u{e9}\"}".as_bytes().to_vec()),
            ("ChatMessage", b"{\"text\":\"hi\",\"x\":\"\xff\"}".to_vec()),
            ("ChatMessage", format!(r#"{{"text":"hi","x":{deep}}}"#).into_bytes()),
            ("ChatMessage", br#"{"$serde_json::private::RawValue":"1","text":"a"}"#.to_vec()),
            ("ChatMessage", br#"{"text":"a","\u0024serde_json::private::RawValue":"1"}"#.to_vec()),
            ("ChatMessage", br#"{"\u0074ext":"a\n\u00e9"}"#.to_vec()),
            ("ChatMessage", br#"{"text":"a","text":"b"}"#.to_vec()),
            ("ChatMessage", br#"{"text":"a","x":1,"x":{"y":2}}"#.to_vec()),
            ("ChatMessage", br#"["a"]"#.to_vec()),
            ("ChatMessage", b"  ".to_vec()),
            ("ChatMessage", b"".to_vec()),
            ("ChatMessage", b"null".to_vec()),
            ("ChatMessage", br#"{"text":"a"} x"#.to_vec()),
            ("ChatMessage", br#"{"text":5}"#.to_vec()),
            ("ChasitorTyping", b"{}".to_vec()),
            ("ChasitorTyping", b" ".to_vec()),
            ("ChasitorTyping", br#"{"a":[1,2,{"b":null}]}"#.to_vec()),
            ("ChasitorSneakPeek", br#"{"position":3,"text":"a"}"#.to_vec()),
            ("ChasitorSneakPeek", br#"{"position":"3","text":"a"}"#.to_vec()),
            ("ChasitorSneakPeek", br#"{"position":" 3 ","text":"a"}"#.to_vec()),
            ("ChasitorSneakPeek", b"{\"text\":\"3e\", \"position\" :\r\n \"3\"}".to_vec()),
            ("ChasitorSneakPeek", br#"{"text":"position","position":3}"#.to_vec()),
            ("ChasitorSneakPeek", br#"{"position":"x","text":"a"}"#.to_vec()),
            ("ChasitorSneakPeek", br#"{"position":3.0,"text":"a"}"#.to_vec()),
            ("ChasitorSneakPeek", br#"{"\u0070osition":"3","text":"a"}"#.to_vec()),
            ("ChasitorSneakPeek", br#"[3,"a"]"#.to_vec()),
            ("RichMessage", br#"{"actions":[{"type":"t","index":2,"value":"v"}]}"#.to_vec()),
            ("RichMessage", br#"{"actions":[{"type":"t","index":"2","value":"v"}]}"#.to_vec()),
            ("RichMessage", br#"{"actions":{"index":"2"}}"#.to_vec()),
            ("CustomEvent", br#"{"type":"t","data":1.50}"#.to_vec()),
            ("CustomEvent", br#"{"type":"t","data":-0}"#.to_vec()),
            ("CustomEvent", br#"{"type":"t","data":18446744073709551616}"#.to_vec()),
            ("ChatEnd", br#"{"reason":"client"}"#.to_vec()),
            ("ChatEnd", br#"{"reason":"client","extra":[true,false,null]}"#.to_vec()),
            ("SensitiveDataRuleTriggered", br#"{"rules":[{"name":"n","id":"1"}]}"#.to_vec()),
            ("ChasitorResyncState", br#"{"organizationId":"o"}"#.to_vec()),
            ("ChasitorInit", format!("{{{INIT}}}").into_bytes()),
            (
                "ChasitorInit",
                format!(r#"{{{INIT},"prechatEntities":[{{"entityName":"C","showOnCreate":"true","entityFieldsMaps":[{{"fieldName":"E","label":"E","doFind":"true"}}]}}]}}"#).into_bytes(),
            ),
            (
                "ChasitorInit",
                format!(r#"{{{INIT},"prechatDetails":[{{"label":"L","value":"v","displayToAgent":"true","entityMaps":[]}}]}}"#).into_bytes(),
            ),
            (
                "ChasitorInit",
                format!(r#"{{{INIT},"prechatDetails":[{{"label":"L","value":"v","displayToAgent":true}}]}}"#).into_bytes(),
            ),
            ("ChasitorInit", INIT.replace(r#""sessionId":"s","#, "").into_bytes()),
            ("ChasitorInit", format!("{{{}}}", INIT.replace(r#""sessionId":"s","#, "")).into_bytes()),
            ("ChasitorInit", format!("{{{}}}", INIT.replace(r#""visitorName":"v""#, r#""visitorName":null"#)).into_bytes()),
            ("ChasitorInit", format!(r#"{{{INIT},"sessionId":null}}"#).into_bytes()),
            ("ChasitorInit", format!("{{{}}}", INIT.replace("true", r#""true""#)).into_bytes()),
            ("ChasitorInit", b"{}".to_vec()),
            ("ChasitorInit", b" ".to_vec()),
        ];
        for (name, body) in cases {
            assert_same_as_lenient(name, &body);
        }
    }

    #[test]
    fn the_strict_read_refuses_a_chasitor_init_without_a_defaulted_field() {
        // What lets the single read skip the ChasitorInit defaults: without this, a missing field would be
        // read as the wire type's default instead of the lenient reading's (and lose its warning).
        let whole = format!("{{{INIT}}}");
        assert!(Noun::decode("ChasitorInit", whole.as_bytes()).is_ok());
        for (field, _) in INIT_DEFAULTS {
            let Some(at) = whole.find(&format!("\"{field}\":")) else {
                panic!("{field} not in the test body");
            };
            let value_end = whole[at..].find([',', '}']).map_or(whole.len(), |e| at + e);
            let value_start = whole[at..value_end].find(':').map_or(at, |c| at + c + 1);
            let nulled = format!("{}null{}", &whole[..value_start], &whole[value_end..]);
            assert!(
                Noun::decode("ChasitorInit", nulled.as_bytes()).is_err(),
                "{nulled}"
            );
            let without = whole.replace(&whole[at..value_end], r#""other":1"#);
            assert!(
                Noun::decode("ChasitorInit", without.as_bytes()).is_err(),
                "{without}"
            );
        }
    }

    proptest::proptest! {
        /// Objects of keys the lenient reading looks at (and others), with values of every shape, duplicates
        /// and all: the single read agrees with the tree-and-rewrite reading.
        #[test]
        fn any_object_of_known_keys_reads_as_the_lenient_reading_does(
            name in proptest::sample::select(vec![
                "ChatMessage", "ChasitorSneakPeek", "ChasitorInit", "RichMessage", "CustomEvent",
                "ChatEnd", "ChasitorTyping",
            ]),
            fields in proptest::collection::vec((
                proptest::sample::select(vec![
                    "text", "position", "type", "data", "reason", "actions", "index", "value",
                    "organizationId", "deploymentId", "buttonId", "sessionId", "userAgent", "language",
                    "screenResolution", "visitorName", "receiveQueueUpdates", "isPost", "prechatEntities",
                    "showOnCreate", "x",
                ]),
                proptest::sample::select(vec![
                    r#""a""#, r#""3""#, "3", "3.5", r#""true""#, "true", "null", "1e400", r#""\ud800""#,
                    "[]", r#"[{"index":"1","type":"t","value":"v"}]"#, r#"[{"showOnCreate":"false"}]"#,
                    r#"{"x":[1]}"#, "-0", r#""client""#, "1e5", r#""$""#, "\"\u{e9}\"", "[[[[1]]]]",
                    "1234567890123456789012345678901234567890",
                ]),
            ), 0..14),
        ) {
            let body = format!(
                "{{{}}}",
                fields.iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect::<Vec<_>>().join(",")
            );
            assert_same_as_lenient(name, body.as_bytes());
        }
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
