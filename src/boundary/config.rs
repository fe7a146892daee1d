//! The configuration's JSON form (camelCase, durations in milliseconds) read into a [`Config`].

use super::input::{Obj, kind_of};
use super::{BoundaryError, ErrorCode, SCHEMA_VERSION};
use crate::config::Config;
use crate::wire::Endpoint;
use crate::wire::RedirectPolicy;
use serde_json::Value;

/// Reads a [`Config`] from its JSON form (see `docs/boundary.md`, "Config").
pub(crate) fn config_from_json(json: &str) -> Result<Config, BoundaryError> {
    config_from_obj(Obj::parse(
        json,
        ErrorCode::InvalidConfig,
        "the configuration",
    )?)
}

/// Reads a [`Config`] from its JSON form already parsed (a binding that converts its language's values
/// instead of writing JSON text): the same checks and messages as [`config_from_json`].
pub(crate) fn config_from_value(value: Value) -> Result<Config, BoundaryError> {
    config_from_obj(Obj::top(
        value,
        ErrorCode::InvalidConfig,
        "the configuration",
    )?)
}

fn config_from_obj(mut o: Obj) -> Result<Config, BoundaryError> {
    check_version(&mut o)?;
    let endpoint: String = o.req("endpoint")?;
    let endpoint = Endpoint::parse(&endpoint).map_err(|e| o.invalid("endpoint", e))?;
    let organization_id: String = o.req("organizationId")?;
    let deployment_id: String = o.req("deploymentId")?;
    let button_id: String = o.req("buttonId")?;
    let mut c = Config::new(endpoint, organization_id, deployment_id, button_id);
    o.set("apiVersion", &mut c.api_version)?;
    c.agent_id = o.opt("agentId")?;
    c.do_fallback = o.opt("doFallback")?;
    o.set("buttonOverrides", &mut c.button_overrides)?;
    if let Some(mut v) = o.obj("visitor")? {
        v.set("name", &mut c.visitor.name)?;
        v.set("userAgent", &mut c.visitor.user_agent)?;
        v.set("language", &mut c.visitor.language)?;
        v.set("screenResolution", &mut c.visitor.screen_resolution)?;
        v.finish()?;
    }
    o.set("prechatDetails", &mut c.prechat_details)?;
    o.set("prechatEntities", &mut c.prechat_entities)?;
    o.set("receiveQueueUpdates", &mut c.receive_queue_updates)?;
    o.set("sendPollCounter", &mut c.send_poll_counter)?;
    if let Some(mut r) = o.obj("retry")? {
        r.set_ms("initialBackoffMs", &mut c.retry.initial_backoff)?;
        r.set_ms("maxBackoffMs", &mut c.retry.max_backoff)?;
        r.set("maxAttempts", &mut c.retry.max_attempts)?;
        r.set("jitterPercent", &mut c.retry.jitter_percent)?;
        r.finish()?;
    }
    o.set_ms("pollMarginMs", &mut c.poll_margin)?;
    o.set_ms(
        "defaultClientPollTimeoutMs",
        &mut c.default_client_poll_timeout,
    )?;
    o.set_ms("requestTimeoutMs", &mut c.request_timeout)?;
    o.set_ms("messageSpacingMs", &mut c.message_spacing)?;
    o.set("maxBatch", &mut c.max_batch)?;
    o.set("maxQueuedCommands", &mut c.max_queued_commands)?;
    o.set("maxTextBytes", &mut c.max_text_bytes)?;
    o.set("enforceIdleTimeout", &mut c.enforce_idle_timeout)?;
    if let Some(mut l) = o.obj("limits")? {
        l.set("maxBodyBytes", &mut c.limits.max_body_bytes)?;
        l.set("maxMessagesPerBatch", &mut c.limits.max_messages_per_batch)?;
        l.set("maxUndrainedEvents", &mut c.limits.max_undrained_events)?;
        l.set(
            "maxUndrainedEventBytes",
            &mut c.limits.max_undrained_event_bytes,
        )?;
        l.set("maxCommandBytes", &mut c.limits.max_command_bytes)?;
        l.set("maxCommandItems", &mut c.limits.max_command_items)?;
        l.set(
            "maxRequestsPerSecond",
            &mut c.limits.max_requests_per_second,
        )?;
        l.set("requestBurst", &mut c.limits.request_burst)?;
        l.finish()?;
    }
    if let Some(v) = o.value("redirect") {
        c.redirect = redirect_policy(v).map_err(|m| o.invalid("redirect", m))?;
    }
    o.set("uploadHosts", &mut c.upload_hosts)?;
    o.set("seed", &mut c.seed)?;
    o.finish()?;
    Ok(c)
}

/// `version`, when given, must be one this build reads.
pub(crate) fn check_version(o: &mut Obj) -> Result<(), BoundaryError> {
    if let Some(v) = o.opt::<u32>("version")?
        && (v == 0 || v > SCHEMA_VERSION)
    {
        return Err(o.invalid(
            "version",
            format!("schema version {v} is not supported (this build reads 1 to {SCHEMA_VERSION})"),
        ));
    }
    Ok(())
}

/// `"sameTrustClass"`, `"askApplication"`, `"never"` or `{"alsoAllow": ["host", ...]}`.
fn redirect_policy(v: Value) -> Result<RedirectPolicy, String> {
    const EXPECTED: &str = "expected \"sameTrustClass\", \"askApplication\", \"never\" or {\"alsoAllow\": [host, ...]}";
    match v {
        Value::String(s) => match s.as_str() {
            "sameTrustClass" => Ok(RedirectPolicy::SameTrustClass),
            "askApplication" => Ok(RedirectPolicy::AskApplication),
            "never" => Ok(RedirectPolicy::Never),
            other => Err(format!("unknown policy {other:?}; {EXPECTED}")),
        },
        Value::Object(mut m) if m.len() == 1 => match m.remove("alsoAllow") {
            Some(hosts) => serde_json::from_value::<Vec<String>>(hosts)
                .map(RedirectPolicy::AlsoAllow)
                .map_err(|e| format!("alsoAllow: {e}")),
            None => Err(EXPECTED.to_owned()),
        },
        other => Err(format!("{}; {EXPECTED}", kind_of(&other))),
    }
}
