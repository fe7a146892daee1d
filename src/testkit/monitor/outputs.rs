//! The monitor's checks of what the session yields: each output drained, against the independent model.

use super::*;

impl Monitor {
    /// One output drained from the session.
    pub(crate) fn on_output(&mut self, out: &Output, session: &Session, now: Timestamp) -> Check {
        self.check_no_secret("an output", &format!("{out:?}"))?;
        match out {
            Output::Event(Event::Retrying { cause, .. }) => {
                self.check_no_secret_run("a failure", &format!("{cause} {cause:?}"))?
            }
            Output::Event(Event::Ended(
                r @ (EndReason::GaveUp { .. }
                | EndReason::SessionInvalid { .. }
                | EndReason::Conflict { .. }
                | EndReason::Rejected { .. }
                | EndReason::RequestFailed { .. }),
            )) => self.check_no_secret_run("an end reason", &format!("{r} {r:?}"))?,
            _ => {}
        }
        match out {
            Output::Request(r) => self.on_request(r, session),
            Output::Event(ev) => {
                if let Event::Retrying { request, at, .. } = ev {
                    // Backoff: a retry is never immediate (unless time cannot move any further).
                    let end_of_time = now
                        .checked_add(std::time::Duration::from_nanos(1))
                        .is_none();
                    ensure!(
                        *at > now || end_of_time,
                        "{request:?} retried without backoff (at {:?} before or at now)",
                        now.saturating_duration_since(*at)
                    );
                }
                self.on_event(ev, session)
            }
            Output::Wait(_) => Ok(()),
        }
    }

    fn on_request(&mut self, r: &crate::OutgoingRequest, session: &Session) -> Check {
        let id = r.id.0;
        let kind = r.kind;
        ensure!(
            !self.ended_event,
            "request {kind:?} #{id} after Event::Ended"
        );
        ensure!(
            session.state() != State::Ended,
            "request {kind:?} #{id} from an ended session"
        );
        ensure!(
            id > self.last_id,
            "request id #{id} not above the last issued #{} (ids must be unique)",
            self.last_id
        );
        self.last_id = id;
        let live: Vec<_> = session.in_flight().collect();
        ensure!(
            live.iter().any(|(i, k)| i.0 == id && *k == kind),
            "request #{id} ({kind:?}) handed out but not in flight: {live:?}"
        );
        let polls = live.iter().filter(|(_, k)| k.is_poll()).count();
        let posts = live.iter().filter(|(_, k)| k.is_post()).count();
        ensure!(polls <= 1, "{polls} Messages polls in flight: {live:?}");
        ensure!(posts <= 1, "{posts} POSTs in flight: {live:?}");
        let h = r.http.headers();
        let seq_header = header(h, wire::header::SEQUENCE);
        let seq = seq_header.and_then(|s| s.parse::<u64>().ok());
        let affinity = header(h, wire::header::AFFINITY);
        let key = header(h, wire::header::SESSION_KEY);
        let scheme = r.http.uri().scheme_str().unwrap_or("");
        ensure!(
            scheme == if self.tls { "https" } else { "http" },
            "{kind:?} #{id} uses {scheme:?}; the endpoint's scheme is https={}",
            self.tls
        );
        let authority = r.http.uri().authority().map(|a| a.as_str()).unwrap_or("");
        ensure!(
            authority == self.authority,
            "{kind:?} #{id} goes to {authority:?}, expected {:?}",
            self.authority
        );
        // Headers.
        match kind {
            RequestKind::ChasitorInit | RequestKind::Chat => {
                ensure!(
                    seq.is_some(),
                    "{kind:?} #{id} without a valid SEQUENCE header"
                );
            }
            _ => ensure!(
                seq_header.is_none(),
                "{kind:?} #{id} carries SEQUENCE {seq_header:?}"
            ),
        }
        match kind {
            RequestKind::SessionId => {
                ensure!(affinity == Some("null"), "SessionId affinity {affinity:?}");
                ensure!(key.is_none(), "SessionId carries a session key");
            }
            RequestKind::ReconnectSession => {
                ensure!(
                    affinity == Some("null"),
                    "ReconnectSession affinity must be null"
                );
                ensure!(
                    key.is_some() && key == self.key.as_deref(),
                    "ReconnectSession with the wrong session key"
                );
                let offset = query_param(r.http.uri(), "ReconnectSession.offset");
                ensure!(
                    offset == Some(self.offset.unwrap_or(0)),
                    "ReconnectSession offset {offset:?}, expected the last batch offset {:?}",
                    self.offset
                );
            }
            _ => {
                ensure!(
                    key.is_some() && key == self.key.as_deref(),
                    "{kind:?} #{id} with the wrong session key"
                );
                ensure!(
                    affinity.is_some() && affinity == self.affinity.as_deref(),
                    "{kind:?} #{id} with an affinity token other than the latest issued"
                );
            }
        }
        // Lifecycle rules.
        if self.end_called {
            ensure!(
                kind != RequestKind::ChasitorInit,
                "ChasitorInit #{id} after end() was accepted"
            );
        }
        // The fallback when DELETE SessionId was refused: one ChatEnd.
        let is_chat_end = kind == RequestKind::Chat
            && r.http.uri().path().ends_with("/Chasitor/ChatEnd")
            && r.http.body().as_slice() == br#"{"reason":"client"}"#;
        let fallback = is_chat_end && self.delete_issued;
        if fallback {
            ensure!(
                self.fallback_chat_end.is_none_or(|s| seq == Some(s)),
                "a second ChatEnd #{id} after a refused DELETE SessionId (not a re-send)"
            );
            self.fallback_chat_end = seq;
        }
        if kind == RequestKind::DeleteSession {
            self.delete_issued = true;
            // Ending abandons a handover in progress.
            self.handover = Handover::None;
        }
        if self.end_called_prechat {
            ensure!(
                matches!(kind, RequestKind::SessionId | RequestKind::DeleteSession)
                    || fallback
                    // Then it polls for ChatEnded like any accepted ChatEnd, through a handover too.
                    || (self.fallback_chat_end_accepted
                        && matches!(
                            kind,
                            RequestKind::Messages
                                | RequestKind::ReconnectSession
                                | RequestKind::ResyncState
                        )),
                "{kind:?} #{id} after end() before the chat was established"
            );
        }
        if kind == RequestKind::Chat && !fallback {
            ensure!(
                self.established,
                "POST {kind:?} #{id} before ChatEstablished was seen"
            );
        }
        if let Handover::ResyncSent(resync) = self.handover
            && !session.in_flight().any(|(i, _)| i.0 == resync)
        {
            // The resync is no longer in flight (failed or expired): the session may retry or skip it.
            self.handover = Handover::ResyncFailed;
        }
        if self.handover == Handover::ResyncFailed
            && !matches!(kind, RequestKind::Messages | RequestKind::ResyncState)
        {
            self.handover = Handover::None;
        }
        match self.handover {
            Handover::Needed => ensure!(
                matches!(
                    kind,
                    RequestKind::ReconnectSession | RequestKind::DeleteSession
                ),
                "{kind:?} #{id} after a 503, before ReconnectSession succeeded"
            ),
            Handover::Reconnected => ensure!(
                kind == RequestKind::Messages,
                "{kind:?} #{id} after ReconnectSession, before ChasitorSessionData was polled"
            ),
            Handover::ResyncRequired => ensure!(
                matches!(kind, RequestKind::Messages | RequestKind::ResyncState),
                "{kind:?} #{id} after a handover, before ChasitorResyncState"
            ),
            Handover::ResyncSent(resync) => ensure!(
                matches!(kind, RequestKind::Messages),
                "{kind:?} #{id} while ChasitorResyncState #{resync} is in flight"
            ),
            Handover::ResyncFailed => {}
            Handover::None => ensure!(
                kind != RequestKind::ResyncState,
                "ChasitorResyncState #{id} outside a handover"
            ),
        }
        // Polls: ack echoes the last sequence (none after a reconnect until a batch), pc counts up from 0.
        let mut ack = None;
        if kind == RequestKind::Messages {
            ack = query_param(r.http.uri(), "ack");
            // After a reconnect: none, -1 once a poll's answer may have been lost, the kept ack once that
            // was refused.
            ensure!(
                ack == Some(self.ack) || (self.ack_unknown && matches!(ack, None | Some(-1))),
                "Messages #{id} with ack {ack:?}, expected {}{}",
                self.ack,
                if self.ack_unknown { " or none" } else { "" }
            );
            if let Some(pc) = query_param(r.http.uri(), "pc") {
                ensure!(
                    u64::try_from(pc).ok() == Some(self.next_pc),
                    "Messages #{id} with pc {pc}, expected {}",
                    self.next_pc
                );
            }
            self.next_pc = self.next_pc.saturating_add(1);
        }
        // X-LIVEAGENT-SEQUENCE.
        if let (Some(s), RequestKind::ChasitorInit | RequestKind::Chat) = (seq, kind) {
            let body = r.http.body();
            match &self.pending_post {
                Some(p) => {
                    ensure!(
                        p.kind == kind && p.body == *body,
                        "{kind:?} #{id} (seq {s}) sent while the earlier {:?} (seq {}) is unaccepted: a retry must re-send the same batch",
                        p.kind,
                        p.seq
                    );
                    let want = self.forced_seq.unwrap_or(p.seq);
                    ensure!(
                        s == want,
                        "retry of {kind:?} #{id} carries SEQUENCE {s}, expected {want} (first sent with {})",
                        p.seq
                    );
                }
                None => match (self.forced_seq, self.last_seq) {
                    (Some(f), _) => ensure!(
                        s == f,
                        "{kind:?} #{id} carries SEQUENCE {s}, expected {f} (start, reset or 409 recovery)"
                    ),
                    (None, Some(l)) => ensure!(
                        s > l,
                        "new {kind:?} #{id} carries SEQUENCE {s}, not above the previous {l}"
                    ),
                    (None, None) => {}
                },
            }
            self.pending_post = Some(PendingPost {
                kind,
                body: body.clone(),
                seq: s,
            });
            self.forced_seq = None;
            self.last_seq = Some(s);
        }
        if kind == RequestKind::ResyncState {
            self.handover = Handover::ResyncSent(id);
        }
        self.issued.insert(id, Issued { kind, ack, seq });
        self.live.insert(id);
        Ok(())
    }

    fn on_event(&mut self, ev: &Event, session: &Session) -> Check {
        ensure!(!self.ended_event, "event after Event::Ended: {ev:?}");
        self.events_this_step = self.events_this_step.saturating_add(1);
        let cap = self.limits.max_messages.saturating_add(16);
        ensure!(
            self.events_this_step <= cap,
            "{} events from one step: more than the batch cap allows ({cap})",
            self.events_this_step
        );
        if from_server(ev) {
            match self.expected.pop_front() {
                // The offer's id, reason and deadline are the session's to compute: the target is what counts.
                Some(Event::SwitchOffered { endpoint, .. }) => ensure!(
                    matches!(ev, Event::SwitchOffered { endpoint: got, .. } if *got == endpoint),
                    "expected the switch to {endpoint} offered to the application, got {ev:?}"
                ),
                Some(want) => ensure!(
                    want == *ev,
                    "server messages out of order or altered: expected {want:?}, got {ev:?}"
                ),
                None => {
                    return Err(format!(
                        "event {ev:?} matches no server message delivered (duplicate or invented)"
                    ));
                }
            }
            return Ok(());
        }
        match ev {
            Event::Ended(reason) => {
                ensure!(
                    self.expected.is_empty(),
                    "Ended before these server messages reached the app: {:?}",
                    self.expected
                );
                ensure!(
                    session.state() == State::Ended,
                    "Event::Ended while the state is {:?}",
                    session.state()
                );
                if let Some(want) = self.expected_end.take() {
                    let ok = match (&want, reason) {
                        (
                            ExpectedEnd::RequestFail { reason: r },
                            EndReason::RequestFailed { reason: got },
                        ) => r == got || self.redacted_echo(r.as_deref(), got.as_deref()),
                        (
                            ExpectedEnd::ChatEnded {
                                reason: r,
                                attached_records: a,
                                ending: None,
                            },
                            EndReason::AgentEnded {
                                reason: got_r,
                                attached_records: got_a,
                            },
                        ) => r == got_r && a == got_a,
                        (
                            ExpectedEnd::ChatEnded {
                                attached_records: a,
                                ending: Some(EndingCause::Visitor),
                                ..
                            },
                            EndReason::VisitorEnded {
                                attached_records: got_a,
                            },
                        ) => a == got_a,
                        (
                            ExpectedEnd::ChatEnded {
                                ending: Some(EndingCause::Idle),
                                ..
                            },
                            EndReason::IdleTimeout,
                        ) => true,
                        (ExpectedEnd::Protocol, EndReason::BadSequence { .. }) => true,
                        (ExpectedEnd::RedirectRefused, EndReason::RedirectRefused { .. }) => true,
                        _ => false,
                    };
                    ensure!(
                        ok,
                        "the chat ended with {reason:?}, but the server said {want:?}"
                    );
                }
                self.ended_event = true;
            }
            Event::Delivered(ids) | Event::DeliveryUncertain(ids) => {
                for id in ids {
                    ensure!(
                        self.last_delivered.is_none_or(|l| id.0 > l),
                        "Delivered {id:?} out of order or twice (last {:?})",
                        self.last_delivered
                    );
                    self.last_delivered = Some(id.0);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
