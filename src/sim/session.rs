//! Per-session state: the public record tests inspect, and the private protocol state.

use super::conformance::FindingLog;
use crate::wire::{IdleWarning, Message, RichAction, TranscriptEntry};
use std::collections::VecDeque;
use std::time::Duration;

use crate::time::Timestamp;

/// Where a chat session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionState {
    /// SessionId answered; no ChasitorInit yet.
    Created,
    /// ChasitorInit accepted (ChatRequestSuccess emitted); no agent yet. Chat POSTs answer 500.
    Queued,
    /// ChatEstablished emitted: the chat is live.
    Chatting,
    /// AgentDisconnect emitted: the chat is alive and waits for another agent.
    AgentDisconnected,
    /// The final message (ChatEnded or ChatRequestFail) was emitted; polls still work until it is delivered,
    /// other chat POSTs answer 403.
    Ending(ServerEnd),
    /// Over: every request for the session answers 403.
    Ended(ServerEnd),
}

impl SessionState {
    /// True unless [`SessionState::Ended`].
    pub fn is_live(&self) -> bool {
        !matches!(self, SessionState::Ended(_))
    }

    /// The end reason once ending or ended.
    pub fn end_reason(&self) -> Option<ServerEnd> {
        match self {
            SessionState::Ending(r) | SessionState::Ended(r) => Some(*r),
            _ => None,
        }
    }
}

/// Why a session ended, as the server saw it (the client's view is [`crate::EndReason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEnd {
    /// The visitor sent ChatEnd (ChatEnded reason `client`).
    Visitor,
    /// The agent ended the chat (ChatEnded reason `agent`).
    Agent,
    /// The request was declined (ChatRequestFail).
    Declined,
    /// `DELETE System/SessionId/{key}`.
    Deleted,
    /// No poll for `session_idle_timeout`.
    IdleTimeout,
    /// A [`FaultKind::Expire`](super::FaultKind::Expire) fault.
    Expired,
    /// A second concurrent Messages poll (409, spec §8).
    DuplicatePoll,
}

/// Something the visitor posted other than a ChatMessage, recorded in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum VisitorEvent {
    /// ChasitorInit (the visitor name it carried).
    Init {
        /// `visitorName`.
        visitor_name: String,
    },
    /// ChasitorTyping.
    Typing,
    /// ChasitorNotTyping.
    NotTyping,
    /// ChasitorSneakPeek.
    SneakPeek {
        /// `position`.
        position: i64,
        /// `text`.
        text: String,
    },
    /// CustomEvent.
    CustomEvent {
        /// `type`.
        kind: String,
        /// `data`.
        data: String,
    },
    /// ChatEnd.
    ChatEnd {
        /// `reason`.
        reason: String,
    },
    /// ChasitorIdleTimeoutWarningEvent.
    IdleWarning(IdleWarning),
    /// SensitiveDataRuleTriggered (rule names).
    SensitiveDataRuleTriggered(Vec<String>),
    /// RichMessage selections.
    RichMessage(Vec<RichAction>),
    /// ChasitorResyncState.
    ResyncState {
        /// `organizationId`.
        organization_id: String,
    },
    /// Breadcrumb (sent with this session's headers).
    Breadcrumb {
        /// `location`.
        location: String,
    },
    /// A file uploaded to the upload servlet with a token the agent issued ([`AgentAction::RequestFile`]).
    ///
    /// [`AgentAction::RequestFile`]: super::AgentAction::RequestFile
    FileUploaded {
        /// The name of the `file` part.
        filename: String,
        /// Its `Content-Type` (`application/octet-stream` when the part had none).
        content_type: String,
        /// Its size in bytes.
        len: usize,
    },
}

/// What the upload servlet needs to know about a session.
#[derive(Debug, Clone, Default)]
pub(crate) struct UploadState {
    /// `organizationId` of the ChasitorInit.
    pub(crate) org_id: String,
    /// File tokens the agent issued and no upload has used yet.
    pub(crate) tokens: Vec<String>,
}

/// What the server knows about one session, for tests and tools.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionRecord {
    /// Creation index (0 = first session): the index fault plans use.
    pub index: usize,
    /// The session id (`id` of the SessionId answer).
    pub id: String,
    /// Current state.
    pub state: SessionState,
    /// Visitor ChatMessage texts, in the order processed (each once: retransmissions are not repeated).
    pub visitor_messages: Vec<String>,
    /// Agent ChatMessage texts emitted, in order.
    pub agent_messages: Vec<String>,
    /// Everything else the visitor posted, in order.
    pub visitor_events: Vec<VisitorEvent>,
    /// POSTs recognised as retransmissions (sequence already accepted) and answered 200 without processing.
    pub retransmissions: u32,
    /// Visitor ChatMessage texts of POSTs answered 200 as retransmissions under a sequence number a
    /// [`FaultKind::SequenceDrift`](super::FaultKind::SequenceDrift) skipped: the server never received that
    /// number. Only a visitor that never got the drift's 409 re-sends such a number (nothing else says the
    /// counter moved), so these texts are lost without the visitor being told: a limit of the protocol.
    pub lost_to_drift: Vec<String>,
    /// 503 handovers started by faults.
    pub handovers: u32,
    /// ReconnectSession requests answered 200 (a repeat of one whose answer was lost is not counted again).
    pub reconnects: u32,
    /// ChasitorResyncState requests received.
    pub resyncs: u32,
    /// A ReconnectSession was answered for a requested chat and no ChasitorResyncState has arrived since (a
    /// reconnect before ChasitorInit leaves nothing to resync: the visitor sends ChasitorInit again).
    pub awaiting_resync: bool,
    /// `newUrl` of the last SwitchServer emitted.
    pub switched_to: Option<String>,
    /// Messages polls received.
    pub polls: u64,
}

/// A Messages poll the server is holding.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) ticket: super::Ticket,
    pub(crate) timer: (Timestamp, u64),
    pub(crate) fx: Effects,
}

/// What happens to a reply on its way out (faults).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Effects {
    pub(crate) drop: bool,
    pub(crate) delay: Option<Duration>,
    /// The request never reached the server: the transport fails this much later.
    pub(crate) unreachable: Option<Duration>,
}

/// Faults armed by a time trigger, waiting for the next request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Armed {
    pub(crate) drop: bool,
    pub(crate) delay: Option<Duration>,
    pub(crate) burst_left: u32,
    pub(crate) burst_status: u16,
    pub(crate) duplicate: bool,
    pub(crate) sequence_drift: u64,
    /// Requests still to be lost on the way ([`FaultKind::Unreachable`](super::FaultKind::Unreachable)).
    pub(crate) unreachable_left: u32,
    /// How long the transport takes to fail each of them.
    pub(crate) unreachable_after: Duration,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Switch {
    /// Index of the SwitchServer message.
    pub(crate) index: i64,
    /// The visitor acknowledged it.
    pub(crate) acked: bool,
    /// Requests must go to the alternate host (else back to the primary).
    pub(crate) to_alternate: bool,
    /// After the acknowledgement the old host serves one request other than a poll, the one the visitor may
    /// have had in flight when it read the SwitchServer (one POST at a time). Closed once it was served, once
    /// a request other than a poll arrived at the new host (nothing sent before the switch is still in
    /// flight then), or once the visitor polled the old host after the acknowledgement (it did not move).
    pub(crate) old_host_closed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ChatRecord {
    pub(crate) rec: SessionRecord,
    pub(crate) token: String,
    /// While a handover is pending, the token the visitor holds (the one before the handover); after a
    /// ReconnectSession, the token the visitor held before it (for `reconnect-affinity`, `stale-affinity`).
    pub(crate) prev_token: Option<Box<str>>,
    /// Last accepted `X-LIVEAGENT-SEQUENCE`.
    pub(crate) last_seq: u64,
    /// Sequence numbers (first, last) a SequenceDrift skipped since the counter last restarted.
    pub(crate) drifted: Vec<(u64, u64)>,
    pub(crate) receive_queue_updates: bool,
    pub(crate) queue_position: i64,
    pub(crate) visitor_name: String,
    pub(crate) agent_name: String,
    pub(crate) agent_user_id: String,
    pub(crate) sneak_peek: bool,
    pub(crate) echo: bool,
    /// Index the next emitted message gets.
    pub(crate) next_index: i64,
    /// Emitted and not yet acknowledged, in index order.
    pub(crate) retained: VecDeque<(i64, Message)>,
    /// Index of the last message put into a 200 batch (-1 before any).
    pub(crate) last_delivered: i64,
    /// Index of ChatEnded / ChatRequestFail once emitted.
    pub(crate) final_index: Option<i64>,
    pub(crate) held: Option<Held>,
    pub(crate) step: usize,
    pub(crate) agent_timer: Option<(Timestamp, u64)>,
    pub(crate) idle_timer: Option<(Timestamp, u64)>,
    /// The server answered 503 since the last ReconnectSession: ReconnectSession is allowed.
    pub(crate) reconnect_allowed: bool,
    pub(crate) switch: Option<Switch>,
    pub(crate) armed: Armed,
    /// Indices into the fault plan not yet fired (request-count triggers only).
    pub(crate) pending_faults: Vec<usize>,
    pub(crate) requests: u64,
    pub(crate) posts: u64,
    /// Keep the last 200 body (only when a DuplicateBatch fault may apply).
    pub(crate) keep_last_batch: bool,
    pub(crate) last_batch: Option<Vec<u8>>,
    pub(crate) chat_log: Vec<TranscriptEntry>,
    pub(crate) dirty: bool,
    /// Conformance findings (allocated on the first one; capped).
    pub(crate) findings: Option<Box<FindingLog>>,
    /// What the dialect switches and the conformance checks need to remember.
    pub(crate) dx: DialectState,
    /// FileTransfer upload state.
    pub(crate) upload: UploadState,
}

/// Per-session state of the dialect switches and conformance checks (small and `Copy`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DialectState {
    /// Fingerprint of the last accepted sequenced POST (path and body), to tell a retransmission from a
    /// reused number and a retry under a new number.
    pub(crate) last_fingerprint: u64,
    /// The server answered 403 for this session.
    pub(crate) told_403: bool,
    /// The kinds of request (bits: 1 poll, 2 POST, 4 other) answered 503 for the visitor's stale token since
    /// it went stale (a handover, or the last ReconnectSession when no handover was pending). Before the
    /// ReconnectSession a second request of a kind with it ignored the 503; after it, the first of a kind that
    /// got no 503 was in flight when the visitor read the 503 (one poll and one POST at a time), and any other
    /// used a retired token.
    pub(crate) answered_503: u8,
    /// The poll that delivered the final message (ChatEnded, ChatRequestFail) was answered.
    pub(crate) final_delivered: bool,
    /// No poll with an `ack` since the last ReconnectSession (the next `ack` is checked against the
    /// `reconnect-ack` switch); the value is the index the reconnect offset mapped to (the continued ack).
    pub(crate) first_poll_after_reconnect: Option<i64>,
    /// Wire `sequence` = internal index − `seq_base` (non-zero once a `minus-one` reconnect restarted the
    /// numbering).
    pub(crate) seq_base: i64,
    /// The highest `ack` received.
    pub(crate) max_ack: i64,
    /// Under `resync=required`: messages with a higher index wait for ChasitorResyncState.
    pub(crate) resync_barrier: Option<i64>,
    /// When the last ChatMessage was accepted (for `rapid-messages`).
    pub(crate) last_chat_message: Option<Timestamp>,
    /// A handover invalidated the token the visitor holds; it has not reconnected yet.
    pub(crate) handover_pending: bool,
    /// A ReconnectSession was answered and no request has carried the token it gave yet: the answer may have
    /// been lost on the way, so a repeated ReconnectSession gets the same answer again.
    pub(crate) reconnect_unconfirmed: bool,
    /// The `Actual` of the last 409 `Out of sync` answered (cleared by ReconnectSession).
    pub(crate) last_out_of_sync: Option<u64>,
}
