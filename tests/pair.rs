//! `liveagent::sim::Pair`: the one client↔server harness. Whole chats on a virtual clock with insta
//! transcripts, the step/run API, livelock bounds, secrets in the transcript, and the delivery check — judged
//! from the simulator's record, and shown to catch planted bugs (a tap that drops, duplicates or invents a
//! message, a tap that turns a refusal into a 200).

use liveagent::Timestamp;
use liveagent::sim::{
    AgentAction, AgentScript, AgentStep, DeliveryNote, Dialect, Discrepancy, Fault, FaultKind,
    Pair, PairError, PairStep, Reply, SimConfig, Trigger,
};
use liveagent::{Config, EndReason, Event, Handled, RequestKind};
use std::time::Duration;

fn secs(n: f64) -> Duration {
    Duration::from_secs_f64(n)
}

fn config(sim: &SimConfig) -> Config {
    Config::new(
        sim.endpoint().expect("sim endpoint"),
        "00Dxx0000001gPL",
        "572xx0000004CDV",
        "573xx0000004CFH",
    )
    .visitor_name("Jon A.")
    .seed(5)
}

fn pair(sim: SimConfig) -> Pair {
    Pair::new(config(&sim), sim, Timestamp::ZERO)
}

/// Accepts after 1 s, says two things, echoes every visitor text, ends the chat 6 s after accepting.
fn chatty_agent() -> AgentScript {
    AgentScript::new(vec![
        AgentStep::new(secs(1.0), AgentAction::Accept),
        AgentStep::new(secs(0.5), AgentAction::Say { text: "a1".into() }),
        AgentStep::new(secs(0.5), AgentAction::Say { text: "a2".into() }),
        AgentStep::new(Duration::ZERO, AgentAction::EchoVisitor),
        AgentStep::new(secs(5.0), AgentAction::End),
    ])
}

/// Sends `texts` at the given virtual times, then runs to the end.
fn converse(p: &mut Pair, texts: &[(f64, &str)]) {
    for (at, text) in texts {
        p.run_until_elapsed(secs(*at)).expect("run");
        p.send_message(*text).expect("send");
    }
    p.run().expect("run to the end");
}

/// A tap that rewrites the 200 Messages answers: `f` edits the `messages` array.
fn edit_batches(
    mut f: impl FnMut(&mut Vec<serde_json::Value>) -> bool + 'static,
) -> impl FnMut(&liveagent::sim::TapInfo, Reply) -> Option<Reply> + 'static {
    move |info, reply| {
        let Reply::Response(resp) = reply else {
            return Some(reply);
        };
        if info.kind != RequestKind::Messages || resp.status() != 200 {
            return Some(Reply::Response(resp));
        }
        let (parts, body) = resp.into_parts();
        let mut v: serde_json::Value = serde_json::from_slice(&body).expect("batch JSON");
        let changed = v
            .get_mut("messages")
            .and_then(|m| m.as_array_mut())
            .is_some_and(&mut f);
        let body = if changed {
            serde_json::to_vec(&v).expect("JSON")
        } else {
            body
        };
        Some(Reply::Response(liveagent::http::Response::from_parts(
            parts, body,
        )))
    }
}

fn is_agent_text(m: &serde_json::Value, text: &str) -> bool {
    m["type"] == "ChatMessage" && m["message"]["text"] == text
}

/// A tap that makes the agent text `text` vanish: it becomes an AgentNotTyping in its batch (the batch keeps
/// its length and `sequence`, so the session cannot notice).
fn vanish(
    text: &'static str,
) -> impl FnMut(&liveagent::sim::TapInfo, Reply) -> Option<Reply> + 'static {
    edit_batches(move |ms| {
        let mut changed = false;
        for m in ms.iter_mut().filter(|m| is_agent_text(m, text)) {
            *m = serde_json::json!({"type": "AgentNotTyping", "message": {}});
            changed = true;
        }
        changed
    })
}

// ------------------------------------------------------------------------------------------------
// Whole chats
// ------------------------------------------------------------------------------------------------

#[test]
fn echo_chat_ended_by_the_visitor() {
    let sim = SimConfig::default().with_agent(AgentScript::echo(secs(2.0)));
    let mut p = pair(sim);
    p.send_message("Hello?").expect("send");
    let echo = p
        .run_until_event(|e| matches!(e, Event::AgentMessage(_)))
        .expect("run");
    assert!(matches!(echo, Some(Event::AgentMessage(m)) if m.text == "echo: Hello?"));
    p.end().expect("end");
    p.run().expect("run to the end");
    assert!(p.is_finished());
    assert!(matches!(
        p.session().end_reason(),
        Some(EndReason::VisitorEnded { .. })
    ));
    assert_eq!(p.agent_texts(), ["echo: Hello?"]);
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.sent, 1);
    assert_eq!(report.accepted_by_server, 1);
    insta::assert_snapshot!(format!("{}\n{report}", p.transcript()));
}

#[test]
fn chat_ended_by_the_agent_delivers_everything() {
    let mut p = pair(SimConfig::default().with_agent(chatty_agent()));
    converse(&mut p, &[(2.5, "v1"), (3.0, "v2"), (4.0, "v3")]);
    assert!(matches!(
        p.session().end_reason(),
        Some(EndReason::AgentEnded { .. })
    ));
    assert_eq!(
        p.agent_texts(),
        ["a1", "a2", "echo: v1", "echo: v2", "echo: v3"]
    );
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
    assert!(report.notes.is_empty(), "{report}");
    assert_eq!(report.agent_emitted, 5);
    insta::assert_snapshot!(format!("{}\n{report}", p.transcript()));
}

#[test]
fn handover_in_the_middle_of_a_chat() {
    let sim = SimConfig::default()
        .with_agent(chatty_agent())
        .with_fault(Fault::for_session(0, Trigger::Post(3), FaultKind::Handover));
    let mut p = pair(sim);
    converse(&mut p, &[(2.5, "v1"), (3.0, "v2"), (4.0, "v3")]);
    let rec = p.server().session_by_index(0).expect("session 0");
    assert_eq!(rec.handovers, 1);
    assert_eq!(rec.reconnects, 1);
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
    insta::assert_snapshot!(format!("{}\n{report}", p.transcript()));
}

/// A POST answer lost in transit: the session re-sends, the server drops the retransmission. The texts
/// after it were carried by POSTs that were all answered; a `NeedlessUncertainty` note in the snapshot
/// means the session still called them uncertain (the lead's suspected session bug, not fixed here).
#[test]
fn lost_post_answer() {
    let sim = SimConfig::default()
        .with_agent(chatty_agent())
        .with_fault(Fault::for_session(
            0,
            Trigger::Post(2),
            FaultKind::DropReply,
        ));
    let mut p = pair(sim);
    converse(&mut p, &[(2.5, "v1"), (3.0, "v2"), (4.0, "v3")]);
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        p.server().session_by_index(0).expect("s0").visitor_messages,
        ["v1", "v2", "v3"]
    );
    insta::assert_snapshot!(format!("{}\n{report}", p.transcript()));
}

/// Every attempt of the POST carrying "v1" is lost on the way (`FaultKind::Unreachable`: never processed,
/// the transport fails 2 s later) until the retry budget is spent: the server never saw the text, so the
/// session must not call it delivered, and the delivery check accepts what it says instead.
#[test]
fn a_text_only_sent_to_an_unreachable_server_is_never_called_delivered() {
    let sim = SimConfig::default()
        .with_agent(AgentScript::echo(secs(1.0)))
        .with_fault(Fault::for_session(
            0,
            Trigger::Post(2),
            FaultKind::Unreachable {
                count: 3,
                after: secs(2.0),
            },
        ));
    let mut config = config(&sim);
    config.retry.max_attempts = 3;
    let mut p = Pair::new(config, sim, Timestamp::ZERO);
    p.run_until_elapsed(secs(2.5)).expect("run");
    let v1 = p.send_message("v1").expect("send");
    p.run().expect("run to the end");
    let rec = p.server().session_by_index(0).expect("session 0");
    assert!(rec.visitor_messages.is_empty(), "{}", p.transcript());
    assert!(
        !p.events()
            .iter()
            .any(|e| matches!(e, (_, Event::Delivered(ids)) if ids.contains(&v1))),
        "{}",
        p.transcript()
    );
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.accepted_by_server, 0);
    insta::assert_snapshot!(format!("{}\n{report}", p.transcript()));
}

/// Two attempts of the POST carrying "v1" are lost on the way, the third reaches the server: the text is
/// there once. The session cannot know the lost attempts never arrived (a server may process a re-used
/// sequence number again), so it says `DeliveryUncertain`, which the delivery check accepts.
#[test]
fn a_text_sent_again_after_unreachable_attempts_arrives_once() {
    let sim = SimConfig::default()
        .with_agent(AgentScript::echo(secs(1.0)))
        .with_fault(Fault::for_session(
            0,
            Trigger::Post(2),
            FaultKind::Unreachable {
                count: 2,
                after: secs(2.0),
            },
        ));
    let mut p = pair(sim);
    p.run_until_elapsed(secs(2.5)).expect("run");
    let v1 = p.send_message("v1").expect("send");
    p.run_until_event(|e| matches!(e, Event::AgentMessage(_)))
        .expect("run");
    p.end().expect("end");
    p.run().expect("run to the end");
    let rec = p.server().session_by_index(0).expect("session 0");
    assert_eq!(rec.visitor_messages, ["v1"], "{}", p.transcript());
    assert_eq!(rec.retransmissions, 0);
    assert!(
        p.events()
            .iter()
            .any(|e| matches!(e, (_, Event::DeliveryUncertain(ids)) if ids.contains(&v1))),
        "{}",
        p.transcript()
    );
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
    insta::assert_snapshot!(format!("{}\n{report}", p.transcript()));
}

/// The server's counter drifts on the POST carrying "v1" (`SequenceDrift`: 409 `Actual 4`, not processed),
/// but that 409 is delayed and the session abandons the POST at a handover; after ReconnectSession it
/// re-sends "v1" under the same number (`resetSequence` false: the counter goes on), which the server, past
/// it, answers 200 as a retransmission. The
/// session calls it delivered, and no client could know better: the check notes it instead of flagging it,
/// from the server's record of what it lost that way.
#[test]
fn a_text_lost_to_a_drift_the_session_never_saw_is_noted_not_flagged() {
    let sim = SimConfig::default()
        .with_agent(AgentScript::echo(secs(1.0)))
        .with_fault(Fault::for_session(
            0,
            Trigger::Post(2),
            FaultKind::SequenceDrift(3),
        ))
        .with_fault(Fault::for_session(
            0,
            Trigger::Post(2),
            FaultKind::DelayReply(secs(60.0)),
        ))
        .with_fault(Fault::for_session(
            0,
            Trigger::After(secs(10.0)),
            FaultKind::Handover,
        ))
        .with_dialect(
            Dialect::default()
                .parse_assignments("reset-sequence=false")
                .expect("dialect"),
        );
    let mut p = pair(sim);
    p.run_until_elapsed(secs(2.5)).expect("run");
    p.send_message("v1").expect("send");
    p.run_until_elapsed(secs(20.0)).expect("run");
    p.end().expect("end");
    p.run().expect("run to the end");
    let rec = p.server().session_by_index(0).expect("session 0");
    assert!(rec.visitor_messages.is_empty(), "{}", p.transcript());
    assert_eq!(rec.lost_to_drift, ["v1"]);
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.notes,
        [DeliveryNote::LostToUnseenDrift { text: "v1".into() }],
        "{report}"
    );
    insta::assert_snapshot!(format!("{}\n{report}", p.transcript()));
}

// ------------------------------------------------------------------------------------------------
// Stepping and bounds
// ------------------------------------------------------------------------------------------------

#[test]
fn steps_say_what_happened_and_finish_idempotently() {
    let sim = SimConfig::default().with_agent(AgentScript::echo(secs(1.0)));
    let mut p = pair(sim);
    let first = p.step().expect("step");
    assert!(
        matches!(
            first,
            PairStep::Sent {
                kind: RequestKind::SessionId,
                ..
            }
        ),
        "{first:?}"
    );
    let mut kinds = Vec::new();
    for _ in 0..200 {
        match p.step().expect("step") {
            PairStep::Replied { kind, status, .. } => kinds.push((kind, status)),
            PairStep::Event { index, .. } => {
                if matches!(p.events()[index].1, Event::ChatEstablished(_)) {
                    break;
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        kinds.first(),
        Some(&(RequestKind::SessionId, Some(200))),
        "{kinds:?}"
    );
    assert_eq!(p.session().state(), liveagent::State::Chatting);
    p.end().expect("end");
    p.run().expect("run");
    assert_eq!(p.step().expect("step"), PairStep::Finished);
    assert_eq!(p.step().expect("step"), PairStep::Finished);
}

#[test]
fn run_until_elapsed_stops_the_clock_there() {
    let mut p = pair(SimConfig::default().with_agent(AgentScript::idle()));
    p.run_until_elapsed(secs(12.5)).expect("run");
    assert_eq!(p.elapsed(), secs(12.5));
    assert_eq!(p.session().state(), liveagent::State::Queued);
    let met = p
        .run_until(|p| p.session().in_flight().count() == 0 || p.elapsed() > secs(31.0))
        .expect("run");
    assert!(met);
}

#[test]
fn step_until_never_moves_the_clock_past_its_bound() {
    let mut p = pair(SimConfig::default().with_agent(AgentScript::echo(secs(1.0))));
    let mut steps = 0;
    while let Some(step) = p.step_until(secs(2.5)).expect("step") {
        assert!(p.elapsed() <= secs(2.5), "{step:?} at {:?}", p.elapsed());
        steps += 1;
    }
    assert!(steps > 5);
    assert_eq!(p.elapsed(), secs(2.5));
    assert_eq!(p.session().state(), liveagent::State::Chatting);
    assert_eq!(p.step_until(secs(2.5)).expect("step"), None);
}

// ------------------------------------------------------------------------------------------------
// What the pair records
// ------------------------------------------------------------------------------------------------

/// Credentials are named by the answer that issued them: the first token, then the ReconnectSession's.
#[test]
fn sent_requests_name_their_credentials_and_deadlines() {
    use liveagent::sim::Credential::{Absent, Issued, Null};
    let sim = SimConfig::default()
        .with_agent(chatty_agent())
        .with_fault(Fault::for_session(0, Trigger::Post(3), FaultKind::Handover));
    let mut p = pair(sim);
    converse(&mut p, &[(2.5, "v1"), (3.0, "v2")]);
    let sent = p.sent();
    assert_eq!((sent[0].affinity, sent[0].session_key), (Null, Absent));
    let reconnect = sent
        .iter()
        .position(|s| s.kind == RequestKind::ReconnectSession)
        .expect("a reconnect");
    assert_eq!(sent[reconnect].affinity, Null);
    for s in &sent[1..reconnect] {
        assert_eq!((s.affinity, s.session_key), (Issued(1), Issued(1)), "{s:?}");
    }
    for s in &sent[reconnect + 1..] {
        assert_eq!((s.affinity, s.session_key), (Issued(2), Issued(1)), "{s:?}");
    }
    for s in sent {
        assert!(s.deadline > s.at, "{s:?}");
    }
    // Each reply answers a request that was sent, at most once, in time order; the handover's 503 abandoned
    // the POST in flight, so one request has none.
    let replies = p.replies();
    assert!(replies.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(replies.iter().all(|r| r.handled == Some(Handled::Accepted)));
    let mut ids: Vec<_> = replies.iter().map(|r| r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), replies.len());
    assert_eq!(replies.len() + 1, sent.len());
    assert!(ids.iter().all(|id| sent.iter().any(|s| s.id == *id)));
}

/// Asked to, the pair keeps the connection of a request the session abandoned: its late reply reaches the
/// session, which ignores it. By default the connection is closed and nothing comes.
#[test]
fn replies_to_abandoned_requests_are_delivered_when_asked_and_stale() {
    for deliver in [false, true] {
        let mut p = pair(SimConfig::default().with_agent(AgentScript::idle()));
        p.set_deliver_abandoned(deliver);
        p.run_until_elapsed(secs(2.0)).expect("run");
        p.end().expect("end while queued");
        p.run().expect("run");
        let stale: Vec<_> = p
            .replies()
            .iter()
            .filter(|r| r.handled == Some(Handled::Stale))
            .map(|r| (r.kind, r.status))
            .collect();
        if deliver {
            // DELETE ended the chat: the held poll got 403 after the session had let it go.
            assert_eq!(stale, [(RequestKind::Messages, Some(403))]);
        } else {
            assert!(stale.is_empty(), "{stale:?}");
        }
        assert!(matches!(
            p.session().end_reason(),
            Some(EndReason::VisitorEnded { .. })
        ));
    }
}

/// The process dies with a POST in flight and comes back from a snapshot: the new session re-sends under the
/// same number, the server drops the retransmission, request ids go on, the chat goes on.
#[test]
fn a_restarted_process_resumes_its_chat_against_the_same_server() {
    let sim = SimConfig::default().with_agent(AgentScript::echo(secs(1.0)));
    let cfg = config(&sim);
    let mut p = Pair::new(cfg.clone(), sim, Timestamp::ZERO);
    p.set_reply_tap(|info, reply| (info.kind != RequestKind::Chat).then_some(reply));
    p.run_until_elapsed(secs(2.0)).expect("run");
    p.send_message("before").expect("send");
    p.run_until_elapsed(secs(3.0)).expect("run");
    p.clear_reply_tap();
    let before = p.sent().len();
    let snapshot = p.session().snapshot();
    let resumed = liveagent::Session::resume(cfg, snapshot, p.now()).expect("resumes");
    p.restart(resumed);
    p.run_until_elapsed(secs(4.0)).expect("run");
    p.send_message("after").expect("send");
    p.run_until_elapsed(secs(5.0)).expect("run");
    p.end().expect("end");
    p.run().expect("run");
    let again = &p.sent()[before..];
    let last_id = p.sent()[before - 1].id;
    assert!(again.iter().all(|s| s.id > last_id), "request ids go on");
    let posts: Vec<&str> = again
        .iter()
        .filter(|s| s.kind == RequestKind::Chat)
        .map(|s| s.body.as_str())
        .collect();
    assert_eq!(posts[0], r#"{"text":"before"}"#, "re-sent first");
    let rec = p.server().session_by_index(0).expect("s0");
    assert_eq!(rec.visitor_messages, ["before", "after"]);
    assert_eq!(rec.retransmissions, 1);
    assert_eq!(p.agent_texts(), ["echo: before", "echo: after"]);
    assert!(p.transcript().contains("# process restarted"));
}

#[test]
fn a_chat_nobody_ends_hits_the_step_bound() {
    let mut p = pair(SimConfig::default().with_agent(AgentScript::echo(secs(1.0))));
    p.set_max_steps(500);
    let err = p.run().expect_err("an endless chat");
    assert!(
        matches!(err, PairError::StepLimit { steps: 500, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("500 steps"), "{err}");
}

#[test]
fn transcript_never_shows_the_key_or_the_token() {
    let sim = SimConfig::default()
        .with_agent(chatty_agent())
        .with_fault(Fault::for_session(0, Trigger::Post(2), FaultKind::Handover));
    let mut p = pair(sim);
    converse(&mut p, &[(2.5, "v1")]);
    // And a DELETE (its path holds the key) in another chat.
    let mut q = pair(SimConfig::default().with_agent(AgentScript::idle()));
    q.run_until_elapsed(secs(1.0)).expect("run");
    q.end().expect("end");
    q.run().expect("run");
    for p in [&p, &q] {
        let text = p.transcript();
        let snap = p.session().snapshot();
        let json = serde_json::to_value(&snap).expect("snapshot JSON");
        let secrets: Vec<String> = ["key", "affinity"]
            .iter()
            .filter_map(|k| json.pointer(&format!("/credentials/{k}")))
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret leaked:\n{text}");
        }
        for rec in p.server().sessions() {
            assert!(
                !text.contains(&format!("{}!", rec.id)),
                "a key leaked:\n{text}"
            );
        }
        assert!(
            text.contains("<key>") || text.contains("<affinity>"),
            "{text}"
        );
    }
    assert!(q.transcript().contains("/System/SessionId/<key>"));
}

#[test]
fn same_inputs_same_transcript() {
    let run = || {
        let sim = SimConfig::default()
            .with_agent(chatty_agent())
            .with_fault(Fault::for_session(
                0,
                Trigger::Post(2),
                FaultKind::DropReply,
            ));
        let mut p = pair(sim);
        converse(&mut p, &[(2.5, "v1"), (3.0, "v2")]);
        (p.transcript(), p.server().transcript_text())
    };
    assert_eq!(run(), run());
}

// ------------------------------------------------------------------------------------------------
// The delivery check catches bugs (planted by a reply tap)
// ------------------------------------------------------------------------------------------------

/// An agent message vanishes on its way to the session (as if the session dropped it): the server's record
/// says it was emitted, the chat ended through ChatEnded, so the check must name it.
#[test]
fn planted_dropped_agent_message_is_caught() {
    let mut p = pair(SimConfig::default().with_agent(chatty_agent()));
    p.set_reply_tap(vanish("a2"));
    converse(&mut p, &[(2.5, "v1")]);
    let report = p.check_delivery();
    assert!(!report.is_clean());
    assert!(
        report.discrepancies.iter().any(|d| matches!(
            d,
            Discrepancy::AgentMismatch { received, expected: Some(e), .. }
                if received == "echo: v1" && e == "a2"
        )),
        "{report}"
    );
    insta::assert_snapshot!(report.to_string());
}

/// The last agent message vanishes: nothing after it to mismatch, but the chat ended through ChatEnded.
#[test]
fn planted_dropped_last_agent_message_is_caught() {
    let mut p = pair(SimConfig::default().with_agent(chatty_agent()));
    p.set_reply_tap(vanish("echo: v1"));
    converse(&mut p, &[(2.5, "v1")]);
    let report = p.check_delivery();
    assert_eq!(
        report.discrepancies,
        [Discrepancy::AgentMissing {
            index: 2,
            text: "echo: v1".into()
        }],
        "{report}"
    );
}

/// An agent message reaches the application twice: the batch that should carry "a2" carries "a1" again.
#[test]
fn planted_duplicated_agent_message_is_caught() {
    let mut p = pair(SimConfig::default().with_agent(chatty_agent()));
    p.set_reply_tap(edit_batches(|ms| {
        let mut changed = false;
        for m in ms.iter_mut().filter(|m| is_agent_text(m, "a2")) {
            m["message"]["text"] = "a1".into();
            changed = true;
        }
        changed
    }));
    converse(&mut p, &[(2.5, "v1")]);
    let report = p.check_delivery();
    assert!(
        report.discrepancies.iter().any(|d| matches!(
            d,
            Discrepancy::AgentMismatch { index: 1, received, expected: Some(e) }
                if received == "a1" && e == "a2"
        )),
        "{report}"
    );
}

/// The server refuses a POST (5xx, not processed) but the tap turns the answer into a 200: the session
/// reports Delivered for a text the server never accepted.
#[test]
fn planted_false_acceptance_is_caught() {
    let sim = SimConfig::default()
        .with_agent(chatty_agent())
        .with_fault(Fault::for_session(
            0,
            Trigger::Post(3),
            FaultKind::ServerErrors {
                count: 1,
                status: 500,
            },
        ));
    let mut p = pair(sim);
    p.set_reply_tap(|info, reply| match reply {
        Reply::Response(resp) if info.kind == RequestKind::Chat && resp.status() == 500 => {
            let mut ok = liveagent::http::Response::new(Vec::new());
            *ok.status_mut() = liveagent::http::StatusCode::OK;
            Some(Reply::Response(ok))
        }
        other => Some(other),
    });
    converse(&mut p, &[(2.5, "v1"), (3.0, "v2"), (4.0, "v3")]);
    let report = p.check_delivery();
    assert_eq!(
        report.discrepancies,
        [Discrepancy::DeliveredButMissing { text: "v2".into() }],
        "{report}"
    );
    insta::assert_snapshot!(report.to_string());
}

/// A tap that loses a reply entirely: the session waits until the request's deadline, then retries; the
/// server drops the retransmission, so the text is there once.
#[test]
fn a_lost_reply_is_retried_after_its_deadline() {
    let mut p = pair(SimConfig::default().with_agent(AgentScript::echo(secs(1.0))));
    let mut lost = false;
    p.set_reply_tap(move |info, reply| {
        if info.kind == RequestKind::Chat && !lost {
            lost = true;
            return None;
        }
        Some(reply)
    });
    p.run_until_elapsed(secs(2.5)).expect("run");
    p.send_message("v1").expect("send");
    let retry = p
        .run_until_event(|e| {
            matches!(
                e,
                Event::Retrying {
                    request: RequestKind::Chat,
                    ..
                }
            )
        })
        .expect("run");
    assert!(retry.is_some(), "{}", p.transcript());
    p.run_until_event(|e| matches!(e, Event::DeliveryUncertain(_) | Event::Delivered(_)))
        .expect("run");
    p.end().expect("end");
    p.run().expect("run");
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.accepted_by_server, 1);
    insta::assert_snapshot!(format!("{}\n{report}", p.transcript()));
}

/// A tap that empties every batch holding "a1" while keeping its `sequence`: the simulator re-sends that
/// never-acknowledged batch at once on every poll, forever. The session paces polls whose answers bring
/// nothing new (from the second in a row, no sooner than `floors::MIN_BACKOFF` after the previous poll), so
/// the virtual clock moves and the chat runs to its end instead of spinning at one instant (before the
/// pacing this was a livelock that `Pair` reported as `Stalled`).
#[test]
fn a_server_answering_every_poll_at_once_with_nothing_is_paced() {
    let mut p = pair(SimConfig::default().with_agent(chatty_agent()));
    p.set_reply_tap(edit_batches(|ms| {
        let drop = ms.iter().any(|m| is_agent_text(m, "a1"));
        if drop {
            ms.clear();
        }
        drop
    }));
    p.run()
        .expect("the chat ends: paced polls let the clock move");
    let transcript = p.transcript();
    let polls = transcript
        .lines()
        .filter(|l| l.contains("GET /chat/rest/System/Messages"))
        .count();
    let secs = p.elapsed().as_secs_f64();
    assert!(
        polls as f64 <= 2.0 + 10.0 * secs,
        "{polls} polls in {secs} s:\n{transcript}"
    );
    // The clock moved (the simulator ended the session meanwhile), and what the tap hid never arrived.
    assert!(secs > 1.0, "{secs} s:\n{transcript}");
    let report = p.check_delivery();
    assert!(report.agent_emitted > 0, "{report}");
    assert_eq!(report.agent_received, 0, "{report}");
}

/// A request of the application's own (the file upload the agent asked for) goes to the same server; its
/// reply is kept apart from the session's.
#[test]
fn the_application_uploads_the_file_the_agent_asked_for() {
    let agent = AgentScript::new(Vec::new())
        .then(secs(0.5), AgentAction::Accept)
        .then(Duration::ZERO, AgentAction::RequestFile)
        .then(secs(2.0), AgentAction::End);
    let mut p = pair(SimConfig::default().with_agent(agent));
    let asked = p
        .run_until_event(|e| {
            matches!(e, Event::Message(liveagent::wire::Message::FileTransfer(t))
                if t.kind.as_deref() == Some("Requested"))
        })
        .expect("run");
    let Some(Event::Message(liveagent::wire::Message::FileTransfer(transfer))) = asked else {
        panic!("no FileTransfer request:\n{}", p.transcript());
    };
    let upload = p
        .session()
        .upload_request(&transfer, "receipt.txt", "text/plain", b"paid")
        .expect("upload built");
    let ticket = p.send_app_request(&upload);
    p.run().expect("run to the end");
    let replies = p.app_replies();
    assert_eq!(replies.len(), 1, "{}", p.transcript());
    assert_eq!(replies[0].0, ticket);
    assert_eq!(replies[0].2.status(), Some(200));
    let rec = p.server().session_by_index(0).expect("s0");
    assert!(
        rec.visitor_events
            .iter()
            .any(|e| matches!(e, liveagent::sim::VisitorEvent::FileUploaded { .. })),
        "{:?}",
        rec.visitor_events
    );
    let text = p.transcript();
    assert!(
        !text.contains("chatKey"),
        "the upload's query is not shown:\n{text}"
    );
    insta::assert_snapshot!(text);
}

/// Runs the busy chat of [`a_busy_chat_stays_far_below_the_request_rate_ceiling`] under `limits`; returns
/// the time of every request sent (from the transcript's `→` lines) and the transcript.
fn busy_chat(limits: liveagent::LimitsConfig) -> (Vec<f64>, String) {
    let mut steps = vec![AgentStep::new(secs(1.0), AgentAction::Accept)];
    steps.push(AgentStep::new(Duration::ZERO, AgentAction::EchoVisitor));
    for i in 0..60 {
        steps.push(AgentStep::new(secs(0.1), AgentAction::Typing));
        steps.push(AgentStep::new(
            secs(0.1),
            AgentAction::Say {
                text: format!("agent {i}"),
            },
        ));
    }
    steps.push(AgentStep::new(secs(1.0), AgentAction::End));
    let sim = SimConfig::default().with_agent(AgentScript::new(steps));
    let mut cfg = config(&sim);
    cfg.limits = limits;
    let mut p = Pair::new(cfg, sim, Timestamp::ZERO);
    let mut sent = 0;
    while let Some(ev) = p
        .run_until_event(|e| matches!(e, Event::AgentMessage(m) if m.text.starts_with("agent")))
        .expect("run")
    {
        let Event::AgentMessage(m) = ev else { break };
        p.command("set_typing(true)", |s| s.set_typing(true).map(|_| ()))
            .expect("typing");
        p.command("sneak_peek", |s| s.sneak_peek("typing...").map(|_| ()))
            .expect("sneak peek");
        p.send_message(format!("visitor answers {}", m.text))
            .expect("send");
        sent += 1;
    }
    p.run().expect("run to the end");
    assert_eq!(sent, 60, "the visitor answered every agent message");
    assert!(matches!(
        p.session().end_reason(),
        Some(EndReason::AgentEnded { .. })
    ));
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
    let transcript = p.transcript();
    let times = transcript
        .lines()
        .filter(|l| l.contains(" → ") && !l.contains('✎'))
        .filter_map(|l| {
            l.trim()
                .split('s')
                .next()?
                .trim_start_matches('+')
                .parse()
                .ok()
        })
        .collect();
    (times, transcript)
}

/// Most requests sent in any one-second window.
fn peak_per_second(times: &[f64]) -> usize {
    times
        .iter()
        .map(|&t| times.iter().filter(|&&u| u >= t && u < t + 1.0).count())
        .max()
        .unwrap_or(0)
}

/// The request-rate ceiling (`LimitsConfig::max_requests_per_second`, `request_burst`) must never touch a
/// real chat. A busy one: the agent types and answers every 200 ms and echoes every visitor text at once;
/// the visitor answers every agent message with typing, a sneak peek and a message. Run without a ceiling,
/// its peak (requests in any one-second window, counted from the transcript) is at most half the default
/// sustained rate, and under the default ceiling it sends exactly the same requests.
#[test]
fn a_busy_chat_stays_far_below_the_request_rate_ceiling() {
    let limits = liveagent::LimitsConfig::default();
    let mut unlimited = limits;
    unlimited.max_requests_per_second = u32::MAX;
    unlimited.request_burst = u32::MAX;
    let (free, free_transcript) = busy_chat(unlimited);
    let (capped, capped_transcript) = busy_chat(limits);
    let peak = peak_per_second(&free);
    eprintln!(
        "busy chat: {} requests over {:.1} s, peak {peak} in one second; ceiling {} per second, burst {}",
        free.len(),
        free.last().copied().unwrap_or(0.0),
        limits.max_requests_per_second,
        limits.request_burst
    );
    assert!(free.len() > 200, "a busy chat: {} requests", free.len());
    assert!(
        peak * 2 <= limits.max_requests_per_second as usize,
        "the busy chat's peak ({peak}/s) is not far below the ceiling ({}/s)",
        limits.max_requests_per_second
    );
    assert_eq!(
        free_transcript, capped_transcript,
        "the ceiling changed a real chat"
    );
    assert_eq!(free, capped);
}
