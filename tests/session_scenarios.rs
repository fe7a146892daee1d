//! Deterministic scenario tests of the visitor `Session` against the simulator (`sim::Pair`, through
//! `tests/common/scenario.rs`): a virtual clock, every answer 50 ms after its request, an agent scripted at
//! virtual times, faults from the simulator's fault plan, and a readable transcript per scenario, plus explicit
//! assertions on the behaviour. The scenario checks after every step that `poll_timeout()` is `None` or later
//! than `now` after `handle_timeout(now)`, that every deadline is in the future, and that at most one poll and
//! one POST are in flight. A clock that runs backwards or jumps a hundred years (the client's clock, not the
//! server's) is driven by hand on the test kit's harness (`tests/common/scripted.rs`).

mod common;

use common::scenario::{HOST, NEW_HOST, ORG, Scenario, agent_at, config, secs, sim};
use common::scripted::{KEY, Scripted, batch, msg, t};
use liveagent::sim::Credential::{Absent, Issued, Null};
use liveagent::sim::{AgentAction, Fault, FaultKind, SimConfig, Trigger, offset_for_index};
use liveagent::{
    CommandError, Config, EndReason, Event, Failure, Handled, Output, RequestKind, RetryPolicy,
    Session, SessionSnapshot, State, TransportError,
};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

fn ryan() -> Value {
    json!({"name": "Ryan S.", "userId": "005B0000000F3c9", "sneakPeekEnabled": false})
}

fn say(text: &str) -> AgentAction {
    AgentAction::Say { text: text.into() }
}

/// The agent sends this message as given.
fn emit(kind: &str, payload: Value) -> AgentAction {
    let m = json!({"type": kind, "message": payload}).to_string();
    AgentAction::Emit(Box::new(serde_json::from_str(&m).expect("a message")))
}

/// The simulator's ChatRequestSuccess comes on ChasitorInit; the agent accepts at 2 s, then does `then`.
fn chat(then: Vec<(f64, AgentAction)>) -> SimConfig {
    let mut steps = vec![(2.0, AgentAction::Accept)];
    steps.extend(then);
    sim().with_agent(agent_at(steps))
}

/// Runs to 3 s: the chat is established (ChatEstablished delivered at 2.05 s, the poll with ack=1 held).
fn start_chat(h: &mut Scenario) {
    h.run_until(3.0);
    assert_eq!(h.session().state(), State::Chatting);
}

fn end_reason(h: &Scenario) -> EndReason {
    h.session()
        .end_reason()
        .cloned()
        .expect("the session ended")
}

fn assert_wait_none(h: &mut Scenario) {
    let now = h.now();
    assert!(matches!(
        h.session_mut().poll_output(now),
        Output::Wait(None)
    ));
    assert_eq!(h.session().poll_timeout(), None);
    assert_eq!(h.session().in_flight().count(), 0);
}

// ------------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------------

#[test]
fn happy_path() {
    let records = json!([{"fieldName": "CaseId", "fieldValue": "500xx000000abcD"}]);
    let mut agent = agent_at(vec![
        (5.0, AgentAction::Accept),
        (8.0, AgentAction::Typing),
        (9.5, say("Hi Jon, let me check that for you.")),
    ]);
    agent.queue_position = 1;
    agent.attached_records = records.clone();
    let mut h = Scenario::new(sim().with_agent(agent));
    h.run_until(2.0);
    assert_eq!(h.session().state(), State::Queued);

    // Queued before establishment: must wait for ChatEstablished (spec §2 step 5).
    let early = h
        .act("send_message(\"Hello, I need help with my order\")", |s| {
            s.send_message("Hello, I need help with my order")
        })
        .expect("accepted");
    h.run_until(4.99);
    assert!(
        h.sent_of(RequestKind::Chat).is_empty(),
        "sent before ChatEstablished"
    );

    h.run_until(12.0);
    h.act("set_typing(true)", |s| s.set_typing(true))
        .expect("typing");
    // The typing POST is in flight: these two go together in one MultiNoun with one sequence number.
    h.act("send_message(\"Order 42\")", |s| s.send_message("Order 42"))
        .expect("message");
    h.act("set_typing(false)", |s| s.set_typing(false))
        .expect("typing");

    // The poll held since 9.55 s ends with a 204 at 39.55 s that is on its way until 39.6 s: ChatEnd at
    // 39.58 s finds no poll at the server for ChatEnded, so the "one more poll" after ChatEnd is what gets it.
    h.run_until(39.58);
    h.act("end()", |s| s.end()).expect("end");
    assert_eq!(h.session().state(), State::Ending);
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    // Lifecycle and sequencing.
    let kinds: Vec<RequestKind> = h.sent().iter().map(|s| s.kind).collect();
    assert_eq!(kinds[0], RequestKind::SessionId);
    assert_eq!(kinds[1], RequestKind::ChasitorInit);
    assert_eq!(h.sent()[0].affinity, Null);
    assert_eq!(h.sent()[0].session_key, Absent);
    assert!(
        h.sent()[1..]
            .iter()
            .all(|s| s.affinity == Issued(1) && s.session_key == Issued(1))
    );
    let paths: Vec<&str> = h.posts().into_iter().map(|(p, _)| p).collect();
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
    assert_eq!(h.seqs(), [Some(1), Some(2), Some(3), Some(4), Some(5)]);
    let init: Value = serde_json::from_str(&h.sent()[1].body).expect("json");
    assert_eq!(init["sessionId"], h.session_id().as_str());
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
    let pcs: Vec<i64> = h
        .sent_of(RequestKind::Messages)
        .iter()
        .map(|s| s.query_param("pc").expect("pc"))
        .collect();
    assert_eq!(pcs, [0, 1, 2, 3, 4, 5]);
    // The last poll was issued after ChatEnd had been sent.
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
    assert!(
        !h.session().agent_typing(),
        "an agent message clears typing"
    );
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
    // ChatRequestSuccess (queue position 3, wait unknown: -1) comes on ChasitorInit.
    let mut agent = agent_at(vec![
        (
            10.0,
            emit(
                "QueueUpdate",
                json!({"position": 2, "estimatedWaitTime": 75.5}),
            ),
        ),
        (
            20.0,
            emit(
                "QueueUpdate",
                json!({"position": 1, "estimatedWaitTime": 30}),
            ),
        ),
        // Nothing for 40 s: the held poll comes back 204 at 50.1 s and is re-issued with the same ack.
        (
            60.0,
            emit(
                "QueueUpdate",
                json!({"position": 0, "estimatedWaitTime": -1}),
            ),
        ),
        (60.0, AgentAction::Accept),
    ]);
    agent.queue_position = 3;
    let mut h = Scenario::new(sim().with_agent(agent));
    h.run_until(15.0);
    assert_eq!(h.session().state(), State::Queued);
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
            (Some(3), Some(-1.0)),
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
    assert_eq!(h.session().state(), State::Chatting);
    // The offset of the batch with sequence 4, as the simulator numbers offsets.
    assert_eq!(h.session().offset(), Some(offset_for_index(4)));
}

#[test]
fn request_failed() {
    let mut agent = agent_at(vec![(
        6.0,
        AgentAction::Decline {
            reason: "Unavailable".into(),
        },
    )]);
    agent.queue_position = 1;
    let mut h = Scenario::new(sim().with_agent(agent));
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
    assert!(h.sent().iter().all(|s| s.at <= secs(6.05)));
    assert_eq!(h.session().state(), State::Ended);
    assert_eq!(
        h.session_mut().send_message("hello?"),
        Err(CommandError::Ended)
    );
    assert_wait_none(&mut h);
}

#[test]
fn transfer() {
    let mut h = Scenario::new(chat(vec![
        (5.0, say("Let me transfer you to billing.")),
        (10.0, emit("ChatTransferred", ryan())),
        (
            15.0,
            emit(
                "ChatMessage",
                json!({"name": "Ryan S.", "text": "Billing here, how can I help?"}),
            ),
        ),
    ]));
    start_chat(&mut h);
    assert_eq!(
        h.session().agent().and_then(|a| a.name.as_deref()),
        Some("Andy L.")
    );
    h.run_until(12.0);
    let agent = h.session().agent().expect("agent");
    assert_eq!(agent.name.as_deref(), Some("Ryan S."));
    assert_eq!(agent.user_id.as_deref(), Some("005B0000000F3c9"));
    h.act("send_message(\"Hi Ryan\")", |s| s.send_message("Hi Ryan"))
        .expect("sent");
    h.run_until(16.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.session().state(), State::Chatting);
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
    assert_eq!(h.seqs(), [Some(1), Some(2)]);
    assert!(h.sent_of(RequestKind::Chat)[0].at == secs(12.0));
}

#[test]
fn agent_disconnect_and_pickup() {
    let mut h = Scenario::new(chat(vec![
        (5.0, AgentAction::Typing),
        (6.0, AgentAction::Disconnect),
        // Another agent picks the chat up.
        (20.0, emit("ChatEstablished", ryan())),
    ]));
    start_chat(&mut h);
    h.run_until(7.0);
    assert_eq!(h.session().state(), State::AgentDisconnected);
    assert!(!h.session().agent_typing(), "a disconnect clears typing");
    h.act("send_message(\"Hello? Is anyone there?\")", |s| {
        s.send_message("Hello? Is anyone there?")
    })
    .expect("queued");
    h.run_until(19.9);
    assert!(
        h.sent_of(RequestKind::Chat).is_empty(),
        "commands wait while disconnected"
    );
    assert_eq!(h.session().pending_commands(), 1);
    h.run_until(22.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.session().state(), State::Chatting);
    assert_eq!(
        h.session().agent().and_then(|a| a.name.as_deref()),
        Some("Ryan S.")
    );
    let chats = h.sent_of(RequestKind::Chat);
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].at, secs(20.05));
    assert_eq!(chats[0].sequence, Some(2));
    assert_eq!(h.session().pending_commands(), 0);
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
    assert!(h.session().end_reason().is_none());
}

#[test]
fn handover_503_mid_chat() {
    let sim = chat(vec![(4.0, say("Hello!")), (10.0, say("Got both."))])
        // The old server is going away: the POST of "msg A" (the second POST) is answered 503 only after
        // 2.5 s (too late to matter), unprocessed.
        .with_fault(Fault::for_session(
            0,
            Trigger::Post(2),
            FaultKind::ServerErrors {
                count: 1,
                status: 503,
            },
        ))
        .with_fault(Fault::for_session(
            0,
            Trigger::Post(2),
            FaultKind::DelayReply(secs(2.5)),
        ))
        // The handover: the held poll is answered 503 at 7 s.
        .with_fault(Fault::for_session(
            0,
            Trigger::After(secs(7.0)),
            FaultKind::Handover,
        ))
        // A second one at 50 s, on the next request: the POST of "msg C", while the poll is held.
        .with_fault(Fault::for_session(
            0,
            Trigger::After(secs(50.0)),
            FaultKind::ServerErrors {
                count: 1,
                status: 503,
            },
        ));
    let mut h = Scenario::new(sim);
    // Late answers to abandoned requests reach the session.
    h.set_deliver_abandoned(true);
    start_chat(&mut h);
    h.run_until(6.0);
    assert_eq!(h.session().offset(), Some(offset_for_index(2)));

    h.act("send_message(\"msg A\")", |s| s.send_message("msg A"))
        .expect("A");
    h.run_until(6.5);
    h.act("send_message(\"msg B\")", |s| s.send_message("msg B"))
        .expect("B");
    h.run_until(7.05);
    // Right after the 503: the POST is abandoned, only ReconnectSession goes out.
    assert!(h.session().is_reconnecting());
    h.run_until(20.0);
    assert!(!h.session().is_reconnecting());

    // A second handover, this time on a POST while the poll is held (a 204 at 40.1 s came in between).
    h.run_until(50.0);
    h.act("send_message(\"msg C\")", |s| s.send_message("msg C"))
        .expect("C");
    h.run_until(52.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    // Two late answers to abandoned requests were ignored: the first POST's 503 and the poll the second
    // reconnect found still held (503 from the old server).
    assert_eq!(h.stale_count(), 2);

    let reconnects = h.sent_of(RequestKind::ReconnectSession);
    assert_eq!(reconnects.len(), 2);
    for r in &reconnects {
        assert_eq!(r.affinity, Null);
        assert_eq!(r.session_key, Issued(1));
        assert_eq!(r.sequence, None);
    }
    // The offset of the last batch that had messages (a 204 carries none): sequences 2 and 4.
    assert_eq!(
        reconnects[0].path,
        format!(
            "/chat/rest/System/ReconnectSession?ReconnectSession.offset={}",
            offset_for_index(2)
        )
    );
    assert_eq!(
        reconnects[1].path,
        format!(
            "/chat/rest/System/ReconnectSession?ReconnectSession.offset={}",
            offset_for_index(4)
        )
    );
    // Sent when the poll's 503 arrived: the handover at 7 s plus the answer latency.
    let first_503 = h
        .replies()
        .iter()
        .find(|r| r.kind == RequestKind::Messages && r.status == Some(503))
        .expect("the poll's 503")
        .at;
    assert_eq!(first_503, secs(7.05));
    assert_eq!(reconnects[0].at, first_503);

    // After each reconnect every request carries the new token.
    for s in h.sent() {
        let expected =
            if s.kind == RequestKind::ReconnectSession || s.kind == RequestKind::SessionId {
                Null
            } else if s.at > reconnects[1].at {
                Issued(3)
            } else if s.at > reconnects[0].at {
                Issued(2)
            } else {
                Issued(1)
            };
        assert_eq!(s.affinity, expected, "{s:?}");
    }

    // First cycle: nothing but ReconnectSession and polls until ChasitorSessionData; then ResyncState (no
    // sequence) before the re-sent commands, which go in order with the reset numbering.
    let after: Vec<_> = h
        .sent()
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
    assert_eq!(after[resync].sequence, None);
    assert_eq!(
        after[resync].body,
        format!(r#"{{"organizationId":"{ORG}"}}"#)
    );
    let resent: Vec<(&str, Option<u64>)> = after[resync + 1..]
        .iter()
        .filter(|s| s.kind == RequestKind::Chat)
        .map(|s| (s.body.as_str(), s.sequence))
        .collect();
    assert_eq!(
        resent,
        [
            (r#"{"text":"msg A"}"#, Some(1)),
            (r#"{"text":"msg B"}"#, Some(2))
        ]
    );
    let restored = h
        .events()
        .iter()
        .find(|(_, e)| matches!(e, Event::SessionRestored(_)))
        .expect("SessionRestored")
        .0;
    assert!(restored <= after[resync].at);

    // Second cycle: msg C re-sent after ResyncState with sequence 1 again.
    let tail: Vec<_> = h
        .sent()
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
    assert_eq!(tail[3].sequence, Some(1));
    assert_eq!(tail[3].body, r#"{"text":"msg C"}"#);

    // The server saw each message exactly once.
    for text in ["msg A", "msg B", "msg C"] {
        assert_eq!(h.accepted(text), 1, "{text}");
    }
    assert_eq!(h.agent_texts(), ["Hello!", "Got both."]);
    assert_eq!(h.session().state(), State::Chatting);
    assert_eq!(h.session().next_sequence(), 2);
}

#[test]
fn out_of_sync_409_resync() {
    // When "two" (the third POST) arrives, the server's counter jumps from 2 to 7: 409 "Expected 3. Actual 7".
    let mut h = Scenario::new(chat(Vec::new()).with_fault(Fault::for_session(
        0,
        Trigger::Post(3),
        FaultKind::SequenceDrift(5),
    )));
    start_chat(&mut h);
    h.act("send_message(\"one\")", |s| s.send_message("one"))
        .expect("one");
    h.run_until(5.0);
    h.act("send_message(\"two\")", |s| s.send_message("two"))
        .expect("two");
    h.run_until(6.0);
    h.act("send_message(\"three\")", |s| s.send_message("three"))
        .expect("three");
    h.run_until(7.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.seqs(), [Some(1), Some(2), Some(3), Some(8), Some(9)]);
    let chats = h.sent_of(RequestKind::Chat);
    assert_eq!(chats[1].body, r#"{"text":"two"}"#);
    assert_eq!(chats[2].body, chats[1].body, "the same batch is re-sent");
    assert_eq!(chats[2].at, secs(5.05), "re-sent at once");
    assert_eq!(chats[3].body, r#"{"text":"three"}"#);
    assert_eq!(h.session().next_sequence(), 10);
    assert_eq!(h.accepted("two"), 1);
    assert_eq!(h.session().state(), State::Chatting);
    assert_eq!(h.session().pending_commands(), 0);
}

#[test]
fn session_expired_403() {
    // At 10 s the session expires on the server: the held poll is answered 403.
    let mut h = Scenario::new(chat(Vec::new()).with_fault(Fault::for_session(
        0,
        Trigger::After(secs(10.0)),
        FaultKind::Expire,
    )));
    start_chat(&mut h);
    h.act("send_message(\"hello\")", |s| s.send_message("hello"))
        .expect("hello");
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
        h.sent().iter().all(|s| s.at < secs(10.0)),
        "nothing sent after the 403"
    );
    assert_wait_none(&mut h);
    assert_eq!(
        h.session_mut().send_message("again"),
        Err(CommandError::Ended)
    );
    assert_eq!(h.session_mut().end(), Err(CommandError::Ended));
}

#[test]
fn lost_poll_response() {
    let mut h = Scenario::new(chat(vec![(5.0, say("Are you still there?"))]));
    // Polls 1 and 2 get ChatRequestSuccess and ChatEstablished; poll 3's answer is lost in transit (the
    // server delivered the message and holds no poll).
    let mut polls = 0;
    h.set_reply_tap(move |info, reply| {
        if info.kind == RequestKind::Messages {
            polls += 1;
            if polls == 3 {
                return None;
            }
        }
        Some(reply)
    });
    start_chat(&mut h);
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
        .events()
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
    assert_eq!(polls[3].at, h.at(at));
    assert!(polls[3].at > lost.deadline);
    // Nothing lost, nothing doubled.
    assert_eq!(h.agent_texts(), ["Are you still there?"]);
    assert_eq!(h.sent_of(RequestKind::Chat).len(), 1);
    assert_eq!(h.session().ack(), 2);
    assert_eq!(h.session().state(), State::Chatting);
}

fn transport_errors_run(seed: u64) -> Scenario {
    let sim = chat(Vec::new())
        // A POST fails once in the transport (the server never saw it) and is retried with the same number.
        .with_fault(Fault::for_session(
            0,
            Trigger::Post(2),
            FaultKind::Unreachable {
                count: 1,
                after: secs(0.1),
            },
        ))
        // Then the network goes away for the poll: the held poll fails at 10 s, and so does every retry.
        .with_fault(Fault::for_session(
            0,
            Trigger::After(secs(10.0)),
            FaultKind::Unreachable {
                count: 5,
                after: secs(0.2),
            },
        ));
    let mut cfg: Config = config(&sim).seed(seed);
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(500);
    retry.max_backoff = Duration::from_secs(4);
    retry.max_attempts = 5;
    retry.jitter_percent = 50;
    cfg.retry = retry;
    let mut h = Scenario::with_config(cfg, sim);
    start_chat(&mut h);
    h.run_until(5.0);
    h.act("send_message(\"m1\")", |s| s.send_message("m1"))
        .expect("m1");
    h.run_until(8.0);
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
    assert_eq!(chats[0].sequence, Some(2));
    assert_eq!(chats[1].sequence, Some(2));
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
        .events()
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Retrying {
                request: RequestKind::Messages,
                attempt,
                at,
                ..
            } => Some((*t, *attempt, h.at(*at) - *t)),
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
        assert_eq!(p.query_param("ack"), Some(1));
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
        other.session().end_reason(),
        Some(EndReason::GaveUp { attempts: 5, .. })
    ));
}

#[test]
fn visitor_ends_before_agent_accepts() {
    let mut agent = agent_at(Vec::new());
    agent.queue_position = 4;
    let mut h = Scenario::new(sim().with_agent(agent));
    // The abandoned poll's late answer reaches the session.
    h.set_deliver_abandoned(true);
    h.run_until(3.0);
    assert_eq!(h.session().state(), State::Queued);
    h.act("end()", |s| s.end()).expect("end");
    assert_eq!(h.session().state(), State::Deleting);
    assert_eq!(h.session_mut().end(), Ok(()), "a second end() is harmless");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let deletes = h.sent_of(RequestKind::DeleteSession);
    assert_eq!(deletes.len(), 1);
    let d = deletes[0];
    assert_eq!(d.method, "DELETE");
    assert_eq!(d.path, "/chat/rest/System/SessionId/<key>");
    // The server found the session by the key in the path and deleted it.
    let record = h.server().session_by_index(0).expect("the chat");
    assert_eq!(
        record.state,
        liveagent::sim::SessionState::Ended(liveagent::sim::ServerEnd::Deleted)
    );
    assert_eq!(d.affinity, Issued(1));
    assert_eq!(d.session_key, Issued(1));
    assert!(
        h.sent_of(RequestKind::Chat).is_empty(),
        "no ChatEnd before establishment"
    );
    assert_eq!(h.stale_count(), 1, "the abandoned poll's answer was stale");
    assert_eq!(
        end_reason(&h),
        EndReason::VisitorEnded {
            attached_records: None
        }
    );
    assert!(h.sent().iter().all(|s| s.at <= secs(3.0)));
    assert_wait_none(&mut h);
}

#[test]
fn agent_ends_chat() {
    let mut h = Scenario::new(chat(vec![
        (5.0, say("Anything else?")),
        (15.0, say("Goodbye!")),
        (15.0, AgentAction::End),
    ]));
    start_chat(&mut h);
    h.run_until(8.0);
    h.act("send_message(\"No, thanks\")", |s| {
        s.send_message("No, thanks")
    })
    .expect("sent");
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
        h.sent().iter().all(|s| s.at <= secs(8.05)),
        "nothing sent after ChatEnded"
    );
    assert!(h.sent_of(RequestKind::Chat).len() == 1);
    assert_eq!(
        h.session_mut().send_message("wait"),
        Err(CommandError::Ended)
    );
    assert_wait_none(&mut h);
}

#[test]
fn idle_timeout() {
    // Salesforce's Customer Time-Out: the timer starts with an agent message and stops when the visitor
    // replies; the warning comes at warningTime, the end at timeout.
    let mut agent = agent_at(vec![
        (2.0, AgentAction::Accept),
        (5.0, say("Are you there?")),
        (50.0, say("Anything else?")),
    ]);
    agent.agent.idle_timeout = Some(
        serde_json::from_value(json!({"isEnabled": true, "warningTime": 30, "timeout": 60}))
            .expect("settings"),
    );
    let mut h = Scenario::new(sim().with_agent(agent));
    start_chat(&mut h);
    h.run_until(4.0);
    assert_eq!(
        h.session().poll_timeout().map(|t| h.at(t) > secs(30.0)),
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
        .events()
        .iter()
        .filter_map(|(t, e)| match e {
            Event::IdleWarning { ends_at } => Some((*t, h.at(*ends_at))),
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
        .map(|s| (s.at, s.path.as_str(), s.sequence, s.body.as_str()))
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
    // At 5 s the org moves: SwitchServer to https://NEW_HOST/chat.
    let mut h = Scenario::new(chat(vec![(10.0, say("Still with you."))]).with_fault(
        Fault::for_session(0, Trigger::After(secs(5.0)), FaultKind::SwitchServer),
    ));
    start_chat(&mut h);
    h.run_until(8.0);
    assert_eq!(h.session().endpoint().host(), NEW_HOST);
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
    for s in h.sent() {
        let expected = if s.at > secs(5.0) { NEW_HOST } else { HOST };
        assert_eq!(s.host, expected, "{s:?}");
        let affinity = if s.kind == RequestKind::SessionId {
            Null
        } else {
            Issued(1)
        };
        assert_eq!(s.affinity, affinity, "the token survives the switch");
    }
    assert!(
        h.sent()
            .iter()
            .any(|s| s.at > secs(5.0) && s.kind == RequestKind::Chat)
    );
    assert!(
        h.sent()
            .iter()
            .any(|s| s.at > secs(5.0) && s.kind == RequestKind::Messages)
    );
    assert_eq!(h.agent_texts(), ["Still with you."]);
}

#[test]
fn persist_and_resume() {
    let sim = chat(vec![
        (4.0, say("How can I help?")),
        (12.0, say("Yes, I'm here.")),
    ]);
    let mut h = Scenario::new(sim.clone());
    // The key and token the server issued, for the checks below; and the answer to the first chat POST,
    // which the server processes, never arrives before the process dies.
    let issued: Rc<RefCell<Option<(String, String)>>> = Rc::default();
    let seen = Rc::clone(&issued);
    let mut lost = false;
    h.set_reply_tap(move |info, reply| {
        if info.kind == RequestKind::SessionId
            && let Some(r) = reply.response()
        {
            let v: Value = serde_json::from_slice(r.body()).expect("SessionId JSON");
            let text = |k: &str| v[k].as_str().expect("a secret").to_owned();
            *seen.borrow_mut() = Some((text("key"), text("affinityToken")));
        }
        if info.kind == RequestKind::Chat && !lost {
            lost = true;
            return None;
        }
        Some(reply)
    });
    start_chat(&mut h);
    h.run_until(5.0);
    h.act("send_message(\"Are you there?\")", |s| {
        s.send_message("Are you there?")
    })
    .expect("sent");
    h.run_until(6.0);
    let ack_before = h.session().ack();
    let post_before = h.sent_of(RequestKind::Chat)[0].clone();
    let max_id_before = h.sent().iter().map(|s| s.id).max().expect("ids");

    let (key, token) = issued.borrow().clone().expect("the SessionId answer");
    let snapshot = h.session().snapshot();
    let debug = format!("{snapshot:?}");
    assert!(!debug.contains(&key), "{debug}");
    assert!(!debug.contains(&token), "{debug}");
    let stored = serde_json::to_string(&snapshot).expect("serialize");
    assert!(
        stored.contains(&key),
        "the snapshot must keep the key to resume"
    );
    let restored: SessionSnapshot = serde_json::from_str(&stored).expect("deserialize");
    h.note("snapshot taken and serialized; the process dies");

    // The process comes back at 10 s (on the pair's one clock) against the same server.
    h.run_until(10.0);
    let now = h.now();
    h.restart(Session::resume(config(&sim), restored, now).expect("resumes"));
    h.run_until(15.0);
    h.act("end()", |s| s.end()).expect("end");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let after: Vec<_> = h.sent().iter().filter(|s| s.at >= secs(10.0)).collect();
    assert!(
        after.iter().all(|s| s.id > max_id_before),
        "request ids continue"
    );
    let resent = after
        .iter()
        .find(|s| s.kind == RequestKind::Chat)
        .expect("re-sent POST");
    assert_eq!(
        resent.sequence, post_before.sequence,
        "same sequence number"
    );
    assert_eq!(resent.body, post_before.body);
    assert_eq!(resent.at, secs(10.0));
    let poll = after
        .iter()
        .find(|s| s.kind == RequestKind::Messages)
        .expect("poll re-issued");
    assert_eq!(poll.query_param("ack"), Some(ack_before));
    assert_eq!(poll.at, secs(10.0));
    assert_eq!(poll.affinity, Issued(1));
    // The POST was in flight when the snapshot was taken: whether it reached the server is unknown, so its
    // eventual 2xx is reported as uncertain, not as delivered.
    assert!(
        h.event_list()
            .iter()
            .any(|e| matches!(e, Event::DeliveryUncertain(ids) if ids.len() == 1))
    );
    // The server de-duplicated the re-sent POST by its sequence number.
    assert_eq!(h.accepted("Are you there?"), 1);
    assert_eq!(h.agent_texts(), ["How can I help?", "Yes, I'm here."]);
    assert_eq!(
        h.seqs().last(),
        Some(&Some(3)),
        "ChatEnd continues the numbering"
    );
    assert!(matches!(
        h.session().end_reason(),
        Some(EndReason::VisitorEnded { .. })
    ));
}

/// The client's clock misbehaves (the server's does not): driven by hand on the test kit's harness, answers
/// as the simulator would send them.
#[test]
fn time_backwards_and_huge_jump() {
    let mut s = Scripted::chatting(config(&sim()));
    // Tell the session it is 10 s.
    s.set(10.0);
    s.h.drain().unwrap_or_else(|v| panic!("{v}"));
    let at10 = s.h.now();

    // An earlier `now` is clamped to the latest seen.
    s.h.note("handle_timeout(+1.000s): earlier than the latest now");
    s.h.session_mut().handle_timeout(t(1.0));
    assert!(s.h.session().poll_timeout().is_none_or(|t| t > at10));
    s.h.session_mut()
        .send_message("from the past")
        .expect("sent");
    s.h.note("send_message(\"from the past\"); poll_output(+0.500s)");
    let req = match s.h.session_mut().poll_output(t(0.5)) {
        Output::Request(r) => r,
        other => panic!("expected the POST, got {other:?}"),
    };
    assert_eq!(req.kind, RequestKind::Chat);
    let deadline = req.deadline.saturating_duration_since(t(0.0));
    let line = format!(
        "  → {} {} [{}] deadline +{}.{:03}s",
        req.http.method(),
        req.http.uri().path(),
        req.id,
        deadline.as_secs(),
        deadline.subsec_millis()
    );
    s.h.note(&line);
    assert!(
        req.deadline >= at10 + Duration::from_secs(30),
        "deadline computed from the clamped time"
    );
    let earlier = t(0.2);
    let r =
        s.h.session_mut()
            .handle_response(
                req.id,
                liveagent::http::Response::new(Vec::<u8>::new()),
                earlier,
            )
            .expect("known id");
    assert_eq!(r, Handled::Accepted);
    s.h.note("handle_response(200) at +0.200s → Accepted");
    assert!(
        s.h.session_mut()
            .handle_transport_error(liveagent::RequestId(999), TransportError::Other, earlier)
            .is_err()
    );
    s.h.drain().unwrap_or_else(|v| panic!("{v}"));
    assert!(
        s.h.events()
            .iter()
            .any(|e| matches!(e, Event::Delivered(_)))
    );

    // A huge jump: a hundred years later. The held poll is past its deadline and is retried.
    let jump = t(10.0) + Duration::from_secs(100 * 365 * 24 * 3600);
    s.h.set_now(jump);
    s.h.note("the clock jumps a hundred years");
    s.h.timeout().unwrap_or_else(|v| panic!("{v}"));
    let now = s.h.now();
    assert!(
        s.h.session().poll_timeout().is_none_or(|t| t > now),
        "poll_timeout() after handle_timeout"
    );
    assert!(s.h.events().iter().any(|e| matches!(
        e,
        Event::Retrying {
            request: RequestKind::Messages,
            attempt: 1,
            ..
        }
    )));
    // The old poll's 204 comes after the jump: the session let it go.
    s.answer(RequestKind::Messages, 204, b"");
    let retry_at = s.h.session().poll_timeout().expect("the retry");
    s.h.set_now(retry_at);
    s.h.timeout().unwrap_or_else(|v| panic!("{v}"));
    s.h.set_now(jump + secs(2.0));
    s.answer(
        RequestKind::Messages,
        200,
        &batch(
            vec![msg(
                "ChatMessage",
                json!({"name": "Andy L.", "text": "Welcome back.", "agentId": "005B0000000F3b2"}),
            )],
            2,
        ),
    );
    let transcript = s.h.transcript();
    assert!(!transcript.contains(KEY));
    insta::assert_snapshot!(transcript);

    assert_eq!(s.agent_texts(), ["Welcome back."]);
    assert_eq!(s.h.session().state(), State::Chatting);
    // The poll answered after the jump carries the same ack as before it.
    let acks = s.acks();
    assert_eq!(acks[acks.len() - 2], Some(1));

    // The largest `Timestamp` the platform has: nothing may panic there either.
    let base = s.h.now();
    let mut step = Duration::from_secs(1 << 62);
    let mut far = base;
    while !step.is_zero() {
        if let Some(t) = far.checked_add(step) {
            far = t;
        } else {
            step /= 2;
        }
    }
    let session = s.h.session_mut();
    session.handle_timeout(far);
    // At the very last `Timestamp` no later wake-up exists, so the "poll_timeout() > now" guarantee cannot hold
    // there. What must hold: no panic, and a driver looping at that instant cannot spin forever: every
    // request expires at once and the retry budget ends the session.
    let mut rounds = 0;
    while session.end_reason().is_none() && rounds < 1000 {
        rounds += 1;
        loop {
            match session.poll_output(far) {
                Output::Wait(_) => break,
                _ => continue,
            }
        }
        session.handle_timeout(far);
    }
    assert!(
        matches!(session.end_reason(), Some(EndReason::GaveUp { .. })),
        "{:?} after {rounds} rounds",
        session.end_reason()
    );
    assert_eq!(
        session.send_message("still alive?"),
        Err(CommandError::Ended)
    );
    let last = loop {
        match session.poll_output(far) {
            Output::Wait(w) => break w,
            Output::Request(r) => panic!("request after the end: {r:?}"),
            _ => continue,
        }
    };
    assert_eq!(last, None);
}
