//! What each answer does: success by request kind, error statuses, and failures (retried with backoff until
//! the retry budget is spent).
//!
//! * A POST 409 `Out of sync ... Actual M` re-sends the same batch at once with M + 1, or with M when M + 1
//!   was the number refused (see `recovery`); bounded by the retry budget.
//! * Ending before an agent accepted uses `DELETE System/SessionId/{key}` (the documented way to end a
//!   session), falling back to ChatEnd if refused; afterwards `ChatEnd {"reason":"client"}` then one more poll
//!   for ChatEnded, falling back to the DELETE if ChatEnd is refused.

use super::backoff;
use super::ending::Ending;
use super::event::{EndReason, Event, Failure, RequestKind, TransportError};
use super::requests::{Credentials, Slot};
use super::timers::Timer;
use super::{Session, State, later};
use crate::wire::{self, ServerError};

impl Session {
    /// Stops `slot`'s retry timer and forgets its failures.
    pub(crate) fn reset_slot(&mut self, slot: Slot) {
        self.timers.stop(Timer::Retry(slot));
        self.failures.clear(slot);
    }

    fn on_success(&mut self, kind: RequestKind) {
        self.reset_slot(Slot::of(kind));
    }

    pub(crate) fn retry_budget(&self) -> u32 {
        self.config
            .retry
            .max_attempts
            .max(crate::config::floors::MIN_ATTEMPTS)
    }

    /// The unacknowledged batch was answered with a 2xx, or its answer was lost: the server may have taken
    /// its ChatMessage. The spacing then also counts from now: the server took it before it answered, so the
    /// next one arrives at least the spacing after it however long either spent on the way (counted from the
    /// send alone, a slow first request and a fast second one arrived 5 ms apart over loopback on a loaded
    /// machine, and a `rapid-messages=dropped` server dropped the second). A refusal needs no spacing: the
    /// server did not take it.
    fn pace_from_answer(&mut self) {
        if !self.config.message_spacing.is_zero() && self.outbound.unacked_has_text() {
            let until = later(self.now, self.config.message_spacing);
            let paced = self.timers.get(Timer::MessageSpacing);
            self.timers.set(
                Timer::MessageSpacing,
                Some(paced.map_or(until, |p| p.max(until))),
            );
        }
    }

    /// The server accepted the unacknowledged batch.
    fn batch_accepted(&mut self) {
        if let Some(accepted) = self.outbound.accept(false) {
            if accepted.had_end {
                self.ending.accept_chat_end();
            }
            self.events.push_back(accepted.event);
        }
    }

    /// Ending before establishment: any answer to DELETE but a 2xx or 403 is a refusal. Falls back to ChatEnd
    /// once; if ChatEnd was the way already refused, the end is complete (the server expires the session).
    fn delete_refused(&mut self) {
        let fallback_tried = matches!(
            self.ending,
            Ending::ChatEndRefused { .. } | Ending::DeleteRefused { .. }
        );
        if fallback_tried || !self.ending.chat_requested() {
            self.finish(self.visitor_end_reason(None));
        } else {
            self.ending = Ending::DeleteRefused { accepted: false };
            self.reset_slot(Slot::Post);
        }
    }

    /// The ChatEnd of an established chat was refused for good: fall back to DELETE SessionId (once), so
    /// `end()` always ends. Returns false when this is not that case.
    fn chat_end_refused(&mut self, kind: RequestKind) -> bool {
        if kind != RequestKind::Chat
            || self.state != State::Ending
            || matches!(self.ending, Ending::ChatEndRefused { .. })
        {
            return false;
        }
        let reason = self
            .ending
            .reason()
            .cloned()
            .unwrap_or(wire::ChatEndReason::Client);
        self.ending = Ending::ChatEndRefused { reason };
        self.enter(State::Deleting);
        self.outbound.answered(false);
        true
    }

    /// A refusal of the ChatEnd sent after a refused DELETE: the end is complete (the server expires the
    /// session). (That ChatEnd is the session's own, so no delivery event names it.)
    fn fallback_chat_end_answered(&mut self) {
        self.outbound.drop_unacked();
        self.finish(self.visitor_end_reason(None));
    }

    /// The ChatEnd sent after a refused DELETE was accepted: the server ends the chat with ChatEnded, so keep
    /// polling for it like after any accepted ChatEnd (one more poll; it carries `attachedRecords`). Ending
    /// here would leave the server's session open until it expires. Commands still queued are never sent
    /// (a queued chat takes none): they are reported undelivered now.
    fn fallback_chat_end_accepted(&mut self) {
        self.outbound.drop_unacked();
        let undelivered = self.outbound.drain_queue();
        if !undelivered.is_empty() {
            self.events.push_back(Event::Undelivered(undelivered));
        }
        self.ending = Ending::DeleteRefused { accepted: true };
        self.enter(State::Ending);
    }

    /// Hides this session's own key and affinity token in the text a failure quotes from the server (an
    /// error page may echo them; the failure's text reaches events, end reasons and logs).
    fn redact_failure(&self, cause: &mut Failure) {
        let Some(c) = &self.credentials else {
            return;
        };
        let secrets = [c.key.expose(), c.affinity.expose()];
        match cause {
            Failure::Decode(e) => e.redact(&secrets),
            // Redacted where it is parsed (`on_error_status`), the only place a `ServerError` comes from.
            Failure::Server(_) | Failure::Transport(_) | Failure::NoAnswer => {}
        }
    }

    /// A retryable failure: back off, or give up when the budget is spent.
    pub(crate) fn on_failure(&mut self, kind: RequestKind, mut cause: Failure) {
        self.redact_failure(&mut cause);
        if kind == RequestKind::DeleteSession {
            // The visitor asked to leave: try the other way once, then stop (the server expires it anyway).
            self.delete_refused();
            return;
        }
        if kind == RequestKind::Chat {
            if self.state == State::Deleting {
                self.fallback_chat_end_answered();
                return;
            }
            // A lost answer (transport error, timeout) or a gateway error: the server may have taken it. A
            // connection that was never established sent nothing.
            let unknown = match &cause {
                Failure::Transport(TransportError::ConnectRefused) | Failure::Decode(_) => false,
                Failure::Transport(_) | Failure::NoAnswer => true,
                Failure::Server(e) => matches!(e.status(), 502 | 504),
            };
            if unknown {
                self.pace_from_answer();
            }
            self.outbound.answered(unknown);
        }
        if kind == RequestKind::Messages {
            // A poll whose answer may have been a batch (lost, undecodable, behind a gateway error).
            let maybe_delivered = match &cause {
                Failure::Transport(TransportError::ConnectRefused) => false,
                Failure::Transport(_) | Failure::NoAnswer | Failure::Decode(_) => true,
                Failure::Server(e) => matches!(e.status(), 502 | 504),
            };
            if maybe_delivered {
                self.poll.answer_maybe_lost();
            }
        }
        let max = self.retry_budget();
        let attempt = self.failures.add(Slot::of(kind));
        if attempt >= max {
            if kind == RequestKind::ResyncState {
                self.skip_resync();
                return;
            }
            if self.chat_end_refused(kind) {
                return;
            }
            self.finish(EndReason::GaveUp {
                request: kind,
                attempts: attempt,
                last: cause,
            });
            return;
        }
        let delay = backoff::delay(&self.config.retry, attempt, &mut self.rng);
        let at = later(self.now, delay);
        self.timers.set(Timer::Retry(Slot::of(kind)), Some(at));
        self.events.push_back(Event::Retrying {
            request: kind,
            attempt,
            at,
            cause,
        });
    }

    pub(crate) fn on_response(&mut self, kind: RequestKind, status: u16, body: &[u8]) {
        if self.is_ended() {
            return;
        }
        if kind == RequestKind::Messages && status != 409 {
            // Only 409s in a row count: anything else the server answered breaks the run.
            self.poll.conflicts = 0;
        }
        let ok = (200..300).contains(&status);
        if !ok {
            self.on_error_status(kind, status, body);
            return;
        }
        let limits = self.config.limits.into();
        match kind {
            RequestKind::SessionId => match wire::parse_session_id(status, body, &limits) {
                Ok(s) => {
                    self.on_success(kind);
                    self.poll.client_poll_timeout_secs = s.client_poll_timeout;
                    self.credentials = Some(Credentials {
                        id: s.id,
                        key: s.key,
                        affinity: s.affinity_token,
                    });
                    self.enter(if self.ending == Ending::BeforeConnected {
                        State::Deleting
                    } else {
                        State::Initializing
                    });
                }
                Err(e) => self.on_failure(kind, Failure::Decode(e)),
            },
            RequestKind::ChasitorInit => {
                self.on_success(kind);
                if let Ending::Open { chat_requested } = &mut self.ending {
                    *chat_requested = true;
                }
                self.outbound.init_accepted();
                if self.state == State::Initializing {
                    self.enter(State::Requested);
                    self.events.push_back(Event::ChatRequested);
                }
            }
            RequestKind::ResyncState => {
                self.on_success(kind);
                self.reconnect = super::handover::Reconnect::None;
            }
            RequestKind::Chat if self.state == State::Deleting => self.fallback_chat_end_accepted(),
            RequestKind::Chat => {
                self.on_success(kind);
                self.pace_from_answer();
                self.outbound.answered(false);
                self.batch_accepted();
            }
            RequestKind::DeleteSession => self.finish(self.visitor_end_reason(None)),
            RequestKind::ReconnectSession => {
                match wire::parse_reconnect_session(status, body, &limits) {
                    Ok(r) => {
                        self.on_success(kind);
                        self.reconnected(&r);
                    }
                    Err(e) => self.on_failure(kind, Failure::Decode(e)),
                }
            }
            RequestKind::Messages => match wire::parse_messages(status, body, &limits) {
                Ok(answer) => match self.check_backlog(&answer) {
                    Ok(()) => {
                        self.on_success(kind);
                        self.handovers = 0;
                        self.on_poll_answer(answer);
                    }
                    Err(e) => self.on_failure(kind, Failure::Decode(e)),
                },
                Err(e) => self.on_failure(kind, Failure::Decode(e)),
            },
        }
    }

    /// A batch whose events would pin more memory than the application may leave undrained is refused whole
    /// before anything in it counts: not acknowledged (the server keeps it), retried like an undecodable answer.
    fn check_backlog(&self, answer: &wire::MessagesAnswer) -> Result<(), wire::DecodeError> {
        match answer {
            wire::MessagesAnswer::Batch(batch) => {
                super::guard::check_event_bytes(&batch.messages, &self.events, &self.config.limits)
            }
            _ => Ok(()),
        }
    }

    fn on_error_status(&mut self, kind: RequestKind, status: u16, body: &[u8]) {
        let mut error = ServerError::parse(status, body);
        if let Some(c) = &self.credentials {
            error.redact(&[c.key.expose(), c.affinity.expose()]);
        }
        if kind == RequestKind::Chat {
            if self.state == State::Deleting {
                // The ChatEnd tried after a refused DELETE: the end is complete either way.
                self.fallback_chat_end_answered();
                return;
            }
            // The server answered: the attempt was refused, not lost (a gateway error aside, see on_failure).
            if !matches!(status, 502 | 504) {
                self.outbound.answered(false);
            }
        }
        match (status, kind) {
            (503, RequestKind::SessionId | RequestKind::ReconnectSession) => {
                self.on_failure(kind, Failure::Server(error))
            }
            (403, RequestKind::DeleteSession) => self.finish(self.visitor_end_reason(None)),
            (_, RequestKind::DeleteSession) => self.delete_refused(),
            (503, _) => self.start_handover(kind, error),
            (_, RequestKind::ResyncState) => {
                // Refused (500 while queued, 403, 405, ...): carry on without it; only a poll decides
                // whether the session is still valid.
                self.skip_resync();
            }
            (403, _) if self.state == State::Ending => {
                // The chat is already over on the server (e.g. the agent ended it first).
                self.finish(self.visitor_end_reason(None))
            }
            (403, _) => self.finish(EndReason::SessionInvalid {
                request: kind,
                error,
            }),
            (409, RequestKind::Chat | RequestKind::ChasitorInit) => match error {
                ServerError::OutOfSync { actual, .. } => self.resync_sequence(kind, actual, error),
                _ if self.chat_end_refused(kind) => {}
                _ => self.finish(EndReason::Conflict {
                    request: kind,
                    error,
                }),
            },
            (409, RequestKind::Messages) if self.poll.conflicts == 0 => {
                // "Duplicate Long Polling": two production clients polled again (field evidence §9); a
                // second 409 in a row is the guide's "chat terminated".
                self.poll.conflicts = 1;
                let delay = backoff::delay(&self.config.retry, 1, &mut self.rng);
                let at = later(self.now, delay);
                self.timers.set(Timer::Retry(Slot::Poll), Some(at));
                self.events.push_back(Event::Retrying {
                    request: kind,
                    attempt: 1,
                    at,
                    cause: Failure::Server(error),
                });
            }
            (409, _) => self.finish(EndReason::Conflict {
                request: kind,
                error,
            }),
            (408 | 425 | 429, _) | (500..=599, _) => self.on_failure(kind, Failure::Server(error)),
            (400, RequestKind::Messages) if self.poll.minus_one_refused() => {
                // -1 after a reconnect was refused: the new app server continues the numbering.
                self.on_failure(kind, Failure::Server(error));
            }
            _ if self.chat_end_refused(kind) => {}
            _ => self.finish(EndReason::Rejected {
                request: kind,
                error,
            }),
        }
    }

    /// POST 409 `Out of sync`: re-send the same batch at once with the number the outbound queue picks
    /// (M + 1, or M when M + 1 was the number refused; spec §4.4).
    fn resync_sequence(&mut self, kind: RequestKind, actual: i64, error: ServerError) {
        // The server just said where its counter is.
        self.outbound.numbering_unverified = false;
        // Counts against the retry budget so a server that keeps refusing cannot loop us forever.
        let max = self.retry_budget();
        let attempts = self.failures.add(Slot::of(kind));
        if attempts >= max {
            if self.chat_end_refused(kind) {
                return;
            }
            self.finish(EndReason::GaveUp {
                request: kind,
                attempts,
                last: Failure::Server(error),
            });
            return;
        }
        self.outbound
            .out_of_sync(kind == RequestKind::ChasitorInit, actual);
    }

    /// The reason a visitor-ended chat ends with.
    pub(crate) fn visitor_end_reason(
        &self,
        attached_records: Option<serde_json::Value>,
    ) -> EndReason {
        if self.ending.reason() == Some(&wire::ChatEndReason::ClientIdleTimeout) {
            EndReason::IdleTimeout
        } else {
            EndReason::VisitorEnded { attached_records }
        }
    }
}
