//! The `session_ops` target: the testkit's [`Monitor`](crate::testkit::Monitor), fed with [`Op`]s drawn by
//! their derived `Arbitrary`.

use crate::Timestamp;
use crate::testkit::{Harness, Op, Setup};
use arbitrary::{Arbitrary, Unstructured};

/// At most this many ops per input: long enough to get deep into a chat, short enough to stay fast.
pub(crate) const MAX_OPS: usize = 256;

/// The run an input stands for (also what a regression test prints for a failing case): a first byte (odd:
/// the session [`Setup`] follows, drawn from the input; even: the default setup), then [`Op`]s drawn with
/// `Arbitrary` until the input ends (at most 256).
pub fn session_ops_input(data: &[u8]) -> (Setup, Vec<Op>) {
    let mut u = Unstructured::new(data);
    let d = Setup::default();
    let setup = if data.first().is_some_and(|b| b & 1 == 1) {
        let _ = u.bytes(1);
        Setup {
            seed: u.arbitrary().unwrap_or(d.seed),
            max_batch: u.int_in_range(1..=5).unwrap_or(d.max_batch),
            max_queued: u.int_in_range(1..=8).unwrap_or(d.max_queued),
            max_text: u.int_in_range(1..=64).unwrap_or(d.max_text),
            max_attempts: u.int_in_range(1..=8).unwrap_or(d.max_attempts),
            poll_counter: u.arbitrary().unwrap_or(d.poll_counter),
        }
    } else {
        let _ = u.bytes(1);
        d
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    (setup, ops)
}

/// Input: see [`session_ops_input`]. The ops are commands, answers (cooperative, every error status, 409
/// out-of-sync, garbage, structured batches of every message type with consistent, overlapping, absent or
/// arbitrary `sequence`, SessionId/ReconnectSession bodies valid or broken, and any status with any bytes),
/// transport errors, answers to stale, duplicated and never-issued request ids, time steps forwards (up to the
/// end of `Timestamp`) and backwards, spurious timeouts, snapshot/resume. Zero bytes draw
/// `Op::Respond { reply: ScriptedAnswer::Natural(0), .. }`: a cooperative server.
///
/// Checks: everything [`Monitor`](crate::testkit::Monitor) checks, after every step (the same code as the
/// property test `tests/session_model.rs`).
pub fn session_ops(data: &[u8]) -> Result<(), super::Finding> {
    let (setup, ops) = session_ops_input(data);
    match Harness::run(setup, Timestamp::ZERO, &ops) {
        Ok(_) => Ok(()),
        Err(v) => fail!("{v}"),
    }
}
