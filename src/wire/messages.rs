//! The `System/Messages` long-poll answer (spec §3.4, §5): the envelope and every message type as a typed enum.
//!
//! Decoding is two-step: the envelope is read with each `message` kept as raw JSON, then each payload is decoded
//! by its `type`. A type we do not know becomes [`Message::Unknown`] (type name and raw JSON kept); a known type
//! whose payload does not fit becomes [`Message::Invalid`] with the reason. Neither fails the batch: one odd
//! message must not make the client re-poll forever or lose the messages around it.

use super::lenient;
use super::types::{
    AvailabilityResult, Button, ChatEndReason, CustomDetail, GeoLocation, IdleTimeoutSettings,
    SensitiveDataRule, TranscriptEntry,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::raw_payload::RawPayload;

/// An agent named in typing and disconnect events. The guide documents no payload; real servers send
/// `{name, agentId}` (where `agentId` may be a UUID rather than the user id) or `{}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AgentRef {
    /// Agent display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Agent id as the server sent it.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub agent_id: Option<String>,
}

/// A chatbot footer-menu item on `ChatEstablished` (undocumented; SDK `ChatFooterMenuMessage`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FooterMenuItem {
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Value to send back when chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Bot dialog id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialog_id: Option<String>,
    /// Item id.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
}

/// `ChatEstablished` and `ChatTransferred`: the agent now serving the chat (spec §5.2.3, §5.2.7).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AgentInfo {
    /// Agent display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The agent's user id. For `ChatTransferred` the guide calls it the visitor's id; the SDK reads it as the
    /// new agent's id, and so do we (spec §10).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_id: Option<String>,
    /// Sneak Peek is on for this agent; absent means false. RXSF's `sneakPeakEnabled` is accepted.
    #[serde(
        default,
        alias = "sneakPeakEnabled",
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub sneak_peek_enabled: Option<bool>,
    /// Visitor idle-timeout settings (wire `chasitorIdleTimeout`; the guide's `chasitorIdletimeout` accepted).
    #[serde(
        default,
        alias = "chasitorIdletimeout",
        deserialize_with = "super::types::de_idle_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub chasitor_idle_timeout: Option<IdleTimeoutSettings>,
    /// Chatbot footer-menu items (undocumented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<FooterMenuItem>>,
}

/// Bot pacing hint on agent messages (undocumented; `responseDelayMilliseconds` may be `0` or `0.0`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Schedule {
    /// Suggested delay before showing the message, in milliseconds.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_delay_milliseconds: Option<f64>,
}

/// An agent-to-visitor text (spec §5.2.4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AgentMessage {
    /// Agent display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The text. Absent text decodes as the empty string.
    #[serde(default)]
    pub text: String,
    /// Agent user id (undocumented, present in real traffic).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub agent_id: Option<String>,
    /// Bot pacing hint (undocumented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

/// `ChatRequestSuccess`: the request was routed (not yet accepted) (spec §5.2.6).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatRequestSuccess {
    /// Queue position (0 under Omni-Channel routing, where it means "unknown").
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub queue_position: Option<i64>,
    /// Estimated wait in seconds (beta, v47+); `-1` when unknown.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub estimated_wait_time: Option<f64>,
    /// Visitor location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_location: Option<GeoLocation>,
    /// Page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Original referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oref: Option<String>,
    /// Post-chat page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_chat_url: Option<String>,
    /// The pre-chat details as the server recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_details: Option<Vec<CustomDetail>>,
    /// Visitor id (UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    /// Connection timeout in ms (undocumented).
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_timeout: Option<f64>,
    /// Sensitive-data rules to apply to outgoing text (undocumented here; also a message of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive_data_rules: Option<Vec<SensitiveDataRule>>,
    /// Whether the transcript is saved (undocumented).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub transcript_save_enabled: Option<bool>,
}

/// `ChatRequestFail` (spec §5.2.5). Can also arrive mid-chat when the agent goes offline.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatRequestFail {
    /// `Unavailable`, `NoPost`, `InternalFailure`, `Blocked`, ... (absent: the SDK says `Unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Post-chat page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_chat_url: Option<String>,
    /// Attached records (seen as `[]` in real traffic), raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_records: Option<serde_json::Value>,
}

/// `ChatEnded` (payload type ChatEndReason, spec §5.2.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatEnded {
    /// `agent`, `client`, `clientIdleTimeout`, `agentsUnavailable`, ... (absent: the SDK says `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ChatEndReason>,
    /// Record ids attached to the transcript. Sources disagree on the type (string, string array, array of
    /// `{fieldName, fieldValue}`), so it is kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_records: Option<serde_json::Value>,
}

/// `QueueUpdate` (spec §5.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct QueueUpdate {
    /// New queue position.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub position: Option<i64>,
    /// Estimated wait in seconds (beta); `-1` when unknown.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub estimated_wait_time: Option<f64>,
}

/// `ChasitorSessionData`: the first message after a ReconnectSession (spec §5.2.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChasitorSessionData {
    /// Queue position.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub queue_position: Option<i64>,
    /// Visitor location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_location: Option<GeoLocation>,
    /// Page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Original referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oref: Option<String>,
    /// Post-chat page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_chat_url: Option<String>,
    /// Sneak Peek on (RXSF's `sneakPeakEnabled` accepted).
    #[serde(
        default,
        alias = "sneakPeakEnabled",
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub sneak_peek_enabled: Option<bool>,
    /// The transcript so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_messages: Option<Vec<TranscriptEntry>>,
}

/// `CustomEvent` from the agent side (spec §5.2), also the body of the visitor's `Chasitor/CustomEvent`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomEvent {
    /// Event type the listener subscribes to.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Payload (a string on the wire).
    #[serde(default, deserialize_with = "de_string_lenient")]
    pub data: String,
}

impl CustomEvent {
    /// A custom event of type `kind` carrying `data`.
    pub fn new(kind: impl Into<String>, data: impl Into<String>) -> CustomEvent {
        CustomEvent {
            kind: kind.into(),
            data: data.into(),
        }
    }
}

fn de_string_lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(lenient::opt_string(d)?.unwrap_or_default())
}

/// `FileTransfer`: the agent asks for a file, cancels, or reports the outcome (undocumented; SDK, GO1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FileTransfer {
    /// `Requested`, `Canceled`, `Success` or `Failure`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Where to upload the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_servlet_url: Option<String>,
    /// Token to pass with the upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_token: Option<String>,
    /// Content-delivery servlet URL (sent as the upload's Referer by some clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdm_servlet_url: Option<String>,
}

/// One choice of a chatbot [`RichMessage`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RichItem {
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `RichMessage`: chatbot menus and buttons (undocumented; SDK). Inner types other than `ChatWindowMenu` and
/// `ChatWindowButton` keep their whole payload in `raw`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RichMessage {
    /// `ChatWindowMenu`, `ChatWindowButton`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Menu header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The choices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<RichItem>,
}

/// `ChatResumedAfterTransfer` (undocumented; SDK).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatResumedAfterTransfer {
    /// Agent display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Show the agent's rich avatar.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub show_rich_avatar: Option<bool>,
    /// The transfer failed and the chat resumed with the previous agent.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_transfer_failure: Option<bool>,
}

/// `ReconnectSession` answer (spec §6.5): a new affinity token after a 503.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReconnectSession {
    /// Reset `X-LIVEAGENT-SEQUENCE` for the next request. **Absent means true** (SDK; spec §9.10).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub reset_sequence: Option<bool>,
    /// The new affinity token (secret: never printed by `Debug`).
    #[serde(default)]
    pub affinity_token: String,
}

impl ReconnectSession {
    /// `resetSequence` with its documented default (true).
    pub fn resets_sequence(&self) -> bool {
        self.reset_sequence.unwrap_or(true)
    }
}

impl std::fmt::Debug for ReconnectSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectSession")
            .field("reset_sequence", &self.reset_sequence)
            .field("affinity_token", &"<redacted>")
            .finish()
    }
}

/// `SwitchServer`: later requests go to another host (spec §6.6).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SwitchServer {
    /// The org's new Chat API endpoint, e.g. `https://pool.salesforceliveagent.com/chat`.
    #[serde(default)]
    pub new_url: String,
}

/// `AsyncResult`: outcome of an asynchronous server operation (undocumented; SDK).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AsyncResult {
    /// Whether it succeeded.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_success: Option<bool>,
    /// Error text when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `Availability` answer (spec §6.3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Availability {
    /// One result per requested id.
    #[serde(default)]
    pub results: Vec<AvailabilityResult>,
}

/// `Settings` answer (spec §6.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Settings {
    /// How often the visitor must ping (units undocumented; probably ms). The table's `pingrate` is accepted.
    #[serde(
        default,
        alias = "pingrate",
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub ping_rate: Option<f64>,
    /// Content server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_server_url: Option<String>,
    /// The requested buttons (RXSF's `button` is accepted).
    #[serde(default, alias = "button")]
    pub buttons: Vec<Button>,
}

/// `VisitorId` answer (spec §6.4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct VisitorId {
    /// The visitor tracking session id.
    #[serde(default)]
    pub session_id: String,
}

/// The idle-timeout warning state (`ChasitorIdleTimeoutWarningEvent`, spec §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum IdleWarning {
    /// The warning is shown.
    Triggered,
    /// The warning was cleared by visitor activity.
    Cleared,
}

/// `ChasitorIdleTimeoutWarningEvent` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdleTimeoutWarningEvent {
    /// `triggered` or `cleared`.
    pub idle_timeout_warning_event: IdleWarning,
}

/// `SensitiveDataRules` (spec §6.9).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SensitiveDataRules {
    /// The rules.
    #[serde(default)]
    pub sensitive_data_rules: Vec<SensitiveDataRule>,
}

/// `NewVisitorBreadcrumb`: the page the visitor is on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Breadcrumb {
    /// Page URL.
    #[serde(default)]
    pub location: String,
}

/// Which top-level field of an object payload made decoding it fail with `error`: serde_json names a field
/// only when it is missing, not when its value has the wrong type, but it says where it stopped. The field is
/// the first (in the text) whose value ends at or after that point. One scan of the payload's top level
/// (values kept as borrowed raw text, nothing nested is built), so a hostile payload with many large fields
/// costs no more than another parse of it.
fn culprit_field(payload: &str, error: &serde_json::Error) -> Option<String> {
    if error.line() == 0 || error.to_string().starts_with("missing field") {
        return None;
    }
    let at =
        super::error::offset_of(payload.as_bytes(), error.line(), error.column()).saturating_sub(1);
    let fields = serde_json::from_str::<
        std::collections::HashMap<std::borrow::Cow<'_, str>, &RawValue>,
    >(payload)
    .ok()?;
    let base = payload.as_ptr() as usize;
    fields
        .into_iter()
        .filter_map(|(name, value)| {
            let start = (value.get().as_ptr() as usize).checked_sub(base)?;
            let end = start.checked_add(value.get().len())?;
            (end >= at).then_some((start, name))
        })
        .min_by_key(|(start, _)| *start)
        .map(|(_, name)| name.into_owned())
}

/// The four whitespace characters JSON allows between tokens (RFC 8259 §2).
const JSON_WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

macro_rules! message_enum {
    ($( $(#[$doc:meta])* $variant:ident($payload:ty) = $name:literal, )*) => {
        /// One message of a Messages batch, typed by its `type` (spec §5.2, §5.3).
        ///
        /// `Debug` of [`Message::Unknown`] and [`Message::Invalid`] redacts secret-bearing fields of the raw
        /// payload (`affinityToken`, `key`, `sessionKey`, at any depth): an undecodable ReconnectSession still
        /// holds its token.
        #[derive(Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Message {
            $( $(#[$doc])* $variant($payload), )*
            /// A `type` this crate does not know: kept whole, never an error.
            Unknown {
                /// The `type` string.
                kind: String,
                /// The `message` payload as sent, as JSON text.
                raw: RawPayload,
            },
            /// A known `type` whose payload did not decode; the reason says which field and why.
            Invalid {
                /// The `type` string.
                kind: String,
                /// The `message` payload as sent, as JSON text.
                raw: RawPayload,
                /// What was wrong.
                error: String,
            },
        }

        impl std::fmt::Debug for Message {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $( Message::$variant(p) => f.debug_tuple(stringify!($variant)).field(p).finish(), )*
                    Message::Unknown { kind, raw } => f
                        .debug_struct("Unknown")
                        .field("kind", kind)
                        .field("raw", raw)
                        .finish(),
                    Message::Invalid { kind, raw, error } => f
                        .debug_struct("Invalid")
                        .field("kind", kind)
                        .field("raw", raw)
                        .field("error", error)
                        .finish(),
                }
            }
        }

        /// Every message `type` with a typed variant, in declaration order.
        pub const KNOWN_MESSAGE_TYPES: &[&str] = &[$($name),*];

        impl Message {
            /// The wire `type` string.
            pub fn kind(&self) -> &str {
                match self {
                    $( Message::$variant(_) => $name, )*
                    Message::Unknown { kind, .. } | Message::Invalid { kind, .. } => kind,
                }
            }

            /// Decodes one payload by its type. Unknown types and undecodable payloads are kept, not refused
            /// (a payload that is not JSON at all is kept as a JSON string holding it).
            pub fn decode(kind: &str, payload: &str) -> Message {
                Message::decode_checked(kind, payload, None)
            }

            /// [`Message::decode`] of a payload the parser has already checked (`raw`, whose text is
            /// `payload`): kept as it is, without checking it again.
            fn decode_checked(kind: &str, payload: &str, raw: Option<&RawValue>) -> Message {
                // `null` (with any JSON whitespace around it) means no payload, read like `{}`, as the
                // envelope reads `"message": null`; otherwise a typed payload that is `null` would decode
                // Invalid, re-serialise as `"message": null` and decode typed the second time (found by
                // fuzzing).
                let (payload, raw) = if payload.trim_matches(JSON_WHITESPACE) == "null" {
                    ("{}", None)
                } else {
                    (payload, raw)
                };
                let keep = || raw.map_or_else(|| RawPayload::new(payload), RawPayload::from_raw);
                fn typed<T: DeserializeOwned>(
                    kind: &str,
                    payload: &str,
                    keep: impl FnOnce() -> RawPayload,
                    f: fn(T) -> Message,
                ) -> Message {
                    match serde_json::from_str::<T>(payload) {
                        Ok(v) => f(v),
                        Err(e) => {
                            // Duplicate keys are refused by the typed decoder but legal JSON: read them as
                            // every JSON parser does (the last one wins) rather than call the payload invalid.
                            // (A transient tree: what is kept is the text.)
                            if let Ok(value) = serde_json::from_str::<serde_json::Value>(payload)
                                && let Ok(v) = T::deserialize(&value)
                            {
                                return f(v);
                            }
                            let raw = keep();
                            let error = match culprit_field(payload, &e) {
                                Some(field) => format!("field `{field}`: {e}"),
                                None => e.to_string(),
                            };
                            // serde quotes the offending value (`unknown variant `...``) raw and whole: the
                            // reason is escaped and bounded like every other text from the server.
                            let error = crate::wire::error::log_safe_string(&error);
                            Message::Invalid { kind: kind.to_owned(), raw, error }
                        }
                    }
                }
                match kind {
                    $( $name => typed::<$payload>(kind, payload, keep, Message::$variant), )*
                    _ => Message::Unknown {
                        kind: kind.to_owned(),
                        raw: keep(),
                    },
                }
            }

            /// The one-pass decoder's payload step: the payload read straight from the envelope's deserializer
            /// into the type `kind` names (one dispatch, no intermediate text or `Value`), pushed onto the
            /// batch (built in place rather than moved through each layer). `null` and unknown
            /// types go through [`RawMessage::decode`], exactly as the two-step path reads them. An error here
            /// makes [`parse_envelope_fast`] give up, and the caller decodes the body the two-step way.
            fn deserialize_payload<'de, D: serde::Deserializer<'de>>(
                kind: &str,
                d: D,
                out: &mut Vec<Message>,
            ) -> Result<(), D::Error> {
                match kind {
                    $( $name => out.push(match Option::<$payload>::deserialize(d)? {
                        Some(p) => Message::$variant(p),
                        None => RawMessage::decode_parts(kind, None),
                    }), )*
                    _ => {
                        let raw = <&'de RawValue>::deserialize(d)?;
                        out.push(RawMessage::decode_parts(kind, Some(raw)));
                    }
                }
                Ok(())
            }

            /// The payload as a JSON value (what goes under `message` on the wire).
            pub fn payload_json(&self) -> serde_json::Value {
                match self {
                    $( Message::$variant(p) => serde_json::to_value(p).unwrap_or(serde_json::Value::Null), )*
                    Message::Unknown { raw, .. } | Message::Invalid { raw, .. } => raw.to_value(),
                }
            }
        }

        impl Serialize for Message {
            /// `{"type": ..., "message": {...}}`, the payload written straight from its typed fields (in
            /// declaration order), never through an intermediate `Value`.
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("Message", 2)?;
                st.serialize_field("type", self.kind())?;
                match self {
                    $( Message::$variant(p) => st.serialize_field("message", p)?, )*
                    Message::Unknown { raw, .. } | Message::Invalid { raw, .. } => {
                        st.serialize_field("message", raw)?
                    }
                }
                st.end()
            }
        }
    };
}

message_enum! {
    /// The agent got disconnected; the chat is still alive and another agent may pick it up.
    AgentDisconnect(AgentRef) = "AgentDisconnect",
    /// The agent stopped typing.
    AgentNotTyping(AgentRef) = "AgentNotTyping",
    /// The agent is typing.
    AgentTyping(AgentRef) = "AgentTyping",
    /// Session data restored after a ReconnectSession (boxed: it is rare and the largest payload, and every
    /// `Message` would otherwise be as large).
    ChasitorSessionData(Box<ChasitorSessionData>) = "ChasitorSessionData",
    /// The chat ended.
    ChatEnded(ChatEnded) = "ChatEnded",
    /// An agent accepted the chat.
    ChatEstablished(AgentInfo) = "ChatEstablished",
    /// A text from the agent.
    ChatMessage(AgentMessage) = "ChatMessage",
    /// The chat request failed (or, mid-chat, the agent went offline).
    ChatRequestFail(ChatRequestFail) = "ChatRequestFail",
    /// The request was routed; wait for ChatEstablished (boxed: once per chat and 352 bytes, which every
    /// `Message` and `Event` would otherwise be).
    ChatRequestSuccess(Box<ChatRequestSuccess>) = "ChatRequestSuccess",
    /// The chat moved to another agent.
    ChatTransferred(AgentInfo) = "ChatTransferred",
    /// An agent-side custom event.
    CustomEvent(CustomEvent) = "CustomEvent",
    /// The page the visitor is viewing.
    NewVisitorBreadcrumb(Breadcrumb) = "NewVisitorBreadcrumb",
    /// The queue position changed.
    QueueUpdate(QueueUpdate) = "QueueUpdate",
    /// Sensitive-data rules to apply.
    SensitiveDataRules(SensitiveDataRules) = "SensitiveDataRules",
    /// A new affinity token (normally the ReconnectSession answer).
    ReconnectSession(ReconnectSession) = "ReconnectSession",
    /// Move to another host.
    SwitchServer(SwitchServer) = "SwitchServer",
    /// Availability results (normally the Visitor/Availability answer).
    Availability(Availability) = "Availability",
    /// Deployment settings (normally the Visitor/Settings answer).
    Settings(Settings) = "Settings",
    /// Visitor tracking id (normally the Visitor/VisitorId answer).
    VisitorId(VisitorId) = "VisitorId",
    /// Outcome of an asynchronous operation.
    AsyncResult(AsyncResult) = "AsyncResult",
    /// File transfer request or outcome.
    FileTransfer(FileTransfer) = "FileTransfer",
    /// A transfer to another button or queue (e.g. bot to human) started.
    TransferToButtonInitiated(serde_json::Map<String, serde_json::Value>) = "TransferToButtonInitiated",
    /// The chat resumed after a transfer.
    ChatResumedAfterTransfer(ChatResumedAfterTransfer) = "ChatResumedAfterTransfer",
    /// Another agent joined a conference.
    AgentJoinedConference(AgentRef) = "AgentJoinedConference",
    /// An agent left a conference.
    AgentLeftConference(AgentRef) = "AgentLeftConference",
    /// Chatbot rich content (menus, buttons).
    RichMessage(RichMessage) = "RichMessage",
    /// The visitor idle-timeout warning was triggered or cleared.
    IdleTimeoutWarning(IdleTimeoutWarningEvent) = "ChasitorIdleTimeoutWarningEvent",
}

impl Message {
    /// The heap memory this message owns, estimated from its `Serialize` form (`footprint`): what it pins
    /// while it waits in the session's event queue.
    pub(crate) fn heap_bytes(&self) -> usize {
        // `Serialize` writes `type` too: the kind's own text for the two fallbacks, a constant for the rest.
        let counted = super::footprint::heap_bytes(self);
        match self {
            Message::Unknown { .. } => counted,
            Message::Invalid { error, .. } => counted.saturating_add(error.len()),
            typed => {
                let boxed = match typed {
                    Message::ChasitorSessionData(_) => std::mem::size_of::<ChasitorSessionData>(),
                    Message::ChatRequestSuccess(_) => std::mem::size_of::<ChatRequestSuccess>(),
                    _ => 0,
                };
                counted
                    .saturating_sub(typed.kind().len())
                    .saturating_add(boxed)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawMessage::deserialize(d)?;
        Ok(raw.decode())
    }
}

/// One `{type, message}` element with the payload still raw: the first decoding step.
#[derive(Deserialize)]
pub(crate) struct RawMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
}

impl RawMessage<'_> {
    pub(crate) fn decode(&self) -> Message {
        RawMessage::decode_parts(&self.kind, self.message)
    }

    /// An absent `message` is read like `{}`, and so is `null` (by [`Message::decode`]).
    fn decode_parts(kind: &str, message: Option<&RawValue>) -> Message {
        match message {
            Some(raw) => Message::decode_checked(kind, raw.get(), Some(raw)),
            None => Message::decode_checked(kind, "{}", None),
        }
    }
}

/// The envelope of a 200 Messages answer (spec §5.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct MessagesBody {
    /// The batch, in server order.
    pub messages: Vec<Message>,
    /// Batch sequence: echo it as `ack` on the next poll. Absent on some non-poll envelopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    /// Reconnect offset; only present when the batch has messages, and not always then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    pub(crate) messages: Option<Vec<RawMessage<'a>>>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub(crate) sequence: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub(crate) offset: Option<i64>,
}

impl RawEnvelope<'_> {
    pub(crate) fn into_body(self) -> MessagesBody {
        MessagesBody {
            messages: self
                .messages
                .unwrap_or_default()
                .iter()
                .map(RawMessage::decode)
                .collect(),
            sequence: self.sequence,
            offset: self.offset,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// One-pass decode (the fast path of `parse_messages` and `parse_envelope`)
//
// The two-step decode above reads the body twice: once to find each payload's extent (`RawValue`), once to
// decode it. It is what makes a batch lenient: a payload that does not fit its type becomes `Invalid` and the
// messages around it survive, which a single streaming pass cannot do (a serde error ends the whole parse).
// So the body is first decoded in one pass, each payload straight into its type once `type` is known; only
// when that fails anywhere (a payload that does not fit, a duplicate key, bad JSON) is it decoded again the
// two-step way, whose answer is then the answer. The one-pass decoder accepts a body only where every
// payload decodes with the very deserializer calls the two-step path makes on the same bytes, so both give
// the same `MessagesBody` (a proptest and the fuzz target check it). A body that makes the fast path fail
// costs one extra parse, never more.

/// Decodes a Messages envelope in one pass; `None` when any part of it needs the two-step decoder, including
/// a batch of more than `max_messages` (the two-step decoder refuses it; this one stops at the first extra).
pub(crate) fn parse_envelope_fast(body: &[u8], max_messages: usize) -> Option<MessagesBody> {
    use serde::de::DeserializeSeed;
    // UTF-8 checked once for the whole body, not string by string (a body that is not UTF-8 is left to the
    // two-step decoder, which reports where).
    let text = std::str::from_utf8(body).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let body = FastEnvelope { max_messages }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(body)
}

/// The envelope, decoded in one pass: the fields, leniency and duplicate-key refusal of [`RawEnvelope`].
struct FastEnvelope {
    max_messages: usize,
}

/// An `Option<i64>` read by [`lenient::opt_i64`].
struct LenientI64(Option<i64>);

impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::opt_i64(d).map(LenientI64)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for FastEnvelope {
    type Value = MessagesBody;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<MessagesBody, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FastEnvelope {
    type Value = MessagesBody;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct RawEnvelope")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<MessagesBody, A::Error> {
        use serde::de::Error;
        let mut messages: Option<Option<Vec<Message>>> = None;
        let (mut sequence, mut offset) = (None, None);
        while let Some(key) = map.next_key::<EnvelopeKey>()? {
            match key {
                EnvelopeKey::Messages => {
                    if messages.is_some() {
                        return Err(A::Error::duplicate_field("messages"));
                    }
                    messages = Some(map.next_value_seed(FastMessages {
                        max: self.max_messages,
                    })?);
                }
                EnvelopeKey::Sequence => {
                    if sequence.is_some() {
                        return Err(A::Error::duplicate_field("sequence"));
                    }
                    sequence = Some(map.next_value::<LenientI64>()?.0);
                }
                EnvelopeKey::Offset => {
                    if offset.is_some() {
                        return Err(A::Error::duplicate_field("offset"));
                    }
                    offset = Some(map.next_value::<LenientI64>()?.0);
                }
                EnvelopeKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(MessagesBody {
            messages: messages.flatten().unwrap_or_default(),
            sequence: sequence.flatten(),
            offset: offset.flatten(),
        })
    }
}

/// The keys of the envelope ([`RawEnvelope`]'s fields; anything else is ignored, as there).
enum EnvelopeKey {
    Messages,
    Sequence,
    Offset,
    Other,
}

impl<'de> Deserialize<'de> for EnvelopeKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key;
        impl serde::de::Visitor<'_> for Key {
            type Value = EnvelopeKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EnvelopeKey, E> {
                Ok(match v {
                    "messages" => EnvelopeKey::Messages,
                    "sequence" => EnvelopeKey::Sequence,
                    "offset" => EnvelopeKey::Offset,
                    _ => EnvelopeKey::Other,
                })
            }
        }
        d.deserialize_identifier(Key)
    }
}

/// `messages`: `null` or an array of at most `max` elements.
struct FastMessages {
    max: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for FastMessages {
    type Value = Option<Vec<Message>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FastMessages {
    type Value = Option<Vec<Message>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a sequence of messages")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while seq.next_element_seed(Element(&mut out))?.is_some() {
            if out.len() > self.max {
                return Err(serde::de::Error::custom("too many messages"));
            }
        }
        Ok(Some(out))
    }
}

/// One `{type, message}` element decoded in one pass and pushed onto the batch: the payload goes straight into
/// its type when `type` came first (as servers send it); a `message` before its `type` is kept raw and decoded
/// at the end.
struct Element<'v>(&'v mut Vec<Message>);

/// The keys of a message element ([`RawMessage`]'s fields; anything else is ignored, as there).
enum ElementKey {
    Type,
    Message,
    Other,
}

impl<'de> Deserialize<'de> for ElementKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key;
        impl serde::de::Visitor<'_> for Key {
            type Value = ElementKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ElementKey, E> {
                Ok(match v {
                    "type" => ElementKey::Type,
                    "message" => ElementKey::Message,
                    _ => ElementKey::Other,
                })
            }
        }
        d.deserialize_identifier(Key)
    }
}

/// The `type` string, borrowed from the body unless it holds escapes (as `#[serde(borrow)]` reads a `Cow`).
struct KindStr<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for KindStr<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Str;
        impl<'de> serde::de::Visitor<'de> for Str {
            type Value = KindStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<KindStr<'de>, E> {
                Ok(KindStr(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<KindStr<'de>, E> {
                Ok(KindStr(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(Str)
    }
}

/// Decodes the payload by the `type` already read, onto the batch.
struct PayloadSeed<'k, 'v> {
    kind: &'k str,
    out: &'v mut Vec<Message>,
}

impl<'de> serde::de::DeserializeSeed<'de> for PayloadSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        Message::deserialize_payload(self.kind, d, self.out)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Element<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Element<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct RawMessage")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error;
        let mut kind: Option<KindStr<'de>> = None;
        let mut decoded = false;
        let mut raw: Option<&'de RawValue> = None;
        while let Some(key) = map.next_key::<ElementKey>()? {
            match key {
                ElementKey::Type => {
                    if kind.is_some() {
                        return Err(A::Error::duplicate_field("type"));
                    }
                    kind = Some(map.next_value()?);
                }
                ElementKey::Message => {
                    if decoded || raw.is_some() {
                        return Err(A::Error::duplicate_field("message"));
                    }
                    match &kind {
                        Some(k) => {
                            map.next_value_seed(PayloadSeed {
                                kind: &k.0,
                                out: &mut *self.0,
                            })?;
                            decoded = true;
                        }
                        None => raw = Some(map.next_value()?),
                    }
                }
                ElementKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let kind = kind.ok_or_else(|| A::Error::missing_field("type"))?;
        if !decoded {
            self.0.push(RawMessage::decode_parts(&kind.0, raw));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
