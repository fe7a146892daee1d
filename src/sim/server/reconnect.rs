//! `System/ReconnectSession`: the visitor coming back after a 503 handover.

use super::Server;
use super::encoding::*;
use super::routing::*;
use crate::sim::conformance::{Severity, codes};
use crate::sim::dialect as d;
use crate::sim::{OFFSET_BASE, OFFSET_STRIDE, SessionState};
use crate::wire::{ChasitorSessionData, Message, MessagesBody, ReconnectSession, header};
use http::Request;

impl Server {
    pub(super) fn reconnect<B>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        query: &Query<'_>,
    ) -> Answer {
        let si = match self.gate(req, ctx, None, Kind::Other, Affinity::Unchecked) {
            Ok(si) => si,
            Err(a) => return a,
        };
        let t = ctx.now;
        let dialect = self.config.dialect.clone();
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        // The visitor never used the token the last ReconnectSession gave and asks again: that answer was lost
        // (a transport that dropped it, a timeout), so the same answer goes out again and nothing is re-queued.
        let repeat = s.dx.reconnect_unconfirmed && !s.dx.handover_pending;
        if !s.reconnect_allowed && !repeat {
            let what = "ReconnectSession without a 503 before it (refused 405)";
            self.note(
                si,
                req,
                Severity::Violation,
                codes::RECONNECT_WITHOUT_503,
                "§4.6",
                what.into(),
                t,
            );
            return Answer::text(
                405,
                "Method Not Allowed: ReconnectSession is only allowed after a 503",
            );
        }
        // The token the visitor held when it got the 503: the one before a handover (or before the answer it
        // did not get), else the current one.
        let held = if s.dx.handover_pending || repeat {
            s.prev_token.as_deref().unwrap_or_default().to_owned()
        } else {
            s.token.clone()
        };
        let sent = header_str(req, header::AFFINITY_NAME);
        if sent != Some("null") {
            let previous = sent == Some(held.as_str());
            if previous && dialect.reconnect_affinity == d::ReconnectAffinity::NullOrPrevious {
                let w = "ReconnectSession with the affinity token held before the 503 (accepted; the guide's example and the SDK send the literal null)";
                self.note(
                    si,
                    req,
                    Severity::Warning,
                    codes::RECONNECT_AFFINITY,
                    "§4.5",
                    w.into(),
                    t,
                );
            } else {
                let w = if previous {
                    "ReconnectSession with the affinity token held before the 503 (refused 400; this server takes only the literal null)"
                } else {
                    "ReconnectSession with an X-LIVEAGENT-AFFINITY that is neither null nor the token held before the 503 (refused 400)"
                };
                self.note(
                    si,
                    req,
                    Severity::Violation,
                    codes::RECONNECT_AFFINITY,
                    "§4.5",
                    w.into(),
                    t,
                );
                return Answer::text(
                    400,
                    "X-LIVEAGENT-AFFINITY must be null for ReconnectSession",
                );
            }
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        let offset = match param(query, "ReconnectSession.offset") {
            None => Err((
                "Missing ReconnectSession.offset",
                "no ReconnectSession.offset",
            )),
            Some(raw) => raw.trim().parse::<i64>().map_err(|_| {
                (
                    "Invalid ReconnectSession.offset",
                    "a ReconnectSession.offset that is not a number",
                )
            }),
        };
        let raw_offset = offset.unwrap_or_default();
        let o = match offset {
            Ok(offset) if offset < OFFSET_BASE => Ok(-1),
            Ok(offset) => {
                let d = offset.saturating_sub(OFFSET_BASE);
                let idx = d / OFFSET_STRIDE;
                if d % OFFSET_STRIDE != 0 || idx > s.last_delivered {
                    Err((
                        "Invalid ReconnectSession.offset",
                        "a ReconnectSession.offset this server never issued",
                    ))
                } else {
                    Ok(idx)
                }
            }
            Err(e) => Err(e),
        };
        let o = match o {
            Ok(o) => o,
            Err((answer, what)) => {
                let what = format!("{what} (refused 400)");
                self.note(
                    si,
                    req,
                    Severity::Violation,
                    codes::INVALID_OFFSET,
                    "§4.6",
                    what,
                    t,
                );
                return Answer::text(400, answer);
            }
        };
        if repeat {
            self.log(
                t,
                Some(ctx.ticket),
                Some(si),
                format!("reconnect from offset {raw_offset} again (the visitor never used the token of the last one): the same answer"),
            );
            let token = self
                .sessions
                .get(si)
                .map(|s| s.token.clone())
                .unwrap_or_default();
            return reconnect_answer(&dialect, token);
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        // New token, different from the old one.
        let mut token = self.rng.token(dialect.affinity_shape);
        if token == s.token {
            token = self.rng.token(dialect.affinity_shape);
        }
        s.token = token.clone();
        s.prev_token = Some(held.into_boxed_str());
        if !s.dx.handover_pending {
            // The token the visitor held goes stale now; after a handover it went stale then, and what was
            // answered 503 for it since still counts.
            s.dx.answered_503 = 0;
        }
        s.dx.handover_pending = false;
        s.dx.reconnect_unconfirmed = true;
        s.dx.max_ack = -1;
        // `resetSequence` false: the counter goes on from the last accepted number.
        if dialect.reset_sequence != d::ResetSequence::False {
            s.last_seq = 0;
            s.drifted.clear();
        }
        s.dx.last_out_of_sync = None;
        s.reconnect_allowed = false;
        s.rec.reconnects = s.rec.reconnects.saturating_add(1);
        // Before ChasitorInit there is no chat to resync (as for the barrier below).
        s.rec.awaiting_resync = s.rec.state != SessionState::Created;
        s.last_batch = None;
        s.armed.duplicate = false;
        // Re-queue what the visitor did not get, behind ChasitorSessionData.
        let old = std::mem::take(&mut s.retained);
        let requeue: Vec<(i64, Message)> = old.into_iter().filter(|(i, _)| *i > o).collect();
        s.next_index = o.saturating_add(1);
        s.last_delivered = o;
        s.dx.first_poll_after_reconnect = Some(o);
        // `resync=required`: nothing after ChasitorSessionData (or, without it, after what the visitor
        // has) goes out, and the agent script waits, until ChasitorResyncState.
        s.dx.resync_barrier = (dialect.resync == d::ResyncRule::Required
            && s.rec.state != SessionState::Created)
            .then(|| match dialect.session_data {
                d::SessionData::SentFirst => o.saturating_add(1),
                d::SessionData::Never => o,
            });
        if dialect.reconnect_ack == d::ReconnectAck::MinusOne {
            // The new app server numbers from 0: the first message after the reconnect has `sequence` 0.
            s.dx.seq_base = s.next_index;
        }
        let data = ChasitorSessionData {
            queue_position: Some(if s.rec.state == SessionState::Queued {
                s.queue_position
            } else {
                0
            }),
            geo_location: Some(geo()),
            url: Some("https://www.example.com/support".into()),
            oref: Some("https://www.example.com/".into()),
            post_chat_url: Some("https://www.example.com/postchat".into()),
            sneak_peek_enabled: Some(s.sneak_peek),
            chat_messages: Some(s.chat_log.clone()),
        };
        let n = requeue.len();
        self.log(
            t,
            Some(ctx.ticket),
            Some(si),
            format!("reconnect from offset {raw_offset} (index {o}): re-queue {n} message(s)"),
        );
        if dialect.session_data == d::SessionData::SentFirst {
            self.emit(si, Message::ChasitorSessionData(Box::new(data)), t);
        }
        for (old_idx, m) in requeue {
            if let Some(s) = self.sessions.get_mut(si) {
                let new_idx = s.next_index;
                if s.final_index == Some(old_idx) {
                    s.final_index = Some(new_idx);
                }
                if let Some(w) = s.switch.as_mut().filter(|w| w.index == old_idx) {
                    w.index = new_idx;
                }
            }
            self.emit(si, m, t);
        }
        // A poll still held with the old token is stale.
        if self.sessions.get(si).is_some_and(|s| s.held.is_some()) {
            if let Some(s) = self.sessions.get_mut(si) {
                s.reconnect_allowed = true;
                s.dx.answered_503 |= 1;
            }
            self.answer_held(si, Answer::text(503, "Service Unavailable"), t);
        }
        reconnect_answer(&dialect, token)
    }
}

/// The ReconnectSession answer giving `token`, in the dialect's shape.
fn reconnect_answer(dialect: &d::Dialect, token: String) -> Answer {
    let payload = ReconnectSession {
        reset_sequence: match dialect.reset_sequence {
            d::ResetSequence::True => Some(true),
            d::ResetSequence::False => Some(false),
            d::ResetSequence::Absent => None,
        },
        affinity_token: token,
    };
    let note = "ReconnectSession (new affinity token)".to_owned();
    match dialect.reconnect_body {
        d::ReconnectBody::Wrapped => {
            let body = MessagesBody {
                messages: vec![Message::ReconnectSession(payload)],
                sequence: None,
                offset: None,
            };
            Answer::json_of(&body, note, dialect.numbers, 0)
        }
        d::ReconnectBody::Bare => Answer::json_of(&payload, note, dialect.numbers, 0),
    }
}
