//! Between Python values and the boundary's JSON: the boundary's output text becomes plain dicts, lists,
//! strings and numbers (parsed by Python's own `json.loads`, which builds them faster than converting a
//! `serde_json::Value` through the limited API did: about a third of the 204 cycle), with its timestamps
//! (`...Ms` fields, milliseconds on the session's clock) turned into seconds (`deadline`, `until`, ...) on
//! the `time.monotonic()` clock Python passed in.

use crate::errors::raise;
use liveagent::boundary::{BoundaryError, ErrorCode};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyFloat, PyInt, PyString};

/// Milliseconds per second: Python passes and receives seconds, the boundary takes milliseconds.
const MS_PER_SEC: f64 = 1000.0;

/// A Python `time.monotonic()` reading in milliseconds, as the boundary takes `now`. NaN, infinities and
/// negative values pass through unchanged so the boundary refuses them with its own message; only the
/// unit changes here.
pub fn now_ms(now_secs: f64) -> f64 {
    now_secs * MS_PER_SEC
}

/// A boundary timestamp (whole milliseconds) in seconds.
pub fn secs(ms: u64) -> f64 {
    // Exact for every millisecond count below 2^53 (285,000 years); beyond that the nearest double.
    ms as f64 / MS_PER_SEC
}

/// Where the boundary's output carries timestamps: these keys of the output object itself and of its
/// `event` object. Only these: server payloads (agent messages, custom events) keep their own field names,
/// whatever they end in.
pub const OUTPUT_TIMES: &[(&str, &str)] = &[("untilMs", "until"), ("deadlineMs", "deadline")];
/// The timestamps of an event object.
pub const EVENT_TIMES: &[(&str, &str)] = &[
    ("decideByMs", "decideBy"),
    ("endsAtMs", "endsAt"),
    ("atMs", "at"),
];

static SCAN_ONCE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The core's JSON text as Python values: what `json.loads` gives, through the decoder's scanner directly
/// (`JSONDecoder().scan_once`, C in CPython), without `loads`' Python-level wrapper (its whitespace regexes
/// were a third of the cost of parsing a poll request). The core writes one value and no whitespace.
pub fn loads<'py>(py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyAny>> {
    let scan_once = SCAN_ONCE.get_or_try_init(py, || {
        py.import("json")?
            .getattr("JSONDecoder")?
            .call0()?
            .getattr("scan_once")
            .map(Bound::unbind)
    })?;
    let (value, end): (Bound<'py, PyAny>, usize) = scan_once
        .bind(py)
        .call1((PyString::new(py, json), 0))?
        .extract()?;
    if end != json.chars().count() {
        return Err(internal(py, "the core's output is not one JSON value"));
    }
    Ok(value)
}

fn internal(py: Python<'_>, what: &str) -> PyErr {
    raise(py, BoundaryError::new(ErrorCode::Internal, what))
}

/// The core's JSON object text as a dict, with `keys` (milliseconds) renamed and in seconds.
pub fn object<'py>(
    py: Python<'py>,
    json: &str,
    keys: &[(&str, &str)],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = loads(py, json)?
        .cast_into::<PyDict>()
        .map_err(|_| internal(py, "the core's output is not a JSON object"))?;
    to_seconds(&dict, keys)?;
    Ok(dict)
}

/// One output of `poll_output` as a dict, its timestamps (and its event's) in seconds.
pub fn output<'py>(py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyDict>> {
    let dict = object(py, json, OUTPUT_TIMES)?;
    event_times(&dict)?;
    Ok(dict)
}

/// The `event` of an output or a timed event, if any, with its timestamps in seconds.
pub fn event_times(dict: &Bound<'_, PyDict>) -> PyResult<()> {
    if let Some(event) = dict.get_item("event")?
        && let Ok(event) = event.cast::<PyDict>()
    {
        to_seconds(event, EVENT_TIMES)?;
    }
    Ok(())
}

/// Renames each `keys` field present (milliseconds) to its seconds name, converting an integer value.
pub fn to_seconds(dict: &Bound<'_, PyDict>, keys: &[(&str, &str)]) -> PyResult<()> {
    let py = dict.py();
    for (ms_key, key) in keys {
        let Some(value) = dict.get_item(*ms_key)? else {
            continue;
        };
        if value.is_none() {
            dict.set_item(*key, value)?;
        } else if value.is_instance_of::<PyInt>() {
            let ms: u64 = value.extract()?;
            dict.set_item(*key, PyFloat::new(py, secs(ms)))?;
        } else {
            // Not a whole number of milliseconds: left as the core wrote it, under its own name.
            continue;
        }
        dict.del_item(*ms_key)?;
    }
    Ok(())
}
