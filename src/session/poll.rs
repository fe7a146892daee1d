//! The single long poll: what it acknowledges (`ack`), its counter (`pc`), the reconnect `offset`, the index
//! floor below which messages were delivered already, and its pacing (a second 409 in a row, answers that
//! come back at once with nothing new).
//!
//! * `ack` echoes the last 200's `sequence`; an empty 200 `{"messages":[]}` is read like a 204. After a
//!   ReconnectSession polls carry no `ack` until a batch shows the numbering again ([`PollAck`]).
//! * Messages are de-duplicated by index (`sequence - len + 1 ..= sequence`); the floor resets after a
//!   ReconnectSession because the server may renumber.

use super::guard;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The `ack` of the polls after a ReconnectSession (spec §4.6: undocumented). The new app server may
/// continue the numbering (the kept `ack` is right, CARBON's `-1` may be refused) or restart it at 0 (`-1`
/// is right, the kept `ack` would acknowledge messages never received). The session converges, bounded:
/// no `ack` first (right under both readings: it acknowledges what the server delivered, the Android SDK
/// polls so); if such a poll's answer may have been lost, the retry must not acknowledge that unseen batch,
/// so it carries `-1` (asks again for everything the server retains; under a restarted numbering the
/// kept `ack` could fall inside the new numbers and acknowledge the lost batch unseen); if that is refused
/// 400, the kept `ack`. A batch ends the uncertainty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PollAck {
    /// The numbering is known: echo the last `sequence`.
    #[default]
    Known,
    /// Just reconnected: no `ack`.
    Omitted,
    /// A poll without `ack` may have lost its answer: `-1`.
    MinusOne,
    /// `-1` was refused: the kept `ack` (the numbering continues).
    Kept,
}

/// Which messages of a batch are new, given the floor of what was delivered before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admission {
    first_index: Option<i64>,
    floor: Option<i64>,
}

impl Admission {
    /// Whether the batch's `i`-th message was not delivered before.
    pub(crate) fn is_new(&self, i: usize) -> bool {
        match (self.first_index, self.floor) {
            (Some(first), Some(floor)) => {
                first.saturating_add(i64::try_from(i).unwrap_or(i64::MAX)) > floor
            }
            _ => true,
        }
    }
}

/// The long poll's state. The first five fields are the snapshot's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Poll {
    /// The `ack` the next poll carries (under [`PollAck::Known`] and [`PollAck::Kept`]).
    pub(crate) ack: i64,
    /// The highest message index delivered since the last reconnect.
    pub(crate) last_index: Option<i64>,
    /// The last reconnect offset received.
    pub(crate) offset: Option<i64>,
    /// Polls issued (`pc`).
    pub(crate) pc: u64,
    pub(crate) poll_ack: PollAck,
    /// The poll timeout the SessionId answer gave, in seconds.
    pub(crate) client_poll_timeout_secs: Option<i64>,
    /// Consecutive 409s: the first is re-polled ("Duplicate Long Polling"), the second ends.
    pub(crate) conflicts: u32,
    /// The answer being handled held nothing new ([`Poll::pace`]).
    pub(crate) came_back_empty: bool,
    /// The previous answer held nothing new and came back sooner than a long poll can.
    pub(crate) quick_empty: bool,
    /// A poll was issued after ChatEnd was accepted: its answer is the last one.
    pub(crate) final_poll_issued: bool,
}

impl Default for Poll {
    fn default() -> Self {
        Poll::new()
    }
}

impl Poll {
    /// Before the first poll: nothing to acknowledge (`-1`).
    pub(crate) fn new() -> Poll {
        Poll {
            ack: -1,
            last_index: None,
            offset: None,
            pc: 0,
            poll_ack: PollAck::Known,
            client_poll_timeout_secs: None,
            conflicts: 0,
            came_back_empty: false,
            quick_empty: false,
            final_poll_issued: false,
        }
    }

    /// The `ack` the next poll carries; `None`: none at all.
    pub(crate) fn next_ack(&self) -> Option<i64> {
        match self.poll_ack {
            PollAck::Omitted => None,
            PollAck::MinusOne => Some(-1),
            PollAck::Known | PollAck::Kept => Some(self.ack),
        }
    }

    /// A poll goes out; `last`: ChatEnd was accepted, so its answer ends the chat.
    pub(crate) fn issued(&mut self, last: bool) {
        self.pc = self.pc.saturating_add(1);
        if last {
            self.final_poll_issued = true;
        }
    }

    /// A ReconnectSession succeeded: the server may renumber what it re-delivers, so de-duplication starts
    /// afresh and polls carry no `ack` until a batch shows the numbering.
    pub(crate) fn reconnected(&mut self) {
        self.last_index = None;
        self.poll_ack = PollAck::Omitted;
    }

    /// A poll without `ack` failed in a way that may have lost a batch the server counts delivered: the retry
    /// must not acknowledge it unseen, so it carries -1.
    pub(crate) fn answer_maybe_lost(&mut self) {
        if self.poll_ack == PollAck::Omitted {
            self.poll_ack = PollAck::MinusOne;
        }
    }

    /// A 400 answered the poll: if it carried `-1` after a reconnect, the new app server continues the
    /// numbering, so the kept `ack` goes next. Returns whether that was the case.
    pub(crate) fn minus_one_refused(&mut self) -> bool {
        if self.poll_ack == PollAck::MinusOne {
            self.poll_ack = PollAck::Kept;
            true
        } else {
            false
        }
    }

    /// Classifies a batch's `sequence` against the floor; a renumbering or an absurd number restarts
    /// de-duplication. Returns the verdict and which messages are new.
    pub(crate) fn admit(
        &mut self,
        sequence: Option<i64>,
        len: usize,
    ) -> (guard::SequenceVerdict, Admission) {
        let verdict = guard::classify_sequence(sequence, len, self.last_index);
        if !matches!(verdict, guard::SequenceVerdict::Continues) {
            self.last_index = None;
        }
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        let admission = Admission {
            first_index: sequence.map(|s| s.saturating_sub(len.saturating_sub(1))),
            floor: self.last_index,
        };
        (verdict, admission)
    }

    /// A batch was processed: its `sequence` (when the numbering is accepted) is the next `ack` and raises
    /// the floor; its `offset` is kept for a reconnect.
    pub(crate) fn batch_done(&mut self, sequence: Option<i64>, offset: Option<i64>) {
        if let Some(s) = sequence {
            self.ack = s;
            self.poll_ack = PollAck::Known;
            self.last_index = Some(self.last_index.map_or(s, |f| f.max(s)));
        }
        if let Some(o) = offset {
            self.offset = Some(o);
        }
    }

    /// A server that answers every poll at once without new messages (204, `{"messages":[]}` whatever its
    /// `sequence`, or only messages already delivered) would otherwise be re-polled as fast as the network
    /// allows. A long poll is held for seconds; an empty answer sooner than `floor`
    /// ([`MIN_BACKOFF`](crate::config::floors::MIN_BACKOFF)) after the poll went out is not one. The first
    /// such answer is re-polled at once (a poll can be cut short for good reasons); from the second in a row
    /// on, the next poll goes no sooner than `floor` after the previous one was sent: at most ten polls a
    /// second against a server that floods empty answers. Returns when the next poll may go, if it must wait.
    pub(crate) fn pace(
        &mut self,
        sent: Option<Timestamp>,
        now: Timestamp,
        floor: std::time::Duration,
        ended: bool,
    ) -> Option<Timestamp> {
        if !self.came_back_empty && !self.quick_empty {
            return None; // the common case: the answer brought messages
        }
        let quick_empty =
            self.came_back_empty && sent.is_some_and(|s| now < super::later(s, floor)) && !ended;
        let wait = if quick_empty && self.quick_empty {
            sent.map(|s| super::later(s, floor))
        } else {
            None
        };
        self.quick_empty = quick_empty;
        wait
    }
}
