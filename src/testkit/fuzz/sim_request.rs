//! `sim_request`: any raw request into the simulator's request decoding (`sim::Server::handle_request`).

use super::Finding;
use crate::Timestamp;
use crate::sim::{Dialect, Reply, Server, SimConfig};
use crate::wire::{self, Api, Limits};
use std::time::Duration;

/// Input: byte 0 picks the dialect (`Dialect::NAMES`), byte 1 bit 0 turns the admin API off; the rest, read as
/// (lossy) UTF-8, is a request: `METHOD PATH` on the first line, `Name: value` header lines, an empty line,
/// then the body. `$KEY`, `$TOKEN` and `$ID` in the path and header values stand for a live chat's session key,
/// affinity token and id (the chat is queued before the request), so inputs reach the session-scoped checks.
///
/// Checks: no panic; a request the `http` crate accepts gets exactly one answer (at once, or after the poll
/// hold for a held poll); the conformance report and the transcript render.
pub fn sim_request(data: &[u8]) -> Result<(), Finding> {
    let (Some(&d), Some(&flags), Some(rest)) = (data.first(), data.get(1), data.get(2..)) else {
        return Ok(());
    };
    let names = Dialect::NAMES;
    let dialect = names
        .get(usize::from(d) % names.len())
        .and_then(|n| Dialect::named(n))
        .unwrap_or_default();
    let config = SimConfig {
        admin_api: flags & 1 == 0,
        ..SimConfig::default().with_dialect(dialect)
    };
    let now = Timestamp::ZERO;
    let mut server = Server::new(config, now);
    let Some((key, token, id)) = open_chat(&mut server, now) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(rest);
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h.to_owned(), b.as_bytes().to_vec()),
        None => (text.into_owned(), Vec::new()),
    };
    let fill = |s: &str| {
        s.replace("$KEY", &key)
            .replace("$TOKEN", &token)
            .replace("$ID", &id)
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let (method, path) = request_line.split_once(' ').unwrap_or((request_line, "/"));
    let mut b = http::Request::builder().method(method).uri(fill(path));
    for line in lines {
        if let Some((n, v)) = line.split_once(':') {
            b = b.header(n.trim(), fill(v.trim()));
        }
    }
    let Ok(req) = b.body(body) else {
        return Ok(());
    };
    let ticket = server.handle_request(&req, now);
    let mut answers = 0;
    for at in [now, now + Duration::from_secs(60)] {
        server.handle_timeout(at);
        while let Some((t, _)) = server.poll_reply(at) {
            if t == ticket {
                answers += 1;
            }
        }
    }
    ensure_eq!(
        answers,
        1,
        "{} {} answered {answers} times",
        req.method(),
        req.uri()
    );
    let report = server.conformance_report();
    let _ = report.to_text();
    let _ = serde_json::to_string(&report);
    let _ = server.transcript_text();
    Ok(())
}

/// SessionId and ChasitorInit through the simulator: the chat's key, token and id.
fn open_chat(server: &mut Server, now: Timestamp) -> Option<(String, String, String)> {
    let endpoint = server.config().endpoint().ok()?;
    let api = Api::new(&endpoint, 59);
    server.handle_request(&api.session_id().ok()?, now);
    let (_, Reply::Response(resp)) = server.poll_reply(now)? else {
        return None;
    };
    let s = wire::parse_session_id(resp.status().as_u16(), resp.body(), &Limits::default()).ok()?;
    let init = format!(
        r#"{{"organizationId":"00D","deploymentId":"572","buttonId":"573","sessionId":"{}","userAgent":"f","language":"en","screenResolution":"1x1","visitorName":"F","prechatDetails":[],"prechatEntities":[],"receiveQueueUpdates":true,"isPost":true}}"#,
        s.id
    );
    let req = http::Request::builder()
        .method("POST")
        .uri("/chat/rest/Chasitor/ChasitorInit")
        .header(wire::header::API_VERSION, "59")
        .header(wire::header::SESSION_KEY, s.key.expose())
        .header(wire::header::AFFINITY, s.affinity_token.expose())
        .header(wire::header::SEQUENCE, "1")
        .body(init.into_bytes())
        .ok()?;
    server.handle_request(&req, now);
    while server.poll_reply(now).is_some() {}
    Some((
        s.key.expose().to_owned(),
        s.affinity_token.expose().to_owned(),
        s.id,
    ))
}
