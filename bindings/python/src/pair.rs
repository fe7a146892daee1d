//! `liveagent.sim.Pair`: a session against the simulated server on a virtual clock ([`JsonPair`]), for
//! rehearsing whole chats with faults in milliseconds. Virtual times come back in seconds since the start.

use crate::convert::{self, value_to_py};
use crate::errors::{OrRaise, raise};
use crate::session::{json_arg, text};
use liveagent::boundary::{BoundaryError, ErrorCode, JsonPair};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::Value;

/// A session and the simulator on virtual time. See the `.pyi` stub for the Python-side documentation.
#[pyclass(module = "liveagent._native", name = "Pair", unsendable)]
pub struct Pair {
    inner: JsonPair,
}

fn parse(py: Python<'_>, json: &str) -> PyResult<Value> {
    serde_json::from_str(json).map_err(|_| {
        raise(
            py,
            BoundaryError::new(ErrorCode::Internal, "the core's output is not JSON"),
        )
    })
}

/// An event object (`{"type": ...}`) with its times in seconds, or `None`.
fn event_to_py(py: Python<'_>, json: &str) -> PyResult<Py<PyAny>> {
    match parse(py, json)? {
        Value::Object(map) => Ok(convert::object_with_times(py, map, convert::EVENT_TIMES)?
            .into_any()
            .unbind()),
        other => Ok(value_to_py(py, other)?.unbind()),
    }
}

#[pymethods]
impl Pair {
    #[new]
    #[pyo3(signature = (config, sim = None))]
    fn new(config: &Bound<'_, PyAny>, sim: Option<&Bound<'_, PyAny>>) -> PyResult<Pair> {
        let py = config.py();
        let config = json_arg(config, "the configuration", ErrorCode::InvalidConfig)?;
        let sim = match sim {
            Some(s) if !s.is_none() => {
                json_arg(s, "the simulator configuration", ErrorCode::Simulation)?
            }
            _ => String::new(),
        };
        JsonPair::new(&config, &sim)
            .or_raise(py)
            .map(|inner| Pair { inner })
    }

    fn send_message(&mut self, text: &Bound<'_, PyString>) -> PyResult<u64> {
        let t = self::text(text, "the message text")?;
        self.inner.send_message(&t).or_raise(text.py())
    }

    fn end(&mut self, py: Python<'_>) -> PyResult<()> {
        self.inner.end().or_raise(py)
    }

    fn command<'py>(&mut self, command: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = command.py();
        let json = json_arg(command, "the command", ErrorCode::InvalidArgument)?;
        let out = self.inner.command(&json).or_raise(py)?;
        value_to_py(py, parse(py, &out)?)
    }

    fn run(&mut self, py: Python<'_>) -> PyResult<()> {
        self.inner.run().or_raise(py)
    }

    fn run_until_event(&mut self, event_type: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
        let py = event_type.py();
        let name = text(event_type, "the event type")?;
        let json = self.inner.run_until_event(&name).or_raise(py)?;
        event_to_py(py, &json)
    }

    fn run_until_elapsed(&mut self, elapsed: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = elapsed.py();
        let ms = crate::session::now_arg(elapsed)?;
        self.inner.run_until_elapsed(ms).map_err(|mut e| {
            if e.code == ErrorCode::InvalidTime {
                e.message = format!(
                    "elapsed must be a finite, non-negative number of seconds, at most 2^53 ms; got {}",
                    elapsed.repr().map(|r| r.to_string()).unwrap_or_default()
                );
            }
            raise(py, e)
        })
    }

    #[getter]
    fn elapsed(&self) -> f64 {
        self.inner.elapsed_ms() / 1000.0
    }

    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let json = self.inner.events().or_raise(py)?;
        let list = PyList::empty(py);
        if let Value::Array(items) = parse(py, &json)? {
            for item in items {
                let Value::Object(mut timed) = item else {
                    continue;
                };
                let entry = PyDict::new(py);
                if let Some(Value::Object(event)) = timed.remove("event") {
                    entry.set_item(
                        "event",
                        convert::object_with_times(py, event, convert::EVENT_TIMES)?,
                    )?;
                }
                let at = timed.get("atMs").and_then(Value::as_u64).unwrap_or(0);
                entry.set_item("at", convert::secs(at))?;
                list.append(entry)?;
            }
        }
        Ok(list)
    }

    fn agent_texts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.inner.agent_texts().or_raise(py)?;
        value_to_py(py, parse(py, &json)?)
    }

    fn transcript(&self) -> String {
        self.inner.transcript()
    }

    fn check_delivery<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.inner.check_delivery().or_raise(py)?;
        value_to_py(py, parse(py, &json)?)
    }

    fn snapshot(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.snapshot().or_raise(py)
    }

    fn __repr__(&self) -> String {
        format!("<liveagent.sim.Pair elapsed={:.3}s>", self.elapsed())
    }
}
