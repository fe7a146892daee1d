//! The simulator behind a real HTTP/1.1 server: one tokio task owns the sans-IO `liveagent::sim::Server`;
//! connection handlers pass it requests and wait for its replies.
//!
//! Two listeners: the primary host and the alternate host a `SwitchServer` moves sessions to (same IP,
//! another port). Real clients send whatever `Host` they were configured with (`localhost:8080`,
//! `127.0.0.1:8080`, a name in `/etc/hosts`) and some send absolute-form request targets
//! (`GET http://host/chat/rest/...`). The simulator decides "primary or alternate" from the authority, so
//! the front end rewrites every request to what the listener it arrived on stands for: an origin-form URI
//! (path and query) and `Host` = the simulator's `host` or `alternate_host`.

// Shared by several examples and tests (a module of each); each uses part of it.
#![allow(dead_code)]

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use liveagent::sim::{AgentAction, Reply, Server, SimConfig, Ticket};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use liveagent::Clock;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Request bodies above this are answered 413 without reaching the simulator (real nouns are tiny).
const MAX_BODY: usize = 1 << 20;

// Moved once through a channel; boxing the request would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum ToSim {
    Request(http::Request<Vec<u8>>, oneshot::Sender<Reply>),
    Closed(Ticket),
    Stop(oneshot::Sender<Server>),
}

/// Chat ids the server knows. `None` accepts any id (the default). A ChasitorInit naming another org,
/// deployment or button is accepted like any other and then declined at once with `ChatRequestFail
/// {reason: "Unavailable"}` (what a visitor of a button with no agent gets), and a line on stderr says why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedIds {
    /// `organizationId`.
    pub org_id: Option<String>,
    /// `deploymentId`.
    pub deployment_id: Option<String>,
    /// `buttonId`.
    pub button_id: Option<String>,
}

impl ExpectedIds {
    /// The session id of a ChasitorInit that names ids other than these, and what was wrong.
    fn refused(&self, req: &http::Request<Vec<u8>>) -> Option<(String, String)> {
        if req.method() != http::Method::POST
            || !req.uri().path().ends_with("/Chasitor/ChasitorInit")
        {
            return None;
        }
        let body: serde_json::Value = serde_json::from_slice(req.body()).ok()?;
        let mut wrong = Vec::new();
        for (field, expected) in [
            ("organizationId", &self.org_id),
            ("deploymentId", &self.deployment_id),
            ("buttonId", &self.button_id),
        ] {
            let given = body.get(field).and_then(|v| v.as_str()).unwrap_or_default();
            if let Some(expected) = expected.as_deref().filter(|e| *e != given) {
                wrong.push(format!("{field} {given:?} (expected {expected:?})"));
            }
        }
        let session_id = body.get("sessionId")?.as_str()?.to_owned();
        (!wrong.is_empty()).then(|| (session_id, wrong.join(", ")))
    }
}

/// How the front end behaves besides serving.
#[derive(Debug, Clone, Default)]
pub struct FrontEnd {
    /// Decline chats for other ids.
    pub expected_ids: ExpectedIds,
    /// Print each transcript line to stderr as it is recorded.
    pub live_transcript: bool,
}

/// A running simulator. Stop it to get the `Server` back (transcript, per-session records).
pub struct SimHttp {
    /// Where it listens (the primary host).
    pub addr: SocketAddr,
    /// The alternate host's listener (where a SwitchServer sends sessions).
    pub alternate_addr: SocketAddr,
    tx: mpsc::UnboundedSender<ToSim>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHttp {
    /// Starts the server on 127.0.0.1 (ephemeral ports). See [`SimHttp::start_on`].
    pub fn start(config: SimConfig) -> std::io::Result<SimHttp> {
        SimHttp::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Starts the server on `listen` (port 0 picks a free port) and the alternate host on the same IP and a
    /// free port, on its own thread and runtime, so blocking and async clients can both use it.
    /// `config.scheme` becomes `http`, `config.host` and `config.alternate_host` the bound addresses (an
    /// unspecified IP such as 0.0.0.0 is advertised as 127.0.0.1).
    pub fn start_on(config: SimConfig, listen: SocketAddr) -> std::io::Result<SimHttp> {
        SimHttp::start_with(config, listen, FrontEnd::default())
    }

    /// [`SimHttp::start_on`] with front-end options.
    pub fn start_with(
        mut config: SimConfig,
        listen: SocketAddr,
        front: FrontEnd,
    ) -> std::io::Result<SimHttp> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        // Bound with a listen backlog of 4096 (std's is 128): a load test opening thousands of chats at
        // once would otherwise see SYNs dropped and one-second connect retries.
        let (primary, alternate) = {
            let _in_runtime = runtime.enter();
            (bind(listen)?, bind(SocketAddr::new(listen.ip(), 0))?)
        };
        let (addr, alternate_addr) = (primary.local_addr()?, alternate.local_addr()?);
        config.scheme = "http".into();
        config.host = advertised(addr);
        config.alternate_host = advertised(alternate_addr);
        let hosts = [config.host.clone(), config.alternate_host.clone()];
        let (tx, rx) = mpsc::unbounded_channel();
        let tx2 = tx.clone();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                for (l, host) in [primary, alternate].into_iter().zip(hosts) {
                    tokio::spawn(accept_loop(l, Arc::from(host), tx2.clone()));
                }
                let clock = Clock::new(Instant::now());
                own_sim(
                    Server::new(config, clock.at(Instant::now())),
                    clock,
                    front,
                    rx,
                )
                .await;
            });
        });
        Ok(SimHttp {
            addr,
            alternate_addr,
            tx,
            thread: Some(thread),
        })
    }

    /// The endpoint URL clients should use.
    pub fn url(&self) -> String {
        format!("http://{}", advertised(self.addr))
    }

    /// The alternate host's URL (the `newUrl` of a SwitchServer away from the primary).
    pub fn alternate_url(&self) -> String {
        format!("http://{}", advertised(self.alternate_addr))
    }

    /// Stops serving and returns the simulator with everything it recorded. Connections still open are
    /// closed (a held poll gets no answer).
    pub fn stop(mut self) -> Option<Server> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(ToSim::Stop(tx)).ok()?;
        let server = rx.blocking_recv().ok();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        server
    }
}

/// `ip:port` as clients should write it; an unspecified IP (listening on every interface) as 127.0.0.1.
fn advertised(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        if addr.is_ipv4() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        }
    } else {
        addr.ip()
    };
    SocketAddr::new(ip, addr.port()).to_string()
}

/// The request as the simulator should see it: origin-form URI and `Host` = the listener's host.
fn normalise(mut parts: http::request::Parts, host: &str) -> http::request::Parts {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if let Ok(uri) = path.parse() {
        parts.uri = uri;
    }
    if let Ok(value) = http::HeaderValue::from_str(host) {
        parts.headers.insert(http::header::HOST, value);
    }
    parts
}

fn plain(status: u16, text: &str) -> http::Response<Full<Bytes>> {
    let mut r = http::Response::new(Full::new(Bytes::from(text.to_owned())));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    r
}

/// A listener on `addr` with a backlog of 4096.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

async fn accept_loop(listener: TcpListener, host: Arc<str>, tx: mpsc::UnboundedSender<ToSim>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: do not spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let tx = tx.clone();
        let host = host.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<Incoming>| {
                let tx = tx.clone();
                let host = host.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = match Limited::new(body, MAX_BODY).collect().await {
                        Ok(b) => b.to_bytes().to_vec(),
                        Err(_) => return Ok(plain(413, "Request body too large or unreadable")),
                    };
                    let parts = normalise(parts, &host);
                    let (reply_tx, reply_rx) = oneshot::channel();
                    let _ = tx.send(ToSim::Request(
                        http::Request::from_parts(parts, body),
                        reply_tx,
                    ));
                    match reply_rx.await {
                        Ok(Reply::Response(resp)) => Ok(resp.map(|b| Full::new(Bytes::from(b)))),
                        // A dropped reply closes the connection without an answer.
                        _ => Err(std::io::Error::other("reply dropped")),
                    }
                }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn own_sim(
    mut sim: Server,
    clock: Clock,
    front: FrontEnd,
    mut rx: mpsc::UnboundedReceiver<ToSim>,
) {
    let now = || clock.at(Instant::now());
    let mut printed = 0;
    let mut waiting: HashMap<Ticket, oneshot::Sender<Reply>> = HashMap::new();
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel::<Ticket>();
    loop {
        while let Some((ticket, reply)) = sim.poll_reply(now()) {
            if let Some(tx) = waiting.remove(&ticket) {
                let _ = tx.send(reply);
            }
        }
        if front.live_transcript {
            for line in sim.transcript().get(printed..).unwrap_or_default() {
                eprintln!("{line}");
            }
            printed = sim.transcript().len();
        }
        let sleep = sim
            .poll_timeout()
            .map(|t| clock.instant(t).max(Instant::now()));
        let msg = tokio::select! {
            m = rx.recv() => m,
            Some(t) = closed_rx.recv() => Some(ToSim::Closed(t)),
            _ = async { match sleep { Some(t) => tokio::time::sleep_until(t.into()).await, None => std::future::pending().await } } => {
                sim.handle_timeout(now());
                continue;
            }
        };
        match msg {
            Some(ToSim::Request(req, reply_tx)) => {
                let ticket = sim.handle_request(&req, now());
                if let Some((session_id, wrong)) = front.expected_ids.refused(&req) {
                    let reason = "Unavailable".to_owned();
                    if sim.agent_act(&session_id, AgentAction::Decline { reason }, now()) {
                        eprintln!("sim_http: declined the chat of ChasitorInit {ticket}: {wrong}");
                    }
                }
                // When the client gives up (its connection closes), release what the sim holds for it.
                let closed = closed_tx.clone();
                let mut watch = reply_tx;
                if watch.is_closed() {
                    let _ = closed.send(ticket);
                    continue;
                }
                let (fwd_tx, fwd_rx) = oneshot::channel::<Reply>();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = watch.closed() => { let _ = closed.send(ticket); }
                        r = fwd_rx => { if let Ok(r) = r { let _ = watch.send(r); } }
                    }
                });
                waiting.insert(ticket, fwd_tx);
            }
            Some(ToSim::Closed(ticket)) => {
                if waiting.remove(&ticket).is_some() {
                    sim.cancel(ticket, now());
                }
            }
            Some(ToSim::Stop(tx)) => {
                let _ = tx.send(sim);
                return;
            }
            None => return,
        }
    }
}
