//! The FileTransfer upload: the request `wire::Upload` builds (a readable snapshot of headers and body), the
//! host check against the redirect policy, the answer decoder, and `Session::upload_request`.

use http::Request;
use liveagent::Timestamp;
use liveagent::sim::{AgentAction, AgentScript, AgentStep, Pair, SimConfig};
use liveagent::wire::Message;
use liveagent::wire::{Endpoint, FileTransfer, Upload, UploadAnswer, UploadError};
use liveagent::{Config, Event, Session, State};
use liveagent::{RedirectPolicy, RedirectRefusal};
use std::time::Duration;

const CHAT_HOST: &str = "https://d.la1-c1-phx.salesforceliveagent.com";
const ORG: &str = "00DD0000000JVXs";
/// The org id of the chat the session uploads from.
const HARNESS_ORG: &str = ORG;
const CHAT_KEY: &str = "4eb90106-3410-4dd0-8f04-c4facf90a929";

fn transfer(url: &str) -> FileTransfer {
    let mut t = FileTransfer::default();
    t.kind = Some("Requested".into());
    t.upload_servlet_url = Some(url.into());
    t.file_token = Some("0Ti3000000001Ab".into());
    t.cdm_servlet_url = Some("https://d.la1-c1-phx.salesforceliveagent.com/content/cdm".into());
    t
}

fn configured() -> Endpoint {
    Endpoint::parse(CHAT_HOST).expect("endpoint")
}

/// Method, URI, the headers sorted by name, then the body with CR LF shown as `\r\n` line ends.
fn render(req: &Request<Vec<u8>>) -> String {
    let mut out = format!("{} {}\n", req.method(), req.uri());
    let mut headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().expect("ASCII header").to_owned(),
            )
        })
        .collect();
    headers.sort();
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\n"));
    }
    out.push('\n');
    let body = String::from_utf8_lossy(req.body());
    for line in body.split_inclusive("\r\n") {
        match line.strip_suffix("\r\n") {
            Some(l) => {
                out.push_str(l);
                out.push_str("\\r\\n\n");
            }
            None => {
                out.push_str(line);
                out.push_str("<no CRLF at end>\n");
            }
        }
    }
    out
}

#[test]
fn upload_request_snapshot() {
    let t = transfer("https://na1.salesforce.com/services/liveagent/file");
    let org_domain = ["na1.salesforce.com".to_owned()];
    let req = Upload::new(
        &t,
        ORG,
        CHAT_KEY,
        "C:\\Users\\ada\\order \"1234\".txt",
        b"Order 1234\nnot arrived\n",
    )
    .content_type("text/plain; charset=utf-8")
    .upload_hosts(&org_domain)
    .build(&RedirectPolicy::default(), &configured())
    .expect("built");
    insta::assert_snapshot!("upload_request", render(&req));
    // Deterministic: the same inputs give the same bytes.
    let again = Upload::new(
        &t,
        ORG,
        CHAT_KEY,
        "C:\\Users\\ada\\order \"1234\".txt",
        b"Order 1234\nnot arrived\n",
    )
    .content_type("text/plain; charset=utf-8")
    .upload_hosts(&org_domain)
    .build(&RedirectPolicy::default(), &configured())
    .expect("built");
    assert_eq!(render(&again), render(&req));
}

#[test]
fn the_chat_key_goes_only_to_hosts_inside_the_policy() {
    let cases: &[(&str, RedirectPolicy, Result<(), RedirectRefusal>)] = &[
        (
            "https://d.la1-c1-phx.salesforceliveagent.com/content/upload",
            RedirectPolicy::default(),
            Ok(()),
        ),
        (
            "https://c.la2-c1-ia4.salesforceliveagent.com/upload",
            RedirectPolicy::default(),
            Ok(()),
        ),
        // Another org's My Domain: the application named only its own.
        (
            "https://my-org.my.salesforce.com/services/liveagent/file",
            RedirectPolicy::default(),
            Err(RedirectRefusal::ForeignHost),
        ),
        (
            "https://webto.salesforce.com/services/liveagent/file",
            RedirectPolicy::default(),
            Err(RedirectRefusal::ForeignHost),
        ),
        (
            "https://acme.my.salesforce.com/services/liveagent/file",
            RedirectPolicy::default(),
            Ok(()),
        ),
        (
            "https://acme.my.salesforce.com/services/liveagent/file",
            RedirectPolicy::Never,
            Ok(()),
        ),
        (
            "https://attacker.example/upload",
            RedirectPolicy::default(),
            Err(RedirectRefusal::ForeignHost),
        ),
        (
            "https://salesforce.com.attacker.example/upload",
            RedirectPolicy::default(),
            Err(RedirectRefusal::ForeignHost),
        ),
        (
            "http://acme.my.salesforce.com/services/liveagent/file",
            RedirectPolicy::default(),
            Err(RedirectRefusal::NotHttps),
        ),
        (
            "https://acme.my.salesforce.com:8443/services/liveagent/file",
            RedirectPolicy::default(),
            Err(RedirectRefusal::ForeignHost),
        ),
        (
            "https://uploads.example.net/file",
            RedirectPolicy::AlsoAllow(vec!["*.example.net".into()]),
            Ok(()),
        ),
        (
            "https://d.la1-c1-phx.salesforceliveagent.com/content/upload",
            RedirectPolicy::Never,
            Ok(()),
        ),
        (
            "https://na1.salesforce.com/services/liveagent/file",
            RedirectPolicy::Never,
            Err(RedirectRefusal::Disabled),
        ),
    ];
    // The application names its own My Domain (Config::upload_hosts).
    let upload_hosts = ["acme.my.salesforce.com".to_owned()];
    for (url, policy, expected) in cases {
        let t = transfer(url);
        let got = Upload::new(&t, ORG, CHAT_KEY, "a.txt", b"x")
            .upload_hosts(&upload_hosts)
            .build(policy, &configured());
        match (expected, got) {
            (Ok(()), Ok(req)) => {
                assert!(req.uri().to_string().starts_with(*url), "{url}");
            }
            (Err(refusal), Err(UploadError::HostRefused { refusal: r, .. })) => {
                assert_eq!(*refusal, r, "{url} under {policy:?}")
            }
            (e, g) => panic!("{url} under {policy:?}: expected {e:?}, got {g:?}"),
        }
    }
    // A loopback chat endpoint (local testing) uploads only to loopback.
    let local = Endpoint::parse("http://127.0.0.1:8080").expect("endpoint");
    for (url, ok) in [
        ("http://127.0.0.1:9999/upload", true),
        ("https://na1.salesforce.com/services/liveagent/file", false),
    ] {
        let t = transfer(url);
        let got =
            Upload::new(&t, ORG, CHAT_KEY, "a.txt", b"x").build(&RedirectPolicy::default(), &local);
        assert_eq!(got.is_ok(), ok, "{url}");
    }
}

#[test]
fn errors_are_typed_and_say_nothing_secret() {
    let t = transfer("https://attacker.example/upload");
    let err = Upload::new(&t, ORG, CHAT_KEY, "a.txt", b"x")
        .build(&RedirectPolicy::default(), &configured())
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        !text.contains(CHAT_KEY) && !text.contains("0Ti3000000001Ab"),
        "{text}"
    );
    let source: &dyn std::error::Error = &err;
    assert!(source.source().is_none());

    let mut cancelled = transfer(CHAT_HOST);
    cancelled.kind = Some("Canceled".into());
    assert_eq!(
        Upload::new(&cancelled, ORG, CHAT_KEY, "a.txt", b"x")
            .build(&RedirectPolicy::default(), &configured())
            .err(),
        Some(UploadError::NotRequested {
            kind: Some("Canceled".into())
        })
    );
}

#[test]
fn answers_are_decoded_leniently() {
    let session = Session::new(
        Config::new(configured(), ORG, "572000000000001", "573000000000001"),
        Timestamp::ZERO,
    );
    assert_eq!(
        session.upload_answer(200, b"Success"),
        UploadAnswer::Success
    );
    assert_eq!(session.upload_answer(200, b""), UploadAnswer::Accepted);
    assert_eq!(
        session.upload_answer(413, b"Request Entity Too Large"),
        UploadAnswer::Failed {
            status: 413,
            detail: "Request Entity Too Large".into()
        }
    );
}

/// `Session::upload_request` answers the FileTransfer the session delivered, with the org id of the Config
/// and the chat key cut from the session key; the session key itself is never in the request.
#[test]
fn session_builds_the_upload_for_the_transfer_it_delivered() {
    // The simulator's agent accepts at 2 s and asks for a file at 3 s through this FileTransfer.
    let mut requested = FileTransfer::default();
    requested.kind = Some("Requested".into());
    requested.upload_servlet_url =
        Some("https://d.la1-c1-phx.salesforceliveagent.com/content/upload".into());
    requested.file_token = Some("tok-42".into());
    requested.cdm_servlet_url =
        Some("https://d.la1-c1-phx.salesforceliveagent.com/content/cdm".into());
    let agent = AgentScript::new(vec![
        AgentStep::new(Duration::from_secs(2), AgentAction::Accept),
        AgentStep::new(
            Duration::from_secs(1),
            AgentAction::Emit(Box::new(Message::FileTransfer(requested))),
        ),
    ]);
    let sim = SimConfig::default().with_agent(agent);
    let config = Config::new(
        sim.endpoint().expect("endpoint"),
        HARNESS_ORG,
        "572D000000000J6",
        "573D000000000OC",
    );
    let mut h = Pair::new(config, sim, Timestamp::ZERO);
    h.run_until_elapsed(Duration::from_secs(4)).expect("runs");
    assert_eq!(h.session().state(), State::Chatting);
    // The session key the simulator issued (kept in the snapshot to resume).
    let snapshot = serde_json::to_value(h.session().snapshot()).expect("snapshot");
    let key = snapshot["credentials"]["key"]
        .as_str()
        .expect("the session key")
        .to_owned();
    let signature = key.rsplit('!').next().expect("key has a signature");
    let transfer = h
        .events()
        .iter()
        .find_map(|(_, e)| match e {
            Event::Message(Message::FileTransfer(t)) => Some(t.clone()),
            _ => None,
        })
        .expect("FileTransfer delivered");
    let req = h
        .session()
        .upload_request(&transfer, "receipt.txt", "text/plain", b"paid")
        .expect("built");
    let uri = req.uri().to_string();
    let (id, _) = key.split_once('!').expect("key has a !");
    assert!(
        uri.starts_with("https://d.la1-c1-phx.salesforceliveagent.com/content/upload?"),
        "{uri}"
    );
    assert!(
        uri.contains(&format!(
            "orgId={HARNESS_ORG}&chatKey={id}&fileToken=tok-42&encoding=UTF-8"
        )),
        "{uri}"
    );
    let everything = format!(
        "{uri} {:?} {}",
        req.headers(),
        String::from_utf8_lossy(req.body())
    );
    assert!(
        !everything.contains(&key),
        "the full session key leaked: {everything}"
    );
    assert!(
        !everything.contains(signature),
        "the key's signature leaked"
    );

    // A hostile transfer pointing elsewhere is refused before anything is built.
    let mut hostile = transfer.clone();
    hostile.upload_servlet_url = Some("https://collector.attacker.example/upload".into());
    assert!(matches!(
        h.session()
            .upload_request(&hostile, "receipt.txt", "text/plain", b"paid"),
        Err(UploadError::HostRefused {
            refusal: RedirectRefusal::ForeignHost,
            ..
        })
    ));
}

#[test]
fn a_session_without_credentials_cannot_upload() {
    let config = Config::new(configured(), ORG, "572D000000000J6", "573D000000000OC");
    let session = liveagent::Session::new(config, Timestamp::ZERO);
    let t = transfer(CHAT_HOST);
    assert_eq!(
        session.upload_request(&t, "a", "text/plain", b"x").err(),
        Some(UploadError::NotConnected)
    );
}

// ------------------------------------------------------------------------------------------------------------
// Against the simulator: its agent asks for a file, the session builds the upload, the servlet checks it.

#[cfg(feature = "sim")]
mod against_the_simulator {
    use super::*;
    use liveagent::Timestamp;
    use liveagent::sim::{AgentAction, AgentScript, Pair, SimConfig, Ticket, VisitorEvent};
    use liveagent::{Config, Session};
    use std::collections::HashMap;
    use std::time::Duration;

    /// What the visitor does when the agent asks for a file: the uploads it sends (label and request).
    type OnRequest = dyn FnMut(&Session, &FileTransfer) -> Vec<(String, Request<Vec<u8>>)>;

    /// Session and simulator on a virtual clock (`sim::Pair`; the uploads are the application's own
    /// requests). Returns the pair, the events' descriptions and the upload answers (label, status,
    /// decoded).
    fn run(
        agent: AgentScript,
        on_request: &mut OnRequest,
    ) -> (Pair, Vec<String>, Vec<(String, u16, UploadAnswer)>) {
        let t0 = Timestamp::ZERO;
        let mut sim_config = SimConfig::default().with_agent(agent);
        sim_config.poll_hold = Duration::from_secs(5);
        let endpoint = sim_config.endpoint().expect("endpoint");
        let config = Config::new(
            endpoint,
            "00D000000000001",
            "572000000000001",
            "573000000000001",
        )
        .visitor_name("Ada")
        .seed(3);
        let mut pair = Pair::new(config, sim_config, t0);
        let asked = pair
            .run_until_event(|e| {
                matches!(e, liveagent::Event::Message(Message::FileTransfer(t))
                    if t.kind.as_deref() == Some("Requested"))
            })
            .expect("run");
        let Some(liveagent::Event::Message(Message::FileTransfer(transfer))) = asked else {
            panic!("the agent never asked for a file:\n{}", pair.transcript());
        };
        let mut labels: HashMap<Ticket, String> = HashMap::new();
        for (label, req) in on_request(pair.session(), &transfer) {
            labels.insert(pair.send_app_request(&req), label);
        }
        pair.run().expect("run to the end");
        let answers = pair
            .app_replies()
            .iter()
            .map(|(ticket, _, reply)| {
                let resp = reply.response().expect("upload answered");
                let status = resp.status().as_u16();
                let label = labels.get(ticket).cloned().unwrap_or_default();
                (
                    label,
                    status,
                    pair.session().upload_answer(status, resp.body()),
                )
            })
            .collect();
        let events = pair
            .events()
            .iter()
            .map(|(at, ev)| format!("+{:.3}s {ev:?}", at.as_secs_f64()))
            .collect();
        (pair, events, answers)
    }

    fn agent() -> AgentScript {
        AgentScript::new(Vec::new())
            .then(Duration::from_millis(500), AgentAction::Accept)
            .then(
                Duration::from_millis(100),
                AgentAction::Say {
                    text: "Could you send me the receipt?".into(),
                },
            )
            .then(Duration::ZERO, AgentAction::RequestFile)
            .then(Duration::from_secs(2), AgentAction::End)
    }

    fn good(session: &Session, t: &FileTransfer) -> Request<Vec<u8>> {
        session
            .upload_request(t, "receipt.txt", "text/plain", b"Order 1234, paid.\n")
            .expect("upload built")
    }

    #[test]
    fn the_agent_asks_the_visitor_uploads_the_agent_gets_it() {
        let (pair, events, answers) = run(agent(), &mut |s, t| {
            vec![("upload".to_string(), good(s, t))]
        });
        let server = pair.server();
        assert_eq!(
            answers,
            vec![("upload".to_string(), 200, UploadAnswer::Success)]
        );
        let rec = server.session_by_index(0).expect("session");
        assert!(rec.visitor_events.contains(&VisitorEvent::FileUploaded {
            filename: "receipt.txt".into(),
            content_type: "text/plain".into(),
            len: 18,
        }));
        let success = events
            .iter()
            .any(|e| e.contains("FileTransfer") && e.contains("Success"));
        assert!(success, "the visitor is told: {events:#?}");
        let transcript = server.transcript_text();
        assert!(!transcript.contains(&rec.id), "the chat key is not logged");
        insta::assert_snapshot!(
            "simulator_upload",
            format!("{transcript}\n--- events ---\n{}", events.join("\n"))
        );
    }

    #[test]
    fn the_servlet_checks_every_part_of_the_request() {
        let mut requests = |s: &Session, t: &FileTransfer| {
            let ok = good(s, t);
            let with_query = |from: &str, to: &str| {
                let mut r = good(s, t);
                let uri = r.uri().to_string().replace(from, to);
                *r.uri_mut() = uri.parse().expect("uri");
                r
            };
            let mut get = good(s, t);
            *get.method_mut() = http::Method::GET;
            let mut not_multipart = good(s, t);
            not_multipart.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/octet-stream"),
            );
            let mut no_file_part = good(s, t);
            let body = String::from_utf8(no_file_part.body().clone()).expect("text body");
            *no_file_part.body_mut() = body.replace("name=\"file\"", "name=\"other\"").into_bytes();
            let mut renamed = good(s, t);
            let body = String::from_utf8(renamed.body().clone()).expect("text body");
            *renamed.body_mut() = body
                .replacen("\r\n\r\nreceipt.txt\r\n", "\r\n\r\nother.txt\r\n", 1)
                .into_bytes();
            let mut truncated = good(s, t);
            let cut = truncated.body().len() - 10;
            truncated.body_mut().truncate(cut);
            vec![
                ("GET".to_string(), get),
                (
                    "wrong orgId".into(),
                    with_query("orgId=00D000000000001", "orgId=00D000000000002"),
                ),
                (
                    "unknown chatKey".into(),
                    with_query("chatKey=", "chatKey=x"),
                ),
                (
                    "unknown fileToken".into(),
                    with_query("fileToken=", "fileToken=x"),
                ),
                (
                    "encoding latin-1".into(),
                    with_query("encoding=UTF-8", "encoding=ISO-8859-1"),
                ),
                ("no encoding".into(), with_query("&encoding=UTF-8", "")),
                ("not multipart".into(), not_multipart),
                ("no file part".into(), no_file_part),
                ("filename field differs".into(), renamed),
                ("truncated body".into(), truncated),
                ("valid".into(), ok),
                ("token reused".into(), good(s, t)),
            ]
        };
        let (pair, _, answers) = run(agent(), &mut requests);
        let server = pair.server();
        let table: Vec<String> = answers
            .iter()
            .map(|(label, status, answer)| format!("{label:<24} {status} {answer}"))
            .collect();
        insta::assert_snapshot!("simulator_upload_checks", table.join("\n"));
        let ok: Vec<&str> = answers
            .iter()
            .filter(|(_, _, a)| a.is_ok())
            .map(|(l, _, _)| l.as_str())
            .collect();
        assert_eq!(ok, ["valid"], "only the valid upload is accepted");
        let uploaded = server
            .session_by_index(0)
            .expect("session")
            .visitor_events
            .iter()
            .filter(|e| matches!(e, VisitorEvent::FileUploaded { .. }))
            .count();
        assert_eq!(uploaded, 1);
    }
}
