//! Between Python values and the boundary's JSON: the boundary's output text becomes plain dicts, lists,
//! strings and numbers, with its timestamps (`...Ms` fields, milliseconds on the session's clock) turned into
//! seconds (`deadline`, `until`, ...) on the `time.monotonic()` clock Python passed in.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};
use serde_json::{Map, Value};

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
const OUTPUT_TIMES: &[(&str, &str)] = &[("untilMs", "until"), ("deadlineMs", "deadline")];
pub const EVENT_TIMES: &[(&str, &str)] = &[
    ("decideByMs", "decideBy"),
    ("endsAtMs", "endsAt"),
    ("atMs", "at"),
];

/// One output of `poll_output` as a dict, its timestamps in seconds.
pub fn output_to_py<'py>(
    py: Python<'py>,
    mut output: Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let event = match output.remove("event") {
        Some(Value::Object(mut event)) => {
            let dict = PyDict::new(py);
            fill_times(&dict, &mut event, EVENT_TIMES)?;
            fill(py, &dict, event)?;
            Some(dict)
        }
        Some(other) => {
            output.insert("event".to_owned(), other);
            None
        }
        None => None,
    };
    let dict = PyDict::new(py);
    fill_times(&dict, &mut output, OUTPUT_TIMES)?;
    fill(py, &dict, output)?;
    if let Some(event) = event {
        dict.set_item("event", event)?;
    }
    Ok(dict)
}

/// An object with `keys` (milliseconds) renamed and converted to seconds; other fields as they are.
pub fn object_with_times<'py>(
    py: Python<'py>,
    mut object: Map<String, Value>,
    keys: &[(&str, &str)],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    fill_times(&dict, &mut object, keys)?;
    fill(py, &dict, object)?;
    Ok(dict)
}

fn fill_times(
    dict: &Bound<'_, PyDict>,
    object: &mut Map<String, Value>,
    keys: &[(&str, &str)],
) -> PyResult<()> {
    for (ms_key, key) in keys {
        match object.remove(*ms_key) {
            None => {}
            Some(Value::Null) => dict.set_item(*key, dict.py().None())?,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(ms) => dict.set_item(*key, secs(ms))?,
                None => dict.set_item(*key, n.as_f64().unwrap_or(f64::NAN) / MS_PER_SEC)?,
            },
            // Not a number: left as the boundary wrote it, under its own name.
            Some(other) => {
                object.insert((*ms_key).to_owned(), other);
            }
        }
    }
    Ok(())
}

fn fill(py: Python<'_>, dict: &Bound<'_, PyDict>, object: Map<String, Value>) -> PyResult<()> {
    for (k, v) in object {
        dict.set_item(PyString::new(py, &k), value_to_py(py, v)?)?;
    }
    Ok(())
}

/// Any JSON value as the Python value `json.loads` would give (integers stay integers).
pub fn value_to_py(py: Python<'_>, value: Value) -> PyResult<Bound<'_, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, &s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(object) => {
            let dict = PyDict::new(py);
            fill(py, &dict, object)?;
            dict.into_any()
        }
    })
}
