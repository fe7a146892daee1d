//! Stateless wire codecs for every resource of the Chat REST API: request builders that produce a complete
//! `http::Request` and parsers that turn an answer into typed values. Nothing here knows about sessions.
//!
//! Exact in what we send, lenient in what we accept: requests carry exactly the headers of the spec's header
//! matrix (§1.3.1, with §10's recommendations where sources disagree); parsers accept every shape seen.

mod endpoint;
mod error;
mod footprint;
mod lenient;
mod messages;
mod raw_payload;
mod redact;
mod redirect;
mod request;
mod response;
mod secret;
mod types;
mod upload;

pub use endpoint::Endpoint;
#[cfg(feature = "__testkit")]
pub(crate) use error::SNIPPET_LEN;
pub use error::{BuildError, DecodeError, LOG_SAFE_MAX, LogSafe, ServerError};
pub(crate) use footprint::heap_bytes;
pub use messages::{
    AgentInfo, AgentMessage, AgentRef, AsyncResult, Availability, Breadcrumb, ChasitorSessionData,
    ChatEnded, ChatRequestFail, ChatRequestSuccess, ChatResumedAfterTransfer, CustomEvent,
    FileTransfer, FooterMenuItem, IdleTimeoutWarningEvent, IdleWarning, KNOWN_MESSAGE_TYPES,
    Message, MessagesBody, QueueUpdate, ReconnectSession, RichItem, RichMessage, Schedule,
    SensitiveDataRules, Settings, SwitchServer, VisitorId,
};
pub use raw_payload::RawPayload;
pub(crate) use raw_payload::redacted_payload;
pub(crate) use redact::redact_secrets;
pub use redirect::{RedirectPolicy, RedirectRefusal, SALESFORCE_LIVE_AGENT_DOMAIN};
pub use request::{Api, AvailabilityQuery, ChasitorInit, Noun, RichAction, SettingsQuery};
// Only the simulator uses these two from here.
#[cfg(feature = "sim")]
pub(crate) use request::{NOUN_NAMES, percent_decode};
// Only the test kit uses these two from here (a build without it, e.g. a binding's, would warn).
#[cfg(feature = "__testkit")]
pub(crate) use request::{encode_path_segment, encode_query_value};
pub(crate) use response::check_credentials;
pub use response::{
    Limits, MessagesAnswer, SessionIdBody, parse_availability, parse_envelope, parse_messages,
    parse_reconnect_session, parse_session_id, parse_settings, parse_visitor_id,
};
pub(crate) use secret::well_formed_secret;
pub use secret::{AffinityToken, MAX_SECRET_BYTES, SessionAuth, SessionKey};
pub use types::{
    AvailabilityResult, Button, ChatEndReason, CustomDetail, Entity, EntityFieldsMap, EntityMap,
    GeoLocation, IdleTimeoutSettings, SensitiveDataRule, TranscriptEntry, TriggeredRule,
};
pub use upload::{
    DEFAULT_CONTENT_TYPE, MAX_FILENAME_BYTES, MAX_UPLOAD_BYTES, Upload, UploadAnswer, UploadError,
    chat_key, sanitize_filename,
};
// Read through `Session::upload_answer`, which redacts the session's secrets in a failure's detail.
pub(crate) use upload::parse_upload_answer;

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
