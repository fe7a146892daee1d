//! Driving a pair by hand: one step bounded in time, and a restart of the session's process.

use super::{Flight, Pair, PairError, PairStep, client_side, server_side};
use crate::Session;
use std::time::Duration;

impl Pair {
    /// One step that does not move the clock past `elapsed` (since the start): `Ok(None)` once nothing is
    /// left to do before then (the clock stands at `elapsed`). For a test that checks the session after every
    /// step of [`run_until_elapsed`](Self::run_until_elapsed).
    pub fn step_until(&mut self, elapsed: Duration) -> Result<Option<PairStep>, PairError> {
        let limit = self.start.saturating_add(elapsed);
        self.step_bounded(Some(limit))
    }

    /// A restart of the (first) session's process: the session is dropped with its connections (the server
    /// sees each one closed, so a reply it was about to send is lost) and `session` — e.g. [`Session::resume`]
    /// of a snapshot — takes its place on the same clock. Its events follow the old one's in
    /// [`events`](Self::events).
    pub fn restart(&mut self, session: Session) {
        let (hook, now) = (self.hook, self.now);
        let v = &mut self.visitors.first;
        let mut gone: Vec<Flight> = v.flights.drain(..).collect();
        gone.append(&mut v.abandoned);
        let old = std::mem::replace(&mut v.session, session);
        client_side(hook, || drop(old));
        v.heap_at = None;
        if std::mem::take(&mut v.finished_logged) {
            self.finished = self.finished.saturating_sub(1);
        }
        for f in gone {
            self.unsettle(0, &f.texts);
            self.tickets.remove(&f.ticket);
            server_side(hook, || self.server.cancel(f.ticket, now));
        }
        if self.record {
            self.line(
                0,
                "# process restarted: the session and its connections are gone, a new one takes over"
                    .to_owned(),
            );
        }
        self.touch(0);
    }
}
