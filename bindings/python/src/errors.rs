//! Boundary errors raised as the Python exception classes of `liveagent.errors` (one per error code; they
//! are defined in Python so that each can also be a `ValueError` or `LookupError`).

use liveagent::boundary::BoundaryError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyAny;

static MAKE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The Python exception for a boundary error: `liveagent.errors.<Class>(message, code, reason)`.
pub fn raise(py: Python<'_>, e: BoundaryError) -> PyErr {
    let make = match MAKE.import(py, "liveagent.errors", "_make") {
        Ok(make) => make,
        Err(import_error) => return import_error,
    };
    match make.call1((e.code.as_str(), e.message.as_str(), e.reason)) {
        Ok(exception) => PyErr::from_value(exception),
        Err(call_error) => call_error,
    }
}

/// `Result<T, BoundaryError>` into `PyResult<T>`.
pub trait OrRaise<T> {
    /// The value, or the boundary error as its Python exception.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, BoundaryError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| raise(py, e))
    }
}
