//! Data types shared by several resources (spec §7): GeoLocation, CustomDetail, Entity, Button, Result,
//! SensitiveDataRule, TranscriptEntry, the idle-timeout settings.
//!
//! Every field the server sends is optional here, even where the guide marks it required: a missing field must
//! never turn a whole batch of messages into an error. Unknown fields are ignored (no `deny_unknown_fields`).

use super::lenient;
use serde::{Deserialize, Serialize};

/// Where the visitor is, derived by the server from the request IP (spec §7.5).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GeoLocation {
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// Country name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    /// State or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Organisation (ISP) of the IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Latitude in degrees.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub longitude: Option<f64>,
}

/// One entry of a pre-chat entity map inside a [`CustomDetail`] (the SDK's `entityMaps`; the guide's example
/// calls the list `entityFieldMaps`, which is accepted on input).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityMap {
    /// Object to map to, e.g. `Contact` (case-sensitive).
    pub entity_name: String,
    /// Field API name, e.g. `Email` (case-sensitive).
    pub field_name: String,
    /// Whether the field may be fast-filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_fast_fillable: Option<bool>,
    /// Whether the field is used to auto-query records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_auto_queryable: Option<bool>,
    /// Whether queries on this field need an exact match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_exact_matchable: Option<bool>,
}

/// A pre-chat detail shown to the agent and optionally saved to the transcript (spec §7.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomDetail {
    /// Label shown to the agent; entity field maps refer to details by this label.
    #[serde(default)]
    pub label: String,
    /// The value (sent as `""` when there is none, as the SDK does).
    #[serde(default, deserialize_with = "de_string_or_null")]
    pub value: String,
    /// Transcript field API names to save the value into.
    #[serde(default)]
    pub transcript_fields: Vec<String>,
    /// Show the detail to the agent.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_to_agent: Option<bool>,
    /// Entity maps. Sent as `entityMaps` (the SDK's spelling, always present, `[]` when empty);
    /// `entityFieldMaps` (the guide's example) is accepted on input.
    #[serde(default, alias = "entityFieldMaps")]
    pub entity_maps: Vec<EntityMap>,
    /// Whether to run a knowledge search with the value (sent by some bridges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_knowledge_search: Option<bool>,
}

fn de_string_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(lenient::opt_string(d)?.unwrap_or_default())
}

/// How a pre-chat field maps onto a record field of an [`Entity`] (spec §7.4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityFieldsMap {
    /// Field API name to fill or search.
    pub field_name: String,
    /// The `label` of the pre-chat detail that supplies the value.
    pub label: String,
    /// Use this field to search for matching records.
    #[serde(default)]
    pub do_find: bool,
    /// The search needs an exact match.
    #[serde(default)]
    pub is_exact_match: bool,
    /// Create the record with this field if none is found.
    #[serde(default)]
    pub do_create: bool,
}

/// A record to find or create when the chat starts (spec §7.3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entity {
    /// Object name, e.g. `Contact` or `Case` (case-sensitive).
    pub entity_name: String,
    /// Open the record for the agent once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_on_create: Option<bool>,
    /// Object to link this record to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_to_entity_name: Option<String>,
    /// Field on that object used for the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_to_entity_field: Option<String>,
    /// Transcript field that stores the record id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_to_transcript: Option<String>,
    /// Field mappings (`entityFieldsMaps`; RXSF's `entityFieldsMap` is accepted on input).
    #[serde(default, alias = "entityFieldsMap")]
    pub entity_fields_maps: Vec<EntityFieldsMap>,
}

/// A sensitive-data rule the visitor client should apply to outgoing text (spec §7.9).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SensitiveDataRule {
    /// Rule name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// JavaScript-syntax regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Rule record id (`0GO...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Replacement text when `actionType` is `Replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// `Replace` or `Remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
}

/// A rule reported by `SensitiveDataRuleTriggered` (spec §7.8 "Rule").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TriggeredRule {
    /// Rule record id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Rule name.
    pub name: String,
}

/// One line of the transcript carried by `ChasitorSessionData` (spec §7.10).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TranscriptEntry {
    /// `Agent`, `Chasitor` or `OperatorTransferred`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Sender name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Message body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Epoch milliseconds (typed `number` by the guide).
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<f64>,
    /// Order within the chat (typed `number` by the guide).
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sequence: Option<f64>,
}

/// The visitor idle-timeout settings of `ChatEstablished`/`ChatTransferred` (wire name `chasitorIdleTimeout`;
/// the guide's `chasitorIdletimeout` is accepted). Times are in seconds (SDK field names).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IdleTimeoutSettings {
    /// Whether the visitor idle timeout is on. Absent means off.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_enabled: Option<bool>,
    /// Seconds of visitor inactivity before the warning.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub warning_time: Option<i64>,
    /// Seconds of visitor inactivity before the chat ends.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<i64>,
}

/// Accepts the settings object, or a bare number (RXSF types the field as a number: taken as the timeout in
/// seconds, with the warning unknown), or `null`.
pub(crate) fn de_idle_timeout<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<IdleTimeoutSettings>, D::Error> {
    // A visitor over the shapes rather than an untagged enum, which would buffer the value (every key as a
    // `String`) before trying each shape; the shapes and error texts are the same.
    use serde::de::{self, Visitor};
    const WRONG: &str = "chasitorIdleTimeout: expected settings object, number or null";
    struct Shape;
    impl Shape {
        fn number<E: de::Error>(n: f64) -> Result<Option<IdleTimeoutSettings>, E> {
            if n.is_finite() && n.fract() == 0.0 {
                Ok(Some(IdleTimeoutSettings {
                    is_enabled: Some(n > 0.0),
                    warning_time: None,
                    timeout: Some(n as i64),
                }))
            } else {
                Err(E::custom(
                    "chasitorIdleTimeout: expected settings object or whole seconds",
                ))
            }
        }
    }
    impl<'de> Visitor<'de> for Shape {
        type Value = Option<IdleTimeoutSettings>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("settings object, number or null")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            IdleTimeoutSettings::deserialize(de::value::MapAccessDeserializer::new(map))
                .map(Some)
                .map_err(|_| de::Error::custom(WRONG))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            IdleTimeoutSettings::deserialize(de::value::SeqAccessDeserializer::new(seq))
                .map(Some)
                .map_err(|_| de::Error::custom(WRONG))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Shape::number(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Shape::number(v as f64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Shape::number(v)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
            Err(E::custom(WRONG))
        }
    }
    d.deserialize_any(Shape)
}

/// A chat button as returned by `Visitor/Settings` (spec §7.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Button {
    /// Button id.
    #[serde(default)]
    pub id: String,
    /// `Standard`, `Invite` or `ToAgent`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Custom chat window URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Pre-chat form URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prechat_url: Option<String>,
    /// Default language (RXSF's `langauge` is accepted).
    #[serde(default, alias = "langauge", skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Can receive new requests. **Absent means false** (spec §7.1).
    #[serde(default, deserialize_with = "de_bool_default_false")]
    pub is_available: bool,
    /// Invitation image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_image_url: Option<String>,
    /// Invitation image width in px.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub invite_image_width: Option<f64>,
    /// Invitation image height in px.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub invite_image_height: Option<f64>,
    /// `Slide`, `Fade`, `Appear` or `Custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_renderer: Option<String>,
    /// Where the invitation animation starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_start_position: Option<String>,
    /// Where the invitation animation ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_end_position: Option<String>,
    /// The invitation may be re-sent after an accept.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub has_invite_after_accept: Option<bool>,
    /// The invitation may be re-sent after a reject.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub has_invite_after_reject: Option<bool>,
    /// Seconds before the invitation auto-rejects.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub invite_reject_time: Option<f64>,
    /// Custom invitation rules, kept as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_rules: Option<serde_json::Value>,
    /// Estimated wait in seconds (beta, v47+); `-1` when unknown.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub estimated_wait_time: Option<f64>,
}

/// Absent or `null` booleans that the guide documents as "absent means false".
pub(crate) fn de_bool_default_false<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<bool, D::Error> {
    Ok(lenient::opt_bool(d)?.unwrap_or(false))
}

/// One entry of an Availability answer (spec §7.7).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AvailabilityResult {
    /// Button id or agent user id.
    #[serde(default)]
    pub id: String,
    /// Whether it can take new chats. **The server omits the key when false** (spec §6.3).
    #[serde(default, deserialize_with = "de_bool_default_false")]
    pub is_available: bool,
    /// Estimated wait in seconds (beta, v47+); `-1` when unknown.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub estimated_wait_time: Option<f64>,
}

/// Why a chat ended: the `reason` of `ChatEnd` (sent by the visitor) and of `ChatEnded` (spec §5.2.2, §6.8).
///
/// The known values are the Salesforce SDK's `ChatEndedMessage` constants (the guide lists none); any other
/// text is kept as [`ChatEndReason::Other`], so a reason the server invents is passed on, never refused.
/// Serialises as the plain string. Build one from text with `ChatEndReason::from("agent")`, which maps known
/// values to their variant (so `Other` never holds a known value when read off the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChatEndReason {
    /// `agent`: the agent ended the chat.
    Agent,
    /// `agentsUnavailable`.
    AgentsUnavailable,
    /// `agentPushTimeout`: the chat was pushed to an agent who did not accept in time.
    AgentPushTimeout,
    /// `client`: the visitor ended the chat (what [`Session::end`](crate::Session::end) sends).
    Client,
    /// `clientIdleTimeout`: the visitor was idle past `chasitorIdleTimeout` (what the session's idle timer
    /// sends).
    ClientIdleTimeout,
    /// `NoPost`.
    NoPost,
    /// `unknown` (the SDK's value when the server sends none).
    Unknown,
    /// Any other text, kept as sent.
    Other(String),
}

impl ChatEndReason {
    /// The wire text.
    pub fn as_str(&self) -> &str {
        match self {
            ChatEndReason::Agent => "agent",
            ChatEndReason::AgentsUnavailable => "agentsUnavailable",
            ChatEndReason::AgentPushTimeout => "agentPushTimeout",
            ChatEndReason::Client => "client",
            ChatEndReason::ClientIdleTimeout => "clientIdleTimeout",
            ChatEndReason::NoPost => "NoPost",
            ChatEndReason::Unknown => "unknown",
            ChatEndReason::Other(s) => s,
        }
    }
}

impl From<&str> for ChatEndReason {
    fn from(s: &str) -> Self {
        match s {
            "agent" => ChatEndReason::Agent,
            "agentsUnavailable" => ChatEndReason::AgentsUnavailable,
            "agentPushTimeout" => ChatEndReason::AgentPushTimeout,
            "client" => ChatEndReason::Client,
            "clientIdleTimeout" => ChatEndReason::ClientIdleTimeout,
            "NoPost" => ChatEndReason::NoPost,
            "unknown" => ChatEndReason::Unknown,
            other => ChatEndReason::Other(other.to_owned()),
        }
    }
}

impl From<String> for ChatEndReason {
    fn from(s: String) -> Self {
        match ChatEndReason::from(s.as_str()) {
            ChatEndReason::Other(_) => ChatEndReason::Other(s),
            known => known,
        }
    }
}

impl std::fmt::Display for ChatEndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ChatEndReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ChatEndReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ChatEndReason::from)
    }
}
