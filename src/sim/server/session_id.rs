//! `System/SessionId`: creating a session and `DELETE System/SessionId/{key}`.

use super::encoding::*;
use super::routing::*;
use super::{Server, Timer};
use crate::sim::conformance::{Severity, codes};
use crate::sim::dialect as d;
use crate::sim::session::{Armed, ChatRecord, DialectState};
use crate::sim::{FaultKind, ServerEnd, SessionRecord, SessionState, Trigger};
use crate::wire::{self, SessionIdBody, header};
use http::Request;
use std::collections::VecDeque;

impl Server {
    pub(super) fn create_session<B>(&mut self, req: &Request<B>, ctx: &mut Ctx) -> Answer {
        let affinity = header_str(req, header::AFFINITY_NAME);
        let missing_affinity = affinity.is_none() && !req.headers().contains_key(header::AFFINITY);
        let lenient = self.config.dialect.session_id_affinity == d::SessionIdAffinity::Optional;
        if affinity != Some("null") && !(missing_affinity && lenient) {
            let what = if missing_affinity {
                "SessionId without X-LIVEAGENT-AFFINITY (refused 400; this server wants the literal null)"
            } else {
                "SessionId with an X-LIVEAGENT-AFFINITY other than the literal null (refused 400)"
            };
            self.refusal(req, ctx, codes::MISSING_AFFINITY, "§1.3.1", what.into());
            return Answer::text(400, "X-LIVEAGENT-AFFINITY must be null for SessionId");
        }
        if req.headers().contains_key(header::SESSION_KEY) {
            let what = "SessionId with an X-LIVEAGENT-SESSION-KEY (refused 400)";
            self.refusal(req, ctx, codes::BAD_REQUEST, "§1.3.1", what.into());
            return Answer::text(400, "X-LIVEAGENT-SESSION-KEY must not be sent to SessionId");
        }
        let t = ctx.now;
        let index = self.sessions.len();
        let id = self.rng.uuid();
        let key = format!("{id}!{}!{}", self.elapsed_ms(t), self.rng.signature());
        let token = self.rng.token(self.config.dialect.affinity_shape);
        let applies = |f: &crate::sim::Fault| f.session.is_none_or(|s| s == index);
        let mut pending = Vec::new();
        let mut timed = Vec::new();
        for &fi in &self.session_faults {
            let Some(f) = self.config.faults.faults.get(fi) else {
                continue;
            };
            if !applies(f) {
                continue;
            }
            match f.at {
                Trigger::After(d) => timed.push((fi, d)),
                _ => pending.push(fi),
            }
        }
        let keep_last_batch = self.any_duplicate_fault
            && (self
                .config
                .faults
                .faults
                .iter()
                .any(|f| f.kind == FaultKind::DuplicateBatch && applies(f))
                || ctx.session_kinds.contains(&FaultKind::DuplicateBatch));
        let agent = &self.config.agent.agent;
        let s = ChatRecord {
            rec: SessionRecord {
                index,
                id: id.clone(),
                state: SessionState::Created,
                visitor_messages: Vec::new(),
                agent_messages: Vec::new(),
                visitor_events: Vec::new(),
                retransmissions: 0,
                lost_to_drift: Vec::new(),
                handovers: 0,
                reconnects: 0,
                resyncs: 0,
                awaiting_resync: false,
                switched_to: None,
                polls: 0,
            },
            token: token.clone(),
            last_seq: 0,
            drifted: Vec::new(),
            receive_queue_updates: false,
            queue_position: 0,
            visitor_name: String::new(),
            agent_name: agent.name.clone(),
            agent_user_id: agent.user_id.clone(),
            sneak_peek: agent.sneak_peek_enabled,
            echo: false,
            next_index: 0,
            retained: VecDeque::new(),
            last_delivered: -1,
            final_index: None,
            held: None,
            step: 0,
            agent_timer: None,
            idle_timer: None,
            reconnect_allowed: false,
            switch: None,
            armed: Armed::default(),
            pending_faults: pending,
            requests: 0,
            posts: 0,
            keep_last_batch,
            last_batch: None,
            chat_log: Vec::new(),
            dirty: false,
            findings: None,
            dx: DialectState {
                max_ack: -1,
                ..DialectState::default()
            },
            prev_token: None,
            upload: Default::default(),
        };
        self.sessions.push(s);
        self.by_key.insert(key.clone(), index);
        self.by_id.insert(id.clone(), index);
        self.live = self.live.saturating_add(1);
        ctx.session = Some(index);
        if missing_affinity {
            let what = "SessionId without X-LIVEAGENT-AFFINITY (accepted; the header matrix shows the literal null)";
            self.note(
                index,
                req,
                Severity::Warning,
                codes::MISSING_AFFINITY,
                "§1.3.1",
                what.into(),
                t,
            );
        }
        for (fi, d) in timed {
            if let Some(at) = t.checked_add(d) {
                self.add_timer(at, Timer::Fault(index, fi));
            }
        }
        self.set_idle(index, t);
        let kinds = std::mem::take(&mut ctx.session_kinds);
        for k in kinds {
            self.fire(index, k, t, Some(ctx));
        }
        let body = SessionIdBody {
            id,
            key: wire::SessionKey::new(key),
            affinity_token: wire::AffinityToken::new(token),
            client_poll_timeout: Some(self.config.client_poll_timeout),
        };
        Answer::json_of(
            &body,
            format!("new session s{index}"),
            self.config.dialect.numbers,
            0,
        )
    }

    pub(super) fn delete_session<B>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        key: String,
    ) -> Answer {
        if header_str(req, header::SESSION_KEY_NAME).is_some_and(|h| h != key) {
            return Answer::text(400, "X-LIVEAGENT-SESSION-KEY does not match the path");
        }
        let si = match self.gate(req, ctx, Some(&key), Kind::Other, Affinity::Token) {
            Ok(si) => si,
            Err(a) => return a,
        };
        let queued = self
            .sessions
            .get(si)
            .is_some_and(|s| s.rec.state == SessionState::Queued);
        if queued && self.config.dialect.end_while_queued == d::EndWhileQueued::ChatEndOnly {
            // This server ends a queued chat only by ChatEnd. DELETE is the documented way to end a session,
            // so the refusal is a warning, not a violation.
            let what = "DELETE SessionId while queued (refused 500: this server ends a queued chat only by ChatEnd)";
            self.note(
                si,
                req,
                Severity::Warning,
                codes::BEFORE_ESTABLISHED,
                "§2",
                what.into(),
                ctx.now,
            );
            return npe();
        }
        self.end_session(si, ServerEnd::Deleted, ctx.now);
        Answer::empty(200, "session deleted")
    }
}
