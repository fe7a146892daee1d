//! Whole chats of the real `Session` against `liveagent::sim::Server` under every server dialect:
//! each switch value alone on top of the default, and a pairwise covering array of all switches generated
//! here (deterministic, greedy, checked to cover every pair). Seven chats each: a handover while queued, a
//! handover while chatting (a POST in flight), a 409 `Out of sync`, a lost POST answer, ending while queued,
//! ending while chatting, messages typed in quick succession.
//!
//! Asserted for every (dialect, chat), from the SIMULATOR's record (not the session's own counters):
//! * the chat completes: the session ends the ordinary way (visitor or agent), the server's session is over;
//! * each visitor message reaches the server exactly once — or the session named it in
//!   `Event::DeliveryUncertain` (then at most twice), or in `Event::Undelivered` (then never); a message
//!   reported `Delivered` is at the server;
//! * agent messages reach the application exactly once, in order (all of them when the chat ended through
//!   ChatEnded);
//! * the simulator's conformance report holds no violation.
//!
//! Figures (combinations, chats completed, duplicates seen) are printed by `dialect_matrix` (run with
//! `--nocapture`). Insta transcripts for the interesting combinations.

use liveagent::Timestamp;
use liveagent::sim::{
    AgentAction, AgentScript, AgentStep, Dialect, Fault, FaultKind, FaultPlan, Pair, SimConfig,
    Trigger,
};
use liveagent::{CommandId, Config, EndReason, Event, RetryPolicy};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

fn secs(n: f64) -> Duration {
    Duration::from_secs_f64(n)
}

// ------------------------------------------------------------------------------------------------
// The chats
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chat {
    HandoverQueued,
    HandoverChatting,
    OutOfSync,
    LostPostAnswer,
    EndQueued,
    EndChatting,
    /// Messages typed in quick succession (servers were seen to drop ChatMessages < 15 ms apart).
    RapidMessages,
}

const CHATS: [Chat; 7] = [
    Chat::HandoverQueued,
    Chat::HandoverChatting,
    Chat::OutOfSync,
    Chat::LostPostAnswer,
    Chat::EndQueued,
    Chat::EndChatting,
    Chat::RapidMessages,
];

#[derive(Debug, Clone)]
enum Act {
    Send(&'static str),
    End,
}

struct Plan {
    agent: Vec<AgentStep>,
    faults: Vec<Fault>,
    /// (virtual time since the start, act)
    visitor: Vec<(Duration, Act)>,
}

fn say(after: f64, text: &str) -> AgentStep {
    AgentStep::new(
        secs(after),
        AgentAction::Say {
            text: text.to_owned(),
        },
    )
}

fn plan(chat: Chat) -> Plan {
    let accept_at = |after: f64| AgentStep::new(secs(after), AgentAction::Accept);
    let fault = |at: Trigger, kind: FaultKind| Fault::for_session(0, at, kind);
    // Agent timelines count from ChasitorInit (about 0.1 s after the start).
    let chatting_agent = vec![
        accept_at(1.0),
        say(1.0, "a1"),
        say(2.0, "a2"),
        say(3.0, "a3"),
        AgentStep::new(secs(6.0), AgentAction::End),
    ];
    match chat {
        Chat::HandoverQueued => Plan {
            agent: vec![
                accept_at(4.0),
                say(1.0, "a1"),
                say(1.0, "a2"),
                AgentStep::new(secs(4.0), AgentAction::End),
            ],
            faults: vec![fault(Trigger::After(secs(2.0)), FaultKind::Handover)],
            visitor: vec![(secs(1.0), Act::Send("v1")), (secs(6.0), Act::Send("v2"))],
        },
        // v2's POST is still in flight (its answer delayed) when the handover 503 arrives: the session
        // abandons it, and only the ChasitorSessionData transcript can tell whether the server took it.
        Chat::HandoverChatting => Plan {
            agent: chatting_agent,
            faults: vec![
                fault(Trigger::Post(3), FaultKind::DelayReply(secs(1.0))),
                fault(Trigger::After(secs(4.5)), FaultKind::Handover),
            ],
            visitor: vec![
                (secs(2.0), Act::Send("v1")),
                (secs(4.45), Act::Send("v2")),
                (secs(6.0), Act::Send("v3")),
            ],
        },
        Chat::OutOfSync => Plan {
            agent: chatting_agent,
            faults: vec![fault(Trigger::Post(3), FaultKind::SequenceDrift(5))],
            visitor: vec![
                (secs(2.0), Act::Send("v1")),
                (secs(3.0), Act::Send("v2")),
                (secs(5.0), Act::Send("v3")),
            ],
        },
        Chat::LostPostAnswer => Plan {
            agent: chatting_agent,
            faults: vec![fault(Trigger::Post(2), FaultKind::DropReply)],
            visitor: vec![
                (secs(2.0), Act::Send("v1")),
                (secs(3.0), Act::Send("v2")),
                (secs(5.0), Act::Send("v3")),
            ],
        },
        Chat::EndQueued => Plan {
            agent: vec![accept_at(20.0), say(1.0, "too late")],
            faults: vec![],
            visitor: vec![(secs(1.0), Act::Send("v1")), (secs(2.0), Act::End)],
        },
        Chat::RapidMessages => Plan {
            agent: chatting_agent,
            faults: vec![],
            visitor: vec![
                (secs(2.0), Act::Send("v1")),
                (secs(2.005), Act::Send("v2")),
                (secs(2.030), Act::Send("v3")),
            ],
        },
        Chat::EndChatting => Plan {
            agent: vec![accept_at(1.0), say(1.0, "a1"), say(1.0, "a2")],
            faults: vec![],
            visitor: vec![
                (secs(2.0), Act::Send("v1")),
                (secs(3.5), Act::Send("v2")),
                (secs(5.0), Act::End),
            ],
        },
    }
}

// ------------------------------------------------------------------------------------------------
// The driver: session <-> simulator on a virtual clock (sim::Pair)
// ------------------------------------------------------------------------------------------------

struct Run {
    label: String,
    chat: Chat,
    /// The session and the simulator on one virtual clock: the crate's one client-server harness.
    pair: Pair,
    events: Vec<Event>,
    sent: HashMap<CommandId, &'static str>,
    transcript: String,
}

const MAX_TIME: Duration = Duration::from_secs(600);

fn run(chat: Chat, dialect: &Dialect, label: &str) -> Run {
    let start = Timestamp::ZERO;
    let p = plan(chat);
    let mut sim = SimConfig::default().with_seed(11);
    sim.dialect = dialect.clone();
    sim.agent = AgentScript::new(p.agent);
    sim.faults = FaultPlan { faults: p.faults };
    let endpoint = sim.endpoint().expect("sim endpoint");
    let config = Config::new(
        endpoint,
        "00Dxx0000001gPL",
        "572xx0000004CDV",
        "573xx0000004CFH",
    )
    .visitor_name("Jon A.")
    .seed(5)
    .retry(RetryPolicy::default());
    let mut pair = Pair::new(config, sim, start);
    let mut sent = HashMap::new();
    let mut failure = None;
    for (at, act) in p.visitor {
        if let Err(e) = pair.run_until_elapsed(at) {
            failure = Some(e.to_string());
            break;
        }
        if pair.is_finished() {
            break;
        }
        match act {
            Act::Send(text) => {
                if let Ok(id) = pair.send_message(text) {
                    sent.insert(id, text);
                }
            }
            Act::End => {
                let _ = pair.end();
            }
        }
    }
    if failure.is_none()
        && let Err(e) = pair.run_until_elapsed(MAX_TIME)
    {
        failure = Some(e.to_string());
    }
    let mut transcript = pair.transcript();
    if let Some(f) = failure {
        let _ = writeln!(transcript, "harness: {f}");
    }
    Run {
        label: label.to_owned(),
        chat,
        events: pair.events().iter().map(|(_, e)| e.clone()).collect(),
        pair,
        sent,
        transcript,
    }
}

impl Run {
    fn ids_in(&self, pick: fn(&Event) -> Option<&Vec<CommandId>>) -> HashSet<CommandId> {
        self.events
            .iter()
            .filter_map(pick)
            .flatten()
            .copied()
            .collect()
    }

    /// Every way the (dialect, chat) run can fail, as text; empty when it passed. Also returns the number of
    /// visitor messages the server holds twice (allowed only when the session said the delivery was uncertain).
    fn check(&self) -> (Vec<String>, usize) {
        let mut bad = Vec::new();
        let mut duplicates = 0;
        // The chat completes.
        let reason = self.pair.session().end_reason().cloned();
        match &reason {
            Some(r) if r.is_normal() => {}
            other => bad.push(format!("did not complete: {other:?}")),
        }
        let Some(id) = self.pair.session().session_id().map(str::to_owned) else {
            bad.push("no session".into());
            return (bad, 0);
        };
        if let Some(rec) = self.pair.server().session(&id)
            && rec.state.is_live()
        {
            bad.push(format!(
                "the server's session is still live ({:?})",
                rec.state
            ));
        }
        // Visitor -> server, from the simulator's record.
        let at_server: Vec<String> = self
            .pair
            .server()
            .visitor_messages(&id)
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        let delivered = self.ids_in(|e| match e {
            Event::Delivered(ids) => Some(ids),
            _ => None,
        });
        let uncertain = self.ids_in(|e| match e {
            Event::DeliveryUncertain(ids) => Some(ids),
            _ => None,
        });
        let undelivered = self.ids_in(|e| match e {
            Event::Undelivered(ids) => Some(ids),
            _ => None,
        });
        let mut ids: Vec<_> = self.sent.iter().collect();
        ids.sort();
        for (cid, text) in ids {
            let n = at_server.iter().filter(|t| t == text).count();
            if n > 1 {
                duplicates += n - 1;
            }
            let ok = if uncertain.contains(cid) {
                n <= 2
            } else if undelivered.contains(cid) {
                n == 0
            } else {
                n == 1 && delivered.contains(cid)
            };
            if !ok {
                bad.push(format!(
                    "visitor message {text:?} ({cid:?}) is at the server {n} time(s); delivered {}, uncertain {}, undelivered {}",
                    delivered.contains(cid),
                    uncertain.contains(cid),
                    undelivered.contains(cid)
                ));
            }
        }
        let mut firsts = Vec::new();
        for t in &at_server {
            if !firsts.contains(t) {
                firsts.push(t.clone());
            }
        }
        let mut order: Vec<&str> = self
            .sent
            .iter()
            .map(|(c, t)| (c, *t))
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect();
        order.retain(|t| firsts.iter().any(|f| f == t));
        if firsts != order {
            bad.push(format!(
                "visitor messages out of order at the server: {at_server:?}"
            ));
        }
        // Server -> application: exactly once, in order.
        let emitted: Vec<String> = self
            .pair
            .server()
            .agent_messages(&id)
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        let received: Vec<String> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::AgentMessage(m) => Some(m.text.clone()),
                _ => None,
            })
            .collect();
        let through_chat_ended = matches!(
            reason,
            Some(EndReason::AgentEnded { .. })
                | Some(EndReason::VisitorEnded {
                    attached_records: Some(_)
                })
        );
        if !emitted.starts_with(&received) || (through_chat_ended && emitted != received) {
            bad.push(format!(
                "agent messages: emitted {emitted:?}, received {received:?}"
            ));
        }
        // No request the dialect forbids. (The probe of `Actual + 1` after a 409 `Out of sync`, which a server
        // reading `Actual` as the next expected number refuses, is a warning in the simulator: no client can
        // know the reading without it.)
        let report = self.pair.server().conformance_report();
        let violations: Vec<String> = report
            .sessions
            .iter()
            .flat_map(|s| s.violations.iter())
            .map(|f| format!("{} #{} {}: {}", f.code, f.request, f.request_line, f.what))
            .collect();
        if !violations.is_empty() {
            bad.push(format!(
                "conformance violations: {violations:?}\n{}",
                report.to_text()
            ));
        }
        (bad, duplicates)
    }
}

// ------------------------------------------------------------------------------------------------
// The dialects
// ------------------------------------------------------------------------------------------------

/// A pairwise covering array over `sizes` (every value pair of every two switches in some row), built greedily
/// and deterministically: rows start all-default (value 0); each new row is seeded with the first uncovered
/// pair and every other position takes the value covering the most uncovered pairs (ties: the lowest).
fn covering_array(sizes: &[usize]) -> Vec<Vec<usize>> {
    let n = sizes.len();
    let mut uncovered: HashSet<(usize, usize, usize, usize)> = HashSet::new();
    for i in 0..n {
        for j in i + 1..n {
            for a in 0..sizes[i] {
                for b in 0..sizes[j] {
                    uncovered.insert((i, a, j, b));
                }
            }
        }
    }
    let cover = |row: &[usize], u: &mut HashSet<(usize, usize, usize, usize)>| {
        for i in 0..row.len() {
            for j in i + 1..row.len() {
                u.remove(&(i, row[i], j, row[j]));
            }
        }
    };
    let mut rows = vec![vec![0; n]];
    cover(&rows[0], &mut uncovered);
    while !uncovered.is_empty() {
        let &(si, sa, sj, sb) = uncovered.iter().min().expect("non-empty");
        let mut row: Vec<Option<usize>> = vec![None; n];
        row[si] = Some(sa);
        row[sj] = Some(sb);
        for k in 0..n {
            if row[k].is_some() {
                continue;
            }
            let gain = |v: usize| {
                (0..n)
                    .filter_map(|o| row[o].map(|ov| (o, ov)))
                    .filter(|&(o, ov)| {
                        let key = if o < k { (o, ov, k, v) } else { (k, v, o, ov) };
                        uncovered.contains(&key)
                    })
                    .count()
            };
            let best = (0..sizes[k])
                .max_by_key(|&v| (gain(v), std::cmp::Reverse(v)))
                .unwrap_or(0);
            row[k] = Some(best);
        }
        let row: Vec<usize> = row.into_iter().map(|v| v.unwrap_or(0)).collect();
        cover(&row, &mut uncovered);
        rows.push(row);
    }
    rows
}

/// Switch values in `Dialect::switches()` order, the default first.
fn switch_values() -> Vec<(&'static str, Vec<&'static str>)> {
    Dialect::switches()
        .iter()
        .map(|s| {
            let mut v = vec![s.default];
            v.extend(s.values.iter().filter(|x| **x != s.default));
            (s.name, v)
        })
        .collect()
}

fn dialect_of(choice: &[usize]) -> Dialect {
    let mut d = Dialect::default();
    for ((name, values), &c) in switch_values().iter().zip(choice) {
        d.set(name, values[c]).expect("a declared switch value");
    }
    d
}

/// Every dialect to run: the default, each value alone, then the pairwise rows (label, dialect).
fn dialects() -> Vec<(String, Dialect)> {
    let mut out = vec![("default".to_owned(), Dialect::default())];
    for (name, values) in switch_values() {
        for v in values.iter().skip(1) {
            let mut d = Dialect::default();
            d.set(name, v).expect("a declared switch value");
            out.push((format!("{name}={v}"), d));
        }
    }
    let sizes: Vec<usize> = switch_values().iter().map(|(_, v)| v.len()).collect();
    for (i, row) in covering_array(&sizes).iter().enumerate().skip(1) {
        let d = dialect_of(row);
        out.push((format!("pairwise#{i} {}", d.label()), d));
    }
    out
}

#[test]
fn covering_array_covers_every_pair() {
    let sizes: Vec<usize> = switch_values().iter().map(|(_, v)| v.len()).collect();
    let rows = covering_array(&sizes);
    for i in 0..sizes.len() {
        for j in i + 1..sizes.len() {
            for a in 0..sizes[i] {
                for b in 0..sizes[j] {
                    assert!(
                        rows.iter().any(|r| r[i] == a && r[j] == b),
                        "pair ({i}={a}, {j}={b}) not covered"
                    );
                }
            }
        }
    }
    assert_eq!(rows, covering_array(&sizes), "deterministic");
    // Far fewer rows than the full product.
    assert!(rows.len() < 40, "{} rows", rows.len());
}

// ------------------------------------------------------------------------------------------------
// The matrix
// ------------------------------------------------------------------------------------------------

#[test]
fn dialect_matrix() {
    let all = dialects();
    let mut failures = Vec::new();
    let mut runs = 0usize;
    let mut completed = 0usize;
    let mut duplicates = 0usize;
    let mut uncertain = 0usize;
    for (label, d) in &all {
        for chat in CHATS {
            let r = run(chat, d, label);
            runs += 1;
            let (bad, dups) = r.check();
            duplicates += dups;
            if r.pair
                .session()
                .end_reason()
                .is_some_and(EndReason::is_normal)
            {
                completed += 1;
            }
            if r.events
                .iter()
                .any(|e| matches!(e, Event::DeliveryUncertain(_)))
            {
                uncertain += 1;
            }
            if !bad.is_empty() {
                failures.push(format!(
                    "[{label}] {chat:?}:\n  {}\n--- transcript\n{}",
                    bad.join("\n  "),
                    r.transcript
                ));
            }
        }
    }
    let pairwise = all
        .iter()
        .filter(|(l, _)| l.starts_with("pairwise#"))
        .count();
    eprintln!(
        "dialects: {} combinations ({} switches: default + {} single values + {pairwise} pairwise rows), {runs} chats run, {completed} completed, {duplicates} duplicate visitor messages at the server (each named by DeliveryUncertain), {uncertain} chats with DeliveryUncertain, {} failing",
        all.len(),
        Dialect::switches().len(),
        all.len() - 1 - pairwise,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} chats failed; first:\n{}",
        failures.len(),
        failures.join("\n=====\n")
    );
}

/// Readable transcripts of the interesting combinations.
#[test]
fn interesting_transcripts() {
    let cases: [(&str, Chat, &str); 7] = [
        (
            "rapid_messages_paced",
            Chat::RapidMessages,
            "rapid-messages=dropped",
        ),
        (
            "handover_queued_resync_required",
            Chat::HandoverQueued,
            "resync=required",
        ),
        (
            "handover_queued_resync_refused",
            Chat::HandoverQueued,
            "resync=refused-while-queued",
        ),
        (
            "out_of_sync_next_expected",
            Chat::OutOfSync,
            "out-of-sync-actual=next-expected,sequence-rule=consecutive",
        ),
        (
            "handover_chatting_reset_false",
            Chat::HandoverChatting,
            "reset-sequence=false",
        ),
        (
            "end_queued_chat_end_only",
            Chat::EndQueued,
            "end-while-queued=chat-end-only",
        ),
        (
            "lost_post_answer_duplicates_processed",
            Chat::LostPostAnswer,
            "duplicate-sequence=processed",
        ),
    ];
    for (name, chat, assignments) in cases {
        let d = Dialect::default()
            .parse_assignments(assignments)
            .expect("valid assignments");
        let r = run(chat, &d, assignments);
        let (bad, _) = r.check();
        assert!(bad.is_empty(), "{name}: {bad:?}\n{}", r.transcript);
        insta::assert_snapshot!(
            name,
            format!("dialect: {}\nchat: {chat:?}\n\n{}", r.label, r.transcript)
        );
        let _ = r.chat;
    }
}
