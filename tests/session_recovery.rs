//! Scenario tests for the session's recovery under every plausible server reading: the resync after
//! a handover while queued, the 409 `Out of sync` ladder, `resetSequence` false/absent, lost answers and
//! `DeliveryUncertain`, the transcript check after a handover, the end fallbacks, empty 200 polls, a single
//! 409 on the poll and POST success statuses. Same scripted server and transcript format as
//! `tests/session_scenarios.rs`.

#[path = "common/harness.rs"]
mod harness;

use harness::{Harness, Reply, config, msg, secs};
use liveagent::sim::FaultKind;
use liveagent::{CommandId, EndReason, Event, RequestKind, State};
use serde_json::{Value, json};

fn andy() -> Value {
    json!({"name": "Andy L.", "userId": "005B0000000F3b2", "sneakPeekEnabled": true})
}

fn agent_says(text: &str) -> Value {
    msg(
        "ChatMessage",
        json!({"name": "Andy L.", "text": text, "agentId": "005B0000000F3b2"}),
    )
}

fn queued_at_1s(h: &mut Harness) {
    h.server.push_at(
        1.0,
        vec![msg(
            "ChatRequestSuccess",
            json!({"queuePosition": 2, "estimatedWaitTime": 60}),
        )],
    );
}

/// Queued at 1 s, ChatEstablished at 2 s; returns at 3 s with the chat established.
fn start_chat(h: &mut Harness) {
    queued_at_1s(h);
    h.server.push_at(2.0, vec![msg("ChatEstablished", andy())]);
    h.run_until(3.0);
    assert_eq!(h.session.state(), State::Chatting);
}

/// How often the server processed a ChatMessage with this text.
fn accepted(h: &Harness, text: &str) -> usize {
    h.server
        .accepted
        .iter()
        .filter(|a| a.contains(&format!("\"text\":\"{text}\"")))
        .count()
}

fn delivered(h: &Harness) -> Vec<CommandId> {
    h.event_list()
        .into_iter()
        .filter_map(|e| match e {
            Event::Delivered(ids) => Some(ids),
            _ => None,
        })
        .flatten()
        .collect()
}

fn uncertain(h: &Harness) -> Vec<CommandId> {
    h.event_list()
        .into_iter()
        .filter_map(|e| match e {
            Event::DeliveryUncertain(ids) => Some(ids),
            _ => None,
        })
        .flatten()
        .collect()
}

// ------------------------------------------------------------------------------------------------

/// A 503 while queued: ReconnectSession, ChasitorSessionData, then ChasitorResyncState although no agent has
/// accepted yet (a server may need it before it routes the restored session). The server refuses it with 500
/// (a plausible reading of §2 step 5): the chat neither ends nor stalls.
#[test]
fn resync_after_handover_while_queued() {
    let mut h = Harness::new(config());
    queued_at_1s(&mut h);
    h.run_until(2.0);
    assert_eq!(h.session.state(), State::Queued);
    let early = h
        .act("send_message(\"still there?\")", |s| {
            s.send_message("still there?")
        })
        .expect("queued");
    h.answer_held_poll_at(3.0, 503, "");
    h.server.script(
        RequestKind::ResyncState,
        Reply::Status(500, "java.lang.NullPointerException"),
    );
    h.server.push_at(8.0, vec![msg("ChatEstablished", andy())]);
    h.server
        .push_at(9.0, vec![agent_says("Hi, sorry for the wait.")]);
    h.run_until(12.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let resync = h.sent_of(RequestKind::ResyncState);
    assert_eq!(resync.len(), 1, "one resync, refused, not retried");
    assert!(resync[0].at < secs(8.0), "sent while still queued");
    assert_eq!(resync[0].seq, None);
    let restored = h
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::SessionRestored(_)))
        .expect("SessionRestored")
        .0;
    assert!(restored <= resync[0].at);
    // No chat traffic before ChatEstablished; afterwards the queued message goes out once, numbered 1 again.
    let chats = h.sent_of(RequestKind::Chat);
    assert_eq!(chats.len(), 1);
    assert!(chats[0].at >= secs(8.0));
    assert_eq!(chats[0].seq, Some(1));
    assert_eq!(accepted(&h, "still there?"), 1);
    assert_eq!(delivered(&h), [early]);
    assert_eq!(h.agent_texts(), ["Hi, sorry for the wait."]);
    assert_eq!(h.session.state(), State::Chatting);
    assert!(!h.session.is_reconnecting());
}

/// A server that reads `Actual` as the NEXT number it expects (LINE's reading) and wants exactly it: M + 1 is
/// refused with the same Actual, so the session sends M, which is taken. On the simulator: its counter drifts
/// to 6 when "two" arrives, under `out-of-sync-actual=next-expected` and `sequence-rule=consecutive`.
#[test]
fn out_of_sync_actual_is_next_expected() {
    let mut h = on_the_simulator::start_chat_with(
        "out-of-sync-actual=next-expected sequence-rule=consecutive",
        FaultKind::SequenceDrift(5),
    );
    let two = h.send_message("two").expect("two");
    h.run_until_elapsed(on_the_simulator::secs(5.0))
        .expect("runs");
    let three = h.send_message("three").expect("three");
    h.run_until_elapsed(on_the_simulator::secs(6.0))
        .expect("runs");
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    // ChasitorInit 1; "two" as 2, then Actual+1 = 8 (refused, same Actual), then 7; "three" continues at 8.
    assert_eq!(
        on_the_simulator::seqs(&h),
        [Some(1), Some(2), Some(8), Some(7), Some(8)]
    );
    assert_eq!(on_the_simulator::accepted(&h, "two"), 1);
    assert_eq!(on_the_simulator::accepted(&h, "three"), 1);
    assert_eq!(on_the_simulator::delivered(&h), [two, three]);
    assert_eq!(h.session().state(), State::Chatting);
}

/// The 409 that would have told the session to renumber is lost; the re-send with the old number is answered
/// 200 by a server that drops numbers at or below its counter. The session cannot tell this from "taken
/// earlier": it reports the message as uncertain, never as delivered. On the simulator: its counter drifts to
/// 9 when "two" arrives (`Actual 9`), and the reply tap loses the 409.
#[test]
fn lost_409_answer_is_not_reported_delivered() {
    let mut h = on_the_simulator::start_chat_with("", FaultKind::SequenceDrift(8));
    h.set_reply_tap(|info, reply| {
        (info.kind != RequestKind::Chat || reply.status() != Some(409)).then_some(reply)
    });
    let two = h.send_message("two").expect("two");
    h.run_until_elapsed(on_the_simulator::secs(40.0))
        .expect("runs");
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(
        on_the_simulator::seqs(&h),
        [Some(1), Some(2), Some(2)],
        "retried unchanged"
    );
    assert_eq!(
        on_the_simulator::accepted(&h, "two"),
        0,
        "the server never took it"
    );
    assert!(on_the_simulator::delivered(&h).is_empty());
    assert_eq!(on_the_simulator::uncertain(&h), [two]);
    assert_eq!(h.session().pending_commands(), 0);
}

/// "A" at 3 s, a handover at 5 s (the held poll answered 503), "B" at 6 s; on the simulator under
/// `reset-sequence=<reset>`.
fn handover_with_reset(reset: &str) -> liveagent::sim::Pair {
    let mut h = on_the_simulator::start_chat_with_fault(
        &format!("reset-sequence={reset}"),
        liveagent::sim::Trigger::After(on_the_simulator::secs(5.0)),
        FaultKind::Handover,
    );
    h.send_message("A").expect("A");
    h.run_until_elapsed(on_the_simulator::secs(4.0))
        .expect("runs");
    h.run_until_elapsed(on_the_simulator::secs(6.0))
        .expect("runs");
    h.send_message("B").expect("B");
    h.run_until_elapsed(on_the_simulator::secs(7.0))
        .expect("runs");
    h
}

/// `resetSequence: false` keeps the numbering going (the server kept its counter); absent means true (SDK).
#[test]
fn reset_sequence_false_and_absent() {
    use on_the_simulator::{accepted, delivered, sent_of, seqs, uncertain};
    let kept = handover_with_reset("false");
    insta::assert_snapshot!("reset_sequence_false", kept.transcript());
    assert_eq!(seqs(&kept), [Some(1), Some(2), None, Some(3)]);
    assert_eq!(accepted(&kept, "B"), 1);

    let absent = handover_with_reset("absent");
    insta::assert_snapshot!("reset_sequence_absent", absent.transcript());
    assert_eq!(seqs(&absent), [Some(1), Some(2), None, Some(1)]);
    assert_eq!(accepted(&absent, "B"), 1);
    for h in [&kept, &absent] {
        assert_eq!(sent_of(h, RequestKind::ResyncState).len(), 1);
        assert_eq!(delivered(h).len(), 2);
        assert!(uncertain(h).is_empty());
    }
}

/// A POST the server processed but whose answer never came, then a 503 on the poll: after the reconnect the
/// ChasitorSessionData transcript shows the text, so the session does not re-send it (the numbering reset
/// would make the server process it twice) and reports it delivered. On the simulator: the reply tap loses
/// the answer to "msg A", a Handover fault answers the held poll 503 at 4 s.
#[test]
fn lost_post_answer_then_handover_is_not_resent() {
    use on_the_simulator::{accepted, delivered, sent_of, uncertain};
    let mut h = on_the_simulator::start_chat_with_fault(
        "",
        liveagent::sim::Trigger::After(on_the_simulator::secs(4.0)),
        FaultKind::Handover,
    );
    let mut lost = false;
    h.set_reply_tap(move |info, reply| {
        if info.kind == RequestKind::Chat && !lost {
            lost = true;
            return None;
        }
        Some(reply)
    });
    let a = h.send_message("msg A").expect("A");
    h.run_until_elapsed(on_the_simulator::secs(6.0))
        .expect("runs");
    let b = h.send_message("msg B").expect("B");
    h.run_until_elapsed(on_the_simulator::secs(7.0))
        .expect("runs");
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(accepted(&h, "msg A"), 1, "processed exactly once");
    assert_eq!(accepted(&h, "msg B"), 1);
    let chats = sent_of(&h, RequestKind::Chat);
    assert_eq!(chats.len(), 2, "msg A was not re-sent");
    // msg B takes the number the dropped re-send would have used.
    assert_eq!(chats[1].sequence, Some(1));
    assert_eq!(delivered(&h), [a, b]);
    assert!(uncertain(&h).is_empty());
}

/// The same handover, but the POST never reached the server: the transcript proves it absent, so the re-send
/// is a first delivery and is reported delivered.
#[test]
fn abandoned_post_absent_from_transcript_is_resent() {
    let mut h = Harness::new(config());
    h.server.session_data_transcript = true;
    start_chat(&mut h);
    h.server
        .script(RequestKind::Chat, Reply::TransportError(secs(5.0)));
    let a = h
        .act("send_message(\"msg A\")", |s| s.send_message("msg A"))
        .expect("A");
    h.answer_held_poll_at(4.0, 503, "");
    h.run_until(10.0);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(accepted(&h, "msg A"), 1);
    assert_eq!(h.sent_of(RequestKind::Chat).len(), 2);
    assert_eq!(delivered(&h), [a]);
    assert!(uncertain(&h).is_empty());
}

/// Ending while queued, DELETE SessionId refused: ChatEnd is tried, so `end()` always ends. On the simulator:
/// under `end-while-queued=chat-end-only` it refuses the DELETE (500, turned into the 405 of this scenario by
/// the reply tap) and takes the ChatEnd; its agent never accepts and attaches no records.
#[test]
fn ending_while_queued_falls_back_to_chat_end() {
    use liveagent::sim::{AgentScript, Pair, SimConfig, VisitorEvent};
    use on_the_simulator::{accepted, secs, sent_of};
    let mut agent = AgentScript::idle();
    agent.attached_records = Value::Null;
    let dialect = liveagent::sim::Dialect::default()
        .parse_assignments("end-while-queued=chat-end-only")
        .expect("dialect");
    let sim = SimConfig::default().with_agent(agent).with_dialect(dialect);
    let config = liveagent::Config::new(
        sim.endpoint().expect("endpoint"),
        harness::ORG,
        "572D000000000J6",
        "573D000000000OC",
    )
    .visitor_name("Jon A.")
    .seed(7);
    let mut h = Pair::new(config, sim, liveagent::Timestamp::ZERO);
    h.set_reply_tap(|info, reply| {
        if info.kind != RequestKind::DeleteSession || reply.status() != Some(500) {
            return Some(reply);
        }
        let mut r = liveagent::http::Response::new(b"Method Not Allowed".to_vec());
        *r.status_mut() = liveagent::http::StatusCode::METHOD_NOT_ALLOWED;
        Some(liveagent::sim::Reply::Response(r))
    });
    h.run_until_elapsed(secs(2.0)).expect("runs");
    let waiting = h.send_message("hello?").expect("queued");
    h.end().expect("end");
    h.run().expect("runs");
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let kinds: Vec<RequestKind> = h
        .sent()
        .iter()
        .filter(|s| s.at >= secs(2.0) && s.kind != RequestKind::Messages)
        .map(|s| s.kind)
        .collect();
    assert_eq!(kinds, [RequestKind::DeleteSession, RequestKind::Chat]);
    let chat_end = sent_of(&h, RequestKind::Chat)[0];
    assert!(chat_end.path.ends_with("/Chasitor/ChatEnd"));
    assert_eq!(chat_end.body, r#"{"reason":"client"}"#);
    assert_eq!(chat_end.sequence, Some(2));
    let record = h
        .server()
        .session(h.session().session_id().expect("id"))
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
    assert_eq!(accepted(&h, "hello?"), 0);
}

/// Ending an established chat, ChatEnd refused (400): DELETE SessionId is tried, so `end()` always ends.
#[test]
fn ending_while_chatting_falls_back_to_delete() {
    let mut h = Harness::new(config());
    start_chat(&mut h);
    h.server
        .script(RequestKind::Chat, Reply::Status(400, "Bad Request"));
    h.act("end()", |s| s.end()).expect("end");
    h.run_to_end();
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    let kinds: Vec<RequestKind> = h
        .sent
        .iter()
        .filter(|s| s.at >= secs(3.0) && s.kind != RequestKind::Messages)
        .map(|s| s.kind)
        .collect();
    assert_eq!(kinds, [RequestKind::Chat, RequestKind::DeleteSession]);
    assert_eq!(
        h.session.end_reason(),
        Some(&EndReason::VisitorEnded {
            attached_records: None
        })
    );
}

/// An empty 200 `{"messages":[]}` (with or without `sequence`) is read like a 204: `ack` stays. Numbers
/// written as strings are read as numbers (the wire layer's leniency).
#[test]
fn empty_200_poll_is_like_204() {
    let mut h = Harness::new(config());
    start_chat(&mut h);
    h.answer_held_poll_at(4.0, 200, r#"{"messages":[]}"#);
    h.run_until(4.5);
    h.answer_held_poll_at(5.0, 200, r#"{"messages":[],"sequence":7}"#);
    h.run_until(5.5);
    h.answer_held_poll_at(
        6.0,
        200,
        r#"{"messages":[{"type":"ChatMessage","message":{"name":"Andy L.","text":"as strings"}}],"sequence":"2","offset":"5002"}"#,
    );
    h.run_until(6.5);
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);

    assert_eq!(h.acks(), [-1, 0, 1, 1, 1, 2]);
    assert_eq!(h.session.offset(), Some(5002));
    assert_eq!(h.agent_texts(), ["as strings"]);
    assert_eq!(h.session.state(), State::Chatting);
}

/// One 409 on the poll ("Duplicate Long Polling", re-polled by two production clients) is polled again; two
/// in a row end the chat as the guide says.
#[test]
fn poll_409_repolled_once_then_conflict() {
    let mut h = Harness::new(config());
    start_chat(&mut h);
    h.answer_held_poll_at(4.0, 409, "Duplicate Long Polling");
    h.server.push_at(6.0, vec![agent_says("Still here.")]);
    h.run_until(7.0);
    assert_eq!(h.session.state(), State::Chatting);
    assert_eq!(h.agent_texts(), ["Still here."]);
    h.answer_held_poll_at(8.0, 409, "Conflict");
    h.server
        .script(RequestKind::Messages, Reply::Status(409, "Conflict"));
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
        h.session.end_reason(),
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
    let mut h = on_the_simulator::start_chat();
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
        h.run_until_elapsed(on_the_simulator::secs(4.0 + i as f64))
            .expect("runs");
    }
    let transcript = h.transcript();
    insta::assert_snapshot!(transcript);
    assert_eq!(on_the_simulator::delivered(&h), ids);
    assert_eq!(
        on_the_simulator::seqs(&h),
        [Some(1), Some(2), Some(3), Some(4)]
    );
}

/// The same chat on the simulator: queued at once, established at 2 s (the agent accepts; no echo).
mod on_the_simulator {
    use liveagent::RequestKind;
    use liveagent::sim::{
        AgentAction, AgentScript, AgentStep, Dialect, Fault, FaultKind, Pair, SentRequest,
        SimConfig, Trigger,
    };
    use liveagent::{CommandId, Config, Event, State, Timestamp};
    use std::time::Duration;

    pub fn secs(n: f64) -> Duration {
        Duration::from_secs_f64(n)
    }

    pub fn start_chat() -> Pair {
        start(SimConfig::default())
    }

    /// [`start_chat`] under a dialect (`name=value` switches), with `fault` firing on the session's second
    /// POST (the first after ChasitorInit).
    pub fn start_chat_with(dialect: &str, fault: FaultKind) -> Pair {
        start_chat_with_fault(dialect, Trigger::Post(2), fault)
    }

    /// [`start_chat`] under a dialect, with `fault` firing `at`.
    pub fn start_chat_with_fault(dialect: &str, at: Trigger, fault: FaultKind) -> Pair {
        let dialect = Dialect::default()
            .parse_assignments(dialect)
            .expect("dialect");
        let sim = SimConfig::default()
            .with_dialect(dialect)
            .with_fault(Fault::for_session(0, at, fault));
        start(sim)
    }

    /// The requests of one kind the session sent.
    pub fn sent_of(h: &Pair, kind: RequestKind) -> Vec<&SentRequest> {
        h.sent().iter().filter(|s| s.kind == kind).collect()
    }

    fn start(sim: SimConfig) -> Pair {
        let mut agent = AgentScript::new(vec![AgentStep::new(secs(2.0), AgentAction::Accept)]);
        agent.queue_position = 2;
        let sim = sim.with_agent(agent);
        let config = Config::new(
            sim.endpoint().expect("endpoint"),
            super::harness::ORG,
            "572D000000000J6",
            "573D000000000OC",
        )
        .visitor_name("Jon A.")
        .seed(7);
        let mut h = Pair::new(config, sim, Timestamp::ZERO);
        h.run_until_elapsed(secs(3.0)).expect("runs");
        assert_eq!(h.session().state(), State::Chatting);
        h
    }

    /// The sequence numbers of every POST, in order.
    pub fn seqs(h: &Pair) -> Vec<Option<u64>> {
        h.sent()
            .iter()
            .filter(|s| s.method == "POST")
            .map(|s| s.sequence)
            .collect()
    }

    /// How often the simulator took a ChatMessage with this text.
    pub fn accepted(h: &Pair, text: &str) -> usize {
        let id = h.session().session_id().expect("a session");
        h.server()
            .visitor_messages(id)
            .unwrap_or_default()
            .iter()
            .filter(|t| *t == text)
            .count()
    }

    pub fn uncertain(h: &Pair) -> Vec<CommandId> {
        h.events()
            .iter()
            .filter_map(|(_, e)| match e {
                Event::DeliveryUncertain(ids) => Some(ids.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn delivered(h: &Pair) -> Vec<CommandId> {
        h.events()
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Delivered(ids) => Some(ids.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}
