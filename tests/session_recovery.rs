//! Scenario tests for the session's recovery under every plausible server reading: the resync after
//! a handover while queued, the 409 `Out of sync` ladder, `resetSequence` false/absent, lost answers and
//! `DeliveryUncertain`, the transcript check after a handover, the end fallbacks, empty 200 polls, a single
//! 409 on the poll and POST success statuses. On the simulator (`sim::Pair` through
//! `tests/common/scenario.rs`, as in `tests/session_scenarios.rs`) with dialect switches, faults and the reply
//! tap; answers the simulator never sends are scripted by hand on the test kit's harness.

mod common;

use common::scenario::{Scenario, agent_at, config, secs, sim};
use common::scripted::{Scripted, msg};
use liveagent::sim::{
    AgentAction, AgentScript, AgentStep, Dialect, Fault, FaultKind, SimConfig, Trigger,
};
use liveagent::{EndReason, Event, RequestKind, State};
use serde_json::Value;

fn dialect(assignments: &str) -> Dialect {
    Dialect::default()
        .parse_assignments(assignments)
        .expect("dialect")
}

/// The simulator's default hosts, answers at once, under `dialect` (`name=value` switches) with `faults`:
/// queued at once (position 2), established at 2 s (the agent accepts; no echo). Returns at 3 s.
fn start_chat_with_faults(assignments: &str, faults: Vec<Fault>) -> Scenario {
    let mut agent = AgentScript::new(vec![AgentStep::new(secs(2.0), AgentAction::Accept)]);
    agent.queue_position = 2;
    let mut sim = SimConfig::default()
        .with_dialect(dialect(assignments))
        .with_agent(agent);
    sim.faults.faults = faults;
    let mut h = Scenario::new(sim);
    h.run_until(3.0);
    assert_eq!(h.session().state(), State::Chatting);
    h
}

/// [`start_chat_with_faults`] with `fault` on the session's second POST (the first after ChasitorInit).
fn start_chat_with(assignments: &str, fault: FaultKind) -> Scenario {
    start_chat_with_faults(
        assignments,
        vec![Fault::for_session(0, Trigger::Post(2), fault)],
    )
}

/// [`start_chat_with_faults`] with `fault` firing `at`.
fn start_chat_with_fault(assignments: &str, at: Trigger, fault: FaultKind) -> Scenario {
    start_chat_with_faults(assignments, vec![Fault::for_session(0, at, fault)])
}

/// Like `tests/session_scenarios.rs`: answers 50 ms after each request, queued on ChasitorInit, established
/// at 2 s, then `then`; with `faults`. Returns at 3 s.
fn chat_with(then: Vec<(f64, AgentAction)>, faults: Vec<Fault>) -> Scenario {
    let mut steps = vec![(2.0, AgentAction::Accept)];
    steps.extend(then);
    let mut sim = sim().with_agent(agent_at(steps));
    sim.faults.faults = faults;
    let mut h = Scenario::new(sim);
    h.run_until(3.0);
    assert_eq!(h.session().state(), State::Chatting);
    h
}

// ------------------------------------------------------------------------------------------------

/// A 503 while queued: ReconnectSession, ChasitorSessionData, then ChasitorResyncState although no agent has
/// accepted yet (a server may need it before it routes the restored session). The server refuses it with 500
/// (a plausible reading of §2 step 5; the simulator's `resync=refused-while-queued`): the chat neither ends
/// nor stalls. The handover answers the held poll 503 at 3 s.
#[test]
fn resync_after_handover_while_queued() {
    let mut agent = agent_at(vec![
        (8.0, AgentAction::Accept),
        (
            9.0,
            AgentAction::Say {
                text: "Hi, sorry for the wait.".into(),
            },
        ),
    ]);
    agent.queue_position = 2;
    let sim = sim()
        .with_agent(agent)
        .with_dialect(dialect("resync=refused-while-queued"))
        .with_fault(Fault::for_session(
            0,
            Trigger::After(secs(3.0)),
            FaultKind::Handover,
        ));
    let mut h = Scenario::new(sim);
    h.run_until(2.0);
    assert_eq!(h.session().state(), State::Queued);
    let early = h
        .act("send_message(\"still there?\")", |s| {
            s.send_message("still there?")
        })
        .expect("queued");
    h.run_until(12.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let resync = h.sent_of(RequestKind::ResyncState);
    assert_eq!(resync.len(), 1, "one resync, refused, not retried");
    assert!(resync[0].at < secs(8.0), "sent while still queued");
    assert_eq!(resync[0].sequence, None);
    let restored = h
        .events()
        .iter()
        .find(|(_, e)| matches!(e, Event::SessionRestored(_)))
        .expect("SessionRestored")
        .0;
    assert!(restored <= resync[0].at);
    // No chat traffic before ChatEstablished; afterwards the queued message goes out once, numbered 1 again.
    let chats = h.sent_of(RequestKind::Chat);
    assert_eq!(chats.len(), 1);
    assert!(chats[0].at >= secs(8.0));
    assert_eq!(chats[0].sequence, Some(1));
    assert_eq!(h.accepted("still there?"), 1);
    assert_eq!(h.delivered(), [early]);
    assert_eq!(h.agent_texts(), ["Hi, sorry for the wait."]);
    assert_eq!(h.session().state(), State::Chatting);
    assert!(!h.session().is_reconnecting());
}

/// A server that reads `Actual` as the NEXT number it expects (LINE's reading) and wants exactly it: M + 1 is
/// refused with the same Actual, so the session sends M, which is taken. On the simulator: its counter drifts
/// to 6 when "two" arrives, under `out-of-sync-actual=next-expected` and `sequence-rule=consecutive`.
#[test]
fn out_of_sync_actual_is_next_expected() {
    let mut h = start_chat_with(
        "out-of-sync-actual=next-expected sequence-rule=consecutive",
        FaultKind::SequenceDrift(5),
    );
    let two = h.send_message("two").expect("two");
    h.run_until(5.0);
    let three = h.send_message("three").expect("three");
    h.run_until(6.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    // ChasitorInit 1; "two" as 2, then Actual+1 = 8 (refused, same Actual), then 7; "three" continues at 8.
    assert_eq!(h.seqs(), [Some(1), Some(2), Some(8), Some(7), Some(8)]);
    assert_eq!(h.accepted("two"), 1);
    assert_eq!(h.accepted("three"), 1);
    assert_eq!(h.delivered(), [two, three]);
    assert_eq!(h.session().state(), State::Chatting);
}

/// The 409 that would have told the session to renumber is lost; the re-send with the old number is answered
/// 200 by a server that drops numbers at or below its counter. The session cannot tell this from "taken
/// earlier": it reports the message as uncertain, never as delivered. On the simulator: its counter drifts to
/// 9 when "two" arrives (`Actual 9`), and the reply tap loses the 409.
#[test]
fn lost_409_answer_is_not_reported_delivered() {
    let mut h = start_chat_with("", FaultKind::SequenceDrift(8));
    h.set_reply_tap(|info, reply| {
        (info.kind != RequestKind::Chat || reply.status() != Some(409)).then_some(reply)
    });
    let two = h.send_message("two").expect("two");
    h.run_until(40.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.seqs(), [Some(1), Some(2), Some(2)], "retried unchanged");
    assert_eq!(h.accepted("two"), 0, "the server never took it");
    assert!(h.delivered().is_empty());
    assert_eq!(h.uncertain(), [two]);
    assert_eq!(h.session().pending_commands(), 0);
}

/// "A" at 3 s, a handover at 5 s (the held poll answered 503), "B" at 6 s; on the simulator under
/// `reset-sequence=<reset>`.
fn handover_with_reset(reset: &str) -> Scenario {
    let mut h = start_chat_with_fault(
        &format!("reset-sequence={reset}"),
        Trigger::After(secs(5.0)),
        FaultKind::Handover,
    );
    h.send_message("A").expect("A");
    h.run_until(4.0);
    h.run_until(6.0);
    h.send_message("B").expect("B");
    h.run_until(7.0);
    h
}

/// `resetSequence: false` keeps the numbering going (the server kept its counter); absent means true (SDK).
#[test]
fn reset_sequence_false_and_absent() {
    let kept = handover_with_reset("false");
    insta::assert_snapshot!("reset_sequence_false", kept.transcript());
    assert_eq!(kept.seqs(), [Some(1), Some(2), None, Some(3)]);
    assert_eq!(kept.accepted("B"), 1);

    let absent = handover_with_reset("absent");
    insta::assert_snapshot!("reset_sequence_absent", absent.transcript());
    assert_eq!(absent.seqs(), [Some(1), Some(2), None, Some(1)]);
    assert_eq!(absent.accepted("B"), 1);
    for h in [&kept, &absent] {
        assert_eq!(h.sent_of(RequestKind::ResyncState).len(), 1);
        assert_eq!(h.delivered().len(), 2);
        assert!(h.uncertain().is_empty());
    }
}

/// A POST the server processed but whose answer never came, then a 503 on the poll: after the reconnect the
/// ChasitorSessionData transcript shows the text, so the session does not re-send it (the numbering reset
/// would make the server process it twice) and reports it delivered. On the simulator: the reply tap loses
/// the answer to "msg A", a Handover fault answers the held poll 503 at 4 s.
#[test]
fn lost_post_answer_then_handover_is_not_resent() {
    let mut h = start_chat_with_fault("", Trigger::After(secs(4.0)), FaultKind::Handover);
    let mut lost = false;
    h.set_reply_tap(move |info, reply| {
        if info.kind == RequestKind::Chat && !lost {
            lost = true;
            return None;
        }
        Some(reply)
    });
    let a = h.send_message("msg A").expect("A");
    h.run_until(6.0);
    let b = h.send_message("msg B").expect("B");
    h.run_until(7.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.accepted("msg A"), 1, "processed exactly once");
    assert_eq!(h.accepted("msg B"), 1);
    let chats = h.sent_of(RequestKind::Chat);
    assert_eq!(chats.len(), 2, "msg A was not re-sent");
    // msg B takes the number the dropped re-send would have used.
    assert_eq!(chats[1].sequence, Some(1));
    assert_eq!(h.delivered(), [a, b]);
    assert!(h.uncertain().is_empty());
}

/// The same handover, but the POST never reached the server (it fails in the transport only after 5 s): the
/// transcript proves it absent, so the re-send is a first delivery and is reported delivered. The handover
/// answers the held poll 503 at 4 s.
#[test]
fn abandoned_post_absent_from_transcript_is_resent() {
    let mut h = chat_with(
        Vec::new(),
        vec![
            Fault::for_session(
                0,
                Trigger::Post(2),
                FaultKind::Unreachable {
                    count: 1,
                    after: secs(5.0),
                },
            ),
            Fault::for_session(0, Trigger::After(secs(4.0)), FaultKind::Handover),
        ],
    );
    let a = h
        .act("send_message(\"msg A\")", |s| s.send_message("msg A"))
        .expect("A");
    h.run_until(10.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.accepted("msg A"), 1);
    assert_eq!(h.sent_of(RequestKind::Chat).len(), 2);
    assert_eq!(h.delivered(), [a]);
    assert!(h.uncertain().is_empty());
}

/// Ending while queued, DELETE SessionId refused: ChatEnd is tried, so `end()` always ends. On the simulator:
/// under `end-while-queued=chat-end-only` it refuses the DELETE (500, turned into the 405 of this scenario by
/// the reply tap) and takes the ChatEnd; its agent never accepts and attaches no records.
#[test]
fn ending_while_queued_falls_back_to_chat_end() {
    use liveagent::sim::VisitorEvent;
    let mut agent = AgentScript::idle();
    agent.attached_records = Value::Null;
    let sim = SimConfig::default()
        .with_agent(agent)
        .with_dialect(dialect("end-while-queued=chat-end-only"));
    let mut h = Scenario::with_config(config(&sim), sim);
    h.set_reply_tap(|info, reply| {
        if info.kind != RequestKind::DeleteSession || reply.status() != Some(500) {
            return Some(reply);
        }
        let mut r = liveagent::http::Response::new(b"Method Not Allowed".to_vec());
        *r.status_mut() = liveagent::http::StatusCode::METHOD_NOT_ALLOWED;
        Some(liveagent::sim::Reply::Response(r))
    });
    h.run_until(2.0);
    let waiting = h.send_message("hello?").expect("queued");
    h.end().expect("end");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let kinds: Vec<RequestKind> = h
        .sent()
        .iter()
        .filter(|s| s.at >= secs(2.0) && s.kind != RequestKind::Messages)
        .map(|s| s.kind)
        .collect();
    assert_eq!(kinds, [RequestKind::DeleteSession, RequestKind::Chat]);
    let chat_end = h.sent_of(RequestKind::Chat)[0];
    assert!(chat_end.path.ends_with("/Chasitor/ChatEnd"));
    assert_eq!(chat_end.body, r#"{"reason":"client"}"#);
    assert_eq!(chat_end.sequence, Some(2));
    let record = h
        .server()
        .session(&h.session_id())
        .expect("the simulator's record");
    assert!(
        record
            .visitor_events
            .iter()
            .any(|e| matches!(e, VisitorEvent::ChatEnd { .. }))
    );
    assert_eq!(
        h.session().end_reason(),
        Some(&EndReason::VisitorEnded {
            attached_records: None
        })
    );
    // The message queued while waiting never went out.
    assert!(
        h.events()
            .iter()
            .any(|(_, e)| *e == Event::Undelivered(vec![waiting]))
    );
    assert_eq!(h.accepted("hello?"), 0);
}

/// Ending an established chat, ChatEnd refused (400, unprocessed: the session's second POST): DELETE
/// SessionId is tried, so `end()` always ends.
#[test]
fn ending_while_chatting_falls_back_to_delete() {
    let mut h = chat_with(
        Vec::new(),
        vec![Fault::for_session(
            0,
            Trigger::Post(2),
            FaultKind::ServerErrors {
                count: 1,
                status: 400,
            },
        )],
    );
    h.act("end()", |s| s.end()).expect("end");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let kinds: Vec<RequestKind> = h
        .sent()
        .iter()
        .filter(|s| s.at >= secs(3.0) && s.kind != RequestKind::Messages)
        .map(|s| s.kind)
        .collect();
    assert_eq!(kinds, [RequestKind::Chat, RequestKind::DeleteSession]);
    assert_eq!(
        h.session().end_reason(),
        Some(&EndReason::VisitorEnded {
            attached_records: None
        })
    );
}

/// An empty 200 `{"messages":[]}` (with or without `sequence`) is read like a 204: `ack` stays. Numbers
/// written as strings are read as numbers (the wire layer's leniency). The simulator sends neither an empty
/// batch with a `sequence` nor the envelope's numbers as strings: scripted by hand on the test kit's harness.
#[test]
fn empty_200_poll_is_like_204() {
    let mut s = Scripted::chatting(config(&sim()));
    s.set(4.0);
    s.answer(RequestKind::Messages, 200, br#"{"messages":[]}"#);
    s.set(5.0);
    s.answer(
        RequestKind::Messages,
        200,
        br#"{"messages":[],"sequence":7}"#,
    );
    s.set(6.0);
    let m = msg(
        "ChatMessage",
        serde_json::json!({"name": "Andy L.", "text": "as strings"}),
    );
    let body = serde_json::json!({"messages": [m], "sequence": "2", "offset": "5002"});
    s.answer(RequestKind::Messages, 200, body.to_string().as_bytes());
    let transcript = s.h.transcript();
    insta::assert_snapshot!(transcript);

    let acks: Vec<i64> = s.acks().into_iter().map(|a| a.expect("ack")).collect();
    assert_eq!(acks, [-1, 0, 1, 1, 1, 2]);
    assert_eq!(s.h.session().offset(), Some(5002));
    assert_eq!(s.agent_texts(), ["as strings"]);
    assert_eq!(s.h.session().state(), State::Chatting);
}

/// One 409 on the poll ("Duplicate Long Polling", re-polled by two production clients) is polled again; two
/// in a row end the chat as the guide says. On the simulator: the third poll (the one held after
/// ChatEstablished) is answered 409 at 4 s; the fifth (held after "Still here.") at 8 s, and the poll after it
/// 409 at once.
#[test]
fn poll_409_repolled_once_then_conflict() {
    let conflict = |count| FaultKind::ServerErrors { count, status: 409 };
    let mut h = chat_with(
        vec![(
            6.0,
            AgentAction::Say {
                text: "Still here.".into(),
            },
        )],
        vec![
            Fault::for_session(0, Trigger::Poll(3), conflict(1)),
            Fault::for_session(0, Trigger::Poll(3), FaultKind::DelayReply(secs(1.9))),
            Fault::for_session(0, Trigger::Poll(5), conflict(2)),
            Fault::for_session(0, Trigger::Poll(5), FaultKind::DelayReply(secs(1.9))),
        ],
    );
    h.run_until(7.0);
    assert_eq!(h.session().state(), State::Chatting);
    assert_eq!(h.agent_texts(), ["Still here."]);
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let retry = h
        .event_list()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::Retrying {
                    request: RequestKind::Messages,
                    ..
                }
            )
        })
        .count();
    assert_eq!(retry, 2, "each first 409 is re-polled");
    assert!(matches!(
        h.session().end_reason(),
        Some(EndReason::Conflict {
            request: RequestKind::Messages,
            ..
        })
    ));
}

/// POST success may come as 200, 202 or 204: all count. On the simulator: the reply tap answers the first two
/// chat POSTs 202 and 204 (empty), the third as the simulator does (200).
#[test]
fn post_success_200_202_204() {
    let mut h = start_chat_with_faults("", Vec::new());
    let mut statuses = [202u16, 204].into_iter();
    h.set_reply_tap(move |info, reply| {
        if info.kind != RequestKind::Chat || reply.status() != Some(200) {
            return Some(reply);
        }
        let Some(status) = statuses.next() else {
            return Some(reply);
        };
        let mut r = liveagent::http::Response::new(Vec::new());
        *r.status_mut() = liveagent::http::StatusCode::from_u16(status).expect("status");
        Some(liveagent::sim::Reply::Response(r))
    });
    let mut ids = Vec::new();
    for (i, text) in ["one", "two", "three"].into_iter().enumerate() {
        ids.push(h.send_message(text).expect("sent"));
        h.run_until(4.0 + i as f64);
    }
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);
    assert_eq!(h.delivered(), ids);
    assert_eq!(h.seqs(), [Some(1), Some(2), Some(3), Some(4)]);
}
