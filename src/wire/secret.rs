//! The session key and affinity token: kept out of `Debug`, marked sensitive as header values.

use http::header::HeaderValue;
use serde::{Deserialize, Serialize};
use std::fmt;

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
