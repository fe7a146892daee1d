//! The Chasitor nouns (`Chasitor/*`, `System/MultiNoun`): sequence checks, and what each noun does.

use super::Server;
use super::bodies::{BodyRefusal, Tolerated, decode_noun};
use super::encoding::*;
use super::routing::*;
use crate::sim::conformance::{Severity, codes};
use crate::sim::dialect as d;
use crate::sim::{ServerEnd, SessionState, VisitorEvent};
use crate::time::Timestamp;
use crate::wire::{
    self, ChatEnded, ChatRequestSuccess, CustomEvent, Message, Noun, TranscriptEntry, header,
};
use http::Request;

impl Server {
    pub(super) fn chasitor<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        name: &'static str,
        body: &[u8],
    ) -> Answer {
        let si = match self.gate(req, ctx, None, Kind::Post, Affinity::Token) {
            Ok(si) => si,
            Err(a) => return a,
        };
        let noun = match self.decode_body(req, ctx, si, name, body) {
            Ok(noun) => noun,
            Err(a) => return a,
        };
        let sequenced = noun.is_sequenced();
        self.post(req, ctx, si, vec![noun], sequenced)
    }

    pub(super) fn multi_noun<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        body: &[u8],
    ) -> Answer {
        let si = match self.gate(req, ctx, None, Kind::Post, Affinity::Token) {
            Ok(si) => si,
            Err(a) => return a,
        };
        let t = ctx.now;
        // The envelope's refusals (§3.3); a noun's own body is refused as a Chasitor POST's is (§3.2).
        let refused = |text: &str| BodyRefusal(format!("Bad request body: {text}"));
        let value: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return self.malformed(req, si, "§3.3", refused(&e.to_string()), t),
        };
        let Some(items) = value.get("nouns").and_then(|n| n.as_array()) else {
            return self.malformed(req, si, "§3.3", refused("missing `nouns`"), t);
        };
        if items.is_empty() {
            return self.malformed(req, si, "§3.3", refused("no nouns"), t);
        }
        let mut nouns = Vec::with_capacity(items.len());
        for item in items {
            let prefix = item.get("prefix").and_then(|p| p.as_str());
            if prefix != Some("Chasitor") {
                return self.malformed(req, si, "§3.3", refused("unsupported prefix"), t);
            }
            let Some(name) = item.get("noun").and_then(|p| p.as_str()) else {
                return self.malformed(req, si, "§3.3", refused("missing `noun`"), t);
            };
            let object = match (item.get("object"), item.get("data")) {
                (Some(o), _) => serde_json::to_vec(o).unwrap_or_default(),
                (None, Some(serde_json::Value::String(s))) => s.as_bytes().to_vec(),
                _ => b"{}".to_vec(),
            };
            match self.decode_body(req, ctx, si, name, &object) {
                Ok(noun) => nouns.push(noun),
                Err(a) => return a,
            }
        }
        self.post(req, ctx, si, nouns, true)
    }

    /// Decodes a noun's body as the dialect reads it (see `bodies`), recording what it tolerated as
    /// warnings; the 400, with its finding, when the server cannot act on it.
    fn decode_body<B>(
        &mut self,
        req: &Request<B>,
        ctx: &Ctx,
        si: usize,
        name: &str,
        body: &[u8],
    ) -> Result<Noun, Answer> {
        let id = self.sessions.get(si).map_or("", |s| s.rec.id.as_str());
        match decode_noun(name, body, &self.config.dialect, id) {
            Ok((noun, tolerated)) => {
                for tol in tolerated {
                    let (code, section, what) = match tol {
                        Tolerated::StringValue(path) => (
                            codes::LENIENT_BODY,
                            "§3.2.1",
                            format!(
                                "{name} `{path}` is a JSON string, not a boolean or number (accepted)"
                            ),
                        ),
                        Tolerated::MissingField(field) => (
                            codes::MISSING_FIELD,
                            "§3.2.1",
                            format!("{name} without `{field}` (accepted)"),
                        ),
                    };
                    self.note(si, req, Severity::Warning, code, section, what, ctx.now);
                }
                Ok(noun)
            }
            Err(refusal) => Err(self.malformed(req, si, "§3.2", refusal, ctx.now)),
        }
    }

    /// The 400 for a body the server cannot act on (its text), with its finding under `section`.
    fn malformed<B>(
        &mut self,
        req: &Request<B>,
        si: usize,
        section: &'static str,
        BodyRefusal(text): BodyRefusal,
        t: Timestamp,
    ) -> Answer {
        let what = format!("{text} (refused 400)");
        self.note(
            si,
            req,
            Severity::Violation,
            codes::MALFORMED_BODY,
            section,
            what,
            t,
        );
        Answer::text(400, &text)
    }

    /// Sequence check, state check, then processing of one POST (one or several nouns).
    pub(super) fn post<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        si: usize,
        nouns: Vec<Noun>,
        sequenced: bool,
    ) -> Answer {
        use Severity::{Violation, Warning};
        let t = ctx.now;
        let dialect = self.config.dialect.clone();
        let what = if self.config.record_transcript {
            let what: Vec<String> = nouns.iter().map(describe_noun).collect();
            what.join(" + ")
        } else {
            String::new()
        };
        let is_resync =
            nouns.len() == 1 && matches!(nouns.first(), Some(Noun::ChasitorResyncState { .. }));
        let retry_like = nouns.iter().any(|n| {
            matches!(
                n,
                Noun::ChatMessage { .. }
                    | Noun::CustomEvent(_)
                    | Noun::RichMessage { .. }
                    | Noun::ChatEnd { .. }
            )
        });
        let fingerprint = fingerprint(req.uri().path(), req.body().as_ref());
        let raw_seq = header_str(req, header::SEQUENCE_NAME);
        if is_resync && raw_seq.is_some() {
            let what = match dialect.resync_sequence {
                d::ResyncSequence::Counted => {
                    "X-LIVEAGENT-SEQUENCE on ChasitorResyncState, which the guide does not list; this server counts it"
                }
                d::ResyncSequence::Ignored => {
                    "X-LIVEAGENT-SEQUENCE on ChasitorResyncState, which the guide does not list; this server ignores it"
                }
            };
            self.note(
                si,
                req,
                Warning,
                codes::SEQUENCE_ON_RESYNC,
                "§4.4",
                what.into(),
                t,
            );
        }
        let counts =
            sequenced || (is_resync && dialect.resync_sequence == d::ResyncSequence::Counted);
        let mut seq = None;
        match raw_seq.filter(|_| counts) {
            None if !sequenced => {}
            None => match dialect.sequence_header {
                d::SequenceHeader::Required => {
                    let w = "no X-LIVEAGENT-SEQUENCE header on a sequenced POST (refused 400)";
                    self.note(
                        si,
                        req,
                        Violation,
                        codes::MISSING_SEQUENCE,
                        "§4.4",
                        w.into(),
                        t,
                    );
                    return Answer::text(400, "Missing X-LIVEAGENT-SEQUENCE header");
                }
                d::SequenceHeader::Optional => {
                    let w = "no X-LIVEAGENT-SEQUENCE header: processed, but a re-send cannot be recognised as a duplicate";
                    self.note(
                        si,
                        req,
                        Warning,
                        codes::MISSING_SEQUENCE,
                        "§4.4",
                        w.into(),
                        t,
                    );
                }
            },
            Some(raw) => {
                let Ok(n) = raw.trim().parse::<u64>() else {
                    let w = format!(
                        "X-LIVEAGENT-SEQUENCE {} is not a decimal number (refused 400)",
                        quote(raw)
                    );
                    self.note(si, req, Violation, codes::INVALID_SEQUENCE, "§4.4", w, t);
                    return Answer::text(400, "Invalid X-LIVEAGENT-SEQUENCE header");
                };
                let Some(s) = self.sessions.get_mut(si) else {
                    return Answer::text(403, SESSION_INVALID);
                };
                let last = s.last_seq;
                if n <= last {
                    // A retransmission (the same request again), or a different request under a used number.
                    let reused = n == last && s.dx.last_fingerprint != fingerprint;
                    let dropped = dialect.duplicate_sequence == d::DuplicateSequence::Dropped;
                    // Never received under this number (see SessionRecord::lost_to_drift).
                    let skipped = s.drifted.iter().any(|&(a, b)| (a..=b).contains(&n));
                    if dropped {
                        s.rec.retransmissions = s.rec.retransmissions.saturating_add(1);
                    }
                    if reused {
                        let (sev, w) = if dropped {
                            (
                                Violation,
                                format!(
                                    "sequence {n} was already used by a different request: this one was discarded as a duplicate"
                                ),
                            )
                        } else {
                            (
                                Warning,
                                format!(
                                    "sequence {n} was already used by a different request (processed anyway)"
                                ),
                            )
                        };
                        self.note(si, req, sev, codes::SEQUENCE_REUSED, "§4.4", w, t);
                    }
                    if dropped {
                        if skipped && let Some(s) = self.sessions.get_mut(si) {
                            for noun in &nouns {
                                if let Noun::ChatMessage { text } = noun {
                                    s.rec.lost_to_drift.push(text.clone());
                                }
                            }
                        }
                        return self.post_ok(format!("{what} (retransmission, ignored)"));
                    }
                } else {
                    if s.armed.sequence_drift > 0 {
                        let skipped = (
                            s.last_seq.saturating_add(1),
                            s.last_seq.saturating_add(s.armed.sequence_drift),
                        );
                        s.drifted.push(skipped);
                        s.last_seq = s.last_seq.saturating_add(s.armed.sequence_drift);
                        s.armed.sequence_drift = 0;
                        let actual = out_of_sync_actual(s.last_seq, dialect.out_of_sync_actual);
                        s.dx.last_out_of_sync = Some(actual);
                        // The planned fault's 409, not a refusal of the request.
                        ctx.planned = true;
                        return Answer::text(
                            409,
                            &format!("Out of sync Ack. Expected {n}. Actual {actual}"),
                        );
                    }
                    let retry = retry_like && last > 0 && s.dx.last_fingerprint == fingerprint;
                    if n > last.saturating_add(1) {
                        match dialect.sequence_rule {
                            d::SequenceRule::Consecutive => {
                                let actual = out_of_sync_actual(last, dialect.out_of_sync_actual);
                                // After a 409 `Actual M` a client must probe M + 1 (under the likelier
                                // reading M is the last accepted number, and M itself would be dropped as a
                                // duplicate): refused here, but no client can know the reading without it.
                                let probe =
                                    s.dx.last_out_of_sync
                                        .is_some_and(|m| n == m.saturating_add(1));
                                s.dx.last_out_of_sync = Some(actual);
                                let (sev, w) = if probe {
                                    (
                                        Warning,
                                        format!(
                                            "sequence {n} after {last}: the probe of Actual + 1 after a 409 Out of sync (refused 409; this server reads Actual as the next expected number)"
                                        ),
                                    )
                                } else {
                                    (
                                        Violation,
                                        format!(
                                            "sequence {n} after {last}: not consecutive (refused 409)"
                                        ),
                                    )
                                };
                                self.note(si, req, sev, codes::SEQUENCE_GAP, "§4.4", w, t);
                                return Answer::text(
                                    409,
                                    &format!("Out of sync Ack. Expected {n}. Actual {actual}"),
                                );
                            }
                            d::SequenceRule::Increasing => {
                                let w = format!(
                                    "sequence {n} after {last}: numbers skipped (accepted; the guide says +1 per request)"
                                );
                                self.note(si, req, Warning, codes::SEQUENCE_GAP, "§4.4", w, t);
                            }
                        }
                    }
                    if retry {
                        let w = format!(
                            "the same request as the last accepted one again, under a new sequence {n}: processed twice (a retry must reuse its number)"
                        );
                        self.note(si, req, Warning, codes::RETRY_NEW_SEQUENCE, "§4.4", w, t);
                    }
                    seq = Some(n);
                }
            }
        }
        // State checks against the state each noun would see.
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        let awaiting_resync = s.rec.awaiting_resync;
        let mut state = s.rec.state;
        let mut refusal: Option<(Severity, &'static str, &'static str, String, Answer)> = None;
        let mut later: Vec<(Severity, &'static str, &'static str, String)> = Vec::new();
        for noun in &nouns {
            match noun {
                Noun::ChasitorInit(init) => {
                    if state != SessionState::Created {
                        refusal = Some((
                            Violation,
                            codes::BAD_INIT,
                            "§3.2.1",
                            "a second ChasitorInit (refused 400)".into(),
                            Answer::text(400, "ChasitorInit was already received"),
                        ));
                    } else if init.session_id != s.rec.id {
                        refusal = Some((
                            Violation,
                            codes::BAD_INIT,
                            "§3.2.1",
                            "ChasitorInit whose sessionId is not the session's id (refused 400)"
                                .into(),
                            Answer::text(400, "sessionId does not match the session"),
                        ));
                    }
                    state = SessionState::Queued;
                }
                Noun::ChatEnd { .. } => match state {
                    SessionState::Created => {
                        refusal = Some((
                            Violation,
                            codes::BEFORE_ESTABLISHED,
                            "§2",
                            "ChatEnd before ChasitorInit (refused 500)".into(),
                            npe(),
                        ));
                    }
                    SessionState::Queued => match dialect.end_while_queued {
                        d::EndWhileQueued::DeleteOnly => {
                            refusal = Some((Violation, codes::BEFORE_ESTABLISHED, "§2", "ChatEnd before ChatEstablished (refused 500; this server ends a queued chat only by DELETE SessionId)".into(), npe()));
                        }
                        _ => {
                            let w = "ChatEnd before ChatEstablished (accepted; the guide forbids requests before ChatEstablished, DELETE SessionId is the documented way)";
                            later.push((Warning, codes::BEFORE_ESTABLISHED, "§2", w.into()));
                        }
                    },
                    SessionState::Ending(_) | SessionState::Ended(_) => {
                        let w = format!(
                            "{} after the chat's final message was sent (refused 403)",
                            noun.name()
                        );
                        refusal = Some((
                            Warning,
                            codes::UNKNOWN_SESSION,
                            "§8",
                            w,
                            Answer::text(403, SESSION_INVALID),
                        ));
                    }
                    _ => {}
                },
                Noun::ChasitorResyncState { .. } => {
                    if state == SessionState::Created {
                        refusal = Some((
                            Violation,
                            codes::BEFORE_ESTABLISHED,
                            "§4.6",
                            "ChasitorResyncState before ChasitorInit (refused 500)".into(),
                            npe(),
                        ));
                    } else if state == SessionState::Queued
                        && dialect.resync == d::ResyncRule::RefusedWhileQueued
                    {
                        // The guide does not forbid it: a warning, the refusal is this server's reading.
                        let w = "ChasitorResyncState while queued (refused 500: this server takes it once the chat is established)";
                        refusal =
                            Some((Warning, codes::BEFORE_ESTABLISHED, "§4.6", w.into(), npe()));
                    }
                }
                _ => match state {
                    SessionState::Created | SessionState::Queued => {
                        let w = format!("{} before ChatEstablished (refused 500)", noun.name());
                        refusal = Some((Violation, codes::BEFORE_ESTABLISHED, "§9.1", w, npe()));
                    }
                    SessionState::Ending(_) | SessionState::Ended(_) => {
                        let w = format!(
                            "{} after the chat's final message was sent (refused 403)",
                            noun.name()
                        );
                        refusal = Some((
                            Warning,
                            codes::UNKNOWN_SESSION,
                            "§8",
                            w,
                            Answer::text(403, SESSION_INVALID),
                        ));
                    }
                    _ if awaiting_resync => match dialect.resync {
                        d::ResyncRule::Required => {
                            let w = format!(
                                "{} after ReconnectSession before ChasitorResyncState (refused 500)",
                                noun.name()
                            );
                            refusal = Some((Violation, codes::MISSING_RESYNC, "§4.6", w, npe()));
                        }
                        _ => {
                            let w = format!(
                                "{} after ReconnectSession without ChasitorResyncState (accepted)",
                                noun.name()
                            );
                            later.push((Warning, codes::MISSING_RESYNC, "§4.6", w));
                        }
                    },
                    _ => {}
                },
            }
            if refusal.is_some() {
                break;
            }
        }
        if let Some((sev, code, section, w, answer)) = refusal {
            if is_resync && answer.status == 500 {
                // A refused resync: nothing waits for it any more.
                if let Some(s) = self.sessions.get_mut(si) {
                    s.rec.awaiting_resync = false;
                    if s.dx.resync_barrier.take().is_some() {
                        self.barrier_lifted(si, t);
                    }
                }
            }
            if !code.is_empty() {
                self.note(si, req, sev, code, section, w, t);
            }
            return answer;
        }
        for (sev, code, section, w) in later {
            self.note(si, req, sev, code, section, w, t);
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Answer::text(403, SESSION_INVALID);
        };
        if let Some(n) = seq {
            s.last_seq = n;
            s.dx.last_out_of_sync = None;
        }
        // Only a POST that takes a number is what a reused number is compared with (an unnumbered
        // ChasitorResyncState in between must not make the re-send of the POST before it look different).
        if sequenced || seq.is_some() {
            s.dx.last_fingerprint = fingerprint;
        }
        // Rapid ChatMessages (CARBON): answered success, silently not processed.
        let rapid = nouns.iter().any(|n| matches!(n, Noun::ChatMessage { .. }))
            && s.dx
                .last_chat_message
                .is_some_and(|p| t.saturating_duration_since(p) < RAPID_GAP);
        if nouns.iter().any(|n| matches!(n, Noun::ChatMessage { .. })) {
            s.dx.last_chat_message = Some(t);
        }
        if rapid && dialect.rapid_messages == d::RapidMessages::Dropped {
            let w = "ChatMessage less than 15 ms after the previous one: this server answered success and dropped it";
            self.note(
                si,
                req,
                Violation,
                codes::RAPID_MESSAGES,
                "§9.7",
                w.into(),
                t,
            );
            return self.post_ok(format!("{what} (too fast, dropped)"));
        }

        for noun in nouns {
            self.process(si, noun, t);
        }
        self.post_ok(what)
    }

    /// The success answer of a POST ([`PostSuccess`](d::PostSuccess)).
    pub(super) fn post_ok(&self, what: String) -> Answer {
        let status = match self.config.dialect.post_success {
            d::PostSuccess::Ok => 200,
            d::PostSuccess::Accepted => 202,
            d::PostSuccess::NoContent => 204,
        };
        Answer::empty(status, what)
    }

    /// `attachedRecords` of ChatEnded and ChatRequestFail ([`AttachedRecords`](d::AttachedRecords)): the
    /// script's JSON value, or (the guide's type String) its JSON text.
    pub(super) fn attached_records(&self) -> serde_json::Value {
        let v = &self.config.agent.attached_records;
        match self.config.dialect.attached_records {
            d::AttachedRecords::Array => v.clone(),
            d::AttachedRecords::String => match v {
                serde_json::Value::String(_) => v.clone(),
                other => serde_json::Value::String(other.to_string()),
            },
        }
    }

    /// A `resync=required` barrier was lifted: the held poll gets what waited, the agent script goes on.
    pub(super) fn barrier_lifted(&mut self, si: usize, t: Timestamp) {
        if let Some(s) = self.sessions.get_mut(si)
            && !s.dirty
        {
            s.dirty = true;
            self.dirty.push(si);
        }
        self.schedule_agent(si, t);
    }

    pub(super) fn process(&mut self, si: usize, noun: Noun, t: Timestamp) {
        let ms = self.elapsed_ms(t);
        let script_queue = self.config.agent.queue_position;
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        match noun {
            Noun::ChasitorInit(init) => {
                s.rec.visitor_events.push(VisitorEvent::Init {
                    visitor_name: init.visitor_name.clone(),
                });
                s.rec.state = SessionState::Queued;
                s.receive_queue_updates = init.receive_queue_updates;
                s.visitor_name = init.visitor_name.clone();
                s.upload.org_id = init.organization_id.clone();
                s.queue_position = script_queue;
                let visitor_id = self.rng.uuid();
                let msg = Message::ChatRequestSuccess(Box::new(ChatRequestSuccess {
                    queue_position: Some(script_queue),
                    estimated_wait_time: Some(-1.0),
                    geo_location: Some(geo()),
                    url: Some("https://www.example.com/support".into()),
                    oref: None,
                    post_chat_url: Some("https://www.example.com/postchat".into()),
                    custom_details: Some(init.prechat_details),
                    visitor_id: Some(visitor_id),
                    connection_timeout: Some(150_000.0),
                    sensitive_data_rules: Some(Vec::new()),
                    transcript_save_enabled: Some(true),
                }));
                self.emit(si, msg, t);
                self.schedule_agent(si, t);
            }
            Noun::ChasitorResyncState { organization_id } => {
                s.rec.resyncs = s.rec.resyncs.saturating_add(1);
                s.rec.awaiting_resync = false;
                s.rec
                    .visitor_events
                    .push(VisitorEvent::ResyncState { organization_id });
                if s.dx.resync_barrier.take().is_some() {
                    self.barrier_lifted(si, t);
                }
            }
            Noun::ChasitorTyping => s.rec.visitor_events.push(VisitorEvent::Typing),
            Noun::ChasitorNotTyping => s.rec.visitor_events.push(VisitorEvent::NotTyping),
            Noun::ChasitorSneakPeek { position, text } => s
                .rec
                .visitor_events
                .push(VisitorEvent::SneakPeek { position, text }),
            Noun::CustomEvent(CustomEvent { kind, data }) => s
                .rec
                .visitor_events
                .push(VisitorEvent::CustomEvent { kind, data }),
            Noun::IdleTimeoutWarning(w) => s.rec.visitor_events.push(VisitorEvent::IdleWarning(w)),
            Noun::SensitiveDataRuleTriggered { rules } => {
                s.rec
                    .visitor_events
                    .push(VisitorEvent::SensitiveDataRuleTriggered(
                        rules.into_iter().map(|r| r.name).collect(),
                    ))
            }
            Noun::RichMessage { actions } => s
                .rec
                .visitor_events
                .push(VisitorEvent::RichMessage(actions)),
            Noun::ChatMessage { text } => {
                let seq = s.chat_log.len().saturating_add(1);
                s.chat_log.push(TranscriptEntry {
                    kind: Some("Chasitor".into()),
                    name: Some(s.visitor_name.clone()),
                    content: Some(text.clone()),
                    timestamp: Some(ms as f64),
                    sequence: Some(seq as f64),
                });
                s.rec.visitor_messages.push(text.clone());
                if s.echo && s.rec.state == SessionState::Chatting {
                    let reply = format!("{}{text}", self.config.agent.echo_prefix);
                    self.say(si, reply, t);
                }
            }
            Noun::ChatEnd { reason } => {
                s.rec.visitor_events.push(VisitorEvent::ChatEnd {
                    reason: reason.to_string(),
                });
                let reason = if reason.as_str().is_empty() {
                    wire::ChatEndReason::Client
                } else {
                    reason
                };
                let msg = Message::ChatEnded(ChatEnded {
                    reason: Some(reason),
                    attached_records: Some(self.attached_records()),
                });
                self.finish_chat(si, msg, ServerEnd::Visitor, t);
            }
        }
    }
}

/// ChatMessages closer together than this are "rapid" (CARBON paces them 15 ms apart).
pub(super) const RAPID_GAP: std::time::Duration = std::time::Duration::from_millis(15);

/// A stable fingerprint of a POST (path and body), to recognise the same request again.
pub(super) fn fingerprint(path: &str, body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    body.hash(&mut h);
    h.finish()
}

/// The `Actual` of a 409 `Out of sync Ack` when the last accepted number is `last`.
pub(super) fn out_of_sync_actual(last: u64, meaning: d::OutOfSyncActual) -> u64 {
    match meaning {
        d::OutOfSyncActual::LastAccepted => last,
        d::OutOfSyncActual::NextExpected => last.saturating_add(1),
    }
}
