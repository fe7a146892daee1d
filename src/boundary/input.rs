//! Reading JSON input field by field, so every error names the field it is about (`retry.maxAttempts: invalid
//! type: string "x", expected u32`), unknown fields are refused (a misspelt option is not silently ignored),
//! and `null` means "absent" (the default).

use super::{BoundaryError, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::time::Duration;

/// A JSON object being read; `path` is where it is (`""` at the top, `retry.` inside `retry`).
pub(crate) struct Obj {
    code: ErrorCode,
    path: String,
    map: Map<String, Value>,
}

impl Obj {
    /// The top-level object of `json`.
    pub(crate) fn parse(json: &str, code: ErrorCode, what: &str) -> Result<Obj, BoundaryError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| BoundaryError::new(code, format!("{what} is not valid JSON: {e}")))?;
        Obj::top(value, code, what)
    }

    /// The top-level object `value` (already parsed JSON).
    pub(crate) fn top(value: Value, code: ErrorCode, what: &str) -> Result<Obj, BoundaryError> {
        Obj::from_value(value, code, String::new(), what)
    }

    fn from_value(
        value: Value,
        code: ErrorCode,
        path: String,
        what: &str,
    ) -> Result<Obj, BoundaryError> {
        match value {
            Value::Object(map) => Ok(Obj { code, path, map }),
            other => Err(BoundaryError::new(
                code,
                format!("{what} must be a JSON object, not {}", kind_of(&other)),
            )),
        }
    }

    fn field(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }

    fn error(&self, key: &str, message: impl std::fmt::Display) -> BoundaryError {
        BoundaryError::new(self.code, format!("field `{}`: {message}", self.field(key)))
    }

    /// Removes `key`; `None` when absent or `null`.
    fn raw(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// The value of `key` as a `T`, `None` when absent or `null`.
    pub(crate) fn opt<T: DeserializeOwned>(
        &mut self,
        key: &str,
    ) -> Result<Option<T>, BoundaryError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| self.error(key, e)),
        }
    }

    /// The value of `key` as a `T`; an error naming it when absent.
    pub(crate) fn req<T: DeserializeOwned>(&mut self, key: &str) -> Result<T, BoundaryError> {
        self.opt(key)?
            .ok_or_else(|| self.error(key, "missing (required)"))
    }

    /// Sets `target` from `key` when present.
    pub(crate) fn set<T: DeserializeOwned>(
        &mut self,
        key: &str,
        target: &mut T,
    ) -> Result<(), BoundaryError> {
        if let Some(v) = self.opt(key)? {
            *target = v;
        }
        Ok(())
    }

    /// Sets `target` from `key`, a non-negative number of milliseconds, when present.
    pub(crate) fn set_ms(&mut self, key: &str, target: &mut Duration) -> Result<(), BoundaryError> {
        if let Some(d) = self.opt_ms(key)? {
            *target = d;
        }
        Ok(())
    }

    /// `key` as a duration from a non-negative number of milliseconds (at most [`super::MAX_TIME_MS`]).
    pub(crate) fn opt_ms(&mut self, key: &str) -> Result<Option<Duration>, BoundaryError> {
        let Some(ms) = self.opt::<f64>(key)? else {
            return Ok(None);
        };
        super::duration_ms(ms)
            .map(Some)
            .ok_or_else(|| self.error(key, super::TIME_RULE))
    }

    /// The object under `key`, `None` when absent or `null`.
    pub(crate) fn obj(&mut self, key: &str) -> Result<Option<Obj>, BoundaryError> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        let path = format!("{}.", self.field(key));
        let what = format!("field `{}`", self.field(key));
        Obj::from_value(v, self.code, path, &what).map(Some)
    }

    /// The value under `key` as it is (for fields with more than one shape).
    pub(crate) fn value(&mut self, key: &str) -> Option<Value> {
        self.raw(key)
    }

    /// Refuses fields nobody read: a misspelt option must not be ignored silently.
    pub(crate) fn finish(self) -> Result<(), BoundaryError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(self.error(k, "unknown field")),
        }
    }

    /// An error about `key` (for values read with [`Obj::value`]).
    pub(crate) fn invalid(&self, key: &str, message: impl std::fmt::Display) -> BoundaryError {
        self.error(key, message)
    }
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
