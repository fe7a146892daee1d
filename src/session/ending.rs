//! How far the session is in ending the chat: one value instead of six flags.
//!
//! The ways to end (see the crate docs): before an agent accepted, `DELETE SessionId`, falling back to ChatEnd
//! if it is refused; afterwards ChatEnd and one more poll for ChatEnded, falling back to the DELETE if ChatEnd
//! is refused. Each fallback is tried once. The snapshot format keeps the six flags it always had
//! ([`Flags`]); [`Ending::flags`] and [`Ending::from_flags`] convert.

use crate::wire::ChatEndReason;

/// Where the ending is. Kept after the session ended (a snapshot of an ended session still says how it
/// ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Not ending (the chat is open). `chat_requested`: ChasitorInit was accepted, so a refused DELETE falls back to ChatEnd.
    Open { chat_requested: bool },
    /// `end()` came while SessionId was in flight: the session its answer creates is deleted at once (state
    /// Connecting, then Deleting).
    BeforeConnected,
    /// DELETE SessionId (state Deleting). `chat_requested`: a refusal falls back to ChatEnd.
    Delete { chat_requested: bool },
    /// DELETE was refused, so ChatEnd is sent instead (state Deleting); `accepted`: it was, and the session
    /// polls once more for ChatEnded (state Ending).
    DeleteRefused { accepted: bool },
    /// ChatEnd with `reason` is queued or sent (state Ending); `accepted`: the next poll is the last one.
    ChatEnd {
        reason: ChatEndReason,
        accepted: bool,
    },
    /// ChatEnd was refused for good, so DELETE SessionId is sent instead (state Deleting).
    ChatEndRefused { reason: ChatEndReason },
}

/// The six fields of the snapshot format that say how the session ends, as it always wrote them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub(crate) end_requested: bool,
    pub(crate) chat_requested: bool,
    pub(crate) chat_end_accepted: bool,
    pub(crate) delete_refused: bool,
    pub(crate) chat_end_refused: bool,
    pub(crate) ending_reason: Option<ChatEndReason>,
}

impl Ending {
    /// Whether ChasitorInit was accepted (a chat exists on the server to end with ChatEnd).
    pub(crate) fn chat_requested(&self) -> bool {
        match self {
            Ending::Open { chat_requested } | Ending::Delete { chat_requested } => *chat_requested,
            Ending::BeforeConnected => false,
            Ending::DeleteRefused { .. }
            | Ending::ChatEnd { .. }
            | Ending::ChatEndRefused { .. } => true,
        }
    }

    /// ChatEnd was accepted: the next poll that completes ends the session.
    pub(crate) fn chat_end_accepted(&self) -> bool {
        matches!(
            self,
            Ending::ChatEnd { accepted: true, .. } | Ending::DeleteRefused { accepted: true }
        )
    }

    /// The reason the visitor's ChatEnd carries, once one is queued.
    pub(crate) fn reason(&self) -> Option<&ChatEndReason> {
        match self {
            Ending::ChatEnd { reason, .. } | Ending::ChatEndRefused { reason } => Some(reason),
            Ending::DeleteRefused { accepted: true } => Some(&ChatEndReason::Client),
            _ => None,
        }
    }

    /// The session's ChatEnd was accepted.
    pub(crate) fn accept_chat_end(&mut self) {
        *self = match std::mem::replace(self, Ending::BeforeConnected) {
            Ending::ChatEnd { reason, .. } | Ending::ChatEndRefused { reason } => Ending::ChatEnd {
                reason,
                accepted: true,
            },
            Ending::DeleteRefused { .. } => Ending::DeleteRefused { accepted: true },
            _ => Ending::ChatEnd {
                reason: ChatEndReason::Client,
                accepted: true,
            },
        };
    }

    /// The fields the snapshot format stores.
    pub(crate) fn flags(&self) -> Flags {
        let chat_requested = self.chat_requested();
        match self {
            Ending::Open { .. } | Ending::Delete { .. } => Flags {
                chat_requested,
                ..Flags::default()
            },
            Ending::BeforeConnected => Flags {
                end_requested: true,
                ..Flags::default()
            },
            Ending::DeleteRefused { accepted } => Flags {
                chat_requested,
                chat_end_accepted: *accepted,
                delete_refused: true,
                ending_reason: accepted.then_some(ChatEndReason::Client),
                ..Flags::default()
            },
            Ending::ChatEnd { reason, accepted } => Flags {
                chat_requested,
                chat_end_accepted: *accepted,
                ending_reason: Some(reason.clone()),
                ..Flags::default()
            },
            Ending::ChatEndRefused { reason } => Flags {
                chat_requested,
                chat_end_refused: true,
                ending_reason: Some(reason.clone()),
                ..Flags::default()
            },
        }
    }

    /// Reads the stored flags. Every combination the session writes maps back to the value that wrote it;
    /// any other (edited storage) is read by the first flag that decides how the session ends, in the order
    /// the ending progresses.
    pub(crate) fn from_flags(deleting: bool, f: Flags) -> Ending {
        if f.chat_end_refused {
            Ending::ChatEndRefused {
                reason: f.ending_reason.unwrap_or(ChatEndReason::Client),
            }
        } else if f.delete_refused {
            Ending::DeleteRefused {
                accepted: f.chat_end_accepted,
            }
        } else if f.end_requested {
            Ending::BeforeConnected
        } else if let Some(reason) = f.ending_reason {
            Ending::ChatEnd {
                reason,
                accepted: f.chat_end_accepted,
            }
        } else if f.chat_end_accepted {
            Ending::ChatEnd {
                reason: ChatEndReason::Client,
                accepted: true,
            }
        } else if deleting {
            Ending::Delete {
                chat_requested: f.chat_requested,
            }
        } else {
            Ending::Open {
                chat_requested: f.chat_requested,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ending_reads_back_from_its_flags() {
        let all = [
            Ending::Open {
                chat_requested: false,
            },
            Ending::Open {
                chat_requested: true,
            },
            Ending::BeforeConnected,
            Ending::Delete {
                chat_requested: true,
            },
            Ending::DeleteRefused { accepted: false },
            Ending::DeleteRefused { accepted: true },
            Ending::ChatEnd {
                reason: ChatEndReason::ClientIdleTimeout,
                accepted: false,
            },
            Ending::ChatEnd {
                reason: ChatEndReason::Client,
                accepted: true,
            },
            Ending::ChatEndRefused {
                reason: ChatEndReason::Client,
            },
        ];
        for e in all {
            let deleting = matches!(e, Ending::Delete { .. });
            assert_eq!(Ending::from_flags(deleting, e.flags()), e);
        }
    }
}
