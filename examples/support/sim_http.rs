//! The simulator behind a real HTTP/1.1 server on 127.0.0.1 (an ephemeral port): one tokio task owns the
//! sans-IO `liveagent::sim::Server`; connection handlers pass it requests and wait for its replies.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use liveagent::sim::{Reply, Server, SimConfig, Ticket};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

// Moved once through a channel; boxing the request would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum ToSim {
    Request(http::Request<Vec<u8>>, oneshot::Sender<Reply>),
    Closed(Ticket),
    Stop(oneshot::Sender<Server>),
}

/// A running simulator. Stop it to get the `Server` back (transcript, per-session records).
pub struct SimHttp {
    /// Where it listens.
    pub addr: SocketAddr,
    tx: mpsc::UnboundedSender<ToSim>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHttp {
    /// Starts the server on its own thread and runtime, so blocking and async clients can both use it.
    /// `config.host` is replaced by the bound address (and `alternate_host` by `localhost:<port>`).
    pub fn start(mut config: SimConfig) -> std::io::Result<SimHttp> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        config.scheme = "http".into();
        config.host = addr.to_string();
        config.alternate_host = format!("localhost:{}", addr.port());
        let (tx, rx) = mpsc::unbounded_channel();
        let tx2 = tx.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("listener");
                tokio::spawn(accept_loop(listener, tx2));
                own_sim(Server::new(config, Instant::now()), rx).await;
            });
        });
        Ok(SimHttp {
            addr,
            tx,
            thread: Some(thread),
        })
    }

    /// The endpoint URL clients should use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and returns the simulator with everything it recorded.
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

async fn accept_loop(listener: TcpListener, tx: mpsc::UnboundedSender<ToSim>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<Incoming>| {
                let tx = tx.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = match body.collect().await {
                        Ok(b) => b.to_bytes().to_vec(),
                        Err(e) => return Err(std::io::Error::other(e)),
                    };
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

async fn own_sim(mut sim: Server, mut rx: mpsc::UnboundedReceiver<ToSim>) {
    let mut waiting: HashMap<Ticket, oneshot::Sender<Reply>> = HashMap::new();
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel::<Ticket>();
    loop {
        while let Some((ticket, reply)) = sim.poll_reply(Instant::now()) {
            if let Some(tx) = waiting.remove(&ticket) {
                let _ = tx.send(reply);
            }
        }
        let sleep = sim.poll_timeout().map(|t| t.max(Instant::now()));
        let msg = tokio::select! {
            m = rx.recv() => m,
            Some(t) = closed_rx.recv() => Some(ToSim::Closed(t)),
            _ = async { match sleep { Some(t) => tokio::time::sleep_until(t.into()).await, None => std::future::pending().await } } => {
                sim.handle_timeout(Instant::now());
                continue;
            }
        };
        match msg {
            Some(ToSim::Request(req, reply_tx)) => {
                let ticket = sim.handle_request(&req, Instant::now());
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
                    sim.cancel(ticket, Instant::now());
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
