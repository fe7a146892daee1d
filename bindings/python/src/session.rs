//! `liveagent.Session`: a [`JsonSession`] with Python's units and types.

use crate::convert::{self, Level, now_ms, secs};
use crate::errors::{OrRaise, raise};
use liveagent::Output;
use liveagent::boundary::{self, BoundaryError, ErrorCode, JsonSession, output_value};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::cell::RefCell;

/// One visitor chat, sans-IO. See the `.pyi` stub for the Python-side documentation.
#[pyclass(module = "liveagent._native", name = "Session")]
pub struct Session {
    inner: JsonSession,
    /// The Python strings its outputs repeat (see [`convert::Strings`]).
    strings: convert::Strings,
}

/// `now` in seconds as the boundary's milliseconds. An integer too large for a float is a time too large
/// (the boundary refuses it as `invalidTime`), not an `OverflowError`.
pub fn now_arg(now: &Bound<'_, PyAny>) -> PyResult<f64> {
    match now.extract::<f64>() {
        Ok(s) => Ok(now_ms(s)),
        Err(e) if e.is_instance_of::<PyOverflowError>(now.py()) => Ok(f64::INFINITY),
        Err(e) => Err(e),
    }
}

/// The boundary's `invalidTime` message speaks of `nowMs`; Python passes seconds.
pub fn seconds_message(mut e: BoundaryError, now: &Bound<'_, PyAny>) -> BoundaryError {
    if e.code == ErrorCode::InvalidTime {
        let shown = now
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "?".to_owned());
        e.message = format!(
            "now must be a finite, non-negative number of seconds on a monotonic clock (time.monotonic()), \
             at most 2^53 ms; got {shown}"
        );
    }
    e
}

/// Python text as `&str`; a `str` that cannot be UTF-8 (lone surrogates) is refused by the boundary's own
/// check as `invalidUtf8`, naming `what`.
pub fn text<'a>(s: &'a Bound<'_, PyString>, what: &str) -> PyResult<std::borrow::Cow<'a, str>> {
    match s.to_cow() {
        Ok(t) => Ok(t),
        Err(_) => {
            let bytes = s
                .call_method1("encode", ("utf-8", "surrogatepass"))?
                .cast_into::<PyBytes>()?;
            match boundary::utf8(bytes.as_bytes(), what) {
                Ok(t) => Ok(std::borrow::Cow::Owned(t.to_owned())),
                Err(e) => Err(raise(s.py(), e)),
            }
        }
    }
}

/// A JSON argument: text (a `str`, read by the boundary as is) or a Python value already in JSON's shape.
pub enum JsonArg {
    /// A `str`: JSON text.
    Text(String),
    /// Any other value, converted without `json.dumps`.
    Value(serde_json::Value),
}

/// A JSON document given as `str` (JSON text) or as a Python value (dicts, lists, ...). `code` is the
/// error code for a value that has no JSON form.
pub fn json_input(obj: &Bound<'_, PyAny>, what: &str, code: ErrorCode) -> PyResult<JsonArg> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(JsonArg::Text(text(s, what)?.into_owned()));
    }
    convert::to_value(obj, what, code).map(JsonArg::Value)
}

/// A JSON document as text, for the calls that take only text (the simulator, resuming).
pub fn json_arg(obj: &Bound<'_, PyAny>, what: &str, code: ErrorCode) -> PyResult<String> {
    match json_input(obj, what, code)? {
        JsonArg::Text(t) => Ok(t),
        JsonArg::Value(v) => serde_json::to_string(&v).map_err(|e| {
            raise(
                obj.py(),
                BoundaryError::new(code, format!("{what} has no JSON form: {e}")),
            )
        }),
    }
}

/// Response headers (`None`, a mapping, or `(name, value)` pairs as `http.client` gives them) as pairs.
fn header_pairs(headers: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let Some(headers) = headers else {
        return Ok(pairs);
    };
    if headers.is_none() {
        return Ok(pairs);
    }
    let items = if let Ok(d) = headers.cast::<PyDict>() {
        d.items().into_any()
    } else if headers.hasattr("items")? {
        headers.call_method0("items")?
    } else {
        headers.clone()
    };
    let not_pairs = |e: PyErr| {
        raise(
            headers.py(),
            BoundaryError::new(
                ErrorCode::InvalidArgument,
                format!("headers must be a mapping or (name, value) pairs of str: {e}"),
            ),
        )
    };
    for item in items.try_iter().map_err(not_pairs)? {
        let (name, value): (Bound<'_, PyString>, Bound<'_, PyString>) =
            item.and_then(|i| i.extract()).map_err(not_pairs)?;
        pairs.push((
            text(&name, "a header name")?.into_owned(),
            text(&value, "a header value")?.into_owned(),
        ));
    }
    Ok(pairs)
}

/// JSON text the core wrote, as Python values (for the calls whose result is rare enough to stay text).
pub fn from_json<'py>(py: Python<'py>, json: &str, level: Level) -> PyResult<Bound<'py, PyAny>> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| internal(py, &format!("the core's output is not JSON: {e}")))?;
    convert::to_py(py, &value, level, &RefCell::default())
}

/// A request id from Python: any integer; one outside the ids a session hands out (0 to 2^64 - 1) was
/// never handed out, so it is the boundary's `unknownRequest`.
fn request_id(py: Python<'_>, id: i128) -> PyResult<u64> {
    u64::try_from(id).map_err(|_| {
        raise(
            py,
            BoundaryError::new(
                ErrorCode::UnknownRequest,
                format!("request id {id} was never handed out by this session"),
            ),
        )
    })
}

fn internal(py: Python<'_>, what: &str) -> PyErr {
    raise(py, BoundaryError::new(ErrorCode::Internal, what))
}

#[pymethods]
impl Session {
    #[new]
    fn new(config: &Bound<'_, PyAny>, now: &Bound<'_, PyAny>) -> PyResult<Session> {
        let py = config.py();
        let config = json_input(config, "the configuration", ErrorCode::InvalidConfig)?;
        let ms = now_arg(now)?;
        match config {
            JsonArg::Text(config) => JsonSession::new(&config, ms),
            JsonArg::Value(config) => JsonSession::from_config_value(config, ms),
        }
        .map_err(|e| seconds_message(e, now))
        .or_raise(py)
        .map(|inner| Session {
            inner,
            strings: convert::Strings::default(),
        })
    }

    #[staticmethod]
    fn resume(
        config: &Bound<'_, PyAny>,
        snapshot: &Bound<'_, PyAny>,
        now: &Bound<'_, PyAny>,
    ) -> PyResult<Session> {
        let py = config.py();
        let config = json_arg(config, "the configuration", ErrorCode::InvalidConfig)?;
        let snapshot = json_arg(snapshot, "the snapshot", ErrorCode::InvalidSnapshot)?;
        let ms = now_arg(now)?;
        JsonSession::resume(&config, &snapshot, ms)
            .map_err(|e| seconds_message(e, now))
            .or_raise(py)
            .map(|inner| Session {
                inner,
                strings: convert::Strings::default(),
            })
    }

    fn poll_output<'py>(&mut self, now: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let py = now.py();
        let output = self
            .inner
            .next_output(now_arg(now)?)
            .map_err(|e| seconds_message(e, now))
            .or_raise(py)?;
        let strings = RefCell::new(std::mem::take(&mut self.strings));
        let out = convert::to_dict(py, &output_value(&output), Level::Output, &strings);
        self.strings = strings.into_inner();
        out
    }

    fn drain_outputs<'py>(&mut self, now: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let py = now.py();
        let ms = now_arg(now)?;
        let mut outputs = Vec::with_capacity(2);
        let strings = RefCell::new(std::mem::take(&mut self.strings));
        // The session reaches `Wait` after finitely many outputs; the bound only keeps a bug from hanging
        // the caller.
        let drained = (|| {
            for _ in 0..100_000 {
                let output = self
                    .inner
                    .next_output(ms)
                    .map_err(|e| seconds_message(e, now))
                    .or_raise(py)?;
                outputs.push(convert::to_py(
                    py,
                    &output_value(&output),
                    Level::Output,
                    &strings,
                )?);
                if matches!(output, Output::Wait(_)) {
                    break;
                }
            }
            Ok::<_, PyErr>(())
        })();
        self.strings = strings.into_inner();
        drained?;
        PyList::new(py, outputs)
    }

    fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(secs)
    }

    #[pyo3(signature = (id, status, headers, body, now))]
    fn handle_response(
        &mut self,
        id: i128,
        status: i64,
        headers: Option<&Bound<'_, PyAny>>,
        body: &[u8],
        now: &Bound<'_, PyAny>,
    ) -> PyResult<&'static str> {
        let py = now.py();
        let id = request_id(py, id)?;
        let Ok(status) = u16::try_from(status) else {
            return Err(raise(
                py,
                BoundaryError::new(
                    ErrorCode::InvalidArgument,
                    format!("status {status} is not an HTTP status (100 to 999)"),
                ),
            ));
        };
        let headers = header_pairs(headers)?;
        let ms = now_arg(now)?;
        self.inner
            .handle_response_pairs(
                id,
                status,
                headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                body,
                ms,
            )
            .map_err(|e| seconds_message(e, now))
            .or_raise(py)
    }

    fn handle_transport_error(
        &mut self,
        id: i128,
        kind: &Bound<'_, PyString>,
        now: &Bound<'_, PyAny>,
    ) -> PyResult<&'static str> {
        let py = now.py();
        let id = request_id(py, id)?;
        let kind = text(kind, "the transport error kind")?;
        let ms = now_arg(now)?;
        self.inner
            .handle_transport_error(id, &kind, ms)
            .map_err(|e| seconds_message(e, now))
            .or_raise(py)
    }

    fn handle_timeout(&mut self, now: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = now.py();
        let ms = now_arg(now)?;
        self.inner
            .handle_timeout(ms)
            .map_err(|e| seconds_message(e, now))
            .or_raise(py)
    }

    fn command<'py>(&mut self, command: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let py = command.py();
        match json_input(command, "the command", ErrorCode::InvalidArgument)? {
            JsonArg::Text(json) => {
                let out = self.inner.command(&json).or_raise(py)?;
                from_json(py, &out, Level::Plain)?
                    .cast_into::<PyDict>()
                    .map_err(|_| internal(py, "the core's command result is not an object"))
            }
            JsonArg::Value(command) => {
                let id = self.inner.command_value(command).or_raise(py)?;
                let out = PyDict::new(py);
                if let Some(id) = id {
                    out.set_item(pyo3::intern!(py, "commandId"), id)?;
                }
                Ok(out)
            }
        }
    }

    fn send_message(&mut self, text: &Bound<'_, PyString>) -> PyResult<u64> {
        let t = self::text(text, "the message text")?;
        self.inner.send_message(&t).or_raise(text.py())
    }

    fn set_typing(&mut self, py: Python<'_>, typing: bool) -> PyResult<u64> {
        self.inner.set_typing(typing).or_raise(py)
    }

    fn sneak_peek(&mut self, text: &Bound<'_, PyString>) -> PyResult<u64> {
        let t = self::text(text, "the sneak peek text")?;
        self.inner.sneak_peek(&t).or_raise(text.py())
    }

    #[pyo3(signature = (event_type, data = None))]
    fn send_custom_event(
        &mut self,
        event_type: &Bound<'_, PyString>,
        data: Option<&Bound<'_, PyString>>,
    ) -> PyResult<u64> {
        let py = event_type.py();
        let event_type = text(event_type, "the custom event type")?;
        let data = match data {
            Some(d) => text(d, "the custom event data")?,
            None => std::borrow::Cow::Borrowed(""),
        };
        self.inner
            .send_custom_event(&event_type, &data)
            .or_raise(py)
    }

    fn end(&mut self, py: Python<'_>) -> PyResult<()> {
        self.inner.end().or_raise(py)
    }

    fn accept_switch(&mut self, py: Python<'_>, offer: u64, now_ms: f64) -> PyResult<()> {
        self.inner.accept_switch(offer, now_ms).or_raise(py)
    }

    fn refuse_switch(&mut self, py: Python<'_>, offer: u64) -> PyResult<()> {
        self.inner.refuse_switch(offer).or_raise(py)
    }

    fn upload_request<'py>(
        &self,
        transfer: &Bound<'py, PyAny>,
        filename: &Bound<'py, PyString>,
        content_type: &Bound<'py, PyString>,
        file: &[u8],
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = transfer.py();
        let transfer = json_arg(transfer, "the file transfer", ErrorCode::InvalidArgument)?;
        let filename = text(filename, "the file name")?;
        let content_type = text(content_type, "the content type")?;
        let out = self
            .inner
            .upload_request(&transfer, &filename, &content_type, file)
            .or_raise(py)?;
        from_json(py, &out, Level::Plain)?
            .cast_into::<PyDict>()
            .map_err(|_| internal(py, "the core's upload request is not an object"))
    }

    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        convert::to_dict(
            py,
            &self.inner.status_value(),
            Level::Status,
            &RefCell::default(),
        )
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state()
    }

    #[getter]
    fn ended(&self) -> bool {
        self.inner.poll_timeout().is_none()
    }

    fn snapshot(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.snapshot().or_raise(py)
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!("<liveagent.Session state={}>", self.state()))
    }
}
