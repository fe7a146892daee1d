//! Session configuration: where to connect, who the visitor is, and how patient to be.

pub use crate::session::redirect::{RedirectPolicy, RedirectRefusal};
use crate::wire::{CustomDetail, Endpoint, Entity, Limits};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The visitor's details sent in ChasitorInit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Visitor {
    /// Display name shown to the agent.
    pub name: String,
    /// User agent string.
    pub user_agent: String,
    /// Language, e.g. `en-US`.
    pub language: String,
    /// Screen resolution, e.g. `1920x1080` (the SDK sends `n/a` when it has none).
    pub screen_resolution: String,
}

impl Default for Visitor {
    fn default() -> Self {
        Visitor {
            name: "Visitor".into(),
            user_agent: concat!("liveagent-rs/", env!("CARGO_PKG_VERSION")).into(),
            language: "en-US".into(),
            screen_resolution: "n/a".into(),
        }
    }
}

/// How failed requests are retried: capped exponential backoff with seeded jitter, and a budget after which
/// the session gives up with [`EndReason::GaveUp`](crate::EndReason::GaveUp).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Cap on the delay.
    pub max_backoff: Duration,
    /// Consecutive failures of one request after which the session gives up.
    pub max_attempts: u32,
    /// How far the delay is randomised downwards, in percent (0: none; 50: anywhere in [d/2, d]).
    pub jitter_percent: u8,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(16),
            max_attempts: 8,
            jitter_percent: 50,
        }
    }
}

/// Everything a [`Session`](crate::Session) needs. Build it with [`Config::new`] and adjust the public fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Config {
    /// The org's Chat API endpoint (Setup → Chat Settings).
    pub endpoint: Endpoint,
    /// `X-LIVEAGENT-API-VERSION`. Default 59 (Winter '24, the spec's target).
    pub api_version: u32,
    /// Org id (`00D...`).
    pub organization_id: String,
    /// Deployment id (`572...`).
    pub deployment_id: String,
    /// Button id (`573...`).
    pub button_id: String,
    /// Direct-to-agent routing: the agent's user id.
    pub agent_id: Option<String>,
    /// With `agent_id`: fall back to the button.
    pub do_fallback: Option<bool>,
    /// Ordered routing overrides.
    pub button_overrides: Vec<String>,
    /// The visitor.
    pub visitor: Visitor,
    /// Pre-chat details.
    pub prechat_details: Vec<CustomDetail>,
    /// Pre-chat entities.
    pub prechat_entities: Vec<Entity>,
    /// Ask for QueueUpdate messages. Default true.
    pub receive_queue_updates: bool,
    /// Send the undocumented `pc` poll counter as Salesforce's own clients do. Default true.
    pub send_poll_counter: bool,
    /// Retry policy for every request.
    pub retry: RetryPolicy,
    /// Poll deadline = `clientPollTimeout` + this margin (the server holds an idle poll about 30 s). Default 5 s.
    pub poll_margin: Duration,
    /// `clientPollTimeout` to assume when the SessionId answer lacks one. Default 40 s (every capture).
    pub default_client_poll_timeout: Duration,
    /// Deadline for every request other than the long poll. Default 30 s.
    pub request_timeout: Duration,
    /// At most this many queued commands go in one MultiNoun POST. Default 16.
    pub max_batch: usize,
    /// At most this many commands wait in the outbound queue; more are refused. Default 256.
    pub max_queued_commands: usize,
    /// Longest visitor text accepted by `send_message`/`sneak_peek`, in bytes. Default 32 KiB.
    pub max_text_bytes: usize,
    /// Enforce `chasitorIdleTimeout` (warn, then end with `clientIdleTimeout`). Default true.
    pub enforce_idle_timeout: bool,
    /// Caps on what the server may send and what the application may queue (defences against a hostile or
    /// broken server; see [`LimitsConfig`]).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Where `SwitchServer` may move the session. Default [`RedirectPolicy::SameTrustClass`].
    #[serde(default)]
    pub redirect: RedirectPolicy,
    /// Seed for retry jitter. The same seed and inputs give the same outputs.
    pub seed: u64,
}

/// Caps that keep a hostile or broken server (or a careless application) from exhausting the client. Each has
/// a default far above anything a real chat produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Answers longer than this are refused unparsed (retried, then the session gives up). Default 1 MiB.
    pub max_body_bytes: usize,
    /// A Messages batch with more messages is refused unparsed and not acknowledged (so nothing is lost: the
    /// server still holds them), retried, then the session gives up. Default 500 (real batches hold a handful).
    pub max_messages_per_batch: usize,
    /// Backpressure: while this many events wait undrained, no new long poll is issued. `poll_output` yields
    /// events before requests, so a driver that drains never hits it. Default 1024.
    pub max_undrained_events: usize,
    /// Largest payload of one non-text command (custom event type + data, rich-message actions,
    /// sensitive-data rules), in bytes of its text fields. Default 64 KiB.
    pub max_command_bytes: usize,
    /// Most items in one list-valued command (rich-message actions, sensitive-data rules). Default 64.
    pub max_command_items: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: Limits::default().max_body_bytes,
            max_messages_per_batch: Limits::default().max_messages,
            max_undrained_events: 1024,
            max_command_bytes: 64 * 1024,
            max_command_items: 64,
        }
    }
}

impl From<LimitsConfig> for Limits {
    fn from(l: LimitsConfig) -> Limits {
        Limits {
            max_body_bytes: l.max_body_bytes,
            max_messages: l.max_messages_per_batch,
        }
    }
}

/// Floors applied to the timing settings whatever the configuration says, so no setting (zero backoff, zero
/// poll timeout, zero margin) can make the session issue requests in a busy loop.
pub mod floors {
    use std::time::Duration;
    /// Shortest retry delay (after jitter).
    pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
    /// Shortest deadline of any request, the long poll included.
    pub const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
    /// `max_attempts` below this is taken as this (one attempt, no retry).
    pub const MIN_ATTEMPTS: u32 = 1;
}

impl Config {
    /// A configuration with the documented defaults.
    pub fn new(
        endpoint: Endpoint,
        organization_id: impl Into<String>,
        deployment_id: impl Into<String>,
        button_id: impl Into<String>,
    ) -> Config {
        Config {
            endpoint,
            api_version: 59,
            organization_id: organization_id.into(),
            deployment_id: deployment_id.into(),
            button_id: button_id.into(),
            agent_id: None,
            do_fallback: None,
            button_overrides: Vec::new(),
            visitor: Visitor::default(),
            prechat_details: Vec::new(),
            prechat_entities: Vec::new(),
            receive_queue_updates: true,
            send_poll_counter: true,
            retry: RetryPolicy::default(),
            poll_margin: Duration::from_secs(5),
            default_client_poll_timeout: Duration::from_secs(40),
            request_timeout: Duration::from_secs(30),
            max_batch: 16,
            max_queued_commands: 256,
            max_text_bytes: 32 * 1024,
            enforce_idle_timeout: true,
            limits: LimitsConfig::default(),
            redirect: RedirectPolicy::default(),
            seed: 0,
        }
    }

    /// Sets the visitor's display name.
    pub fn visitor_name(mut self, name: impl Into<String>) -> Self {
        self.visitor.name = name.into();
        self
    }

    /// Sets the API version.
    pub fn api_version(mut self, version: u32) -> Self {
        self.api_version = version;
        self
    }

    /// Sets the jitter seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the redirect policy.
    pub fn redirect(mut self, policy: RedirectPolicy) -> Self {
        self.redirect = policy;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}
