//! Where a server may move the session: the redirect policy applied to `SwitchServer` (and to a resumed
//! snapshot's endpoint).
//!
//! Every session-scoped request carries the session key (a header, and the path of `DELETE SessionId`) and the
//! affinity token, so following a `newUrl` blindly hands both to whoever wrote it. Salesforce's own SDK only
//! follows `https://…/chat` (regex `https://(.*)/chat`, spec §1.1); this policy is stricter about the host, since
//! the SDK's regex would follow `https://attacker.example/chat` too.

use super::Endpoint;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The pool domain every real Chat API host lives under (spec §1.1: `d.la1-c1-phx.salesforceliveagent.com`,
/// `d.la4-c1-ia4.salesforceliveagent.com`, `d.la10.salesforceliveagent.com`, ...; field evidence §8). Salesforce
/// runs every host under it for every org, so no tenant can put a server of its own there.
pub const SALESFORCE_LIVE_AGENT_DOMAIN: &str = "salesforceliveagent.com";

/// Which `SwitchServer` targets the session follows. A target outside the policy is never contacted: the chat
/// ends with [`EndReason::RedirectRefused`](crate::EndReason::RedirectRefused), or with
/// [`RedirectPolicy::AskApplication`] the application is asked first. Either way the event comes out of
/// [`poll_output`](crate::Session::poll_output) before any request to the new host.
///
/// The default, [`RedirectPolicy::SameTrustClass`], allows what a real migration or site switch needs and
/// nothing more:
/// * configured `https://` endpoint → `https://` on **exactly** the configured host, or on
///   `*.salesforceliveagent.com` (where every real Chat API host lives), on the default port (or the
///   configured endpoint's own port);
/// * configured loopback endpoint (`localhost`, `127.0.0.0/8`, `[::1]`; local testing, plain `http` allowed) →
///   another loopback address or port;
/// * configured plain `http://` non-loopback endpoint → only an upgrade to `https://` under the same rules as
///   `https` (plain http to a remote host is not a class this client vouches for).
///
/// There is no "same registrable domain" rule: without the Public Suffix List a client cannot tell
/// `chat.example.co.uk` from a tenant of a shared suffix (`*.my.site.com`, `*.secure.force.com`,
/// `*.herokuapp.com`, `*.ltd.uk`, `*.nsw.gov.au`, `*.uk.com`), whose neighbours are other customers. Any
/// other host must be named by the application in [`RedirectPolicy::AlsoAllow`], as a host or a `*.suffix`
/// pattern. With the endpoint `https://acme.my.site.com`:
///
/// | target | default | `AlsoAllow(["chat.acme.example", "*.acme.example"])` |
/// |---|---|---|
/// | `https://acme.my.site.com/chat` | followed (the configured host) | followed |
/// | `https://d.la4-c1-ia4.salesforceliveagent.com/chat` | followed | followed |
/// | `https://rival.my.site.com/chat` | refused (another tenant) | refused |
/// | `https://chat.acme.example/chat` | refused | followed (named) |
/// | `https://eu.chat.acme.example/chat` | refused | followed (`*.acme.example`) |
/// | `https://acme.example/chat` | refused | refused (`*.` needs a label before the suffix) |
/// | `http://d.la4.salesforceliveagent.com/chat` | refused (not https) | refused |
/// | `https://d.la4.salesforceliveagent.com:8443/chat` | refused (port) | refused |
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RedirectPolicy {
    /// Follow switches within the trust class of the configured endpoint; end the chat on any other.
    #[default]
    SameTrustClass,
    /// Like [`SameTrustClass`](RedirectPolicy::SameTrustClass), and also `https://` (default port) to the
    /// hosts these entries name. An entry is a host, matched exactly (`"chat.acme.example"`), or `*.` and a
    /// suffix of at least two labels, matching any host below it (`"*.acme.example"` matches
    /// `eu.chat.acme.example`, not `acme.example` itself). Case and one trailing dot are ignored; an entry of
    /// any other shape (`"*"`, `"*.com"`, `"a.*.example"`, empty) matches nothing. A pattern is the
    /// application's own statement of trust: `"*.my.site.com"` would trust every Experience Cloud site.
    AlsoAllow(Vec<String>),
    /// Follow switches within the trust class; offer any other to the application as
    /// [`Event::SwitchOffered`](crate::Event::SwitchOffered). Until it calls
    /// [`Session::accept_switch`](crate::Session::accept_switch) or
    /// [`Session::refuse_switch`](crate::Session::refuse_switch) the session sends nothing new.
    AskApplication,
    /// Never move: every `SwitchServer` (even within the trust class) ends the chat.
    Never,
}

/// Why a `SwitchServer` target is outside the [`RedirectPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RedirectRefusal {
    /// The policy is [`RedirectPolicy::Never`].
    Disabled,
    /// From `https` (or plain http to a remote host) to plain `http`: the key would travel in clear text.
    NotHttps,
    /// From a loopback endpoint to a host that is not loopback.
    LeavesLoopback,
    /// A host that is neither the configured one, nor under `*.salesforceliveagent.com`, nor named by the
    /// application ([`RedirectPolicy::AlsoAllow`], or `Config::upload_hosts` for an upload).
    ForeignHost,
    /// A port other than the default (443) or the configured endpoint's own.
    NonDefaultPort,
}

impl fmt::Display for RedirectRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedirectRefusal::Disabled => "the redirect policy follows no SwitchServer",
            RedirectRefusal::NotHttps => "the new endpoint is not https",
            RedirectRefusal::LeavesLoopback => "the new endpoint leaves loopback",
            RedirectRefusal::ForeignHost => {
                "the new host is not the configured host, not under salesforceliveagent.com, and not named by the application"
            }
            RedirectRefusal::NonDefaultPort => "the new endpoint uses a non-default port",
        })
    }
}

/// A host compared case-insensitively, without one trailing dot (`a.example.` is `a.example` in DNS).
fn normalise(host: &str) -> String {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.to_ascii_lowercase()
}

/// `host` is `domain` or one of its subdomains (on a label boundary: `xsalesforceliveagent.com` is not).
fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
}

/// Whether the (normalised) `host` is named by an allowlist entry: a host matched exactly, or `*.suffix`
/// (a suffix of at least two non-empty labels) matching any host strictly below the suffix. Entries of any
/// other shape match nothing.
pub(crate) fn host_allowed_by(pattern: &str, host: &str) -> bool {
    let pattern = normalise(pattern.trim());
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            let labels_ok = suffix.split('.').all(|l| !l.is_empty() && !l.contains('*'));
            labels_ok
                && suffix.contains('.')
                && host
                    .strip_suffix(suffix)
                    .and_then(|rest| rest.strip_suffix('.'))
                    .is_some_and(|label| !label.is_empty())
        }
        None => !pattern.contains('*') && pattern == host,
    }
}

fn allowed_by_any(patterns: &[String], host: &str) -> bool {
    patterns.iter().any(|p| host_allowed_by(p, host))
}

fn port_of(e: &Endpoint) -> Option<u16> {
    e.port()
}

impl RedirectPolicy {
    /// Whether the session may move from the `configured` endpoint (the one in [`Config`](crate::Config), not
    /// the current one: trust never widens step by step) to `target`.
    pub fn check(&self, configured: &Endpoint, target: &Endpoint) -> Result<(), RedirectRefusal> {
        if *self == RedirectPolicy::Never {
            return Err(RedirectRefusal::Disabled);
        }
        if configured.is_loopback() {
            return if target.is_loopback() {
                Ok(())
            } else {
                Err(RedirectRefusal::LeavesLoopback)
            };
        }
        if !target.is_tls() {
            return Err(RedirectRefusal::NotHttps);
        }
        let host = normalise(target.host());
        let extra: &[String] = match self {
            RedirectPolicy::AlsoAllow(hosts) => hosts,
            _ => &[],
        };
        let allowed = within(&host, SALESFORCE_LIVE_AGENT_DOMAIN)
            || host == normalise(configured.host())
            || allowed_by_any(extra, &host);
        if !allowed {
            return Err(RedirectRefusal::ForeignHost);
        }
        match port_of(target) {
            None | Some(443) => Ok(()),
            Some(p) if configured.is_tls() && port_of(configured) == Some(p) => Ok(()),
            Some(_) => Err(RedirectRefusal::NonDefaultPort),
        }
    }

    /// Whether a FileTransfer upload (which carries the chat key, the session key's id part, and the file) may
    /// go to `target`, the host of an `uploadServletUrl`. The same rules as [`check`](RedirectPolicy::check) —
    /// the key never goes where the session would not follow a `SwitchServer` — with two differences:
    /// * `upload_hosts` (`Config::upload_hosts`: hosts or `*.suffix` patterns, as in
    ///   [`RedirectPolicy::AlsoAllow`]) are allowed too, `https://` on the default port: the org's My Domain
    ///   (`acme.my.salesforce.com`) or instance, where the real upload servlet may live. No other
    ///   `*.salesforce.com` host is: another org's My Domain, or `webto.salesforce.com`, would receive the
    ///   chat key and the file;
    /// * under [`RedirectPolicy::Never`] only the configured endpoint itself (same scheme, host and port) and
    ///   `upload_hosts` are allowed, since an upload moves nothing.
    ///
    /// [`RedirectPolicy::AskApplication`] is read as [`RedirectPolicy::SameTrustClass`]: there is nothing to
    /// offer; an application that trusts another upload host names it in `upload_hosts`.
    pub fn check_upload(
        &self,
        configured: &Endpoint,
        target: &Endpoint,
        upload_hosts: &[String],
    ) -> Result<(), RedirectRefusal> {
        let named = target.is_tls()
            && matches!(port_of(target), None | Some(443))
            && allowed_by_any(upload_hosts, &normalise(target.host()));
        if named {
            return Ok(());
        }
        if *self == RedirectPolicy::Never {
            let same = configured.scheme() == target.scheme()
                && normalise(configured.host()) == normalise(target.host())
                && configured.port() == target.port();
            return if same {
                Ok(())
            } else {
                Err(RedirectRefusal::Disabled)
            };
        }
        self.check(configured, target)
    }
}
