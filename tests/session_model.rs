//! Model-based property test of the session state machine.
//!
//! Random op sequences (commands, answers of every status and shape, transport errors, stale and unknown ids,
//! time jumps forwards and backwards, snapshot/resume) are applied by `liveagent::testkit::Harness`, whose
//! `Monitor` checks the protocol invariants after every step. The same harness backs the fuzz target.
//!
//! A second test runs a fixed, seeded set of cases and fails if any (state, input) pair of the documented list
//! below was never reached.

use liveagent::testkit::{
    BatchSpec, CommandKind, Coverage, ErrorStatus, Harness, InputKind, MsgSpec, Op, ReconnectSpec,
    ScriptedAnswer, SeqSpec, SessionBodySpec, Setup, StatusClass, TimeStep,
};
use liveagent::{RequestKind, State};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestCaseError;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

// ---------------------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("hello".to_string()),
        3 => "[a-z ]{1,12}",
        1 => Just(String::new()),                  // refused: empty
        1 => Just("x".repeat(41)),                 // refused: longer than max_text (40)
        1 => Just("héllo ☃ \"quoted\" \\ \n".to_string()),
    ]
}

/// `newUrl`s a hostile server would send, next to the ones a real migration sends.
fn switch_url() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("https://"),
        Just("http://"),
        Just("HTTPS://"),
        Just(""),
        Just("https:"),
        Just("ftp://"),
    ];
    let host = prop_oneof![
        Just("d.la2-c2-ia4.salesforceliveagent.com"),
        Just("D.LA9.SalesforceLiveAgent.com."),
        Just("d.la1-c1-ia2.salesforceliveagent.com.attacker.example"),
        Just("xsalesforceliveagent.com"),
        Just("attacker.example"),
        Just("169.254.169.254"),
        Just("10.0.0.5"),
        Just("127.0.0.1"),
        Just("[::1]"),
        Just("localhost"),
    ];
    let port = prop_oneof![
        Just(""),
        Just(":443"),
        Just(":8080"),
        Just(":6379"),
        Just(":0"),
        Just(":99999"),
        Just(":"),
    ];
    let path = prop_oneof![Just("/chat"), Just(""), Just("/chat/rest/")];
    prop_oneof![
        6 => (scheme, host, port, path).prop_map(|(s, h, p, q)| format!("{s}{h}{p}{q}")),
        1 => "\\PC{0,24}",
    ]
}

fn msg_spec() -> impl Strategy<Value = MsgSpec> {
    prop_oneof![
        2 => (0i8..5).prop_map(|position| MsgSpec::ChatRequestSuccess { position }),
        1 => (0i8..5).prop_map(|position| MsgSpec::QueueUpdate { position }),
        3 => prop_oneof![
            Just(None),
            Just(Some((5u16, 20u16))),
            Just(Some((60, 120))),
            Just(Some((0, 30))),
        ]
        .prop_map(|idle| MsgSpec::ChatEstablished { idle }),
        4 => "[a-z]{1,6}".prop_map(MsgSpec::ChatMessage),
        2 => Just(MsgSpec::AgentTyping),
        2 => Just(MsgSpec::AgentNotTyping),
        1 => Just(MsgSpec::AgentDisconnect),
        1 => Just(MsgSpec::ChatTransferred),
        1 => (any::<u8>(), any::<bool>())
            .prop_map(|(reason, records)| MsgSpec::ChatEnded { reason, records }),
        1 => Just(MsgSpec::ChatRequestFail),
        1 => Just(MsgSpec::ChasitorSessionData),
        1 => any::<bool>().prop_map(|valid| MsgSpec::SwitchServer { valid }),
        1 => switch_url().prop_map(MsgSpec::SwitchServerTo),
        1 => Just(MsgSpec::CustomEvent),
        1 => Just(MsgSpec::FileTransfer),
        1 => Just(MsgSpec::RichMessage),
        1 => Just(MsgSpec::SensitiveDataRules),
        1 => Just(MsgSpec::Unknown),
        1 => any::<u8>().prop_map(MsgSpec::Mistyped),
    ]
}

fn batch_spec() -> impl Strategy<Value = BatchSpec> {
    (
        prop::collection::vec(msg_spec(), 0..5),
        prop_oneof![
            6 => Just(SeqSpec::Consistent),
            2 => (0u8..4).prop_map(SeqSpec::Overlap),
            1 => Just(SeqSpec::Absent),
            1 => prop_oneof![Just(-1i64), 0i64..20, Just(i64::MAX), Just(i64::MIN)]
                .prop_map(SeqSpec::Arbitrary),
        ],
        prop_oneof![3 => (1i64..1_000_000).prop_map(Some), 1 => Just(None), 1 => Just(Some(0))],
    )
        .prop_map(|(msgs, seq, offset)| BatchSpec { msgs, seq, offset })
}

fn error_status() -> impl Strategy<Value = ErrorStatus> {
    prop_oneof![
        1 => Just(ErrorStatus::BadRequest),
        2 => Just(ErrorStatus::Forbidden),
        1 => Just(ErrorStatus::NotFound),
        1 => Just(ErrorStatus::MethodNotAllowed),
        2 => Just(ErrorStatus::Conflict),
        2 => Just(ErrorStatus::Internal),
        1 => Just(ErrorStatus::BadGateway),
        5 => Just(ErrorStatus::Unavailable),
    ]
}

/// Mostly what a cooperative server answers (so runs get deep into the chat), then every kind of trouble.
fn reply() -> impl Strategy<Value = ScriptedAnswer> {
    prop_oneof![
        50 => any::<u8>().prop_map(ScriptedAnswer::Natural),
        3 => Just(ScriptedAnswer::Ok),
        1 => Just(ScriptedAnswer::Accepted202),
        2 => Just(ScriptedAnswer::NoContent204),
        20 => error_status().prop_map(ScriptedAnswer::Status),
        3 => (prop_oneof![-3i32..3, Just(-100), Just(1000), Just(i32::MIN)], any::<bool>())
            .prop_map(|(actual, relative)| ScriptedAnswer::OutOfSync { actual, relative }),
        2 => any::<u8>().prop_map(ScriptedAnswer::Garbage),
        1 => Just(ScriptedAnswer::Empty),
        8 => batch_spec().prop_map(ScriptedAnswer::Batch),
        1 => prop_oneof![
            3 => Just(SessionBodySpec::Valid),
            1 => Just(SessionBodySpec::MissingKey),
            1 => Just(SessionBodySpec::EmptyId),
            1 => Just(SessionBodySpec::BadTokenChars),
            1 => Just(SessionBodySpec::NotJson),
        ]
        .prop_map(ScriptedAnswer::SessionBody),
        2 => prop_oneof![
            2 => prop::option::of(any::<bool>()).prop_map(|reset| ReconnectSpec::Valid { reset }),
            1 => prop::option::of(any::<bool>()).prop_map(|reset| ReconnectSpec::Wrapped { reset }),
            1 => Just(ReconnectSpec::MissingToken),
            1 => Just(ReconnectSpec::NotJson),
        ]
        .prop_map(ScriptedAnswer::ReconnectBody),
    ]
}

fn time_step() -> impl Strategy<Value = TimeStep> {
    prop_oneof![
        3 => any::<u16>().prop_map(TimeStep::Millis),
        3 => (0u16..200).prop_map(TimeStep::Secs),
        1 => (0u16..10).prop_map(TimeStep::Hours),
        1 => Just(TimeStep::Huge),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => text().prop_map(Op::SendMessage),
        2 => any::<bool>().prop_map(Op::SetTyping),
        1 => text().prop_map(Op::SneakPeek),
        1 => prop_oneof![Just(String::new()), Just("survey".to_string())]
            .prop_map(|kind| Op::CustomEvent { kind, data: "{}".into() }),
        1 => Just(Op::End),
        40 => (any::<u8>(), reply()).prop_map(|(pick, reply)| Op::Respond { pick, reply }),
        3 => any::<u8>().prop_map(|pick| Op::TransportError { pick }),
        2 => (any::<u8>(), reply()).prop_map(|(pick, reply)| Op::RespondStale { pick, reply }),
        1 => (0u8..3).prop_map(|ahead| Op::RespondUnknown { ahead }),
        1 => Just(Op::DuplicateAnswer),
        2 => (time_step(), any::<bool>()).prop_map(|(step, fire)| Op::Advance { step, fire }),
        1 => time_step().prop_map(Op::Backwards),
        5 => Just(Op::Sleep),
        1 => Just(Op::SpuriousTimeout),
        2 => Just(Op::SnapshotResume),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (any::<u64>(), 1u8..4, 2u8..8, 2u8..7, any::<bool>()).prop_map(
        |(seed, max_batch, max_queued, max_attempts, poll_counter)| Setup {
            seed,
            max_batch,
            max_queued,
            max_text: 40,
            max_attempts,
            poll_counter,
        },
    )
}

/// Scripted openings that bring the session deep into the chat before the random ops start, so answers of
/// every kind land in every state. `(name, ops, state reached, reconnecting)`.
fn prefixes() -> Vec<(&'static str, Vec<Op>, State, bool)> {
    let ok = |v: u8| Op::Respond {
        pick: 0,
        reply: ScriptedAnswer::Natural(v),
    };
    let fail503 = Op::Respond {
        pick: 0,
        reply: ScriptedAnswer::Status(ErrorStatus::Unavailable),
    };
    // SessionId, ChasitorInit, then a poll answered with ChatRequestSuccess + ChatEstablished.
    let chatting = vec![ok(0), ok(0), ok(0)];
    let with = |base: &[Op], more: &[Op]| [base, more].concat();
    // Reconnect (resetSequence false), then a poll holding only ChasitorSessionData: ResyncState goes out.
    let handover = [fail503.clone(), ok(0), ok(1)];
    let disconnected = with(&chatting, &[ok(5)]);
    let ending = with(&chatting, &[Op::End]);
    vec![
        ("none", vec![], State::Connecting, false),
        ("chatting", chatting.clone(), State::Chatting, false),
        (
            "chatting, Chat in flight",
            with(&chatting, &[Op::SendMessage("hi".into())]),
            State::Chatting,
            false,
        ),
        (
            "agent disconnected, Chat in flight",
            with(&chatting, &[Op::SendMessage("hi".into()), ok(5)]),
            State::AgentDisconnected,
            false,
        ),
        ("ending", ending.clone(), State::Ending, false),
        (
            "chatting, ResyncState in flight",
            with(&chatting, &handover),
            State::Chatting,
            true,
        ),
        (
            "agent disconnected, ResyncState in flight",
            with(&disconnected, &handover),
            State::AgentDisconnected,
            true,
        ),
        (
            "ending, ResyncState in flight",
            with(&ending, &handover),
            State::Ending,
            true,
        ),
        (
            "chatting, ReconnectSession in flight",
            with(&chatting, std::slice::from_ref(&fail503)),
            State::Chatting,
            true,
        ),
        (
            "agent disconnected, ReconnectSession in flight",
            with(&disconnected, std::slice::from_ref(&fail503)),
            State::AgentDisconnected,
            true,
        ),
        (
            "ending, ReconnectSession in flight",
            with(&ending, std::slice::from_ref(&fail503)),
            State::Ending,
            true,
        ),
        (
            "queued, ResyncState in flight",
            with(&[ok(0), ok(0), ok(1)], &handover),
            State::Queued,
            true,
        ),
        (
            "requested, ResyncState in flight",
            with(&[ok(0), ok(0)], &handover),
            State::Requested,
            true,
        ),
        (
            "queued, ReconnectSession in flight",
            vec![ok(0), ok(0), ok(1), fail503.clone()],
            State::Queued,
            true,
        ),
        (
            "requested, ReconnectSession in flight",
            vec![ok(0), ok(0), fail503.clone()],
            State::Requested,
            true,
        ),
        (
            "deleting from initializing",
            vec![ok(0), Op::End],
            State::Deleting,
            false,
        ),
        (
            "deleting from queued",
            vec![ok(0), ok(0), ok(1), Op::End],
            State::Deleting,
            false,
        ),
        (
            // The fallback ChatEnd after a refused DELETE, so its answers land in Deleting.
            "deleting from queued, DELETE refused, ChatEnd in flight",
            vec![
                ok(0),
                ok(0),
                ok(1),
                Op::End,
                Op::Respond {
                    pick: 0,
                    reply: ScriptedAnswer::Status(ErrorStatus::BadRequest),
                },
            ],
            State::Deleting,
            false,
        ),
        (
            "initializing, ReconnectSession in flight",
            vec![ok(0), fail503],
            State::Initializing,
            true,
        ),
    ]
}

/// Every way of answering, with equal weight. Right after an opening, one op is often an answer drawn from
/// here (or a command): so the request the opening left in flight (often a ReconnectSession or ResyncState)
/// gets each kind of answer in that state.
fn any_reply_uniform() -> impl Strategy<Value = ScriptedAnswer> {
    prop_oneof![
        any::<u8>().prop_map(ScriptedAnswer::Natural),
        Just(ScriptedAnswer::Ok),
        Just(ScriptedAnswer::NoContent204),
        Just(ScriptedAnswer::Status(ErrorStatus::BadRequest)),
        Just(ScriptedAnswer::Status(ErrorStatus::Forbidden)),
        Just(ScriptedAnswer::Status(ErrorStatus::Conflict)),
        Just(ScriptedAnswer::Status(ErrorStatus::Internal)),
        Just(ScriptedAnswer::Status(ErrorStatus::Unavailable)),
        (-2i32..2).prop_map(|actual| ScriptedAnswer::OutOfSync {
            actual,
            relative: true
        }),
        any::<u8>().prop_map(ScriptedAnswer::Garbage),
        batch_spec().prop_map(ScriptedAnswer::Batch),
    ]
}

fn case() -> impl Strategy<Value = (Setup, Vec<Op>)> {
    let openings: Vec<Vec<Op>> = prefixes().into_iter().map(|(_, ops, _, _)| ops).collect();
    let n = openings.len();
    (
        setup(),
        // A third of the cases start from scratch, the rest from a scripted opening.
        prop_oneof![1 => Just(0usize), 2 => 0..n],
        prop::option::weighted(
            0.6,
            prop_oneof![
                // Mostly the first request in flight: the one the opening is about.
                4 => (prop_oneof![3 => Just(0u8), 1 => any::<u8>()], any_reply_uniform())
                    .prop_map(|(pick, reply)| Op::Respond { pick, reply }),
                1 => prop_oneof![3 => Just(0u8), 1 => any::<u8>()]
                    .prop_map(|pick| Op::TransportError { pick }),
                1 => prop_oneof![
                    Just(Op::SendMessage("hi".into())),
                    Just(Op::SetTyping(true)),
                    Just(Op::SneakPeek("h".into())),
                    Just(Op::CustomEvent { kind: "survey".into(), data: "{}".into() }),
                    Just(Op::End),
                ],
            ],
        ),
        prop::collection::vec(op(), 1..60),
    )
        .prop_map(move |(setup, which, first, ops)| {
            let mut all = openings.get(which).cloned().unwrap_or_default();
            all.extend(first);
            all.extend(ops);
            (setup, all)
        })
}

#[test]
fn openings_reach_their_states() {
    for (name, ops, state, reconnecting) in prefixes() {
        let h = Harness::run(Setup::default(), liveagent::Timestamp::ZERO, &ops)
            .unwrap_or_else(|v| panic!("{name}: {v}"));
        assert_eq!(h.session().state(), state, "{name}\n{:#?}", h.trace());
        assert_eq!(
            h.session().is_reconnecting(),
            reconnecting,
            "{name}\n{:#?}",
            h.trace()
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn session_upholds_invariants((setup, ops) in case()) {
        if let Err(v) = Harness::run(setup, liveagent::Timestamp::ZERO, &ops) {
            prop_assert!(false, "{}", v);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Every snapshot the session writes resumes (from every state a run reaches), and the resumed session
    /// is endable: `end()`, then a cooperative server, and the chat is over within a bounded number of
    /// answers.
    #[test]
    fn every_snapshot_resumes_and_the_resumed_session_ends((setup, ops) in case()) {
        let mut h = Harness::new(setup, liveagent::Timestamp::ZERO)
            .map_err(|v| TestCaseError::fail(v.to_string()))?;
        for op in &ops {
            h.apply(op).map_err(|v| TestCaseError::fail(v.to_string()))?;
        }
        if h.session().state() == State::Ended {
            return Ok(());
        }
        // The harness fails the case if the session's own snapshot is refused.
        h.apply(&Op::SnapshotResume).map_err(|v| TestCaseError::fail(v.to_string()))?;
        h.apply(&Op::End).map_err(|v| TestCaseError::fail(v.to_string()))?;
        for _ in 0..200 {
            if h.session().state() == State::Ended {
                break;
            }
            let op = if h.session().in_flight().next().is_some() {
                Op::Respond { pick: 0, reply: ScriptedAnswer::Natural(0) }
            } else {
                Op::Sleep
            };
            h.apply(&op).map_err(|v| TestCaseError::fail(v.to_string()))?;
        }
        prop_assert_eq!(
            h.session().state(),
            State::Ended,
            "resumed and ended, still {:?}: {:#?}",
            h.session().state(),
            h.trace()
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// Transition coverage
// ---------------------------------------------------------------------------------------------------------

const ALL_STATES: [State; 9] = [
    State::Connecting,
    State::Initializing,
    State::Requested,
    State::Queued,
    State::Chatting,
    State::AgentDisconnected,
    State::Ending,
    State::Deleting,
    State::Ended,
];

const COMMANDS: [CommandKind; 5] = [
    CommandKind::SendMessage,
    CommandKind::SetTyping,
    CommandKind::SneakPeek,
    CommandKind::CustomEvent,
    CommandKind::End,
];

/// Which requests can be in flight in each state (so can be answered there).
fn in_flight_kinds(state: State) -> &'static [RequestKind] {
    use RequestKind::*;
    match state {
        State::Connecting => &[SessionId],
        State::Initializing => &[ChasitorInit, ReconnectSession],
        // ChasitorResyncState after every reconnect once ChasitorInit was accepted, queued too.
        State::Requested | State::Queued => &[Messages, ResyncState, ReconnectSession],
        State::Chatting | State::AgentDisconnected | State::Ending => {
            &[Messages, Chat, ResyncState, ReconnectSession]
        }
        // The ChatEnd fallback when DELETE SessionId was refused.
        State::Deleting => &[DeleteSession, Chat],
        _ => &[],
    }
}

/// How each request kind can be answered (status classes as the session reads them).
fn classes(kind: RequestKind) -> &'static [StatusClass] {
    use StatusClass::*;
    match kind {
        RequestKind::SessionId | RequestKind::ReconnectSession => &[
            Ok,
            BadBody,
            Rejected4xx,
            Forbidden403,
            Conflict409,
            Server5xx,
            Unavailable503,
        ],
        RequestKind::Messages => &[
            Ok,
            NoContent,
            BadBody,
            Rejected4xx,
            Forbidden403,
            Conflict409,
            Server5xx,
            Unavailable503,
        ],
        RequestKind::ChasitorInit | RequestKind::Chat => &[
            Ok,
            Rejected4xx,
            Forbidden403,
            Conflict409,
            OutOfSync409,
            Server5xx,
            Unavailable503,
        ],
        RequestKind::ResyncState => &[
            Ok,
            Rejected4xx,
            Forbidden403,
            Conflict409,
            Server5xx,
            Unavailable503,
        ],
        _ => &[Ok, Rejected4xx, Forbidden403, Server5xx, Unavailable503],
    }
}

/// The documented list of reachable (state, input) pairs:
/// * in every state: each command, a `handle_timeout` call, an answer to a stale id and to a never-issued id,
///   the clock going backwards, and snapshot/resume;
/// * for each request kind that can be in flight in the state: each way of answering it, a transport error,
///   and its deadline passing.
fn expected_pairs() -> Vec<(State, InputKind)> {
    let mut v = Vec::new();
    for s in ALL_STATES {
        for c in COMMANDS {
            v.push((s, InputKind::Command(c)));
        }
        v.push((s, InputKind::Timeout));
        v.push((s, InputKind::StaleId));
        v.push((s, InputKind::UnknownId));
        v.push((s, InputKind::TimeBackwards));
        v.push((s, InputKind::Resume));
        for &k in in_flight_kinds(s) {
            for &c in classes(k) {
                v.push((s, InputKind::Response(k, c)));
            }
            v.push((s, InputKind::TransportError(k)));
            v.push((s, InputKind::Expiry(k)));
        }
    }
    v
}

#[test]
fn transition_coverage() {
    const CASES: usize = 3200;
    let mut runner = TestRunner::new_with_rng(
        proptest::test_runner::Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[42; 32]),
    );
    let strategy = case();
    let mut total = Coverage::default();
    let mut violations = Vec::new();
    let mut visits = [0usize; 9];
    let mut handovers = 0usize;
    for i in 0..CASES {
        let (setup, ops) = strategy
            .new_tree(&mut runner)
            .expect("strategy generates")
            .current();
        match Harness::new(setup, liveagent::Timestamp::ZERO) {
            Ok(mut h) => {
                for op in &ops {
                    if let Err(v) = h.apply(op) {
                        violations.push(format!("case {i}: {v}"));
                        break;
                    }
                }
                for (n, s) in ALL_STATES.iter().enumerate() {
                    if h.coverage().pairs().iter().any(|(st, _)| st == s) {
                        visits[n] += 1;
                    }
                }
                if h.coverage().pairs().iter().any(|(_, i)| {
                    matches!(i, InputKind::Response(RequestKind::ReconnectSession, _))
                }) {
                    handovers += 1;
                }
                total.merge(h.coverage());
            }
            Err(v) => violations.push(format!("case {i}: {v}")),
        }
    }
    let expected = expected_pairs();
    let missing: Vec<_> = expected
        .iter()
        .filter(|(s, i)| !total.contains(*s, *i))
        .collect();
    let extra: Vec<_> = total
        .pairs()
        .into_iter()
        .filter(|p| !expected.contains(p))
        .collect();
    eprintln!("transition coverage over {CASES} seeded cases:");
    for s in ALL_STATES {
        let want: Vec<_> = expected.iter().filter(|(st, _)| *st == s).collect();
        let hit = want
            .iter()
            .filter(|(st, i)| total.contains(*st, *i))
            .count();
        let n = ALL_STATES.iter().position(|x| *x == s).unwrap_or(0);
        eprintln!(
            "  {:<18} {hit:>3} / {:<3} pairs hit; state reached in {} cases",
            format!("{s:?}"),
            want.len(),
            visits[n]
        );
    }
    eprintln!("  cases with a 503 handover reaching ReconnectSession: {handovers}");
    eprintln!(
        "  total              {} / {} expected pairs hit ({} pairs reached in all)",
        expected.len() - missing.len(),
        expected.len(),
        total.len()
    );
    for (s, i) in &missing {
        eprintln!("  MISSING {s:?} × {i:?}");
    }
    for (s, i) in &extra {
        eprintln!("  also reached (not in the list) {s:?} × {i:?}");
    }
    assert!(
        violations.is_empty(),
        "{} violations, first:\n{}",
        violations.len(),
        violations.first().map(String::as_str).unwrap_or("")
    );
    assert!(
        missing.is_empty(),
        "{} documented pairs never reached: {missing:?}",
        missing.len()
    );
}

/// The clock driven to the end of what `Timestamp` can represent (`Huge` steps saturate there, without firing), then
/// the timers fire: nothing may panic or hot-loop; requests expire one attempt per wake-up until the session
/// gives up.
#[test]
fn clock_at_the_end_of_time() {
    let ok = |v: u8| Op::Respond {
        pick: 0,
        reply: ScriptedAnswer::Natural(v),
    };
    for opening in [vec![], vec![ok(0), ok(0), ok(0)]] {
        let mut ops = opening;
        ops.extend(std::iter::repeat_n(
            Op::Advance {
                step: TimeStep::Huge,
                fire: false,
            },
            100,
        ));
        ops.extend([
            Op::Sleep,
            ok(0),
            Op::Sleep,
            Op::SendMessage("late".into()),
            Op::Sleep,
        ]);
        ops.extend(std::iter::repeat_n(Op::Sleep, 20));
        if let Err(v) = Harness::run(Setup::default(), liveagent::Timestamp::ZERO, &ops) {
            panic!("{v}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The snapshot's bytes
// ---------------------------------------------------------------------------------------------------------

/// What tells one stored chat's shape from another: its state and every field that says how it ends, how it
/// reconnects and what its unacknowledged batch is.
fn snapshot_shape(v: &serde_json::Value) -> String {
    let field = |name: &str| v.get(name).map_or("-".to_string(), |x| x.to_string());
    let unacked = match v.get("unacked") {
        Some(serde_json::Value::Object(b)) => format!(
            "batch(uncertain={},in_flight={},renumbered={})",
            b.get("uncertain").unwrap_or(&serde_json::Value::Null),
            b.get("in_flight").unwrap_or(&serde_json::Value::Null),
            b.get("renumbered").unwrap_or(&serde_json::Value::Null),
        ),
        _ => "no batch".into(),
    };
    let names = [
        "state",
        "reconnect",
        "poll_ack",
        "ending_reason",
        "end_requested",
        "chat_end_accepted",
        "chat_requested",
        "delete_refused",
        "chat_end_refused",
        "numbering_unverified",
    ];
    let mut key: Vec<String> = names.iter().map(|n| format!("{n}={}", field(n))).collect();
    key.push(unacked);
    key.join(" ")
}

/// The snapshot is the persistence format, so for the same history the session must write the same bytes
/// whatever its insides look like. Seeded runs (the model test's cases) take a snapshot after every step; the
/// first one written in each shape (state, ending, reconnect and batch fields) is kept here, byte for byte.
#[test]
fn snapshots_written_along_seeded_runs_keep_their_bytes() {
    const CASES: usize = 600;
    let mut runner = TestRunner::new_with_rng(
        proptest::test_runner::Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = case();
    let mut first_of_shape = std::collections::BTreeMap::new();
    for _ in 0..CASES {
        let (setup, ops) = strategy
            .new_tree(&mut runner)
            .expect("strategy generates")
            .current();
        let mut h = Harness::new(setup, liveagent::Timestamp::ZERO).expect("harness starts");
        for op in &ops {
            h.apply(op).expect("the model test holds");
            let json = serde_json::to_string(&h.session().snapshot()).expect("serialises");
            let value: serde_json::Value = serde_json::from_str(&json).expect("reads back");
            first_of_shape.entry(snapshot_shape(&value)).or_insert(json);
        }
    }
    let written: Vec<String> = first_of_shape
        .iter()
        .map(|(shape, json)| format!("{shape}\n{json}\n"))
        .collect();
    insta::assert_snapshot!(written.join("\n"));
}
