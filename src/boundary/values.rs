//! The boundary without JSON text: the same forms as serde values, for a binding that builds its own
//! language's objects directly (a serde `Serializer` into Python dicts, say) and reads its arguments from
//! already-parsed JSON ([`serde_json::Value`]) instead of writing and parsing text on both sides of the call.
//!
//! Every value here serialises to exactly the text the JSON methods return (`tests/boundary_schema.rs`
//! checks it for every output variant), and every input is checked by the same code with the same messages:
//! this is one schema reached two ways, not a second schema.

use super::out::OutputJson;
use super::{
    BoundaryError, ErrorCode, JsonSession, StatusJson, append_headers, bare_response, handled,
    run_parsed, state_name, timestamp,
};
use crate::{Config, Output, RequestId};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// One [`Output`] in its boundary form as a serde value: serialised with `serde_json`, exactly the text of
/// [`output_json`](super::output_json). A `request` carries the session key and affinity token.
pub struct OutputValue<'a>(OutputJson<'a>);

impl Serialize for OutputValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// The boundary form of `output` as a serde value (see [`OutputValue`]).
pub fn output_value(output: &Output) -> OutputValue<'_> {
    OutputValue(OutputJson::new(output))
}

/// What [`JsonSession::status`] reports, as a serde value (the same fields; no secrets).
pub struct StatusValue<'a>(StatusJson<'a>);

impl Serialize for StatusValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Reads a [`Config`] from its JSON form already parsed: the checks and error messages of
/// [`config_from_json`](super::config_from_json).
pub fn config_from_value(config: Value) -> Result<Config, BoundaryError> {
    super::config::config_from_value(config)
}

impl JsonSession {
    /// [`JsonSession::new`] from the configuration already parsed.
    pub fn from_config_value(config: Value, now_ms: f64) -> Result<JsonSession, BoundaryError> {
        let now = timestamp(now_ms)?;
        Ok(JsonSession::from_session(crate::Session::new(
            config_from_value(config)?,
            now,
        )))
    }

    /// The next output itself (see [`Session::poll_output`](crate::Session::poll_output)), the time
    /// checked as by [`poll_output`](JsonSession::poll_output); [`output_value`] gives its boundary form.
    pub fn next_output(&mut self, now_ms: f64) -> Result<Output, BoundaryError> {
        let now = timestamp(now_ms)?;
        Ok(self.session.poll_output(now))
    }

    /// [`handle_response`](JsonSession::handle_response) with the headers as `(name, value)` pairs
    /// instead of JSON text.
    pub fn handle_response_pairs<'h>(
        &mut self,
        id: u64,
        status: u16,
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
        body: &[u8],
        now_ms: f64,
    ) -> Result<&'static str, BoundaryError> {
        let now = timestamp(now_ms)?;
        let mut resp = bare_response(status, body)?;
        append_headers(&mut resp, headers)?;
        Ok(handled(self.session.handle_response(
            RequestId(id),
            resp,
            now,
        )?))
    }

    /// [`command`](JsonSession::command) with the command already parsed (`{"type": "sendMessage",
    /// "text": ...}` as a [`Value`]): the id of what it queued (`commandId`), `None` for the commands that
    /// queue nothing.
    pub fn command_value(&mut self, command: Value) -> Result<Option<u64>, BoundaryError> {
        let o = super::input::Obj::top(command, ErrorCode::InvalidArgument, "the command")?;
        run_parsed(&mut self.session, super::command_from_obj(o)?)
    }

    /// [`status`](JsonSession::status) as a serde value.
    pub fn status_value(&self) -> StatusValue<'_> {
        StatusValue(self.status_json())
    }

    /// The session's `state` as [`status`](JsonSession::status) names it (`chatting`, `ended`, ...),
    /// without building the rest of the status.
    pub fn state(&self) -> &'static str {
        state_name(self.session.state())
    }
}
