//! Runs `examples/decode.rs` (through `cargo run`, since `CARGO_BIN_EXE_*` does not exist for examples) over
//! every fixture, and over garbage.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run_decode(files: &[PathBuf]) -> Output {
    let mut cmd = Command::new(env!("CARGO"));
    // Cargo gives a test process the package's own variables (CARGO_MANIFEST_DIR, CARGO_PKG_*, ...). Passed on to
    // the nested cargo they dirty the fingerprints of dependencies whose build scripts watch them (ring watches
    // CARGO_MANIFEST_DIR), so that run and the next plain build would each recompile half the dependency tree.
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("CARGO_PKG_")
            || n.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*n,
                "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR"
            )
        {
            cmd.env_remove(&name);
        }
    }
    cmd.current_dir(manifest_dir())
        .args(["run", "-q", "--example", "decode", "--"])
        .args(files)
        .output()
        .expect("cargo run --example decode")
}

fn fixtures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in ["peers", "spec"] {
        let dir = manifest_dir().join("tests/fixtures").join(sub);
        for e in std::fs::read_dir(&dir).expect("fixture dir") {
            let p = e.expect("entry").path();
            if p.file_name().is_some_and(|n| n != "INDEX.md") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("UTF-8 stdout")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l}: {e}")))
        .collect()
}

/// The secrets found in the fixtures: none may be printed.
const SECRETS: &[&str] = &[
    "f6c1d699-84c7-473f-b194-abf4bf7cccf8!",
    "b65b13c7-f597-4dd2-aa3a-cbe01e69f19c",
    "oLF8K6JmY4SDq89deoGlSHP5880",
    "TrfoJ67wmtlYiENsWdaUBu0xZ7M",
    "73061fa0",
    "98c41fa0",
    "878a1fa0",
    "efae1fa0",
];

#[test]
fn decodes_every_fixture_and_fails_on_garbage() {
    let files = fixtures();
    let out = run_decode(&files);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}; stderr:\n{stderr}",
        out.status
    );
    assert!(stderr.trim().is_empty(), "{stderr}");

    let stdout = String::from_utf8_lossy(&out.stdout);
    for secret in SECRETS {
        assert!(!stdout.contains(secret), "printed a secret: {secret}");
    }
    let lines = json_lines(&out);
    // Every file produced output, and every line names its file.
    for f in &files {
        let f = f.to_string_lossy();
        assert!(lines.iter().any(|l| l["file"] == *f), "no line for {f}");
    }
    let of_kind =
        |kind: &str| -> Vec<&Value> { lines.iter().filter(|l| l["kind"] == kind).collect() };

    // One summary line per envelope; its count matches the message lines of that file.
    for env in of_kind("Messages") {
        let n = lines
            .iter()
            .filter(|l| l["file"] == env["file"] && l.get("index").is_some())
            .count();
        assert_eq!(env["count"], n, "{env}");
    }
    // Every message line is typed: no fixture holds an unknown or undecodable message.
    let messages: Vec<&Value> = lines.iter().filter(|l| l.get("index").is_some()).collect();
    assert!(messages.len() > 40, "{}", messages.len());
    for m in &messages {
        assert_eq!(m["known"], true, "{m}");
        assert!(m["message"].is_object(), "{m}");
    }
    assert_eq!(
        of_kind("ChatMessage").len(),
        4 + 1 + 1 + 1,
        "peers 4+1+1, spec 1"
    );
    let big = lines
        .iter()
        .find(|l| {
            l["kind"] == "Messages"
                && l["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("queue-established-typing-chat.json"))
        })
        .expect("18-message batch");
    assert_eq!(
        (big["count"].as_u64(), big["sequence"].as_u64()),
        (Some(18), Some(17))
    );
    assert_eq!(big["offset"], 1_636_522_046_u64);

    // Non-envelope bodies: one line each with the body kind, secrets redacted.
    let sessions = of_kind("SessionId");
    assert_eq!(sessions.len(), 4);
    for s in sessions {
        assert_eq!(s["body"]["key"], "<redacted>");
        assert_eq!(s["body"]["affinityToken"], "<redacted>");
        assert!(s["body"]["clientPollTimeout"].is_u64());
    }
    let reconnects = of_kind("ReconnectSession");
    assert_eq!(reconnects.len(), 2, "bare + wrapped message");
    for r in reconnects {
        let token = r.get("body").unwrap_or(&r["message"])["affinityToken"].clone();
        assert_eq!(token, "<redacted>", "{r}");
    }
    assert_eq!(
        of_kind("Availability").len(),
        4,
        "3 wrapped messages + 1 bare"
    );
    assert_eq!(of_kind("Settings").len(), 1);
    assert_eq!(of_kind("VisitorId").len(), 2);
    let errors = of_kind("ErrorText");
    assert_eq!(errors.len(), 3);
    let out_of_sync = errors
        .iter()
        .find(|e| e["status"] == 409)
        .expect("409 line");
    assert_eq!(out_of_sync["error"]["kind"], "OutOfSync");
    assert_eq!(
        (
            out_of_sync["error"]["expected"].as_i64(),
            out_of_sync["error"]["actual"].as_i64()
        ),
        (Some(498), Some(4))
    );
    let forbidden = errors
        .iter()
        .find(|e| e["status"] == 403)
        .expect("403 line");
    assert_eq!(forbidden["error"]["kind"], "Status");
    assert_eq!(
        forbidden["error"]["text"],
        "Session required but was invalid or not found"
    );

    // Garbage: every bad file is named on stderr with its problem; good files in the same run still print.
    let dir = std::env::temp_dir().join(format!("liveagent-decode-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let garbage = [
        (
            "truncated.json",
            br#"{"messages":[{"type":"ChatMes"#.to_vec(),
            "invalid JSON",
        ),
        (
            "binary.bin",
            vec![0xff, 0x00, 0xfe, 0x81, 0x02],
            "unknown shape",
        ),
        (
            "shape.json",
            br#"{"hello":"world"}"#.to_vec(),
            "unknown shape",
        ),
        ("array.json", b"[1,2,3]".to_vec(), "unknown shape"),
        (
            "mistyped.json",
            br#"{"messages":[{"type":"QueueUpdate","message":{"position":"third"}}],"sequence":1}"#
                .to_vec(),
            "position",
        ),
    ];
    let mut args = vec![manifest_dir().join("tests/fixtures/spec/message-chatmessage.json")];
    for (name, body, _) in &garbage {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write garbage");
        args.push(p);
    }
    let missing = dir.join("does-not-exist.json");
    args.push(missing.clone());
    let out = run_decode(&args);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (name, _, problem) in &garbage {
        let line = stderr
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not named on stderr:\n{stderr}"));
        assert!(line.contains(problem), "{line}");
    }
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("does-not-exist.json") && l.contains("cannot read")),
        "{stderr}"
    );
    let printed = json_lines(&out);
    assert!(printed.iter().any(|l| {
        l["kind"] == "ChatMessage"
            && l["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("message-chatmessage.json"))
    }));
    // The mistyped message is still printed, marked unknown-shaped with its error.
    let bad = printed
        .iter()
        .find(|l| l["kind"] == "QueueUpdate")
        .expect("mistyped line");
    assert_eq!(bad["known"], false);
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("position"))
    );
}
