//! The liveagent session and simulator as a WebAssembly module with a plain C ABI, for `liveagent.mjs`.
//!
//! No wasm-bindgen: the JavaScript side writes a call's text and byte arguments one after the other into
//! the module's scratch buffer ([`la_scratch`]: grown when needed, reused by every call), calls an export
//! with `(pointer, length)` pairs into it, and reads the result the export left in a buffer owned here
//! ([`la_result_ptr`], valid until the next call). An export that can fail returns the result's length
//! (`>= 0`), the JSON of the value itself, or, when it failed, `-length` of an error `{"code", "message"}`;
//! the ones with a small answer (`accepted`/`stale`) return it as a number instead. Sessions and pairs live
//! in tables here; JavaScript holds their handles (numbers) and frees them. The outputs are serialised
//! straight into the result buffer from the core's serde values (no intermediate strings).
//!
//! All validation is `liveagent::boundary`'s (the Python package wraps the same code). This crate only moves
//! bytes, and must never panic: `wasm32-unknown-unknown` aborts on a panic (a trap in JavaScript), so every
//! bad input becomes an error result instead (no `unwrap`, no indexing, `try_borrow_mut`).
//!
//! The `unsafe` is confined to [`input`]: turning the `(pointer, length)` pairs the module's own JavaScript
//! wrapper passes (into the scratch buffer) into slices.

use liveagent::Output;
use liveagent::boundary::{self, BoundaryError, ErrorCode, JsonPair, JsonSession, output_value};
use std::cell::RefCell;

thread_local! {
    /// The result of the last call; JavaScript reads it before making the next one.
    static RESULT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Where JavaScript writes a call's arguments (see [`la_scratch`]).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static SESSIONS: RefCell<Table<JsonSession>> = const { RefCell::new(Table::new()) };
    static PAIRS: RefCell<Table<JsonPair>> = const { RefCell::new(Table::new()) };
}

/// Objects by handle (`index + 1`; 0 is never a handle). Freed slots are reused.
struct Table<T> {
    slots: Vec<Option<T>>,
}

impl<T> Table<T> {
    const fn new() -> Table<T> {
        Table { slots: Vec::new() }
    }

    fn insert(&mut self, value: T) -> u32 {
        let index = match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                if let Some(slot) = self.slots.get_mut(i) {
                    *slot = Some(value);
                }
                i
            }
            None => {
                self.slots.push(Some(value));
                self.slots.len() - 1
            }
        };
        u32::try_from(index + 1).unwrap_or(0)
    }

    fn get(&mut self, handle: u32) -> Option<&mut T> {
        let index = usize::try_from(handle).ok()?.checked_sub(1)?;
        self.slots.get_mut(index)?.as_mut()
    }

    fn remove(&mut self, handle: u32) {
        if let Some(slot) = usize::try_from(handle)
            .ok()
            .and_then(|h| h.checked_sub(1))
            .and_then(|i| self.slots.get_mut(i))
        {
            *slot = None;
        }
    }
}

fn error(code: ErrorCode, message: impl Into<String>) -> BoundaryError {
    BoundaryError::new(code, message)
}

/// The length JavaScript gets for a result of `len` bytes: `len`, or `-len` for an error.
fn signed(len: usize, error: bool) -> i32 {
    match i32::try_from(len) {
        Ok(n) if error => -n,
        Ok(n) => n,
        // Never 2 GiB of output; if it were, an error JavaScript can read.
        Err(_) => store_error(&error_too_large()),
    }
}

fn error_too_large() -> BoundaryError {
    error(ErrorCode::Internal, "a result over 2 GiB")
}

/// Stores an error's JSON as the result; returns `-length`.
fn store_error(e: &BoundaryError) -> i32 {
    let json = e.to_json();
    let stored = RESULT.with(|r| match r.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            buf.extend_from_slice(json.as_bytes());
            true
        }
        Err(_) => false,
    });
    match i32::try_from(json.len()) {
        Ok(n) if stored => -n,
        // The result buffer is in use (a re-entrant call) or the error is absurdly long: still an error.
        _ => i32::MIN,
    }
}

/// Runs `write`, which serialises a value into the (cleared) result buffer; returns its length, or stores
/// the error.
fn finish_with(write: impl FnOnce(&mut Vec<u8>) -> Result<(), BoundaryError>) -> i32 {
    let outcome = RESULT.with(|r| match r.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            write(&mut buf).map(|()| buf.len())
        }
        Err(_) => Err(error(ErrorCode::Internal, "re-entrant call")),
    });
    match outcome {
        Ok(len) => signed(len, false),
        Err(e) => store_error(&e),
    }
}

/// Stores a JSON result text, or the error; returns the length (`-length` for the error).
fn finish(result: Result<String, BoundaryError>) -> i32 {
    match result {
        Ok(json) => finish_with(|buf| {
            buf.extend_from_slice(json.as_bytes());
            Ok(())
        }),
        Err(e) => store_error(&e),
    }
}

/// A verdict (`accepted` 0, `stale` 1) as the return value, or the error stored.
fn verdict(result: Result<&'static str, BoundaryError>) -> i32 {
    match result {
        Ok("accepted") => 0,
        Ok(_) => 1,
        Err(e) => store_error(&e),
    }
}

/// Serialises `value` as JSON into `buf`.
fn write_json<T: serde::Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
) -> Result<(), BoundaryError> {
    serde_json::to_writer(buf, value)
        .map_err(|e| error(ErrorCode::Internal, format!("output not serialisable: {e}")))
}

fn json_string(s: &str) -> Result<String, BoundaryError> {
    serde_json::to_string(s).map_err(|e| error(ErrorCode::Internal, e.to_string()))
}

fn unit(r: Result<(), BoundaryError>) -> Result<String, BoundaryError> {
    r.map(|()| "null".to_owned())
}

/// The bytes at `(ptr, len)`, written there by JavaScript into the buffer from [`la_scratch`].
fn input<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the only caller is liveagent.mjs, which passes a range inside the buffer `la_scratch` returned
    // (at least as long as every argument it wrote into it) and fills it before the call. The slice does not
    // outlive the call (every export copies what it keeps), and nothing moves or writes the scratch buffer
    // during a call (only `la_scratch` does, between calls). Wasm is single-threaded.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

fn text<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a str, BoundaryError> {
    boundary::utf8(input(ptr, len), what)
}

/// A request id from a JavaScript number: a whole number in `0..=2^53`.
fn request_id(id: f64) -> Result<u64, BoundaryError> {
    if id.is_finite() && (0.0..=boundary::MAX_TIME_MS).contains(&id) && id.fract() == 0.0 {
        // In range and whole: the conversion is exact.
        Ok(id as u64)
    } else {
        Err(error(
            ErrorCode::UnknownRequest,
            "a request id is a whole number from 0 to 2^53 (the id of a request the session handed out)",
        ))
    }
}

/// An HTTP status from a JavaScript number (checked again by the boundary: 100 to 999).
fn status(status: f64) -> Result<u16, BoundaryError> {
    if status.is_finite() && status.fract() == 0.0 && (0.0..=65535.0).contains(&status) {
        Ok(status as u16)
    } else {
        Err(error(
            ErrorCode::InvalidArgument,
            "an HTTP status is a whole number from 100 to 999",
        ))
    }
}

/// Runs `f` on the session `handle`.
fn on_session<R>(
    handle: u32,
    f: impl FnOnce(&mut JsonSession) -> Result<R, BoundaryError>,
) -> Result<R, BoundaryError> {
    SESSIONS.with(|t| match t.try_borrow_mut() {
        Ok(mut t) => match t.get(handle) {
            Some(s) => f(s),
            None => Err(error(
                ErrorCode::InvalidArgument,
                "this session was freed (or never created)",
            )),
        },
        Err(_) => Err(error(ErrorCode::Internal, "re-entrant call")),
    })
}

fn with_session(
    handle: u32,
    f: impl FnOnce(&mut JsonSession) -> Result<String, BoundaryError>,
) -> i32 {
    finish(on_session(handle, f))
}

fn with_pair(handle: u32, f: impl FnOnce(&mut JsonPair) -> Result<String, BoundaryError>) -> i32 {
    let r = PAIRS.with(|t| match t.try_borrow_mut() {
        Ok(mut t) => match t.get(handle) {
            Some(p) => f(p),
            None => Err(error(
                ErrorCode::InvalidArgument,
                "this pair was freed (or never created)",
            )),
        },
        Err(_) => Err(error(ErrorCode::Internal, "re-entrant call")),
    });
    finish(r)
}

fn insert<T>(
    table: &'static std::thread::LocalKey<RefCell<Table<T>>>,
    value: Result<T, BoundaryError>,
) -> i32 {
    let r = value.and_then(|v| {
        table.with(|t| match t.try_borrow_mut() {
            Ok(mut t) => match t.insert(v) {
                0 => Err(error(ErrorCode::Internal, "too many objects")),
                h => Ok(h.to_string()),
            },
            Err(_) => Err(error(ErrorCode::Internal, "re-entrant call")),
        })
    });
    finish(r)
}

// ------------------------------------------------------------------------------------------------
// Memory
// ------------------------------------------------------------------------------------------------

/// Where the last result is (its length is what the call returned).
#[unsafe(no_mangle)]
pub extern "C" fn la_result_ptr() -> *const u8 {
    RESULT.with(|r| r.try_borrow().map_or(std::ptr::null(), |b| b.as_ptr()))
}

/// A buffer of at least `len` bytes for JavaScript to write the next call's arguments into, one after the
/// other; it is reused (and grown when needed) from call to call, so a call's arguments cost no allocation.
/// Valid until the next `la_scratch` (which may move it). Null if `len` cannot be had.
#[unsafe(no_mangle)]
pub extern "C" fn la_scratch(len: usize) -> *mut u8 {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                let more = len - buf.len();
                if buf.try_reserve(more).is_err() {
                    return std::ptr::null_mut();
                }
                buf.resize(len, 0);
            }
            buf.as_mut_ptr()
        }
        Err(_) => std::ptr::null_mut(),
    })
}

/// [`boundary::SCHEMA_VERSION`].
#[unsafe(no_mangle)]
pub extern "C" fn la_schema_version() -> u32 {
    boundary::SCHEMA_VERSION
}

// ------------------------------------------------------------------------------------------------
// Session
// ------------------------------------------------------------------------------------------------

/// A new session: the result is its handle.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_new(config: *const u8, config_len: usize, now_ms: f64) -> i32 {
    let s = text(config, config_len, "the configuration").and_then(|c| JsonSession::new(c, now_ms));
    insert(&SESSIONS, s)
}

/// A resumed session: the result is its handle.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_resume(
    config: *const u8,
    config_len: usize,
    snapshot: *const u8,
    snapshot_len: usize,
    now_ms: f64,
) -> i32 {
    let s = text(config, config_len, "the configuration").and_then(|c| {
        text(snapshot, snapshot_len, "the snapshot")
            .and_then(|snap| JsonSession::resume(c, snap, now_ms))
    });
    insert(&SESSIONS, s)
}

/// Frees a session (a second free is harmless).
#[unsafe(no_mangle)]
pub extern "C" fn la_session_free(handle: u32) {
    SESSIONS.with(|t| {
        if let Ok(mut t) = t.try_borrow_mut() {
            t.remove(handle);
        }
    });
}

/// The next output.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_poll_output(handle: u32, now_ms: f64) -> i32 {
    finish_with(|buf| {
        on_session(handle, |s| {
            let output = s.next_output(now_ms)?;
            write_json(buf, &output_value(&output))
        })
    })
}

/// Every output up to the next `wait`, as an array.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_drain_outputs(handle: u32, now_ms: f64) -> i32 {
    finish_with(|buf| {
        on_session(handle, |s| {
            buf.push(b'[');
            // The session reaches `Wait` after finitely many outputs; the bound only keeps a bug from
            // hanging the caller.
            for i in 0..100_000 {
                let output = s.next_output(now_ms)?;
                if i > 0 {
                    buf.push(b',');
                }
                write_json(buf, &output_value(&output))?;
                if matches!(output, Output::Wait(_)) {
                    break;
                }
            }
            buf.push(b']');
            Ok(())
        })
    })
}

/// When `handleTimeout` is next due (ms) or `null`.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_poll_timeout(handle: u32) -> i32 {
    with_session(handle, |s| {
        Ok(s.poll_timeout()
            .map_or_else(|| "null".to_owned(), |t| t.to_string()))
    })
}

/// An answer: 0 (accepted) or 1 (stale). The headers are `name NUL value NUL ...` pairs
/// (`headers_json` 0: what fetch's `Headers` hold can never contain NUL) or the boundary's JSON headers
/// (`headers_json` 1: an object or `[name, value]` pairs, for anything else).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn la_session_handle_response(
    handle: u32,
    id: f64,
    http_status: f64,
    headers: *const u8,
    headers_len: usize,
    headers_json: u32,
    body: *const u8,
    body_len: usize,
    now_ms: f64,
) -> i32 {
    verdict(on_session(handle, |s| {
        let id = request_id(id)?;
        let status = status(http_status)?;
        let headers = text(headers, headers_len, "the headers")?;
        let body = input(body, body_len);
        if headers_json != 0 {
            return s.handle_response(id, status, headers, body, now_ms);
        }
        let mut fields = headers.split('\0');
        let mut pairs = Vec::new();
        while let Some(name) = fields.next() {
            if name.is_empty() && fields.clone().next().is_none() {
                break; // the NUL after the last value
            }
            let value = fields.next().ok_or_else(|| {
                error(
                    ErrorCode::InvalidArgument,
                    "headers: a name without a value",
                )
            })?;
            pairs.push((name, value));
        }
        s.handle_response_pairs(id, status, pairs, body, now_ms)
    }))
}

/// A transport failure: 0 (accepted) or 1 (stale).
#[unsafe(no_mangle)]
pub extern "C" fn la_session_handle_transport_error(
    handle: u32,
    id: f64,
    kind: *const u8,
    kind_len: usize,
    now_ms: f64,
) -> i32 {
    verdict(on_session(handle, |s| {
        let id = request_id(id)?;
        let kind = text(kind, kind_len, "the transport error")?;
        s.handle_transport_error(id, kind, now_ms)
    }))
}

/// The time.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_handle_timeout(handle: u32, now_ms: f64) -> i32 {
    with_session(handle, |s| unit(s.handle_timeout(now_ms)))
}

/// A command as JSON: `{"commandId": n}` or `{}`.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_command(handle: u32, command: *const u8, command_len: usize) -> i32 {
    with_session(handle, |s| {
        s.command(text(command, command_len, "the command")?)
    })
}

/// A visitor text (UTF-8 bytes): its command id.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_send_message(handle: u32, msg: *const u8, msg_len: usize) -> i32 {
    with_session(handle, |s| {
        Ok(s.send_message(text(msg, msg_len, "the text")?)?.to_string())
    })
}

/// The upload request for a FileTransfer.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn la_session_upload_request(
    handle: u32,
    transfer: *const u8,
    transfer_len: usize,
    filename: *const u8,
    filename_len: usize,
    content_type: *const u8,
    content_type_len: usize,
    file: *const u8,
    file_len: usize,
) -> i32 {
    with_session(handle, |s| {
        s.upload_request(
            text(transfer, transfer_len, "the file transfer")?,
            text(filename, filename_len, "the file name")?,
            text(content_type, content_type_len, "the content type")?,
            input(file, file_len),
        )
    })
}

/// The observable state.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_status(handle: u32) -> i32 {
    with_session(handle, |s| s.status())
}

/// The snapshot, as a JSON string (it holds the session key).
#[unsafe(no_mangle)]
pub extern "C" fn la_session_snapshot(handle: u32) -> i32 {
    with_session(handle, |s| json_string(&s.snapshot()?))
}

// ------------------------------------------------------------------------------------------------
// Pair (the simulator on virtual time)
// ------------------------------------------------------------------------------------------------

/// A new pair: the result is its handle.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_new(
    config: *const u8,
    config_len: usize,
    sim: *const u8,
    sim_len: usize,
) -> i32 {
    let p = text(config, config_len, "the configuration").and_then(|c| {
        text(sim, sim_len, "the simulator configuration").and_then(|s| JsonPair::new(c, s))
    });
    insert(&PAIRS, p)
}

/// Frees a pair.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_free(handle: u32) {
    PAIRS.with(|t| {
        if let Ok(mut t) = t.try_borrow_mut() {
            t.remove(handle);
        }
    });
}

/// A visitor text: its command id.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_send_message(handle: u32, msg: *const u8, msg_len: usize) -> i32 {
    with_pair(handle, |p| {
        Ok(p.send_message(text(msg, msg_len, "the text")?)?.to_string())
    })
}

/// Ends the chat.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_end(handle: u32) -> i32 {
    with_pair(handle, |p| unit(p.end()))
}

/// Any command as JSON.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_command(handle: u32, command: *const u8, command_len: usize) -> i32 {
    with_pair(handle, |p| {
        p.command(text(command, command_len, "the command")?)
    })
}

/// Runs the chat to its end.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_run(handle: u32) -> i32 {
    with_pair(handle, |p| unit(p.run()))
}

/// Runs until an event of this type: the event or `null`.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_run_until_event(handle: u32, kind: *const u8, kind_len: usize) -> i32 {
    with_pair(handle, |p| {
        p.run_until_event(text(kind, kind_len, "the event type")?)
    })
}

/// Runs until this much virtual time has passed since the start.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_run_until_elapsed(handle: u32, elapsed_ms: f64) -> i32 {
    with_pair(handle, |p| unit(p.run_until_elapsed(elapsed_ms)))
}

/// Virtual milliseconds since the start.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_elapsed(handle: u32) -> i32 {
    with_pair(handle, |p| {
        serde_json::to_string(&p.elapsed_ms())
            .map_err(|e| error(ErrorCode::Internal, e.to_string()))
    })
}

/// Every event with its virtual time.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_events(handle: u32) -> i32 {
    with_pair(handle, |p| p.events())
}

/// The agent texts the application got.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_agent_texts(handle: u32) -> i32 {
    with_pair(handle, |p| p.agent_texts())
}

/// The transcript, as a JSON string.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_transcript(handle: u32) -> i32 {
    with_pair(handle, |p| json_string(&p.transcript()))
}

/// The delivery report.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_check_delivery(handle: u32) -> i32 {
    with_pair(handle, |p| p.check_delivery())
}

/// The session's snapshot, as a JSON string.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_snapshot(handle: u32) -> i32 {
    with_pair(handle, |p| json_string(&p.snapshot()?))
}
