//! The versioned JSON boundary: the session (and, with feature `sim`, the simulator) driven entirely through
//! JSON text, numbers and bytes, for bindings in other languages (the JavaScript/WebAssembly and Python
//! packages wrap [`JsonSession`] rather than each deciding a serialised form, so validation lives here once).
//!
//! The schema, every type and which fields carry secrets are described in `docs/boundary.md` in the
//! repository; the JSON of every variant is pinned by snapshot tests (`tests/boundary_schema.rs`).
//!
//! * **One convention.** Objects are internally tagged (`"type": "agentMessage"`), field and tag names are
//!   camelCase; payloads from the server (agent info, session data, other messages) keep the protocol's own
//!   names, which are camelCase too. Times are milliseconds on the driver's clock as JSON numbers (fields
//!   ending in `Ms`); deadlines are rounded up to the next whole millisecond.
//! * **Versioned.** [`SCHEMA_VERSION`] counts incompatible changes of this form; the configuration may say
//!   which version it was written for (`"version"`), and a newer one is refused. Fields may be added to
//!   output within a version: readers ignore fields they do not know.
//! * **Secrets.** Only two things carry the session key and affinity token: an output of type `request` (its
//!   `headers` `x-liveagent-session-key` and `x-liveagent-affinity`, and the `url` of a `deleteSession`
//!   request, whose last path segment is the key) and the snapshot. Both must carry them to be usable; treat
//!   them like a password. Events, end reasons and errors carry neither (they are meant for logs).
//! * **Never a panic.** Malformed JSON, a time that is not one (NaN, negative, infinite, beyond
//!   [`MAX_TIME_MS`]), an unknown request id, text that is not UTF-8, a command after the end: each is a
//!   [`BoundaryError`] with a stable [`ErrorCode`], and the session is unchanged.

mod base64;
mod config;
mod input;
mod out;
#[cfg(feature = "sim")]
mod pair;
mod values;

#[cfg(feature = "sim")]
pub use pair::JsonPair;
pub use values::{OutputValue, StatusValue, config_from_value, output_value};

use crate::session::{
    CommandError, Handled, InputError, ResumeError, Session, SessionSnapshot, SwitchOfferId,
};
use crate::wire::{FileTransfer, RichAction, TriggeredRule};
use crate::{Config, Output, RequestId, State, Timestamp};
use input::Obj;
use out::{EndReasonJson, OutputJson, UploadJson};
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The version of the JSON form described in `docs/boundary.md`. Bumped only for a change an older reader
/// cannot take by ignoring fields it does not know (a field renamed or removed, a meaning changed).
pub const SCHEMA_VERSION: u32 = 1;

/// The largest time the boundary takes, in milliseconds: 2^53, the largest integer a JavaScript number holds
/// exactly (about 285,000 years). A larger `nowMs` is an error, not a silently saturated clock.
pub const MAX_TIME_MS: f64 = crate::time::MAX_JSON_MILLIS;

const TIME_RULE: &str = crate::time::JSON_MILLIS_RULE;

/// A time in milliseconds as a [`Timestamp`]; `nowMs` names it in the error.
pub fn timestamp(now_ms: f64) -> Result<Timestamp, BoundaryError> {
    if now_ms.is_finite() && (0.0..=MAX_TIME_MS).contains(&now_ms) {
        Timestamp::from_millis_f64(now_ms).ok_or_else(|| bad_time(now_ms))
    } else {
        Err(bad_time(now_ms))
    }
}

fn bad_time(now_ms: f64) -> BoundaryError {
    BoundaryError::new(
        ErrorCode::InvalidTime,
        format!("nowMs {TIME_RULE}; got {}", JsNumber(now_ms)),
    )
}

/// A number as JavaScript prints it where it matters for an error message: `NaN`, `Infinity`, `-Infinity`,
/// `1e+300` (not 300 digits).
pub(crate) struct JsNumber(pub(crate) f64);

impl fmt::Display for JsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x.is_nan() {
            f.write_str("NaN")
        } else if x.is_infinite() {
            f.write_str(if x > 0.0 { "Infinity" } else { "-Infinity" })
        } else if x.abs() >= 1e21 {
            let s = format!("{x:e}");
            f.write_str(&s.replace('e', "e+").replace("e+-", "e-"))
        } else {
            write!(f, "{x}")
        }
    }
}

/// A duration from milliseconds, `None` for anything [`timestamp`] would refuse.
fn duration_ms(ms: f64) -> Option<Duration> {
    crate::time::duration_from_json_millis(ms)
}

/// Text that arrived as bytes (a binding's strings): `what` names it in the error.
pub fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, BoundaryError> {
    std::str::from_utf8(bytes).map_err(|e| {
        BoundaryError::new(
            ErrorCode::InvalidUtf8,
            format!("{what} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// What kind of mistake a [`BoundaryError`] reports. Serialised as the camelCase name (`"invalidTime"`);
/// stable within a [`SCHEMA_VERSION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The configuration JSON is malformed, misses a required field, has an unknown or mistyped one.
    InvalidConfig,
    /// The snapshot JSON is malformed, or [`Session::resume`] refused it (`reason` says why).
    InvalidSnapshot,
    /// A time is NaN, infinite, negative or larger than [`MAX_TIME_MS`].
    InvalidTime,
    /// Any other argument is malformed (headers JSON, an HTTP status, a transport error name, a command).
    InvalidArgument,
    /// A response or transport error for a request id this session never handed out.
    UnknownRequest,
    /// Text that is not UTF-8.
    InvalidUtf8,
    /// A command after the session ended.
    Ended,
    /// The session refused a command (`reason` says why: `textTooLong`, `queueFull`, ...).
    Command,
    /// The simulator pair stopped early (step limit, livelock) or its configuration is wrong.
    Simulation,
    /// Output that could not be serialised (a bug: please report it).
    Internal,
}

impl ErrorCode {
    /// The camelCase name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidConfig => "invalidConfig",
            ErrorCode::InvalidSnapshot => "invalidSnapshot",
            ErrorCode::InvalidTime => "invalidTime",
            ErrorCode::InvalidArgument => "invalidArgument",
            ErrorCode::UnknownRequest => "unknownRequest",
            ErrorCode::InvalidUtf8 => "invalidUtf8",
            ErrorCode::Ended => "ended",
            ErrorCode::Command => "command",
            ErrorCode::Simulation => "simulation",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A call across the boundary was refused; nothing changed. Serialises as `{"code": ..., "message": ...,
/// "reason": ...}` (`reason` only for [`ErrorCode::Command`] and [`ErrorCode::InvalidSnapshot`]). Carries no
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoundaryError {
    /// The kind of mistake, stable for programs.
    pub code: ErrorCode,
    /// What was wrong, for people (names the field or argument).
    pub message: String,
    /// The finer reason of a refused command or snapshot (camelCase, e.g. `textTooLong`, `alreadyEnded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

impl BoundaryError {
    /// An error with no finer reason.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> BoundaryError {
        BoundaryError {
            code,
            message: message.into(),
            reason: None,
        }
    }

    fn with_reason(mut self, reason: &'static str) -> BoundaryError {
        self.reason = Some(reason);
        self
    }

    /// The error as JSON (`{"code": ..., "message": ...}`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"code":"internal","message":"the error could not be serialised"}"#.to_owned()
        })
    }
}

impl fmt::Display for BoundaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for BoundaryError {}

impl From<CommandError> for BoundaryError {
    fn from(e: CommandError) -> Self {
        let reason = match e {
            CommandError::Ended => {
                return BoundaryError::new(ErrorCode::Ended, e.to_string()).with_reason("ended");
            }
            CommandError::Ending => "ending",
            CommandError::QueueFull { .. } => "queueFull",
            CommandError::EmptyText => "emptyText",
            CommandError::TextTooLong { .. } => "textTooLong",
            CommandError::PayloadTooLarge { .. } => "payloadTooLarge",
            CommandError::TooManyItems { .. } => "tooManyItems",
            CommandError::NoSwitchOffered => "noSwitchOffered",
            CommandError::SwitchOfferGone { .. } => "switchOfferGone",
            CommandError::SwitchOfferLapsed { .. } => "switchOfferLapsed",
        };
        BoundaryError::new(ErrorCode::Command, e.to_string()).with_reason(reason)
    }
}

impl From<ResumeError> for BoundaryError {
    fn from(e: ResumeError) -> Self {
        let reason = match e {
            ResumeError::UnsupportedVersion { .. } => "unsupportedVersion",
            ResumeError::AlreadyEnded => "alreadyEnded",
            ResumeError::EndpointOutsidePolicy { .. } => "endpointOutsidePolicy",
            ResumeError::Inconsistent { .. } => "inconsistent",
            ResumeError::CounterOutOfRange { .. } => "counterOutOfRange",
            ResumeError::MalformedCredentials => "malformedCredentials",
            ResumeError::CommandRefused { .. } => "commandRefused",
        };
        BoundaryError::new(
            ErrorCode::InvalidSnapshot,
            format!("the snapshot cannot be resumed: {e}"),
        )
        .with_reason(reason)
    }
}

impl From<InputError> for BoundaryError {
    fn from(e: InputError) -> Self {
        BoundaryError::new(ErrorCode::UnknownRequest, e.to_string())
    }
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, BoundaryError> {
    serde_json::to_string(value).map_err(|e| {
        BoundaryError::new(ErrorCode::Internal, format!("output not serialisable: {e}"))
    })
}

fn arg(message: impl Into<String>) -> BoundaryError {
    BoundaryError::new(ErrorCode::InvalidArgument, message)
}

/// Reads a [`Config`] from its JSON form (`docs/boundary.md`, "Config"): camelCase, durations in
/// milliseconds (`requestTimeoutMs`), every field but `endpoint`, `organizationId`, `deploymentId` and
/// `buttonId` optional, unknown fields refused; errors name the field.
pub fn config_from_json(json: &str) -> Result<Config, BoundaryError> {
    config::config_from_json(json)
}

/// The JSON of one [`Output`] (`{"type": "request" | "event" | "wait", ...}`).
pub fn output_json(output: &Output) -> Result<String, BoundaryError> {
    to_json(&OutputJson::new(output))
}

/// The JSON of one [`Event`](crate::Event) (`{"type": "agentMessage", ...}`).
pub fn event_json(event: &crate::Event) -> Result<String, BoundaryError> {
    to_json(&out::EventJson::new(event))
}

/// The JSON of an [`EndReason`](crate::EndReason) (`{"type": "visitorEnded", "normal": true, ...}`).
pub fn end_reason_json(reason: &crate::EndReason) -> Result<String, BoundaryError> {
    to_json(&EndReasonJson::new(reason))
}

/// Reads response headers: `""`, `null`, an object of names to string values, or an array of `[name, value]`
/// pairs.
fn response<'b>(
    status: u16,
    headers_json: &str,
    body: &'b [u8],
) -> Result<http::Response<&'b [u8]>, BoundaryError> {
    let mut resp = bare_response(status, body)?;
    let trimmed = headers_json.trim();
    if trimmed.is_empty() || trimmed == "null" || trimmed == "{}" || trimmed == "[]" {
        return Ok(resp);
    }
    let value: serde_json::Value = serde_json::from_str(trimmed)
        .map_err(|e| arg(format!("headers are not valid JSON: {e}")))?;
    let pairs: Vec<(String, String)> = match value {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k, s)),
                other => Err(arg(format!(
                    "header {k:?}: the value must be a string, not {}",
                    input::kind_of(&other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        serde_json::Value::Array(_) => serde_json::from_value(value).map_err(|e| {
            arg(format!(
                "headers must be [name, value] pairs of strings: {e}"
            ))
        })?,
        other => {
            return Err(arg(format!(
                "headers must be an object or an array of pairs, not {}",
                input::kind_of(&other)
            )));
        }
    };
    append_headers(
        &mut resp,
        pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
    )?;
    Ok(resp)
}

/// A response of `status` with `body`: the status checked (100 to 999), no headers yet.
fn bare_response(status: u16, body: &[u8]) -> Result<http::Response<&[u8]>, BoundaryError> {
    let status = http::StatusCode::from_u16(status).map_err(|_| {
        arg(format!(
            "status {status} is not an HTTP status (100 to 999)"
        ))
    })?;
    let mut resp = http::Response::new(body);
    *resp.status_mut() = status;
    Ok(resp)
}

/// Adds `(name, value)` pairs to the response's headers, each checked.
fn append_headers<'h>(
    resp: &mut http::Response<&[u8]>,
    pairs: impl IntoIterator<Item = (&'h str, &'h str)>,
) -> Result<(), BoundaryError> {
    for (name, value) in pairs {
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| arg(format!("header name {name:?} is not valid")))?;
        let v = http::HeaderValue::from_str(value)
            .map_err(|_| arg(format!("the value of header {name:?} is not valid")))?;
        resp.headers_mut().append(n, v);
    }
    Ok(())
}

/// A visitor command read from JSON, every argument checked before the session sees it.
enum CommandJson {
    SendMessage(String),
    SetTyping(bool),
    SneakPeek(String),
    SendCustomEvent(String, String),
    ReportSensitiveDataRules(Vec<TriggeredRule>),
    SendRichMessage(Vec<RichAction>),
    End,
    AcceptSwitch(u64, Timestamp),
    RefuseSwitch(u64),
}

fn parse_command(json: &str) -> Result<CommandJson, BoundaryError> {
    command_from_obj(Obj::parse(json, ErrorCode::InvalidArgument, "the command")?)
}

fn command_from_obj(mut o: Obj) -> Result<CommandJson, BoundaryError> {
    let kind: String = o.req("type")?;
    let command = match kind.as_str() {
        "sendMessage" => CommandJson::SendMessage(o.req("text")?),
        "setTyping" => CommandJson::SetTyping(o.req("typing")?),
        "sneakPeek" => CommandJson::SneakPeek(o.req("text")?),
        "sendCustomEvent" => {
            CommandJson::SendCustomEvent(o.req("eventType")?, o.opt("data")?.unwrap_or_default())
        }
        "reportSensitiveDataRules" => CommandJson::ReportSensitiveDataRules(o.req("rules")?),
        "sendRichMessage" => CommandJson::SendRichMessage(o.req("actions")?),
        "end" => CommandJson::End,
        "acceptSwitch" => CommandJson::AcceptSwitch(o.req("offer")?, timestamp(o.req("nowMs")?)?),
        "refuseSwitch" => CommandJson::RefuseSwitch(o.req("offer")?),
        other => {
            return Err(arg(format!(
                "unknown command type {other:?} (sendMessage, setTyping, sneakPeek, sendCustomEvent, \
                 reportSensitiveDataRules, sendRichMessage, end, acceptSwitch, refuseSwitch)"
            )));
        }
    };
    o.finish()?;
    Ok(command)
}

/// Runs a visitor command given as JSON (`{"type": "sendMessage", "text": "hi"}`, see
/// [`JsonSession::command`]); a malformed one changes nothing.
fn run_command(session: &mut Session, json: &str) -> Result<String, BoundaryError> {
    Ok(match run_parsed(session, parse_command(json)?)? {
        Some(id) => format!("{{\"commandId\":{id}}}"),
        None => "{}".to_owned(),
    })
}

/// Runs a checked command: the id of what it queued, `None` for the commands that queue nothing.
fn run_parsed(session: &mut Session, command: CommandJson) -> Result<Option<u64>, BoundaryError> {
    let id = match command {
        CommandJson::SendMessage(text) => Some(session.send_message(text)?),
        CommandJson::SetTyping(typing) => Some(session.set_typing(typing)?),
        CommandJson::SneakPeek(text) => Some(session.sneak_peek(text)?),
        CommandJson::SendCustomEvent(kind, data) => Some(session.send_custom_event(kind, data)?),
        CommandJson::ReportSensitiveDataRules(rules) => {
            Some(session.report_sensitive_data_rules(rules)?)
        }
        CommandJson::SendRichMessage(actions) => Some(session.send_rich_message(actions)?),
        CommandJson::End => {
            session.end()?;
            None
        }
        CommandJson::AcceptSwitch(offer, now) => {
            session.accept_switch(SwitchOfferId(offer), now)?;
            None
        }
        CommandJson::RefuseSwitch(offer) => {
            session.refuse_switch(SwitchOfferId(offer))?;
            None
        }
    };
    Ok(id.map(|id| id.0))
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Connecting => "connecting",
        State::Initializing => "initializing",
        State::Requested => "requested",
        State::Queued => "queued",
        State::Chatting => "chatting",
        State::AgentDisconnected => "agentDisconnected",
        State::Ending => "ending",
        State::Deleting => "deleting",
        State::Ended => "ended",
    }
}

/// What [`JsonSession::status`] reports: the session's observable state, without secrets.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusJson<'a> {
    state: &'static str,
    reconnecting: bool,
    agent_typing: bool,
    agent: Option<&'a crate::wire::AgentInfo>,
    session_id: Option<&'a str>,
    endpoint: String,
    pending_commands: usize,
    poll_timeout_ms: Option<u64>,
    end_reason: Option<EndReasonJson<'a>>,
}

/// A [`Session`] driven through JSON: what every binding wraps. Each method mirrors the session's; times
/// are milliseconds (`now_ms`, an `f64` as a JavaScript number), outputs are JSON text.
///
/// ```
/// use liveagent::boundary::JsonSession;
/// let config = r#"{"endpoint": "https://d.la1-c1-phx.salesforceliveagent.com",
///                  "organizationId": "00D000000000001", "deploymentId": "572000000000001",
///                  "buttonId": "573000000000001"}"#;
/// let mut session = JsonSession::new(config, 0.0)?;
/// let first = session.poll_output(0.0)?; // {"type":"request","id":1,"kind":"sessionId",...}
/// assert!(first.starts_with(r#"{"type":"request","id":1,"kind":"sessionId""#));
/// assert_eq!(session.poll_output(f64::NAN).unwrap_err().code.as_str(), "invalidTime");
/// # Ok::<(), liveagent::boundary::BoundaryError>(())
/// ```
#[derive(Debug)]
pub struct JsonSession {
    session: Session,
}

impl JsonSession {
    /// A new session from the configuration's JSON, created at `now_ms`.
    pub fn new(config_json: &str, now_ms: f64) -> Result<JsonSession, BoundaryError> {
        let now = timestamp(now_ms)?;
        let config = config_from_json(config_json)?;
        Ok(JsonSession {
            session: Session::new(config, now),
        })
    }

    /// Resumes a chat from a [`snapshot`](JsonSession::snapshot) (written here or by a Rust
    /// [`Session::snapshot`] serialised with serde_json: the same format).
    pub fn resume(
        config_json: &str,
        snapshot_json: &str,
        now_ms: f64,
    ) -> Result<JsonSession, BoundaryError> {
        let now = timestamp(now_ms)?;
        let config = config_from_json(config_json)?;
        let snapshot: SessionSnapshot = serde_json::from_str(snapshot_json).map_err(|e| {
            BoundaryError::new(
                ErrorCode::InvalidSnapshot,
                format!("the snapshot is not a session snapshot's JSON: {e}"),
            )
            .with_reason("malformed")
        })?;
        Ok(JsonSession {
            session: Session::resume(config, snapshot, now)?,
        })
    }

    /// A session built in Rust, to drive through JSON.
    pub fn from_session(session: Session) -> JsonSession {
        JsonSession { session }
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The next output as JSON: `{"type":"request",...}`, `{"type":"event","event":{...}}` or
    /// `{"type":"wait","untilMs":n|null}` (see [`Session::poll_output`]).
    pub fn poll_output(&mut self, now_ms: f64) -> Result<String, BoundaryError> {
        let now = timestamp(now_ms)?;
        output_json(&self.session.poll_output(now))
    }

    /// Every output up to and including the next `wait`, as a JSON array: one call across the boundary
    /// instead of one per output.
    pub fn drain_outputs(&mut self, now_ms: f64) -> Result<String, BoundaryError> {
        let now = timestamp(now_ms)?;
        let mut json = String::from("[");
        // The session reaches `Wait` after finitely many outputs; the bound only keeps a bug from hanging
        // the caller.
        for i in 0..100_000 {
            let output = self.session.poll_output(now);
            if i > 0 {
                json.push(',');
            }
            json.push_str(&output_json(&output)?);
            if matches!(output, Output::Wait(_)) {
                break;
            }
        }
        json.push(']');
        Ok(json)
    }

    /// When [`handle_timeout`](JsonSession::handle_timeout) is next due, in milliseconds (rounded up);
    /// `None` once ended.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.session.poll_timeout().map(|t| t.as_millis_ceil())
    }

    /// Feeds the answer to request `id`: its status, headers (`""`, an object or `[name, value]` pairs) and
    /// body bytes (anything: a body that does not decode is a failed answer the session retries). Returns
    /// `"accepted"`, or `"stale"` for a late answer to a request the session stopped waiting for.
    pub fn handle_response(
        &mut self,
        id: u64,
        status: u16,
        headers_json: &str,
        body: &[u8],
        now_ms: f64,
    ) -> Result<&'static str, BoundaryError> {
        let now = timestamp(now_ms)?;
        let resp = response(status, headers_json, body)?;
        Ok(handled(self.session.handle_response(
            RequestId(id),
            resp,
            now,
        )?))
    }

    /// Reports that request `id` failed in the transport: `kind` is `timeout`, `connectRefused`, `reset` or
    /// `other`. Returns `"accepted"` or `"stale"`.
    pub fn handle_transport_error(
        &mut self,
        id: u64,
        kind: &str,
        now_ms: f64,
    ) -> Result<&'static str, BoundaryError> {
        let now = timestamp(now_ms)?;
        let error = out::transport_error(kind).ok_or_else(|| {
            arg(format!(
                "transport error {kind:?} is not one of timeout, connectRefused, reset, other"
            ))
        })?;
        Ok(handled(self.session.handle_transport_error(
            RequestId(id),
            error,
            now,
        )?))
    }

    /// Tells the session the time (see [`Session::handle_timeout`]).
    pub fn handle_timeout(&mut self, now_ms: f64) -> Result<(), BoundaryError> {
        let now = timestamp(now_ms)?;
        self.session.handle_timeout(now);
        Ok(())
    }

    /// Runs a command given as JSON: `{"type":"sendMessage","text":...}`, `setTyping {typing}`,
    /// `sneakPeek {text}`, `sendCustomEvent {eventType, data}`, `reportSensitiveDataRules {rules}`,
    /// `sendRichMessage {actions}`, `end`, `acceptSwitch`, `refuseSwitch`. Returns `{"commandId": n}` for
    /// the commands that queue something, `{}` for the others.
    pub fn command(&mut self, command_json: &str) -> Result<String, BoundaryError> {
        run_command(&mut self.session, command_json)
    }

    /// Sends a text to the agent; returns its command id.
    pub fn send_message(&mut self, text: &str) -> Result<u64, BoundaryError> {
        Ok(self.session.send_message(text)?.0)
    }

    /// Reports that the visitor started or stopped typing; returns the command id.
    pub fn set_typing(&mut self, typing: bool) -> Result<u64, BoundaryError> {
        Ok(self.session.set_typing(typing)?.0)
    }

    /// Sends what the visitor is typing (Sneak Peek); returns the command id.
    pub fn sneak_peek(&mut self, text: &str) -> Result<u64, BoundaryError> {
        Ok(self.session.sneak_peek(text)?.0)
    }

    /// Sends a custom event; returns the command id.
    pub fn send_custom_event(
        &mut self,
        event_type: &str,
        data: &str,
    ) -> Result<u64, BoundaryError> {
        Ok(self.session.send_custom_event(event_type, data)?.0)
    }

    /// Ends the chat (see [`Session::end`]).
    pub fn end(&mut self) -> Result<(), BoundaryError> {
        Ok(self.session.end()?)
    }

    /// Follows the server switch `offer` (the `offer` of its `switchOffered` event), decided at `now_ms`
    /// (see [`Session::accept_switch`]).
    pub fn accept_switch(&mut self, offer: u64, now_ms: f64) -> Result<(), BoundaryError> {
        let now = timestamp(now_ms)?;
        Ok(self.session.accept_switch(SwitchOfferId(offer), now)?)
    }

    /// Declines the server switch `offer` (see [`Session::refuse_switch`]).
    pub fn refuse_switch(&mut self, offer: u64) -> Result<(), BoundaryError> {
        Ok(self.session.refuse_switch(SwitchOfferId(offer))?)
    }

    /// The upload POST answering a FileTransfer `Requested` message (`transfer_json`: the `payload` of that
    /// message event), as JSON `{"method","url","headers","bodyBase64"}`: the application sends it itself
    /// (see [`Session::upload_request`]). Its URL's query holds the chat key.
    pub fn upload_request(
        &self,
        transfer_json: &str,
        filename: &str,
        content_type: &str,
        file: &[u8],
    ) -> Result<String, BoundaryError> {
        let transfer: FileTransfer = serde_json::from_str(transfer_json).map_err(|e| {
            arg(format!(
                "the file transfer is not a FileTransfer payload: {e}"
            ))
        })?;
        let req = self
            .session
            .upload_request(&transfer, filename, content_type, file)
            .map_err(|e| {
                BoundaryError::new(ErrorCode::Command, e.to_string()).with_reason("upload")
            })?;
        to_json(&UploadJson::new(&req))
    }

    /// The session's observable state as JSON: `state` (`connecting` … `ended`), `reconnecting`,
    /// `agentTyping`, `agent`, `sessionId` (not a secret), `endpoint`, `pendingCommands`, `pollTimeoutMs`,
    /// `endReason`.
    pub fn status(&self) -> Result<String, BoundaryError> {
        to_json(&self.status_json())
    }

    fn status_json(&self) -> StatusJson<'_> {
        let s = &self.session;
        StatusJson {
            state: state_name(s.state()),
            reconnecting: s.is_reconnecting(),
            agent_typing: s.agent_typing(),
            agent: s.agent(),
            session_id: s.session_id(),
            endpoint: s.endpoint().to_string(),
            pending_commands: s.pending_commands(),
            poll_timeout_ms: self.poll_timeout(),
            end_reason: s.end_reason().map(EndReasonJson::new),
        }
    }

    /// The durable state as JSON (the serde form of [`SessionSnapshot`], versioned by its own `version`).
    /// **Holds the session key and affinity token**: store it like a password.
    pub fn snapshot(&self) -> Result<String, BoundaryError> {
        to_json(&self.session.snapshot())
    }
}

fn handled(h: Handled) -> &'static str {
    match h {
        Handled::Accepted => "accepted",
        Handled::Stale => "stale",
    }
}
