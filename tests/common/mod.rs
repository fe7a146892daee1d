//! Helpers shared by several test files (`mod common;`; each file uses part of it).
#![allow(dead_code, unused_macros)]

use liveagent::{EndReason, Event, Session};
use std::collections::VecDeque;

/// Builds a `#[non_exhaustive]` payload struct from its `Default`, field by field (`field: value` or `field`).
macro_rules! lit {
    (@set $v:ident) => {};
    (@set $v:ident $f:ident : $e:expr $(, $($rest:tt)*)?) => { $v.$f = $e; lit!(@set $v $($($rest)*)?); };
    (@set $v:ident $f:ident $(, $($rest:tt)*)?) => { $v.$f = $f; lit!(@set $v $($($rest)*)?); };
    ($t:ident { $($body:tt)* }) => {{
        let mut v = <$t>::default();
        lit!(@set v $($body)*);
        v
    }};
}

/// A visitor for chats over real loopback HTTP with an echoing agent: sends its lines one at a time, each
/// after the previous one's echo, then ends the chat; [`PingPong::check`] judges the chat from the server's
/// record.
pub struct PingPong {
    to_send: VecDeque<String>,
    pub sent: Vec<String>,
    pub received: Vec<String>,
    pub end: Option<EndReason>,
    pub session_id: Option<String>,
}

impl PingPong {
    /// `n` lines, `"{prefix} line {i}"`.
    pub fn new(prefix: &str, n: usize) -> PingPong {
        PingPong {
            to_send: (1..=n).map(|i| format!("{prefix} line {i}")).collect(),
            sent: Vec::new(),
            received: Vec::new(),
            end: None,
            session_id: None,
        }
    }

    fn send_next(&mut self, session: &mut Session) {
        match self.to_send.pop_front() {
            Some(line) => {
                session.send_message(line.clone()).expect("send");
                self.sent.push(line);
            }
            None => session.end().expect("end"),
        }
    }

    /// What the driver calls with each event.
    pub fn on_event(&mut self, session: &mut Session, ev: Event) {
        if self.session_id.is_none() {
            self.session_id = session.session_id().map(str::to_owned);
        }
        match ev {
            Event::ChatEstablished(_) => self.send_next(session),
            Event::AgentMessage(m) => {
                let echo = m.text.starts_with("echo: ");
                self.received.push(m.text);
                if echo {
                    self.send_next(session);
                }
            }
            Event::Ended(reason) => self.end = Some(reason),
            _ => {}
        }
    }

    /// Ended by the visitor; exactly once, in order, both ways. A failure shows the server's transcript.
    pub fn check(&self, server: &liveagent::sim::Server) {
        assert!(
            matches!(self.end, Some(EndReason::VisitorEnded { .. })),
            "ended with {:?}\n{}",
            self.end,
            server.transcript_text()
        );
        let id = self.session_id.as_deref().expect("session id");
        let at_server = server
            .visitor_messages(id)
            .expect("session known to the server");
        assert_eq!(
            at_server,
            self.sent.as_slice(),
            "visitor → agent: lost, duplicated or reordered"
        );
        let expected: Vec<String> = self.sent.iter().map(|s| format!("echo: {s}")).collect();
        assert_eq!(
            self.received, expected,
            "agent → visitor: lost, duplicated or reordered"
        );
    }
}

pub mod scenario;
pub mod scripted;
