//! The liveagent session and simulator as a WebAssembly module with a plain C ABI, for `liveagent.mjs`.
//!
//! No wasm-bindgen: the JavaScript side allocates input buffers with [`la_alloc`], writes UTF-8 text or
//! bytes into them, calls an export with `(pointer, length)` pairs and frees them with [`la_free`]. Every
//! export that can fail returns the length of a JSON result `{"ok": value}` or `{"error": {"code",
//! "message"}}` left in a buffer owned here ([`la_result_ptr`]), valid until the next call. Sessions and
//! pairs live in tables here; JavaScript holds their handles (numbers) and frees them.
//!
//! All validation is `liveagent::boundary`'s (the Python package wraps the same code). This crate only moves
//! bytes, and must never panic: `wasm32-unknown-unknown` aborts on a panic (a trap in JavaScript), so every
//! bad input becomes an error result instead (no `unwrap`, no indexing, `try_borrow_mut`).
//!
//! The `unsafe` is confined to [`la_alloc`], [`la_free`] and [`input`]: turning the `(pointer, length)` pairs
//! the module's own JavaScript wrapper passes into slices.

use liveagent::boundary::{self, BoundaryError, ErrorCode, JsonPair, JsonSession};
use std::alloc::Layout;
use std::cell::RefCell;

thread_local! {
    /// The result of the last call; JavaScript reads it before making the next one.
    static RESULT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
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

/// Stores `{"ok": <json>}` or `{"error": {...}}` as the result; returns its length.
fn finish(result: Result<String, BoundaryError>) -> u32 {
    let text = match result {
        Ok(json) => {
            let mut s = String::with_capacity(json.len() + 7);
            s.push_str("{\"ok\":");
            s.push_str(&json);
            s.push('}');
            s
        }
        Err(e) => format!("{{\"error\":{}}}", e.to_json()),
    };
    let len = u32::try_from(text.len()).unwrap_or(0);
    RESULT.with(|r| match r.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            buf.extend_from_slice(text.as_bytes());
            len
        }
        Err(_) => 0,
    })
}

fn json_string(s: &str) -> Result<String, BoundaryError> {
    serde_json::to_string(s).map_err(|e| error(ErrorCode::Internal, e.to_string()))
}

fn unit(r: Result<(), BoundaryError>) -> Result<String, BoundaryError> {
    r.map(|()| "null".to_owned())
}

/// The bytes at `(ptr, len)`, written there by JavaScript into a buffer from [`la_alloc`].
fn input<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the only caller is liveagent.mjs, which passes a pointer `la_alloc` returned for at least `len`
    // bytes, fills it, and frees it only after this call returns (the slice does not outlive the call: every
    // export copies what it keeps). Wasm is single-threaded: nothing else touches the buffer meanwhile.
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

fn with_session(
    handle: u32,
    f: impl FnOnce(&mut JsonSession) -> Result<String, BoundaryError>,
) -> u32 {
    let r = SESSIONS.with(|t| match t.try_borrow_mut() {
        Ok(mut t) => match t.get(handle) {
            Some(s) => f(s),
            None => Err(error(
                ErrorCode::InvalidArgument,
                "this session was freed (or never created)",
            )),
        },
        Err(_) => Err(error(ErrorCode::Internal, "re-entrant call")),
    });
    finish(r)
}

fn with_pair(handle: u32, f: impl FnOnce(&mut JsonPair) -> Result<String, BoundaryError>) -> u32 {
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
) -> u32 {
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

/// A buffer of `len` bytes for JavaScript to write an argument into (null if `len` is 0 or too large).
#[unsafe(no_mangle)]
pub extern "C" fn la_alloc(len: usize) -> *mut u8 {
    match Layout::array::<u8>(len) {
        Ok(layout) if len > 0 => {
            // SAFETY: the layout has a non-zero size.
            unsafe { std::alloc::alloc(layout) }
        }
        _ => std::ptr::null_mut(),
    }
}

/// Frees a buffer from [`la_alloc`] (with the same length).
///
/// # Safety
/// `ptr` must come from `la_alloc(len)` and not have been freed yet (liveagent.mjs frees each buffer once).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn la_free(ptr: *mut u8, len: usize) {
    if ptr.is_null() || len == 0 {
        return;
    }
    if let Ok(layout) = Layout::array::<u8>(len) {
        // SAFETY: liveagent.mjs frees each pointer `la_alloc(len)` returned exactly once, with that `len`,
        // so the layout is the one it was allocated with.
        unsafe { std::alloc::dealloc(ptr, layout) }
    }
}

/// Where the last result is (its length is what the call returned).
#[unsafe(no_mangle)]
pub extern "C" fn la_result_ptr() -> *const u8 {
    RESULT.with(|r| r.try_borrow().map_or(std::ptr::null(), |b| b.as_ptr()))
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
pub extern "C" fn la_session_new(config: *const u8, config_len: usize, now_ms: f64) -> u32 {
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
) -> u32 {
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
pub extern "C" fn la_session_poll_output(handle: u32, now_ms: f64) -> u32 {
    with_session(handle, |s| s.poll_output(now_ms))
}

/// Every output up to the next `wait`, as an array.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_drain_outputs(handle: u32, now_ms: f64) -> u32 {
    with_session(handle, |s| s.drain_outputs(now_ms))
}

/// When `handleTimeout` is next due (ms) or `null`.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_poll_timeout(handle: u32) -> u32 {
    with_session(handle, |s| {
        Ok(s.poll_timeout()
            .map_or_else(|| "null".to_owned(), |t| t.to_string()))
    })
}

/// An answer: `"accepted"` or `"stale"`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn la_session_handle_response(
    handle: u32,
    id: f64,
    http_status: f64,
    headers: *const u8,
    headers_len: usize,
    body: *const u8,
    body_len: usize,
    now_ms: f64,
) -> u32 {
    with_session(handle, |s| {
        let id = request_id(id)?;
        let status = status(http_status)?;
        let headers = text(headers, headers_len, "the headers")?;
        let h = s.handle_response(id, status, headers, input(body, body_len), now_ms)?;
        json_string(h)
    })
}

/// A transport failure: `"accepted"` or `"stale"`.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_handle_transport_error(
    handle: u32,
    id: f64,
    kind: *const u8,
    kind_len: usize,
    now_ms: f64,
) -> u32 {
    with_session(handle, |s| {
        let id = request_id(id)?;
        let kind = text(kind, kind_len, "the transport error")?;
        json_string(s.handle_transport_error(id, kind, now_ms)?)
    })
}

/// The time.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_handle_timeout(handle: u32, now_ms: f64) -> u32 {
    with_session(handle, |s| unit(s.handle_timeout(now_ms)))
}

/// A command as JSON: `{"commandId": n}` or `{}`.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_command(handle: u32, command: *const u8, command_len: usize) -> u32 {
    with_session(handle, |s| {
        s.command(text(command, command_len, "the command")?)
    })
}

/// A visitor text (UTF-8 bytes): its command id.
#[unsafe(no_mangle)]
pub extern "C" fn la_session_send_message(handle: u32, msg: *const u8, msg_len: usize) -> u32 {
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
) -> u32 {
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
pub extern "C" fn la_session_status(handle: u32) -> u32 {
    with_session(handle, |s| s.status())
}

/// The snapshot, as a JSON string (it holds the session key).
#[unsafe(no_mangle)]
pub extern "C" fn la_session_snapshot(handle: u32) -> u32 {
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
) -> u32 {
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
pub extern "C" fn la_pair_send_message(handle: u32, msg: *const u8, msg_len: usize) -> u32 {
    with_pair(handle, |p| {
        Ok(p.send_message(text(msg, msg_len, "the text")?)?.to_string())
    })
}

/// Ends the chat.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_end(handle: u32) -> u32 {
    with_pair(handle, |p| unit(p.end()))
}

/// Any command as JSON.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_command(handle: u32, command: *const u8, command_len: usize) -> u32 {
    with_pair(handle, |p| {
        p.command(text(command, command_len, "the command")?)
    })
}

/// Runs the chat to its end.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_run(handle: u32) -> u32 {
    with_pair(handle, |p| unit(p.run()))
}

/// Runs until an event of this type: the event or `null`.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_run_until_event(handle: u32, kind: *const u8, kind_len: usize) -> u32 {
    with_pair(handle, |p| {
        p.run_until_event(text(kind, kind_len, "the event type")?)
    })
}

/// Runs until this much virtual time has passed since the start.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_run_until_elapsed(handle: u32, elapsed_ms: f64) -> u32 {
    with_pair(handle, |p| unit(p.run_until_elapsed(elapsed_ms)))
}

/// Virtual milliseconds since the start.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_elapsed(handle: u32) -> u32 {
    with_pair(handle, |p| {
        serde_json::to_string(&p.elapsed_ms())
            .map_err(|e| error(ErrorCode::Internal, e.to_string()))
    })
}

/// Every event with its virtual time.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_events(handle: u32) -> u32 {
    with_pair(handle, |p| p.events())
}

/// The agent texts the application got.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_agent_texts(handle: u32) -> u32 {
    with_pair(handle, |p| p.agent_texts())
}

/// The transcript, as a JSON string.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_transcript(handle: u32) -> u32 {
    with_pair(handle, |p| json_string(&p.transcript()))
}

/// The delivery report.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_check_delivery(handle: u32) -> u32 {
    with_pair(handle, |p| p.check_delivery())
}

/// The session's snapshot, as a JSON string.
#[unsafe(no_mangle)]
pub extern "C" fn la_pair_snapshot(handle: u32) -> u32 {
    with_pair(handle, |p| json_string(&p.snapshot()?))
}
