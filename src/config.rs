//! Session configuration: where to connect, who the visitor is, and how patient to be.

use crate::wire::{CustomDetail, Endpoint, Entity, Limits, RedirectPolicy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The visitor's details sent in ChasitorInit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
#[serde(default)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Delay before the first retry. Default 500 ms. Floor: every retry delay, after jitter, is at least
    /// [`floors::MIN_BACKOFF`] (100 ms), whatever this says (zero included).
    pub initial_backoff: Duration,
    /// Cap on the delay. Default 16 s. The same floor applies ([`floors::MIN_BACKOFF`]).
    pub max_backoff: Duration,
    /// Consecutive failures of one request after which the session gives up. Default 8. Floor:
    /// [`floors::MIN_ATTEMPTS`] (0 is taken as 1: one attempt, no retry). No cap: `u32::MAX` retries for
    /// ever, but never faster than the backoff floor allows.
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
///
/// Deserialising needs only `endpoint`, `organization_id`, `deployment_id` and `button_id`: every other field
/// takes the default [`Config::new`] gives it, so a stored configuration keeps loading when a field is added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Config {
    /// The org's Chat API endpoint (Setup → Chat Settings).
    pub endpoint: Endpoint,
    /// `X-LIVEAGENT-API-VERSION`. Default 59 (Winter '24, the spec's target).
    #[serde(default = "defaults::api_version")]
    pub api_version: u32,
    /// Org id (`00D...`).
    pub organization_id: String,
    /// Deployment id (`572...`).
    pub deployment_id: String,
    /// Button id (`573...`).
    pub button_id: String,
    /// Direct-to-agent routing: the agent's user id.
    #[serde(default = "defaults::agent_id")]
    pub agent_id: Option<String>,
    /// With `agent_id`: fall back to the button.
    #[serde(default = "defaults::do_fallback")]
    pub do_fallback: Option<bool>,
    /// Ordered routing overrides.
    #[serde(default = "defaults::button_overrides")]
    pub button_overrides: Vec<String>,
    /// The visitor.
    #[serde(default = "defaults::visitor")]
    pub visitor: Visitor,
    /// Pre-chat details.
    #[serde(default = "defaults::prechat_details")]
    pub prechat_details: Vec<CustomDetail>,
    /// Pre-chat entities.
    #[serde(default = "defaults::prechat_entities")]
    pub prechat_entities: Vec<Entity>,
    /// Ask for QueueUpdate messages. Default true.
    #[serde(default = "defaults::receive_queue_updates")]
    pub receive_queue_updates: bool,
    /// Send the undocumented `pc` poll counter as Salesforce's own clients do. Default true.
    #[serde(default = "defaults::send_poll_counter")]
    pub send_poll_counter: bool,
    /// Retry policy for every request.
    #[serde(default = "defaults::retry")]
    pub retry: RetryPolicy,
    /// Poll deadline = `clientPollTimeout` + this margin (the server holds an idle poll about 30 s). Default 5 s.
    /// Zero is allowed (the deadline is then the poll timeout alone); the whole poll deadline is at least
    /// [`floors::MIN_REQUEST_TIMEOUT`] (1 s), so no margin and poll timeout make polls expire in a busy loop.
    #[serde(default = "defaults::poll_margin")]
    pub poll_margin: Duration,
    /// `clientPollTimeout` to assume when the SessionId answer lacks one (or gives 0 or less). Default 40 s
    /// (every capture). A server's value is capped at 3600 s. Floor: with the margin, the poll deadline is at
    /// least [`floors::MIN_REQUEST_TIMEOUT`] (1 s).
    #[serde(default = "defaults::default_client_poll_timeout")]
    pub default_client_poll_timeout: Duration,
    /// Deadline for every request other than the long poll, and how long an [`Event::SwitchOffered`] waits
    /// for the application's decision. Default 30 s. Floor: [`floors::MIN_REQUEST_TIMEOUT`] (1 s).
    ///
    /// [`Event::SwitchOffered`]: crate::Event::SwitchOffered
    #[serde(default = "defaults::request_timeout")]
    pub request_timeout: Duration,
    /// A POST carrying a ChatMessage waits until this long after the previous one was sent *and* answered:
    /// servers were seen to drop ChatMessages sent in quick succession although they answered 200 (CARBON
    /// paces them 15 ms apart; spec §9 pitfall 7). Counted from the answer too, so network delays cannot
    /// bring two arrivals closer than this. Default 20 ms; zero turns pacing off.
    #[serde(default = "defaults::message_spacing")]
    pub message_spacing: Duration,
    /// At most this many queued commands go in one MultiNoun POST. Default 16.
    #[serde(default = "defaults::max_batch")]
    pub max_batch: usize,
    /// At most this many commands wait in the outbound queue; more are refused. Default 256.
    #[serde(default = "defaults::max_queued_commands")]
    pub max_queued_commands: usize,
    /// Longest visitor text accepted by `send_message`/`sneak_peek`, in bytes. Default 32 KiB.
    #[serde(default = "defaults::max_text_bytes")]
    pub max_text_bytes: usize,
    /// Enforce `chasitorIdleTimeout` (warn, then end with `clientIdleTimeout`). Default true.
    #[serde(default = "defaults::enforce_idle_timeout")]
    pub enforce_idle_timeout: bool,
    /// Caps on what the server may send and what the application may queue (defences against a hostile or
    /// broken server; see [`LimitsConfig`]).
    #[serde(default = "defaults::limits")]
    pub limits: LimitsConfig,
    /// Where `SwitchServer` may move the session. Default [`RedirectPolicy::SameTrustClass`]: exactly the
    /// configured host or `*.salesforceliveagent.com`, https; name any other host in
    /// [`RedirectPolicy::AlsoAllow`] (`"chat.acme.example"`, `"*.acme.example"`). See [`RedirectPolicy`] for
    /// the rule and its examples.
    #[serde(default = "defaults::redirect")]
    pub redirect: RedirectPolicy,
    /// Hosts a FileTransfer upload may go to besides the redirect policy's trust class, as hosts or `*.suffix`
    /// patterns (the syntax of [`RedirectPolicy::AlsoAllow`]), `https` on the default port: typically the
    /// org's My Domain, e.g. `"acme.my.salesforce.com"`. Default none: uploads go only where a `SwitchServer`
    /// could move the session (the configured host, `*.salesforceliveagent.com`). The upload carries the chat
    /// key and the file, so no wider default (such as `*.salesforce.com`, where every org's My Domain lives) is
    /// safe. See [`RedirectPolicy::check_upload`].
    #[serde(default = "defaults::upload_hosts")]
    pub upload_hosts: Vec<String>,
    /// Seed for retry jitter. The same seed and inputs give the same outputs.
    #[serde(default = "defaults::seed")]
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
    /// The memory the events waiting for the application may hold, in bytes, estimated: each event's size and
    /// the heap it owns (strings at their length, lists at the capacity pushing leaves, maps at their B-tree
    /// nodes). A Messages answer whose events, with those not drained yet, would hold more is refused whole
    /// and not acknowledged ([`DecodeError::EventsTooLarge`](crate::wire::DecodeError::EventsTooLarge); the
    /// server still holds the batch), retried with backoff like any undecodable answer, and the session
    /// gives up ([`EndReason::GaveUp`](crate::EndReason::GaveUp)) if it never fits: nothing is acknowledged
    /// unseen and nothing is muted silently. A poll is handed out only once every event is drained, so the
    /// queue holds at most this much. One body within `max_body_bytes` can decode to far more than its
    /// length (a list of 1 MiB of empty objects is 50 MiB of typed structs); real answers hold about their
    /// length. Default 4 MiB (four times the body cap: raise both together). Floor:
    /// [`floors::MIN_UNDRAINED_EVENT_BYTES`] (64 KiB).
    pub max_undrained_event_bytes: usize,
    /// Largest payload of one non-text command (custom event type + data, rich-message actions,
    /// sensitive-data rules), in bytes of its text fields. Default 64 KiB.
    pub max_command_bytes: usize,
    /// Most items in one list-valued command (rich-message actions, sensitive-data rules). Default 64.
    pub max_command_items: usize,
    /// The ceiling on the session's request rate, sustained: a token bucket over every request it sends,
    /// whatever answers it gets (a server answering each poll at once, or a 503 with an instant reconnect,
    /// cannot raise it). Default 40 per second: twice the peak of a busy scripted chat (20 requests in its
    /// busiest second, `tests/pair.rs`). Floor: [`floors::MIN_REQUESTS_PER_SECOND`] (1).
    pub max_requests_per_second: u32,
    /// How many requests may go at once above the sustained rate (the bucket's size). Default 40. Floor: [`floors::MIN_REQUEST_BURST`] (1).
    pub request_burst: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: Limits::default().max_body_bytes,
            max_messages_per_batch: Limits::default().max_messages,
            max_undrained_events: 1024,
            max_undrained_event_bytes: 4 << 20,
            max_command_bytes: 64 * 1024,
            max_command_items: 64,
            max_requests_per_second: 40,
            request_burst: 40,
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
/// poll timeout, zero margin, zero request timeout, zero attempts) can make the session issue requests in a
/// busy loop. Against a server that never answers, the worst configuration (all zero, `max_attempts:
/// u32::MAX`) issues under one request per [`MIN_REQUEST_TIMEOUT`](floors::MIN_REQUEST_TIMEOUT) + [`MIN_BACKOFF`](floors::MIN_BACKOFF) per slot (500 polls per
/// virtual second were measured before the floors).
pub mod floors {
    use std::time::Duration;
    /// Shortest retry delay (after jitter).
    pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
    /// Shortest deadline of any request, the long poll included.
    pub const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
    /// `max_attempts` below this is taken as this (one attempt, no retry).
    pub const MIN_ATTEMPTS: u32 = 1;
    /// `LimitsConfig::max_requests_per_second` below this is taken as this (zero would stall the session).
    pub const MIN_REQUESTS_PER_SECOND: u32 = 1;
    /// `LimitsConfig::request_burst` below this is taken as this.
    pub const MIN_REQUEST_BURST: u32 = 1;
    /// `LimitsConfig::max_undrained_event_bytes` below this is taken as this: zero would refuse every answer
    /// that carries an event and end the chat (the largest real batch seen is a few KiB).
    pub const MIN_UNDRAINED_EVENT_BYTES: usize = 64 * 1024;
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
            api_version: defaults::api_version(),
            organization_id: organization_id.into(),
            deployment_id: deployment_id.into(),
            button_id: button_id.into(),
            agent_id: defaults::agent_id(),
            do_fallback: defaults::do_fallback(),
            button_overrides: defaults::button_overrides(),
            visitor: defaults::visitor(),
            prechat_details: defaults::prechat_details(),
            prechat_entities: defaults::prechat_entities(),
            receive_queue_updates: defaults::receive_queue_updates(),
            send_poll_counter: defaults::send_poll_counter(),
            retry: defaults::retry(),
            poll_margin: defaults::poll_margin(),
            default_client_poll_timeout: defaults::default_client_poll_timeout(),
            request_timeout: defaults::request_timeout(),
            message_spacing: defaults::message_spacing(),
            max_batch: defaults::max_batch(),
            max_queued_commands: defaults::max_queued_commands(),
            max_text_bytes: defaults::max_text_bytes(),
            enforce_idle_timeout: defaults::enforce_idle_timeout(),
            limits: defaults::limits(),
            redirect: defaults::redirect(),
            upload_hosts: defaults::upload_hosts(),
            seed: defaults::seed(),
        }
    }

    /// Sets the visitor's display name.
    #[must_use]
    pub fn visitor_name(mut self, name: impl Into<String>) -> Self {
        self.visitor.name = name.into();
        self
    }

    /// Sets the API version.
    #[must_use]
    pub fn api_version(mut self, version: u32) -> Self {
        self.api_version = version;
        self
    }

    /// Sets the jitter seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the redirect policy.
    pub fn redirect(mut self, policy: RedirectPolicy) -> Self {
        self.redirect = policy;
        self
    }

    /// Sets the hosts uploads may go to besides the redirect policy's trust class ([`Config::upload_hosts`]).
    #[must_use]
    pub fn upload_hosts<S: Into<String>>(mut self, hosts: impl IntoIterator<Item = S>) -> Self {
        self.upload_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// The defaults of [`Config::new`], one function per field, for `#[serde(default = ...)]`.
mod defaults {
    use super::*;

    pub(super) fn api_version() -> u32 {
        59
    }
    pub(super) fn agent_id() -> Option<String> {
        None
    }
    pub(super) fn do_fallback() -> Option<bool> {
        None
    }
    pub(super) fn button_overrides() -> Vec<String> {
        Vec::new()
    }
    pub(super) fn visitor() -> Visitor {
        Visitor::default()
    }
    pub(super) fn prechat_details() -> Vec<CustomDetail> {
        Vec::new()
    }
    pub(super) fn prechat_entities() -> Vec<Entity> {
        Vec::new()
    }
    pub(super) fn receive_queue_updates() -> bool {
        true
    }
    pub(super) fn send_poll_counter() -> bool {
        true
    }
    pub(super) fn retry() -> RetryPolicy {
        RetryPolicy::default()
    }
    pub(super) fn poll_margin() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn default_client_poll_timeout() -> Duration {
        Duration::from_secs(40)
    }
    pub(super) fn request_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub(super) fn message_spacing() -> Duration {
        Duration::from_millis(20)
    }
    pub(super) fn max_batch() -> usize {
        16
    }
    pub(super) fn max_queued_commands() -> usize {
        256
    }
    pub(super) fn max_text_bytes() -> usize {
        32 * 1024
    }
    pub(super) fn enforce_idle_timeout() -> bool {
        true
    }
    pub(super) fn limits() -> LimitsConfig {
        LimitsConfig::default()
    }
    pub(super) fn redirect() -> RedirectPolicy {
        RedirectPolicy::default()
    }
    pub(super) fn upload_hosts() -> Vec<String> {
        Vec::new()
    }
    pub(super) fn seed() -> u64 {
        0
    }
}
