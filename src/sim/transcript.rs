//! The server's log of what it saw and did, one readable line per event.

use super::Ticket;
use std::fmt;
use std::time::Duration;

/// One line of the transcript.
///
/// Displayed as `+1.204s #3 s0 GET /chat/rest/System/Messages?ack=-1&pc=0 -> held`: time since the server
/// was created, the request ticket (if the line is about a request), the session index (if any), and the text.
/// Session keys and affinity tokens never appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    /// Time since [`Server::new`](super::Server::new).
    pub at: Duration,
    /// The request this line is about.
    pub ticket: Option<Ticket>,
    /// The session (creation index) this line is about.
    pub session: Option<usize>,
    /// What happened.
    pub text: String,
}

impl fmt::Display for TranscriptLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}.{:03}s", self.at.as_secs(), self.at.subsec_millis())?;
        if let Some(t) = self.ticket {
            write!(f, " #{}", t.0)?;
        }
        if let Some(s) = self.session {
            write!(f, " s{s}")?;
        }
        write!(f, " {}", self.text)
    }
}
