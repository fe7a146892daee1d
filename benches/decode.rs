//! Decoding Messages bodies: our typed decode (`wire::parse_messages`) against `serde_json::Value` of the same
//! bytes, for bodies of 1, 10 and 100 mixed messages (shapes from tests/fixtures/peers/) and for every captured
//! Messages fixture. Prints the typed/Value ratios at the end (read back from criterion's estimates).
//!
//! `decode_hostile`: the cost a hostile server can impose with one ~1 MiB body within the caps. The same bytes
//! three ways: known types whose payloads do not decode (each payload 64 fields of nested arrays, `text` a
//! number: the decoder must say which field is wrong), the same with an unknown type name of equal length
//! (kept whole as `Message::Unknown`), and a plain `serde_json::from_slice::<Value>`.

mod support;

use criterion::{Criterion, Throughput};
use liveagent::wire::{self, Limits, MessagesAnswer};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SIZES: [usize; 3] = [1, 10, 100];

fn typed(body: &[u8], limits: &Limits) -> usize {
    match wire::parse_messages(200, body, limits) {
        Ok(MessagesAnswer::Batch(b)) => b.messages.len(),
        Ok(_) => 0,
        Err(e) => panic!("decode failed: {e}"),
    }
}

fn value(body: &[u8]) -> usize {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v["messages"].as_array().map_or(0, Vec::len),
        Err(e) => panic!("Value parse failed: {e}"),
    }
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peers");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains("__messages-200")
                && name.ends_with(".json")
                && let Ok(bytes) = std::fs::read(e.path())
            {
                let short = name
                    .trim_end_matches(".json")
                    .replace("__messages-200-", ":");
                out.push((short, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A ~1 MiB Messages body of `type` messages whose payloads are 64 fields of nested arrays with a `text`
/// that is a number: undecodable as a ChatMessage, and large enough that copying a payload costs.
fn hostile_body(kind: &str) -> Vec<u8> {
    let field = format!("[{}]", vec!["[1,2,3,4,5,6,7,8]"; 28].join(","));
    let fields: Vec<String> = (0..63).map(|i| format!("\"f{i:02}\":{field}")).collect();
    let payload = format!("{{\"text\":5,{}}}", fields.join(","));
    let message = format!("{{\"type\":\"{kind}\",\"message\":{payload}}}");
    let n = 1_000_000 / message.len();
    format!(
        "{{\"messages\":[{}],\"sequence\":{n}}}",
        vec![message; n].join(",")
    )
    .into_bytes()
}

fn count(body: &[u8], limits: &Limits) -> (usize, usize) {
    match wire::parse_messages(200, body, limits) {
        Ok(MessagesAnswer::Batch(b)) => (
            b.messages.len(),
            b.messages
                .iter()
                .filter(|m| matches!(m, wire::Message::Invalid { .. }))
                .count(),
        ),
        Ok(_) => (0, 0),
        Err(e) => panic!("decode failed: {e}"),
    }
}

fn bench_hostile(c: &mut Criterion) {
    let limits = Limits::default();
    let invalid = hostile_body("ChatMessage");
    let unknown = hostile_body("ChatMessagX");
    assert_eq!(invalid.len(), unknown.len());
    assert!(invalid.len() <= limits.max_body_bytes, "{}", invalid.len());
    let (n, bad) = count(&invalid, &limits);
    assert!(n > 0 && bad == n, "{n} messages, {bad} invalid");
    assert_eq!(count(&unknown, &limits), (n, 0));
    let mut g = c.benchmark_group("decode_hostile");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(invalid.len() as u64));
    g.bench_function("invalid_typed", |b| {
        b.iter(|| count(black_box(&invalid), &limits))
    });
    g.bench_function("unknown", |b| {
        b.iter(|| count(black_box(&unknown), &limits))
    });
    g.bench_function("value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&invalid)).is_ok())
    });
    g.finish();
}

fn bench_decode(c: &mut Criterion) {
    let limits = Limits::default();
    for n in SIZES {
        let body = support::messages_body(n);
        assert_eq!(typed(&body, &limits), n);
        assert_eq!(value(&body), n);
        let mut g = c.benchmark_group(format!("decode/{n}"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("typed", |b| b.iter(|| typed(black_box(&body), &limits)));
        g.bench_function("value", |b| b.iter(|| value(black_box(&body))));
        g.finish();
    }
    let mut g = c.benchmark_group("decode_fixture");
    g.measurement_time(Duration::from_secs(1));
    for (name, body) in fixtures() {
        g.bench_function(format!("{name}/typed"), |b| {
            b.iter(|| typed(black_box(&body), &limits))
        });
        g.bench_function(format!("{name}/value"), |b| {
            b.iter(|| value(black_box(&body)))
        });
    }
    g.finish();
}

/// Where criterion writes its estimates (its own rule: `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`,
/// else `target/criterion` next to this binary's `target/<profile>/deps`).
fn criterion_dir() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(h));
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(t).join("criterion"));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

fn mean_ns(dir: &Path, id: &str) -> Option<f64> {
    let path = dir.join(id).join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn print_ratios() {
    let Some(dir) = criterion_dir() else { return };
    let mut rows = Vec::new();
    for n in SIZES {
        let id = format!("decode_{n}");
        if let (Some(t), Some(v)) = (
            mean_ns(&dir, &format!("{id}/typed")),
            mean_ns(&dir, &format!("{id}/value")),
        ) {
            rows.push((format!("{n} message(s)"), t, v));
        }
    }
    for (name, _) in fixtures() {
        let id = format!("decode_fixture/{}", name.replace([':', '/'], "_"));
        if let (Some(t), Some(v)) = (
            mean_ns(&dir, &format!("{id}_typed")),
            mean_ns(&dir, &format!("{id}_value")),
        ) {
            rows.push((name, t, v));
        }
    }
    let hostile = |id: &str| mean_ns(&dir, &format!("decode_hostile/{id}"));
    if let (Some(i), Some(u), Some(v)) = (
        hostile("invalid_typed"),
        hostile("unknown"),
        hostile("value"),
    ) {
        println!(
            "\n~1 MiB hostile body: invalid typed {:.1} ms, unknown {:.1} ms, Value {:.1} ms; invalid/unknown {:.2}, invalid/Value {:.2}",
            i / 1e6,
            u / 1e6,
            v / 1e6,
            i / u,
            i / v
        );
    }
    if rows.is_empty() {
        return;
    }
    println!(
        "\ntyped decode vs serde_json::Value (mean, this run; ratio <= 1.0 means typed is no slower)"
    );
    println!(
        "{:<72} {:>12} {:>12} {:>7}",
        "body", "typed", "Value", "ratio"
    );
    for (name, t, v) in rows {
        println!("{name:<72} {:>9.0} ns {:>9.0} ns {:>7.2}", t, v, t / v);
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args();
    bench_decode(&mut c);
    bench_hostile(&mut c);
    c.final_summary();
    print_ratios();
}
