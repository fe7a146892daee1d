//! The persisted form of a session: [`SessionSnapshot`], a plain serialised record whose JSON has not
//! changed since format version 1 (field names, order and encodings), converted to and from the sub-types
//! that own the live state.

use super::backoff::Rng;
use super::ending::{Ending, Flags};
use super::handover::Reconnect;
use super::outbound::{Batch, Outbound, QueuedCommand};
use super::poll::{Poll, PollAck};
use super::requests::Credentials;
use super::{Session, State};
use crate::wire::{AgentInfo, ChatEndReason, Endpoint};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The format version [`Session::snapshot`] writes. Bumped only for a change an older reader cannot take by
/// ignoring fields it does not know; every field added within a version carries `#[serde(default)]`, so a
/// snapshot written earlier still resumes (tested against a stored snapshot in `tests/snapshot_compat.rs`).
pub const SNAPSHOT_VERSION: u32 = 1;

fn snapshot_version_before_versioning() -> u32 {
    1
}

/// The durable part of a session: everything needed to resume the same chat after a restart. Serialise it
/// with serde; it holds the session key and affinity token, so store it like a credential. `Debug` hides them.
///
/// Versioned: it carries [`SNAPSHOT_VERSION`]. A snapshot from an older release of the same format version
/// resumes (fields added since take their defaults); one from a newer format is refused by
/// [`Session::resume`] with [`ResumeError::UnsupportedVersion`](crate::ResumeError::UnsupportedVersion)
/// instead of being half-read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionSnapshot {
    /// Format version (absent in snapshots written before versioning, which are version 1).
    #[serde(default = "snapshot_version_before_versioning")]
    pub(crate) version: u32,
    pub(crate) state: State,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) endpoint: Endpoint,
    pub(crate) client_poll_timeout_secs: Option<i64>,
    pub(crate) ack: i64,
    pub(crate) last_index: Option<i64>,
    pub(crate) offset: Option<i64>,
    pub(crate) pc: u64,
    pub(crate) next_sequence: u64,
    pub(crate) reconnect: Reconnect,
    pub(crate) queue: VecDeque<QueuedCommand>,
    pub(crate) unacked: Option<Batch>,
    pub(crate) agent: Option<AgentInfo>,
    pub(crate) agent_typing: bool,
    pub(crate) ending_reason: Option<ChatEndReason>,
    pub(crate) next_request_id: u64,
    pub(crate) next_command_id: u64,
    pub(crate) sneak_peek_position: i64,
    pub(crate) rng: Rng,
    /// Ending was asked for before a SessionId answer arrived. Persisted (found by the model test: a resumed
    /// session forgot the visitor's `end()` and went on to request the chat).
    #[serde(default)]
    pub(crate) end_requested: bool,
    /// ChatEnd was accepted: the next poll that completes ends the session. Persisted so a resumed session
    /// still ends after its one more poll.
    #[serde(default)]
    pub(crate) chat_end_accepted: bool,
    /// ChasitorInit was accepted: ending falls back to ChatEnd only for a chat that was requested.
    #[serde(default)]
    pub(crate) chat_requested: bool,
    /// Visitor texts confirmed delivered: a ChasitorSessionData transcript shorter than this is incomplete.
    #[serde(default)]
    pub(crate) confirmed_texts: u64,
    /// Ending before establishment: DELETE SessionId was refused, so ChatEnd is tried instead.
    #[serde(default)]
    pub(crate) delete_refused: bool,
    /// Ending an established chat: ChatEnd was refused, so DELETE SessionId is tried instead.
    #[serde(default)]
    pub(crate) chat_end_refused: bool,
    /// See [`Outbound::numbering_unverified`].
    #[serde(default)]
    pub(crate) numbering_unverified: bool,
    /// Which `ack` polls carry after a ReconnectSession, until a batch shows the server's numbering again.
    #[serde(default)]
    pub(crate) poll_ack: PollAck,
}

/// The persisted parts of a live session, taken out of a snapshot.
pub(crate) struct Restored {
    pub(crate) state: State,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) endpoint: Endpoint,
    pub(crate) reconnect: Reconnect,
    pub(crate) agent: Option<AgentInfo>,
    pub(crate) agent_typing: bool,
    pub(crate) next_request_id: u64,
    pub(crate) rng: Rng,
    pub(crate) outbound: Outbound,
    pub(crate) poll: Poll,
    pub(crate) ending: Ending,
}

impl SessionSnapshot {
    /// Splits the record into the sub-types that own the state.
    pub(crate) fn into_parts(self) -> Restored {
        let flags = Flags {
            end_requested: self.end_requested,
            chat_requested: self.chat_requested,
            chat_end_accepted: self.chat_end_accepted,
            delete_refused: self.delete_refused,
            chat_end_refused: self.chat_end_refused,
            ending_reason: self.ending_reason,
        };
        Restored {
            state: self.state,
            credentials: self.credentials,
            endpoint: self.endpoint,
            reconnect: self.reconnect,
            agent: self.agent,
            agent_typing: self.agent_typing,
            next_request_id: self.next_request_id,
            rng: self.rng,
            outbound: Outbound {
                queue: self.queue,
                unacked: self.unacked,
                next_sequence: self.next_sequence,
                next_command_id: self.next_command_id,
                sneak_peek_position: self.sneak_peek_position,
                confirmed_texts: self.confirmed_texts,
                numbering_unverified: self.numbering_unverified,
            },
            poll: Poll {
                ack: self.ack,
                last_index: self.last_index,
                offset: self.offset,
                pc: self.pc,
                poll_ack: self.poll_ack,
                client_poll_timeout_secs: self.client_poll_timeout_secs,
                ..Poll::new()
            },
            ending: Ending::from_flags(self.state == State::Deleting, flags),
        }
    }
}

impl Session {
    /// The persisted form of the session's state (always the current format version).
    pub(crate) fn to_snapshot(&self) -> SessionSnapshot {
        let Flags {
            end_requested,
            chat_requested,
            chat_end_accepted,
            delete_refused,
            chat_end_refused,
            ending_reason,
        } = self.ending.flags();
        let (o, p) = (&self.outbound, &self.poll);
        SessionSnapshot {
            version: SNAPSHOT_VERSION,
            state: self.state,
            credentials: self.credentials.clone(),
            endpoint: self.endpoint.clone(),
            client_poll_timeout_secs: p.client_poll_timeout_secs,
            ack: p.ack,
            last_index: p.last_index,
            offset: p.offset,
            pc: p.pc,
            next_sequence: o.next_sequence,
            reconnect: self.reconnect,
            queue: o.queue.clone(),
            unacked: o.unacked.clone(),
            agent: self.agent.clone(),
            agent_typing: self.agent_typing,
            ending_reason,
            next_request_id: self.next_request_id,
            next_command_id: o.next_command_id,
            sneak_peek_position: o.sneak_peek_position,
            rng: self.rng,
            end_requested,
            chat_end_accepted,
            chat_requested,
            confirmed_texts: o.confirmed_texts,
            delete_refused,
            chat_end_refused,
            numbering_unverified: o.numbering_unverified,
            poll_ack: p.poll_ack,
        }
    }
}
