//! Request builders, one per resource (spec §3). Each returns a complete `http::Request<Vec<u8>>`: method,
//! URI with percent-encoded query values, exactly the headers of the header matrix (§1.3.1), and a JSON body
//! with `Content-Type: application/json` for POSTs.

use super::header;
use super::messages::{CustomEvent, IdleTimeoutWarningEvent, IdleWarning};
use super::types::{ChatEndReason, CustomDetail, Entity, TriggeredRule};
use super::{AffinityToken, BuildError, Endpoint, SessionAuth};
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http::{Method, Request};
use serde::{Deserialize, Serialize};

/// The body of `Chasitor/ChasitorInit` (spec §3.2.1): every documented field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChasitorInit {
    /// Org id (`00D...`).
    pub organization_id: String,
    /// Deployment id (`572...`).
    pub deployment_id: String,
    /// Button id (`573...`).
    pub button_id: String,
    /// Direct-to-agent request: the agent's user id (`005...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// With `agent_id`: fall back to the button when the agent is unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_fallback: Option<bool>,
    /// The `id` from the SessionId answer.
    pub session_id: String,
    /// Visitor's user agent.
    pub user_agent: String,
    /// Visitor's language, e.g. `en-US`.
    pub language: String,
    /// Screen resolution, e.g. `2560x1440`.
    pub screen_resolution: String,
    /// Display name of the visitor.
    pub visitor_name: String,
    /// Pre-chat details (`[]` when none).
    #[serde(default)]
    pub prechat_details: Vec<CustomDetail>,
    /// Records to find or create (`[]` when none).
    #[serde(default)]
    pub prechat_entities: Vec<Entity>,
    /// Ordered routing targets: `buttonId`, `agentId` or `agentId_buttonId`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub button_overrides: Vec<String>,
    /// Receive `QueueUpdate` messages (and, v47+, wait estimates).
    pub receive_queue_updates: bool,
    /// The request was made "properly through a POST"; always `true` from this crate.
    pub is_post: bool,
    /// Undocumented tracking id that several clients send as `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_id: Option<String>,
}

/// A chatbot menu/button selection for the undocumented `Chasitor/RichMessage` (SDK).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RichAction {
    /// `ChatWindowMenu`, `ChatWindowButton` or `ChatWindowFooterMenu`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Index of the chosen item.
    pub index: i64,
    /// Label of the chosen item.
    pub value: String,
    /// Footer menu dialog id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialog_id: Option<String>,
}

/// A visitor-side POST: one Chasitor noun with its body. Used alone or batched in a MultiNoun.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Noun {
    /// `ChasitorInit`: the first POST of every chat.
    ChasitorInit(Box<ChasitorInit>),
    /// `ChasitorResyncState {organizationId}`: after a ReconnectSession (not sequenced).
    ChasitorResyncState {
        /// The org id.
        organization_id: String,
    },
    /// `ChasitorTyping`.
    ChasitorTyping,
    /// `ChasitorNotTyping`.
    ChasitorNotTyping,
    /// `ChasitorSneakPeek {position, text}`.
    ChasitorSneakPeek {
        /// Position of this update in the chat.
        position: i64,
        /// What the visitor is typing.
        text: String,
    },
    /// `ChatMessage {text}`.
    ChatMessage {
        /// The visitor's message.
        text: String,
    },
    /// `CustomEvent {type, data}`.
    CustomEvent(CustomEvent),
    /// `ChatEnd {reason}` (`client`, or `clientIdleTimeout` for the idle timeout).
    ChatEnd {
        /// The reason.
        reason: ChatEndReason,
    },
    /// `ChasitorIdleTimeoutWarningEvent {idleTimeoutWarningEvent}` (method and headers inferred: POST, all four).
    IdleTimeoutWarning(IdleWarning),
    /// `SensitiveDataRuleTriggered {rules}` (all four headers, as the SDK sends).
    SensitiveDataRuleTriggered {
        /// The rules that fired.
        rules: Vec<TriggeredRule>,
    },
    /// `RichMessage {actions}` (undocumented; SDK).
    RichMessage {
        /// The selections.
        actions: Vec<RichAction>,
    },
}

#[derive(Serialize, Deserialize)]
struct TextBody {
    text: String,
}
#[derive(Serialize, Deserialize)]
struct SneakPeekBody {
    #[serde(deserialize_with = "req_i64")]
    position: i64,
    text: String,
}
#[derive(Serialize, Deserialize)]
struct ReasonBody {
    reason: ChatEndReason,
}
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrgBody {
    organization_id: String,
}
#[derive(Serialize, Deserialize)]
struct RulesBody {
    rules: Vec<TriggeredRule>,
}
#[derive(Serialize, Deserialize)]
struct ActionsBody {
    actions: Vec<RichAction>,
}
#[derive(Serialize, Deserialize)]
struct Empty {}

// Borrowing twins of the bodies above, for serialising without copying the text first.
#[derive(Serialize)]
struct TextRef<'a> {
    text: &'a str,
}
#[derive(Serialize)]
struct SneakPeekRef<'a> {
    position: i64,
    text: &'a str,
}
#[derive(Serialize)]
struct ReasonRef<'a> {
    reason: &'a ChatEndReason,
}
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrgRef<'a> {
    organization_id: &'a str,
}
#[derive(Serialize)]
struct RulesRef<'a> {
    rules: &'a [TriggeredRule],
}
#[derive(Serialize)]
struct ActionsRef<'a> {
    actions: &'a [RichAction],
}

fn req_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    super::lenient::opt_i64(d)?.ok_or_else(|| serde::de::Error::custom("expected an integer"))
}

/// Every noun name, for parsing paths (the simulator's router).
#[cfg(feature = "sim")]
pub(crate) const NOUN_NAMES: &[&str] = &[
    "ChasitorInit",
    "ChasitorResyncState",
    "ChasitorTyping",
    "ChasitorNotTyping",
    "ChasitorSneakPeek",
    "ChatMessage",
    "CustomEvent",
    "ChatEnd",
    "ChasitorIdleTimeoutWarningEvent",
    "SensitiveDataRuleTriggered",
    "RichMessage",
];

impl Noun {
    /// The resource name (the last path segment).
    pub fn name(&self) -> &'static str {
        match self {
            Noun::ChasitorInit(_) => "ChasitorInit",
            Noun::ChasitorResyncState { .. } => "ChasitorResyncState",
            Noun::ChasitorTyping => "ChasitorTyping",
            Noun::ChasitorNotTyping => "ChasitorNotTyping",
            Noun::ChasitorSneakPeek { .. } => "ChasitorSneakPeek",
            Noun::ChatMessage { .. } => "ChatMessage",
            Noun::CustomEvent(_) => "CustomEvent",
            Noun::ChatEnd { .. } => "ChatEnd",
            Noun::IdleTimeoutWarning(_) => "ChasitorIdleTimeoutWarningEvent",
            Noun::SensitiveDataRuleTriggered { .. } => "SensitiveDataRuleTriggered",
            Noun::RichMessage { .. } => "RichMessage",
        }
    }

    /// Whether the request carries `X-LIVEAGENT-SEQUENCE` (spec §4.4; all but ChasitorResyncState).
    pub fn is_sequenced(&self) -> bool {
        !matches!(self, Noun::ChasitorResyncState { .. })
    }

    /// The JSON body (also the `object` of a MultiNoun entry).
    pub fn body(&self) -> Result<Vec<u8>, BuildError> {
        let r = match self {
            Noun::ChasitorInit(init) => serde_json::to_vec(init),
            Noun::ChasitorResyncState { organization_id } => {
                serde_json::to_vec(&OrgRef { organization_id })
            }
            Noun::ChasitorTyping | Noun::ChasitorNotTyping => Ok(b"{}".to_vec()),
            Noun::ChasitorSneakPeek { position, text } => serde_json::to_vec(&SneakPeekRef {
                position: *position,
                text,
            }),
            Noun::ChatMessage { text } => serde_json::to_vec(&TextRef { text }),
            Noun::CustomEvent(ev) => serde_json::to_vec(ev),
            Noun::ChatEnd { reason } => serde_json::to_vec(&ReasonRef { reason }),
            Noun::IdleTimeoutWarning(w) => serde_json::to_vec(&IdleTimeoutWarningEvent {
                idle_timeout_warning_event: *w,
            }),
            Noun::SensitiveDataRuleTriggered { rules } => serde_json::to_vec(&RulesRef { rules }),
            Noun::RichMessage { actions } => serde_json::to_vec(&ActionsRef { actions }),
        };
        r.map_err(|e| BuildError::Body {
            reason: e.to_string(),
        })
    }

    /// Decodes a noun from its name and JSON body (what a server sees). Used by the simulator.
    pub fn decode(name: &str, body: &[u8]) -> Result<Noun, serde_json::Error> {
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            &b"{}"[..]
        } else {
            body
        };
        Ok(match name {
            "ChasitorInit" => Noun::ChasitorInit(Box::new(serde_json::from_slice(body)?)),
            "ChasitorResyncState" => {
                let b: OrgBody = serde_json::from_slice(body)?;
                Noun::ChasitorResyncState {
                    organization_id: b.organization_id,
                }
            }
            "ChasitorTyping" => {
                let _: Empty = serde_json::from_slice(body)?;
                Noun::ChasitorTyping
            }
            "ChasitorNotTyping" => {
                let _: Empty = serde_json::from_slice(body)?;
                Noun::ChasitorNotTyping
            }
            "ChasitorSneakPeek" => {
                let b: SneakPeekBody = serde_json::from_slice(body)?;
                Noun::ChasitorSneakPeek {
                    position: b.position,
                    text: b.text,
                }
            }
            "ChatMessage" => Noun::ChatMessage {
                text: serde_json::from_slice::<TextBody>(body)?.text,
            },
            "CustomEvent" => Noun::CustomEvent(serde_json::from_slice(body)?),
            "ChatEnd" => Noun::ChatEnd {
                reason: serde_json::from_slice::<ReasonBody>(body)?.reason,
            },
            "ChasitorIdleTimeoutWarningEvent" => Noun::IdleTimeoutWarning(
                serde_json::from_slice::<IdleTimeoutWarningEvent>(body)?.idle_timeout_warning_event,
            ),
            "SensitiveDataRuleTriggered" => Noun::SensitiveDataRuleTriggered {
                rules: serde_json::from_slice::<RulesBody>(body)?.rules,
            },
            "RichMessage" => Noun::RichMessage {
                actions: serde_json::from_slice::<ActionsBody>(body)?.actions,
            },
            other => {
                return Err(serde::de::Error::custom(format_args!(
                    "unknown Chasitor noun {other:?}"
                )));
            }
        })
    }
}

/// Query of `Visitor/Settings` (spec §3.5.1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SettingsQuery {
    /// Org id.
    pub org_id: String,
    /// Deployment id.
    pub deployment_id: String,
    /// Button ids, sent as a bracketed list `[a,b]`.
    pub button_ids: Vec<String>,
    /// Ask for `estimatedWaitTime` (v47+).
    pub need_estimated_wait_time: bool,
    /// `Settings.updateBreadcrumb`, sent when set.
    pub update_breadcrumb: Option<bool>,
}

/// Query of `Visitor/Availability` (spec §3.5.2).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AvailabilityQuery {
    /// Org id.
    pub org_id: String,
    /// Deployment id.
    pub deployment_id: String,
    /// Button ids or agent user ids, sent as a bracketed list `[a,b]`.
    pub ids: Vec<String>,
    /// Ask for `estimatedWaitTime` (v47+).
    pub need_estimated_wait_time: bool,
}

/// Builds requests for one endpoint and API version. Cheap to copy; holds no session state.
#[derive(Debug, Clone, Copy)]
pub struct Api<'a> {
    /// Where requests go.
    pub endpoint: &'a Endpoint,
    /// `X-LIVEAGENT-API-VERSION`, e.g. 59.
    pub version: u32,
}

const NULL: HeaderValue = HeaderValue::from_static("null");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
// Static names: parsing a custom name from `&str` on every request cost an allocation per header.
use header::{
    AFFINITY_NAME as AFFINITY, API_VERSION_NAME as API_VERSION, SEQUENCE_NAME as SEQUENCE,
    SESSION_KEY_NAME as SESSION_KEY,
};

impl<'a> Api<'a> {
    /// A builder for `endpoint` speaking API `version`.
    pub fn new(endpoint: &'a Endpoint, version: u32) -> Self {
        Api { endpoint, version }
    }

    // Requests are assembled in place rather than through `http::request::Builder`, which moves its whole
    // state on every `.header()` call (a measurable share of a poll cycle).
    fn base(
        &self,
        method: Method,
        path_and_query: String,
        resource: &'static str,
    ) -> Result<Request<Vec<u8>>, BuildError> {
        let uri = self.endpoint.uri(path_and_query, resource)?;
        let mut req = Request::new(Vec::new());
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        h.append(API_VERSION, version_value(self.version));
        h.append(ACCEPT, JSON);
        Ok(req)
    }

    fn with_auth(
        req: &mut Request<Vec<u8>>,
        auth: Option<&AffinityToken>,
        key: Option<&super::SessionKey>,
    ) -> Result<(), BuildError> {
        let affinity = match auth {
            Some(t) => t.header_value().ok_or(BuildError::InvalidHeader {
                header: "X-LIVEAGENT-AFFINITY",
            })?,
            None => NULL,
        };
        let h = req.headers_mut();
        h.append(AFFINITY, affinity);
        if let Some(key) = key {
            let v = key.header_value().ok_or(BuildError::InvalidHeader {
                header: "X-LIVEAGENT-SESSION-KEY",
            })?;
            h.append(SESSION_KEY, v);
        }
        Ok(())
    }

    fn finish(mut req: Request<Vec<u8>>, body: Vec<u8>) -> Result<Request<Vec<u8>>, BuildError> {
        *req.body_mut() = body;
        Ok(req)
    }

    fn json(mut req: Request<Vec<u8>>, body: Vec<u8>) -> Result<Request<Vec<u8>>, BuildError> {
        req.headers_mut().append(CONTENT_TYPE, JSON);
        Self::finish(req, body)
    }

    /// `GET System/SessionId` with `X-LIVEAGENT-AFFINITY: null` (spec §3.1.1).
    pub fn session_id(&self) -> Result<Request<Vec<u8>>, BuildError> {
        let b = self.base(
            Method::GET,
            "/chat/rest/System/SessionId".into(),
            "SessionId",
        )?;
        let mut req = b;
        Self::with_auth(&mut req, None, None)?;
        Self::finish(req, Vec::new())
    }

    /// `DELETE System/SessionId/{key}`: ends the session. Sends the session key header too (SDK; spec §10).
    pub fn delete_session(&self, auth: SessionAuth<'_>) -> Result<Request<Vec<u8>>, BuildError> {
        let mut path = String::from("/chat/rest/System/SessionId/");
        encode_path_segment(auth.key.expose(), &mut path);
        let mut req = self.base(Method::DELETE, path, "SessionId")?;
        Self::with_auth(&mut req, auth.affinity, Some(auth.key))?;
        Self::finish(req, Vec::new())
    }

    /// `GET System/ReconnectSession?ReconnectSession.offset=N` after a 503, with affinity `null` (spec §3.2.2).
    /// Without an offset (no batch with messages yet) the parameter is sent as `0` (undocumented; our choice).
    pub fn reconnect_session(
        &self,
        key: &super::SessionKey,
        offset: Option<i64>,
    ) -> Result<Request<Vec<u8>>, BuildError> {
        let path = format!(
            "/chat/rest/System/ReconnectSession?ReconnectSession.offset={}",
            offset.unwrap_or(0)
        );
        let mut req = self.base(Method::GET, path, "ReconnectSession")?;
        Self::with_auth(&mut req, None, Some(key))?;
        Self::finish(req, Vec::new())
    }

    /// `GET System/Messages?ack=N&pc=M`, the long poll (spec §3.4). `ack` is `-1` before the first 200.
    pub fn messages(
        &self,
        auth: SessionAuth<'_>,
        ack: i64,
        pc: Option<u64>,
    ) -> Result<Request<Vec<u8>>, BuildError> {
        // Sized exactly: the URI then takes the buffer over without copying or a second allocation.
        const PATH: &str = "/chat/rest/System/Messages?ack=";
        let ack_digits = Decimal::new(ack.unsigned_abs());
        let pc_digits = pc.map(Decimal::new);
        let len = PATH.len()
            + usize::from(ack < 0)
            + ack_digits.as_str().len()
            + pc_digits.as_ref().map_or(0, |d| 4 + d.as_str().len());
        let mut path = String::with_capacity(len);
        path.push_str(PATH);
        if ack < 0 {
            path.push('-');
        }
        path.push_str(ack_digits.as_str());
        if let Some(d) = &pc_digits {
            path.push_str("&pc=");
            path.push_str(d.as_str());
        }
        let mut req = self.base(Method::GET, path, "Messages")?;
        Self::with_auth(&mut req, auth.affinity, Some(auth.key))?;
        Self::finish(req, Vec::new())
    }

    /// `GET System/Messages?pc=M` (or without a query when `pc` is `None`): the long poll without `ack`,
    /// which acknowledges everything the server delivered so far (spec §4.3; the Android SDK polls so). The
    /// session polls so after a ReconnectSession until a batch shows the server's numbering again, since
    /// the new app server may continue it or restart it (spec §4.6; the continued ack or `-1` would each be
    /// wrong for one of the two).
    pub fn messages_without_ack(
        &self,
        auth: SessionAuth<'_>,
        pc: Option<u64>,
    ) -> Result<Request<Vec<u8>>, BuildError> {
        let path = match pc {
            Some(pc) => format!("/chat/rest/System/Messages?pc={pc}"),
            None => "/chat/rest/System/Messages".to_owned(),
        };
        let mut req = self.base(Method::GET, path, "Messages")?;
        Self::with_auth(&mut req, auth.affinity, Some(auth.key))?;
        Self::finish(req, Vec::new())
    }

    /// `POST Chasitor/{noun}`. `sequence` is sent only for sequenced nouns (spec §1.3.1).
    pub fn chasitor(
        &self,
        auth: SessionAuth<'_>,
        noun: &Noun,
        sequence: u64,
    ) -> Result<Request<Vec<u8>>, BuildError> {
        let name = noun.name();
        let mut req = self.base(Method::POST, format!("/chat/rest/Chasitor/{name}"), name)?;
        Self::with_auth(&mut req, auth.affinity, Some(auth.key))?;
        if noun.is_sequenced() {
            req.headers_mut()
                .append(SEQUENCE, HeaderValue::from(sequence));
        }
        Self::json(req, noun.body()?)
    }

    /// `POST System/MultiNoun {"nouns":[{prefix, noun, object}]}`: several nouns under one sequence number.
    pub fn multi_noun(
        &self,
        auth: SessionAuth<'_>,
        nouns: &[Noun],
        sequence: u64,
    ) -> Result<Request<Vec<u8>>, BuildError> {
        let mut body = Vec::with_capacity(64 * nouns.len() + 16);
        body.extend_from_slice(b"{\"nouns\":[");
        for (i, n) in nouns.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"prefix\":\"Chasitor\",\"noun\":\"");
            body.extend_from_slice(n.name().as_bytes());
            body.extend_from_slice(b"\",\"object\":");
            body.extend_from_slice(&n.body()?);
            body.push(b'}');
        }
        body.extend_from_slice(b"]}");
        let b = self.base(
            Method::POST,
            "/chat/rest/System/MultiNoun".into(),
            "MultiNoun",
        )?;
        let mut req = b;
        Self::with_auth(&mut req, auth.affinity, Some(auth.key))?;
        req.headers_mut()
            .append(SEQUENCE, HeaderValue::from(sequence));
        Self::json(req, body)
    }

    /// `GET Visitor/Settings` (API version header only).
    pub fn settings(&self, q: &SettingsQuery) -> Result<Request<Vec<u8>>, BuildError> {
        let mut path = String::from("/chat/rest/Visitor/Settings?");
        push_param(&mut path, "org_id", &q.org_id);
        path.push('&');
        push_param(&mut path, "deployment_id", &q.deployment_id);
        path.push_str("&Settings.buttonIds=");
        push_list(&mut path, &q.button_ids);
        if q.need_estimated_wait_time {
            path.push_str("&Settings.needEstimatedWaitTime=1");
        }
        if let Some(u) = q.update_breadcrumb {
            path.push_str(if u {
                "&Settings.updateBreadcrumb=1"
            } else {
                "&Settings.updateBreadcrumb=0"
            });
        }
        let b = self.base(Method::GET, path, "Settings")?;
        Self::finish(b, Vec::new())
    }

    /// `GET Visitor/Availability` (API version header only).
    pub fn availability(&self, q: &AvailabilityQuery) -> Result<Request<Vec<u8>>, BuildError> {
        let mut path = String::from("/chat/rest/Visitor/Availability?");
        push_param(&mut path, "org_id", &q.org_id);
        path.push('&');
        push_param(&mut path, "deployment_id", &q.deployment_id);
        path.push_str("&Availability.ids=");
        push_list(&mut path, &q.ids);
        if q.need_estimated_wait_time {
            path.push_str("&Availability.needEstimatedWaitTime=1");
        }
        let b = self.base(Method::GET, path, "Availability")?;
        Self::finish(b, Vec::new())
    }

    /// `POST Visitor/Breadcrumb {"location"}`. The guide lists only the API version header; when a session is
    /// given, its key and affinity are sent too so the server can tie the breadcrumb to the chat (inferred).
    pub fn breadcrumb(
        &self,
        location: &str,
        auth: Option<SessionAuth<'_>>,
    ) -> Result<Request<Vec<u8>>, BuildError> {
        let b = self.base(
            Method::POST,
            "/chat/rest/Visitor/Breadcrumb".into(),
            "Breadcrumb",
        )?;
        let mut req = b;
        if let Some(a) = auth {
            Self::with_auth(&mut req, a.affinity, Some(a.key))?;
        }
        let body = serde_json::to_vec(&super::messages::Breadcrumb {
            location: location.to_owned(),
        })
        .map_err(|e| BuildError::Body {
            reason: e.to_string(),
        })?;
        Self::json(req, body)
    }

    /// `GET Visitor/VisitorId` (API version header only).
    pub fn visitor_id(
        &self,
        org_id: &str,
        deployment_id: &str,
    ) -> Result<Request<Vec<u8>>, BuildError> {
        let mut path = String::from("/chat/rest/Visitor/VisitorId?");
        push_param(&mut path, "org_id", org_id);
        path.push('&');
        push_param(&mut path, "deployment_id", deployment_id);
        let b = self.base(Method::GET, path, "VisitorId")?;
        Self::finish(b, Vec::new())
    }
}

/// The decimal digits of an unsigned integer, without allocating.
struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    fn new(mut v: u64) -> Decimal {
        let mut buf = [b'0'; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 || start == 0 {
                break;
            }
        }
        Decimal { buf, start }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or_default()
    }
}

macro_rules! version_values {
    ($first:literal, $($v:literal),*) => {
        /// Pre-built `X-LIVEAGENT-API-VERSION` values for the versions in use (no allocation per request).
        const VERSION_COUNT: usize = [$first $(, $v)*].len();
        static VERSION_VALUES: [HeaderValue; VERSION_COUNT] = [
            HeaderValue::from_static(stringify!($first)),
            $(HeaderValue::from_static(stringify!($v)),)*
        ];
        const FIRST_VERSION: u32 = $first;
    };
}

version_values!(
    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
    44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67,
    68, 69, 70
);

fn version_value(version: u32) -> HeaderValue {
    version
        .checked_sub(FIRST_VERSION)
        .and_then(|i| VERSION_VALUES.get(i as usize))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(version))
}

fn push_param(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push('=');
    encode_query_value(value, out);
}

/// `[a,b]`: brackets and commas literal (as every observed client sends), each id percent-encoded.
fn push_list(out: &mut String, ids: &[String]) {
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode_query_value(id, out);
    }
    out.push(']');
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn encode_with(value: &str, out: &mut String, keep: impl Fn(u8) -> bool) {
    for &b in value.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes a query value: everything but RFC 3986 unreserved characters.
pub(crate) fn encode_query_value(value: &str, out: &mut String) {
    encode_with(value, out, is_unreserved);
}

/// Percent-encodes a path segment: unreserved plus the sub-delims a session key holds (`!`, `=`), so the key
/// travels as the server issued it; `/`, `%`, `?` and the rest are escaped.
pub(crate) fn encode_path_segment(value: &str, out: &mut String) {
    encode_with(value, out, |b| {
        is_unreserved(b) || matches!(b, b'!' | b'=' | b'$' | b'\'' | b'*' | b'+' | b':' | b'@')
    });
}

/// Decodes `%XX` escapes (and nothing else; `+` stays `+`). Invalid escapes are kept literally.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|&h| (h as char).to_digit(16));
        if b == b'%'
            && let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
