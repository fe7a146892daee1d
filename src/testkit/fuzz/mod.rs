//! The bodies of the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs` are one-line calls of these functions).
//!
//! Each target takes the raw fuzzer input, never panics on its own account, and returns a [`Finding`] (a message
//! saying which invariant broke) when the code under test violates one; only the one-line cargo-fuzz targets turn
//! a finding into the panic libFuzzer records. `tests/fuzz_regressions.rs` replays every seed and every crash
//! found through [`TARGETS`], on the stable toolchain and through the same code path, and asserts `Ok`.
//!
//! The session and simulator targets draw the crate's own input types with `Arbitrary` (derived on
//! [`Op`](crate::testkit::Op) and its parts, shaped by hand where sizes matter: see `shapes.rs`).
//!
//! | target | what it feeds | what it checks |
//! |---|---|---|
//! | [`parse_session_id`] | status + bytes to `parse_session_id` | no panic; errors never quote the body; a parsed body re-serialises and parses to the same value |
//! | [`parse_messages`] | status + bytes to `parse_messages`/`parse_envelope`; kind + payload to `Message::decode` | no panic; both parsers agree; `MessagesBody` and every `Message` re-serialise and parse to the same value |
//! | [`parse_visitor`] | status + bytes to the Settings/Availability/VisitorId/ReconnectSession parsers | no panic; the value re-serialises bare and wrapped and parses to the same value |
//! | [`parse_error`] | any status + bytes to `ServerError::parse` | no panic; status kept; text trimmed and short; `OutOfSync` only for 409; round trip |
//! | [`decode_noun`] | noun name + body to `Noun::decode`, and to the simulator as a Chasitor POST or MultiNoun | no panic; a decoded noun re-encodes (`Noun::body`) and decodes to the same value; the simulator answers |
//! | [`session_ops`](fn@session_ops) | [`Op`](crate::testkit::Op)s drawn with `Arbitrary` | every invariant of the testkit `Monitor` after every step |
//! | [`sim_session`](fn@sim_session) | a [`SimInput`]: fault plan, agent script, visitor script, dialect, answer latency, unreachable server | a `Session` against the simulator, driven by `sim::Pair`: exactly-once, in-order delivery both ways, judged by `Pair::check_delivery` from the simulator's record |
//! | [`sim_request`](fn@sim_request) | a raw request (method, path, headers, body; placeholders for a live chat's key, token, id) under a dialect, admin API on or off, to `sim::Server::handle_request` | no panic; exactly one answer per request; the report and the transcript render |
//! | [`hostile_server`](fn@hostile_server) | a chat, then answers a hostile server would send: any status, any body, SwitchServer to any URL, any `sequence`, oversized batches | the testkit `Monitor`: no request outside the redirect policy, every delivered agent message reaches the application, events per step under the caps |

/// `return Err(Finding)` with a `format!` message.
macro_rules! fail {
    ($($msg:tt)+) => {
        return Err($crate::testkit::fuzz::Finding::new(format!($($msg)+)))
    };
}

/// [`fail!`] unless the condition holds (the condition's text is the message when none is given).
macro_rules! ensure {
    ($cond:expr $(,)?) => {
        if !$cond {
            fail!("check failed: {}", stringify!($cond));
        }
    };
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            fail!($($msg)+);
        }
    };
}

/// [`fail!`] unless both values are equal; the message shows both.
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {
        ensure_eq!($left, $right, "{} == {}", stringify!($left), stringify!($right))
    };
    ($left:expr, $right:expr, $($msg:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    fail!("{}\n left:  {left:?}\n right: {right:?}", format_args!($($msg)+));
                }
            }
        }
    };
}

mod hostile_server;
mod parsers;
mod session_ops;
pub(crate) mod shapes;
mod sim_request;
mod sim_session;

pub use hostile_server::{hostile_server, hostile_server_input};
pub use parsers::{decode_noun, parse_error, parse_messages, parse_session_id, parse_visitor};
pub use session_ops::{session_ops, session_ops_input};
pub use sim_request::sim_request;
pub use sim_session::{SimInput, VisitorAct, VisitorStep, sim_session};

/// A target's entry point: takes the fuzzer's bytes, returns the invariant the code under test broke.
pub type Target = fn(&[u8]) -> Result<(), Finding>;

/// What a fuzz oracle found: which invariant the code under test broke, in words (the cargo-fuzz targets panic
/// with it, the regression tests assert there is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    message: String,
}

impl Finding {
    /// A finding saying `message`.
    pub fn new(message: impl Into<String>) -> Finding {
        Finding {
            message: message.into(),
        }
    }

    /// What broke.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Finding {}

/// Every target, by name (the names of the cargo-fuzz binaries and of the `fuzz/seeds/` folders).
pub const TARGETS: &[(&str, Target)] = &[
    ("parse_session_id", parse_session_id),
    ("parse_messages", parse_messages),
    ("parse_visitor", parse_visitor),
    ("parse_error", parse_error),
    ("decode_noun", decode_noun),
    ("session_ops", session_ops),
    ("sim_session", sim_session),
    ("hostile_server", hostile_server),
    ("sim_request", sim_request),
];
