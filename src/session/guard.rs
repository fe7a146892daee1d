//! Defences against a hostile or broken peer that do not belong to one protocol step: batch sequence anomalies,
//! the memory a batch's events may pin, command payload caps, counter ranges, and the invariants a resumed
//! snapshot must hold.

use super::event::Event;
use super::outbound::Command;
use super::snapshot::SessionSnapshot;
use super::{CommandError, ResumeError, State};
use crate::config::{Config, LimitsConfig};
use crate::wire::{DecodeError, Message};
use std::collections::VecDeque;

/// The largest value any counter of the session (request ids, command ids, `X-LIVEAGENT-SEQUENCE`, `pc`) and any
/// batch `sequence` from the server may take: 2^53, the largest integer every JSON peer reads exactly. A real
/// chat stays below a few thousand; reaching it ends the session with a protocol error instead of saturating.
pub const MAX_COUNTER: u64 = 1 << 53;

/// A batch whose first message index lies more than this beyond the last one seen is not a plausible
/// continuation of the chat (a batch numbered `i64::MAX` once muted every later one).
pub const MAX_SEQUENCE_JUMP: i64 = 1 << 20;

/// The memory `events` hold while they wait for the application: each one's size and the heap it owns.
pub(crate) fn queued_event_bytes(events: &VecDeque<Event>) -> usize {
    events.iter().fold(0, |sum, e| {
        sum.saturating_add(std::mem::size_of::<Event>())
            .saturating_add(e.heap_bytes())
    })
}

/// The memory the events a batch of `messages` becomes would hold once queued: an event's size and the
/// message's heap for each (a message that yields no event counts too), twice the payload the session also
/// keeps (the agent of ChatEstablished and ChatTransferred, the `attachedRecords` of ChatEnded in the end
/// reason).
pub(crate) fn batch_event_bytes(messages: &[Message]) -> usize {
    messages.iter().fold(0, |sum, m| {
        let kept = match m {
            Message::ChatEstablished(_) | Message::ChatTransferred(_) | Message::ChatEnded(_) => {
                m.heap_bytes()
            }
            _ => 0,
        };
        sum.saturating_add(std::mem::size_of::<Event>())
            .saturating_add(m.heap_bytes())
            .saturating_add(kept)
    })
}

/// Refuses a batch whose events, with the `queued` ones, would hold more than the configured bytes.
pub(crate) fn check_event_bytes(
    messages: &[Message],
    queued: &VecDeque<Event>,
    limits: &LimitsConfig,
) -> Result<(), DecodeError> {
    let limit = limits
        .max_undrained_event_bytes
        .max(crate::config::floors::MIN_UNDRAINED_EVENT_BYTES);
    let bytes = batch_event_bytes(messages).saturating_add(queued_event_bytes(queued));
    if bytes > limit {
        return Err(DecodeError::EventsTooLarge {
            what: "Messages",
            bytes,
            limit,
        });
    }
    Ok(())
}

/// How a batch's `sequence` relates to what was seen before (since the last reconnect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SequenceVerdict {
    /// A continuation (or a batch without a sequence).
    Continues,
    /// Below the last one seen without a reconnect: the server renumbered. De-duplication restarts so the
    /// batch's messages are delivered, and the application is told.
    Renumbered { previous: i64 },
    /// Out of range or an absurd jump: the chat ends with a protocol error (its texts still reach the
    /// application).
    Absurd {
        previous: Option<i64>,
        sequence: i64,
    },
}

pub(crate) fn classify_sequence(
    sequence: Option<i64>,
    len: usize,
    floor: Option<i64>,
) -> SequenceVerdict {
    let Some(s) = sequence else {
        return SequenceVerdict::Continues;
    };
    let max = i64::try_from(MAX_COUNTER).unwrap_or(i64::MAX);
    if !(-1..=max).contains(&s) {
        return SequenceVerdict::Absurd {
            previous: None,
            sequence: s,
        };
    }
    let Some(floor) = floor else {
        return SequenceVerdict::Continues;
    };
    if s < floor {
        return SequenceVerdict::Renumbered { previous: floor };
    }
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let first = s.saturating_sub(len.saturating_sub(1));
    if first.saturating_sub(floor) > MAX_SEQUENCE_JUMP {
        return SequenceVerdict::Absurd {
            previous: Some(floor),
            sequence: s,
        };
    }
    SequenceVerdict::Continues
}

/// Checks one command against the caps: visitor texts against `max_text_bytes`, every other payload against
/// [`LimitsConfig::max_command_bytes`] and [`LimitsConfig::max_command_items`].
pub(crate) fn check_command(command: &Command, config: &Config) -> Result<(), CommandError> {
    let limits: &LimitsConfig = &config.limits;
    let bytes = |len: usize, limit: usize| {
        if len > limit {
            Err(CommandError::PayloadTooLarge { len, limit })
        } else {
            Ok(())
        }
    };
    let items = |len: usize| {
        if len > limits.max_command_items {
            Err(CommandError::TooManyItems {
                len,
                limit: limits.max_command_items,
            })
        } else {
            Ok(())
        }
    };
    match command {
        Command::Message(text) | Command::SneakPeek { text, .. } => {
            if text.len() > config.max_text_bytes {
                return Err(CommandError::TextTooLong {
                    len: text.len(),
                    limit: config.max_text_bytes,
                });
            }
            Ok(())
        }
        Command::CustomEvent { kind, data } => bytes(
            kind.len().saturating_add(data.len()),
            limits.max_command_bytes,
        ),
        Command::RichMessage(actions) => {
            items(actions.len())?;
            let len = actions.iter().fold(0usize, |n, a| {
                n.saturating_add(a.kind.len())
                    .saturating_add(a.value.len())
                    .saturating_add(a.dialog_id.as_ref().map_or(0, String::len))
            });
            bytes(len, limits.max_command_bytes)
        }
        Command::SensitiveDataRules(rules) => {
            items(rules.len())?;
            let len = rules.iter().fold(0usize, |n, r| {
                n.saturating_add(r.name.len())
                    .saturating_add(r.id.as_ref().map_or(0, String::len))
            });
            bytes(len, limits.max_command_bytes)
        }
        Command::End(reason) => bytes(reason.as_str().len(), 64),
        Command::Typing(_) | Command::IdleWarning(_) => Ok(()),
    }
}

/// Every invariant a snapshot of a live session holds.
pub(crate) fn validate_snapshot(d: &SessionSnapshot, config: &Config) -> Result<(), ResumeError> {
    if d.endpoint != config.endpoint
        && let Err(reason) = config.redirect.check(&config.endpoint, &d.endpoint)
    {
        return Err(ResumeError::EndpointOutsidePolicy {
            endpoint: d.endpoint.clone(),
            reason,
        });
    }
    match (d.state, &d.credentials) {
        (State::Ended, _) => {}
        (State::Connecting, Some(_)) => {
            return Err(ResumeError::Inconsistent {
                what: "state Connecting with session credentials",
            });
        }
        (State::Connecting, None) => {}
        (_, None) => {
            return Err(ResumeError::Inconsistent {
                what: "a started session without credentials",
            });
        }
        (_, Some(c)) => {
            // The rule the SessionId answer was checked by: what the session accepted live resumes.
            crate::wire::check_credentials(&c.id, &c.key, &c.affinity)
                .map_err(|_| ResumeError::MalformedCredentials)?;
        }
    }
    if d.chat_end_accepted && !matches!(d.state, State::Ending | State::Ended) {
        return Err(ResumeError::Inconsistent {
            what: "ChatEnd accepted outside the Ending state",
        });
    }
    let unsigned = [
        ("next_request_id", d.next_request_id, 1),
        ("next_command_id", d.next_command_id, 1),
        ("next_sequence", d.next_sequence, 1),
        ("pc", d.pc, 0),
    ];
    for (counter, value, min) in unsigned {
        if value < min || value >= MAX_COUNTER {
            return Err(ResumeError::CounterOutOfRange {
                counter,
                value: i128::from(value),
            });
        }
    }
    let max = i64::try_from(MAX_COUNTER).unwrap_or(i64::MAX);
    for (counter, value) in [("ack", Some(d.ack)), ("last_index", d.last_index)] {
        if let Some(v) = value.filter(|v| !(-1..=max).contains(v)) {
            return Err(ResumeError::CounterOutOfRange {
                counter,
                value: i128::from(v),
            });
        }
    }
    if let Some(b) = &d.unacked {
        if b.commands.is_empty() {
            return Err(ResumeError::Inconsistent {
                what: "an unacknowledged batch without commands",
            });
        }
        if b.sequence == 0 || b.sequence >= d.next_sequence {
            return Err(ResumeError::CounterOutOfRange {
                counter: "unacked.sequence",
                value: i128::from(b.sequence),
            });
        }
    }
    let slack = config.max_batch.max(1).saturating_add(8);
    if d.queue.len() > config.max_queued_commands.saturating_add(slack) {
        return Err(ResumeError::Inconsistent {
            what: "more queued commands than the configuration allows",
        });
    }
    let commands = d
        .queue
        .iter()
        .chain(d.unacked.iter().flat_map(|b| b.commands.iter()));
    for c in commands {
        if c.id.0 == 0 || c.id.0 >= d.next_command_id {
            return Err(ResumeError::CounterOutOfRange {
                counter: "command id",
                value: i128::from(c.id.0),
            });
        }
        check_command(&c.command, config)
            .map_err(|error| ResumeError::CommandRefused { id: c.id, error })?;
    }
    Ok(())
}
