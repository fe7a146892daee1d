//! Errors of the wire layer: building a request, decoding an answer, and the server's own error bodies.

use super::redact::redact_secrets;
use std::fmt;

/// How many bytes of a body an error keeps, so a huge or hostile body never bloats an error.
pub(crate) const SNIPPET_LEN: usize = 120;

/// A request could not be built from the values given (they would make an invalid URI or header).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The endpoint is not an `http(s)://host[:port]` URL.
    InvalidEndpoint {
        /// What was wrong with it.
        reason: String,
    },
    /// A header value contains bytes HTTP forbids (e.g. a newline). Secret values are not repeated here.
    InvalidHeader {
        /// The header name.
        header: &'static str,
    },
    /// The resulting URI did not parse.
    InvalidUri {
        /// The resource being built.
        resource: &'static str,
    },
    /// The JSON body could not be serialised (cannot happen with the crate's own types).
    Body {
        /// serde_json's message.
        reason: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidEndpoint { reason } => {
                write!(f, "invalid endpoint: {}", LogSafe(reason))
            }
            BuildError::InvalidHeader { header } => {
                write!(
                    f,
                    "value for header {header} is not a valid HTTP header value"
                )
            }
            BuildError::InvalidUri { resource } => {
                write!(f, "could not build the URI for {resource}")
            }
            BuildError::Body { reason } => {
                write!(
                    f,
                    "could not serialise the request body: {}",
                    LogSafe(reason)
                )
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// An answer could not be decoded. Says what was expected, the HTTP status, where in the JSON, and a short
/// snippet of the body (omitted for bodies that carry secrets: SessionId and ReconnectSession).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is larger than the configured limit; it was not parsed.
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Body length in bytes.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A Messages envelope holds more messages than [`Limits::max_messages`](super::Limits::max_messages); none
    /// was decoded.
    TooManyMessages {
        /// What was being decoded.
        what: &'static str,
        /// How many messages it held.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A Messages answer whose events, with those the application has not drained yet, would hold more memory
    /// than [`LimitsConfig::max_undrained_event_bytes`](crate::LimitsConfig::max_undrained_event_bytes)
    /// (estimated: each event's size and the heap it owns). Decoded, then refused whole and not acknowledged,
    /// like [`DecodeError::TooManyMessages`]: the server still holds the batch.
    EventsTooLarge {
        /// What was being decoded.
        what: &'static str,
        /// The estimate, in bytes: this answer's events and those still queued.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The status is not one this resource answers with on success; see [`ServerError`] for error bodies.
    UnexpectedStatus {
        /// What was being decoded.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        snippet: String,
    },
    /// The body is not the JSON this resource answers with.
    Json {
        /// What was being decoded.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// serde_json's description (names the field when one is missing; quotes the value when one is mistyped).
        reason: String,
        /// Body text around the problem (empty when the body may hold secrets).
        snippet: String,
    },
    /// The JSON parsed but a value makes no sense (e.g. an empty session key).
    Invalid {
        /// What was being decoded.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { what, len, limit } => {
                write!(
                    f,
                    "{what}: body of {len} bytes exceeds the limit of {limit}"
                )
            }
            DecodeError::TooManyMessages { what, len, limit } => {
                write!(f, "{what}: {len} messages exceed the limit of {limit}")
            }
            DecodeError::EventsTooLarge { what, bytes, limit } => write!(
                f,
                "{what}: its events would hold about {bytes} bytes undrained, over the limit of {limit}"
            ),
            DecodeError::UnexpectedStatus {
                what,
                status,
                snippet,
            } => write!(
                f,
                "{what}: unexpected HTTP status {status}; body starts {snippet:?}"
            ),
            DecodeError::Json {
                what,
                status,
                line,
                column,
                reason,
                snippet,
            } => {
                write!(
                    f,
                    "{what} (HTTP {status}): {} at line {line} column {column}",
                    LogSafe(reason)
                )?;
                if !snippet.is_empty() {
                    write!(f, " near {snippet:?}")?;
                }
                Ok(())
            }
            DecodeError::Invalid { what, reason } => write!(f, "{what}: {}", LogSafe(reason)),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Longest text [`LogSafe`] writes, in bytes of its output (escapes included, the `…` mark excluded).
pub const LOG_SAFE_MAX: usize = 4 * SNIPPET_LEN;

/// Writes a string that came from the network so that it is safe in a log line: control characters (CR, LF,
/// ESC, ...), Unicode direction overrides and other invisible format characters are escaped (`\n`,
/// `\u{1b}`), and the output is cut at [`LOG_SAFE_MAX`] bytes (marked with `…`), however many escapes the
/// text needs. Every `Display` of an error or end reason goes through it for server-supplied text.
#[derive(Clone, Copy)]
pub struct LogSafe<'a>(pub &'a str);

/// Characters a terminal or log viewer may act on or hide: controls and the bidi/zero-width format characters.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        let mut written = 0usize;
        for c in self.0.chars() {
            let len = if needs_escape(c) {
                c.escape_debug().len()
            } else {
                c.len_utf8()
            };
            if written.saturating_add(len) > LOG_SAFE_MAX {
                return f.write_char('…');
            }
            written = written.saturating_add(len);
            if needs_escape(c) {
                for e in c.escape_debug() {
                    f.write_char(e)?;
                }
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// `s` as [`LogSafe`] writes it (escaped, cut at [`LOG_SAFE_MAX`] bytes), as a `String`.
pub(crate) fn log_safe_string(s: &str) -> String {
    LogSafe(s).to_string()
}

/// `s` with every character [`LogSafe`] would escape escaped, without the length cut.
pub(crate) fn escape_for_log(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Cuts `s` to at most `max` bytes at a char boundary.
pub(crate) fn truncate_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A short, lossy UTF-8 view of `body` around byte `at`.
pub(crate) fn snippet_around(body: &[u8], at: usize) -> String {
    let start = at.saturating_sub(SNIPPET_LEN / 2).min(body.len());
    let end = start.saturating_add(SNIPPET_LEN).min(body.len());
    String::from_utf8_lossy(body.get(start..end).unwrap_or_default()).into_owned()
}

/// The start of `body`, lossy UTF-8, at most [`SNIPPET_LEN`] bytes.
pub(crate) fn snippet(body: &[u8]) -> String {
    snippet_around(body, 0)
}

/// Byte offset of a 1-based line/column in `body`.
pub(crate) fn offset_of(body: &[u8], line: usize, column: usize) -> usize {
    let mut cur = 1usize;
    let mut line_start = 0usize;
    for (i, b) in body.iter().enumerate() {
        if cur == line {
            break;
        }
        if *b == b'\n' {
            cur += 1;
            line_start = i + 1;
        }
    }
    line_start
        .saturating_add(column.saturating_sub(1))
        .min(body.len())
}

/// The server's answer to a request that failed: the 409 sequence case parsed into numbers, anything else
/// kept as text with its status (spec §8).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// 409 `Out of sync Ack. Expected N. Actual M` on a POST: N echoes what was sent, M is the last sequence
    /// the server accepted. Recovery: continue from M + 1 (spec §4.4).
    OutOfSync {
        /// What the client sent (N).
        expected: i64,
        /// The last sequence the server accepted (M).
        actual: i64,
    },
    /// Any other error answer.
    Status {
        /// The HTTP status.
        status: u16,
        /// The body as text, trimmed, cut to a short length, with control and invisible format characters
        /// escaped (safe to log).
        text: String,
    },
}

impl ServerError {
    /// Interprets an error answer. Never fails: what is not the 409 sequence text is kept as text.
    pub fn parse(status: u16, body: &[u8]) -> ServerError {
        let text = String::from_utf8_lossy(truncate_bytes(body, 4 * SNIPPET_LEN));
        let text = text.trim();
        if status == 409
            && let Some((expected, actual)) = parse_out_of_sync(text)
        {
            return ServerError::OutOfSync { expected, actual };
        }
        ServerError::Status {
            status,
            // Trimmed again after the cut, which can leave trailing whitespace (found by fuzzing); escaped so
            // a body's CR/LF or escape codes never reach a log line raw.
            // Escaped first, then cut, so the stored text is at most SNIPPET_LEN bytes either way.
            text: truncate_str(&escape_for_log(text), SNIPPET_LEN)
                .trim_end()
                .to_owned(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ServerError::OutOfSync { .. } => 409,
            ServerError::Status { status, .. } => *status,
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::OutOfSync { expected, actual } => write!(
                f,
                "HTTP 409: sequence out of sync (sent {expected}, server accepted up to {actual})"
            ),
            ServerError::Status { status, text } if text.is_empty() => write!(f, "HTTP {status}"),
            ServerError::Status { status, text } => write!(f, "HTTP {status}: {}", LogSafe(text)),
        }
    }
}

impl std::error::Error for ServerError {}

fn truncate_bytes(b: &[u8], max: usize) -> &[u8] {
    &b[..b.len().min(max)]
}

/// Finds `Expected <int>` and `Actual <int>` in the text (case-insensitive, any punctuation around them), and
/// requires the words "out of sync" so an unrelated 409 is never mistaken for the sequence case.
fn parse_out_of_sync(text: &str) -> Option<(i64, i64)> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("out of sync") {
        return None;
    }
    let expected = number_after(&lower, "expected")?;
    let actual = number_after(&lower, "actual")?;
    Some((expected, actual))
}

fn number_after(text: &str, word: &str) -> Option<i64> {
    let rest = &text[text.find(word)? + word.len()..];
    let rest = rest.trim_start_matches(|c: char| c == ':' || c == '=' || c.is_whitespace());
    let end = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl ServerError {
    /// Hides `secrets` in the text (the rule of `wire::redact`).
    pub(crate) fn redact(&mut self, secrets: &[&str]) {
        if let ServerError::Status { text, .. } = self {
            redact_secrets(text, secrets);
        }
    }
}

impl DecodeError {
    /// Hides `secrets` in every text this error carries (the rule of `wire::redact`).
    pub(crate) fn redact(&mut self, secrets: &[&str]) {
        match self {
            DecodeError::UnexpectedStatus { snippet, .. } => redact_secrets(snippet, secrets),
            DecodeError::Json {
                reason, snippet, ..
            } => {
                redact_secrets(reason, secrets);
                redact_secrets(snippet, secrets);
            }
            DecodeError::Invalid { reason, .. } => redact_secrets(reason, secrets),
            DecodeError::TooLarge { .. }
            | DecodeError::TooManyMessages { .. }
            | DecodeError::EventsTooLarge { .. } => {}
        }
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn server_and_decode_errors_hide_secrets_in_their_display() {
        let mut e = ServerError::parse(403, b"Forbidden: affinity tok-abc-999 not valid here");
        e.redact(&["tok-abc-999"]);
        let shown = e.to_string();
        assert!(!shown.contains("tok-abc-999"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let mut d = DecodeError::Invalid {
            what: "Messages",
            reason: "unknown token tok-abc-999".to_owned(),
        };
        d.redact(&["tok-abc-999"]);
        assert!(!d.to_string().contains("tok-abc-999"));
    }
}
