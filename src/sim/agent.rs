//! Scripted agents: what the agent side of a chat does, on a timeline that starts when ChasitorInit arrives.

use crate::wire::{IdleTimeoutSettings, Message};
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
/// Serde: externally tagged like [`FaultKind`](super::FaultKind): `"Accept"`, `{"Say": {"text": "hi"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        kind: String,
        /// Payload.
        data: String,
    },
    /// Any message, emitted as given.
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
