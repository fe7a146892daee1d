//! Scripted agents: what the agent side of a chat does, on a timeline that starts when ChasitorInit arrives.

use super::{Server, Timer};
use crate::sim::{ServerEnd, SessionState};
use crate::time::Timestamp;
use crate::wire::IdleTimeoutSettings;
use crate::wire::{
    AgentInfo, AgentMessage, AgentRef, ChatEnded, ChatRequestFail, CustomEvent, FileTransfer,
    Message, QueueUpdate, RichItem, RichMessage, TranscriptEntry,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The agent that accepts chats. Serde: missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentProfile {
    /// Display name, e.g. `Andy L.`.
    pub name: String,
    /// User id (`005...`).
    pub user_id: String,
    /// Whether Sneak Peek is on for this agent (sent in ChatEstablished / ChasitorSessionData).
    pub sneak_peek_enabled: bool,
    /// The visitor idle-timeout settings sent in ChatEstablished (`chasitorIdleTimeout`); `None` omits the field.
    pub idle_timeout: Option<IdleTimeoutSettings>,
}

impl Default for AgentProfile {
    fn default() -> Self {
        AgentProfile {
            name: "Andy L.".into(),
            user_id: "005B0000000F3b2".into(),
            sneak_peek_enabled: true,
            idle_timeout: Some(IdleTimeoutSettings {
                is_enabled: Some(false),
                warning_time: Some(0),
                timeout: Some(0),
            }),
        }
    }
}

/// One step of an [`AgentScript`]: wait `after` (counted from the previous step; the first step from the
/// moment ChasitorInit is accepted), then do `action`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStep {
    /// Delay since the previous step.
    pub after: Duration,
    /// What the agent does.
    #[serde(deserialize_with = "super::forms::action")]
    pub action: AgentAction,
}

impl AgentStep {
    /// A step.
    pub fn new(after: Duration, action: AgentAction) -> Self {
        AgentStep { after, action }
    }
}

/// What a scripted agent can do. Each action emits at most a few messages to the visitor. Actions that make
/// no sense in the current state (e.g. `Say` before `Accept`, anything after the chat ended) are skipped and
/// noted in the transcript.
///
/// Serde: tagged by `type`, camelCase, as the JSON boundary and the admin API take it (`{"type": "accept"}`,
/// `{"type": "say", "text": "hi"}`, `{"type": "customEvent", "eventType": "t", "data": "d"}`, `{"type":
/// "emit", "messageType": "ChatMessage", "payload": {...}}`); in a scenario's [`AgentStep`] and the admin
/// API's `action`, the externally tagged spelling written before (`"Accept"`, `{"Say": {"text": "hi"}}`) is
/// still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum AgentAction {
    /// `QueueUpdate {position}` (only if the visitor asked for queue updates in ChasitorInit).
    QueueUpdate {
        /// The new position.
        position: i64,
    },
    /// `ChatEstablished` with the profile's name, user id, sneak-peek flag and idle-timeout settings: the chat
    /// is live. Also valid after [`AgentAction::Disconnect`] (another agent picks the chat up again).
    Accept,
    /// `ChatRequestFail {reason}` (normally `Unavailable`): the request failed; the session ends once the
    /// visitor polled the message.
    Decline {
        /// The reason, e.g. `Unavailable`.
        reason: String,
    },
    /// `AgentTyping {}`.
    Typing,
    /// `AgentNotTyping {}`.
    NotTyping,
    /// `ChatMessage {name, text, agentId}`.
    Say {
        /// The text.
        text: String,
    },
    /// From now on, answer every visitor ChatMessage at once with `<echo_prefix><text>`.
    EchoVisitor,
    /// Stop echoing.
    StopEcho,
    /// `ChatTransferred {name, userId, sneakPeekEnabled}`: a new agent (its user id derived from the seed)
    /// takes over.
    Transfer {
        /// The new agent's name.
        to_name: String,
    },
    /// `AgentDisconnect {}`: the chat stays alive, waiting for another [`AgentAction::Accept`].
    Disconnect,
    /// `ChatEnded {reason: "agent", attachedRecords}`: the agent ends the chat.
    End,
    /// `FileTransfer {type: "Requested", uploadServletUrl, fileToken, cdmServletUrl}` with a fresh token and
    /// `uploadServletUrl` = the simulator's own upload servlet (`{scheme}://{host}/content/rest/fileupload`).
    /// A valid upload with that token (see the [module docs](crate::sim) of the simulator) is answered
    /// `200 Success`, recorded as [`VisitorEvent::FileUploaded`](crate::sim::VisitorEvent::FileUploaded), and
    /// followed by `FileTransfer {type: "Success", fileToken}` to the visitor; each token works once.
    RequestFile,
    /// `RichMessage {type: "ChatWindowMenu", header, items:[{text}]}` (a chatbot menu).
    Menu {
        /// Menu header.
        header: String,
        /// Item labels.
        items: Vec<String>,
    },
    /// `CustomEvent {type, data}`.
    CustomEvent {
        /// Event type.
        #[serde(rename = "eventType")]
        kind: String,
        /// Payload.
        data: String,
    },
    /// Any message, emitted as given.
    #[serde(with = "super::forms::emit")]
    Emit(Box<Message>),
}

/// The agent side of every chat the server hosts.
///
/// On ChasitorInit the server always answers `ChatRequestSuccess {queuePosition}` first; the steps then run
/// one after another. Reactions that are not on the timeline: with echo on, each visitor ChatMessage gets an
/// echo; a visitor ChatEnd always produces `ChatEnded {reason: "client"}`.
///
/// Serde (scenario files): missing fields take the values of [`AgentScript::new`] with no steps; durations
/// are serde's `{"secs": 1, "nanos": 0}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default = "AgentScript::idle")]
pub struct AgentScript {
    /// Who accepts the chat.
    pub agent: AgentProfile,
    /// `queuePosition` of ChatRequestSuccess.
    pub queue_position: i64,
    /// The timeline.
    pub steps: Vec<AgentStep>,
    /// Prefix of echoed texts (default `echo: `).
    pub echo_prefix: String,
    /// `attachedRecords` of ChatEnded and ChatRequestFail (default `[]`, as in real captures).
    pub attached_records: serde_json::Value,
}

impl AgentScript {
    /// A script with the default profile and these steps.
    pub fn new(steps: Vec<AgentStep>) -> Self {
        AgentScript {
            agent: AgentProfile::default(),
            queue_position: 1,
            steps,
            echo_prefix: "echo: ".into(),
            attached_records: serde_json::Value::Array(Vec::new()),
        }
    }

    /// An agent that never does anything (the chat stays queued).
    pub fn idle() -> Self {
        AgentScript::new(Vec::new())
    }

    /// Declines every chat after `after` with reason `Unavailable`.
    pub fn declining(after: Duration) -> Self {
        AgentScript::new(vec![AgentStep::new(
            after,
            AgentAction::Decline {
                reason: "Unavailable".into(),
            },
        )])
    }

    /// Accepts after `after` and echoes visitor messages; nothing else.
    pub fn echo(after: Duration) -> Self {
        AgentScript::new(vec![
            AgentStep::new(after, AgentAction::Accept),
            AgentStep::new(Duration::ZERO, AgentAction::EchoVisitor),
        ])
    }

    /// Appends a step (builder style).
    #[must_use]
    pub fn then(mut self, after: Duration, action: AgentAction) -> Self {
        self.steps.push(AgentStep::new(after, action));
        self
    }
}

impl Default for AgentScript {
    /// Queue position 2; after 1 s a QueueUpdate to 1; after 1 s more the agent accepts (2 s after the
    /// request), types, says `Hello, how can I help you?` 500 ms later, stops typing, and echoes every visitor
    /// message from then on. The chat ends when the visitor ends it.
    fn default() -> Self {
        let mut s = AgentScript::new(vec![
            AgentStep::new(
                Duration::from_secs(1),
                AgentAction::QueueUpdate { position: 1 },
            ),
            AgentStep::new(Duration::from_secs(1), AgentAction::Accept),
            AgentStep::new(Duration::ZERO, AgentAction::Typing),
            AgentStep::new(
                Duration::from_millis(500),
                AgentAction::Say {
                    text: "Hello, how can I help you?".into(),
                },
            ),
            AgentStep::new(Duration::ZERO, AgentAction::NotTyping),
            AgentStep::new(Duration::ZERO, AgentAction::EchoVisitor),
        ]);
        s.queue_position = 2;
        s
    }
}

impl Server {
    /// Makes the agent of a session do `action` now (interactive use). Returns false if there is no such
    /// session or the action does not fit its state.
    pub fn agent_act(&mut self, session_id: &str, action: AgentAction, now: Timestamp) -> bool {
        let now = self.clock(now);
        self.advance(now);
        let Some(&si) = self.by_id.get(session_id) else {
            return false;
        };
        let done = self.run_action(si, &action, now);
        self.flush(now);
        done
    }

    /// The agent says `text` now.
    pub fn agent_say(&mut self, session_id: &str, text: &str, now: Timestamp) -> bool {
        self.agent_act(session_id, AgentAction::Say { text: text.into() }, now)
    }

    /// The agent types (true) or stops typing (false) now.
    pub fn agent_typing(&mut self, session_id: &str, typing: bool, now: Timestamp) -> bool {
        let action = if typing {
            AgentAction::Typing
        } else {
            AgentAction::NotTyping
        };
        self.agent_act(session_id, action, now)
    }

    /// The agent ends the chat now (ChatEnded reason `agent`).
    pub fn agent_end(&mut self, session_id: &str, now: Timestamp) -> bool {
        self.agent_act(session_id, AgentAction::End, now)
    }

    pub(super) fn schedule_agent(&mut self, si: usize, from: Timestamp) {
        let Some(s) = self.sessions.get(si) else {
            return;
        };
        let active = matches!(
            s.rec.state,
            SessionState::Queued | SessionState::Chatting | SessionState::AgentDisconnected
        );
        if !active || s.agent_timer.is_some() {
            return;
        }
        let Some(step) = self.config.agent.steps.get(s.step) else {
            return;
        };
        let Some(at) = from.checked_add(step.after) else {
            return;
        };
        let key = self.add_timer(at, Timer::Agent(si));
        if let Some(s) = self.sessions.get_mut(si) {
            s.agent_timer = Some(key);
        }
    }

    pub(super) fn say(&mut self, si: usize, text: String, t: Timestamp) {
        let ms = self.elapsed_ms(t);
        let Some(s) = self.sessions.get_mut(si) else {
            return;
        };
        let seq = s.chat_log.len().saturating_add(1);
        s.chat_log.push(TranscriptEntry {
            kind: Some("Agent".into()),
            name: Some(s.agent_name.clone()),
            content: Some(text.clone()),
            timestamp: Some(ms as f64),
            sequence: Some(seq as f64),
        });
        s.rec.agent_messages.push(text.clone());
        let msg = Message::ChatMessage(AgentMessage {
            name: Some(s.agent_name.clone()),
            text,
            agent_id: Some(s.agent_user_id.clone()),
            schedule: None,
        });
        self.emit(si, msg, t);
    }

    /// Runs one agent action; false when it does not fit the session's state.
    pub(super) fn run_action(&mut self, si: usize, action: &AgentAction, t: Timestamp) -> bool {
        let attached = self.attached_records();
        let Some(s) = self.sessions.get_mut(si) else {
            return false;
        };
        let state = s.rec.state;
        let chatting = state == SessionState::Chatting;
        let active = matches!(
            state,
            SessionState::Queued | SessionState::Chatting | SessionState::AgentDisconnected
        );
        let done = match action {
            AgentAction::QueueUpdate { position } if state == SessionState::Queued => {
                s.queue_position = *position;
                if s.receive_queue_updates {
                    let m = Message::QueueUpdate(QueueUpdate {
                        position: Some(*position),
                        estimated_wait_time: None,
                    });
                    self.emit(si, m, t);
                }
                true
            }
            AgentAction::Accept
                if matches!(
                    state,
                    SessionState::Queued | SessionState::AgentDisconnected
                ) =>
            {
                s.rec.state = SessionState::Chatting;
                s.queue_position = 0;
                let p = &self.config.agent.agent;
                let m = Message::ChatEstablished(AgentInfo {
                    name: Some(s.agent_name.clone()),
                    user_id: Some(s.agent_user_id.clone()),
                    sneak_peek_enabled: Some(s.sneak_peek),
                    chasitor_idle_timeout: p.idle_timeout.clone(),
                    items: None,
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::Decline { reason } if active => {
                let m = Message::ChatRequestFail(ChatRequestFail {
                    reason: Some(reason.clone()),
                    post_chat_url: None,
                    attached_records: Some(attached),
                });
                self.finish_chat(si, m, ServerEnd::Declined, t);
                true
            }
            AgentAction::Typing if chatting => {
                self.emit(si, Message::AgentTyping(AgentRef::default()), t);
                true
            }
            AgentAction::NotTyping if chatting => {
                self.emit(si, Message::AgentNotTyping(AgentRef::default()), t);
                true
            }
            AgentAction::Say { text } if chatting => {
                self.say(si, text.clone(), t);
                true
            }
            AgentAction::EchoVisitor => {
                s.echo = true;
                true
            }
            AgentAction::StopEcho => {
                s.echo = false;
                true
            }
            AgentAction::Transfer { to_name } if chatting => {
                let uid = self.rng.uuid();
                let s = match self.sessions.get_mut(si) {
                    Some(s) => s,
                    None => return false,
                };
                s.agent_name = to_name.clone();
                s.agent_user_id = format!("005{}", uid.get(..8).unwrap_or("00000000"));
                let seq = s.chat_log.len().saturating_add(1);
                let ms = self.config.epoch_ms.saturating_add(
                    i64::try_from(t.saturating_duration_since(self.start).as_millis())
                        .unwrap_or(i64::MAX),
                );
                s.chat_log.push(TranscriptEntry {
                    kind: Some("OperatorTransferred".into()),
                    name: Some(to_name.clone()),
                    content: Some(format!("Transferred to {to_name}")),
                    timestamp: Some(ms as f64),
                    sequence: Some(seq as f64),
                });
                let m = Message::ChatTransferred(AgentInfo {
                    name: Some(s.agent_name.clone()),
                    user_id: Some(s.agent_user_id.clone()),
                    sneak_peek_enabled: Some(s.sneak_peek),
                    chasitor_idle_timeout: self.config.agent.agent.idle_timeout.clone(),
                    items: None,
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::Disconnect if chatting => {
                s.rec.state = SessionState::AgentDisconnected;
                self.emit(si, Message::AgentDisconnect(AgentRef::default()), t);
                true
            }
            AgentAction::End if active => {
                let m = Message::ChatEnded(ChatEnded {
                    reason: Some("agent".into()),
                    attached_records: Some(attached),
                });
                self.finish_chat(si, m, ServerEnd::Agent, t);
                true
            }
            AgentAction::RequestFile if chatting => {
                let token = self.rng.uuid();
                let base = format!("{}://{}", self.config.scheme, self.config.host);
                if let Some(s) = self.sessions.get_mut(si) {
                    s.upload.tokens.push(token.clone());
                }
                let m = Message::FileTransfer(FileTransfer {
                    kind: Some("Requested".into()),
                    upload_servlet_url: Some(format!("{base}{}", super::upload::UPLOAD_PATH)),
                    file_token: Some(token),
                    cdm_servlet_url: Some(format!("{base}{}", super::upload::CDM_PATH)),
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::Menu { header, items } if chatting => {
                let m = Message::RichMessage(RichMessage {
                    kind: "ChatWindowMenu".into(),
                    header: Some(header.clone()),
                    items: items
                        .iter()
                        .map(|i| RichItem {
                            text: Some(i.clone()),
                            value: None,
                        })
                        .collect(),
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::CustomEvent { kind, data } if chatting => {
                let m = Message::CustomEvent(CustomEvent {
                    kind: kind.clone(),
                    data: data.clone(),
                });
                self.emit(si, m, t);
                true
            }
            AgentAction::Emit(m) if active => {
                self.emit(si, (**m).clone(), t);
                true
            }
            _ => false,
        };
        if !done {
            self.log(t, None, Some(si), format!("agent skipped {action:?}"));
        }
        done
    }
}
