//! The fault plan: deterministic misbehaviour of the server, given as plain data (so a fuzzer can generate it).
//!
//! A [`Fault`] says *which session* (by creation index, or every session), *when* ([`Trigger`]) and *what*
//! ([`FaultKind`]). Every fault fires at most once per session it applies to.
//!
//! Request-count triggers fire when the counted request arrives, before it is processed, so the fault applies
//! to that very request. Time triggers ([`Trigger::After`]) "arm" the fault at that moment: effects on replies
//! (drop, delay, 5xx burst, duplicate batch) then apply to the next request(s) of the session, while state
//! changes (handover, expiry, server switch) take effect at once — a held poll is answered immediately.

use super::Server;
use super::encoding::*;
use super::routing::*;
use crate::sim::ServerEnd;
use crate::sim::session::Switch;
use crate::time::Timestamp;
use crate::wire::{self, Message};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A list of faults. The default plan is empty: a well-behaved server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FaultPlan {
    /// The faults, in any order.
    pub faults: Vec<Fault>,
}

impl FaultPlan {
    /// An empty plan.
    pub fn new() -> Self {
        FaultPlan::default()
    }

    /// Adds a fault (builder style).
    #[must_use]
    pub fn with(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// True when no fault is planned.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }
}

/// One planned fault. Serde: `{"session": n (absent or null: every session), "at": trigger, "kind": kind}`,
/// unknown fields refused; `at` and `kind` also read the externally tagged spelling scenario files used
/// before (`{"Poll": 4}`, `"Handover"`, `{"After": {"secs": 5, "nanos": 0}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// The session it applies to, by creation index (0 = the first SessionId the server answered); `None` =
    /// every session (each one independently). Ignored for [`Trigger::ServerRequest`].
    pub session: Option<usize>,
    /// When it fires.
    #[serde(deserialize_with = "super::forms::trigger")]
    pub at: Trigger,
    /// What happens.
    #[serde(deserialize_with = "super::forms::fault_kind")]
    pub kind: FaultKind,
}

impl Fault {
    /// A fault for the session with creation index `session`.
    pub fn for_session(session: usize, at: Trigger, kind: FaultKind) -> Fault {
        Fault {
            session: Some(session),
            at,
            kind,
        }
    }

    /// A fault for every session.
    pub fn every_session(at: Trigger, kind: FaultKind) -> Fault {
        Fault {
            session: None,
            at,
            kind,
        }
    }
}

/// When a fault fires. Counters are 1-based.
///
/// Serde: `{"type": "request" | "poll" | "post" | "serverRequest", "n": n}` or `{"type": "after", "ms": n}`,
/// as `docs/boundary.md` gives fault plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum Trigger {
    /// The n-th request carrying the session's key (header `X-LIVEAGENT-SESSION-KEY`, or the key in a DELETE
    /// path). The SessionId request that created the session is not counted; ChasitorInit is usually the first.
    #[serde(with = "super::forms::n_field")]
    Request(u64),
    /// The n-th `System/Messages` poll of the session.
    #[serde(with = "super::forms::n_field")]
    Poll(u64),
    /// The n-th POST (Chasitor noun, MultiNoun or Breadcrumb) of the session; ChasitorInit is usually the first.
    #[serde(with = "super::forms::n_field")]
    Post(u64),
    /// This long after the session was created.
    #[serde(with = "super::forms::at_ms")]
    After(Duration),
    /// The n-th request the server receives, whatever it is (also SessionId and Visitor requests). Session-
    /// level kinds (handover, expiry, switch, duplicate) apply to the request's session, if it has one.
    #[serde(with = "super::forms::n_field")]
    ServerRequest(u64),
}

/// What a fault does.
///
/// Serde: tagged by `type`, camelCase, durations in milliseconds: `{"type": "handover"}`, `{"type":
/// "delayReply", "ms": 250}`, `{"type": "serverErrors", "count": 2, "status": 503}`, `{"type":
/// "sequenceDrift", "by": 3}`, `{"type": "unreachable", "count": 2, "ms": 1000}`, as `docs/boundary.md`
/// gives fault plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum FaultKind {
    /// The request is processed normally but its reply is [`Reply::Drop`](crate::sim::Reply::Drop): the transport
    /// closes the connection without answering (a lost response). For a held poll, the eventual answer is
    /// dropped; its messages stay unacknowledged and are redelivered to the next poll with the same `ack`.
    DropReply,
    /// The request is processed normally but its reply becomes ready only this much later (for a held poll:
    /// this much after it is answered).
    #[serde(with = "super::forms::kind_ms")]
    DelayReply(Duration),
    /// This request and the next `count - 1` requests of the session are answered with `status` (meant for
    /// 500, 502, 504) and not processed. A 503 here also enables ReconnectSession, as any 503 does.
    ServerErrors {
        /// How many requests in a row.
        count: u32,
        /// The HTTP status to answer.
        status: u16,
    },
    /// The session expires on the server: this and every later request gets 403.
    Expire,
    /// Server handover (spec §4.6): the affinity token is invalidated. The next session request (or a held
    /// poll, at once) gets 503; then only ReconnectSession is accepted.
    Handover,
    /// The org moves: a `SwitchServer` message is emitted with `newUrl` = the alternate host (or back to the
    /// primary on a second switch). Once the visitor acknowledged it (a poll with `ack` >= its index), the
    /// session's requests must go to the new host.
    SwitchServer,
    /// The next poll (this one, if it is a poll) is answered with the previous 200 batch again, byte for byte:
    /// same messages, same `sequence` and `offset`. Waits for a previous batch if there is none yet.
    DuplicateBatch,
    /// The server's sequence counter jumps ahead by this much (as if it had accepted requests the visitor
    /// never sent): the next sequenced POST is answered 409 `Out of sync Ack. Expected N. Actual M` with the
    /// new counter M and not processed. A client that continues from M + 1 loses nothing.
    #[serde(with = "super::forms::by_field")]
    SequenceDrift(u64),
    /// The server is out of reach: this request and the next `count - 1` requests of the session never arrive
    /// (they are not processed, though they still count for request triggers), and the transport reports
    /// each failure `after` later ([`Reply::Drop`](crate::sim::Reply::Drop): no answer; the answer latency
    /// does not apply). Armed by a time trigger, the requests that follow are lost the same way, and a poll
    /// the server holds loses its connection at once (one of the `count`).
    Unreachable {
        /// How many requests in a row.
        count: u32,
        /// How long the transport takes to give up on each.
        #[serde(rename = "ms", with = "super::forms::kind_ms_number")]
        after: Duration,
    },
}

impl Server {
    /// Fires a fault on a session now, as a time trigger would. Returns false if there is no such live session.
    pub fn inject_fault(&mut self, session_id: &str, kind: FaultKind, now: Timestamp) -> bool {
        let now = self.clock(now);
        self.advance(now);
        let Some(&si) = self.by_id.get(session_id) else {
            return false;
        };
        if !self.is_live(si) {
            return false;
        }
        self.fire(si, kind, now, None);
        self.flush(now);
        true
    }

    pub(super) fn fire(&mut self, si: usize, kind: FaultKind, t: Timestamp, ctx: Option<&mut Ctx>) {
        self.log(t, None, Some(si), format!("fault {kind:?}"));
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        match kind {
            FaultKind::DropReply => match ctx {
                Some(c) => c.fx.drop = true,
                None => s.armed.drop = true,
            },
            FaultKind::DelayReply(d) => match ctx {
                Some(c) => c.fx.delay = Some(d),
                None => s.armed.delay = Some(d),
            },
            FaultKind::ServerErrors { count, status } => {
                s.armed.burst_left = count;
                s.armed.burst_status = status;
            }
            FaultKind::DuplicateBatch => s.armed.duplicate = true,
            FaultKind::SequenceDrift(k) => s.armed.sequence_drift = k,
            FaultKind::Unreachable { count, after } => {
                s.armed.unreachable_left = count;
                s.armed.unreachable_after = after;
                // Armed by time: the connection of a poll the server holds breaks now.
                if ctx.is_none() && count > 0 && s.held.is_some() {
                    s.armed.unreachable_left = count - 1;
                    self.break_held(si, t);
                }
            }
            FaultKind::Expire => self.end_session(si, ServerEnd::Expired, t),
            FaultKind::Handover => {
                // The session moved to another app server: the token the visitor holds is stale at once.
                let shape = self.config.dialect.affinity_shape;
                let mut token = self.rng.token(shape);
                if token == s.token {
                    token = self.rng.token(shape);
                }
                let old = std::mem::replace(&mut s.token, token);
                if !s.dx.handover_pending {
                    // The token the visitor holds (and may send on ReconnectSession, as CARBON does).
                    s.prev_token = Some(old.into_boxed_str());
                    s.dx.handover_pending = true;
                    s.dx.answered_503 = 0;
                }
                s.rec.handovers = s.rec.handovers.saturating_add(1);
                if s.held.is_some() {
                    s.reconnect_allowed = true;
                    s.dx.answered_503 |= 1;
                    self.answer_held(si, Answer::text(503, "Service Unavailable"), t);
                }
            }
            FaultKind::SwitchServer => {
                let to_alternate = !s.switch.is_some_and(|w| w.to_alternate);
                let host = if to_alternate {
                    &self.config.alternate_host
                } else {
                    &self.config.host
                };
                let url = format!("{}://{host}/chat", self.config.scheme);
                let index = s.next_index;
                s.switch = Some(Switch {
                    index,
                    acked: false,
                    to_alternate,
                    old_host_closed: false,
                });
                s.rec.switched_to = Some(url.clone());
                self.emit(
                    si,
                    Message::SwitchServer(wire::SwitchServer { new_url: url }),
                    t,
                );
            }
        }
    }
}
