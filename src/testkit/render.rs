//! Turns [`ScriptedAnswer`] descriptions into HTTP status + body bytes, issuing recognisable secrets.

use super::op::{BatchSpec, MsgSpec, ReconnectSpec, ScriptedAnswer, SeqSpec, SessionBodySpec};
use crate::wire::{
    AgentInfo, AgentMessage, AgentRef, ChasitorSessionData, ChatEnded, ChatRequestFail,
    ChatRequestSuccess, CustomEvent, FileTransfer, IdleTimeoutSettings, Message, MessagesBody,
    QueueUpdate, RichItem, RichMessage, SensitiveDataRule, SensitiveDataRules, SwitchServer,
};
use crate::{RequestKind, State};
use serde_json::json;

/// Marker every secret the harness issues starts with; the monitor looks for the full values.
pub const SECRET_MARK: &str = "SeCrEt";

/// In a [`ScriptedAnswer::Raw`] body with an error status (400 and up), these bytes and the one after them (which picks the spelling) are replaced by
/// every key and token issued so far, echoed the way a hostile error page might: case flipped, `%XX`,
/// `\uXXXX` or `&#NN;` per character, split by line breaks or `<wbr>`. The session must redact them in
/// every error text (the monitor checks runs of eight characters, not only whole values).
pub const ECHO_SECRETS: &[u8] = b"\x00echo-secrets\x00";

/// `secret` spelled as `how` picks (the low three bits: per-character encoding; the next two: separator).
pub(crate) fn echo_secret(secret: &str, how: u8) -> String {
    let sep = match (how >> 3) % 4 {
        0 => "",
        1 => "\r\n",
        2 => "<wbr>",
        _ => "\n",
    };
    secret
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let e = match (how.wrapping_add(i as u8 * ((how >> 5) & 1))) % 5 {
                0 => c.to_string(),
                1 if c.is_ascii_lowercase() => c.to_ascii_uppercase().to_string(),
                1 => c.to_ascii_lowercase().to_string(),
                2 => format!("%{:02X}", c as u32),
                3 => format!("\\u{:04x}", c as u32),
                _ => format!("&#{};", c as u32),
            };
            if i % 5 == 4 { format!("{e}{sep}") } else { e }
        })
        .collect()
}

/// `body` with every [`ECHO_SECRETS`] mark replaced by the echoed `secrets`.
fn with_echoes(body: &[u8], secrets: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0usize;
    while let Some(&b) = body.get(i) {
        if body.get(i..i.saturating_add(ECHO_SECRETS.len())) == Some(ECHO_SECRETS) {
            let how = body.get(i + ECHO_SECRETS.len()).copied().unwrap_or(0);
            for s in secrets {
                out.extend_from_slice(b" ");
                out.extend_from_slice(echo_secret(s, how).as_bytes());
            }
            i += ECHO_SECRETS.len() + 1;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// What the harness knows about the request being answered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub kind: RequestKind,
    /// The `ack` a Messages request carried.
    pub ack: Option<i64>,
    /// The `X-LIVEAGENT-SEQUENCE` a POST carried.
    pub seq: Option<u64>,
    pub state: State,
    pub reconnecting: bool,
}

/// Issues session keys, affinity tokens and SwitchServer hosts, all distinct.
#[derive(Debug, Default)]
pub(crate) struct Server {
    counter: u64,
    offset: i64,
    /// Every key and token handed out.
    pub secrets: Vec<String>,
}

impl Server {
    fn next(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        self.counter
    }

    fn secret(&mut self, what: &str) -> String {
        let s = format!("{SECRET_MARK}{what}{:04}x", self.next());
        self.secrets.push(s.clone());
        s
    }

    fn session_body(&mut self, spec: SessionBodySpec) -> Vec<u8> {
        let n = self.next();
        let id = format!("sess-{n}");
        let v = match spec {
            SessionBodySpec::Valid => json!({
                "id": id, "key": self.secret("Key"), "affinityToken": self.secret("Aff"),
                "clientPollTimeout": 40
            }),
            SessionBodySpec::MissingKey => json!({
                "id": id, "affinityToken": self.secret("Aff"), "clientPollTimeout": 40
            }),
            SessionBodySpec::EmptyId => json!({
                "id": "", "key": self.secret("Key"), "affinityToken": self.secret("Aff")
            }),
            SessionBodySpec::BadTokenChars => {
                let token = format!("{}\nx", self.secret("Aff"));
                json!({"id": id, "key": self.secret("Key"), "affinityToken": token})
            }
            SessionBodySpec::NotJson => return b"{\"id\": \"sess-".to_vec(),
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }

    fn reconnect_body(&mut self, spec: ReconnectSpec) -> Vec<u8> {
        let bare = |token: String, reset: Option<bool>| {
            let mut v = json!({ "affinityToken": token });
            if let (Some(r), Some(obj)) = (reset, v.as_object_mut()) {
                obj.insert("resetSequence".into(), json!(r));
            }
            v
        };
        let v = match spec {
            ReconnectSpec::Valid { reset } => bare(self.secret("Aff"), reset),
            ReconnectSpec::Wrapped { reset } => json!({"messages": [
                {"type": "ReconnectSession", "message": bare(self.secret("Aff"), reset)}
            ]}),
            ReconnectSpec::MissingToken => json!({"resetSequence": true}),
            ReconnectSpec::NotJson => return b"<html>503</html>".to_vec(),
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }

    fn message(&mut self, m: &MsgSpec) -> Message {
        let agent = |name: &str| AgentRef {
            name: Some(name.into()),
            agent_id: Some("005xx0000000001".into()),
        };
        match m {
            MsgSpec::ChatRequestSuccess { position } => {
                Message::ChatRequestSuccess(Box::new(ChatRequestSuccess {
                    queue_position: Some(i64::from(*position)),
                    estimated_wait_time: Some(30.0),
                    visitor_id: Some("v-1".into()),
                    ..Default::default()
                }))
            }
            MsgSpec::QueueUpdate { position } => Message::QueueUpdate(QueueUpdate {
                position: Some(i64::from(*position)),
                estimated_wait_time: Some(-1.0),
            }),
            MsgSpec::ChatEstablished { idle } => Message::ChatEstablished(AgentInfo {
                name: Some("Andy".into()),
                user_id: Some("005xx0000000001".into()),
                sneak_peek_enabled: Some(true),
                chasitor_idle_timeout: idle.map(|(w, t)| IdleTimeoutSettings {
                    is_enabled: Some(true),
                    warning_time: Some(i64::from(w)),
                    timeout: Some(i64::from(t)),
                }),
                items: None,
            }),
            MsgSpec::ChatMessage(text) => Message::ChatMessage(AgentMessage {
                name: Some("Andy".into()),
                text: text.clone(),
                agent_id: None,
                schedule: None,
            }),
            MsgSpec::AgentTyping => Message::AgentTyping(agent("Andy")),
            MsgSpec::AgentNotTyping => Message::AgentNotTyping(agent("Andy")),
            MsgSpec::AgentDisconnect => Message::AgentDisconnect(agent("Andy")),
            MsgSpec::ChatTransferred => Message::ChatTransferred(AgentInfo {
                name: Some("Bea".into()),
                user_id: Some("005xx0000000002".into()),
                ..Default::default()
            }),
            MsgSpec::ChatEnded { reason, records } => Message::ChatEnded(ChatEnded {
                reason: match reason % 3 {
                    0 => Some("agent".into()),
                    1 => Some("client".into()),
                    _ => None,
                },
                attached_records: records.then(|| json!(["500xx000000001"])),
            }),
            MsgSpec::ChatRequestFail => Message::ChatRequestFail(ChatRequestFail {
                reason: Some("Unavailable".into()),
                post_chat_url: None,
                attached_records: None,
            }),
            MsgSpec::ChasitorSessionData => {
                Message::ChasitorSessionData(Box::new(ChasitorSessionData {
                    queue_position: Some(0),
                    url: Some("https://example.com/help".into()),
                    sneak_peek_enabled: Some(true),
                    ..Default::default()
                }))
            }
            MsgSpec::SwitchServerTo(url) => Message::SwitchServer(SwitchServer {
                new_url: url.clone(),
            }),
            MsgSpec::SwitchServer { valid } => Message::SwitchServer(SwitchServer {
                new_url: if *valid {
                    format!(
                        "https://switched{}.salesforceliveagent.com/chat",
                        self.next()
                    )
                } else {
                    "ftp://".into()
                },
            }),
            MsgSpec::CustomEvent => Message::CustomEvent(CustomEvent {
                kind: "survey".into(),
                data: "{\"q\":1}".into(),
            }),
            MsgSpec::FileTransfer => Message::FileTransfer(FileTransfer {
                kind: Some("Requested".into()),
                upload_servlet_url: Some("https://example.com/upload".into()),
                file_token: Some("ft-1".into()),
                cdm_servlet_url: None,
            }),
            MsgSpec::RichMessage => Message::RichMessage(RichMessage {
                kind: "ChatWindowMenu".into(),
                header: Some("Pick one".into()),
                items: vec![RichItem {
                    text: Some("Yes".into()),
                    value: Some("1".into()),
                }],
            }),
            MsgSpec::SensitiveDataRules => Message::SensitiveDataRules(SensitiveDataRules {
                sensitive_data_rules: vec![SensitiveDataRule {
                    name: Some("cc".into()),
                    pattern: Some("[0-9]{16}".into()),
                    id: Some("0GR1".into()),
                    replacement: Some("*".into()),
                    action_type: Some("Replace".into()),
                }],
            }),
            MsgSpec::Unknown => Message::Unknown {
                kind: "SomethingNew".into(),
                raw: json!({"a": 1}).into(),
            },
            MsgSpec::Mistyped(v) => match v % 3 {
                0 => Message::Invalid {
                    kind: "ChatMessage".into(),
                    raw: json!({"text": {"nested": true}}).into(),
                    error: String::new(),
                },
                1 => Message::Invalid {
                    kind: "ChatEstablished".into(),
                    raw: json!({"name": "Andy", "chasitorIdleTimeout": "soon"}).into(),
                    error: String::new(),
                },
                _ => Message::Invalid {
                    kind: "ChatEnded".into(),
                    raw: json!([1, 2]).into(),
                    error: String::new(),
                },
            },
        }
    }

    fn batch(&mut self, spec: &BatchSpec, ack: i64) -> Vec<u8> {
        let messages: Vec<Message> = spec.msgs.iter().map(|m| self.message(m)).collect();
        let n = i64::try_from(messages.len()).unwrap_or(0);
        let sequence = match spec.seq {
            SeqSpec::Consistent => Some(ack.saturating_add(n)),
            SeqSpec::Overlap(k) => Some(ack.saturating_add(n).saturating_sub(i64::from(k))),
            SeqSpec::Absent => None,
            SeqSpec::Arbitrary(s) => Some(s),
        };
        let body = MessagesBody {
            messages,
            sequence,
            offset: spec.offset,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// What a cooperative server answers.
    fn natural(&mut self, v: u8, t: &Target) -> (u16, Vec<u8>) {
        match t.kind {
            RequestKind::SessionId => (200, self.session_body(SessionBodySpec::Valid)),
            RequestKind::ReconnectSession => {
                let reset = match v % 4 {
                    0 => Some(false),
                    1 => Some(true),
                    _ => None,
                };
                (200, self.reconnect_body(ReconnectSpec::Valid { reset }))
            }
            RequestKind::Messages => {
                let chat = |v: u8| match v % 12 {
                    0 | 1 => vec![MsgSpec::ChatMessage(format!("hello {v}"))],
                    2 => vec![MsgSpec::AgentTyping],
                    3 => vec![
                        MsgSpec::AgentNotTyping,
                        MsgSpec::ChatMessage("how can I help?".into()),
                    ],
                    4 => vec![MsgSpec::AgentTyping, MsgSpec::ChatMessage("hi".into())],
                    5 | 6 => vec![MsgSpec::AgentDisconnect],
                    7 => vec![MsgSpec::ChatEnded {
                        reason: 0,
                        records: false,
                    }],
                    8 => vec![MsgSpec::CustomEvent, MsgSpec::RichMessage],
                    _ => vec![],
                };
                let msgs = if t.reconnecting {
                    let mut m = vec![MsgSpec::ChasitorSessionData];
                    if v.is_multiple_of(2) {
                        m.extend(chat(v / 2));
                    }
                    m
                } else {
                    match t.state {
                        State::Requested => {
                            let mut m = vec![MsgSpec::ChatRequestSuccess { position: 2 }];
                            if v.is_multiple_of(3) {
                                m.push(MsgSpec::ChatEstablished { idle: None });
                            }
                            m
                        }
                        State::Queued => match v % 4 {
                            0 => vec![MsgSpec::QueueUpdate { position: 1 }],
                            1 => vec![MsgSpec::ChatEstablished {
                                idle: Some((60, 120)),
                            }],
                            _ => vec![MsgSpec::ChatEstablished { idle: None }],
                        },
                        State::Chatting => chat(v),
                        State::AgentDisconnected => match v % 4 {
                            0 => vec![MsgSpec::ChatTransferred],
                            1 => vec![MsgSpec::ChatEstablished { idle: None }],
                            _ => vec![],
                        },
                        State::Ending => match v % 3 {
                            0 | 1 => vec![MsgSpec::ChatEnded {
                                reason: 1,
                                records: v.is_multiple_of(2),
                            }],
                            _ => vec![],
                        },
                        _ => vec![],
                    }
                };
                if msgs.is_empty() {
                    return (204, Vec::new());
                }
                let spec = BatchSpec {
                    msgs,
                    seq: SeqSpec::Consistent,
                    offset: Some(self.next_offset()),
                };
                (200, self.batch(&spec, t.ack.unwrap_or(-1)))
            }
            _ => (if v.is_multiple_of(4) { 202 } else { 200 }, Vec::new()),
        }
    }

    fn next_offset(&mut self) -> i64 {
        self.offset = self.offset.saturating_add(1000);
        self.offset
    }

    /// The status and body for `reply` to the request `t`.
    pub(crate) fn render(&mut self, reply: &ScriptedAnswer, t: &Target) -> (u16, Vec<u8>) {
        match reply {
            ScriptedAnswer::Natural(v) => self.natural(*v, t),
            ScriptedAnswer::Ok => match t.kind {
                RequestKind::SessionId => (200, self.session_body(SessionBodySpec::Valid)),
                RequestKind::ReconnectSession => (
                    200,
                    self.reconnect_body(ReconnectSpec::Valid { reset: None }),
                ),
                _ => (200, Vec::new()),
            },
            ScriptedAnswer::Accepted202 => (202, Vec::new()),
            ScriptedAnswer::NoContent204 => (204, Vec::new()),
            ScriptedAnswer::Status(e) => {
                let text: &[u8] = match e.code() {
                    400 => b"Bad Request: malformed JSON",
                    403 => b"Session is not valid",
                    409 => b"Conflict: the chat was terminated",
                    503 => b"Service Unavailable",
                    _ => b"error",
                };
                (e.code(), text.to_vec())
            }
            ScriptedAnswer::OutOfSync { actual, relative } => {
                let sent = i64::try_from(t.seq.unwrap_or(0)).unwrap_or(i64::MAX);
                let m = if *relative {
                    sent.saturating_add(i64::from(*actual))
                } else {
                    i64::from(*actual)
                };
                (
                    409,
                    format!("Out of sync Ack. Expected {sent}. Actual {m}").into_bytes(),
                )
            }
            ScriptedAnswer::Garbage(v) => {
                let junk: &[u8] = match v % 6 {
                    0 => b"\xff\xfe{not json",
                    1 => b"<html><body>oops</body></html>",
                    2 => b"{\"messages\": 5}",
                    3 => b"[]",
                    4 => b"null",
                    _ => b"{\"messages\": [{\"type\": 7}]}",
                };
                (200, junk.to_vec())
            }
            ScriptedAnswer::Empty => (200, Vec::new()),
            ScriptedAnswer::Batch(spec) => (200, self.batch(spec, t.ack.unwrap_or(-1))),
            ScriptedAnswer::SessionBody(spec) => (200, self.session_body(*spec)),
            ScriptedAnswer::ReconnectBody(spec) => (200, self.reconnect_body(*spec)),
            // What `http::StatusCode` cannot hold is sent as 500: the monitor must see the status the session
            // got (found by the hostile_server fuzz target: 18386 classified as a 4xx, answered as 500).
            ScriptedAnswer::Raw { status, body } => {
                let status = if (100..=999).contains(status) {
                    *status
                } else {
                    500
                };
                // Echoes only in error answers: a success body that spells a secret is the server's content.
                if status >= 400 {
                    (status, with_echoes(body, &self.secrets))
                } else {
                    (status, body.clone())
                }
            }
        }
    }
}
