//! `liveagent.sim.Pair`: a session against the simulated server on a virtual clock ([`JsonPair`]), for
//! rehearsing whole chats with faults in milliseconds. Virtual times come back in seconds since the start.

use crate::convert::{self, Level};
use crate::errors::{OrRaise, raise};
use crate::session::{from_json, json_arg, text};
use liveagent::boundary::{BoundaryError, ErrorCode, JsonPair};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

/// A session and the simulator on virtual time. See the `.pyi` stub for the Python-side documentation.
#[pyclass(module = "liveagent._native", name = "Pair", unsendable)]
pub struct Pair {
    inner: JsonPair,
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
        from_json(py, &out, Level::Plain)
    }

    fn run(&mut self, py: Python<'_>) -> PyResult<()> {
        self.inner.run().or_raise(py)
    }

    fn run_until_event(&mut self, event_type: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
        let py = event_type.py();
        let name = text(event_type, "the event type")?;
        let json = self.inner.run_until_event(&name).or_raise(py)?;
        Ok(from_json(py, &json, Level::Event)?.unbind())
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
        let events: Vec<serde_json::Value> = serde_json::from_str(&json).map_err(|e| {
            raise(
                py,
                BoundaryError::new(
                    ErrorCode::Internal,
                    format!("the core's events are not an array: {e}"),
                ),
            )
        })?;
        let strings = std::cell::RefCell::default();
        let events = events
            .iter()
            .map(|timed| convert::to_py(py, timed, Level::Timed, &strings))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, events)
    }

    fn agent_texts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.inner.agent_texts().or_raise(py)?;
        from_json(py, &json, Level::Plain)
    }

    fn transcript(&self) -> String {
        self.inner.transcript()
    }

    fn check_delivery<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.inner.check_delivery().or_raise(py)?;
        from_json(py, &json, Level::Plain)
    }

    fn snapshot(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.snapshot().or_raise(py)
    }

    fn __repr__(&self) -> String {
        format!("<liveagent.sim.Pair elapsed={:.3}s>", self.elapsed())
    }
}
