//! The chat host: scheme and authority, parsed strictly.

use super::BuildError;
use serde::{Deserialize, Serialize};
use std::fmt;

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
                super::error::truncate_str(host, 64)
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
                    super::error::truncate_str(port, 16)
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
