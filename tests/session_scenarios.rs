//! Deterministic scenario tests of the visitor `Session`: a virtual clock, a scripted in-process
//! server (not the simulator) and a readable transcript per scenario, plus explicit assertions on the
//! behaviour. The harness (tests/common/harness.rs) checks after every `handle_timeout(now)` that
//! `poll_timeout()` is `None` or later than `now`, and after every drain that at most one poll and one POST
//! are in flight.

#[path = "common/harness.rs"]
mod harness;

use harness::{Harness, KEY, ORG, Reply, config, msg, secs};
use liveagent::{
    CommandError, Config, EndReason, Event, Failure, Handled, Output, RequestKind, RetryPolicy,
    Session, SessionSnapshot, State, TransportError,
};
use serde_json::{Value, json};
use std::time::Duration;

fn andy() -> Value {
    json!({"name": "Andy L.", "userId": "005B0000000F3b2", "sneakPeekEnabled": true})
}

fn ryan() -> Value {
    json!({"name": "Ryan S.", "userId": "005B0000000F3c9", "sneakPeekEnabled": false})
}

fn agent_says(text: &str) -> Value {
    msg(
        "ChatMessage",
        json!({"name": "Andy L.", "text": text, "agentId": "005B0000000F3b2"}),
    )
}

/// SessionId, ChasitorInit, ChatRequestSuccess at 1 s, ChatEstablished (with `agent`) at 2 s; returns at 3 s
/// with the chat established (messages 0 and 1 delivered, the poll with ack=1 held).
fn start_chat(h: &mut Harness, agent: Value) {
    h.server.push_at(
        1.0,
        vec![msg(
            "ChatRequestSuccess",
            json!({"queuePosition": 1, "estimatedWaitTime": 30}),
        )],
    );
    h.server.push_at(2.0, vec![msg("ChatEstablished", agent)]);
    h.run_until(3.0);
    assert_eq!(h.session.state(), State::Chatting);
}

fn end_reason(h: &Harness) -> EndReason {
    h.session.end_reason().cloned().expect("the session ended")
}

fn assert_wait_none(h: &mut Harness) {
    let now = h.now();
    assert!(matches!(h.session.poll_output(now), Output::Wait(None)));
    assert_eq!(h.session.poll_timeout(), None);
    assert_eq!(h.session.in_flight().count(), 0);
}

fn seqs(h: &Harness) -> Vec<Option<u64>> {
    h.posts().into_iter().map(|(_, s)| s).collect()
}

fn stale_count(h: &Harness) -> usize {
    h.handled
        .iter()
        .filter(|(_, x)| *x == Handled::Stale)
        .count()
}

// ------------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------------

#[test]
fn happy_path() {
    let mut h = Harness::new(config());
    h.server.push_at(
        1.2,
        vec![msg(
            "ChatRequestSuccess",
            json!({"queuePosition": 1, "estimatedWaitTime": 30}),
        )],
    );
    h.run_until(2.0);
    assert_eq!(h.session.state(), State::Queued);

    // Queued before establishment: must wait for ChatEstablished (spec §2 step 5).
    let early = h
        .act("send_message(\"Hello, I need help with my order\")", |s| {
            s.send_message("Hello, I need help with my order")
        })
        .expect("accepted");
    h.server.push_at(5.0, vec![msg("ChatEstablished", andy())]);
    h.run_until(4.99);
    assert!(
        h.sent_of(RequestKind::Chat).is_empty(),
        "sent before ChatEstablished"
    );

    h.server
        .push_at(8.0, vec![msg("AgentTyping", json!({"name": "Andy L."}))]);
    h.server
        .push_at(9.5, vec![agent_says("Hi Jon, let me check that for you.")]);
    h.run_until(12.0);
    h.act("set_typing(true)", |s| s.set_typing(true))
        .expect("typing");
    // The typing POST is in flight: these two go together in one MultiNoun with one sequence number.
    h.act("send_message(\"Order 42\")", |s| s.send_message("Order 42"))
        .expect("message");
    h.act("set_typing(false)", |s| s.set_typing(false))
        .expect("typing");

    // ChatEnded arrives 1 s after ChatEnd; the poll held since 9.55 s returns 204 at 39.6 s first, so the
    // "one more poll" after ChatEnd is what gets it.
    let records = json!([{"fieldName": "CaseId", "fieldValue": "500xx000000abcD"}]);
    h.server.on_noun(
        "ChatEnd",
        1.0,
        vec![msg(
            "ChatEnded",
            json!({"reason": "client", "attachedRecords": records}),
        )],
    );
    h.run_until(39.0);
    h.act("end()", |s| s.end()).expect("end");
    assert_eq!(h.session.state(), State::Ending);
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    // Lifecycle and sequencing.
    let kinds: Vec<RequestKind> = h.sent.iter().map(|s| s.kind).collect();
    assert_eq!(kinds[0], RequestKind::SessionId);
    assert_eq!(kinds[1], RequestKind::ChasitorInit);
    assert_eq!(h.sent[0].affinity.as_deref(), Some("null"));
    assert!(!h.sent[0].has_key);
    assert!(
        h.sent[1..]
            .iter()
            .all(|s| s.affinity.as_deref() == Some("aff-1") && s.has_key)
    );
    let posts = h.posts();
    let paths: Vec<&str> = posts.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/chat/rest/Chasitor/ChasitorInit",
            "/chat/rest/Chasitor/ChatMessage",
            "/chat/rest/Chasitor/ChasitorTyping",
            "/chat/rest/System/MultiNoun",
            "/chat/rest/Chasitor/ChatEnd",
        ]
    );
    assert_eq!(seqs(&h), [Some(1), Some(2), Some(3), Some(4), Some(5)]);
    let init: Value = serde_json::from_str(&h.sent[1].body).expect("json");
    assert_eq!(init["sessionId"], "sess-1");
    assert_eq!(init["isPost"], true);
    let chat_end = h
        .sent_of(RequestKind::Chat)
        .last()
        .expect("ChatEnd")
        .body
        .clone();
    assert_eq!(chat_end, r#"{"reason":"client"}"#);
    let multi: Value = serde_json::from_str(&h.sent_of(RequestKind::Chat)[2].body).expect("json");
    assert_eq!(multi["nouns"][0]["noun"], "ChatMessage");
    assert_eq!(multi["nouns"][1]["noun"], "ChasitorNotTyping");

    // The early message went out only after ChatEstablished was delivered (5.05 s).
    let first_chat = h.sent_of(RequestKind::Chat)[0];
    assert!(first_chat.at >= secs(5.05));
    assert_eq!(
        first_chat.body,
        r#"{"text":"Hello, I need help with my order"}"#
    );

    // ack: -1, then the sequence of each 200; a 204 keeps it.
    assert_eq!(h.acks(), [-1, 0, 1, 2, 3, 3]);
    let pcs: Vec<u64> = h
        .sent_of(RequestKind::Messages)
        .iter()
        .map(|s| s.pc().expect("pc"))
        .collect();
    assert_eq!(pcs, [0, 1, 2, 3, 4, 5]);
    // The last poll was issued after ChatEnd had been accepted.
    let chat_end_at = h.sent_of(RequestKind::Chat).last().expect("ChatEnd").at;
    assert!(h.sent_of(RequestKind::Messages).last().expect("poll").at > chat_end_at);

    // Events in order.
    let ev = h.event_list();
    let pos = |pred: &dyn Fn(&Event) -> bool| ev.iter().position(pred).expect("event present");
    let requested = pos(&|e| matches!(e, Event::ChatRequested));
    let queued = pos(&|e| {
        matches!(
            e,
            Event::Queued {
                position: Some(1),
                ..
            }
        )
    });
    let established = pos(&|e| matches!(e, Event::ChatEstablished(_)));
    let delivered = pos(&|e| matches!(e, Event::Delivered(ids) if ids == &vec![early]));
    let typing = pos(&|e| matches!(e, Event::AgentTyping(true)));
    let agent_msg = pos(&|e| matches!(e, Event::AgentMessage(_)));
    assert!(requested < queued && queued < established && established < delivered);
    assert!(typing < agent_msg);
    assert!(!h.session.agent_typing(), "an agent message clears typing");
    assert_eq!(h.agent_texts(), ["Hi Jon, let me check that for you."]);
    assert_eq!(
        end_reason(&h),
        EndReason::VisitorEnded {
            attached_records: Some(records)
        }
    );
    assert!(matches!(ev.last(), Some(Event::Ended(_))));
    assert_wait_none(&mut h);
}

#[test]
fn queue_updates() {
    let mut h = Harness::new(config());
    h.server.push_at(
        1.0,
        vec![msg(
            "ChatRequestSuccess",
            json!({"queuePosition": 3, "estimatedWaitTime": 120}),
        )],
    );
    h.server.push_at(
        10.0,
        vec![msg(
            "QueueUpdate",
            json!({"position": 2, "estimatedWaitTime": 75.5}),
        )],
    );
    h.server.push_at(
        20.0,
        vec![msg(
            "QueueUpdate",
            json!({"position": 1, "estimatedWaitTime": 30}),
        )],
    );
    // Nothing for 40 s: the held poll comes back 204 at 50.1 s and is re-issued with the same ack.
    h.server.push_at(
        60.0,
        vec![
            msg(
                "QueueUpdate",
                json!({"position": 0, "estimatedWaitTime": -1}),
            ),
            msg("ChatEstablished", andy()),
        ],
    );
    h.run_until(15.0);
    assert_eq!(h.session.state(), State::Queued);
    h.run_until(61.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let queue: Vec<(Option<i64>, Option<f64>)> = h
        .event_list()
        .into_iter()
        .filter_map(|e| match e {
            Event::Queued {
                position,
                estimated_wait_secs,
            }
            | Event::QueueUpdate {
                position,
                estimated_wait_secs,
            } => Some((position, estimated_wait_secs)),
            _ => None,
        })
        .collect();
    assert_eq!(
        queue,
        [
            (Some(3), Some(120.0)),
            (Some(2), Some(75.5)),
            (Some(1), Some(30.0)),
            (Some(0), Some(-1.0)),
        ]
    );
    assert!(matches!(h.event_list().first(), Some(Event::ChatRequested)));
    assert!(matches!(
        h.event_list().last(),
        Some(Event::ChatEstablished(_))
    ));
    assert_eq!(h.acks(), [-1, 0, 1, 2, 2, 4]);
    assert_eq!(h.session.state(), State::Chatting);
    assert_eq!(h.session.offset(), Some(5004));
}

#[test]
fn request_failed() {
    let mut h = Harness::new(config());
    h.server.push_at(
        1.0,
        vec![msg(
            "ChatRequestSuccess",
            json!({"queuePosition": 1, "estimatedWaitTime": -1}),
        )],
    );
    h.server.push_at(
        6.0,
        vec![msg(
            "ChatRequestFail",
            json!({"reason": "Unavailable", "postChatUrl": "https://example.com/postchat", "attachedRecords": []}),
        )],
    );
    h.run_until(3.0);
    h.act("send_message(\"Anyone?\")", |s| s.send_message("Anyone?"))
        .expect("queued");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(
        end_reason(&h),
        EndReason::RequestFailed {
            reason: Some("Unavailable".into())
        }
    );
    assert!(
        h.sent_of(RequestKind::Chat).is_empty(),
        "nothing sent before ChatEstablished"
    );
    assert!(h.sent.iter().all(|s| s.at <= secs(6.05)));
    assert_eq!(h.session.state(), State::Ended);
    assert_eq!(h.session.send_message("hello?"), Err(CommandError::Ended));
    assert_wait_none(&mut h);
}

#[test]
fn transfer() {
    let mut h = Harness::new(config());
    start_chat(&mut h, andy());
    assert_eq!(
        h.session.agent().and_then(|a| a.name.as_deref()),
        Some("Andy L.")
    );
    h.server
        .push_at(5.0, vec![agent_says("Let me transfer you to billing.")]);
    h.server.push_at(10.0, vec![msg("ChatTransferred", ryan())]);
    h.server.push_at(
        15.0,
        vec![msg(
            "ChatMessage",
            json!({"name": "Ryan S.", "text": "Billing here, how can I help?"}),
        )],
    );
    h.run_until(12.0);
    let agent = h.session.agent().expect("agent");
    assert_eq!(agent.name.as_deref(), Some("Ryan S."));
    assert_eq!(agent.user_id.as_deref(), Some("005B0000000F3c9"));
    h.act("send_message(\"Hi Ryan\")", |s| s.send_message("Hi Ryan"))
        .expect("sent");
    h.run_until(16.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.session.state(), State::Chatting);
    assert!(
        h.event_list().iter().any(
            |e| matches!(e, Event::ChatTransferred(a) if a.name.as_deref() == Some("Ryan S."))
        )
    );
    assert_eq!(
        h.agent_texts(),
        [
            "Let me transfer you to billing.",
            "Billing here, how can I help?"
        ]
    );
    assert_eq!(seqs(&h), [Some(1), Some(2)]);
    assert!(h.sent_of(RequestKind::Chat)[0].at == secs(12.0));
}

#[test]
fn agent_disconnect_and_pickup() {
    let mut h = Harness::new(config());
    start_chat(&mut h, andy());
    h.server.push_at(5.0, vec![msg("AgentTyping", json!({}))]);
    h.server
        .push_at(6.0, vec![msg("AgentDisconnect", json!({}))]);
    h.run_until(7.0);
    assert_eq!(h.session.state(), State::AgentDisconnected);
    assert!(!h.session.agent_typing(), "a disconnect clears typing");
    h.act("send_message(\"Hello? Is anyone there?\")", |s| {
        s.send_message("Hello? Is anyone there?")
    })
    .expect("queued");
    h.server.push_at(20.0, vec![msg("ChatEstablished", ryan())]);
    h.run_until(19.9);
    assert!(
        h.sent_of(RequestKind::Chat).is_empty(),
        "commands wait while disconnected"
    );
    assert_eq!(h.session.pending_commands(), 1);
    h.run_until(22.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.session.state(), State::Chatting);
    assert_eq!(
        h.session.agent().and_then(|a| a.name.as_deref()),
        Some("Ryan S.")
    );
    let chats = h.sent_of(RequestKind::Chat);
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].at, secs(20.05));
    assert_eq!(chats[0].seq, Some(2));
    assert_eq!(h.session.pending_commands(), 0);
    let ev = h.event_list();
    let disc = ev
        .iter()
        .position(|e| matches!(e, Event::AgentDisconnected))
        .expect("disconnect");
    let re = ev
        .iter()
        .rposition(|e| matches!(e, Event::ChatEstablished(_)))
        .expect("established again");
    assert!(disc < re);
    assert!(h.session.end_reason().is_none());
}

#[test]
fn handover_503_mid_chat() {
    let mut h = Harness::new(config());
    start_chat(&mut h, andy());
    h.server.push_at(4.0, vec![agent_says("Hello!")]);
    h.run_until(6.0);
    assert_eq!(h.session.offset(), Some(5002));

    // The old server is going away: the POST is answered 503 only after 2.5 s (too late to matter).
    h.server
        .script(RequestKind::Chat, Reply::StatusAfter(503, "", secs(2.5)));
    h.act("send_message(\"msg A\")", |s| s.send_message("msg A"))
        .expect("A");
    h.run_until(6.5);
    h.act("send_message(\"msg B\")", |s| s.send_message("msg B"))
        .expect("B");
    h.answer_held_poll_at(7.0, 503, "");
    h.run_until(7.0);
    // Right after the 503: the POST is abandoned, only ReconnectSession goes out.
    assert!(h.session.is_reconnecting());
    h.server.push_at(10.0, vec![agent_says("Got both.")]);
    h.run_until(20.0);
    assert!(!h.session.is_reconnecting());

    // A second handover, this time on a POST while the poll is held (a 204 at 40.1 s came in between).
    h.run_until(50.0);
    h.server
        .script(RequestKind::Chat, Reply::Status(503, "Service Unavailable"));
    h.act("send_message(\"msg C\")", |s| s.send_message("msg C"))
        .expect("C");
    h.run_until(52.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    // Two late answers to abandoned requests were ignored: the POST's 503 and the superseded poll.
    assert_eq!(stale_count(&h), 2);

    let reconnects = h.sent_of(RequestKind::ReconnectSession);
    assert_eq!(reconnects.len(), 2);
    for r in &reconnects {
        assert_eq!(r.affinity.as_deref(), Some("null"));
        assert!(r.has_key);
        assert_eq!(r.seq, None);
    }
    // The offset of the last batch that had messages (a 204 carries none).
    assert_eq!(
        reconnects[0].path,
        "/chat/rest/System/ReconnectSession?ReconnectSession.offset=5002"
    );
    assert_eq!(
        reconnects[1].path,
        "/chat/rest/System/ReconnectSession?ReconnectSession.offset=5004"
    );
    assert_eq!(reconnects[0].at, secs(7.0));

    // After each reconnect every request carries the new token.
    for s in &h.sent {
        let expected =
            if s.kind == RequestKind::ReconnectSession || s.kind == RequestKind::SessionId {
                "null"
            } else if s.at > reconnects[1].at {
                "aff-3"
            } else if s.at > reconnects[0].at {
                "aff-2"
            } else {
                "aff-1"
            };
        assert_eq!(s.affinity.as_deref(), Some(expected), "{s:?}");
    }

    // First cycle: nothing but ReconnectSession and polls until ChasitorSessionData; then ResyncState (no
    // sequence) before the re-sent commands, which go in order with the reset numbering.
    let after: Vec<_> = h
        .sent
        .iter()
        .filter(|s| s.at >= secs(7.0) && s.at < secs(50.0))
        .collect();
    let resync = after
        .iter()
        .position(|s| s.kind == RequestKind::ResyncState)
        .expect("ResyncState");
    assert!(after[..resync].iter().all(|s| matches!(
        s.kind,
        RequestKind::ReconnectSession | RequestKind::Messages
    )));
    assert_eq!(after[resync].seq, None);
    assert_eq!(
        after[resync].body,
        format!(r#"{{"organizationId":"{ORG}"}}"#)
    );
    let resent: Vec<(&str, Option<u64>)> = after[resync + 1..]
        .iter()
        .filter(|s| s.kind == RequestKind::Chat)
        .map(|s| (s.body.as_str(), s.seq))
        .collect();
    assert_eq!(
        resent,
        [
            (r#"{"text":"msg A"}"#, Some(1)),
            (r#"{"text":"msg B"}"#, Some(2))
        ]
    );
    let restored = h
        .events
        .iter()
        .position(|(_, e)| matches!(e, Event::SessionRestored(_)))
        .expect("SessionRestored");
    assert!(h.events[restored].0 <= after[resync].at);

    // Second cycle: msg C re-sent after ResyncState with sequence 1 again.
    let tail: Vec<_> = h
        .sent
        .iter()
        .filter(|s| s.at >= secs(50.0) && s.kind != RequestKind::Messages)
        .collect();
    let kinds: Vec<RequestKind> = tail.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            RequestKind::Chat,
            RequestKind::ReconnectSession,
            RequestKind::ResyncState,
            RequestKind::Chat,
        ]
    );
    assert_eq!(tail[3].seq, Some(1));
    assert_eq!(tail[3].body, r#"{"text":"msg C"}"#);

    // The server saw each message exactly once.
    for text in ["msg A", "msg B", "msg C"] {
        let n = h
            .server
            .accepted
            .iter()
            .filter(|a| a.contains(&format!("\"text\":\"{text}\"")))
            .count();
        assert_eq!(n, 1, "{text}");
    }
    assert_eq!(h.agent_texts(), ["Hello!", "Got both."]);
    assert_eq!(h.session.state(), State::Chatting);
    assert_eq!(h.session.next_sequence(), 2);
}

#[test]
fn out_of_sync_409_resync() {
    let mut h = Harness::new(config());
    start_chat(&mut h, andy());
    h.act("send_message(\"one\")", |s| s.send_message("one"))
        .expect("one");
    h.run_until(5.0);
    h.server
        .script(RequestKind::Chat, Reply::OutOfSync { actual: 7 });
    h.act("send_message(\"two\")", |s| s.send_message("two"))
        .expect("two");
    h.run_until(6.0);
    h.act("send_message(\"three\")", |s| s.send_message("three"))
        .expect("three");
    h.run_until(7.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(seqs(&h), [Some(1), Some(2), Some(3), Some(8), Some(9)]);
    let chats = h.sent_of(RequestKind::Chat);
    assert_eq!(chats[1].body, r#"{"text":"two"}"#);
    assert_eq!(chats[2].body, chats[1].body, "the same batch is re-sent");
    assert_eq!(chats[2].at, secs(5.05), "re-sent at once");
    assert_eq!(chats[3].body, r#"{"text":"three"}"#);
    assert_eq!(h.session.next_sequence(), 10);
    let accepted_two = h
        .server
        .accepted
        .iter()
        .filter(|a| a.contains("\"two\""))
        .count();
    assert_eq!(accepted_two, 1);
    assert_eq!(h.session.state(), State::Chatting);
    assert_eq!(h.session.pending_commands(), 0);
}

#[test]
fn session_expired_403() {
    let mut h = Harness::new(config());
    start_chat(&mut h, andy());
    h.act("send_message(\"hello\")", |s| s.send_message("hello"))
        .expect("hello");
    h.answer_held_poll_at(10.0, 403, "Session required but was invalid or not found");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    match end_reason(&h) {
        EndReason::SessionInvalid { request, error } => {
            assert_eq!(request, RequestKind::Messages);
            assert_eq!(error.status(), 403);
        }
        other => panic!("unexpected end {other:?}"),
    }
    assert!(
        h.sent.iter().all(|s| s.at < secs(10.0)),
        "nothing sent after the 403"
    );
    assert_wait_none(&mut h);
    assert_eq!(h.session.send_message("again"), Err(CommandError::Ended));
    assert_eq!(h.session.end(), Err(CommandError::Ended));
}

#[test]
fn lost_poll_response() {
    let mut h = Harness::new(config());
    // Polls 1 and 2 get ChatRequestSuccess and ChatEstablished; poll 3's answer is lost in transit.
    h.server.script(RequestKind::Messages, Reply::Default);
    h.server.script(RequestKind::Messages, Reply::Default);
    h.server.script(RequestKind::Messages, Reply::Lose);
    start_chat(&mut h, andy());
    h.server
        .push_at(5.0, vec![agent_says("Are you still there?")]);
    h.run_until(10.0);
    // The POST slot works while the poll hangs.
    h.act("send_message(\"yes\")", |s| s.send_message("yes"))
        .expect("yes");
    h.run_until(50.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let polls = h.sent_of(RequestKind::Messages);
    assert_eq!(h.acks(), [-1, 0, 1, 1, 2], "retried with the same ack");
    let lost = polls[2];
    assert_eq!(lost.deadline - lost.at, Duration::from_secs(40 + 5));
    let retrying: Vec<_> = h
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Retrying {
                request,
                attempt,
                at,
                cause,
            } => Some((*t, *request, *attempt, *at, cause.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(retrying.len(), 1);
    let (t, request, attempt, at, cause) = retrying[0].clone();
    assert_eq!(t, lost.deadline);
    assert_eq!(
        (request, attempt, cause),
        (RequestKind::Messages, 1, Failure::NoAnswer)
    );
    assert_eq!(polls[3].at, h.offset(at));
    assert!(polls[3].at > lost.deadline);
    // Nothing lost, nothing doubled.
    assert_eq!(h.agent_texts(), ["Are you still there?"]);
    assert_eq!(h.sent_of(RequestKind::Chat).len(), 1);
    assert_eq!(h.session.ack(), 2);
    assert_eq!(h.session.state(), State::Chatting);
}

fn transport_errors_run(seed: u64) -> Harness {
    let mut cfg: Config = config().seed(seed);
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(500);
    retry.max_backoff = Duration::from_secs(4);
    retry.max_attempts = 5;
    retry.jitter_percent = 50;
    cfg.retry = retry;
    let mut h = Harness::new(cfg);
    start_chat(&mut h, andy());
    // A POST fails once in the transport and is retried with the same sequence number.
    h.server
        .script(RequestKind::Chat, Reply::TransportError(secs(0.1)));
    h.run_until(5.0);
    h.act("send_message(\"m1\")", |s| s.send_message("m1"))
        .expect("m1");
    h.run_until(8.0);
    // Then the network goes away for the poll: it fails at 10 s and on every retry.
    h.answer_held_poll_at(10.0, 0, "");
    for _ in 0..4 {
        h.server
            .script(RequestKind::Messages, Reply::TransportError(secs(0.2)));
    }
    h.run_to_end();
    h
}

#[test]
fn transport_errors_backoff_and_give_up() {
    let h = transport_errors_run(42);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    // The failed POST was re-sent with the same sequence number and body, then accepted.
    let chats = h.sent_of(RequestKind::Chat);
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0].seq, Some(2));
    assert_eq!(chats[1].seq, Some(2));
    assert_eq!(chats[0].body, chats[1].body);
    // The first attempt's outcome is unknown (a transport error: the server may have taken it), so the 2xx
    // of the re-send proves nothing: the session says so instead of reporting Delivered.
    let events = h.event_list();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::DeliveryUncertain(ids) if ids.len() == 1))
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Delivered(_))));

    // Poll retries: delays grow (capped exponential, jitter cuts at most 50 %), then the session gives up.
    let retries: Vec<(Duration, u32, Duration)> = h
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Retrying {
                request: RequestKind::Messages,
                attempt,
                at,
                ..
            } => Some((*t, *attempt, h.offset(*at) - *t)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries.iter().map(|r| r.1).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let mut prev = Duration::ZERO;
    for (_, attempt, delay) in &retries {
        let base = Duration::from_millis(500 * (1 << (attempt - 1))).min(Duration::from_secs(4));
        assert!(
            *delay <= base && *delay >= base / 2,
            "attempt {attempt}: {delay:?} vs {base:?}"
        );
        assert!(*delay >= prev, "delays grow");
        prev = *delay;
    }
    // Each retry is sent when its backoff expires, with the same ack.
    let polls = h.sent_of(RequestKind::Messages);
    let retry_polls = &polls[polls.len() - 4..];
    for (p, (t, _, d)) in retry_polls.iter().zip(&retries) {
        assert_eq!(p.at, *t + *d);
        assert_eq!(p.ack(), Some(1));
    }
    match end_reason(&h) {
        EndReason::GaveUp {
            request,
            attempts,
            last,
        } => {
            assert_eq!(request, RequestKind::Messages);
            assert_eq!(attempts, 5);
            assert_eq!(last, Failure::Transport(TransportError::Reset));
        }
        other => panic!("unexpected end {other:?}"),
    }

    // Jitter is deterministic from the seed: same seed, same run; another seed, other delays.
    let again = transport_errors_run(42);
    assert_eq!(again.transcript(), transcript);
    let other = transport_errors_run(43);
    assert_ne!(other.transcript(), transcript);
    assert!(matches!(
        other.session.end_reason(),
        Some(EndReason::GaveUp { attempts: 5, .. })
    ));
}

#[test]
fn visitor_ends_before_agent_accepts() {
    let mut h = Harness::new(config());
    h.server.push_at(
        1.0,
        vec![msg(
            "ChatRequestSuccess",
            json!({"queuePosition": 4, "estimatedWaitTime": 300}),
        )],
    );
    h.run_until(3.0);
    assert_eq!(h.session.state(), State::Queued);
    h.act("end()", |s| s.end()).expect("end");
    assert_eq!(h.session.state(), State::Deleting);
    assert_eq!(h.session.end(), Ok(()), "a second end() is harmless");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let deletes = h.sent_of(RequestKind::DeleteSession);
    assert_eq!(deletes.len(), 1);
    let d = deletes[0];
    assert_eq!(d.method, "DELETE");
    // The harness checked that the path segment is exactly the (percent-encoded) session key.
    assert_eq!(d.path, "/chat/rest/System/SessionId/<key>");
    assert_eq!(d.affinity.as_deref(), Some("aff-1"));
    assert!(d.has_key);
    assert!(
        h.sent_of(RequestKind::Chat).is_empty(),
        "no ChatEnd before establishment"
    );
    assert_eq!(stale_count(&h), 1, "the abandoned poll's answer was stale");
    assert_eq!(
        end_reason(&h),
        EndReason::VisitorEnded {
            attached_records: None
        }
    );
    assert!(h.sent.iter().all(|s| s.at <= secs(3.0)));
    assert_wait_none(&mut h);
}

#[test]
fn agent_ends_chat() {
    let mut h = Harness::new(config());
    start_chat(&mut h, andy());
    h.server.push_at(5.0, vec![agent_says("Anything else?")]);
    h.run_until(8.0);
    h.act("send_message(\"No, thanks\")", |s| {
        s.send_message("No, thanks")
    })
    .expect("sent");
    h.server.push_at(
        15.0,
        vec![
            agent_says("Goodbye!"),
            msg(
                "ChatEnded",
                json!({"reason": "agent", "attachedRecords": []}),
            ),
        ],
    );
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(
        end_reason(&h),
        EndReason::AgentEnded {
            reason: Some("agent".into()),
            attached_records: Some(json!([]))
        }
    );
    assert_eq!(h.agent_texts(), ["Anything else?", "Goodbye!"]);
    assert!(
        h.sent.iter().all(|s| s.at <= secs(8.05)),
        "nothing sent after ChatEnded"
    );
    assert!(h.sent_of(RequestKind::Chat).len() == 1);
    assert_eq!(h.session.send_message("wait"), Err(CommandError::Ended));
    assert_wait_none(&mut h);
}

#[test]
fn idle_timeout() {
    // Salesforce's Customer Time-Out: the timer starts with an agent message and stops when the visitor
    // replies; the warning comes at warningTime, the end at timeout.
    let mut h = Harness::new(config());
    let mut agent = andy();
    agent["chasitorIdleTimeout"] = json!({"isEnabled": true, "warningTime": 30, "timeout": 60});
    h.server.on_noun(
        "ChatEnd",
        0.5,
        vec![msg("ChatEnded", json!({"reason": "clientIdleTimeout"}))],
    );
    start_chat(&mut h, agent);
    h.server.push_at(
        5.0,
        vec![msg(
            "ChatMessage",
            json!({"name": "Andy L.", "text": "Are you there?"}),
        )],
    );
    h.server.push_at(
        50.0,
        vec![msg(
            "ChatMessage",
            json!({"name": "Andy L.", "text": "Anything else?"}),
        )],
    );
    h.run_until(4.0);
    assert_eq!(
        h.session.poll_timeout().map(|t| h.offset(t) > secs(30.0)),
        Some(true),
        "no idle timer before the agent speaks"
    );
    h.run_until(40.0);
    h.act("send_message(\"Sorry, still here\")", |s| {
        s.send_message("Sorry, still here")
    })
    .expect("sent");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    // Agent message at 5.05 s: warning at +30 s, end planned at +60 s; the reply at 40 s stops the timer;
    // the next agent message at 50.05 s starts it again.
    let warnings: Vec<(Duration, Duration)> = h
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::IdleWarning { ends_at } => Some((*t, h.offset(*ends_at))),
            _ => None,
        })
        .collect();
    assert_eq!(
        warnings,
        [(secs(35.05), secs(65.05)), (secs(80.05), secs(110.05))]
    );
    assert_eq!(
        h.event_list()
            .iter()
            .filter(|e| matches!(e, Event::IdleWarningCleared))
            .count(),
        1
    );
    let chats: Vec<(Duration, &str, Option<u64>, &str)> = h
        .sent_of(RequestKind::Chat)
        .iter()
        .map(|s| (s.at, s.path.as_str(), s.seq, s.body.as_str()))
        .collect();
    assert_eq!(
        chats,
        [
            (
                secs(35.05),
                "/chat/rest/Chasitor/ChasitorIdleTimeoutWarningEvent",
                Some(2),
                r#"{"idleTimeoutWarningEvent":"triggered"}"#
            ),
            (
                secs(40.0),
                "/chat/rest/System/MultiNoun",
                Some(3),
                r#"{"nouns":[{"prefix":"Chasitor","noun":"ChasitorIdleTimeoutWarningEvent","object":{"idleTimeoutWarningEvent":"cleared"}},{"prefix":"Chasitor","noun":"ChatMessage","object":{"text":"Sorry, still here"}}]}"#
            ),
            (
                secs(80.05),
                "/chat/rest/Chasitor/ChasitorIdleTimeoutWarningEvent",
                Some(4),
                r#"{"idleTimeoutWarningEvent":"triggered"}"#
            ),
            (
                secs(110.05),
                "/chat/rest/Chasitor/ChatEnd",
                Some(5),
                r#"{"reason":"clientIdleTimeout"}"#
            ),
        ]
    );
    assert_eq!(end_reason(&h), EndReason::IdleTimeout);
    assert_wait_none(&mut h);
}

#[test]
fn switch_server() {
    const NEW_HOST: &str = "d.la2-c2-ia4.salesforceliveagent.com";
    let mut h = Harness::new(config());
    start_chat(&mut h, andy());
    h.server.push_at(
        5.0,
        vec![msg(
            "SwitchServer",
            json!({"newUrl": format!("https://{NEW_HOST}/chat")}),
        )],
    );
    h.server.push_at(10.0, vec![agent_says("Still with you.")]);
    h.run_until(8.0);
    assert_eq!(h.session.endpoint().host(), NEW_HOST);
    h.act("send_message(\"Great\")", |s| s.send_message("Great"))
        .expect("sent");
    h.run_until(11.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert!(
        h.event_list()
            .iter()
            .any(|e| matches!(e, Event::ServerSwitched(ep) if ep.host() == NEW_HOST))
    );
    for s in &h.sent {
        let expected = if s.at > secs(5.0) {
            NEW_HOST
        } else {
            harness::HOST
        };
        assert_eq!(s.host, expected, "{s:?}");
        let affinity = if s.kind == RequestKind::SessionId {
            "null"
        } else {
            "aff-1"
        };
        assert_eq!(
            s.affinity.as_deref(),
            Some(affinity),
            "the token survives the switch"
        );
    }
    assert!(
        h.sent
            .iter()
            .any(|s| s.at > secs(5.0) && s.kind == RequestKind::Chat)
    );
    assert!(
        h.sent
            .iter()
            .any(|s| s.at > secs(5.0) && s.kind == RequestKind::Messages)
    );
    assert_eq!(h.agent_texts(), ["Still with you."]);
}

#[test]
fn persist_and_resume() {
    let mut h = Harness::new(config());
    start_chat(&mut h, andy());
    h.server.push_at(4.0, vec![agent_says("How can I help?")]);
    h.run_until(5.0);
    // The server processes this POST, but its answer never arrives before the process dies.
    h.server.script(RequestKind::Chat, Reply::Lose);
    h.act("send_message(\"Are you there?\")", |s| {
        s.send_message("Are you there?")
    })
    .expect("sent");
    h.run_until(6.0);
    let ack_before = h.session.ack();
    let post_before = h.sent_of(RequestKind::Chat)[0].clone();
    let max_id_before = h.sent.iter().map(|s| s.id).max().expect("ids");

    let snapshot = h.session.snapshot();
    let debug = format!("{snapshot:?}");
    assert!(!debug.contains(KEY) && !debug.contains("SECRET"), "{debug}");
    assert!(!debug.contains("aff-1"), "{debug}");
    let stored = serde_json::to_string(&snapshot).expect("serialize");
    assert!(
        stored.contains(KEY),
        "the snapshot must keep the key to resume"
    );
    let restored: SessionSnapshot = serde_json::from_str(&stored).expect("deserialize");
    h.note("snapshot taken and serialized; the process dies");

    h.t = secs(10.0);
    h.restart(|now| Session::resume(config(), restored, now).expect("resumes"));
    h.server.push_at(12.0, vec![agent_says("Yes, I'm here.")]);
    h.server.on_noun(
        "ChatEnd",
        0.2,
        vec![msg("ChatEnded", json!({"reason": "client"}))],
    );
    h.run_until(15.0);
    h.act("end()", |s| s.end()).expect("end");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let after: Vec<_> = h.sent.iter().filter(|s| s.at >= secs(10.0)).collect();
    assert!(
        after.iter().all(|s| s.id > max_id_before),
        "request ids continue"
    );
    let resent = after
        .iter()
        .find(|s| s.kind == RequestKind::Chat)
        .expect("re-sent POST");
    assert_eq!(resent.seq, post_before.seq, "same sequence number");
    assert_eq!(resent.body, post_before.body);
    assert_eq!(resent.at, secs(10.0));
    let poll = after
        .iter()
        .find(|s| s.kind == RequestKind::Messages)
        .expect("poll re-issued");
    assert_eq!(poll.ack(), Some(ack_before));
    assert_eq!(poll.at, secs(10.0));
    assert_eq!(poll.affinity.as_deref(), Some("aff-1"));
    // The POST was in flight when the snapshot was taken: whether it reached the server is unknown, so its
    // eventual 2xx is reported as uncertain, not as delivered.
    assert!(
        h.event_list()
            .iter()
            .any(|e| matches!(e, Event::DeliveryUncertain(ids) if ids.len() == 1))
    );
    // The server de-duplicated the re-sent POST by its sequence number.
    let n = h
        .server
        .accepted
        .iter()
        .filter(|a| a.contains("Are you there?"))
        .count();
    assert_eq!(n, 1);
    assert_eq!(h.agent_texts(), ["How can I help?", "Yes, I'm here."]);
    assert_eq!(
        seqs(&h).last(),
        Some(&Some(3)),
        "ChatEnd continues the numbering"
    );
    assert!(matches!(
        h.session.end_reason(),
        Some(EndReason::VisitorEnded { .. })
    ));
}

#[test]
fn time_backwards_and_huge_jump() {
    let mut h = Harness::new(config());
    start_chat(&mut h, andy());
    h.run_until(10.0);
    // Tell the session it is 10 s (run_until does not wake it when nothing is due).
    h.drain();
    let at10 = h.now();

    // An earlier `now` is clamped to the latest seen.
    h.note("handle_timeout(+1.000s): earlier than the latest now");
    h.session.handle_timeout(h.instant(secs(1.0)));
    assert!(h.session.poll_timeout().is_none_or(|t| t > at10));
    h.session.send_message("from the past").expect("sent");
    h.note("send_message(\"from the past\"); poll_output(+0.500s)");
    let req = match h.session.poll_output(h.instant(secs(0.5))) {
        Output::Request(r) => r,
        other => panic!("expected the POST, got {other:?}"),
    };
    assert_eq!(req.kind, RequestKind::Chat);
    let line = format!(
        "  → {} {} [{}] deadline {}",
        req.http.method(),
        req.http.uri().path(),
        req.id,
        harness::ts(h.offset(req.deadline))
    );
    h.note(&line);
    assert!(
        req.deadline >= at10 + Duration::from_secs(30),
        "deadline computed from the clamped time"
    );
    let earlier = h.instant(secs(0.2));
    let r = h
        .session
        .handle_response(
            req.id,
            liveagent::http::Response::new(Vec::<u8>::new()),
            earlier,
        )
        .expect("known id");
    assert_eq!(r, Handled::Accepted);
    h.note("handle_response(200) at +0.200s → Accepted");
    assert!(
        h.session
            .handle_transport_error(liveagent::RequestId(999), TransportError::Other, earlier)
            .is_err()
    );
    h.drain();
    assert!(
        h.event_list()
            .iter()
            .any(|e| matches!(e, Event::Delivered(_)))
    );

    // A huge jump: a hundred years later. The held poll is past its deadline and is retried.
    let jump = secs(10.0) + Duration::from_secs(100 * 365 * 24 * 3600);
    h.t = jump;
    h.note("the clock jumps a hundred years");
    h.timeout();
    assert!(h.event_list().iter().any(|e| matches!(
        e,
        Event::Retrying {
            request: RequestKind::Messages,
            attempt: 1,
            ..
        }
    )));
    let later = jump.as_secs_f64() + 2.0;
    h.server.push_at(later, vec![agent_says("Welcome back.")]);
    h.run_until(later + 1.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.agent_texts(), ["Welcome back."]);
    assert_eq!(h.session.state(), State::Chatting);
    // The poll answered after the jump carries the same ack as before it.
    let polls = h.sent_of(RequestKind::Messages);
    assert_eq!(polls[polls.len() - 2].ack(), Some(1));

    // The largest `Timestamp` the platform has: nothing may panic there either.
    let base = h.now();
    let mut step = Duration::from_secs(1 << 62);
    let mut far = base;
    while !step.is_zero() {
        if let Some(t) = far.checked_add(step) {
            far = t;
        } else {
            step /= 2;
        }
    }
    h.session.handle_timeout(far);
    // At the very last `Timestamp` no later wake-up exists, so the "poll_timeout() > now" guarantee cannot hold
    // there. What must hold: no panic, and a driver looping at that instant cannot spin forever: every
    // request expires at once and the retry budget ends the session.
    let mut rounds = 0;
    while h.session.end_reason().is_none() && rounds < 1000 {
        rounds += 1;
        loop {
            match h.session.poll_output(far) {
                Output::Wait(_) => break,
                _ => continue,
            }
        }
        h.session.handle_timeout(far);
    }
    assert!(
        matches!(h.session.end_reason(), Some(EndReason::GaveUp { .. })),
        "{:?} after {rounds} rounds",
        h.session.end_reason()
    );
    assert_eq!(
        h.session.send_message("still alive?"),
        Err(CommandError::Ended)
    );
    let last = loop {
        match h.session.poll_output(far) {
            Output::Wait(w) => break w,
            Output::Request(r) => panic!("request after the end: {r:?}"),
            _ => continue,
        }
    };
    assert_eq!(last, None);
}
