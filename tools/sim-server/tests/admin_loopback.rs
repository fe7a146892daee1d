//! The admin API over loopback, through the tool's HTTP front end: a chat whose agent is this test (the same
//! routes `tests/sim_admin_api.rs` checks on the sans-IO server), and `--no-admin` turning it off.

use liveagent_sim_server::sim_cli::{self, Command};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// One HTTP/1.1 request on its own connection; the status and the body.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn start(extra: &[&str]) -> sim_cli::Running {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--ignore-stdin",
        "--accept-after-ms",
        "3600000",
    ];
    args.extend_from_slice(extra);
    let Ok(Command::Run(options)) = sim_cli::parse(args.into_iter().map(String::from)) else {
        panic!("flags")
    };
    sim_cli::start(options).expect("listening")
}

#[test]
fn a_chat_whose_agent_is_driven_over_the_admin_api() {
    let running = start(&[]);
    let addr = running.addr();
    let v = ("X-LIVEAGENT-API-VERSION", "59");
    let (status, body) = call(
        addr,
        "GET",
        "/chat/rest/System/SessionId",
        &[v, ("X-LIVEAGENT-AFFINITY", "null")],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let s: Value = serde_json::from_str(&body).expect("json");
    let (id, key, token) = (
        s["id"].as_str().expect("id"),
        s["key"].as_str().expect("key"),
        s["affinityToken"].as_str().expect("token"),
    );
    let h = [
        v,
        ("X-LIVEAGENT-SESSION-KEY", key),
        ("X-LIVEAGENT-AFFINITY", token),
    ];
    let init = serde_json::json!({"organizationId": "00D", "deploymentId": "572", "buttonId": "573",
        "sessionId": id, "userAgent": "t", "language": "en", "screenResolution": "1x1", "visitorName": "Ada",
        "prechatDetails": [], "prechatEntities": [], "receiveQueueUpdates": true, "isPost": true});
    let mut hs = h.to_vec();
    hs.push(("X-LIVEAGENT-SEQUENCE", "1"));
    assert_eq!(
        call(
            addr,
            "POST",
            "/chat/rest/Chasitor/ChasitorInit",
            &hs,
            &init.to_string()
        )
        .0,
        200
    );
    assert_eq!(
        call(addr, "GET", "/chat/rest/System/Messages?ack=-1", &h, "").0,
        200
    );

    let agent = format!("/__sim/sessions/{id}");
    assert_eq!(
        call(
            addr,
            "POST",
            &format!("{agent}/say"),
            &[],
            r#"{"text":"early"}"#
        )
        .0,
        409
    );
    assert_eq!(
        call(addr, "POST", &format!("{agent}/accept"), &[], "").0,
        200
    );
    assert_eq!(
        call(
            addr,
            "POST",
            &format!("{agent}/say"),
            &[],
            r#"{"text":"Hello from the agent"}"#
        )
        .0,
        200
    );
    let (status, body) = call(addr, "GET", "/chat/rest/System/Messages?ack=0", &h, "");
    assert_eq!(status, 200);
    let batch: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        batch["messages"][1]["message"]["text"],
        "Hello from the agent"
    );

    let (status, report) = call(addr, "GET", "/__sim/report", &[], "");
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&report).expect("json");
    assert_eq!(report["sessions"][0]["id"], id);
    let (status, bad) = call(addr, "PUT", "/__sim/scenario", &[], "{oops");
    assert_eq!(status, 400);
    assert!(bad.contains("error"), "{bad}");
    let finished = running.shutdown().expect("shutdown");
    assert_eq!(
        finished.server.agent_messages(id).expect("known"),
        ["Hello from the agent"]
    );
}

#[test]
fn no_admin_turns_the_admin_api_off() {
    let running = start(&["--no-admin"]);
    let (status, _) = call(
        running.addr(),
        "GET",
        "/__sim/report",
        &[("X-LIVEAGENT-API-VERSION", "59")],
        "",
    );
    assert_eq!(status, 404);
    let finished = running.shutdown().expect("shutdown");
    assert_eq!(
        finished.server.conformance_report().outside_sessions.len(),
        1
    );
}
