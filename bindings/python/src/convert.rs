//! Between Python values and the boundary's forms, without JSON text on either side.
//!
//! Out: the boundary's serde values ([`liveagent::boundary::output_value`], `status_value`) go through a
//! serde [`Serializer`] ([`ToPy`]) that builds the dicts, lists, strings and numbers `json.loads` would
//! give for their JSON text, with the timestamps (`...Ms` fields, milliseconds on the session's clock)
//! renamed and turned into seconds (`deadline`, `until`, ...) on the `time.monotonic()` clock Python passed
//! in. In: dicts, lists and scalars become a [`serde_json::Value`] ([`to_value`]) that the boundary reads
//! with the same checks and messages as JSON text.
//!
//! Struct field names are `&'static str`: their Python strings are made once and kept ([`key`]).

use crate::errors::raise;
use liveagent::boundary::{BoundaryError, ErrorCode};
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;
use serde::ser::{self, Serializer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

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

/// Which of an object's fields are times to convert: those of an output, of an event (the output's
/// `event`, or a pair's timed event), or none (everything else: server payloads keep their own names,
/// whatever they end in).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// An output: `untilMs`, `deadlineMs`; its `event` is an [`Level::Event`].
    Output,
    /// An event: `decideByMs`, `endsAtMs`, `atMs`.
    Event,
    /// A pair's `{atMs, event}`: `atMs`; its `event` is an [`Level::Event`].
    Timed,
    /// The status: `pollTimeoutMs`.
    Status,
    /// No renames.
    Plain,
    /// A time in milliseconds, to be seconds (a number, or `null`).
    Seconds,
    /// A short string that repeats from one output to the next (a `type`, a method): made once per
    /// session ([`Strings`]).
    Repeated,
    /// A request's headers: names and values repeat from one request to the next.
    Headers,
}

impl Level {
    /// The Python name of field `key` at this level and the level of its value.
    fn field(self, key: &'static str) -> (&'static str, Level) {
        match (self, key) {
            (Level::Output, "untilMs") => ("until", Level::Seconds),
            (Level::Output, "deadlineMs") => ("deadline", Level::Seconds),
            (Level::Output | Level::Timed, "event") => ("event", Level::Event),
            (Level::Event, "decideByMs") => ("decideBy", Level::Seconds),
            (Level::Event, "endsAtMs") => ("endsAt", Level::Seconds),
            (Level::Event | Level::Timed, "atMs") => ("at", Level::Seconds),
            (Level::Status, "pollTimeoutMs") => ("pollTimeout", Level::Seconds),
            (Level::Output, "method") | (_, "type") => (key, Level::Repeated),
            (Level::Output, "headers") => (key, Level::Headers),
            _ => (key, Level::Plain),
        }
    }
}

/// Hashes the address and length of a `&'static str` (already unique: no need for SipHash's strength).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: one multiply spreads an address over the high bits the table uses.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Hashes bytes eight at a time (the strings cached are short and come from the session, not from an
/// adversary choosing collisions: the server's keys and texts are never cached here).
#[derive(Default)]
struct ByteHasher(u64);

impl Hasher for ByteHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(word));
        }
        for b in chunks.remainder() {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The Python strings of one session's repeated short strings (output `type`s, methods, header names and
/// values), by content: each is made once instead of once per output. Per session, so the header values
/// (the session key among them) go when the session goes; bounded, so nothing grows without end.
#[derive(Default)]
pub struct Strings {
    map: HashMap<Box<str>, Py<PyString>, BuildHasherDefault<ByteHasher>>,
}

impl Strings {
    /// At most this many strings are kept (then the cache starts over).
    const MAX_ENTRIES: usize = 64;
    /// Longer strings are not cached.
    const MAX_LEN: usize = 1024;

    fn get<'py>(&mut self, py: Python<'py>, s: &str) -> Bound<'py, PyString> {
        if s.len() > Self::MAX_LEN {
            return PyString::new(py, s);
        }
        if let Some(cached) = self.map.get(s) {
            return cached.bind(py).clone();
        }
        if self.map.len() >= Self::MAX_ENTRIES {
            self.map.clear();
        }
        let made = PyString::new(py, s);
        self.map.insert(s.into(), made.clone().unbind());
        made
    }
}

/// Python strings by the address and length of a `&'static str`.
type ByAddress = HashMap<(usize, usize), Py<PyString>, BuildHasherDefault<AddressHasher>>;

thread_local! {
    /// The Python strings of struct field names and renamed keys.
    static KEYS: RefCell<ByAddress> = RefCell::new(HashMap::default());
}

/// The Python string of a field name, made once per name and thread (interned, so dict lookups with it
/// compare by identity).
fn key<'py>(py: Python<'py>, name: &'static str) -> Bound<'py, PyString> {
    let at = (name.as_ptr() as usize, name.len());
    let cached = KEYS.with(|k| k.try_borrow().ok()?.get(&at).map(|s| s.bind(py).clone()));
    if let Some(s) = cached {
        return s;
    }
    let s = PyString::intern(py, name);
    KEYS.with(|k| {
        if let Ok(mut k) = k.try_borrow_mut() {
            k.insert(at, s.clone().unbind());
        }
    });
    s
}

/// Why a value could not be built: a Python error (memory), or a serde error (a bug in a form).
#[derive(Debug)]
pub enum ConvError {
    /// Python refused something.
    Py(PyErr),
    /// The form could not be serialised.
    Form(String),
}

impl fmt::Display for ConvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvError::Py(e) => write!(f, "{e}"),
            ConvError::Form(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConvError {}

impl ser::Error for ConvError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ConvError::Form(msg.to_string())
    }
}

impl From<PyErr> for ConvError {
    fn from(e: PyErr) -> Self {
        ConvError::Py(e)
    }
}

impl ConvError {
    /// As a Python exception (`InternalError` for a form that does not serialise).
    pub fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            ConvError::Py(e) => e,
            ConvError::Form(m) => raise(
                py,
                BoundaryError::new(ErrorCode::Internal, format!("output not serialisable: {m}")),
            ),
        }
    }
}

/// A boundary value as Python objects, its times at `level` converted.
pub fn to_py<'py, T: Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
    level: Level,
    strings: &RefCell<Strings>,
) -> PyResult<Bound<'py, PyAny>> {
    value
        .serialize(ToPy { py, level, strings })
        .map_err(|e| e.into_py(py))
}

/// A dict built from a boundary value (one that serialises as an object).
pub fn to_dict<'py, T: Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
    level: Level,
    strings: &RefCell<Strings>,
) -> PyResult<Bound<'py, PyDict>> {
    to_py(py, value, level, strings)?
        .cast_into::<PyDict>()
        .map_err(|_| {
            raise(
                py,
                BoundaryError::new(ErrorCode::Internal, "the core's output is not an object"),
            )
        })
}

/// The serde [`Serializer`] that builds Python objects: what `json.loads` makes of `serde_json`'s text of
/// the same value (objects are dicts, sequences lists, NaN and infinities `None`), with times converted.
#[derive(Clone, Copy)]
pub struct ToPy<'py, 'c> {
    py: Python<'py>,
    level: Level,
    strings: &'c RefCell<Strings>,
}

impl<'py, 'c> ToPy<'py, 'c> {
    fn at(self, level: Level) -> ToPy<'py, 'c> {
        ToPy {
            py: self.py,
            level,
            strings: self.strings,
        }
    }

    fn plain(self) -> ToPy<'py, 'c> {
        self.at(Level::Plain)
    }

    fn string(self, v: &str) -> Bound<'py, PyString> {
        if matches!(self.level, Level::Repeated | Level::Headers)
            && let Ok(mut strings) = self.strings.try_borrow_mut()
        {
            return strings.get(self.py, v);
        }
        PyString::new(self.py, v)
    }

    fn number(self, ms: f64) -> Bound<'py, PyAny> {
        let x = if self.level == Level::Seconds {
            ms / MS_PER_SEC
        } else {
            ms
        };
        if x.is_finite() {
            PyFloat::new(self.py, x).into_any()
        } else {
            // serde_json writes NaN and infinities as null.
            self.py.None().into_bound(self.py)
        }
    }

    /// An integer (`as_f64`: the same as a float, for a time in seconds).
    fn int<I>(self, v: I, as_f64: f64) -> Result<Bound<'py, PyAny>, ConvError>
    where
        I: IntoPyObject<'py, Target = PyInt>,
    {
        if self.level == Level::Seconds {
            return Ok(PyFloat::new(self.py, as_f64 / MS_PER_SEC).into_any());
        }
        Ok(v.into_bound_py_any(self.py)?)
    }
}

/// A dict being filled: a struct's or a map's.
pub struct DictBuilder<'py, 'c> {
    to: ToPy<'py, 'c>,
    /// A `serde_json::value::RawValue` (JSON text kept as text) serialises as a struct of this one
    /// field: its value, parsed, is the result instead of a dict.
    raw: Option<Bound<'py, PyAny>>,
    dict: Bound<'py, PyDict>,
    /// A map's key waiting for its value.
    pending: Option<Bound<'py, PyAny>>,
    /// The level of the pending key's value.
    pending_level: Level,
}

/// A list being filled, or a variant's `{name: [...]}`.
pub struct ListBuilder<'py, 'c> {
    to: ToPy<'py, 'c>,
    items: Vec<Bound<'py, PyAny>>,
    variant: Option<&'static str>,
}

/// A struct variant's `{name: {...}}`.
pub struct VariantDict<'py, 'c> {
    inner: DictBuilder<'py, 'c>,
    variant: &'static str,
}

impl<'py, 'c> ToPy<'py, 'c> {
    fn dict(self) -> DictBuilder<'py, 'c> {
        DictBuilder {
            to: self,
            raw: None,
            dict: PyDict::new(self.py),
            pending: None,
            pending_level: Level::Plain,
        }
    }

    fn list(self, len: Option<usize>, variant: Option<&'static str>) -> ListBuilder<'py, 'c> {
        ListBuilder {
            to: self.plain(),
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant,
        }
    }

    fn wrap(
        self,
        variant: &'static str,
        value: Bound<'py, PyAny>,
    ) -> Result<Bound<'py, PyAny>, ConvError> {
        let d = PyDict::new(self.py);
        d.set_item(key(self.py, variant), value)?;
        Ok(d.into_any())
    }
}

impl<'py, 'c> Serializer for ToPy<'py, 'c> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvError;
    type SerializeSeq = ListBuilder<'py, 'c>;
    type SerializeTuple = ListBuilder<'py, 'c>;
    type SerializeTupleStruct = ListBuilder<'py, 'c>;
    type SerializeTupleVariant = ListBuilder<'py, 'c>;
    type SerializeMap = DictBuilder<'py, 'c>;
    type SerializeStruct = DictBuilder<'py, 'c>;
    type SerializeStructVariant = VariantDict<'py, 'c>;

    fn serialize_bool(self, v: bool) -> Result<Self::Ok, ConvError> {
        Ok(PyBool::new(self.py, v).to_owned().into_any())
    }
    fn serialize_i8(self, v: i8) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_i16(self, v: i16) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_i32(self, v: i32) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_i64(self, v: i64) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_i128(self, v: i128) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_u8(self, v: u8) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_u16(self, v: u16) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_u32(self, v: u32) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_u64(self, v: u64) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_u128(self, v: u128) -> Result<Self::Ok, ConvError> {
        self.int(v, v as f64)
    }
    fn serialize_f32(self, v: f32) -> Result<Self::Ok, ConvError> {
        Ok(self.number(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Self::Ok, ConvError> {
        Ok(self.number(v))
    }
    fn serialize_char(self, v: char) -> Result<Self::Ok, ConvError> {
        let mut buf = [0u8; 4];
        Ok(PyString::new(self.py, v.encode_utf8(&mut buf)).into_any())
    }
    fn serialize_str(self, v: &str) -> Result<Self::Ok, ConvError> {
        Ok(self.string(v).into_any())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Self::Ok, ConvError> {
        // serde_json writes bytes as an array of numbers.
        Ok(PyList::new(self.py, v)?.into_any())
    }
    fn serialize_none(self) -> Result<Self::Ok, ConvError> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, ConvError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Self::Ok, ConvError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Self::Ok, ConvError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, ConvError> {
        Ok(key(self.py, variant).into_any())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Self::Ok, ConvError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Self::Ok, ConvError> {
        let inner = value.serialize(self.plain())?;
        self.wrap(variant, inner)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<ListBuilder<'py, 'c>, ConvError> {
        Ok(self.list(len, None))
    }
    fn serialize_tuple(self, len: usize) -> Result<ListBuilder<'py, 'c>, ConvError> {
        Ok(self.list(Some(len), None))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<ListBuilder<'py, 'c>, ConvError> {
        Ok(self.list(Some(len), None))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<ListBuilder<'py, 'c>, ConvError> {
        Ok(self.list(Some(len), Some(variant)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<DictBuilder<'py, 'c>, ConvError> {
        Ok(self.dict())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<DictBuilder<'py, 'c>, ConvError> {
        Ok(self.dict())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantDict<'py, 'c>, ConvError> {
        Ok(VariantDict {
            inner: self.plain().dict(),
            variant,
        })
    }
}

impl<'py, 'c> ListBuilder<'py, 'c> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvError> {
        self.items.push(value.serialize(self.to)?);
        Ok(())
    }

    fn done(self) -> Result<Bound<'py, PyAny>, ConvError> {
        let list = PyList::new(self.to.py, self.items)?.into_any();
        match self.variant {
            Some(v) => self.to.wrap(v, list),
            None => Ok(list),
        }
    }
}

impl<'py, 'c> ser::SerializeSeq for ListBuilder<'py, 'c> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvError> {
        self.push(value)
    }
    fn end(self) -> Result<Self::Ok, ConvError> {
        self.done()
    }
}

impl<'py, 'c> ser::SerializeTuple for ListBuilder<'py, 'c> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvError> {
        self.push(value)
    }
    fn end(self) -> Result<Self::Ok, ConvError> {
        self.done()
    }
}

impl<'py, 'c> ser::SerializeTupleStruct for ListBuilder<'py, 'c> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvError> {
        self.push(value)
    }
    fn end(self) -> Result<Self::Ok, ConvError> {
        self.done()
    }
}

impl<'py, 'c> ser::SerializeTupleVariant for ListBuilder<'py, 'c> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvError> {
        self.push(value)
    }
    fn end(self) -> Result<Self::Ok, ConvError> {
        self.done()
    }
}

impl<'py, 'c> DictBuilder<'py, 'c> {
    /// A struct's field: its name (renamed if it is a time at this level) and value.
    fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ConvError> {
        if name == RAW_VALUE_TOKEN {
            let serde_json::Value::String(text) =
                serde_json::to_value(value).map_err(|e| ConvError::Form(e.to_string()))?
            else {
                return Err(ConvError::Form("raw JSON that is not text".to_owned()));
            };
            let parsed: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| ConvError::Form(e.to_string()))?;
            self.raw = Some(parsed.serialize(self.to.plain())?);
            return Ok(());
        }
        let (name, level) = self.to.level.field(name);
        let value = value.serialize(self.to.at(level))?;
        self.dict.set_item(key(self.to.py, name), value)?;
        Ok(())
    }
}

/// The name serde_json gives the one field of a `RawValue` (serde_json's `raw_value` feature; the core
/// keeps some server payloads as their text).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// A map key as serde_json writes it: a string (numbers and booleans as their text).
fn map_key<'py>(py: Python<'py>, k: Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>, ConvError> {
    if k.is_instance_of::<PyString>() {
        Ok(k)
    } else if k.is_instance_of::<PyBool>()
        || k.is_instance_of::<PyInt>()
        || k.is_instance_of::<PyFloat>()
    {
        let text = if k.is_instance_of::<PyBool>() {
            if k.is_truthy()? { "true" } else { "false" }.to_owned()
        } else {
            k.str()?.to_cow()?.into_owned()
        };
        Ok(PyString::new(py, &text).into_any())
    } else {
        Err(ConvError::Form("a map key must be a string".to_owned()))
    }
}

impl<'py, 'c> ser::SerializeMap for DictBuilder<'py, 'c> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), ConvError> {
        let py = self.to.py;
        let headers = self.to.level == Level::Headers;
        let k = map_key(
            py,
            k.serialize(self.to.at(if headers {
                Level::Repeated
            } else {
                Level::Plain
            }))?,
        )?;
        // A flattened struct's fields arrive as map entries: the same renames apply.
        let mut level = if headers {
            Level::Repeated
        } else {
            Level::Plain
        };
        let mut k = k;
        if !matches!(
            self.to.level,
            Level::Plain | Level::Seconds | Level::Repeated | Level::Headers
        ) && let Ok(s) = k.cast::<PyString>()
            && let Ok(text) = s.to_cow()
        {
            for name in [
                "untilMs",
                "deadlineMs",
                "event",
                "decideByMs",
                "endsAtMs",
                "atMs",
                "pollTimeoutMs",
            ] {
                if text == name {
                    let (renamed, l) = self.to.level.field(name);
                    level = l;
                    k = key(py, renamed).into_any();
                    break;
                }
            }
        }
        self.pending = Some(k);
        self.pending_level = level;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvError> {
        let k = self
            .pending
            .take()
            .ok_or_else(|| ConvError::Form("a map value without its key".to_owned()))?;
        let v = value.serialize(self.to.at(self.pending_level))?;
        self.dict.set_item(k, v)?;
        Ok(())
    }
    fn end(self) -> Result<Self::Ok, ConvError> {
        Ok(self.dict.into_any())
    }
}

impl<'py, 'c> ser::SerializeStruct for DictBuilder<'py, 'c> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ConvError> {
        self.field(name, value)
    }
    fn end(self) -> Result<Self::Ok, ConvError> {
        Ok(self.raw.unwrap_or_else(|| self.dict.into_any()))
    }
}

impl<'py, 'c> ser::SerializeStructVariant for VariantDict<'py, 'c> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ConvError> {
        self.inner.field(name, value)
    }
    fn end(self) -> Result<Self::Ok, ConvError> {
        let to = self.inner.to;
        to.wrap(self.variant, self.inner.dict.into_any())
    }
}

/// How deep [`to_value`] follows nested containers (serde_json's own parser stops at 128 too).
const MAX_DEPTH: usize = 128;

/// A Python value as JSON, as `json.dumps` would write it and the boundary parse it: `None`, `bool`, `int`,
/// `float` (finite), `str`, dicts with `str` keys, lists and tuples. Anything else, and cycles (nesting past
/// 128), is refused as `code` naming `what`, like a value `json.dumps` refuses.
pub fn to_value(
    obj: &Bound<'_, PyAny>,
    what: &str,
    code: ErrorCode,
) -> PyResult<serde_json::Value> {
    value_at(obj, 0).map_err(|m| {
        let e = if m == NOT_UTF8 {
            BoundaryError::new(ErrorCode::InvalidUtf8, format!("{what} holds {NOT_UTF8}"))
        } else {
            BoundaryError::new(code, format!("{what} has no JSON form: {m}"))
        };
        raise(obj.py(), e)
    })
}

/// Why a `str` (lone surrogates) cannot be text: refused as `invalidUtf8`, like a `str` argument.
const NOT_UTF8: &str = "a str that is not valid UTF-8 (a lone surrogate)";

fn value_at(obj: &Bound<'_, PyAny>, depth: usize) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return string(s).map(Value::String);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        // Beyond 64 bits: the nearest double, as serde_json reads such a number from text.
        return match obj.extract::<f64>() {
            Ok(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| "an integer too large for a JSON number".to_owned()),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
                Err("an integer too large for a JSON number".to_owned())
            }
            Err(e) => Err(e.to_string()),
        };
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let f = f.value();
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is not a JSON number"));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            let Ok(k) = k.cast::<PyString>() else {
                return Err(format!("a key must be a str, not {}", type_name(&k)));
            };
            map.insert(string(k)?, value_at(&v, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return l
            .iter()
            .map(|v| value_at(&v, depth + 1))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t
            .iter()
            .map(|v| value_at(&v, depth + 1))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    Err(format!(
        "Object of type {} is not JSON serializable",
        type_name(obj)
    ))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// A `str` as Rust text; one that is not UTF-8 (lone surrogates) is refused.
fn string(s: &Bound<'_, PyString>) -> Result<String, String> {
    s.to_cow()
        .map(|c| c.into_owned())
        .map_err(|_| NOT_UTF8.to_owned())
}
