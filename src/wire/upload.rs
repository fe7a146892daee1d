//! The FileTransfer upload: the `multipart/form-data` POST a visitor sends to the `uploadServletUrl` of a
//! [`FileTransfer`] `Requested` message, and the servlet's answer. The decisions and their evidence are in the
//! docs of [`Upload`].

use super::error::{LogSafe, truncate_str};
use super::request::{encode_query_value, percent_decode};
use super::{Endpoint, FileTransfer, Limits, SessionKey};
use super::{RedirectPolicy, RedirectRefusal};
use http::header::{CONTENT_TYPE, HeaderValue, REFERER};
use http::{Method, Request};
use std::fmt;

/// The default cap on the file size: 25 MiB.
pub const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;

/// Longest file name sent, in bytes (after sanitising).
pub const MAX_FILENAME_BYTES: usize = 128;

/// The content type sent when none is given.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Why an upload request could not be built. `Display` never shows the chat key or the file token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadError {
    /// The FileTransfer message is not a `Requested` one (the agent cancelled, or it reports an outcome).
    NotRequested {
        /// Its `type`, if any (server text; shown escaped and bounded).
        kind: Option<String>,
    },
    /// A value the upload needs is missing or empty: `uploadServletUrl`, `fileToken`, `orgId` or `chatKey`.
    Missing {
        /// Which one.
        field: &'static str,
    },
    /// The session has no session key yet (no SessionId answer), or it has ended.
    NotConnected,
    /// `uploadServletUrl` is not an absolute `http(s)://host[:port]/path` URL without credentials.
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// The upload host is outside the session's [`RedirectPolicy`] and not one of the upload hosts the
    /// application named ([`Upload::upload_hosts`], `Config::upload_hosts`): the chat key is not sent there.
    HostRefused {
        /// The host (and port) of `uploadServletUrl`.
        host: String,
        /// Why the policy refuses it.
        refusal: RedirectRefusal,
    },
    /// The file is empty.
    EmptyFile,
    /// The file is larger than the cap.
    TooLarge {
        /// The file's size in bytes.
        len: usize,
        /// The cap.
        limit: usize,
    },
    /// The content type is not `type/subtype[; parameters]`.
    InvalidContentType,
    /// No boundary could be found that the file does not contain (cannot happen in practice).
    NoBoundary,
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::NotRequested { kind: Some(k) } => write!(
                f,
                "the FileTransfer is of type {:?}, not Requested",
                LogSafe(k).to_string()
            ),
            UploadError::NotRequested { kind: None } => {
                f.write_str("the FileTransfer has no type; only a Requested one can be answered")
            }
            UploadError::Missing { field } => write!(f, "the upload needs a non-empty {field}"),
            UploadError::NotConnected => {
                f.write_str("the session has no session key (yet or any more)")
            }
            UploadError::InvalidUrl { reason } => {
                write!(f, "invalid uploadServletUrl: {}", LogSafe(reason))
            }
            UploadError::HostRefused { host, refusal } => write!(
                f,
                "upload host {} refused by the redirect policy: {refusal}",
                LogSafe(host)
            ),
            UploadError::EmptyFile => f.write_str("the file is empty"),
            UploadError::TooLarge { len, limit } => {
                write!(
                    f,
                    "the file has {len} bytes, more than the limit of {limit}"
                )
            }
            UploadError::InvalidContentType => {
                f.write_str("the content type is not type/subtype[; parameters]")
            }
            UploadError::NoBoundary => f.write_str("no multipart boundary fits this file"),
        }
    }
}

impl std::error::Error for UploadError {}

/// The `chatKey` of an upload: the session key up to its first `!` (`<id>!<epoch ms>!<signature>`), or `None`
/// when the key has no `!` or nothing before it. Peers: LINE and Inbenta cut the key there; CARBON sends the
/// SessionId `id`, the same value.
pub fn chat_key(key: &SessionKey) -> Option<&str> {
    key.expose()
        .split_once('!')
        .map(|(id, _)| id)
        .filter(|id| !id.is_empty())
}

/// Builds the upload POST for a [`FileTransfer`] `Requested` message. Stateless: the same inputs give the
/// same request, byte for byte.
///
/// # What is sent, and why
///
/// The upload servlet is not part of the Chat REST API and is undocumented (spec §3.6, "File upload
/// servlet"). Three peers upload, and they agree on everything below except where noted:
/// the LINE bridge (`hrk623/demo-line-integration-with-liveagent`, `libs/liveagent.js`), IBM's
/// `@carbon/ai-chat` `SFServiceDesk` (design/peers.md §3.1) and Inbenta's connector
/// (`inbenta-integrations/salesforce_chatbot_template`, `MessageController::fileAction`).
///
/// * `POST {uploadServletUrl}?orgId={org}&chatKey={chatKey}&fileToken={fileToken}&encoding=UTF-8` — all three
///   put the four values in the **query** (a Java servlet's `getParameter` does not read multipart fields),
///   in this order. Values are percent-encoded (Inbenta `urlencode`s them; LINE does not, which only works
///   for values that need no escaping). A query already in `uploadServletUrl` is kept, minus every parameter
///   whose name, percent-decoded and compared without case, is one of the four (`org%49d`, `ChatKey`,
///   `file%54oken` are dropped: a servlet decodes names before it looks them up, so the session's own
///   parameters are the only ones with those names); a `#fragment` is dropped.
/// * `chatKey` is the session key up to its first `!` (LINE, Inbenta); CARBON sends the SessionId `id`,
///   which is the same value (design/peers.md §4 item 8). [`chat_key`] derives it; the full session key,
///   with its signature, never goes to the upload servlet, and no `X-LIVEAGENT-*` header is sent.
/// * Body: `multipart/form-data` with two parts, in this order: a text field `filename` holding the file
///   name (LINE and Inbenta send it; LINE puts it first, so a streaming parser knows the name before the
///   bytes), then the file in part `file` with `filename="…"` and the file's `Content-Type` (all three).
/// * `Referer: {cdmServletUrl}` when the message carried one that is an absolute `http(s)` URL (LINE).
/// * No `Accept`, no cookies, no API-version header: the servlet is not a Chat REST resource.
///
/// # What is checked before anything is built
///
/// * The message is a `Requested` FileTransfer (case-insensitive) with a non-empty `uploadServletUrl` and
///   `fileToken`.
/// * The upload URL is an absolute `http(s)://` URL without credentials, and its host is inside the
///   session's [`RedirectPolicy`] as [`RedirectPolicy::check_upload`] reads it: the chat key must never go
///   to a host the session would not follow a `SwitchServer` to, or to one the application names in
///   [`Upload::upload_hosts`] (`Config::upload_hosts`, e.g. the org's My Domain `acme.my.salesforce.com`,
///   where Inbenta's connector expects `/services/liveagent/file`). Not any `*.salesforce.com`: another
///   org's My Domain would receive the chat key and the file.
/// * The file is 1 byte to [`Upload::max_bytes`] (default [`MAX_UPLOAD_BYTES`]: the servlet's limits are an
///   open question, spec §12; 25 MiB is a generous bound chosen here, not evidence).
/// * The file name is sanitised ([`sanitize_filename`]): only its last path component is kept, control and
///   format characters, quotes, `\ / % : * ? < > |` become `_`, it is at most [`MAX_FILENAME_BYTES`] bytes
///   (keeping a short extension), and an empty result becomes `file`.
/// * The content type is `type/subtype` of RFC 9110 tokens, optionally with parameters of visible ASCII.
/// * The multipart boundary is derived from the inputs (FNV-1a of the token, name, type and bytes: the same
///   inputs always give the same request) and is re-derived until it occurs neither in the file nor in the
///   name.
///
/// # The answer
///
/// Its format is an open question (spec §12). Inbenta treats the body `Success` as success and anything else
/// as failure; the definitive outcome reaches the visitor later as a FileTransfer `Success` or `Failure`
/// message on the Messages poll. [`Session::upload_answer`](crate::Session::upload_answer) reads it
/// leniently: see [`UploadAnswer`].
///
/// `Debug` shows neither the chat key nor the file token.
///
/// ```
/// use liveagent::wire::{Endpoint, FileTransfer, Upload};
/// use liveagent::RedirectPolicy;
///
/// let configured = Endpoint::parse("https://d.la1-c1-phx.salesforceliveagent.com")?;
/// let mut transfer = FileTransfer::default();
/// transfer.kind = Some("Requested".into());
/// transfer.upload_servlet_url = Some("https://d.la1-c1-phx.salesforceliveagent.com/content/upload".into());
/// transfer.file_token = Some("a1b2c3".into());
/// let req = Upload::new(&transfer, "00D000000000001", "4eb90106-3410", "notes.txt", b"hello")
///     .content_type("text/plain")
///     .build(&RedirectPolicy::default(), &configured)?;
/// assert_eq!(req.method(), "POST");
/// assert!(req.uri().query().unwrap_or("").contains("fileToken=a1b2c3"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "an Upload does nothing until it is built"]
#[derive(Clone, Copy)]
pub struct Upload<'a> {
    transfer: &'a FileTransfer,
    org_id: &'a str,
    chat_key: &'a str,
    filename: &'a str,
    content_type: &'a str,
    file: &'a [u8],
    max_bytes: usize,
    upload_hosts: &'a [String],
}

impl fmt::Debug for Upload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("upload_servlet_url", &self.transfer.upload_servlet_url)
            .field("org_id", &self.org_id)
            .field("chat_key", &"<redacted>")
            .field("file_token", &"<redacted>")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("len", &self.file.len())
            .field("max_bytes", &self.max_bytes)
            .field("upload_hosts", &self.upload_hosts)
            .finish()
    }
}

impl<'a> Upload<'a> {
    /// An upload of `file`, named `filename` (sanitised when built), answering `transfer`, for the org
    /// `org_id` and the chat `chat_key` (see [`chat_key`]). Content type [`DEFAULT_CONTENT_TYPE`], cap
    /// [`MAX_UPLOAD_BYTES`].
    pub fn new(
        transfer: &'a FileTransfer,
        org_id: &'a str,
        chat_key: &'a str,
        filename: &'a str,
        file: &'a [u8],
    ) -> Self {
        Upload {
            transfer,
            org_id,
            chat_key,
            filename,
            content_type: DEFAULT_CONTENT_TYPE,
            file,
            max_bytes: MAX_UPLOAD_BYTES,
            upload_hosts: &[],
        }
    }

    /// Upload hosts the application trusts besides the redirect policy's trust class: hosts or `*.suffix`
    /// patterns, as in [`RedirectPolicy::AlsoAllow`] (the session passes `Config::upload_hosts`). None by
    /// default.
    pub fn upload_hosts(mut self, upload_hosts: &'a [String]) -> Self {
        self.upload_hosts = upload_hosts;
        self
    }

    /// The file's content type, e.g. `image/png` (checked when built).
    pub fn content_type(mut self, content_type: &'a str) -> Self {
        self.content_type = content_type;
        self
    }

    /// The largest file accepted, in bytes.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Checks everything and builds the request. `policy` and `configured` are the session's
    /// [`Config::redirect`](crate::Config::redirect) and [`Config::endpoint`](crate::Config::endpoint): the
    /// upload host must pass [`RedirectPolicy::check_upload`] with [`Upload::upload_hosts`].
    pub fn build(
        &self,
        policy: &RedirectPolicy,
        configured: &Endpoint,
    ) -> Result<Request<Vec<u8>>, UploadError> {
        let t = self.transfer;
        let kind = t.kind.as_deref().map(str::trim);
        if !kind.is_some_and(|k| k.eq_ignore_ascii_case("Requested")) {
            return Err(UploadError::NotRequested {
                kind: t.kind.as_deref().map(|k| truncate_str(k, 64).to_owned()),
            });
        }
        let url = non_empty(t.upload_servlet_url.as_deref(), "uploadServletUrl")?;
        let token = non_empty(t.file_token.as_deref(), "fileToken")?;
        let org_id = non_empty(Some(self.org_id), "orgId")?;
        let chat_key = non_empty(Some(self.chat_key), "chatKey")?;
        if self.file.is_empty() {
            return Err(UploadError::EmptyFile);
        }
        if self.file.len() > self.max_bytes {
            return Err(UploadError::TooLarge {
                len: self.file.len(),
                limit: self.max_bytes,
            });
        }
        let content_type = self.content_type.trim();
        if !valid_content_type(content_type) {
            return Err(UploadError::InvalidContentType);
        }
        let target = UploadUrl::parse(url)?;
        policy
            .check_upload(configured, &target.endpoint, self.upload_hosts)
            .map_err(|refusal| UploadError::HostRefused {
                host: truncate_str(target.endpoint.authority(), 128).to_owned(),
                refusal,
            })?;

        let filename = sanitize_filename(self.filename);
        let boundary = boundary_for(token, &filename, content_type, self.file)?;

        let mut pq = String::with_capacity(target.path.len() + 96);
        pq.push_str(&target.path);
        pq.push('?');
        for (i, kept) in target.kept_query.iter().enumerate() {
            if i > 0 {
                pq.push('&');
            }
            pq.push_str(kept);
        }
        if !target.kept_query.is_empty() {
            pq.push('&');
        }
        for (i, (name, value)) in [
            ("orgId", org_id),
            ("chatKey", chat_key),
            ("fileToken", token),
            ("encoding", "UTF-8"),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                pq.push('&');
            }
            pq.push_str(name);
            pq.push('=');
            encode_query_value(value, &mut pq);
        }
        let uri = target
            .endpoint
            .uri(pq, "upload")
            .map_err(|_| UploadError::InvalidUrl {
                reason: "the URL with the upload parameters does not parse".into(),
            })?;

        let mut body = Vec::with_capacity(self.file.len() + 2 * filename.len() + 320);
        let b = boundary.as_bytes();
        let line = |body: &mut Vec<u8>, parts: &[&[u8]]| {
            for p in parts {
                body.extend_from_slice(p);
            }
            body.extend_from_slice(b"\r\n");
        };
        line(&mut body, &[b"--", b]);
        line(
            &mut body,
            &[b"Content-Disposition: form-data; name=\"filename\""],
        );
        line(&mut body, &[]);
        line(&mut body, &[filename.as_bytes()]);
        line(&mut body, &[b"--", b]);
        line(
            &mut body,
            &[
                b"Content-Disposition: form-data; name=\"file\"; filename=\"",
                filename.as_bytes(),
                b"\"",
            ],
        );
        line(&mut body, &[b"Content-Type: ", content_type.as_bytes()]);
        line(&mut body, &[]);
        line(&mut body, &[self.file]);
        line(&mut body, &[b"--", b, b"--"]);

        let mut req = Request::new(body);
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        let ct = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
            .map_err(|_| UploadError::NoBoundary)?;
        h.append(CONTENT_TYPE, ct);
        if let Some(referer) = t
            .cdm_servlet_url
            .as_deref()
            .map(str::trim)
            .filter(|r| is_absolute_http(r))
            .and_then(|r| HeaderValue::from_str(r).ok())
        {
            h.append(REFERER, referer);
        }
        Ok(req)
    }
}

fn non_empty<'a>(v: Option<&'a str>, field: &'static str) -> Result<&'a str, UploadError> {
    match v.map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(UploadError::Missing { field }),
    }
}

fn is_absolute_http(s: &str) -> bool {
    let lower = |p: &str| {
        s.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    };
    (lower("https://") || lower("http://")) && s.len() <= 2048
}

/// `uploadServletUrl` taken apart.
struct UploadUrl {
    endpoint: Endpoint,
    path: String,
    /// Query pairs of the URL other than the four the upload sets, as they were written.
    kept_query: Vec<String>,
}

impl UploadUrl {
    fn parse(url: &str) -> Result<UploadUrl, UploadError> {
        let invalid = |reason: &str| UploadError::InvalidUrl {
            reason: reason.into(),
        };
        let url = url.trim();
        if url.len() > 2048 {
            return Err(invalid("longer than 2048 bytes"));
        }
        let url = url.split_once('#').map_or(url, |(u, _)| u);
        if !is_absolute_http(url) {
            return Err(invalid("not an absolute http:// or https:// URL"));
        }
        let uri: http::Uri = url.parse().map_err(|_| invalid("not a valid URL"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(invalid("not an absolute URL"));
        };
        if authority.as_str().contains('@') {
            return Err(invalid("credentials in the URL are not supported"));
        }
        let endpoint = Endpoint::parse(&format!("{scheme}://{authority}"))
            .map_err(|_| invalid("bad host or port"))?;
        let path = match uri.path() {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        let kept_query = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| !names_an_upload_parameter(p))
            .map(str::to_owned)
            .collect();
        Ok(UploadUrl {
            endpoint,
            path,
            kept_query,
        })
    }
}

/// The query parameters the upload sets itself.
const UPLOAD_PARAMETERS: [&str; 4] = ["orgId", "chatKey", "fileToken", "encoding"];

/// Whether a `name[=value]` query pair names one of [`UPLOAD_PARAMETERS`] once its name is percent-decoded
/// (`+` read as a space, as form decoding does) and compared without case: what a servlet container reads.
fn names_an_upload_parameter(pair: &str) -> bool {
    let name = pair.split_once('=').map_or(pair, |(n, _)| n);
    let decoded = percent_decode(&name.replace('+', " "));
    let decoded = decoded.trim();
    UPLOAD_PARAMETERS
        .iter()
        .any(|p| decoded.eq_ignore_ascii_case(p))
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn valid_content_type(ct: &str) -> bool {
    if ct.len() > 256 {
        return false;
    }
    let (essence, params) = ct.split_once(';').unwrap_or((ct, ""));
    let Some((ty, sub)) = essence.trim_end().split_once('/') else {
        return false;
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(is_tchar);
    token(ty) && token(sub) && params.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// Characters a file name must not carry: they would break the `Content-Disposition` quoting, name a path,
/// be percent-decoded into one by the receiver, or spoof the name on screen.
fn unsafe_in_filename(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '"' | '\\' | '/' | '%' | ':' | '*' | '?' | '<' | '>' | '|'
        )
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// The file name as the upload sends it: the last component of a `/` or `\` path, unsafe characters (control
/// and invisible format characters, `" \ / % : * ? < > |`) replaced by `_`, surrounding spaces and dots
/// trimmed, at most [`MAX_FILENAME_BYTES`] bytes (a dot-extension of up to 16 bytes is kept when the stem is
/// cut), and `file` when nothing is left.
pub fn sanitize_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| if unsafe_in_filename(c) { '_' } else { c })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c.is_whitespace() || c == '.');
    if trimmed.is_empty() {
        return "file".to_owned();
    }
    if trimmed.len() <= MAX_FILENAME_BYTES {
        return trimmed.to_owned();
    }
    let ext = trimmed
        .rfind('.')
        .and_then(|i| trimmed.get(i..))
        .filter(|e| e.len() <= 16 && e.len() > 1)
        .unwrap_or_default();
    let stem = truncate_str(trimmed, MAX_FILENAME_BYTES.saturating_sub(ext.len()));
    let stem = stem.trim_end_matches(|c: char| c.is_whitespace() || c == '.');
    format!("{stem}{ext}")
}

/// FNV-1a, 64 bits.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, _)) = needle.split_first() else {
        return true;
    };
    haystack
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == first)
        .any(|(i, _)| haystack.get(i..i.saturating_add(needle.len())) == Some(needle))
}

/// `liveagent-upload-<16 hex digits>`: a hash of the inputs, re-derived with a counter until it occurs in
/// neither the file nor its name.
fn boundary_for(
    token: &str,
    filename: &str,
    content_type: &str,
    file: &[u8],
) -> Result<String, UploadError> {
    let mut h = 0xcbf2_9ce4_8422_2325;
    for part in [
        token.as_bytes(),
        filename.as_bytes(),
        content_type.as_bytes(),
    ] {
        h = fnv1a(h, part);
        h = fnv1a(h, &[0]);
    }
    h = fnv1a(h, &(file.len() as u64).to_le_bytes());
    h = fnv1a(h, file);
    pick_boundary(h, file, filename)
}

fn candidate(h: u64, attempt: u32) -> String {
    format!("liveagent-upload-{:016x}", fnv1a(h, &attempt.to_le_bytes()))
}

fn pick_boundary(h: u64, file: &[u8], filename: &str) -> Result<String, UploadError> {
    (0u32..64)
        .map(|attempt| candidate(h, attempt))
        .find(|c| !contains(file, c.as_bytes()) && !contains(filename.as_bytes(), c.as_bytes()))
        .ok_or(UploadError::NoBoundary)
}

/// What the upload servlet answered, read leniently (its format is undocumented; spec §12).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadAnswer {
    /// 2xx and the body says so: the text `Success` (any case, optionally quoted), or JSON with
    /// `"success": true` or a `type`/`status`/`result` of `Success`.
    Success,
    /// 2xx with an empty or unrecognised body: the servlet took the request; the outcome arrives as a
    /// FileTransfer `Success` or `Failure` message on the poll.
    Accepted,
    /// Not 2xx, or a 2xx body that says it failed (text starting `Failure`/`Fail`/`Error`, or JSON with
    /// `"success": false` or a `type`/`status`/`result` of `Failure`/`Error`).
    Failed {
        /// The HTTP status.
        status: u16,
        /// The start of the body, escaped for logs and bounded, the session's key and affinity token
        /// redacted ([`Session::upload_answer`](crate::Session::upload_answer)).
        detail: String,
    },
}

impl UploadAnswer {
    /// True for [`UploadAnswer::Success`] and [`UploadAnswer::Accepted`].
    pub fn is_ok(&self) -> bool {
        !matches!(self, UploadAnswer::Failed { .. })
    }
}

impl fmt::Display for UploadAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadAnswer::Success => f.write_str("upload succeeded"),
            UploadAnswer::Accepted => f.write_str("upload accepted"),
            UploadAnswer::Failed { status, detail } if detail.is_empty() => {
                write!(f, "upload failed (HTTP {status})")
            }
            UploadAnswer::Failed { status, detail } => {
                write!(f, "upload failed (HTTP {status}): {}", LogSafe(detail))
            }
        }
    }
}

/// Reads the upload servlet's answer: never fails, see [`UploadAnswer`]. The body is held to the same cap as
/// every other answer ([`Limits::max_body_bytes`]): a longer one is [`UploadAnswer::Failed`] unread. A JSON
/// body is scanned for its four verdict fields only (nothing else is kept), so its cost stays that of one
/// parse without building a tree. Crate-private: applications read the answer with
/// [`Session::upload_answer`](crate::Session::upload_answer), which redacts the session's key and token in
/// the detail (this function does not know them).
pub(crate) fn parse_upload_answer(status: u16, body: &[u8], limits: &Limits) -> UploadAnswer {
    if body.len() > limits.max_body_bytes {
        return UploadAnswer::Failed {
            status,
            detail: format!(
                "answer of {} bytes exceeds the limit of {} (not read)",
                body.len(),
                limits.max_body_bytes
            ),
        };
    }
    let head = body.get(..body.len().min(4096)).unwrap_or_default();
    let text = String::from_utf8_lossy(head);
    let text = text.trim();
    let detail = || super::error::log_safe_string(truncate_str(text, 120));
    if !(200..300).contains(&status) {
        return UploadAnswer::Failed {
            status,
            detail: detail(),
        };
    }
    let verdict = if text.starts_with('{') {
        serde_json::from_slice::<VerdictFields>(body)
            .ok()
            .and_then(|v| {
                v.success.or_else(|| {
                    [v.kind, v.status, v.result]
                        .iter()
                        .flatten()
                        .find_map(|w| verdict_word(w))
                })
            })
    } else {
        verdict_word(text)
    };
    match verdict {
        Some(true) => UploadAnswer::Success,
        Some(false) => UploadAnswer::Failed {
            status,
            detail: detail(),
        },
        None => UploadAnswer::Accepted,
    }
}

/// `Success`/`OK` (true), a word starting `Failure`/`Fail`/`Error` (false), or neither.
fn verdict_word(w: &str) -> Option<bool> {
    let w = w.trim().trim_matches('"').trim();
    if w.eq_ignore_ascii_case("success") || w.eq_ignore_ascii_case("ok") {
        Some(true)
    } else if ["failure", "fail", "failed", "error"]
        .iter()
        .any(|f| w.get(..f.len()).is_some_and(|h| h.eq_ignore_ascii_case(f)))
    {
        Some(false)
    } else {
        None
    }
}

/// The fields of a JSON upload answer that carry a verdict: a boolean `success`, or a string `type`,
/// `status` or `result` (values of another type count as absent, every other field is skipped unread; the
/// last of repeated keys wins, as with any JSON object).
#[derive(Default)]
struct VerdictFields {
    success: Option<bool>,
    kind: Option<String>,
    status: Option<String>,
    result: Option<String>,
}

/// A JSON value read for a verdict: a boolean, a string, or anything else (skipped without keeping it).
enum Loose {
    Bool(bool),
    Str(String),
    Other,
}

impl<'de> serde::Deserialize<'de> for Loose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Loose;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Loose, E> {
                Ok(Loose::Bool(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
                Ok(Loose::Str(v.to_owned()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_unit<E>(self) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_none<E>(self) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Loose::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::Deserialize<'de> for VerdictFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = VerdictFields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<VerdictFields, A::Error> {
                let mut v = VerdictFields::default();
                while let Some(key) = a.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
                        "success" => {
                            v.success = match a.next_value::<Loose>()? {
                                Loose::Bool(b) => Some(b),
                                _ => None,
                            };
                            continue;
                        }
                        "type" => &mut v.kind,
                        "status" => &mut v.status,
                        "result" => &mut v.result,
                        _ => {
                            a.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = match a.next_value::<Loose>()? {
                        Loose::Str(s) => Some(s),
                        _ => None,
                    };
                }
                Ok(v)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT_HOST: &str = "https://d.la1-c1-phx.salesforceliveagent.com";

    fn requested(url: &str) -> FileTransfer {
        FileTransfer {
            kind: Some("Requested".into()),
            upload_servlet_url: Some(url.into()),
            file_token: Some("tok-1".into()),
            cdm_servlet_url: Some(format!("{CHAT_HOST}/cdm")),
        }
    }

    fn build(t: &FileTransfer, file: &[u8]) -> Result<Request<Vec<u8>>, UploadError> {
        let configured = Endpoint::parse(CHAT_HOST).map_err(|_| UploadError::NoBoundary)?;
        Upload::new(t, "00D000000000001", "chat-id", "a.txt", file)
            .build(&RedirectPolicy::default(), &configured)
    }

    #[test]
    fn builds_query_in_peer_order_and_percent_encodes() -> Result<(), UploadError> {
        let mut t = requested(&format!("{CHAT_HOST}/content/upload?x=1&orgId=evil#frag"));
        t.file_token = Some("a b&c".into());
        let req = build(&t, b"hi")?;
        assert_eq!(
            req.uri().query(),
            Some("x=1&orgId=00D000000000001&chatKey=chat-id&fileToken=a%20b%26c&encoding=UTF-8")
        );
        assert_eq!(req.uri().path(), "/content/upload");
        assert_eq!(
            req.headers().get(REFERER).and_then(|v| v.to_str().ok()),
            Some("https://d.la1-c1-phx.salesforceliveagent.com/cdm")
        );
        Ok(())
    }

    #[test]
    fn refuses_what_is_not_a_requested_transfer() {
        let mut t = requested(&format!("{CHAT_HOST}/up"));
        t.kind = Some("Canceled".into());
        assert!(matches!(
            build(&t, b"x"),
            Err(UploadError::NotRequested { .. })
        ));
        let mut t = requested(&format!("{CHAT_HOST}/up"));
        t.file_token = Some("  ".into());
        assert_eq!(
            build(&t, b"x").err(),
            Some(UploadError::Missing { field: "fileToken" })
        );
        let mut t = requested(&format!("{CHAT_HOST}/up"));
        t.kind = Some("requested".into());
        assert!(build(&t, b"x").is_ok());
    }

    #[test]
    fn host_outside_the_policy_gets_no_chat_key() {
        for url in [
            "https://attacker.example/upload",
            "http://d.la1-c1-phx.salesforceliveagent.com/upload",
            "https://d.la1-c1-phx.salesforceliveagent.com:8443/upload",
        ] {
            assert!(
                matches!(
                    build(&requested(url), b"x"),
                    Err(UploadError::HostRefused { .. })
                ),
                "{url}"
            );
        }
        // Not any org's host: only one the application names.
        let t = requested("https://na1.salesforce.com/services/liveagent/file");
        assert!(matches!(
            build(&t, b"x"),
            Err(UploadError::HostRefused { .. })
        ));
        let configured = Endpoint::parse(CHAT_HOST).map_err(|_| UploadError::NoBoundary);
        let named = ["na1.salesforce.com".to_owned()];
        assert!(configured.is_ok_and(|c| {
            Upload::new(&t, "o", "k", "a", b"x")
                .upload_hosts(&named)
                .build(&RedirectPolicy::default(), &c)
                .is_ok()
        }));
        assert!(matches!(
            build(&requested("https://user:pw@na1.salesforce.com/x"), b"x"),
            Err(UploadError::InvalidUrl { .. })
        ));
        assert!(matches!(
            build(&requested("/relative/upload"), b"x"),
            Err(UploadError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn size_and_content_type_are_checked() -> Result<(), UploadError> {
        let t = requested(&format!("{CHAT_HOST}/up"));
        assert_eq!(build(&t, b"").err(), Some(UploadError::EmptyFile));
        let configured = Endpoint::parse(CHAT_HOST).map_err(|_| UploadError::NoBoundary)?;
        let policy = RedirectPolicy::default();
        let r = Upload::new(&t, "o", "k", "a", b"12345")
            .max_bytes(4)
            .build(&policy, &configured);
        assert_eq!(r.err(), Some(UploadError::TooLarge { len: 5, limit: 4 }));
        for bad in [
            "text",
            "text/",
            "te xt/plain",
            "text/plain\r\nX-Evil: 1",
            "a/b; c=\u{7}",
        ] {
            let r = Upload::new(&t, "o", "k", "a", b"1")
                .content_type(bad)
                .build(&policy, &configured);
            assert_eq!(r.err(), Some(UploadError::InvalidContentType), "{bad:?}");
        }
        let ok = Upload::new(&t, "o", "k", "a", b"1")
            .content_type("text/plain; charset=utf-8")
            .build(&policy, &configured)?;
        assert!(contains(
            ok.body(),
            b"Content-Type: text/plain; charset=utf-8\r\n"
        ));
        Ok(())
    }

    #[test]
    fn filenames_are_sanitised_and_bounded() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\ada\\pic.png"), "pic.png");
        assert_eq!(sanitize_filename("a\"b\r\nc.txt"), "a_b__c.txt");
        assert_eq!(sanitize_filename("x%2F..%2Fy"), "x_2F.._2Fy");
        assert_eq!(sanitize_filename("evil\u{202E}gnp.exe"), "evil_gnp.exe");
        assert_eq!(sanitize_filename(".."), "file");
        assert_eq!(sanitize_filename(""), "file");
        assert_eq!(sanitize_filename(" .hidden. "), "hidden");
        let long = format!("{}.jpeg", "é".repeat(200));
        let s = sanitize_filename(&long);
        assert!(s.len() <= MAX_FILENAME_BYTES, "{}", s.len());
        assert!(s.ends_with(".jpeg"));
        assert!(s.chars().all(|c| c == 'é' || ".jpeg".contains(c)));
    }

    #[test]
    fn boundary_is_deterministic_and_avoids_the_file() -> Result<(), UploadError> {
        let first = boundary_for("t", "a", "b/c", b"data")?;
        assert_eq!(first, boundary_for("t", "a", "b/c", b"data")?);
        assert_ne!(first, boundary_for("t2", "a", "b/c", b"data")?);
        // A file (or name) holding a candidate gets the next one, deterministically.
        let c0 = candidate(42, 0);
        let c1 = candidate(42, 1);
        let file = format!("xx\r\n--{c0}\r\n");
        assert_eq!(pick_boundary(42, file.as_bytes(), "a")?, c1);
        assert_eq!(pick_boundary(42, b"a", &c0)?, c1);
        let both = format!("{c0}{c1}");
        assert_eq!(pick_boundary(42, both.as_bytes(), "a")?, candidate(42, 2));
        let file = b"--liveagent-upload-0000000000000000 and more";
        let b = boundary_for("t", "a", "b/c", file)?;
        assert!(!contains(file, b.as_bytes()));
        Ok(())
    }

    #[test]
    fn body_is_two_parts_filename_first() -> Result<(), UploadError> {
        let req = build(&requested(&format!("{CHAT_HOST}/up")), b"\x00\xffbytes")?;
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let boundary = ct
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap_or_default();
        assert!(boundary.starts_with("liveagent-upload-"));
        let mut expected = Vec::new();
        expected.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"filename\"\r\n\r\na.txt\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        expected.extend_from_slice(b"\x00\xffbytes");
        expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        assert_eq!(req.body(), &expected);
        assert!(req.headers().get("x-liveagent-session-key").is_none());
        Ok(())
    }

    #[test]
    fn chat_key_is_the_key_before_the_first_bang() {
        assert_eq!(chat_key(&SessionKey::new("id-1!123!sig=")), Some("id-1"));
        assert_eq!(chat_key(&SessionKey::new("nobang")), None);
        assert_eq!(chat_key(&SessionKey::new("!123")), None);
    }

    #[test]
    fn debug_and_errors_hide_the_chat_key_and_token() -> Result<(), UploadError> {
        let t = requested("https://attacker.example/upload");
        let u = Upload::new(&t, "org", "SECRETCHAT", "a", b"1");
        let dbg = format!("{u:?}");
        assert!(
            !dbg.contains("SECRETCHAT") && !dbg.contains("tok-1"),
            "{dbg}"
        );
        let configured = Endpoint::parse(CHAT_HOST).map_err(|_| UploadError::NoBoundary)?;
        let err = u.build(&RedirectPolicy::default(), &configured);
        let text = match err {
            Err(e) => e.to_string(),
            Ok(_) => String::from("built"),
        };
        assert!(
            text.contains("attacker.example") && !text.contains("SECRETCHAT"),
            "{text}"
        );
        Ok(())
    }

    #[test]
    fn answers_are_read_leniently() {
        assert_eq!(
            parse_upload_answer(200, b"Success", &Limits::default()),
            UploadAnswer::Success
        );
        assert_eq!(
            parse_upload_answer(200, b" \"success\"\n", &Limits::default()),
            UploadAnswer::Success
        );
        assert_eq!(
            parse_upload_answer(200, br#"{"success":true}"#, &Limits::default()),
            UploadAnswer::Success
        );
        assert_eq!(
            parse_upload_answer(200, br#"{"type":"Success"}"#, &Limits::default()),
            UploadAnswer::Success
        );
        assert_eq!(
            parse_upload_answer(200, b"", &Limits::default()),
            UploadAnswer::Accepted
        );
        assert_eq!(
            parse_upload_answer(204, b"", &Limits::default()),
            UploadAnswer::Accepted
        );
        assert_eq!(
            parse_upload_answer(200, b"<html>ok</html>", &Limits::default()),
            UploadAnswer::Accepted
        );
        assert!(matches!(
            parse_upload_answer(200, b"Failure: too big", &Limits::default()),
            UploadAnswer::Failed { status: 200, .. }
        ));
        assert!(matches!(
            parse_upload_answer(
                200,
                br#"{"success":false,"message":"no"}"#,
                &Limits::default()
            ),
            UploadAnswer::Failed { .. }
        ));
        let f = parse_upload_answer(400, b"bad\r\ntoken\x1b[31m", &Limits::default());
        assert!(!f.is_ok());
        let shown = f.to_string();
        assert!(
            !shown.contains('\r') && !shown.contains('\u{1b}'),
            "{shown}"
        );
    }
}
