//! A stored chat survives an upgrade: `tests/fixtures/snapshots/v1-chatting.json` was written by
//! `Session::snapshot` of format version 1 (a chat with one message sent and not yet acknowledged). Whatever
//! fields later versions add, this file must keep resuming to the same chat; a snapshot of a newer format is
//! refused rather than half-read.

use liveagent::Timestamp;
use liveagent::wire::{Endpoint, header};
use liveagent::{
    Config, OutgoingRequest, Output, RequestKind, ResumeError, SNAPSHOT_VERSION, Session,
    SessionSnapshot, State,
};
use serde_json::Value;

const STORED: &str = include_str!("fixtures/snapshots/v1-chatting.json");

fn config() -> Config {
    Config::new(
        Endpoint::parse("https://d.la1-c1-sim.salesforceliveagent.test").unwrap(),
        "00D000000000001",
        "572000000000001",
        "573000000000001",
    )
}

fn requests_after_resume(json: &str) -> Vec<OutgoingRequest> {
    let snapshot: SessionSnapshot = serde_json::from_str(json).expect("the stored snapshot reads");
    let now = Timestamp::ZERO;
    let mut session =
        Session::resume(config(), snapshot, now).expect("the stored snapshot resumes");
    assert_eq!(session.state(), State::Chatting);
    let mut out = Vec::new();
    while let Output::Request(r) = session.poll_output(now) {
        out.push(r);
    }
    out
}

fn header_of<'a>(r: &'a OutgoingRequest, name: &str) -> Option<&'a str> {
    r.http.headers().get(name).and_then(|v| v.to_str().ok())
}

/// What the stored chat must do when resumed: re-send the unacknowledged message with its own sequence
/// number (3) and re-issue the poll with the stored `ack` (3), under the stored key and affinity token.
fn assert_resumes_the_stored_chat(requests: &[OutgoingRequest]) {
    let kinds: Vec<RequestKind> = requests.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [RequestKind::Chat, RequestKind::Messages]);
    let chat = &requests[0];
    assert_eq!(chat.http.uri().path(), "/chat/rest/Chasitor/ChatMessage");
    assert_eq!(chat.http.body(), br#"{"text":"unacknowledged"}"#);
    assert_eq!(header_of(chat, header::SEQUENCE), Some("3"));
    let poll = &requests[1];
    assert!(
        poll.http.uri().query().unwrap_or("").contains("ack=3"),
        "{poll:?}"
    );
    for r in requests {
        assert_eq!(header_of(r, header::AFFINITY), Some("5eb7f92b"));
        assert!(
            header_of(r, header::SESSION_KEY).is_some_and(|k| k.starts_with("09f1fd9d-")),
            "{r:?}"
        );
    }
}

#[test]
fn a_stored_version_1_snapshot_resumes() {
    assert_resumes_the_stored_chat(&requests_after_resume(STORED));
}

#[test]
fn a_stored_snapshot_resumes_after_a_field_is_added() {
    // A later release of the same format adds a field (with a default): the current reader ignores it, and
    // the later reader gives the old file the default. Both directions are this test: the stored file has no
    // such field, and here it is given one.
    let mut v: Value = serde_json::from_str(STORED).unwrap();
    v["a_field_added_later"] = serde_json::json!({"with": ["any", "shape"]});
    v["unacked"]["a_nested_field_added_later"] = Value::Bool(true);
    assert_resumes_the_stored_chat(&requests_after_resume(&v.to_string()));
}

#[test]
fn a_snapshot_from_before_versioning_reads_as_version_1() {
    let mut v: Value = serde_json::from_str(STORED).unwrap();
    v.as_object_mut().unwrap().remove("version");
    assert_resumes_the_stored_chat(&requests_after_resume(&v.to_string()));
}

#[test]
fn fields_added_since_version_1_take_their_defaults() {
    // `end_requested` and `chat_end_accepted` came after the first snapshots were written.
    let mut v: Value = serde_json::from_str(STORED).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("end_requested");
    o.remove("chat_end_accepted");
    assert_resumes_the_stored_chat(&requests_after_resume(&v.to_string()));
}

#[test]
fn the_current_version_writes_the_current_format() {
    let snapshot: SessionSnapshot = serde_json::from_str(STORED).unwrap();
    let session = Session::resume(config(), snapshot, Timestamp::ZERO).unwrap();
    let written: Value = serde_json::to_value(session.snapshot()).unwrap();
    assert_eq!(written["version"], SNAPSHOT_VERSION);
    assert_eq!(
        SNAPSHOT_VERSION, 1,
        "a new format version needs a new stored snapshot here"
    );
}

#[test]
fn a_snapshot_of_a_newer_format_is_refused() {
    let mut v: Value = serde_json::from_str(STORED).unwrap();
    v["version"] = (SNAPSHOT_VERSION + 1).into();
    let snapshot: SessionSnapshot = serde_json::from_value(v).unwrap();
    let err = Session::resume(config(), snapshot, Timestamp::ZERO).unwrap_err();
    assert_eq!(
        err,
        ResumeError::UnsupportedVersion {
            found: SNAPSHOT_VERSION + 1,
            supported: SNAPSHOT_VERSION
        }
    );
}

#[test]
fn a_snapshot_of_an_ended_chat_is_refused() {
    let mut v: Value = serde_json::from_str(STORED).unwrap();
    v["state"] = "Ended".into();
    let snapshot: SessionSnapshot = serde_json::from_value(v).unwrap();
    let err = Session::resume(config(), snapshot, Timestamp::ZERO).unwrap_err();
    assert_eq!(err, ResumeError::AlreadyEnded);
}

#[test]
fn a_stored_config_needs_only_the_endpoint_and_ids() {
    let stored = r#"{"endpoint":"https://d.la1-c1-sim.salesforceliveagent.test",
        "organization_id":"00D000000000001","deployment_id":"572000000000001",
        "button_id":"573000000000001","retry":{"max_attempts":3},"visitor":{"name":"Ada"}}"#;
    let read: Config = serde_json::from_str(stored).expect("a partial config reads");
    let mut expected = config().visitor_name("Ada");
    expected.retry.max_attempts = 3;
    assert_eq!(read, expected);
    // The four required fields stay required.
    assert!(serde_json::from_str::<Config>(r#"{"organization_id":"00D"}"#).is_err());
}
