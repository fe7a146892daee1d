//! An async driver: tokio + hyper. The long poll and the POSTs run as concurrent tasks; each honours its
//! request's deadline; redirects are never followed (hyper's client does not follow them).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use liveagent::{Clock, Event, OutgoingRequest, Output, RequestId, Session, TransportError};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// What the application's callback receives. Moved once per event, never stored: boxing the event would
/// only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Input<C> {
    /// An event from the session.
    Event(Event),
    /// A value the application sent on its channel.
    App(C),
}

type Answer = (RequestId, Result<http::Response<Vec<u8>>, TransportError>);

/// A plain-HTTP client (loopback and the simulator; put a TLS connector here for real orgs).
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Runs the session until it ends, handing each event and each value from `app` to `on`.
/// `clock` is the one the session was created on (`Session::new(config, clock.at(Instant::now()))`).
pub async fn run<C>(
    client: &Client<HttpConnector, Full<Bytes>>,
    clock: Clock,
    session: &mut Session,
    mut app: mpsc::Receiver<C>,
    mut on: impl FnMut(&mut Session, Input<C>),
) {
    let mut in_flight: JoinSet<Answer> = JoinSet::new();
    let now = || clock.at(Instant::now());
    loop {
        let deadline = loop {
            match session.poll_output(now()) {
                Output::Request(req) => {
                    in_flight.spawn(send(client.clone(), clock, req));
                }
                Output::Event(ev) => on(session, Input::Event(ev)),
                Output::Wait(deadline) => break deadline,
            }
        };
        let Some(deadline) = deadline else { return }; // ended; dropping the JoinSet aborts stragglers
        let deadline = clock.instant(deadline);
        if Instant::now() >= deadline {
            // Checked before select!: a due timer must fire even if tokio's budget delays the sleep.
            session.handle_timeout(now());
            continue;
        }
        tokio::select! {
            Some(Ok((id, answer))) = in_flight.join_next() => {
                let _ = match answer {
                    Ok(resp) => session.handle_response(id, resp, now()),
                    Err(e) => session.handle_transport_error(id, e, now()),
                };
            }
            Some(c) = app.recv() => on(session, Input::App(c)),
            _ = tokio::time::sleep_until(deadline.into()) => session.handle_timeout(now()),
        }
    }
}

async fn send(
    client: Client<HttpConnector, Full<Bytes>>,
    clock: Clock,
    req: OutgoingRequest,
) -> Answer {
    let OutgoingRequest {
        id, http, deadline, ..
    } = req;
    let call = async move {
        let resp = client.request(http.map(Full::from)).await.map_err(|e| {
            if e.is_connect() {
                TransportError::ConnectRefused
            } else {
                TransportError::Reset
            }
        })?;
        let (parts, body) = resp.into_parts();
        // The answer started but its body broke off.
        let bytes = body.collect().await.map_err(|_| TransportError::Reset)?;
        Ok(http::Response::from_parts(parts, bytes.to_bytes().to_vec()))
    };
    let answer = tokio::time::timeout_at(clock.instant(deadline).into(), call)
        .await
        .unwrap_or(Err(TransportError::Timeout));
    (id, answer)
}
