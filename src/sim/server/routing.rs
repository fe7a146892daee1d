//! Routing: which resource a request names, the checks every session-scoped request passes (version, key,
//! affinity, sequence, host), and the request lines of transcripts and findings.

use super::Server;
use super::encoding::*;
use crate::sim::conformance::{Severity, codes};
use crate::sim::dialect as d;
use crate::sim::session::{ChatRecord, Effects, Switch};
use crate::sim::{FaultKind, ServerEnd, SessionState, Ticket, Trigger};
use crate::time::Timestamp;
use crate::wire::{self, Message, MessagesBody, header};
use http::header::HOST;
use http::{Method, Request};
use std::borrow::Cow;

pub(super) const SESSION_INVALID: &str = "Session required but was invalid or not found";

pub(super) const NO_VERSION: &str = "No version header found";

pub(super) enum Outcome {
    Respond(Answer),
    Held,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    SessionId,
    DeleteSession(String),
    Reconnect,
    Messages,
    Chasitor(&'static str),
    MultiNoun,
    Settings,
    Availability,
    VisitorId,
    Breadcrumb,
}

/// Per-request context.
pub(super) struct Ctx {
    pub(super) ticket: Ticket,
    pub(super) now: Timestamp,
    pub(super) session: Option<usize>,
    pub(super) fx: Effects,
    pub(super) line: String,
    /// Session-level fault kinds from a ServerRequest trigger, applied once the session is known.
    pub(super) session_kinds: Vec<FaultKind>,
    /// End the request's session once the reply is queued (it delivered the final message).
    pub(super) end_after: Option<ServerEnd>,
    /// The answer is a planned fault or the protocol's own signal (a handover's first 503), not a refusal
    /// of the request: no finding.
    pub(super) planned: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Poll,
    Post,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Affinity {
    /// The current token is required.
    Token,
    /// Not checked by the gate (ReconnectSession checks `null` itself).
    Unchecked,
}

pub(super) fn route(method: &Method, path: &str) -> Result<Route, Answer> {
    let Some(rest) = path.strip_prefix("/chat/rest/") else {
        return Err(Answer::text(404, "Not Found"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut parts = rest.splitn(3, '/');
    let prefix = parts.next().unwrap_or_default();
    let noun = parts.next().unwrap_or_default();
    let tail = parts.next();
    let (route, allowed): (Route, Method) = match (prefix, noun, tail) {
        ("System", "SessionId", None) => (Route::SessionId, Method::GET),
        ("System", "SessionId", Some(key)) if !key.is_empty() && !key.contains('/') => (
            Route::DeleteSession(wire::percent_decode(key)),
            Method::DELETE,
        ),
        ("System", "ReconnectSession", None) => (Route::Reconnect, Method::GET),
        ("System", "Messages", None) => (Route::Messages, Method::GET),
        ("System", "MultiNoun", None) => (Route::MultiNoun, Method::POST),
        ("Chasitor", n, None) => match wire::NOUN_NAMES.iter().find(|k| **k == n) {
            Some(k) => (Route::Chasitor(k), Method::POST),
            None => return Err(Answer::text(404, "Not Found")),
        },
        ("Visitor", "Settings", None) => (Route::Settings, Method::GET),
        ("Visitor", "Availability", None) => (Route::Availability, Method::GET),
        ("Visitor", "VisitorId", None) => (Route::VisitorId, Method::GET),
        ("Visitor", "Breadcrumb", None) => (Route::Breadcrumb, Method::POST),
        _ => return Err(Answer::text(404, "Not Found")),
    };
    if *method == allowed {
        Ok(route)
    } else {
        Err(Answer::text(405, "Method Not Allowed"))
    }
}

/// Decoded query pairs; text without escapes is borrowed, not copied.
pub(super) type Query<'a> = [(Cow<'a, str>, Cow<'a, str>)];

pub(super) fn decode(s: &str) -> Cow<'_, str> {
    if s.contains('%') {
        Cow::Owned(wire::percent_decode(s))
    } else {
        Cow::Borrowed(s)
    }
}

pub(super) fn query_pairs(query: Option<&str>) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub(super) fn param<'a>(pairs: &'a Query<'_>, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_ref())
}

/// `[a,b]` or a bare `a` or `a,b`.
pub(super) fn list(value: &str) -> Vec<String> {
    let v = value.trim();
    let v = v.strip_prefix('[').unwrap_or(v);
    let v = v.strip_suffix(']').unwrap_or(v);
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) fn header_str<B>(req: &Request<B>, name: http::HeaderName) -> Option<&str> {
    let headers = req.headers();
    // A visitor request carries a handful of headers: comparing names is cheaper than hashing one (a custom
    // name is hashed byte by byte). `iter` yields a name's first value first, as `get` returns it.
    let value = if headers.len() <= 16 {
        headers.iter().find(|(n, _)| **n == name).map(|(_, v)| v)
    } else {
        headers.get(name)
    };
    value.and_then(|v| v.to_str().ok())
}

pub(super) fn authority_of<B>(req: &Request<B>) -> Option<String> {
    req.uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| header_str(req, HOST).map(str::to_owned))
}

pub(super) fn parse_version(v: &str) -> Option<u32> {
    let v = v.trim();
    let v = v.strip_suffix(".0").unwrap_or(v);
    v.parse().ok()
}

impl Server {
    pub(super) fn dispatch<B: AsRef<[u8]>>(&mut self, req: &Request<B>, ctx: &mut Ctx) -> Outcome {
        // Server-wide request-count faults.
        let n = self.server_requests;
        let kinds: Vec<FaultKind> = self
            .config
            .faults
            .faults
            .iter()
            .filter(|f| f.at == Trigger::ServerRequest(n))
            .map(|f| f.kind)
            .collect();
        for kind in kinds {
            let text = format!("fault {kind:?} (server request {n})");
            self.log(ctx.now, Some(ctx.ticket), None, text);
            match kind {
                FaultKind::DropReply => ctx.fx.drop = true,
                FaultKind::DelayReply(d) => ctx.fx.delay = Some(d),
                FaultKind::ServerErrors { count, status } => {
                    self.global.burst_left = count;
                    self.global.burst_status = status;
                }
                FaultKind::Unreachable { count, after } => {
                    self.global.unreachable_left = count;
                    self.global.unreachable_after = after;
                }
                other => ctx.session_kinds.push(other),
            }
        }
        if self.global.unreachable_left > 0 {
            self.global.unreachable_left -= 1;
            ctx.fx.unreachable = Some(self.global.unreachable_after);
            ctx.planned = true;
            return Outcome::Respond(Answer::empty(0, ""));
        }
        if self.global.burst_left > 0 {
            self.global.burst_left -= 1;
            let status = self.global.burst_status;
            ctx.planned = true;
            return Outcome::Respond(Answer::text(status, "Simulated server error"));
        }

        if let Some(a) = self.upload_route(req, ctx) {
            return Outcome::Respond(a);
        }
        let route = match route(req.method(), req.uri().path()) {
            Ok(r) => r,
            Err(a) => return Outcome::Respond(a),
        };
        let refused = match header_str(req, header::API_VERSION_NAME).map(parse_version) {
            None => Some((NO_VERSION, "no X-LIVEAGENT-API-VERSION header".to_owned())),
            Some(None) => Some((
                "Invalid X-LIVEAGENT-API-VERSION",
                "X-LIVEAGENT-API-VERSION is not a number".to_owned(),
            )),
            Some(Some(v)) if v < self.config.min_api_version => Some((
                "Unsupported API version",
                format!(
                    "X-LIVEAGENT-API-VERSION {v} is below the lowest this server takes ({})",
                    self.config.min_api_version
                ),
            )),
            Some(Some(_)) => None,
        };
        if let Some((answer, what)) = refused {
            self.refusal(
                req,
                ctx,
                codes::MISSING_VERSION,
                "§1.3",
                format!("{what} (refused 400)"),
            );
            return Outcome::Respond(Answer::text(400, answer));
        }
        let body = req.body().as_ref();
        let query = query_pairs(req.uri().query());
        let r = match route {
            Route::SessionId => self.create_session(req, ctx),
            Route::DeleteSession(key) => self.delete_session(req, ctx, key),
            Route::Reconnect => self.reconnect(req, ctx, &query),
            Route::Messages => return self.messages(req, ctx, &query),
            Route::Chasitor(name) => self.chasitor(req, ctx, name, body),
            Route::MultiNoun => self.multi_noun(req, ctx, body),
            Route::Settings => self.settings(&query),
            Route::Availability => self.availability(&query),
            Route::VisitorId => self.visitor_id(&query),
            Route::Breadcrumb => self.breadcrumb(req, ctx, body),
        };
        Outcome::Respond(r)
    }

    /// Identifies the session of a request and applies faults, expiry, host and affinity checks.
    pub(super) fn gate<B>(
        &mut self,
        req: &Request<B>,
        ctx: &mut Ctx,
        key: Option<&str>,
        kind: Kind,
        affinity: Affinity,
    ) -> Result<usize, Answer> {
        let key = match key.or_else(|| header_str(req, header::SESSION_KEY_NAME)) {
            Some(k) => k,
            None => return Err(Answer::text(403, SESSION_INVALID)),
        };
        let Some(&si) = self.by_key.get(key) else {
            return Err(Answer::text(403, SESSION_INVALID));
        };
        ctx.session = Some(si);
        let t = ctx.now;
        let Some(s) = self.sessions.get_mut(si) else {
            return Err(Answer::text(403, SESSION_INVALID));
        };
        if !s.rec.state.is_live() {
            if kind == Kind::Post && s.dx.final_delivered && !s.dx.told_403 {
                // The visitor's one POST in flight when it read the final message (a retry whose timer fired
                // while that answer was on its way): over, without a finding; a second request is one.
                ctx.planned = true;
                return Err(Answer::text(403, SESSION_INVALID));
            }
            let (code, what) = if s.dx.told_403 {
                (
                    codes::REQUEST_AFTER_403,
                    "a request for a session the server already answered 403 (refused 403)"
                        .to_owned(),
                )
            } else {
                let why = completion_reason(s);
                (
                    codes::UNKNOWN_SESSION,
                    format!("a request for a session that is over: {why} (refused 403)"),
                )
            };
            self.note(si, req, Severity::Violation, code, "§8", what, t);
            return Err(Answer::text(403, SESSION_INVALID));
        }
        s.requests = s.requests.saturating_add(1);
        match kind {
            Kind::Poll => s.rec.polls = s.rec.polls.saturating_add(1),
            Kind::Post => s.posts = s.posts.saturating_add(1),
            Kind::Other => {}
        }
        let (requests, polls, posts) = (s.requests, s.rec.polls, s.posts);
        let faults = &self.config.faults.faults;
        let mut due = Vec::new();
        s.pending_faults.retain(|&fi| {
            let hit = match faults.get(fi).map(|f| f.at) {
                Some(Trigger::Request(n)) => n == requests,
                Some(Trigger::Poll(n)) => kind == Kind::Poll && n == polls,
                Some(Trigger::Post(n)) => kind == Kind::Post && n == posts,
                _ => false,
            };
            if hit {
                due.push(fi);
            }
            !hit
        });
        let mut kinds: Vec<FaultKind> = due
            .iter()
            .filter_map(|&fi| faults.get(fi).map(|f| f.kind))
            .collect();
        kinds.append(&mut ctx.session_kinds);
        for k in kinds {
            self.fire(si, k, t, Some(ctx));
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Err(Answer::text(403, SESSION_INVALID));
        };
        if s.armed.drop {
            s.armed.drop = false;
            ctx.fx.drop = true;
        }
        if let Some(d) = s.armed.delay.take() {
            ctx.fx.delay = Some(d);
        }
        if s.armed.unreachable_left > 0 {
            s.armed.unreachable_left -= 1;
            ctx.fx.unreachable = Some(s.armed.unreachable_after);
            ctx.planned = true;
            return Err(Answer::empty(0, ""));
        }
        if !s.rec.state.is_live() {
            return Err(Answer::text(403, SESSION_INVALID));
        }
        if s.armed.burst_left > 0 {
            s.armed.burst_left -= 1;
            let status = s.armed.burst_status;
            if status == 503 {
                s.reconnect_allowed = true;
            }
            ctx.planned = true;
            return Err(Answer::text(status, "Simulated server error"));
        }
        // Polls are checked once their `ack` is known (the poll acknowledging the switch must use the new host).
        if kind != Kind::Poll
            && let Some(a) = wrong_host(
                s,
                req,
                kind,
                &self.config.alternate_host,
                self.config.dialect.numbers,
            )
        {
            // Sent before the visitor read the SwitchServer (its one POST in flight while the poll that brought
            // the switch was answered) and overtaken by the poll acknowledging it: served where it was sent, once.
            let in_flight = s
                .switch
                .as_mut()
                .filter(|w| !w.old_host_closed)
                .map(|w| w.old_host_closed = true)
                .is_some();
            if !in_flight {
                let what = "a request at the other host after the visitor acknowledged SwitchServer (refused 400)";
                self.note(
                    si,
                    req,
                    Severity::Violation,
                    codes::WRONG_HOST,
                    "§6.6",
                    what.into(),
                    t,
                );
                return Err(a);
            }
            let line = "sent to the old host before the SwitchServer was read: served there";
            self.log(t, Some(ctx.ticket), Some(si), line.into());
        }
        let Some(s) = self.sessions.get_mut(si) else {
            return Err(Answer::text(403, SESSION_INVALID));
        };
        if kind != Kind::Poll
            && let Some(w) = s.switch.as_mut()
            && at_new_host(w, req, &self.config.alternate_host)
        {
            w.old_host_closed = true;
        }
        if affinity == Affinity::Token {
            let sent = header_str(req, header::AFFINITY_NAME).unwrap_or_default();
            if sent != s.token {
                s.reconnect_allowed = true;
                let previous = s.prev_token.as_deref() == Some(sent);
                let bit = match kind {
                    Kind::Poll => 1,
                    Kind::Post => 2,
                    Kind::Other => 4,
                };
                let finding = if s.dx.handover_pending && previous {
                    // The handover's 503 is how the server tells the visitor to reconnect: the first of each
                    // kind is the protocol; a second of the same kind ignored the first.
                    let again = s.dx.answered_503 & bit != 0;
                    s.dx.answered_503 |= bit;
                    again.then_some((
                        codes::IGNORED_503,
                        "§4.6",
                        "a request with the token the server already answered 503 for, instead of ReconnectSession (refused 503)",
                    ))
                } else if previous && s.dx.answered_503 & bit == 0 {
                    // After the ReconnectSession, the first request of a kind that got no 503 for this token:
                    // sent before the visitor read the 503 (one poll and one POST in flight at a time).
                    s.dx.answered_503 |= bit;
                    None
                } else if previous {
                    Some((
                        codes::STALE_AFFINITY,
                        "§4.5",
                        "a request with the affinity token held before the ReconnectSession (refused 503)",
                    ))
                } else {
                    Some((
                        codes::WRONG_AFFINITY,
                        "§4.5",
                        "a request with an affinity token this server never issued to the session (refused 503)",
                    ))
                };
                match finding {
                    Some((code, section, what)) => {
                        self.note(si, req, Severity::Violation, code, section, what.into(), t);
                    }
                    None => ctx.planned = true,
                }
                return Err(Answer::text(503, "Service Unavailable"));
            }
            // The visitor has the token the last ReconnectSession gave.
            s.dx.reconnect_unconfirmed = false;
        }
        Ok(si)
    }
}

/// Why a session that is over ended, for findings.
fn completion_reason(s: &ChatRecord) -> String {
    match s.rec.state {
        SessionState::Ended(r) | SessionState::Ending(r) => format!("it ended ({r:?})"),
        _ => "it is not live".to_owned(),
    }
}

/// The request arrived at the host the switch moves the session to.
fn at_new_host<B>(w: &Switch, req: &Request<B>, alternate: &str) -> bool {
    authority_of(req).is_some_and(|a| a.eq_ignore_ascii_case(alternate) == w.to_alternate)
}

/// After the visitor acknowledged a SwitchServer, a request at the other host is refused: a poll with the
/// SwitchServer envelope again, anything else with 400.
pub(super) fn wrong_host<B>(
    s: &ChatRecord,
    req: &Request<B>,
    kind: Kind,
    alternate: &str,
    numbers: d::Numbers,
) -> Option<Answer> {
    let sw = s.switch.filter(|w| w.acked)?;
    let at_alt = authority_of(req)?.eq_ignore_ascii_case(alternate);
    if at_alt == sw.to_alternate {
        return None;
    }
    let url = s.rec.switched_to.clone().unwrap_or_default();
    if kind == Kind::Poll {
        let body = MessagesBody {
            messages: vec![Message::SwitchServer(wire::SwitchServer { new_url: url })],
            sequence: None,
            offset: None,
        };
        return Some(Answer::json_of(
            &body,
            "SwitchServer (wrong host)".into(),
            numbers,
            1,
        ));
    }
    Some(Answer::text(
        400,
        &format!("Wrong host for this session: use {url}"),
    ))
}

/// `METHOD /path?query` of a finding (the session key of a DELETE path masked).
pub(super) fn finding_line<B>(req: &Request<B>) -> String {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let path = if path.starts_with("/chat/rest/System/SessionId/") {
        "/chat/rest/System/SessionId/<key>"
    } else {
        path
    };
    format!("{} {path}", req.method())
}

/// `METHOD /path?query` for the transcript, with the session key of a DELETE path and the sequence header.
pub(super) fn request_line<B>(req: &Request<B>) -> String {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let path = if path.starts_with("/chat/rest/System/SessionId/") {
        "/chat/rest/System/SessionId/<key>"
    } else {
        path
    };
    let mut line = format!("{} {path}", req.method());
    if let Some(seq) = header_str(req, header::SEQUENCE_NAME) {
        line.push_str(&format!(" seq={seq}"));
    }
    line
}
