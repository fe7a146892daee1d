//! What a poll's answer does: each new message of a batch, in order, becomes state changes and events.
//! Anomalies are surfaced, never silent: a renumbering restarts de-duplication (nothing dropped), an absurd
//! number ends the chat after delivering the batch's texts.

use super::event::{EndReason, Event};
use super::guard;
use super::handover::Reconnect;
use super::outbound::TranscriptVerdict;
use super::requests::Slot;
use super::timers::Timer;
use super::{Session, State};
use crate::wire::{Endpoint, Message, MessagesAnswer, MessagesBody};

impl Session {
    pub(crate) fn on_poll_answer(&mut self, answer: MessagesAnswer) {
        let mut restored = false;
        match answer {
            MessagesAnswer::NoContent => self.poll.came_back_empty = true,
            // `{"messages":[]}` (with or without `sequence`): nothing was delivered, so it is read like a 204
            // and `ack` stays (no capture shows one; field evidence §5).
            MessagesAnswer::Batch(batch) if batch.messages.is_empty() => {
                self.poll.came_back_empty = true
            }
            MessagesAnswer::Batch(batch) => restored = self.on_batch(batch),
        }
        if self.is_ended() {
            return;
        }
        if self.reconnect == Reconnect::AwaitingSessionData && !restored {
            // Lenient: a poll completed after the reconnect without ChasitorSessionData; carry on.
            self.after_session_data();
        }
        if self.poll.final_poll_issued && self.state == State::Ending {
            // This was the "one more poll" after ChatEnd and it held no ChatEnded.
            self.finish(self.visitor_end_reason(None));
        }
    }

    /// ChasitorSessionData after a reconnect: its transcript may settle the batch whose outcome was unknown.
    fn check_transcript(&mut self, data: &crate::wire::ChasitorSessionData) -> Option<Event> {
        match self.outbound.check_transcript(data) {
            TranscriptVerdict::Holds(accepted) => {
                self.reset_slot(Slot::Post);
                if accepted.had_end {
                    self.ending.accept_chat_end();
                }
                Some(accepted.event)
            }
            TranscriptVerdict::Absent | TranscriptVerdict::Unsettled => None,
        }
    }

    /// Processes one batch; returns whether it held ChasitorSessionData.
    fn on_batch(&mut self, batch: MessagesBody) -> bool {
        let MessagesBody {
            messages,
            sequence,
            offset,
        } = batch;
        let mut absurd = None;
        let (verdict, admission) = self.poll.admit(sequence, messages.len());
        match verdict {
            guard::SequenceVerdict::Continues => {}
            guard::SequenceVerdict::Renumbered { previous } => {
                self.events.push_back(Event::SequenceReset {
                    previous,
                    sequence: sequence.unwrap_or_default(),
                });
            }
            guard::SequenceVerdict::Absurd { previous, sequence } => {
                absurd = Some(EndReason::BadSequence { previous, sequence });
            }
        }
        let is_new = |i: usize| admission.is_new(i);
        // Only messages not delivered before count: an old, re-delivered AgentNotTyping must not hide a new
        // AgentTyping.
        let has_not_typing = messages
            .iter()
            .enumerate()
            .any(|(i, m)| is_new(i) && matches!(m, Message::AgentNotTyping(_)));
        // A batch of nothing but re-deliveries brings nothing either (pacing, as for an empty answer).
        if !(0..messages.len()).any(is_new) {
            self.poll.came_back_empty = true;
        }
        let mut restored = false;
        let accept_numbering = absurd.is_none();
        let mut pending_end: Option<EndReason> = absurd;
        for (i, m) in messages.into_iter().enumerate() {
            if !is_new(i) {
                continue; // already delivered
            }
            if pending_end.is_some() {
                // After ChatEnded/ChatRequestFail nothing changes state; content still reaches the app.
                if let Message::ChatMessage(msg) = m {
                    self.events.push_back(Event::AgentMessage(msg));
                }
                continue;
            }
            match m {
                Message::ChatRequestSuccess(s) => {
                    if self.state == State::Requested {
                        self.enter(State::Queued);
                    }
                    self.events.push_back(Event::Queued {
                        position: s.queue_position,
                        estimated_wait_secs: s.estimated_wait_time,
                    });
                }
                Message::QueueUpdate(q) => self.events.push_back(Event::QueueUpdate {
                    position: q.position,
                    estimated_wait_secs: q.estimated_wait_time,
                }),
                Message::ChatEstablished(agent) => {
                    if matches!(
                        self.state,
                        State::Requested
                            | State::Queued
                            | State::AgentDisconnected
                            | State::Chatting
                    ) {
                        self.enter(State::Chatting);
                    }
                    self.agent = Some(agent.clone());
                    self.agent_typing = false;
                    self.events.push_back(Event::ChatEstablished(agent));
                }
                Message::ChatTransferred(agent) => {
                    if self.state == State::AgentDisconnected {
                        self.enter(State::Chatting);
                    }
                    self.agent = Some(agent.clone());
                    self.agent_typing = false;
                    self.events.push_back(Event::ChatTransferred(agent));
                }
                Message::AgentDisconnect(_) => {
                    if self.state == State::Chatting {
                        self.enter(State::AgentDisconnected);
                    }
                    self.agent_typing = false;
                    // Nobody is waiting for the visitor's reply now.
                    self.timers.stop(Timer::IdleWarning);
                    self.timers.stop(Timer::IdleEnd);
                    self.events.push_back(Event::AgentDisconnected);
                }
                Message::ChatMessage(msg) => {
                    self.agent_typing = false;
                    // The visitor idle timeout counts from an unanswered agent message.
                    if self.state == State::Chatting
                        && self.timers.get(Timer::IdleEnd).is_none()
                        && !self.idle_warned
                    {
                        self.arm_idle_timer();
                    }
                    self.events.push_back(Event::AgentMessage(msg));
                }
                Message::AgentTyping(_) => {
                    // A batch holding both typing events ends "not typing" (they can arrive out of order).
                    if !has_not_typing && !self.agent_typing {
                        self.agent_typing = true;
                        self.events.push_back(Event::AgentTyping(true));
                    }
                }
                Message::AgentNotTyping(_) => {
                    if self.agent_typing {
                        self.agent_typing = false;
                        self.events.push_back(Event::AgentTyping(false));
                    }
                }
                Message::ChatEnded(e) => {
                    pending_end = Some(if self.state == State::Ending {
                        self.visitor_end_reason(e.attached_records)
                    } else {
                        EndReason::AgentEnded {
                            reason: e.reason,
                            attached_records: e.attached_records,
                        }
                    });
                }
                Message::ChatRequestFail(f) => {
                    // Server text an application logs: the session's own secrets are hidden in it.
                    let mut reason = f.reason;
                    if let (Some(text), Some(c)) = (reason.as_mut(), &self.credentials) {
                        crate::wire::redact_secrets(text, &[c.key.expose(), c.affinity.expose()]);
                    }
                    pending_end = Some(EndReason::RequestFailed { reason });
                }
                Message::ChasitorSessionData(data) => {
                    let mut confirmed = None;
                    if self.reconnect == Reconnect::AwaitingSessionData {
                        restored = true;
                        confirmed = self.check_transcript(&data);
                        self.after_session_data();
                    }
                    self.events.push_back(Event::SessionRestored(data));
                    self.events.extend(confirmed);
                }
                Message::SwitchServer(s) => match Endpoint::parse(&s.new_url) {
                    Ok(e) if !s.new_url.trim().is_empty() => {
                        if let Some(end) = self.on_switch_server(e) {
                            pending_end = Some(end);
                        }
                    }
                    // Not a URL: nothing can be sent there; the application sees the message.
                    _ => self
                        .events
                        .push_back(Event::Message(Message::SwitchServer(s))),
                },
                other => self.events.push_back(Event::Message(other)),
            }
        }
        self.poll
            .batch_done(sequence.filter(|_| accept_numbering), offset);
        if let Some(reason) = pending_end {
            self.finish(reason);
        }
        restored
    }
}
