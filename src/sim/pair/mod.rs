//! [`Pair`]: one [`Session`] driven against one simulated [`Server`] on a virtual clock.

use super::render::{BODY_BRIEF, Render, Stamp, brief};
use super::rng::FastHash;
use super::{Reply, Server, SimConfig, Ticket};
use crate::{CommandError, CommandId, Config, Event, InputError, Output, RequestId};
use crate::{RequestKind, Session, TransportError};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::time::Timestamp;

mod control;
mod delivery;
mod record;
use delivery::texts_of;
pub use delivery::{DeliveryNote, DeliveryReport, Discrepancy};
pub use record::{Credential, ReplyRecord, SentRequest};

/// The default bound on the steps of one `run*` call (see [`Pair::set_max_steps`]).
pub const MAX_STEPS: usize = 100_000;

/// How many steps in a row, per session, may pass without the virtual clock moving before the pair calls it a
/// livelock ([`PairError::Stalled`]).
pub const MAX_STEPS_AT_ONE_INSTANT: usize = 10_000;

/// What one [`Pair::step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a step says what happened; `Finished` means there is nothing left to do"]
pub enum PairStep {
    /// A session handed out a request; the server received it.
    Sent {
        /// Which session (0 for the first).
        session: usize,
        /// The session's id for it.
        id: RequestId,
        /// What it is for.
        kind: RequestKind,
        /// The server's ticket for it.
        ticket: Ticket,
    },
    /// A session handed out an event; it is `pair.events_of(session)[index]` (with events kept).
    Event {
        /// Which session (0 for the first).
        session: usize,
        /// Index into [`Pair::events_of`] (0 when only the last event is kept).
        index: usize,
    },
    /// A reply reached the session.
    Replied {
        /// The request it answers.
        id: RequestId,
        /// What the request was for.
        kind: RequestKind,
        /// The HTTP status, or `None` when the connection was closed without an answer (the session got
        /// [`TransportError::Reset`]).
        status: Option<u16>,
    },
    /// The reply tap swallowed a reply: the session never hears about the request (it counts it as failed
    /// at its deadline).
    Lost {
        /// The request whose answer was lost.
        id: RequestId,
        /// What the request was for.
        kind: RequestKind,
    },
    /// A reply to a request of the application's own ([`Pair::send_app_request`]) arrived; it is kept in
    /// [`Pair::app_replies`].
    AppReplied {
        /// The server's ticket for the request.
        ticket: Ticket,
        /// The HTTP status, or `None` when the connection was closed without an answer.
        status: Option<u16>,
    },
    /// The virtual clock moved (or stood still at a deadline that was due) and both sides ran their timers.
    Advanced {
        /// The new virtual time (since the pair's start).
        to: Duration,
    },
    /// The session has ended, every output is drained and no request of the application's own is waiting
    /// for its reply: nothing is left to do. Stepping again returns this again.
    Finished,
}

/// Why a `run*` call stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PairError {
    /// The call took more steps than the bound ([`Pair::set_max_steps`], default [`MAX_STEPS`]) without
    /// reaching its goal: e.g. [`Pair::run`] on a chat nobody ends.
    StepLimit {
        /// The bound.
        steps: usize,
        /// Virtual time reached.
        at: Duration,
    },
    /// [`MAX_STEPS_AT_ONE_INSTANT`] steps passed without the virtual clock moving: a livelock (a hot loop,
    /// a deadline that never clears).
    Stalled {
        /// The virtual time it is stuck at.
        at: Duration,
    },
    /// The session refused a reply the pair delivered (it never issued the id): a harness bug.
    Input(InputError),
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PairError::StepLimit { steps, at } => write!(
                f,
                "the pair took {steps} steps without reaching its goal (virtual time {})",
                Stamp(*at)
            ),
            PairError::Stalled { at } => write!(
                f,
                "livelock: {MAX_STEPS_AT_ONE_INSTANT} steps per session without the clock moving at {}",
                Stamp(*at)
            ),
            PairError::Input(e) => write!(f, "the session refused a reply: {e}"),
        }
    }
}

impl std::error::Error for PairError {}

/// What the reply tap is told about a reply on its way to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TapInfo {
    /// The request it answers.
    pub id: RequestId,
    /// What the request was for.
    pub kind: RequestKind,
    /// The server's ticket.
    pub ticket: Ticket,
    /// Virtual time (since the pair's start).
    pub at: Duration,
}

/// A closure that sees every reply before the session does and returns what the session gets instead:
/// `Some(reply)` (unchanged, altered, or [`Reply::Drop`] for a closed connection), or `None` to lose it
/// (the session hears nothing and counts the request as failed at its deadline). For fault tests.
pub type ReplyTap = Box<dyn FnMut(&TapInfo, Reply) -> Option<Reply>>;

/// A request the server is working on.
#[derive(Debug, Clone)]
struct Flight {
    ticket: Ticket,
    id: RequestId,
    kind: RequestKind,
    /// ChatMessage texts the request carries (POSTs only, when delivery is tracked).
    texts: Vec<String>,
}

/// What the pair saw of one visitor text on the wire.
#[derive(Debug, Clone, Copy, Default)]
struct WireText {
    /// POSTs that carried it.
    posts: u32,
    /// POSTs carrying it whose answer did not reach the session as a definite answer (dropped, lost,
    /// abandoned, or a 5xx: the server may or may not have processed it).
    unsettled: u32,
}

/// One session of the pair and what the pair saw of it.
#[derive(Debug)]
struct Visitor {
    session: Session,
    /// The session's last `Wait`, once it was drained; `None` while outputs may be pending.
    wait: Option<Option<Timestamp>>,
    /// The deadline this session has in the pair's timer heap, if any.
    heap_at: Option<Timestamp>,
    /// Its requests the server is working on (at most a few).
    flights: Vec<Flight>,
    /// Requests it abandoned whose connections stay open ([`Pair::set_deliver_abandoned`]).
    abandoned: Vec<Flight>,
    /// Every event handed out, with its virtual time (only the last one when events are not kept).
    events: Vec<(Duration, Event)>,
    /// Texts sent through [`Pair::send_message`], in order.
    texts: Vec<(CommandId, String)>,
    wire_texts: HashMap<String, WireText>,
    finished_logged: bool,
}

impl Visitor {
    fn new(session: Session) -> Visitor {
        Visitor {
            session,
            wait: None,
            heap_at: None,
            flights: Vec::new(),
            abandoned: Vec::new(),
            events: Vec::new(),
            texts: Vec::new(),
            wire_texts: HashMap::new(),
            finished_logged: false,
        }
    }
}

/// The sessions of a pair: never none (a fleet of zero keeps one that is never driven), so the one-session
/// accessors always have a session to show.
#[derive(Debug)]
struct Visitors {
    first: Visitor,
    rest: Vec<Visitor>,
}

impl Visitors {
    fn len(&self) -> usize {
        self.rest.len().saturating_add(1)
    }

    fn get(&self, i: usize) -> Option<&Visitor> {
        match i.checked_sub(1) {
            None => Some(&self.first),
            Some(j) => self.rest.get(j),
        }
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Visitor> {
        match i.checked_sub(1) {
            None => Some(&mut self.first),
            Some(j) => self.rest.get_mut(j),
        }
    }

    /// Session `i`, or the first when there is no session `i`.
    fn at(&self, i: usize) -> &Visitor {
        self.get(i).unwrap_or(&self.first)
    }

    fn at_mut(&mut self, i: usize) -> &mut Visitor {
        match i.checked_sub(1) {
            Some(j) if j < self.rest.len() => self.rest.get_mut(j).unwrap_or(&mut self.first),
            _ => &mut self.first,
        }
    }
}

/// Which side of the loop a piece of work belongs to (see [`SideHook`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Inside a [`Server`] call (or its drop).
    Server,
    /// Inside a [`Session`] call (or its drop).
    Client,
}

/// Called with `true` right before and `false` right after each piece of work of one [`Side`]: how a bench
/// splits the loop's cost between the simulator, the client and the pair itself (nothing here reads a clock).
pub type SideHook = fn(Side, bool);

/// Runs `f` as the server's work. Never inlined, so a profiler can attribute what runs inside it
/// (`benches/callgrind.sh` collects inside `*sim::pair::server_side*`); never nested with [`client_side`].
#[inline(never)]
fn server_side<R>(hook: Option<SideHook>, f: impl FnOnce() -> R) -> R {
    if let Some(h) = hook {
        h(Side::Server, true);
    }
    let r = f();
    if let Some(h) = hook {
        h(Side::Server, false);
    }
    r
}

/// Runs `f` as the client's work (see [`server_side`]).
#[inline(never)]
fn client_side<R>(hook: Option<SideHook>, f: impl FnOnce() -> R) -> R {
    if let Some(h) = hook {
        h(Side::Client, true);
    }
    let r = f();
    if let Some(h) = hook {
        h(Side::Client, false);
    }
    r
}

/// [`Session`]s driven against one simulated [`Server`] on a virtual clock: one ([`Pair::new`]) or a fleet
/// of them ([`Pair::fleet`]).
///
/// The pair is the one client↔server loop of this crate: the README rehearsal, the tests, the benches and
/// the fuzz targets all drive chats with it. It does what a real driver does, deterministically:
///
/// * drains [`Session::poll_output`] and hands every request to [`Server::handle_request`];
/// * hands every ready reply ([`Server::poll_reply`]) back with [`Session::handle_response`] (a
///   [`Reply::Drop`] becomes [`TransportError::Reset`]);
/// * closes the connection ([`Server::cancel`]) of every request the session stopped waiting for (its deadline
///   passed, a 503 abandoned it), as a transport would;
/// * otherwise moves the virtual clock to the earliest next deadline of the server and the sessions and calls
///   the `handle_timeout`s that are due.
///
/// Each of these is one [`step`](Pair::step). The clock is a `Timestamp` origin the caller gives; nothing here
/// reads the real clock. With many sessions, only sessions that got an input are drained, and session
/// deadlines wait in a heap: a step costs the same with a hundred thousand sessions as with one.
///
/// The one-session methods ([`session`](Pair::session), [`events`](Pair::events),
/// [`send_message`](Pair::send_message), [`check_delivery`](Pair::check_delivery), ...) address the first
/// session; the `_of` variants any of them.
///
/// [`check_delivery`](Pair::check_delivery) judges the chat from the **simulator's record** — the visitor texts
/// it accepted, the agent texts it emitted — against the events the application got. It does not recompute the
/// session's de-duplication, so a bug there shows up as a [`Discrepancy`].
///
/// The README's "Rehearse against the simulator" section shows it in use.
pub struct Pair {
    server: Server,
    start: Timestamp,
    now: Timestamp,
    visitors: Visitors,
    /// How many sessions are driven (all of them, but none in a fleet of zero).
    active: usize,
    /// Sessions whose outputs may be pending (drained last in, first out).
    dirty: Vec<usize>,
    /// Session deadlines; an entry counts only while it is its session's `heap_at`.
    timers: BinaryHeap<Reverse<(Timestamp, usize)>>,
    /// Which session each request in flight belongs to.
    tickets: HashMap<Ticket, usize, FastHash>,
    /// Sessions that are over (their `Wait(None)` drained).
    finished: usize,
    /// Requests of the application's own that the server has not answered yet.
    app_flights: BTreeSet<Ticket>,
    app_replies: Vec<(Ticket, Duration, Reply)>,
    record: bool,
    /// Keep every event (off: only each session's last one).
    keep_events: bool,
    /// Follow the visitor texts on the wire for [`Pair::check_delivery`].
    track_delivery: bool,
    transcript: Vec<String>,
    /// Every request handed out (with the transcript on).
    sent: Vec<SentRequest>,
    /// Every reply on its way to a session (with the transcript on).
    replies: Vec<ReplyRecord>,
    /// Keep the connections of abandoned requests open and deliver their replies.
    deliver_abandoned: bool,
    /// The transcript's renderer (it knows the secrets to scrub).
    render: Render,
    tap: Option<ReplyTap>,
    hook: Option<SideHook>,
    max_steps: usize,
    steps: u64,
    /// Steps since the clock last moved.
    still: usize,
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pair")
            .field("elapsed", &self.elapsed())
            .field("steps", &self.steps)
            .field("sessions", &self.visitors.len())
            .field("in_flight", &self.tickets.len())
            .field("first", &self.visitors.first)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Pair {
    /// A session built from `session_config` and a server built from `sim_config`, both created at `start`
    /// (virtual time zero). Point `session_config` at [`SimConfig::endpoint`]. Nothing is sent until the
    /// first step.
    pub fn new(session_config: Config, sim_config: SimConfig, start: Timestamp) -> Pair {
        Pair::with_session(Session::new(session_config, start), sim_config, start)
    }

    /// A pair around a session built elsewhere (e.g. [`Session::resume`]), with a fresh server created at
    /// `start`.
    pub fn with_session(session: Session, sim_config: SimConfig, start: Timestamp) -> Pair {
        Pair::with_sessions(session, Vec::new(), sim_config, start, None)
    }

    /// `n` sessions sharing `session_config`, all created at `start`, against one server: a load test on one
    /// thread. Session `i` is [`session_of(i)`](Self::session_of). `hook`, if any, sees every piece of work
    /// of either side (see [`SideHook`]); the server and the sessions are created inside it.
    pub fn fleet(
        n: usize,
        session_config: Arc<Config>,
        sim_config: SimConfig,
        start: Timestamp,
        hook: Option<SideHook>,
    ) -> Pair {
        let make = || {
            client_side(hook, || {
                Session::with_shared_config(Arc::clone(&session_config), start)
            })
        };
        let first = make();
        let rest = (1..n).map(|_| make()).collect();
        let mut pair = Pair::with_sessions(first, rest, sim_config, start, hook);
        if n == 0 {
            pair.active = 0;
            pair.dirty.clear();
        }
        pair
    }

    fn with_sessions(
        first: Session,
        rest: Vec<Session>,
        sim_config: SimConfig,
        start: Timestamp,
        hook: Option<SideHook>,
    ) -> Pair {
        let render = Render::new(start, &sim_config.host);
        let n = rest.len().saturating_add(1);
        Pair {
            server: server_side(hook, || Server::new(sim_config, start)),
            start,
            now: start,
            visitors: Visitors {
                first: Visitor::new(first),
                rest: rest.into_iter().map(Visitor::new).collect(),
            },
            active: n,
            dirty: (0..n).rev().collect(),
            timers: BinaryHeap::with_capacity(n),
            tickets: HashMap::with_capacity_and_hasher(n.saturating_mul(2), FastHash::default()),
            finished: 0,
            app_flights: BTreeSet::new(),
            app_replies: Vec::new(),
            record: true,
            keep_events: true,
            track_delivery: true,
            transcript: Vec::new(),
            sent: Vec::new(),
            replies: Vec::new(),
            deliver_abandoned: false,
            render,
            tap: None,
            hook,
            max_steps: MAX_STEPS,
            steps: 0,
            still: 0,
        }
    }

    /// Turns the pair's transcript on or off (on by default; off for benches: no line is formatted). The
    /// server's own transcript is [`SimConfig::record_transcript`].
    pub fn set_transcript(&mut self, record: bool) {
        self.record = record;
    }

    /// Keeps every event (the default) or only each session's last one ([`last_event_of`](Self::last_event_of)),
    /// for load tests.
    pub fn set_keep_events(&mut self, keep: bool) {
        self.keep_events = keep;
    }

    /// Follows visitor texts on the wire for [`check_delivery`](Self::check_delivery) (the default), or not
    /// (load tests: no POST body is parsed).
    pub fn set_delivery_tracking(&mut self, track: bool) {
        self.track_delivery = track;
    }

    /// Keeps the connections of requests a session abandoned (a 503 handover, ending) open and delivers their
    /// replies when they come, as a transport that does not cancel would; the session must call them
    /// [`Stale`](crate::Handled::Stale). Off by default: the pair closes them ([`Server::cancel`]). Replies
    /// that come after the session ended are not delivered.
    pub fn set_deliver_abandoned(&mut self, deliver: bool) {
        self.deliver_abandoned = deliver;
    }

    /// Sets the bound on the steps of one `run*` call (default [`MAX_STEPS`]; at least 1).
    pub fn set_max_steps(&mut self, steps: usize) {
        self.max_steps = steps.max(1);
    }

    /// Installs a reply tap (see [`ReplyTap`]); it replaces any previous one.
    pub fn set_reply_tap(&mut self, tap: impl FnMut(&TapInfo, Reply) -> Option<Reply> + 'static) {
        self.tap = Some(Box::new(tap));
    }

    /// Removes the reply tap.
    pub fn clear_reply_tap(&mut self) {
        self.tap = None;
    }

    /// How many sessions the pair drives.
    pub fn sessions(&self) -> usize {
        self.visitors.len()
    }

    /// The (first) session.
    pub fn session(&self) -> &Session {
        self.session_of(0)
    }

    /// Session `i` (the first if `i` is out of range).
    pub fn session_of(&self, i: usize) -> &Session {
        &self.visitors.at(i).session
    }

    fn index(&self, i: usize) -> usize {
        if i < self.visitors.len() { i } else { 0 }
    }

    /// The (first) session, to give it commands directly. Texts sent this way are not known to
    /// [`check_delivery`](Self::check_delivery) (use [`send_message`](Self::send_message)).
    pub fn session_mut(&mut self) -> &mut Session {
        self.session_mut_of(0)
    }

    /// Session `i`, to give it commands directly (see [`session_mut`](Self::session_mut)). Out of range: the
    /// first.
    pub fn session_mut_of(&mut self, i: usize) -> &mut Session {
        let i = self.index(i);
        self.touch(i);
        &mut self.visitors.at_mut(i).session
    }

    /// The server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The server, to make its agent act or inject faults (pass [`now`](Self::now)).
    pub fn server_mut(&mut self) -> &mut Server {
        for i in 0..self.visitors.len() {
            self.touch(i);
        }
        &mut self.server
    }

    /// The virtual clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.start)
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Every event the (first) session handed out, with the virtual time it came.
    pub fn events(&self) -> &[(Duration, Event)] {
        self.events_of(0)
    }

    /// Every event session `i` handed out (only the last one unless events are kept).
    pub fn events_of(&self, i: usize) -> &[(Duration, Event)] {
        &self.visitors.at(i).events
    }

    /// The last event session `i` handed out.
    pub fn last_event_of(&self, i: usize) -> Option<&Event> {
        self.visitors.at(i).events.last().map(|(_, e)| e)
    }

    /// The texts of the agent messages the application got, in order.
    pub fn agent_texts(&self) -> Vec<&str> {
        self.events()
            .iter()
            .filter_map(|(_, e)| match e {
                Event::AgentMessage(m) => Some(m.text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// True once every session has ended and its outputs are drained.
    pub fn is_finished(&self) -> bool {
        self.finished >= self.active
    }

    /// The pair's transcript: requests, replies, events and commands, one line each with its virtual time.
    /// Session keys and affinity tokens are shown as `<key>` and `<affinity>`. With several sessions, lines
    /// about session `i` > 0 start with `s{i}`.
    #[must_use]
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for l in &self.transcript {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// Every request the sessions handed out, in order (recorded with the transcript).
    pub fn sent(&self) -> &[SentRequest] {
        &self.sent
    }

    /// Every reply on its way to the sessions, in order, with what each session did with it (recorded with
    /// the transcript).
    pub fn replies(&self) -> &[ReplyRecord] {
        &self.replies
    }

    /// Adds a free-form line (`# text`) to the transcript.
    pub fn note(&mut self, text: &str) {
        if self.record {
            self.line(0, format!("# {text}"));
        }
    }

    fn line(&mut self, session: usize, text: String) {
        let line = if session == 0 {
            self.render.line(self.now, &text)
        } else {
            self.render.line(self.now, &format!("s{session} {text}"))
        };
        self.transcript.push(line);
    }

    /// Marks session `i` as possibly having outputs.
    fn touch(&mut self, i: usize) {
        if let Some(v) = self.visitors.get_mut(i)
            && v.wait.is_some()
        {
            v.wait = None;
            self.dirty.push(i);
        }
    }

    /// Sends a visitor text from the (first) session (logged, and known to
    /// [`check_delivery`](Self::check_delivery)).
    pub fn send_message(&mut self, text: impl Into<String>) -> Result<CommandId, CommandError> {
        self.send_message_of(0, text)
    }

    /// Sends a visitor text from session `i` (see [`send_message`](Self::send_message)).
    pub fn send_message_of(
        &mut self,
        i: usize,
        text: impl Into<String>,
    ) -> Result<CommandId, CommandError> {
        let text = text.into();
        let i = self.index(i);
        let (hook, record, track) = (self.hook, self.record, self.track_delivery);
        let v = self.visitors.at_mut(i);
        // A copy only when the pair needs the text afterwards.
        let kept = (record || track).then(|| text.clone());
        let r = client_side(hook, || v.session.send_message(text));
        if let (Ok(id), true, Some(t)) = (&r, track, &kept) {
            v.texts.push((*id, t.clone()));
        }
        if let (true, Some(t)) = (record, &kept) {
            self.line(i, format!("✎ send_message({:?}) → {r:?}", brief(t, 60)));
        }
        self.touch(i);
        r
    }

    /// Ends the chat of the (first) session from the visitor's side (logged).
    pub fn end(&mut self) -> Result<(), CommandError> {
        self.end_of(0)
    }

    /// Ends the chat of session `i` from the visitor's side (logged).
    pub fn end_of(&mut self, i: usize) -> Result<(), CommandError> {
        let i = self.index(i);
        let hook = self.hook;
        let v = self.visitors.at_mut(i);
        let r = client_side(hook, || v.session.end());
        if self.record {
            self.line(i, format!("✎ end() → {r:?}"));
        }
        self.touch(i);
        r
    }

    /// Runs any command on the (first) session, logging it under `label` with its result.
    pub fn command<R: fmt::Debug>(&mut self, label: &str, f: impl FnOnce(&mut Session) -> R) -> R {
        let r = f(self.session_mut_of(0));
        if self.record {
            self.line(0, format!("✎ {label} → {r:?}"));
        }
        r
    }

    /// Sends a request of the application's own — not the session's, e.g. the file upload built by
    /// [`Session::upload_request`] — to the server now. Its reply does not go to the session (nor through the
    /// reply tap): it is kept in [`app_replies`](Self::app_replies). The transcript shows its method and path
    /// only (an upload's query holds the chat key).
    pub fn send_app_request<B: AsRef<[u8]>>(&mut self, req: &http::Request<B>) -> Ticket {
        let ticket = self.server.handle_request(req, self.now);
        if self.record {
            self.line(
                0,
                format!(
                    "→ (application) {} {} (ticket {ticket}) {} bytes",
                    req.method(),
                    req.uri().path(),
                    req.body().as_ref().len()
                ),
            );
        }
        self.app_flights.insert(ticket);
        for i in 0..self.visitors.len() {
            self.touch(i);
        }
        ticket
    }

    /// The replies to [`send_app_request`](Self::send_app_request)s, in arrival order, with their virtual
    /// times.
    pub fn app_replies(&self) -> &[(Ticket, Duration, Reply)] {
        &self.app_replies
    }

    fn app_reply(&mut self, ticket: Ticket, reply: Reply) -> PairStep {
        self.count_still();
        let status = reply.status();
        if self.record {
            let line = match reply.response() {
                Some(r) => {
                    let body = String::from_utf8_lossy(r.body());
                    format!(
                        "← (application) {} (ticket {ticket}) {}",
                        r.status().as_u16(),
                        brief(&body, BODY_BRIEF)
                    )
                }
                None => format!("✗ (application) (ticket {ticket}) connection closed, no answer"),
            };
            self.line(0, line);
        }
        self.app_replies.push((ticket, self.elapsed(), reply));
        PairStep::AppReplied { ticket, status }
    }

    /// Drops the sessions, then the server, each inside its side's hook (so a profiler counts the drops
    /// there).
    pub fn dispose(self) {
        let Pair {
            server,
            visitors,
            hook,
            ..
        } = self;
        client_side(hook, || drop(visitors));
        server_side(hook, || drop(server));
    }

    /// Drops the sessions (inside the client's side hook) and returns the server, with its record of every
    /// chat.
    pub fn into_server(self) -> Server {
        let Pair {
            server,
            visitors,
            hook,
            ..
        } = self;
        client_side(hook, || drop(visitors));
        server
    }

    // --------------------------------------------------------------------------------------------
    // Stepping
    // --------------------------------------------------------------------------------------------

    /// Does one thing: hands out a session's next output, or delivers one ready reply, or moves the clock
    /// to the next deadline of either side (see [`PairStep`]). Fails only on a livelock
    /// ([`PairError::Stalled`]) or a reply a session refuses ([`PairError::Input`]).
    pub fn step(&mut self) -> Result<PairStep, PairError> {
        self.step_bounded(None)
            .map(|s| s.unwrap_or(PairStep::Finished))
    }

    /// One step, not moving the clock past `limit`; `Ok(None)` when nothing is left to do before it.
    fn step_bounded(&mut self, limit: Option<Timestamp>) -> Result<Option<PairStep>, PairError> {
        self.steps = self.steps.saturating_add(1);
        // Each session may take its share of steps at one instant (a fleet starts all of them at once).
        if self.still >= MAX_STEPS_AT_ONE_INSTANT.saturating_mul(self.active.max(1)) {
            return Err(PairError::Stalled { at: self.elapsed() });
        }
        let hook = self.hook;
        // 1. The sessions' outputs.
        while let Some(&i) = self.dirty.last() {
            let now = self.now;
            let Some(v) = self.visitors.get_mut(i) else {
                self.dirty.pop();
                continue;
            };
            if v.wait.is_some() {
                self.dirty.pop();
                continue;
            }
            match client_side(hook, || v.session.poll_output(now)) {
                Output::Request(req) => return Ok(Some(self.send(i, req))),
                Output::Event(ev) => return Ok(Some(self.event(i, ev))),
                Output::Wait(w) => {
                    v.wait = Some(w);
                    match w {
                        Some(t) if v.heap_at != Some(t) => {
                            v.heap_at = Some(t);
                            self.timers.push(Reverse((t, i)));
                        }
                        Some(_) => {}
                        None => v.heap_at = None,
                    }
                    self.dirty.pop();
                    self.sweep(i);
                    if w.is_none() {
                        self.session_over(i);
                    }
                }
            }
        }
        if self.is_finished() && self.app_flights.is_empty() {
            return Ok(Some(PairStep::Finished));
        }
        // 2. A ready reply.
        while let Some((ticket, reply)) = server_side(hook, || self.server.poll_reply(self.now)) {
            let Some(i) = self.tickets.remove(&ticket) else {
                if self.app_flights.remove(&ticket) {
                    return Ok(Some(self.app_reply(ticket, reply)));
                }
                server_side(hook, || drop(reply));
                continue; // the session abandoned it
            };
            let flight = self.visitors.get_mut(i).and_then(|v| {
                match v.flights.iter().position(|f| f.ticket == ticket) {
                    Some(pos) => Some(v.flights.swap_remove(pos)),
                    None => {
                        let pos = v.abandoned.iter().position(|f| f.ticket == ticket)?;
                        Some(v.abandoned.swap_remove(pos))
                    }
                }
            });
            let Some(flight) = flight else {
                continue;
            };
            return self.deliver(i, flight, reply).map(Some);
        }
        // 3. The clock.
        let session_next = loop {
            match self.timers.peek() {
                Some(&Reverse((t, i)))
                    if self.visitors.get(i).and_then(|v| v.heap_at) != Some(t) =>
                {
                    self.timers.pop();
                }
                Some(&Reverse((t, _))) => break Some(t),
                None => break None,
            }
        };
        let server_next = server_side(hook, || self.server.poll_timeout());
        let next = [session_next, server_next].into_iter().flatten().min();
        let Some(mut next) = next else {
            return Ok(Some(PairStep::Finished));
        };
        if let Some(limit) = limit
            && next > limit
        {
            if self.now >= limit {
                return Ok(None);
            }
            next = limit;
        }
        if next > self.now {
            self.now = next;
            self.still = 0;
        } else {
            self.still = self.still.saturating_add(1);
        }
        let now = self.now;
        server_side(hook, || self.server.handle_timeout(now));
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(v) = self.visitors.get_mut(i) else {
                continue;
            };
            if v.heap_at != Some(t) {
                continue;
            }
            v.heap_at = None;
            client_side(hook, || v.session.handle_timeout(now));
            self.touch(i);
        }
        Ok(Some(PairStep::Advanced { to: self.elapsed() }))
    }

    fn session_over(&mut self, i: usize) {
        let record = self.record;
        let Some(v) = self.visitors.get_mut(i) else {
            return;
        };
        if v.finished_logged {
            return;
        }
        v.finished_logged = true;
        self.finished = self.finished.saturating_add(1);
        if record {
            self.line(i, "■ session over (Wait(None))".to_owned());
        }
    }

    fn send(&mut self, i: usize, req: crate::OutgoingRequest) -> PairStep {
        self.count_still();
        // A 503 abandons what is in flight and asks for ReconnectSession in the same drain.
        self.sweep(i);
        let texts = if self.track_delivery && req.kind == RequestKind::Chat {
            texts_of(req.http.uri().path(), req.http.body())
        } else {
            Vec::new()
        };
        if self.record {
            let line = self.render.request(&req);
            self.line(i, line);
            let sent = SentRequest::of(&req, self.elapsed(), i, self.start, &self.render);
            self.sent.push(sent);
        }
        let hook = self.hook;
        let now = self.now;
        let ticket = server_side(hook, || self.server.handle_request(&req.http, now));
        let (id, kind) = (req.id, req.kind);
        client_side(hook, || drop(req));
        if let Some(v) = self.visitors.get_mut(i) {
            for t in &texts {
                let w = v.wire_texts.entry(t.clone()).or_default();
                w.posts = w.posts.saturating_add(1);
            }
            v.flights.push(Flight {
                ticket,
                id,
                kind,
                texts,
            });
        }
        self.tickets.insert(ticket, i);
        PairStep::Sent {
            session: i,
            id,
            kind,
            ticket,
        }
    }

    fn event(&mut self, i: usize, ev: Event) -> PairStep {
        self.count_still();
        if self.record {
            let line = self.render.event(&ev);
            self.line(i, line);
        }
        let at = self.elapsed();
        let keep = self.keep_events;
        let Some(v) = self.visitors.get_mut(i) else {
            return PairStep::Event {
                session: i,
                index: 0,
            };
        };
        if !keep {
            client_side(self.hook, || v.events.clear());
        }
        let index = v.events.len();
        v.events.push((at, ev));
        PairStep::Event { session: i, index }
    }

    fn count_still(&mut self) {
        self.still = self.still.saturating_add(1);
    }

    fn deliver(&mut self, i: usize, flight: Flight, reply: Reply) -> Result<PairStep, PairError> {
        self.count_still();
        let info = TapInfo {
            id: flight.id,
            kind: flight.kind,
            ticket: flight.ticket,
            at: self.elapsed(),
        };
        let tapped = match self.tap.as_mut() {
            Some(tap) => tap(&info, reply),
            None => Some(reply),
        };
        let status = tapped.as_ref().and_then(Reply::status);
        // A POST whose outcome the session cannot know: no answer, or a 5xx.
        if status.is_none_or(|s| s >= 500) {
            self.unsettle(i, &flight.texts);
        }
        self.touch(i);
        let Some(reply) = tapped else {
            if self.record {
                self.replies.push(ReplyRecord {
                    at: self.elapsed(),
                    session: i,
                    id: flight.id,
                    kind: flight.kind,
                    status: None,
                    handled: None,
                });
                self.line(
                    i,
                    format!(
                        "✗ answer to [{}] lost by the reply tap (never delivered)",
                        flight.id
                    ),
                );
            }
            return Ok(PairStep::Lost {
                id: flight.id,
                kind: flight.kind,
            });
        };
        if self.record {
            let line = match &reply {
                Reply::Response(resp) => {
                    self.render.learn_secrets(flight.kind, resp.body());
                    self.render
                        .reply(flight.id, flight.kind, resp.status().as_u16(), resp.body())
                }
                Reply::Drop => format!("✗ [{}] connection closed, no answer", flight.id),
            };
            self.line(i, line);
        }
        let (hook, now) = (self.hook, self.now);
        let Some(v) = self.visitors.get_mut(i) else {
            return Ok(PairStep::Finished);
        };
        let result = client_side(hook, || match &reply {
            Reply::Response(resp) => {
                let mut r = http::Response::new(resp.body().as_slice());
                *r.status_mut() = resp.status();
                v.session.handle_response(flight.id, r, now)
            }
            Reply::Drop => v
                .session
                .handle_transport_error(flight.id, TransportError::Reset, now),
        });
        server_side(hook, || drop(reply));
        let handled = result.map_err(PairError::Input)?;
        if self.record {
            self.replies.push(ReplyRecord {
                at: self.elapsed(),
                session: i,
                id: flight.id,
                kind: flight.kind,
                status,
                handled: Some(handled),
            });
            if handled == crate::Handled::Stale {
                self.line(i, format!("  (the session ignored [{}]: stale)", flight.id));
            }
        }
        Ok(PairStep::Replied {
            id: flight.id,
            kind: flight.kind,
            status,
        })
    }

    fn unsettle(&mut self, i: usize, texts: &[String]) {
        let Some(v) = self.visitors.get_mut(i) else {
            return;
        };
        for t in texts {
            let w = v.wire_texts.entry(t.clone()).or_default();
            w.unsettled = w.unsettled.saturating_add(1);
        }
    }

    /// Closes the connections of requests session `i` no longer waits for, as a transport would.
    fn sweep(&mut self, i: usize) {
        let hook = self.hook;
        let Some(v) = self.visitors.get_mut(i) else {
            return;
        };
        if v.flights.is_empty() {
            return;
        }
        let mut gone = Vec::new();
        let session = &v.session;
        v.flights.retain(|f| {
            let live = client_side(hook, || session.in_flight().any(|(id, _)| id == f.id));
            if !live {
                gone.push(f.clone());
            }
            live
        });
        for mut f in gone {
            self.unsettle(i, &f.texts);
            if self.deliver_abandoned {
                if self.record {
                    self.line(
                        i,
                        format!("  [{}] abandoned by the session (connection kept)", f.id),
                    );
                }
                // Already counted as unsettled.
                f.texts.clear();
                if let Some(v) = self.visitors.get_mut(i) {
                    v.abandoned.push(f);
                }
                continue;
            }
            if self.record {
                self.line(
                    i,
                    format!("✗ [{}] abandoned by the session: connection closed", f.id),
                );
            }
            self.tickets.remove(&f.ticket);
            let now = self.now;
            server_side(hook, || self.server.cancel(f.ticket, now));
        }
    }

    // --------------------------------------------------------------------------------------------
    // Running
    // --------------------------------------------------------------------------------------------

    fn bounded(
        &mut self,
        limit: Option<Timestamp>,
        mut done: impl FnMut(&Pair, &PairStep) -> bool,
    ) -> Result<(), PairError> {
        for _ in 0..self.max_steps {
            match self.step_bounded(limit)? {
                None | Some(PairStep::Finished) => return Ok(()),
                Some(step) => {
                    if done(self, &step) {
                        return Ok(());
                    }
                }
            }
        }
        Err(PairError::StepLimit {
            steps: self.max_steps,
            at: self.elapsed(),
        })
    }

    /// Runs until every session has ended and every output is drained.
    pub fn run(&mut self) -> Result<(), PairError> {
        self.bounded(None, |_, _| false)
    }

    /// Runs until `done(pair)` holds after a step (checked before the first step too), or the sessions are
    /// over. Returns whether `done` held.
    pub fn run_until(&mut self, mut done: impl FnMut(&Pair) -> bool) -> Result<bool, PairError> {
        if done(self) {
            return Ok(true);
        }
        let mut met = false;
        self.bounded(None, |p, _| {
            met = done(p);
            met
        })?;
        Ok(met)
    }

    /// Runs until virtual time `elapsed` (since the start): everything due up to then happens, then the
    /// clock stands at `elapsed` with the sessions drained, ready for the next command. Returns early if
    /// the sessions end.
    pub fn run_until_elapsed(&mut self, elapsed: Duration) -> Result<(), PairError> {
        let limit = self.start.saturating_add(elapsed);
        self.bounded(Some(limit), |_, _| false)
    }

    /// Runs until the (first) session hands out an event for which `matches` holds; returns a copy of it,
    /// or `None` if the sessions ended first.
    pub fn run_until_event(
        &mut self,
        mut matches: impl FnMut(&Event) -> bool,
    ) -> Result<Option<Event>, PairError> {
        let mut found = None;
        self.bounded(None, |p, step| {
            if let PairStep::Event { session: 0, index } = step
                && let Some((_, ev)) = p.events().get(*index)
                && matches(ev)
            {
                found = Some(ev.clone());
                return true;
            }
            false
        })?;
        Ok(found)
    }
}
