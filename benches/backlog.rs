//! What one hostile Messages answer within the caps (at most `max_body_bytes`, at most `max_messages` messages)
//! costs in memory: the bytes the session holds once the answer is handled (its queued events, until the
//! application drains them) and the peak while it is handled, per body shape, with a counting global
//! allocator. Prints a table; asserts nothing about the figures.
//!
//!     cargo bench --bench backlog

mod support;

use liveagent::{Config, Timestamp};
use std::sync::Arc;
use support::alloc::{self, Counting};
use support::{established, response};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The body cap and the batch cap, as configured by default.
const BODY_CAP: usize = 1 << 20;
const MESSAGES: usize = 500;

/// A body of `MESSAGES` messages, each `{"type":kind,"message":PAYLOAD}` with the payload built by `fill`
/// from a byte budget that makes the whole body just fit under [`BODY_CAP`].
fn body(kind: &str, fill: impl Fn(usize) -> String) -> Vec<u8> {
    let head = r#"{"messages":["#;
    let tail = r#"],"sequence":1002,"offset":7}"#;
    let per = (BODY_CAP - head.len() - tail.len()) / MESSAGES - 1;
    let wrap = format!(r#"{{"type":"{kind}","message":}}"#).len();
    let payload = fill(per - wrap);
    let one = format!(r#"{{"type":"{kind}","message":{payload}}}"#);
    let msgs = vec![one; MESSAGES].join(",");
    let b = format!("{head}{msgs}{tail}").into_bytes();
    assert!(b.len() <= BODY_CAP, "{kind}: {} bytes", b.len());
    b
}

/// `[item,item,...]` with as many items as fit in `n` bytes.
fn array_of(item: &str, n: usize) -> String {
    let count = (n - 2) / (item.len() + 1);
    format!("[{}]", vec![item; count.max(1)].join(","))
}

/// `{"prefix":[items]}`: a field holding an array of `item`.
fn field_of(prefix: &str, item: &str, n: usize) -> String {
    let head = format!(r#"{{{prefix}"#);
    let arr = array_of(item, n - head.len() - 1);
    format!("{head}{arr}}}")
}

fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "ChatMessage, plain text (the honest case)",
            body("ChatMessage", |n| {
                format!(r#"{{"text":"{}"}}"#, "a".repeat(n - 11))
            }),
        ),
        (
            "ChatMessage, text of \\n escapes",
            body("ChatMessage", |n| {
                format!(r#"{{"text":"{}"}}"#, "\\n".repeat((n - 11) / 2))
            }),
        ),
        (
            "Unknown type, [0,0,...]",
            body("Hostile", |n| array_of("0", n)),
        ),
        (
            "Unknown type, [{},{},...]",
            body("Hostile", |n| array_of("{}", n)),
        ),
        (
            "Unknown type, [[],[],...]",
            body("Hostile", |n| array_of("[]", n)),
        ),
        (
            "Unknown type, [{\"\":0},...] (one-key maps)",
            body("Hostile", |n| array_of(r#"{"":0}"#, n)),
        ),
        (
            "Unknown type, [[0],[0],...]",
            body("Hostile", |n| array_of("[0]", n)),
        ),
        (
            "Invalid ChatMessage (text: 0), x: [{},...]",
            body("ChatMessage", |n| field_of(r#""text":0,"x":"#, "{}", n)),
        ),
        (
            "TransferToButtonInitiated {\"a\":[{},...]} (typed Value map)",
            body("TransferToButtonInitiated", |n| {
                field_of(r#""a":"#, "{}", n)
            }),
        ),
        (
            "ChatEstablished items: [{},...] (FooterMenuItem)",
            body("ChatEstablished", |n| field_of(r#""items":"#, "{}", n)),
        ),
        (
            "RichMessage items: [{},...] (RichItem)",
            body("RichMessage", |n| field_of(r#""items":"#, "{}", n)),
        ),
        (
            "SensitiveDataRules [{},...] (SensitiveDataRule)",
            body("SensitiveDataRules", |n| {
                field_of(r#""sensitiveDataRules":"#, "{}", n)
            }),
        ),
        (
            "ChasitorSessionData chatMessages: [{},...] (TranscriptEntry)",
            body("ChasitorSessionData", |n| {
                field_of(r#""chatMessages":"#, "{}", n)
            }),
        ),
        (
            "ChatRequestSuccess customDetails: [{\"label\":\"\"},...]",
            body("ChatRequestSuccess", |n| {
                field_of(r#""customDetails":"#, r#"{"label":""}"#, n)
            }),
        ),
        (
            "SwitchServer newUrl: not a URL (kept as a message)",
            body("SwitchServer", |n| {
                format!(r#"{{"newUrl":"{}"}}"#, " ".repeat(n - 13))
            }),
        ),
    ]
}

/// One answer handled by a fresh established session: bytes held once handled (above what the session held
/// before), the peak while handling, the session's own estimate of its queued events, and how many events.
fn handle(config: &Arc<Config>, body: &[u8]) -> (usize, usize, usize, usize) {
    let now = Timestamp::ZERO;
    let (mut s, poll) = established(Arc::clone(config), now);
    let live0 = alloc::live();
    alloc::reset_peak();
    let _ = s.handle_response(poll, response(200, body), now);
    let held = alloc::live().saturating_sub(live0);
    let peak = alloc::peak().saturating_sub(live0);
    let estimate = s.queued_event_bytes();
    let mut events = 0;
    while let liveagent::Output::Event(_) = s.poll_output(now) {
        events += 1;
    }
    (held, peak, estimate, events)
}

fn main() {
    let lifted = {
        let mut c = support::config();
        c.limits.max_undrained_event_bytes = usize::MAX;
        Arc::new(c)
    };
    let default = Arc::new(support::config());
    let cap = default.limits.max_undrained_event_bytes;
    println!(
        "one hostile Messages answer ({MESSAGES} messages, at most {BODY_CAP} B) handled by an established session"
    );
    println!(
        "held: bytes the session holds once it is handled; estimate: the session's own estimate of its queued events"
    );
    println!(
        "\n{:<64} {:>9} | {:>35} | {:>32}",
        "", "", "byte cap lifted", "default byte cap"
    );
    println!(
        "{:<64} {:>9} | {:>11} {:>7} {:>7} {:>7} | {:>11} {:>7} {:>4} {:>7}",
        "body",
        "body B",
        "held B",
        "held/B",
        "est/held",
        "peak/B",
        "held B",
        "held/B",
        "evs",
        "peak/B"
    );
    for (name, b) in shapes() {
        let (held, peak, estimate, _) = handle(&lifted, &b);
        let (held_d, peak_d, _, events_d) = handle(&default, &b);
        let len = b.len() as f64;
        println!(
            "{:<64} {:>9} | {:>11} {:>7.1} {:>7.2} {:>7.1} | {:>11} {:>7.2} {:>4} {:>7.1}",
            name,
            b.len(),
            held,
            held as f64 / len,
            estimate as f64 / held as f64,
            peak as f64 / len,
            held_d,
            held_d as f64 / len,
            events_d,
            peak_d as f64 / len,
        );
    }
    println!(
        "\ndefault cap: {cap} B (max_undrained_event_bytes); evs: events queued by the answer"
    );
}
