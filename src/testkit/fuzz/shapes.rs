//! How fuzzer bytes become the real input types, where a derived `Arbitrary` would draw the wrong sizes.
//!
//! The testkit's [`Op`](crate::testkit::Op) family derives `Arbitrary` (in `testkit/op.rs`); the functions
//! here shape single fields of it (`#[arbitrary(with = ...)]`): command texts that are mostly accepted,
//! at most eight messages a batch, statuses in range, bodies without the harness's secrets. The simulator's
//! input types get hand-written impls, because every one of them needs shaping: counters of 1..=12 (a
//! fault at the 40,000th poll never fires), durations in tenths of a second, the statuses a fault plan is
//! meant for, fixed agent texts.
//!
//! Every impl reads its bytes in the order its doc says, with variant tags drawn as the derive draws them
//! ([`variant`]): the committed seeds and regression inputs mean the same ops they meant when these were
//! separate mirror types in the fuzz crate.

use crate::sim::{AgentAction, AgentScript, Dialect, Fault, FaultKind, Trigger};
use crate::testkit::{MsgSpec, ReconnectSpec, SECRET_MARK, SessionBodySpec};
use arbitrary::{Arbitrary, Result, Unstructured};
use std::time::Duration;

/// A variant index below `count`, drawn exactly as `#[derive(Arbitrary)]` draws an enum's variant (a `u32`,
/// multiplied and shifted), so a hand-written impl reads the same bytes as the derived mirror it replaced.
pub(crate) fn variant(u: &mut Unstructured<'_>, count: u64) -> Result<u64> {
    Ok((u64::from(u32::arbitrary(u)?) * count) >> 32)
}

/// A command text: mostly short and printable (so commands are accepted), sometimes empty, long, or any
/// string (with the harness's secret mark defused, see [`without_mark`]).
pub(crate) fn command_text(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => String::new(),
        1 => String::arbitrary(u)?.replace(SECRET_MARK, "secret"),
        2 => "x".repeat(usize::from(u.int_in_range(30u8..=60)?)),
        _ => format!("hi {}", u16::arbitrary(u)?),
    })
}

/// The messages of a batch: drawn as a `Vec`, at most the first eight kept.
pub(crate) fn batch_messages(u: &mut Unstructured<'_>) -> Result<Vec<MsgSpec>> {
    let mut msgs = Vec::<MsgSpec>::arbitrary(u)?;
    msgs.truncate(8);
    Ok(msgs)
}

/// A raw answer's status: any `u16` folded into 100..=999.
pub(crate) fn raw_status(u: &mut Unstructured<'_>) -> Result<u16> {
    Ok(100 + u16::arbitrary(u)? % 900)
}

/// A raw answer's body: any bytes, the secret mark defused.
pub(crate) fn raw_body(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    Ok(without_mark(Vec::<u8>::arbitrary(u)?))
}

/// The monitor reports any text holding a session key or affinity token it issued as a leak. Those secrets are
/// predictable (`SeCrEtKey0001x`, ...), and libFuzzer learns them from the monitor's own `contains` calls, so a
/// fuzzer-made text could hold one and be "leaked" by the visitor himself: such texts get the mark defused.
pub(crate) fn without_mark(mut body: Vec<u8>) -> Vec<u8> {
    let mark = SECRET_MARK.as_bytes();
    let mut i = 0usize;
    while let Some(w) = body.get(i..i.saturating_add(mark.len())) {
        if w == mark {
            body.splice(i..i + mark.len(), b"secret".iter().copied());
        }
        i += 1;
    }
    body
}

/// One `u8`, modulo the five kinds.
impl<'a> Arbitrary<'a> for SessionBodySpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u8::arbitrary(u)? % 5 {
            0 => SessionBodySpec::Valid,
            1 => SessionBodySpec::MissingKey,
            2 => SessionBodySpec::EmptyId,
            3 => SessionBodySpec::BadTokenChars,
            _ => SessionBodySpec::NotJson,
        })
    }
}

/// One `u8` (modulo the four kinds), then an `Option<bool>` for `resetSequence` (always drawn).
impl<'a> Arbitrary<'a> for ReconnectSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let kind = u8::arbitrary(u)?;
        let reset = Option::<bool>::arbitrary(u)?;
        Ok(match kind % 4 {
            0 => ReconnectSpec::Valid { reset },
            1 => ReconnectSpec::Wrapped { reset },
            2 => ReconnectSpec::MissingToken,
            _ => ReconnectSpec::NotJson,
        })
    }
}

/// A request or poll count of 1..=12.
fn small_count(u: &mut Unstructured<'_>) -> Result<u64> {
    u.int_in_range(1u64..=12)
}

/// A `u8` or `u16` count of tenths of a second.
fn tenths(n: impl Into<u64>) -> Duration {
    Duration::from_millis(n.into() * 100)
}

/// A fault for the chat's first session (creation index 0): the trigger, then the kind.
impl<'a> Arbitrary<'a> for Fault {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let at = Trigger::arbitrary(u)?;
        let kind = FaultKind::arbitrary(u)?;
        Ok(Fault::for_session(0, at, kind))
    }
}

/// Counters of 1..=12; `After` in tenths of a second (a `u16`).
impl<'a> Arbitrary<'a> for Trigger {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match variant(u, 5)? {
            0 => Trigger::Request(small_count(u)?),
            1 => Trigger::Poll(small_count(u)?),
            2 => Trigger::Post(small_count(u)?),
            3 => Trigger::After(tenths(u16::arbitrary(u)?)),
            _ => Trigger::ServerRequest(small_count(u)?),
        })
    }
}

/// Delays up to a `u16` of milliseconds; 1..=4 server errors, mostly 500/502/503/504 and sometimes any
/// 4xx/5xx; drifts of 1..=8. Every kind but `Unreachable`: a ninth variant would redraw the kind of every
/// stored input, so the `sim_session` target draws its unreachable faults at the end of the input instead.
impl<'a> Arbitrary<'a> for FaultKind {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match variant(u, 8)? {
            0 => FaultKind::DropReply,
            1 => FaultKind::DelayReply(Duration::from_millis(u64::from(u16::arbitrary(u)?))),
            2 => {
                let count = u8::arbitrary(u)?;
                let status = u16::arbitrary(u)?;
                FaultKind::ServerErrors {
                    count: u32::from(count % 4) + 1,
                    status: match status % 8 {
                        0 => 502,
                        1 => 503,
                        2 => 504,
                        3 => 400 + status % 200,
                        _ => 500,
                    },
                }
            }
            3 => FaultKind::Expire,
            4 => FaultKind::Handover,
            5 => FaultKind::SwitchServer,
            6 => FaultKind::DuplicateBatch,
            _ => FaultKind::SequenceDrift(u64::from(u8::arbitrary(u)? % 8) + 1),
        })
    }
}

/// Every action but `Emit`, with fixed texts (`Say` says `agent says`; [`AgentScript`]'s impl numbers them).
impl<'a> Arbitrary<'a> for AgentAction {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match variant(u, 14)? {
            0 => AgentAction::Accept,
            1 => AgentAction::Say {
                text: "agent says".into(),
            },
            2 => AgentAction::EchoVisitor,
            3 => AgentAction::Typing,
            4 => AgentAction::NotTyping,
            5 => AgentAction::QueueUpdate {
                position: i64::from(i8::arbitrary(u)?),
            },
            6 => AgentAction::StopEcho,
            7 => AgentAction::Transfer {
                to_name: "Bea".into(),
            },
            8 => AgentAction::Disconnect,
            9 => AgentAction::End,
            10 => AgentAction::Decline {
                reason: "Unavailable".into(),
            },
            11 => AgentAction::RequestFile,
            12 => AgentAction::Menu {
                header: "Pick".into(),
                items: vec!["a".into(), "b".into()],
            },
            _ => AgentAction::CustomEvent {
                kind: "survey".into(),
                data: "1".into(),
            },
        })
    }
}

/// The simulator's default agent; an echo agent accepting after a `u8` of tenths of a second; or a script
/// of (tenths of a second after the previous step, action) steps, the first 16 kept, its `Say` texts
/// numbered (`agent says 1`, ...) so that each agent text is unique.
impl<'a> Arbitrary<'a> for AgentScript {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match variant(u, 3)? {
            0 => AgentScript::default(),
            1 => AgentScript::echo(tenths(u8::arbitrary(u)?)),
            _ => {
                let mut steps = Vec::<(u8, AgentAction)>::arbitrary(u)?;
                steps.truncate(16);
                let mut said = 0u32;
                let mut script = AgentScript::new(Vec::with_capacity(steps.len()));
                for (after, mut action) in steps {
                    if let AgentAction::Say { text } = &mut action {
                        said += 1;
                        *text = format!("agent says {said}");
                    }
                    script = script.then(tenths(after), action);
                }
                script
            }
        })
    }
}

/// One byte per switch ([`Dialect::from_choices`]); bytes that run out leave the default (so an input that
/// ends before its dialect keeps the default dialect).
impl<'a> Arbitrary<'a> for Dialect {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut choices = Vec::with_capacity(Dialect::switches().len());
        for _ in Dialect::switches() {
            choices.push(u8::arbitrary(u)?);
        }
        Ok(Dialect::from_choices(&choices))
    }
}
