//! The visitor's side of the conversation: commands waiting to be sent, the one batch sent and not yet
//! accepted, and the `X-LIVEAGENT-SEQUENCE` numbering they go out under.
//!
//! [`Outbound`] owns all of it and decides nothing about HTTP or time: the session asks it for the next
//! batch, tells it how each attempt ended, and gets back the delivery events. So it can be driven on its
//! own (the property test below does).
//!
//! * One batch at a time: a batch sent and not yet accepted ([`Outbound::unacked`]) is re-sent under the
//!   same number until the server takes it, so a server that already holds it can drop the repeat.
//! * A batch whose attempt's outcome is unknown is `DeliveryUncertain`, not `Delivered`, unless the
//!   transcript of ChasitorSessionData settles it after a handover; so are later batches until a 409
//!   `Out of sync` or a `resetSequence` reconnect shows the server's numbering again.

use super::event::{CommandId, Event};
use super::recovery;
use crate::wire::{
    ChasitorSessionData, ChatEndReason, CustomEvent, IdleWarning, Noun, RichAction, TriggeredRule,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A visitor command waiting to be sent (persisted with the session). Crate-private: the public commands
/// are `Session`'s methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Command {
    /// A text message.
    Message(String),
    /// Typing started (true) or stopped (false).
    Typing(bool),
    /// What the visitor is typing right now.
    SneakPeek {
        /// Position of this update.
        position: i64,
        /// The text so far.
        text: String,
    },
    /// A custom event.
    CustomEvent {
        /// Event type.
        kind: String,
        /// Payload.
        data: String,
    },
    /// Report which sensitive-data rules fired.
    SensitiveDataRules(Vec<TriggeredRule>),
    /// A chatbot menu or button choice.
    RichMessage(Vec<RichAction>),
    /// The idle warning was shown or cleared.
    IdleWarning(IdleWarning),
    /// End the chat with this reason (`client` or `clientIdleTimeout`).
    End(ChatEndReason),
}

impl Command {
    pub(crate) fn to_noun(&self) -> Noun {
        match self {
            Command::Message(text) => Noun::ChatMessage { text: text.clone() },
            Command::Typing(true) => Noun::ChasitorTyping,
            Command::Typing(false) => Noun::ChasitorNotTyping,
            Command::SneakPeek { position, text } => Noun::ChasitorSneakPeek {
                position: *position,
                text: text.clone(),
            },
            Command::CustomEvent { kind, data } => Noun::CustomEvent(CustomEvent {
                kind: kind.clone(),
                data: data.clone(),
            }),
            Command::SensitiveDataRules(rules) => Noun::SensitiveDataRuleTriggered {
                rules: rules.clone(),
            },
            Command::RichMessage(actions) => Noun::RichMessage {
                actions: actions.clone(),
            },
            Command::IdleWarning(w) => Noun::IdleTimeoutWarning(*w),
            Command::End(reason) => Noun::ChatEnd {
                reason: reason.clone(),
            },
        }
    }
}

/// A command and the id the application knows it by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueuedCommand {
    pub(crate) id: CommandId,
    pub(crate) command: Command,
}

/// A POST batch sent but not yet accepted: retried with the same sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Batch {
    pub(crate) commands: Vec<QueuedCommand>,
    pub(crate) sequence: u64,
    /// An attempt's outcome is unknown (its answer was lost, it timed out, or a 503 or a restart abandoned
    /// it): the server may hold the batch already, so a later 2xx proves nothing.
    #[serde(default)]
    pub(crate) uncertain: bool,
    /// Handed out and not answered yet (so a restart cannot know whether it reached the server).
    #[serde(default)]
    pub(crate) in_flight: bool,
    /// Renumbered by a `resetSequence` and not sent since: dropping it gives its number back.
    #[serde(default)]
    pub(crate) renumbered: bool,
}

impl Batch {
    pub(crate) fn new(commands: Vec<QueuedCommand>, sequence: u64) -> Batch {
        Batch {
            commands,
            sequence,
            uncertain: false,
            in_flight: false,
            renumbered: false,
        }
    }

    pub(crate) fn ids(&self) -> Vec<CommandId> {
        self.commands.iter().map(|c| c.id).collect()
    }

    /// The visitor texts it carries (the only commands a transcript shows).
    pub(crate) fn texts(&self) -> Vec<&str> {
        self.commands
            .iter()
            .filter_map(|c| match &c.command {
                Command::Message(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Whether it carries a visitor text (without collecting them).
    pub(crate) fn has_text(&self) -> bool {
        self.commands
            .iter()
            .any(|c| matches!(c.command, Command::Message(_)))
    }

    pub(crate) fn has_end(&self) -> bool {
        self.commands
            .iter()
            .any(|c| matches!(c.command, Command::End(_)))
    }
}

/// The batch the server accepted: the event for the application, and whether it carried the session's
/// ChatEnd.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) event: Event,
    pub(crate) had_end: bool,
}

/// What a ChasitorSessionData transcript says about the batch whose outcome was unknown.
#[derive(Debug)]
pub(crate) enum TranscriptVerdict {
    /// The server holds it: accepted (not re-sent).
    Holds(Accepted),
    /// The transcript proves it absent: the re-send is a first delivery.
    Absent,
    /// Nothing to settle, or the transcript proves nothing.
    Unsettled,
}

/// What was never accepted when the session ended.
#[derive(Debug, Default)]
pub(crate) struct Leftover {
    /// A batch that may have reached the server (in flight, or an attempt's outcome unknown).
    pub(crate) uncertain: Option<Vec<CommandId>>,
    /// Commands the server never got.
    pub(crate) undelivered: Vec<CommandId>,
}

/// The outbound queue and its numbering. Fields are the snapshot's, read and written by the session's
/// snapshot conversion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outbound {
    pub(crate) queue: VecDeque<QueuedCommand>,
    pub(crate) unacked: Option<Batch>,
    /// The next `X-LIVEAGENT-SEQUENCE` a new POST carries (ChasitorInit takes it too, see
    /// [`Outbound::init_accepted`]).
    pub(crate) next_sequence: u64,
    pub(crate) next_command_id: u64,
    pub(crate) sneak_peek_position: i64,
    /// Visitor texts confirmed delivered: a ChasitorSessionData transcript shorter than this is incomplete.
    pub(crate) confirmed_texts: u64,
    /// A batch whose attempt's answer was lost was then answered 2xx: all the session knows is that the
    /// server's counter is at or above that number. If the lost answer was a 409 `Out of sync`, the counter
    /// is ahead and a server that drops repeated numbers answers the next POSTs 200 without taking them, so
    /// no 2xx proves delivery until the numbering is known again (a 409 `Out of sync`, or a
    /// `resetSequence` reconnect).
    pub(crate) numbering_unverified: bool,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound::new()
    }
}

impl Outbound {
    /// Nothing queued; the first POST carries 1.
    pub(crate) fn new() -> Outbound {
        Outbound {
            queue: VecDeque::new(),
            unacked: None,
            next_sequence: 1,
            next_command_id: 1,
            sneak_peek_position: 0,
            confirmed_texts: 0,
            numbering_unverified: false,
        }
    }

    /// Queues a command under a new id.
    pub(crate) fn enqueue(&mut self, command: Command) -> CommandId {
        let id = self.take_command_id();
        self.queue.push_back(QueuedCommand { id, command });
        id
    }

    fn take_command_id(&mut self) -> CommandId {
        let id = CommandId(self.next_command_id);
        self.next_command_id = self.next_command_id.saturating_add(1);
        id
    }

    /// The position the next sneak peek carries (counts up by itself).
    pub(crate) fn next_sneak_peek_position(&mut self) -> i64 {
        self.sneak_peek_position = self.sneak_peek_position.saturating_add(1);
        self.sneak_peek_position
    }

    /// Commands not yet accepted by the server (queued or in the unacknowledged batch).
    pub(crate) fn pending(&self) -> usize {
        self.queue.len() + self.unacked.as_ref().map_or(0, |b| b.commands.len())
    }

    /// Whether there is anything to POST.
    pub(crate) fn has_outbound(&self) -> bool {
        self.unacked
            .as_ref()
            .is_some_and(|b| !b.commands.is_empty())
            || !self.queue.is_empty()
    }

    /// Moves up to `max_batch` queued commands into a new numbered batch unless a batch is already waiting
    /// for a retry.
    pub(crate) fn prepare_batch(&mut self, max_batch: usize) {
        if self.unacked.as_ref().is_some_and(|b| b.commands.is_empty()) {
            // Never POST `{"nouns":[]}`.
            self.unacked = None;
        }
        if self.unacked.is_some() {
            return;
        }
        let n = self.queue.len().min(max_batch.max(1));
        let commands: Vec<QueuedCommand> = self.queue.drain(..n).collect();
        self.unacked = Some(Batch::new(commands, self.take_sequence()));
    }

    fn take_sequence(&mut self) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.saturating_add(1);
        sequence
    }

    /// DELETE SessionId was refused: the session's own ChatEnd becomes the batch (unless a batch is waiting,
    /// e.g. the same ChatEnd after a restart).
    pub(crate) fn prepare_fallback_chat_end(&mut self) {
        if self.unacked.is_none() {
            let end = QueuedCommand {
                id: self.take_command_id(),
                command: Command::End(ChatEndReason::Client),
            };
            self.unacked = Some(Batch::new(vec![end], self.take_sequence()));
        }
    }

    /// The batch goes out; returns whether it carries a visitor text (the message spacing counts from it).
    pub(crate) fn sent(&mut self) -> bool {
        let Some(b) = self.unacked.as_mut() else {
            return false;
        };
        b.in_flight = true;
        b.renumbered = false;
        b.has_text()
    }

    /// Whether the unacknowledged batch carries a visitor text.
    pub(crate) fn unacked_has_text(&self) -> bool {
        self.unacked.as_ref().is_some_and(Batch::has_text)
    }

    /// The answer to the unacknowledged batch is in: `uncertain` when its outcome stays unknown.
    pub(crate) fn answered(&mut self, uncertain: bool) {
        if let Some(b) = self.unacked.as_mut() {
            b.in_flight = false;
            b.uncertain |= uncertain;
        }
    }

    /// The server accepted the unacknowledged batch: `Delivered`, or `DeliveryUncertain` when an earlier
    /// attempt's outcome is unknown (the 2xx may be the server dropping a number it already holds).
    /// `seen_in_transcript`: the server's transcript shows the batch, which proves it whatever the numbering.
    pub(crate) fn accept(&mut self, seen_in_transcript: bool) -> Option<Accepted> {
        let batch = self.unacked.take()?;
        let had_end = batch.has_end();
        let ids = batch.ids();
        if batch.uncertain {
            self.numbering_unverified = true;
        }
        let event = if !seen_in_transcript && (batch.uncertain || self.numbering_unverified) {
            Event::DeliveryUncertain(ids)
        } else {
            let n = u64::try_from(batch.texts().len()).unwrap_or(u64::MAX);
            self.confirmed_texts = self.confirmed_texts.saturating_add(n);
            Event::Delivered(ids)
        };
        Some(Accepted { event, had_end })
    }

    /// Drops the unacknowledged batch without an event (the session's own fallback ChatEnd).
    pub(crate) fn drop_unacked(&mut self) {
        self.unacked = None;
    }

    /// The server accepted ChasitorInit, which took the current number.
    pub(crate) fn init_accepted(&mut self) {
        self.next_sequence = self.next_sequence.saturating_add(1);
    }

    /// A 409 `Out of sync ... Actual M` answered the POST: ChasitorInit (`init`) or the unacknowledged batch
    /// is re-sent with the number [`recovery::out_of_sync_next`] picks. The server said where its counter is,
    /// so the numbering is known again.
    pub(crate) fn out_of_sync(&mut self, init: bool, actual: i64) {
        self.numbering_unverified = false;
        if init {
            self.next_sequence = recovery::out_of_sync_next(self.next_sequence, actual);
        } else if let Some(b) = self.unacked.as_mut() {
            let next = recovery::out_of_sync_next(b.sequence, actual);
            b.sequence = next;
            self.next_sequence = next.saturating_add(1);
        }
    }

    /// A reconnect with `resetSequence`: the numbering restarts at 1; the abandoned batch is re-sent as 1.
    pub(crate) fn restart_numbering(&mut self) {
        self.next_sequence = 1;
        self.numbering_unverified = false;
        if let Some(b) = self.unacked.as_mut() {
            b.sequence = 1;
            b.renumbered = true;
            self.next_sequence = 2;
        }
    }

    /// A restart lost the process that sent the batch: the server may hold it already.
    pub(crate) fn resumed(&mut self) {
        if let Some(b) = self.unacked.as_mut().filter(|b| b.in_flight) {
            b.in_flight = false;
            b.uncertain = true;
        }
    }

    /// After a handover, the transcript in ChasitorSessionData (`chatMessages`) tells whether the server
    /// already holds the batch whose outcome was unknown: if so it is not re-sent (it is `Delivered`); if the
    /// transcript proves it absent, the re-send is a first delivery. Otherwise it stays uncertain.
    pub(crate) fn check_transcript(&mut self, data: &ChasitorSessionData) -> TranscriptVerdict {
        let Some(entries) = data.chat_messages.as_deref() else {
            return TranscriptVerdict::Unsettled;
        };
        let confirmed = self.confirmed_texts;
        let Some(b) = self.unacked.as_mut().filter(|b| b.uncertain) else {
            return TranscriptVerdict::Unsettled;
        };
        match recovery::transcript_holds(&b.texts(), confirmed, entries) {
            Some(true) => {
                if b.renumbered {
                    // Never sent under the new numbering: its number is free again.
                    self.next_sequence = b.sequence;
                }
                // Uncertain no more: the server shows it holds the batch.
                b.uncertain = false;
                match self.accept(true) {
                    Some(accepted) => TranscriptVerdict::Holds(accepted),
                    None => TranscriptVerdict::Unsettled,
                }
            }
            Some(false) => {
                b.uncertain = false;
                TranscriptVerdict::Absent
            }
            None => TranscriptVerdict::Unsettled,
        }
    }

    /// Commands still queued are never sent: their ids.
    pub(crate) fn drain_queue(&mut self) -> Vec<CommandId> {
        self.queue.drain(..).map(|c| c.id).collect()
    }

    /// The session ended: everything not accepted, told apart by whether it may have reached the server.
    pub(crate) fn leftover(&mut self) -> Leftover {
        let mut left = Leftover::default();
        if let Some(b) = self.unacked.take() {
            if b.uncertain || b.in_flight {
                left.uncertain = Some(b.ids());
            } else {
                left.undelivered = b.ids();
            }
        }
        left.undelivered.extend(self.drain_queue());
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// One step of driving the queue the way the session does.
    #[derive(Debug, Clone)]
    enum Step {
        Enqueue(bool),
        Prepare(usize),
        Send,
        Answer { uncertain: bool },
        Accept,
        OutOfSync(i64),
        RestartNumbering,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => any::<bool>().prop_map(Step::Enqueue),
            3 => (0usize..4).prop_map(Step::Prepare),
            3 => Just(Step::Send),
            2 => any::<bool>().prop_map(|uncertain| Step::Answer { uncertain }),
            3 => Just(Step::Accept),
            1 => (-2i64..12).prop_map(Step::OutOfSync),
            1 => Just(Step::RestartNumbering),
        ]
    }

    proptest! {
        /// Every command is reported exactly once (delivered, uncertain or left over), no batch is empty,
        /// and a new batch always takes a number above every one handed out since the numbering last
        /// restarted.
        #[test]
        fn every_command_is_reported_once_and_numbers_never_repeat(
            steps in prop::collection::vec(step(), 0..80)
        ) {
            let mut q = Outbound::new();
            let mut enqueued = BTreeSet::new();
            let mut reported = Vec::new();
            let mut highest_given: u64 = 0;
            for s in steps {
                match s {
                    Step::Enqueue(text) => {
                        let c = if text { Command::Message("hi".into()) } else { Command::Typing(true) };
                        enqueued.insert(q.enqueue(c));
                    }
                    Step::Prepare(max) => {
                        let before = q.unacked.as_ref().map(|b| b.sequence);
                        if q.has_outbound() {
                            q.prepare_batch(max);
                            let b = q.unacked.as_ref().expect("a batch after prepare");
                            prop_assert!(!b.commands.is_empty(), "an empty batch");
                            if before.is_none() {
                                prop_assert!(b.sequence > highest_given || highest_given == 0,
                                    "batch {} after {}", b.sequence, highest_given);
                            }
                            highest_given = highest_given.max(b.sequence);
                        }
                    }
                    Step::Send => { q.sent(); }
                    Step::Answer { uncertain } => q.answered(uncertain),
                    Step::Accept => {
                        if let Some(a) = q.accept(false) {
                            match a.event {
                                Event::Delivered(ids) | Event::DeliveryUncertain(ids) => reported.extend(ids),
                                other => prop_assert!(false, "unexpected {other:?}"),
                            }
                        }
                    }
                    Step::OutOfSync(actual) => {
                        q.out_of_sync(false, actual);
                        highest_given = q.unacked.as_ref().map_or(0, |b| b.sequence);
                    }
                    Step::RestartNumbering => {
                        q.restart_numbering();
                        highest_given = q.unacked.as_ref().map_or(0, |b| b.sequence);
                    }
                }
                prop_assert_eq!(
                    q.pending(),
                    q.queue.len() + q.unacked.as_ref().map_or(0, |b| b.commands.len())
                );
                prop_assert!(q.next_sequence > q.unacked.as_ref().map_or(0, |b| b.sequence));
            }
            let left = q.leftover();
            reported.extend(left.uncertain.unwrap_or_default());
            reported.extend(left.undelivered);
            let once: BTreeSet<_> = reported.iter().copied().collect();
            prop_assert_eq!(once.len(), reported.len(), "a command reported twice");
            prop_assert_eq!(once, enqueued);
        }
    }
}
