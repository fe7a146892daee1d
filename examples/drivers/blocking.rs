//! A blocking driver: `ureq` on one short-lived thread per request, so the long poll and a POST can be in
//! flight together, and `std::sync::mpsc` to wake the loop. No async runtime.

use liveagent::{
    Clock, Event, OutgoingRequest, Output, RequestId, Session, Timestamp, TransportError,
};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// What wakes the drive loop besides a timer.
pub enum Wake<C> {
    /// The outcome of a request: the answer, or what went wrong in the transport.
    Answer(RequestId, Result<http::Response<Vec<u8>>, TransportError>),
    /// Something from the application (a line typed, a message to send).
    App(C),
}

/// What the application's callback receives. Moved once per event, never stored: boxing the event would
/// only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Input<C> {
    /// An event from the session.
    Event(Event),
    /// A value the application sent through [`BlockingDriver::sender`].
    App(C),
}

/// Drives one [`Session`] over real HTTP with blocking I/O.
pub struct BlockingDriver<C> {
    agent: ureq::Agent,
    tx: mpsc::Sender<Wake<C>>,
    rx: mpsc::Receiver<Wake<C>>,
    clock: Clock,
}

impl<C: Send + 'static> BlockingDriver<C> {
    /// A driver whose HTTP client hands every status back (the session interprets 4xx/5xx) and never
    /// follows redirects.
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let (tx, rx) = mpsc::channel();
        let clock = Clock::new(Instant::now());
        BlockingDriver {
            agent,
            tx,
            rx,
            clock,
        }
    }

    /// The time now on the driver's clock: create the session with it.
    pub fn now(&self) -> Timestamp {
        self.clock.at(Instant::now())
    }

    /// A handle to wake the loop with application input (e.g. from a stdin thread).
    pub fn sender(&self) -> mpsc::Sender<Wake<C>> {
        self.tx.clone()
    }

    /// Runs the session until it ends, handing each event and application input to `on`.
    pub fn run(&mut self, session: &mut Session, mut on: impl FnMut(&mut Session, Input<C>)) {
        loop {
            match session.poll_output(self.now()) {
                Output::Request(req) => self.spawn(req),
                Output::Event(ev) => on(session, Input::Event(ev)),
                Output::Wait(None) => return,
                Output::Wait(Some(deadline)) => {
                    // At least 1 ms, so a deadline that is already due cannot make us spin.
                    let wait = self
                        .clock
                        .instant(deadline)
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1));
                    match self.rx.recv_timeout(wait) {
                        Ok(Wake::Answer(id, Ok(resp))) => {
                            let _ = session.handle_response(id, resp, self.now());
                        }
                        Ok(Wake::Answer(id, Err(e))) => {
                            let _ = session.handle_transport_error(id, e, self.now());
                        }
                        Ok(Wake::App(c)) => on(session, Input::App(c)),
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                            session.handle_timeout(self.now())
                        }
                    }
                }
            }
        }
    }

    fn spawn(&self, req: OutgoingRequest) {
        let (agent, tx) = (self.agent.clone(), self.tx.clone());
        // The transport gives up at the request's deadline; the session would count it failed then anyway.
        let timeout = self
            .clock
            .instant(req.deadline)
            .saturating_duration_since(Instant::now());
        std::thread::spawn(move || {
            let http = agent
                .configure_request(req.http)
                .timeout_global(Some(timeout))
                .build();
            let answer = agent.run(http).and_then(|mut resp| {
                let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec()?;
                Ok(resp.map(|_| body))
            });
            let answer = answer.map_err(|e| transport_error(&e));
            let _ = tx.send(Wake::Answer(req.id, answer));
        });
    }
}

/// What kind of transport failure a `ureq` error is (the session only needs the kind, never the text).
pub fn transport_error(e: &ureq::Error) -> TransportError {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => TransportError::ConnectRefused,
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => TransportError::Timeout,
            ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable => {
                TransportError::ConnectRefused
            }
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => TransportError::Reset,
            _ => TransportError::Other,
        },
        _ => TransportError::Other,
    }
}
