//! `liveagent._native`: the Python extension module (pyo3, abi3). It wraps the core's JSON boundary
//! (`liveagent::boundary::JsonSession`, and `JsonPair` for rehearsal on the simulator) and adds only what
//! Python needs: times in `time.monotonic()` seconds instead of milliseconds, JSON text as dicts, and the
//! boundary's errors as exception classes. Validation and serialisation stay in the core, once.
//!
//! No unsafe code here (pyo3's macros generate the FFI glue), and nothing panics on any input: every
//! refusal is a `BoundaryError` turned into a `liveagent.errors` exception.
#![forbid(unsafe_code)]

mod convert;
mod errors;
mod pair;
mod session;

use pyo3::prelude::*;

/// The native half of the `liveagent` package; import `liveagent`, not this.
#[pymodule]
mod _native {
    #[pymodule_export]
    use super::pair::Pair;
    #[pymodule_export]
    use super::session::Session;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("SCHEMA_VERSION", liveagent::boundary::SCHEMA_VERSION)?;
        m.add("CORE_VERSION", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }

    use super::*;
}
