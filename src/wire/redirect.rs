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

/// The pool domain every real Chat API host lives under (spec §1.1: `d.la1-c1-phx.salesforceliveagent.com`, ...).
pub const SALESFORCE_LIVE_AGENT_DOMAIN: &str = "salesforceliveagent.com";

/// The domain of the org instances (`na1.salesforce.com`, `my-org.my.salesforce.com`), where the FileTransfer
/// upload servlet lives (`https://…salesforce.com/services/liveagent/file`; Inbenta's connector refuses any
/// other upload URL): allowed as an upload target by [`RedirectPolicy::check_upload`].
pub(crate) const SALESFORCE_DOMAIN: &str = "salesforce.com";

/// Which `SwitchServer` targets the session follows. A target outside the policy is never contacted: the chat
/// ends with [`EndReason::RedirectRefused`](crate::EndReason::RedirectRefused), or with
/// [`RedirectPolicy::AskApplication`] the application is asked first. Either way the event comes out of
/// [`poll_output`](crate::Session::poll_output) before any request to the new host.
///
/// The default, [`RedirectPolicy::SameTrustClass`], allows what a real migration or site switch needs and
/// nothing more:
/// * configured `https://` endpoint → `https://` on the configured host's registrable domain or on
///   `*.salesforceliveagent.com`, on the default port (or the configured endpoint's own port);
/// * configured loopback endpoint (`localhost`, `127.0.0.0/8`, `[::1]`; local testing, plain `http` allowed) →
///   another loopback address or port;
/// * configured plain `http://` non-loopback endpoint → only an upgrade to `https://` under the same rules as
///   `https` (plain http to a remote host is not a class this client vouches for).
///
/// The registrable domain is approximated without a public-suffix list: the last two labels of the host, or the
/// last three when the second-to-last is a common second-level label under a two-letter country code
/// (`example.co.uk`). An IP-literal host has no registrable domain: only `*.salesforceliveagent.com` is allowed
/// from it. Widen the policy with [`RedirectPolicy::AlsoAllow`] if an org needs more.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RedirectPolicy {
    /// Follow switches within the trust class of the configured endpoint; end the chat on any other.
    #[default]
    SameTrustClass,
    /// Like [`SameTrustClass`](RedirectPolicy::SameTrustClass), and also `https://` (default port) to these
    /// hosts and their subdomains (e.g. `"my-org.example.net"`).
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
    /// A host outside the configured host's registrable domain and `*.salesforceliveagent.com`.
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
                "the new host is outside the configured host's domain and salesforceliveagent.com"
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

fn is_ip_literal(host: &str) -> bool {
    host.starts_with('[')
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<core::net::IpAddr>()
            .is_ok()
}

/// `host` is `domain` or one of its subdomains (on a label boundary: `xsalesforceliveagent.com` is not).
fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
}

/// The registrable domain of a (normalised) host name, approximated: see [`RedirectPolicy`].
fn registrable_domain(host: &str) -> Option<&str> {
    if is_ip_literal(host) {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    if n < 2 || labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    const SECOND_LEVEL: &[&str] = &[
        "co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go",
    ];
    let take = if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    let start: usize = labels[..n - take].iter().map(|l| l.len() + 1).sum();
    host.get(start..)
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
        let configured_host = normalise(configured.host());
        let extra: &[String] = match self {
            RedirectPolicy::AlsoAllow(hosts) => hosts,
            _ => &[],
        };
        let allowed = within(&host, SALESFORCE_LIVE_AGENT_DOMAIN)
            || host == configured_host
            || registrable_domain(&configured_host).is_some_and(|d| within(&host, d))
            || extra
                .iter()
                .any(|d| !d.is_empty() && within(&host, &normalise(d)));
        if !allowed {
            return Err(RedirectRefusal::ForeignHost);
        }
        match port_of(target) {
            None | Some(443) => Ok(()),
            Some(p) if configured.is_tls() && port_of(configured) == Some(p) => Ok(()),
            Some(_) => Err(RedirectRefusal::NonDefaultPort),
        }
    }

    /// Whether a FileTransfer upload (which carries the chat key, the session key's id part) may go to
    /// `target`, the host of an `uploadServletUrl`. The same rules as [`check`](RedirectPolicy::check) — the
    /// key never goes where the session would not follow a `SwitchServer` — with two differences:
    /// * a configured non-loopback endpoint also allows `https://` on `*.salesforce.com` (default port), the
    ///   org instance domain where the real upload servlet lives;
    /// * under [`RedirectPolicy::Never`] only the configured endpoint itself (same scheme, host and port) is
    ///   allowed, since an upload moves nothing.
    ///
    /// [`RedirectPolicy::AskApplication`] is read as [`RedirectPolicy::SameTrustClass`]: there is nothing to
    /// offer; an application that trusts another upload host lists it in [`RedirectPolicy::AlsoAllow`].
    pub fn check_upload(
        &self,
        configured: &Endpoint,
        target: &Endpoint,
    ) -> Result<(), RedirectRefusal> {
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
        let refusal = match self.check(configured, target) {
            Ok(()) => return Ok(()),
            Err(r) => r,
        };
        let salesforce = !configured.is_loopback()
            && target.is_tls()
            && matches!(port_of(target), None | Some(443))
            && within(&normalise(target.host()), SALESFORCE_DOMAIN);
        if salesforce { Ok(()) } else { Err(refusal) }
    }
}
