//! The serialised forms of what the session gives back: [`Output`], [`OutgoingRequest`], [`Event`],
//! [`EndReason`] and the errors inside them. Borrowing views built from the real types (the session's types
//! stay as they are; this module is the one place that decides their JSON).

use super::base64;
use crate::session::{EndReason, Event, Failure, OutgoingRequest, Output, RequestKind};
use crate::wire::{
    AgentInfo, BuildError, ChasitorSessionData, DecodeError, Message, ServerError, redacted_payload,
};
use crate::{RedirectRefusal, TransportError};
use serde::Serialize;
use std::borrow::Cow;

/// `Option<Timestamp>` as whole milliseconds, rounded up (so a driver sleeping until it never wakes early).
fn ms(t: crate::Timestamp) -> u64 {
    t.as_millis_ceil()
}

/// One [`Output`]: `{"type": "request" | "event" | "wait", ...}`.
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(crate) enum OutputJson<'a> {
    /// Send this request now.
    Request(RequestJson<'a>),
    /// Hand this event to the application.
    Event { event: EventJson<'a> },
    /// Sleep until `untilMs` (then `handleTimeout`), or until an answer or a command; `null` once ended.
    Wait { until_ms: Option<u64> },
}

impl<'a> OutputJson<'a> {
    pub(crate) fn new(o: &'a Output) -> OutputJson<'a> {
        match o {
            Output::Request(r) => OutputJson::Request(RequestJson::new(r)),
            Output::Event(e) => OutputJson::Event {
                event: EventJson::new(e),
            },
            Output::Wait(t) => OutputJson::Wait {
                until_ms: t.map(ms),
            },
        }
    }
}

/// An [`OutgoingRequest`]: everything a `fetch` needs. Carries the session key and affinity token (headers,
/// and the URL of `deleteSession`): never log it raw.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestJson<'a> {
    id: u64,
    kind: RequestKindJson,
    method: &'a str,
    url: String,
    headers: Headers<'a>,
    /// The body as text; `null` when there is none (a GET).
    body: Option<&'a str>,
    /// Only for a body that is not UTF-8 (never for the session's own requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
    deadline_ms: u64,
}

impl<'a> RequestJson<'a> {
    fn new(r: &'a OutgoingRequest) -> RequestJson<'a> {
        let (head, body) = http_parts(&r.http);
        RequestJson {
            id: r.id.0,
            kind: r.kind.into(),
            method: head.method,
            url: head.url,
            headers: head.headers,
            body: body.text,
            body_base64: body.base64,
            deadline_ms: ms(r.deadline),
        }
    }
}

/// Headers as an object of lower-case names to values, sorted by name, a repeated name's values joined
/// with `, ` (as `fetch` does). Values that are text (all the session's) are borrowed.
pub(crate) struct Headers<'a>(Vec<(&'a str, Cow<'a, str>)>);

impl<'a> Headers<'a> {
    fn new(map: &'a http::HeaderMap) -> Headers<'a> {
        let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(map.len());
        for (name, value) in map {
            let value = match value.to_str() {
                Ok(v) => Cow::Borrowed(v),
                Err(_) => String::from_utf8_lossy(value.as_bytes()),
            };
            pairs.push((name.as_str(), value));
        }
        // Stable: a repeated name's values stay in the order they were added.
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        pairs.dedup_by(|later, kept| {
            if later.0 == kept.0 {
                let v = kept.1.to_mut();
                v.push_str(", ");
                v.push_str(&later.1);
                true
            } else {
                false
            }
        });
        Headers(pairs)
    }
}

impl Serialize for Headers<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v.as_ref())))
    }
}

struct Head<'a> {
    method: &'a str,
    url: String,
    headers: Headers<'a>,
}

struct Body<'a> {
    text: Option<&'a str>,
    base64: Option<String>,
}

/// Method, URL, headers and the body as text (or base64 when it is not UTF-8).
fn http_parts(req: &http::Request<Vec<u8>>) -> (Head<'_>, Body<'_>) {
    let bytes = req.body();
    let body = if bytes.is_empty() {
        Body {
            text: None,
            base64: None,
        }
    } else {
        match std::str::from_utf8(bytes) {
            Ok(t) => Body {
                text: Some(t),
                base64: None,
            },
            Err(_) => Body {
                text: None,
                base64: Some(base64::encode(bytes)),
            },
        }
    };
    (
        Head {
            method: req.method().as_str(),
            url: req.uri().to_string(),
            headers: Headers::new(req.headers()),
        },
        body,
    )
}

/// The upload POST of [`Session::upload_request`](crate::Session::upload_request): the file's bytes as
/// base64 (`bodyBase64`), since a multipart body is binary. Its URL's query holds the chat key.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UploadJson<'a> {
    method: &'a str,
    url: String,
    headers: Headers<'a>,
    body_base64: String,
}

impl<'a> UploadJson<'a> {
    pub(crate) fn new(req: &'a http::Request<Vec<u8>>) -> UploadJson<'a> {
        let (head, _) = http_parts(req);
        UploadJson {
            method: head.method,
            url: head.url,
            headers: head.headers,
            body_base64: base64::encode(req.body()),
        }
    }
}

/// [`RequestKind`] as a camelCase string.
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(crate) enum RequestKindJson {
    SessionId,
    ChasitorInit,
    Messages,
    Chat,
    ResyncState,
    ReconnectSession,
    DeleteSession,
}

impl From<RequestKind> for RequestKindJson {
    fn from(k: RequestKind) -> Self {
        match k {
            RequestKind::SessionId => RequestKindJson::SessionId,
            RequestKind::ChasitorInit => RequestKindJson::ChasitorInit,
            RequestKind::Messages => RequestKindJson::Messages,
            RequestKind::Chat => RequestKindJson::Chat,
            RequestKind::ResyncState => RequestKindJson::ResyncState,
            RequestKind::ReconnectSession => RequestKindJson::ReconnectSession,
            RequestKind::DeleteSession => RequestKindJson::DeleteSession,
        }
    }
}

/// [`RedirectRefusal`] as a camelCase string.
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(crate) enum RefusalJson {
    Disabled,
    NotHttps,
    LeavesLoopback,
    ForeignHost,
    NonDefaultPort,
}

impl From<RedirectRefusal> for RefusalJson {
    fn from(r: RedirectRefusal) -> Self {
        match r {
            RedirectRefusal::Disabled => RefusalJson::Disabled,
            RedirectRefusal::NotHttps => RefusalJson::NotHttps,
            RedirectRefusal::LeavesLoopback => RefusalJson::LeavesLoopback,
            RedirectRefusal::ForeignHost => RefusalJson::ForeignHost,
            RedirectRefusal::NonDefaultPort => RefusalJson::NonDefaultPort,
        }
    }
}

/// [`TransportError`] as a camelCase string (also what `handleTransportError` takes).
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(crate) enum TransportJson {
    Timeout,
    ConnectRefused,
    Reset,
    Other,
}

impl From<TransportError> for TransportJson {
    fn from(t: TransportError) -> Self {
        match t {
            TransportError::Timeout => TransportJson::Timeout,
            TransportError::ConnectRefused => TransportJson::ConnectRefused,
            TransportError::Reset => TransportJson::Reset,
            TransportError::Other => TransportJson::Other,
        }
    }
}

/// Parses the transport error names of [`TransportJson`].
pub(crate) fn transport_error(name: &str) -> Option<TransportError> {
    Some(match name {
        "timeout" => TransportError::Timeout,
        "connectRefused" => TransportError::ConnectRefused,
        "reset" => TransportError::Reset,
        "other" => TransportError::Other,
        _ => return None,
    })
}

/// One [`Event`]. Server payloads (agent info, session data, other messages) keep the protocol's own field
/// names, which are camelCase too.
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(crate) enum EventJson<'a> {
    ChatRequested,
    Queued {
        position: Option<i64>,
        estimated_wait_secs: Option<f64>,
    },
    QueueUpdate {
        position: Option<i64>,
        estimated_wait_secs: Option<f64>,
    },
    ChatEstablished {
        agent: &'a AgentInfo,
    },
    ChatTransferred {
        agent: &'a AgentInfo,
    },
    AgentDisconnected,
    AgentMessage {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        schedule: Option<&'a crate::wire::Schedule>,
    },
    AgentTyping {
        typing: bool,
    },
    SessionRestored {
        data: &'a ChasitorSessionData,
    },
    ServerSwitched {
        endpoint: String,
    },
    SwitchOffered {
        offer: u64,
        endpoint: String,
        reason: RefusalJson,
        decide_by_ms: u64,
    },
    SequenceReset {
        previous: i64,
        sequence: i64,
    },
    Delivered {
        commands: Vec<u64>,
    },
    DeliveryUncertain {
        commands: Vec<u64>,
    },
    Undelivered {
        commands: Vec<u64>,
    },
    IdleWarning {
        ends_at_ms: u64,
    },
    IdleWarningCleared,
    Retrying {
        request: RequestKindJson,
        attempt: u32,
        at_ms: u64,
        cause: FailureJson<'a>,
    },
    Message(MessageJson<'a>),
    Ended {
        reason: EndReasonJson<'a>,
    },
}

fn ids(ids: &[crate::CommandId]) -> Vec<u64> {
    ids.iter().map(|c| c.0).collect()
}

impl<'a> EventJson<'a> {
    pub(crate) fn new(e: &'a Event) -> EventJson<'a> {
        match e {
            Event::ChatRequested => EventJson::ChatRequested,
            Event::Queued {
                position,
                estimated_wait_secs,
            } => EventJson::Queued {
                position: *position,
                estimated_wait_secs: *estimated_wait_secs,
            },
            Event::QueueUpdate {
                position,
                estimated_wait_secs,
            } => EventJson::QueueUpdate {
                position: *position,
                estimated_wait_secs: *estimated_wait_secs,
            },
            Event::ChatEstablished(agent) => EventJson::ChatEstablished { agent },
            Event::ChatTransferred(agent) => EventJson::ChatTransferred { agent },
            Event::AgentDisconnected => EventJson::AgentDisconnected,
            Event::AgentMessage(m) => EventJson::AgentMessage {
                text: &m.text,
                name: m.name.as_deref(),
                agent_id: m.agent_id.as_deref(),
                schedule: m.schedule.as_ref(),
            },
            Event::AgentTyping(typing) => EventJson::AgentTyping { typing: *typing },
            Event::SessionRestored(data) => EventJson::SessionRestored { data },
            Event::ServerSwitched(endpoint) => EventJson::ServerSwitched {
                endpoint: endpoint.to_string(),
            },
            Event::SwitchOffered {
                offer,
                endpoint,
                reason,
                decide_by,
            } => EventJson::SwitchOffered {
                offer: offer.0,
                endpoint: endpoint.to_string(),
                reason: (*reason).into(),
                decide_by_ms: ms(*decide_by),
            },
            Event::SequenceReset { previous, sequence } => EventJson::SequenceReset {
                previous: *previous,
                sequence: *sequence,
            },
            Event::Delivered(c) => EventJson::Delivered { commands: ids(c) },
            Event::DeliveryUncertain(c) => EventJson::DeliveryUncertain { commands: ids(c) },
            Event::Undelivered(c) => EventJson::Undelivered { commands: ids(c) },
            Event::IdleWarning { ends_at } => EventJson::IdleWarning {
                ends_at_ms: ms(*ends_at),
            },
            Event::IdleWarningCleared => EventJson::IdleWarningCleared,
            Event::Retrying {
                request,
                attempt,
                at,
                cause,
            } => EventJson::Retrying {
                request: (*request).into(),
                attempt: *attempt,
                at_ms: ms(*at),
                cause: FailureJson::new(cause),
            },
            Event::Message(m) => EventJson::Message(MessageJson::new(m)),
            Event::Ended(reason) => EventJson::Ended {
                reason: EndReasonJson::new(reason),
            },
        }
    }
}

/// Any other server message: `messageType` is the protocol's `type`, `payload` its `message` (with the
/// values of `affinityToken`, `key` and `sessionKey` fields replaced, at any depth: an event is meant for
/// logs). `error` says why a known type did not decode.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageJson<'a> {
    message_type: &'a str,
    payload: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl<'a> MessageJson<'a> {
    fn new(m: &'a Message) -> MessageJson<'a> {
        let error = match m {
            Message::Invalid { error, .. } => Some(error.as_str()),
            _ => None,
        };
        MessageJson {
            message_type: m.kind(),
            payload: redacted_payload(&m.payload_json()),
            error,
        }
    }
}

/// [`Failure`]: why a request failed. `message` is its log-safe text.
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(crate) enum FailureJson<'a> {
    Transport {
        error: TransportJson,
        message: String,
    },
    NoAnswer {
        message: String,
    },
    Server {
        error: ServerErrorJson<'a>,
        message: String,
    },
    Decode {
        error: DecodeErrorJson<'a>,
        message: String,
    },
}

impl<'a> FailureJson<'a> {
    fn new(f: &'a Failure) -> FailureJson<'a> {
        let message = f.to_string();
        match f {
            Failure::Transport(e) => FailureJson::Transport {
                error: (*e).into(),
                message,
            },
            Failure::NoAnswer => FailureJson::NoAnswer { message },
            Failure::Server(e) => FailureJson::Server {
                error: ServerErrorJson::new(e),
                message,
            },
            Failure::Decode(e) => FailureJson::Decode {
                error: DecodeErrorJson::new(e),
                message,
            },
        }
    }
}

/// [`ServerError`]: the server's error answer (its text escaped, bounded and without the session's secrets).
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(crate) enum ServerErrorJson<'a> {
    OutOfSync { expected: i64, actual: i64 },
    Status { status: u16, text: &'a str },
}

impl<'a> ServerErrorJson<'a> {
    fn new(e: &'a ServerError) -> ServerErrorJson<'a> {
        match e {
            ServerError::OutOfSync { expected, actual } => ServerErrorJson::OutOfSync {
                expected: *expected,
                actual: *actual,
            },
            ServerError::Status { status, text } => ServerErrorJson::Status {
                status: *status,
                text,
            },
        }
    }
}

/// [`DecodeError`]: an answer that did not decode.
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(crate) enum DecodeErrorJson<'a> {
    TooLarge {
        what: &'a str,
        len: usize,
        limit: usize,
    },
    TooManyMessages {
        what: &'a str,
        len: usize,
        limit: usize,
    },
    EventsTooLarge {
        what: &'a str,
        bytes: usize,
        limit: usize,
    },
    UnexpectedStatus {
        what: &'a str,
        status: u16,
        snippet: &'a str,
    },
    Json {
        what: &'a str,
        status: u16,
        line: usize,
        column: usize,
        reason: &'a str,
        snippet: &'a str,
    },
    Invalid {
        what: &'a str,
        reason: &'a str,
    },
}

impl<'a> DecodeErrorJson<'a> {
    fn new(e: &'a DecodeError) -> DecodeErrorJson<'a> {
        match e {
            DecodeError::TooLarge { what, len, limit } => DecodeErrorJson::TooLarge {
                what,
                len: *len,
                limit: *limit,
            },
            DecodeError::TooManyMessages { what, len, limit } => DecodeErrorJson::TooManyMessages {
                what,
                len: *len,
                limit: *limit,
            },
            DecodeError::EventsTooLarge { what, bytes, limit } => DecodeErrorJson::EventsTooLarge {
                what,
                bytes: *bytes,
                limit: *limit,
            },
            DecodeError::UnexpectedStatus {
                what,
                status,
                snippet,
            } => DecodeErrorJson::UnexpectedStatus {
                what,
                status: *status,
                snippet,
            },
            DecodeError::Json {
                what,
                status,
                line,
                column,
                reason,
                snippet,
            } => DecodeErrorJson::Json {
                what,
                status: *status,
                line: *line,
                column: *column,
                reason,
                snippet,
            },
            DecodeError::Invalid { what, reason } => DecodeErrorJson::Invalid { what, reason },
        }
    }
}

/// [`BuildError`]: a request that could not be built.
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(crate) enum BuildErrorJson<'a> {
    InvalidEndpoint { reason: &'a str },
    InvalidHeader { header: &'a str },
    InvalidUri { resource: &'a str },
    Body { reason: &'a str },
}

impl<'a> BuildErrorJson<'a> {
    fn new(e: &'a BuildError) -> BuildErrorJson<'a> {
        match e {
            BuildError::InvalidEndpoint { reason } => BuildErrorJson::InvalidEndpoint { reason },
            BuildError::InvalidHeader { header } => BuildErrorJson::InvalidHeader { header },
            BuildError::InvalidUri { resource } => BuildErrorJson::InvalidUri { resource },
            BuildError::Body { reason } => BuildErrorJson::Body { reason },
        }
    }
}

/// [`EndReason`], with `normal` ([`EndReason::is_normal`]) and `message` (its log-safe text) on every
/// variant.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndReasonJson<'a> {
    #[serde(flatten)]
    kind: EndKindJson<'a>,
    normal: bool,
    message: String,
}

#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum EndKindJson<'a> {
    VisitorEnded {
        attached_records: Option<&'a serde_json::Value>,
    },
    AgentEnded {
        reason: Option<&'a str>,
        attached_records: Option<&'a serde_json::Value>,
    },
    RequestFailed {
        reason: Option<&'a str>,
    },
    IdleTimeout,
    SessionInvalid {
        request: RequestKindJson,
        error: ServerErrorJson<'a>,
    },
    Conflict {
        request: RequestKindJson,
        error: ServerErrorJson<'a>,
    },
    Rejected {
        request: RequestKindJson,
        error: ServerErrorJson<'a>,
    },
    GaveUp {
        request: RequestKindJson,
        attempts: u32,
        last: FailureJson<'a>,
    },
    RedirectRefused {
        target: String,
        reason: RefusalJson,
    },
    SwitchUndecided {
        target: String,
        reason: RefusalJson,
    },
    BadSequence {
        previous: Option<i64>,
        sequence: i64,
    },
    CounterExhausted {
        counter: &'a str,
    },
    Protocol {
        request: RequestKindJson,
        error: BuildErrorJson<'a>,
    },
    MissingCredentials {
        request: RequestKindJson,
    },
}

impl<'a> EndReasonJson<'a> {
    pub(crate) fn new(r: &'a EndReason) -> EndReasonJson<'a> {
        let kind = match r {
            EndReason::VisitorEnded { attached_records } => EndKindJson::VisitorEnded {
                attached_records: attached_records.as_ref(),
            },
            EndReason::AgentEnded {
                reason,
                attached_records,
            } => EndKindJson::AgentEnded {
                reason: reason.as_ref().map(|r| r.as_str()),
                attached_records: attached_records.as_ref(),
            },
            EndReason::RequestFailed { reason } => EndKindJson::RequestFailed {
                reason: reason.as_deref(),
            },
            EndReason::IdleTimeout => EndKindJson::IdleTimeout,
            EndReason::SessionInvalid { request, error } => EndKindJson::SessionInvalid {
                request: (*request).into(),
                error: ServerErrorJson::new(error),
            },
            EndReason::Conflict { request, error } => EndKindJson::Conflict {
                request: (*request).into(),
                error: ServerErrorJson::new(error),
            },
            EndReason::Rejected { request, error } => EndKindJson::Rejected {
                request: (*request).into(),
                error: ServerErrorJson::new(error),
            },
            EndReason::GaveUp {
                request,
                attempts,
                last,
            } => EndKindJson::GaveUp {
                request: (*request).into(),
                attempts: *attempts,
                last: FailureJson::new(last),
            },
            EndReason::RedirectRefused { target, reason } => EndKindJson::RedirectRefused {
                target: target.to_string(),
                reason: (*reason).into(),
            },
            EndReason::SwitchUndecided { target, reason } => EndKindJson::SwitchUndecided {
                target: target.to_string(),
                reason: (*reason).into(),
            },
            EndReason::BadSequence { previous, sequence } => EndKindJson::BadSequence {
                previous: *previous,
                sequence: *sequence,
            },
            EndReason::CounterExhausted { counter } => EndKindJson::CounterExhausted { counter },
            EndReason::Protocol { request, error } => EndKindJson::Protocol {
                request: (*request).into(),
                error: BuildErrorJson::new(error),
            },
            EndReason::MissingCredentials { request } => EndKindJson::MissingCredentials {
                request: (*request).into(),
            },
        };
        EndReasonJson {
            kind,
            normal: r.is_normal(),
            message: r.to_string(),
        }
    }
}

/// The `type` an [`Event`] has in its JSON form.
#[cfg(feature = "sim")]
pub(crate) fn event_type(e: &Event) -> &'static str {
    match e {
        Event::ChatRequested => "chatRequested",
        Event::Queued { .. } => "queued",
        Event::QueueUpdate { .. } => "queueUpdate",
        Event::ChatEstablished(_) => "chatEstablished",
        Event::ChatTransferred(_) => "chatTransferred",
        Event::AgentDisconnected => "agentDisconnected",
        Event::AgentMessage(_) => "agentMessage",
        Event::AgentTyping(_) => "agentTyping",
        Event::SessionRestored(_) => "sessionRestored",
        Event::ServerSwitched(_) => "serverSwitched",
        Event::SwitchOffered { .. } => "switchOffered",
        Event::SequenceReset { .. } => "sequenceReset",
        Event::Delivered(_) => "delivered",
        Event::DeliveryUncertain(_) => "deliveryUncertain",
        Event::Undelivered(_) => "undelivered",
        Event::IdleWarning { .. } => "idleWarning",
        Event::IdleWarningCleared => "idleWarningCleared",
        Event::Retrying { .. } => "retrying",
        Event::Message(_) => "message",
        Event::Ended(_) => "ended",
    }
}
