//! The `hostile_server` target: after a chat is established, answers a hostile or broken server would send,
//! checked by the testkit's [`Monitor`](crate::testkit::Monitor).
//!
//! Its input is read piece by piece from the bytes (not derived): the answers are built from pieces a real
//! migration or an attacker would send (URLs, statuses, sequences, batch sizes), not from any type.

use super::session_ops::MAX_OPS;
use super::shapes::without_mark;
use crate::Timestamp;
use crate::testkit::{
    BatchSpec, ECHO_SECRETS, Harness, MsgSpec, Op, ScriptedAnswer, SeqSpec, Setup,
};
use arbitrary::Unstructured;

/// Pieces of `newUrl`s: what real migrations send, and what an attacker would.
const URL_SCHEMES: &[&str] = &[
    "https://", "http://", "HTTPS://", "", "https:", "ftp://", "//",
];
const URL_HOSTS: &[&str] = &[
    "d.la2-c2-fuzz.salesforceliveagent.com",
    "D.LA9.SalesforceLiveAgent.COM.",
    "salesforceliveagent.com",
    "d.la1-c1-fuzz.salesforceliveagent.com.attacker.example",
    "xsalesforceliveagent.com",
    "attacker.example",
    "169.254.169.254",
    "10.0.0.5",
    "127.0.0.1",
    "[::1]",
    "localhost",
    "user@d.la2.salesforceliveagent.com",
    // Tenants of shared suffixes and other orgs' hosts: never in the trust class by themselves.
    "rival.my.site.com",
    "rival.secure.force.com",
    "rival.herokuapp.com",
    "rival.ltd.uk",
    "rival.nsw.gov.au",
    "rival.uk.com",
    "rival.my.salesforce.com",
    "webto.salesforce.com",
];
const URL_PORTS: &[&str] = &["", ":443", ":8080", ":6379", ":0", ":99999", ":", ":443x"];
const URL_PATHS: &[&str] = &["/chat", "", "/chat/rest/", "?x=/chat", "#/chat"];
const STATUSES: &[u16] = &[
    200, 200, 200, 204, 301, 302, 307, 400, 403, 404, 409, 429, 500, 503,
];

fn pick<'a>(u: &mut Unstructured<'_>, from: &[&'a str]) -> &'a str {
    u.choose(from).copied().unwrap_or("")
}

fn hostile_url(u: &mut Unstructured<'_>) -> String {
    if u.ratio(1u8, 6).unwrap_or(false) {
        let len = u.int_in_range(0..=40usize).unwrap_or(0);
        // Defused like visitor texts: a URL the server made up that spells the session's own key is the
        // server's content, not a leak by the session (found by fuzzing: SwitchServer newUrl "SeCrEtKey0002x…"
        // reached Debug of the event as the server wrote it).
        let bytes = without_mark(u.bytes(len).unwrap_or_default().to_vec());
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    format!(
        "{}{}{}{}",
        pick(u, URL_SCHEMES),
        pick(u, URL_HOSTS),
        pick(u, URL_PORTS),
        pick(u, URL_PATHS)
    )
}

fn hostile_sequence(u: &mut Unstructured<'_>) -> Option<i64> {
    match u.int_in_range(0..=7u8).unwrap_or(0) {
        0 => None,
        1 => Some(i64::MAX),
        2 => Some(i64::MIN),
        3 => Some(-1),
        4 => u.int_in_range(0..=20i64).ok(),
        5 => Some((1i64 << 53) + u.int_in_range(-2..=2i64).unwrap_or(0)),
        _ => u.arbitrary().ok(),
    }
}

/// Empty objects a body's lists of them may hold in all: about 1.2 MB of `{},` (the body cap is 1 MiB).
const EMPTY_OBJECTS_PER_BODY: usize = 400_000;

/// A message holding a list of `k` empty objects, under a type that decodes each into a struct (or a
/// `serde_json::Value`): a few bytes of the body, up to 120 bytes of events each.
fn list_of_empty_objects(u: &mut Unstructured<'_>, k: usize) -> serde_json::Value {
    let empties = vec![serde_json::json!({}); k];
    match u.int_in_range(0..=4u8).unwrap_or(0) {
        0 => {
            serde_json::json!({"type": "SensitiveDataRules", "message": {"sensitiveDataRules": empties}})
        }
        1 => {
            serde_json::json!({"type": "RichMessage", "message": {"type": "ChatWindowMenu", "items": empties}})
        }
        2 => {
            serde_json::json!({"type": "ChatEstablished", "message": {"name": "A", "items": empties}})
        }
        3 => serde_json::json!({"type": "TransferToButtonInitiated", "message": {"a": empties}}),
        _ => serde_json::json!({"type": "HostileNested", "message": empties}),
    }
}

/// A Messages body built from hostile pieces (valid JSON, so it gets past the parser and into the session).
fn hostile_batch_body(u: &mut Unstructured<'_>, texts: &mut u64) -> Vec<u8> {
    let n = match u.int_in_range(0..=9u8).unwrap_or(0) {
        0 => u.int_in_range(0..=700usize).unwrap_or(0),
        _ => u.int_in_range(0..=4usize).unwrap_or(0),
    };
    let mut msgs = Vec::with_capacity(n);
    let mut empties_left = EMPTY_OBJECTS_PER_BODY;
    for _ in 0..n {
        let m = match u.int_in_range(0..=6u8).unwrap_or(0) {
            0 | 1 => {
                *texts += 1;
                serde_json::json!({"type": "ChatMessage", "message": {"name": "A", "text": format!("t{texts}")}})
            }
            2 => serde_json::json!({"type": "SwitchServer", "message": {"newUrl": hostile_url(u)}}),
            3 => {
                serde_json::json!({"type": "ReconnectSession", "message": {"affinityToken": "SECRET-fuzz-tok", "resetSequence": "x"}})
            }
            4 => serde_json::json!({"type": "AgentTyping"}),
            5 => serde_json::json!({"type": "ChatEstablished", "message": {"name": "A"}}),
            _ => {
                let k = u
                    .int_in_range(0..=60_000usize)
                    .unwrap_or(0)
                    .min(empties_left);
                empties_left -= k;
                list_of_empty_objects(u, k)
            }
        };
        msgs.push(m);
    }
    let mut env = serde_json::json!({"messages": msgs});
    if let Some(seq) = hostile_sequence(u) {
        env["sequence"] = seq.into();
    }
    serde_json::to_vec(&env).unwrap_or_default()
}

/// The ops of one `hostile_server` run: a chat is established first (SessionId, ChasitorInit, a poll with
/// ChatRequestSuccess + ChatEstablished), then every op is drawn from the input.
pub fn hostile_server_input(data: &[u8]) -> (Setup, Vec<Op>) {
    let mut u = Unstructured::new(data);
    let ok = |v: u8| Op::Respond {
        pick: 0,
        reply: ScriptedAnswer::Natural(v),
    };
    let mut ops = vec![ok(0), ok(0), ok(0)];
    let mut texts = 0u64;
    while !u.is_empty() && ops.len() < MAX_OPS {
        let pick_id: u8 = u.arbitrary().unwrap_or(0);
        let op = match u.int_in_range(0..=11u8).unwrap_or(0) {
            0..=3 => Op::Respond {
                pick: pick_id,
                reply: ScriptedAnswer::Raw {
                    status: *u.choose(STATUSES).unwrap_or(&200),
                    body: hostile_batch_body(&mut u, &mut texts),
                },
            },
            4 => Op::Respond {
                pick: pick_id,
                reply: ScriptedAnswer::Batch(BatchSpec {
                    msgs: vec![MsgSpec::SwitchServerTo(hostile_url(&mut u))],
                    seq: SeqSpec::Consistent,
                    offset: Some(1),
                }),
            },
            5 => Op::Respond {
                pick: pick_id,
                reply: {
                    let status: u16 = u.arbitrary().unwrap_or(200);
                    let len = u.int_in_range(0..=64usize).unwrap_or(0);
                    let body = u.bytes(len).unwrap_or_default().to_vec();
                    // An error body may echo the session's own key or token: the session must redact it in
                    // every error text (so the mark stays). A success body that spells it is the server's
                    // content (a chat text, a URL) delivered as written: defused.
                    let mut body = if status < 400 {
                        without_mark(body)
                    } else {
                        body
                    };
                    // An error page echoing the key and token re-spelled (case, %XX, \uXXXX, &#NN;, split).
                    if status >= 400 && u.ratio(1u8, 3).unwrap_or(false) {
                        body.extend_from_slice(ECHO_SECRETS);
                        body.push(u.arbitrary().unwrap_or(0));
                    }
                    ScriptedAnswer::Raw { status, body }
                },
            },
            6 | 7 => Op::Respond {
                pick: pick_id,
                reply: ScriptedAnswer::Natural(u.arbitrary().unwrap_or(0)),
            },
            8 => Op::SendMessage(format!("v{}", ops.len())),
            9 => Op::Sleep,
            10 => Op::SnapshotResume,
            _ => Op::End,
        };
        ops.push(op);
    }
    (Setup::default(), ops)
}

/// Input: bytes that pick hostile answers (see [`hostile_server_input`]).
///
/// Checks: everything `liveagent::testkit::Monitor` checks after every step, in particular that every request
/// goes to the endpoint (scheme and authority) the default redirect policy allows from the configured one,
/// that every agent message of an accepted batch reaches the application in order, that no step yields
/// more events than the batch cap allows, and that no answer leaves more event memory waiting than
/// `LimitsConfig::max_undrained_event_bytes` (lists of up to 60,000 empty objects in typed payloads).
pub fn hostile_server(data: &[u8]) -> Result<(), super::Finding> {
    let (setup, ops) = hostile_server_input(data);
    match Harness::run(setup, Timestamp::ZERO, &ops) {
        Ok(_) => Ok(()),
        Err(v) => fail!("{v}"),
    }
}
