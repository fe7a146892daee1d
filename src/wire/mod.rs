//! Stateless wire codecs for every resource of the Chat REST API: request builders that produce a complete
//! `http::Request` and parsers that turn an answer into typed values. Nothing here knows about sessions.
//!
//! Exact in what we send, lenient in what we accept: requests carry exactly the headers of the spec's header
//! matrix (§1.3.1, with §10's recommendations where sources disagree); parsers accept every shape seen.

mod error;
mod lenient;
mod messages;
mod request;
mod response;
mod types;
mod upload;

#[cfg(feature = "__testkit")]
pub(crate) use error::SNIPPET_LEN;
pub use error::{BuildError, DecodeError, LOG_SAFE_MAX, LogSafe, ServerError};
pub use messages::*;
pub use request::*;
pub use response::*;
pub use types::*;
pub use upload::{
    DEFAULT_CONTENT_TYPE, MAX_FILENAME_BYTES, MAX_UPLOAD_BYTES, Upload, UploadAnswer, UploadError,
    chat_key, parse_upload_answer, sanitize_filename,
};

use http::header::HeaderValue;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Header names (spec §1.3).
pub mod header {
    /// `X-LIVEAGENT-API-VERSION`
    pub const API_VERSION: &str = "x-liveagent-api-version";
    /// `X-LIVEAGENT-AFFINITY`
    pub const AFFINITY: &str = "x-liveagent-affinity";
    /// `X-LIVEAGENT-SESSION-KEY`
    pub const SESSION_KEY: &str = "x-liveagent-session-key";
    /// `X-LIVEAGENT-SEQUENCE`
    pub const SEQUENCE: &str = "x-liveagent-sequence";

    // The same as `HeaderName`s: building or looking up a header by `&str` parses the name every time.
    pub(crate) const API_VERSION_NAME: http::HeaderName =
        http::HeaderName::from_static(API_VERSION);
    pub(crate) const AFFINITY_NAME: http::HeaderName = http::HeaderName::from_static(AFFINITY);
    pub(crate) const SESSION_KEY_NAME: http::HeaderName =
        http::HeaderName::from_static(SESSION_KEY);
    pub(crate) const SEQUENCE_NAME: http::HeaderName = http::HeaderName::from_static(SEQUENCE);
}

/// The chat host to talk to: scheme and authority of the org's Chat API endpoint.
///
/// Accepts `https://host`, `https://host/chat/rest/` (as shown in Setup), `https://host/chat` (a SwitchServer
/// `newUrl`) or a bare `host`. The path is dropped: every resource lives under `/chat/rest/`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Endpoint {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
}

impl Endpoint {
    /// Parses an endpoint URL or host name.
    ///
    /// URL rules (RFC 3986): the scheme is case-insensitive (`HTTPS://` is `https://`) and must be followed by
    /// `//`; a port is 1–65535 (`:0`, `:99999` and a trailing `:` are refused); credentials (`user@`) are
    /// refused. A bare host means `https`.
    pub fn parse(url: &str) -> Result<Endpoint, BuildError> {
        let invalid = |reason: String| BuildError::InvalidEndpoint { reason };
        let url = url.trim();
        let (scheme, rest) = match url.find("://") {
            Some(i) => {
                let name = url.get(..i).unwrap_or_default();
                let rest = url.get(i + 3..).unwrap_or_default();
                if name.eq_ignore_ascii_case("https") {
                    (http::uri::Scheme::HTTPS, rest)
                } else if name.eq_ignore_ascii_case("http") {
                    (http::uri::Scheme::HTTP, rest)
                } else {
                    return Err(invalid("only http:// and https:// are supported".into()));
                }
            }
            None => {
                // `https:host.example` is a scheme without `//`, not the host `https` with a port.
                let head = url.split(['/', '?', '#']).next().unwrap_or_default();
                if let Some((name, _)) = head.split_once(':')
                    && (name.eq_ignore_ascii_case("https") || name.eq_ignore_ascii_case("http"))
                {
                    return Err(invalid(format!("{name}: must be followed by //")));
                }
                (http::uri::Scheme::HTTPS, url)
            }
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() {
            return Err(invalid("no host".into()));
        }
        if host.contains('@') {
            return Err(invalid("credentials in the URL are not supported".into()));
        }
        let authority = host.parse::<http::uri::Authority>().map_err(|e| {
            invalid(format!(
                "bad host {:?}: {e}",
                crate::wire::error::truncate_str(host, 64)
            ))
        })?;
        // The authority parser leaves the port unchecked: `host:`, `host:0`, `host:99999`, `host:abc`.
        let after_host = authority
            .as_str()
            .get(authority.host().len()..)
            .unwrap_or_default();
        if let Some(port) = after_host.strip_prefix(':') {
            let valid = !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
            if !valid {
                return Err(invalid(format!(
                    "port {:?} is not in 1-65535",
                    crate::wire::error::truncate_str(port, 16)
                )));
            }
        } else if !after_host.is_empty() {
            return Err(invalid("bad authority".into()));
        }
        if authority.host().is_empty() {
            return Err(invalid("no host".into()));
        }
        Ok(Endpoint { scheme, authority })
    }

    /// The explicit port, if the URL named one.
    pub fn port(&self) -> Option<u16> {
        self.authority.port_u16()
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &str {
        self.scheme.as_str()
    }

    /// Host and optional port.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// The host without port.
    pub fn host(&self) -> &str {
        self.authority.host()
    }

    /// True for `https`.
    pub fn is_tls(&self) -> bool {
        self.scheme == http::uri::Scheme::HTTPS
    }

    /// True when the host is a loopback address (`localhost`, `127.0.0.0/8`, `[::1]`).
    pub fn is_loopback(&self) -> bool {
        let host = self.host().trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<core::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }

    pub(crate) fn uri(
        &self,
        path_and_query: String,
        resource: &'static str,
    ) -> Result<http::Uri, BuildError> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(
            http::uri::PathAndQuery::try_from(path_and_query)
                .map_err(|_| BuildError::InvalidUri { resource })?,
        );
        http::Uri::from_parts(parts).map_err(|_| BuildError::InvalidUri { resource })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

impl TryFrom<String> for Endpoint {
    type Error = BuildError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Endpoint::parse(&s)
    }
}

impl From<Endpoint> for String {
    fn from(e: Endpoint) -> String {
        e.to_string()
    }
}

impl std::str::FromStr for Endpoint {
    type Err = BuildError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

/// A secret as it travels: kept as a validated header value when it is one (almost always), so building a
/// request clones a reference-counted buffer instead of re-validating and copying the text every time.
#[derive(Clone)]
enum SecretRepr {
    /// Visible ASCII: the header value (its text is the secret).
    Header(HeaderValue),
    /// Anything else, kept as text.
    Text(String),
}

impl SecretRepr {
    fn new(value: String, sensitive: bool) -> SecretRepr {
        match HeaderValue::from_str(&value) {
            Ok(mut h) if h.to_str().is_ok() => {
                h.set_sensitive(sensitive);
                SecretRepr::Header(h)
            }
            _ => SecretRepr::Text(value),
        }
    }

    fn expose(&self) -> &str {
        match self {
            SecretRepr::Header(h) => h.to_str().unwrap_or_default(),
            SecretRepr::Text(t) => t,
        }
    }

    fn header_value(&self, sensitive: bool) -> Option<HeaderValue> {
        match self {
            SecretRepr::Header(h) => Some(h.clone()),
            SecretRepr::Text(t) => HeaderValue::from_str(t).ok().map(|mut h| {
                h.set_sensitive(sensitive);
                h
            }),
        }
    }
}

/// Longest session key or affinity token accepted (real ones are well under 200 bytes).
pub const MAX_SECRET_BYTES: usize = 1024;

/// 1 to [`MAX_SECRET_BYTES`] bytes of visible ASCII.
pub(crate) fn well_formed_secret(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SECRET_BYTES && s.bytes().all(|b| b.is_ascii_graphic())
}

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident, sensitive = $sensitive:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretRepr);

        impl $name {
            /// Wraps a value received from the server.
            pub fn new(value: impl Into<String>) -> Self {
                $name(SecretRepr::new(value.into(), $sensitive))
            }
            /// The secret value, for putting on the wire. Do not log it.
            pub fn expose(&self) -> &str {
                self.0.expose()
            }
            /// True when the value is 1 to [`MAX_SECRET_BYTES`] bytes of visible ASCII (`!` to `~`: no space,
            /// no control character), the only shape the session accepts from the server or a snapshot.
            pub fn is_well_formed(&self) -> bool {
                well_formed_secret(self.expose())
            }
            /// The value as a header value, `None` if it cannot be one.
            pub(crate) fn header_value(&self) -> Option<HeaderValue> {
                self.0.header_value($sensitive)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.expose() == other.expose()
            }
        }

        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.expose().hash(state)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.expose())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map($name::new)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret!(
    /// `X-LIVEAGENT-SESSION-KEY`: secret, never printed by `Debug`.
    SessionKey,
    sensitive = true
);
secret!(
    /// `X-LIVEAGENT-AFFINITY` token: routes requests to the server holding the session; never printed by `Debug`
    /// (its header value is marked sensitive too, so `Debug` of an `http::Request` hides it).
    AffinityToken,
    sensitive = true
);

/// What a session-scoped request needs to identify itself.
#[derive(Clone, Copy)]
pub struct SessionAuth<'a> {
    /// The session key.
    pub key: &'a SessionKey,
    /// The affinity token; `None` sends the literal `null` (before SessionId, and on ReconnectSession).
    pub affinity: Option<&'a AffinityToken>,
}

impl fmt::Debug for SessionAuth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionAuth")
            .field("key", self.key)
            .field("affinity", &self.affinity)
            .finish()
    }
}
