//! `System/Messages`: emitting messages into a session, holding polls, delivering batches.

use super::encoding::*;
use super::routing::*;
use super::{Server, Timer};
use crate::sim::conformance::{Severity, codes};
use crate::sim::dialect as d;
use crate::sim::session::{ChatRecord, Effects, Held};
use crate::sim::{ServerEnd, offset_for_index};
use crate::time::Timestamp;
use crate::wire::Message;
use http::Request;

impl Server {
    pub(super) fn emit(&mut self, si: usize, msg: Message, t: Timestamp) {
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        if !s.rec.state.is_live() {
            return;
        }
        let idx = s.next_index;
        s.next_index = s.next_index.saturating_add(1);
        let mut text = if self.config.record_transcript {
            format!("emit {idx} {}", describe(&msg))
        } else {
            String::new()
        };
        // `typing-order=swapped`: an AgentNotTyping overtakes the undelivered AgentTyping just before it.
        let last_delivered = s.last_delivered;
        let overtaken = if self.config.dialect.typing_order == d::TypingOrder::Swapped
            && matches!(msg, Message::AgentNotTyping(_))
        {
            s.retained
                .back_mut()
                .filter(|(i, m)| *i > last_delivered && matches!(m, Message::AgentTyping(_)))
        } else {
            None
        };
        let msg = match overtaken {
            Some((prev, typing)) => {
                if self.config.record_transcript {
                    text.push_str(&format!(
                        " (swapped: goes out as {prev}, AgentTyping as {idx})"
                    ));
                }
                std::mem::replace(typing, msg)
            }
            None => msg,
        };
        s.retained.push_back((idx, msg));
        if !s.dirty {
            s.dirty = true;
            self.dirty.push(si);
        }
        self.log(t, None, Some(si), text);
    }

    /// Answers held polls of sessions that got new messages.
    pub(super) fn flush(&mut self, t: Timestamp) {
        while let Some(si) = self.dirty.pop() {
            let Some(s) = self.sessions.get_mut(si) else {
                continue;
            };
            s.dirty = false;
            if s.held.is_some() && deliverable(s) {
                let lost = s.held.as_ref().is_some_and(|h| h.fx.drop);
                let (a, ends) = self.batch(si);
                self.answer_held(si, a, t);
                if let Some(reason) = ends {
                    self.final_batch_sent(si, reason, lost, t);
                }
            }
        }
    }

    /// The batch with the final message went out: the session ends, unless the answer was lost on the way (a
    /// dropped reply), in which case the visitor never saw the final message and polls for it again with the
    /// same `ack`: the session stays open to deliver it then.
    pub(super) fn final_batch_sent(
        &mut self,
        si: usize,
        reason: ServerEnd,
        lost: bool,
        t: Timestamp,
    ) {
        if !lost {
            self.end_session(si, reason, t);
            return;
        }
        if let Some(s) = self.sessions.get_mut(si) {
            s.dx.final_delivered = false;
        }
        let line = "the final message's answer was lost: delivered again to the next poll";
        self.log(t, None, Some(si), line.into());
    }

    /// A 200 batch of every retained message, and the end reason if it carries the final message (the caller
    /// ends the session after sending it).
    pub(super) fn batch(&mut self, si: usize) -> (Answer, Option<ServerEnd>) {
        let numbers = self.config.dialect.numbers;
        let Some(s) = self.sessions.get_mut(si) else {
            return (Answer::text(500, "no session"), None);
        };
        // Under a `resync=required` barrier only the messages up to it go out.
        let upto = s.dx.resync_barrier.unwrap_or(i64::MAX);
        let Some(last) = s
            .retained
            .iter()
            .take_while(|(i, _)| *i <= upto)
            .last()
            .map(|(i, _)| *i)
        else {
            return (Answer::empty(204, "no messages"), None);
        };
        // The wire `sequence` (internal indices minus `seq_base`: see `ReconnectAck::MinusOne`).
        let sequence = last.saturating_sub(s.dx.seq_base);
        let note = if self.config.record_transcript {
            let kinds: Vec<&str> = s
                .retained
                .iter()
                .take_while(|(i, _)| *i <= upto)
                .map(|(_, m)| m.kind())
                .collect();
            format!(
                "{} message{} seq {sequence} [{}]",
                kinds.len(),
                if kinds.len() == 1 { "" } else { "s" },
                kinds.join(", ")
            )
        } else {
            String::new()
        };
        // Serialised from the retained messages in place (the same bytes as a `MessagesBody`, without cloning).
        let body = BatchBody {
            retained: &s.retained,
            upto,
            sequence,
            offset: offset_for_index(last),
        };
        let a = Answer::json_of(&body, note, numbers, 1);
        s.last_delivered = s.last_delivered.max(last);
        if s.keep_last_batch && a.status == 200 {
            s.last_batch = Some(a.body.clone());
        }
        let ends = if s.final_index.is_some_and(|f| f <= last) {
            s.dx.final_delivered = true;
            s.rec.state.end_reason()
        } else {
            None
        };
        (a, ends)
    }

    pub(super) fn answer_held(&mut self, si: usize, a: Answer, t: Timestamp) {
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        let Some(h) = s.held.take() else {
            return;
        };
        self.timers.remove(&h.timer);
        self.held_by_ticket.remove(&h.ticket.0);
        self.send(h.ticket, Some(si), a, h.fx, t, None);
        self.set_idle(si, t);
    }

    /// The connection of the held poll breaks: the client gets no answer ([`FaultKind::Unreachable`]).
    ///
    /// [`FaultKind::Unreachable`]: crate::sim::FaultKind::Unreachable
    pub(super) fn break_held(&mut self, si: usize, t: Timestamp) {
        let Some(h) = self.sessions.get_mut(si).and_then(|s| s.held.take()) else {
            return;
        };
        self.timers.remove(&h.timer);
        self.held_by_ticket.remove(&h.ticket.0);
        let fx = Effects {
            unreachable: Some(std::time::Duration::ZERO),
            ..Effects::default()
        };
        self.send(h.ticket, Some(si), Answer::empty(0, ""), fx, t, None);
        self.set_idle(si, t);
    }

    pub(super) fn messages<B>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        query: &Query<'_>,
    ) -> Outcome {
        let si = match self.gate(req, ctx, None, Kind::Poll, Affinity::Token) {
            Ok(si) => si,
            Err(a) => return Outcome::Respond(a),
        };
        let t = ctx.now;
        let ack = match param(query, "ack") {
            None => None,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(a) => Some(a),
                Err(_) => {
                    let what = format!("ack {v:?} is not a number (refused 400)");
                    self.note(
                        si,
                        req,
                        Severity::Violation,
                        codes::BAD_REQUEST,
                        "§4.3",
                        what,
                        t,
                    );
                    return Outcome::Respond(Answer::text(400, "Invalid ack"));
                }
            },
        };
        let first_after_reconnect = self
            .sessions
            .get(si)
            .and_then(|s| s.dx.first_poll_after_reconnect);
        // Polls after a ReconnectSession may omit `ack` in every dialect until the first one with an `ack` (it
        // acknowledges what was delivered, which is what the visitor has): no finding.
        if ack.is_none() && first_after_reconnect.is_none() {
            let w = "Messages poll without ack: everything delivered so far counts as acknowledged, so the messages of a lost answer are lost";
            self.note(
                si,
                req,
                Severity::Warning,
                codes::MISSING_ACK,
                "§4.3",
                w.into(),
                t,
            );
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Outcome::Respond(Answer::text(403, SESSION_INVALID));
        };
        if s.held.is_some() {
            return Outcome::Respond(self.poll_conflict(si, req, t));
        }
        let delivered_wire = s.last_delivered.saturating_sub(s.dx.seq_base);
        if let (Some(o), Some(a)) = (first_after_reconnect, ack) {
            let refused = match self.config.dialect.reconnect_ack {
                d::ReconnectAck::Either => None,
                d::ReconnectAck::Continued if a < o => Some(format!(
                    "first ack after ReconnectSession is {a}, below the reconnect offset's message {o} (refused 400; this server continues the numbering)"
                )),
                d::ReconnectAck::Continued => None,
                // -1, or (once a batch of the new numbering went out) an ack within it.
                d::ReconnectAck::MinusOne if a < -1 || a > delivered_wire => Some(format!(
                    "first ack after ReconnectSession is {a} (refused 400; this server restarts the numbering at 0 and wants -1)"
                )),
                d::ReconnectAck::MinusOne => None,
            };
            if let Some(w) = refused {
                self.note(
                    si,
                    req,
                    Severity::Violation,
                    codes::RECONNECT_ACK,
                    "§4.6",
                    w,
                    t,
                );
                return Outcome::Respond(Answer::text(400, "Invalid ack"));
            }
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Outcome::Respond(Answer::text(403, SESSION_INVALID));
        };
        // Polls without `ack` leave the check armed: the first `ack` the visitor sends after the reconnect
        // is the one that must fit the numbering (e.g. after a lost answer to a poll without one).
        if ack.is_some() {
            s.dx.first_poll_after_reconnect = None;
        }
        // Wire numbers count from `seq_base` (non-zero once a `minus-one` reconnect restarted them).
        let ack = ack.map(|a| a.saturating_add(s.dx.seq_base));
        let ack_finding = match ack {
            Some(a) if a > s.last_delivered => Some((
                codes::ACK_AHEAD,
                format!(
                    "ack {} is above the last sequence delivered ({}): it acknowledges messages never received, which are discarded",
                    a.saturating_sub(s.dx.seq_base),
                    s.last_delivered.saturating_sub(s.dx.seq_base)
                ),
            )),
            Some(a) if a < s.dx.max_ack && first_after_reconnect.is_none() => Some((
                codes::ACK_REGRESSED,
                format!(
                    "ack {} is below the ack {} sent before: what is still retained is delivered again",
                    a.saturating_sub(s.dx.seq_base),
                    s.dx.max_ack.saturating_sub(s.dx.seq_base)
                ),
            )),
            _ => None,
        };
        if let Some(a) = ack {
            s.dx.max_ack = s.dx.max_ack.max(a.min(s.last_delivered));
        }
        if let Some((code, what)) = ack_finding {
            self.note(si, req, Severity::Warning, code, "§4.3", what, t);
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Outcome::Respond(Answer::text(403, SESSION_INVALID));
        };
        let ack = ack.unwrap_or(s.last_delivered).max(-1);
        while s.retained.front().is_some_and(|(i, _)| *i <= ack) {
            s.retained.pop_front();
        }
        if let Some(w) = s.switch.as_mut().filter(|w| ack >= w.index) {
            w.acked = true;
        }
        if let Some(a) = wrong_host(
            s,
            req,
            Kind::Poll,
            &self.config.alternate_host,
            self.config.dialect.numbers,
        ) {
            if let Some(w) = s.switch.as_mut() {
                // It did not move: nothing it sends to the old host is excused as sent before the switch.
                w.old_host_closed = true;
            }
            let what = "a poll at the other host after the visitor acknowledged SwitchServer (answered with SwitchServer again)";
            self.note(
                si,
                req,
                Severity::Violation,
                codes::WRONG_HOST,
                "§6.6",
                what.into(),
                t,
            );
            return Outcome::Respond(a);
        }
        if s.armed.duplicate
            && let Some(body) = s.last_batch.clone()
        {
            s.armed.duplicate = false;
            self.set_idle(si, t);
            return Outcome::Respond(Answer::json(
                body,
                "previous batch again (duplicate)".into(),
            ));
        }
        if deliverable(s) {
            let (a, ends) = self.batch(si);
            self.set_idle(si, t);
            // The final message: the session ends right after this reply is queued.
            ctx.end_after = ends;
            return Outcome::Respond(a);
        }
        let Some(deadline) = t.checked_add(self.config.poll_hold) else {
            return Outcome::Respond(self.no_messages());
        };
        let timer = self.add_timer(deadline, Timer::Held(si));
        if let Some(s) = self.sessions.get_mut(si) {
            if let Some(old) = s.idle_timer.take() {
                self.timers.remove(&old);
            }
            s.held = Some(Held {
                ticket: ctx.ticket,
                timer,
                fx: std::mem::take(&mut ctx.fx),
            });
        }
        self.held_by_ticket.insert(ctx.ticket.0, si);
        Outcome::Held
    }

    /// The answer to a poll that ends without messages ([`EmptyPoll`](d::EmptyPoll)).
    pub(super) fn no_messages(&self) -> Answer {
        match self.config.dialect.empty_poll {
            d::EmptyPoll::NoContent => Answer::empty(204, "no messages"),
            d::EmptyPoll::EmptyBatch => Answer::json(
                br#"{"messages":[]}"#.to_vec(),
                "no messages (empty batch)".into(),
            ),
        }
    }

    /// A second Messages poll while one is held ([`PollConflict`](d::PollConflict)): both get 409; the
    /// held one here, the new one through the returned answer.
    pub(super) fn poll_conflict<B>(&mut self, si: usize, req: &Request<B>, t: Timestamp) -> Answer {
        match self.config.dialect.poll_conflict {
            d::PollConflict::PollAgain => {
                let w = "a second Messages poll while one was held (both answered 409 Duplicate Long Polling; this server lets the chat go on)";
                self.note(
                    si,
                    req,
                    Severity::Warning,
                    codes::DUPLICATE_POLL,
                    "§8",
                    w.into(),
                    t,
                );
                let msg = "Conflict: Duplicate Long Polling";
                self.answer_held(si, Answer::text(409, msg), t);
                Answer::text(409, msg)
            }
            d::PollConflict::EndsChat => {
                let w = "a second Messages poll while one was held (both answered 409, the chat was terminated)";
                self.note(
                    si,
                    req,
                    Severity::Violation,
                    codes::DUPLICATE_POLL,
                    "§8",
                    w.into(),
                    t,
                );
                // Duplicate long poll: the chat is terminated (spec §8); both polls get 409.
                let msg = "Conflict: duplicate long poll, the chat was terminated";
                self.answer_held(si, Answer::text(409, msg), t);
                self.end_session(si, ServerEnd::DuplicatePoll, t);
                Answer::text(409, msg)
            }
        }
    }
}

/// The session has a message the next poll may deliver (retained, and not behind a `resync=required`
/// barrier).
pub(super) fn deliverable(s: &ChatRecord) -> bool {
    s.retained
        .front()
        .is_some_and(|(i, _)| s.dx.resync_barrier.is_none_or(|b| *i <= b))
}

/// `poll-gap=limited`: a session with no poll in progress for this long ends (YALO's runbook: polls more
/// than 45 s apart got 403).
pub(super) const POLL_GAP: std::time::Duration = std::time::Duration::from_secs(45);
