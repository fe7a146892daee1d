//! Transition coverage: which (state before, kind of input) pairs a run reached.

use crate::{RequestKind, State};
use std::collections::HashSet;
use std::fmt;

/// The visitor commands, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// `send_message`.
    SendMessage,
    /// `set_typing`.
    SetTyping,
    /// `sneak_peek`.
    SneakPeek,
    /// `send_custom_event`.
    CustomEvent,
    /// `end`.
    End,
}

/// What an answer meant, as the session reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// A 2xx the session accepts (for SessionId, ReconnectSession and Messages: with a body that decodes).
    Ok,
    /// Messages 204, or a 200 with an empty body.
    NoContent,
    /// A 2xx whose body does not decode (SessionId, ReconnectSession, Messages).
    BadBody,
    /// 400, 404, 405 (and any other 4xx not listed here).
    Rejected4xx,
    /// 403.
    Forbidden403,
    /// 409 with a plain body.
    Conflict409,
    /// 409 `Out of sync Ack. Expected N. Actual M`.
    OutOfSync409,
    /// 500, 502 (any 5xx but 503).
    Server5xx,
    /// 503.
    Unavailable503,
}

/// The kind of one input to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// A visitor command.
    Command(CommandKind),
    /// An answer to an in-flight request.
    Response(RequestKind, StatusClass),
    /// A transport error on an in-flight request.
    TransportError(RequestKind),
    /// A request's deadline passed during `handle_timeout`.
    Expiry(RequestKind),
    /// A `handle_timeout` call.
    Timeout,
    /// An answer to an id no longer in flight.
    StaleId,
    /// An answer to an id never issued.
    UnknownId,
    /// The clock went backwards.
    TimeBackwards,
    /// Snapshot and resume.
    Resume,
}

/// The set of (state before, input) pairs reached.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    pairs: HashSet<(State, InputKind)>,
}

impl Coverage {
    /// Records a pair.
    pub fn record(&mut self, state: State, input: InputKind) {
        self.pairs.insert((state, input));
    }

    /// Adds everything `other` reached.
    pub fn merge(&mut self, other: &Coverage) {
        self.pairs.extend(other.pairs.iter().copied());
    }

    /// Whether the pair was reached.
    pub fn contains(&self, state: State, input: InputKind) -> bool {
        self.pairs.contains(&(state, input))
    }

    /// Every pair reached, sorted by its text.
    pub fn pairs(&self) -> Vec<(State, InputKind)> {
        let mut v: Vec<_> = self.pairs.iter().copied().collect();
        v.sort_by_cached_key(|(s, i)| format!("{s:?} {i:?}"));
        v
    }

    /// How many pairs were reached.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when nothing was reached.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (s, i) in self.pairs() {
            writeln!(f, "{s:?} × {i:?}")?;
        }
        Ok(())
    }
}
