//! The session from an attacker's side: each test builds the answers a hostile or broken server would send and
//! inspects the requests and events the session produces. Nothing goes over the network: requests are only
//! looked at, never sent.

use liveagent::Timestamp;
use liveagent::http;
use liveagent::testkit::{Harness, Out};
use liveagent::wire::{Endpoint, RichAction, ServerError, TriggeredRule};
use liveagent::{
    CommandError, Config, EndReason, Event, OutgoingRequest, Output, RedirectPolicy,
    RedirectRefusal, RequestKind, ResumeError, RetryPolicy, Session, SessionSnapshot, State,
    SwitchOfferId,
};
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "SECRETKEY-0123456789abcdef!c2lnbmF0dXJl=";
const AFFINITY: &str = "73061fa0";
const HOST: &str = "d.la1-c1-phx.salesforceliveagent.com";

fn config() -> Config {
    Config::new(
        Endpoint::parse(&format!("https://{HOST}/chat/rest/")).expect("endpoint"),
        "00DD0000000JVXs",
        "572D000000000J6",
        "573D000000000OC",
    )
}

fn msg(kind: &str, payload: Value) -> Value {
    json!({"type": kind, "message": payload})
}

fn agent_says(text: &str) -> Value {
    msg("ChatMessage", json!({"name": "Andy", "text": text}))
}

fn batch(messages: Vec<Value>, sequence: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"messages": messages, "sequence": sequence, "offset": 7}))
        .expect("json")
}

/// The attacker's side of a client: the test kit's hand-driven [`Harness`] (the session, a virtual clock,
/// every output in order, the transcript and the invariant monitor) plus the numbering of the batches the
/// test server sends.
struct Victim {
    h: Harness,
    /// The last batch `sequence` the test server sent.
    seq: i64,
}

impl Victim {
    fn new(config: Config) -> Victim {
        let h = Harness::with_config(config, Timestamp::ZERO).unwrap_or_else(|v| panic!("{v}"));
        Victim { h, seq: 0 }
    }

    fn from(s: Session, now: Timestamp) -> Victim {
        let h = Harness::resumed(config(), s, now).unwrap_or_else(|v| panic!("{v}"));
        Victim { h, seq: 0 }
    }

    /// The session, to read.
    fn session(&self) -> &Session {
        self.h.session()
    }

    /// The session, to give commands to by hand (the monitor stops following it).
    fn s(&mut self) -> &mut Session {
        self.h.session_mut()
    }

    fn now(&self) -> Timestamp {
        self.h.now()
    }

    /// One `poll_output(now)`, by hand (not drained through the harness).
    fn poll_output(&mut self) -> Output {
        let now = self.now();
        self.s().poll_output(now)
    }

    /// `handle_response(id, response, now)`, by hand.
    fn handle_response(
        &mut self,
        id: liveagent::RequestId,
        response: http::Response<Vec<u8>>,
    ) -> Result<liveagent::Handled, liveagent::InputError> {
        let now = self.now();
        self.s().handle_response(id, response, now)
    }

    fn set_now(&mut self, now: Timestamp) {
        self.h.set_now(now);
    }

    /// The id of the last switch offered to the application.
    fn offer(&self) -> SwitchOfferId {
        self.events()
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::SwitchOffered { offer, .. } => Some(*offer),
                _ => None,
            })
            .expect("a switch was offered")
    }

    /// `accept_switch` of the last offer, decided now.
    fn accept_switch(&mut self) -> Result<(), CommandError> {
        let (offer, now) = (self.offer(), self.now());
        self.s().accept_switch(offer, now)
    }

    /// `refuse_switch` of the last offer.
    fn refuse_switch(&mut self) -> Result<(), CommandError> {
        let offer = self.offer();
        self.s().refuse_switch(offer)
    }

    fn drain(&mut self) {
        self.h.drain().unwrap_or_else(|v| panic!("{v}"));
    }

    /// `handle_timeout(now)` and a drain, as a driver does at its `Wait` deadline.
    fn timeout(&mut self) {
        self.h.timeout().unwrap_or_else(|v| panic!("{v}"));
    }

    /// The oldest request of `kind` handed out and not yet answered by this test.
    fn take(&mut self, kind: RequestKind) -> OutgoingRequest {
        match self.h.take(kind) {
            Some(r) => r,
            None => panic!("no {kind:?} request; log: {:?}", self.h.log()),
        }
    }

    fn log(&self) -> &[Out] {
        self.h.log()
    }

    fn issued(&self) -> usize {
        self.h.issued()
    }

    /// Everything the session did, one line per request, answer and event.
    fn transcript(&self) -> String {
        self.h.transcript()
    }

    /// Answers `req` 50 ms later with exactly this status and body.
    fn answer(&mut self, req: &OutgoingRequest, status: u16, body: &[u8]) {
        self.h.advance(Duration::from_millis(50));
        self.h
            .answer(req.id, status, body)
            .unwrap_or_else(|v| panic!("{v}"));
    }

    fn events(&self) -> Vec<&Event> {
        self.h.events()
    }

    fn requests(&self) -> Vec<&OutgoingRequest> {
        self.h.requests()
    }

    fn end_reason(&self) -> Option<&EndReason> {
        self.session().end_reason()
    }

    /// SessionId and ChasitorInit answered: the session is polling.
    fn requested(config: Config) -> Victim {
        let mut v = Victim::new(config);
        let sid = v.take(RequestKind::SessionId);
        let body =
            json!({"id": "sess-1", "key": KEY, "affinityToken": AFFINITY, "clientPollTimeout": 40});
        v.answer(&sid, 200, body.to_string().as_bytes());
        let init = v.take(RequestKind::ChasitorInit);
        v.answer(&init, 200, b"");
        assert_eq!(v.session().state(), State::Requested);
        v
    }

    /// Routed and waiting for an agent.
    fn queued(config: Config) -> Victim {
        let mut v = Victim::requested(config);
        let poll = v.take(RequestKind::Messages);
        let body = batch(
            vec![msg("ChatRequestSuccess", json!({"queuePosition": 1}))],
            1,
        );
        v.answer(&poll, 200, &body);
        assert_eq!(v.session().state(), State::Queued);
        v.seq = 1;
        v
    }

    /// An agent accepted.
    fn chatting(config: Config) -> Victim {
        let mut v = Victim::queued(config);
        let poll = v.take(RequestKind::Messages);
        let body = batch(
            vec![msg(
                "ChatEstablished",
                json!({"name": "Andy", "userId": "005"}),
            )],
            2,
        );
        v.answer(&poll, 200, &body);
        assert_eq!(v.session().state(), State::Chatting);
        v.seq = 2;
        v
    }

    /// Answers the pending poll with `messages`, numbered as every real server does (`sequence` = the index
    /// of the last one).
    fn poll(&mut self, messages: Vec<Value>) {
        self.seq += i64::try_from(messages.len()).expect("len");
        let seq = self.seq;
        self.poll_answer(messages, seq);
    }

    /// Answers the pending poll with `messages` at `sequence`.
    fn poll_answer(&mut self, messages: Vec<Value>, sequence: i64) {
        let poll = self.take(RequestKind::Messages);
        self.answer(&poll, 200, &batch(messages, sequence));
    }

    fn agent_texts(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| match e {
                Event::AgentMessage(m) => Some(m.text.clone()),
                _ => None,
            })
            .collect()
    }
}

fn snapshot_host(snap: &SessionSnapshot) -> String {
    let stored = serde_json::to_value(snap).expect("serialise");
    let url = stored["endpoint"].as_str().expect("endpoint as a string");
    Endpoint::parse(url).expect("endpoint").host().to_owned()
}

fn host_of(r: &OutgoingRequest) -> String {
    r.http.uri().host().unwrap_or("").to_ascii_lowercase()
}

// ------------------------------------------------------------------------------------------------------
// 1. High: the session key goes wherever the server says
// ------------------------------------------------------------------------------------------------------

#[test]
fn switch_server_outside_the_policy_ends_the_chat_before_any_request_goes_there() {
    let hostile = [
        (
            "http://attacker.example:8080/chat",
            RedirectRefusal::NotHttps,
        ),
        ("http://169.254.169.254", RedirectRefusal::NotHttps),
        ("http://10.0.0.5:6379", RedirectRefusal::NotHttps),
        ("attacker.example", RedirectRefusal::ForeignHost),
        (
            "https://d.la1-c1-phx.salesforceliveagent.com.attacker.example/chat",
            RedirectRefusal::ForeignHost,
        ),
        (
            "https://xsalesforceliveagent.com/chat",
            RedirectRefusal::ForeignHost,
        ),
        (
            "https://d.la2.salesforceliveagent.com:8443/chat",
            RedirectRefusal::NonDefaultPort,
        ),
        ("https://127.0.0.1/chat", RedirectRefusal::ForeignHost),
        (
            "HTTP://d.la2.salesforceliveagent.com/chat",
            RedirectRefusal::NotHttps,
        ),
    ];
    for (url, why) in hostile {
        let mut v = Victim::chatting(config());
        let before = v.issued();
        v.poll(vec![
            msg("SwitchServer", json!({"newUrl": url})),
            agent_says("still here"),
        ]);
        match v.end_reason() {
            None => panic!("{url}: not ended; {:?}", v.log()),
            Some(EndReason::RedirectRefused { target, reason }) => {
                assert_eq!(*reason, why, "{url}");
                assert_eq!(*target, Endpoint::parse(url).expect("parses"));
            }
            other => panic!("{url}: expected RedirectRefused, got {other:?}"),
        }
        // Nothing more was sent at all, least of all to the new host.
        assert_eq!(v.issued(), before, "{url}: {:?}", v.requests());
        for r in v.requests() {
            assert_eq!(
                host_of(r),
                HOST,
                "{url}: a request left the configured host"
            );
        }
        // The agent's text in the same batch still reached the application.
        assert_eq!(v.agent_texts(), ["still here"], "{url}");
        assert!(matches!(
            v.events().last(),
            Some(Event::Ended(EndReason::RedirectRefused { .. }))
        ));
    }
}

#[test]
fn switch_server_within_the_policy_is_announced_before_the_first_request_to_it() {
    let mut v = Victim::chatting(config());
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://d.la4-c1-ia4.salesforceliveagent.com/chat"}),
    )]);
    let first_event = v
        .log()
        .iter()
        .position(|o| matches!(o, Out::Event(Event::ServerSwitched(_))))
        .expect("ServerSwitched");
    let first_request_there = v
        .log()
        .iter()
        .position(
            |o| matches!(o, Out::Request(r) if host_of(r) == "d.la4-c1-ia4.salesforceliveagent.com"),
        )
        .expect("the next poll goes to the new host");
    assert!(first_event < first_request_there, "{:?}", v.log());
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn loopback_endpoint_may_move_only_to_another_loopback_address() {
    let lo = Config::new(
        Endpoint::parse("http://127.0.0.1:8080").expect("loopback"),
        "00D",
        "572",
        "573",
    );
    let mut v = Victim::chatting(lo.clone());
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "http://localhost:9090/chat"}),
    )]);
    assert_eq!(v.session().endpoint().authority(), "localhost:9090");
    assert!(v.end_reason().is_none());
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://d.la2.salesforceliveagent.com"}),
    )]);
    assert!(matches!(
        v.end_reason(),
        Some(EndReason::RedirectRefused {
            reason: RedirectRefusal::LeavesLoopback,
            ..
        })
    ));
    for r in v.requests() {
        assert!(
            ["127.0.0.1", "localhost"].contains(&host_of(r).as_str()),
            "{:?}",
            r
        );
    }
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn delete_while_queued_after_a_hostile_switch_stays_on_the_configured_host() {
    let mut v = Victim::queued(config());
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "http://attacker.example/chat"}),
    )]);
    // The chat already ended on the refusal; end() neither resurrects it nor sends anything.
    assert!(matches!(
        v.end_reason(),
        Some(EndReason::RedirectRefused { .. })
    ));
    assert_eq!(v.s().end(), Err(CommandError::Ended));
    v.drain();
    assert!(v.requests().iter().all(|r| host_of(r) == HOST));
    assert!(
        !v.requests()
            .iter()
            .any(|r| r.kind == RequestKind::DeleteSession)
    );

    // And a queued session that was never switched deletes itself on the configured host.
    let mut v = Victim::queued(config());
    v.s().end().expect("end");
    v.drain();
    let del = v.take(RequestKind::DeleteSession);
    assert_eq!(host_of(&del), HOST);
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn ask_application_offers_the_switch_and_sends_nothing_until_it_decides() {
    let cfg = config().redirect(RedirectPolicy::AskApplication);
    let mut v = Victim::chatting(cfg.clone());
    let before = v.issued();
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://chat.partner.example/chat"}),
    )]);
    assert!(v.events().iter().any(|e| matches!(
        e,
        Event::SwitchOffered {
            reason: RedirectRefusal::ForeignHost,
            ..
        }
    )));
    assert_eq!(v.issued(), before, "nothing new while the offer is pending");
    v.s().send_message("hello?").expect("queued");
    v.drain();
    assert_eq!(v.issued(), before, "commands wait too");
    v.refuse_switch().expect("pending offer");
    v.drain();
    assert!(matches!(
        v.end_reason(),
        Some(EndReason::RedirectRefused { .. })
    ));
    assert!(v.requests().iter().all(|r| host_of(r) == HOST));
    let offer = v.offer();
    assert_eq!(
        v.accept_switch(),
        Err(CommandError::SwitchOfferGone { offer })
    );

    // Accepting moves the session, announced first.
    let mut v = Victim::chatting(cfg);
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://chat.partner.example/chat"}),
    )]);
    let (offer, now) = (v.offer(), v.now());
    v.h.log_mut().clear();
    v.s().accept_switch(offer, now).expect("pending offer");
    v.drain();
    assert!(
        matches!(v.log().first(), Some(Out::Event(Event::ServerSwitched(_)))),
        "{:?}",
        v.log()
    );
    assert!(
        v.requests()
            .iter()
            .all(|r| host_of(r) == "chat.partner.example")
    );
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn an_offer_the_application_never_answers_is_refused_after_the_request_timeout() {
    // AskApplication, and an application that never calls accept_switch or refuse_switch: the session must
    // not wait for ever, and must not go to the offered host either.
    let cfg = config().redirect(RedirectPolicy::AskApplication);
    let mut v = Victim::chatting(cfg);
    let before = v.issued();
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://chat.partner.example/chat"}),
    )]);
    let offered_at = v.now();
    let decide_by = v
        .events()
        .iter()
        .find_map(|e| match e {
            Event::SwitchOffered { decide_by, .. } => Some(*decide_by),
            _ => None,
        })
        .expect("the switch is offered");
    assert_eq!(
        decide_by,
        offered_at + Duration::from_secs(30),
        "request_timeout"
    );
    let typed = v.s().send_message("anyone there?").expect("queued");
    v.drain();
    // The driver only sleeps until each Wait deadline and reports the time.
    let mut wakeups = 0;
    while let Some(t) = v.session().poll_timeout() {
        assert!(t <= decide_by, "a wake-up past the offer's deadline");
        v.set_now(t);
        v.timeout();
        wakeups += 1;
        assert!(wakeups < 10, "hot loop");
    }
    assert_eq!(v.now(), decide_by);
    match v.end_reason() {
        Some(EndReason::SwitchUndecided { target, reason }) => {
            assert_eq!(target.host(), "chat.partner.example");
            assert_eq!(*reason, RedirectRefusal::ForeignHost);
        }
        other => panic!("expected SwitchUndecided, got {other:?}"),
    }
    assert_eq!(
        v.issued(),
        before,
        "nothing was sent while the offer was pending"
    );
    assert!(v.requests().iter().all(|r| host_of(r) == HOST));
    assert!(
        v.events()
            .iter()
            .any(|e| matches!(e, Event::Undelivered(ids) if ids.contains(&typed)))
    );
    assert!(matches!(
        v.events().last(),
        Some(Event::Ended(EndReason::SwitchUndecided { .. }))
    ));
    let offer = v.offer();
    assert_eq!(
        v.accept_switch(),
        Err(CommandError::SwitchOfferGone { offer })
    );
    insta::assert_snapshot!(v.transcript());

    // A decision in time still counts: accepting just before the deadline moves the session.
    let mut v = Victim::chatting(config().redirect(RedirectPolicy::AskApplication));
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://chat.partner.example/chat"}),
    )]);
    v.set_now(v.now() + Duration::from_secs(29));
    v.timeout();
    v.accept_switch().expect("still pending");
    v.drain();
    assert!(v.end_reason().is_none());
    assert_eq!(v.session().endpoint().host(), "chat.partner.example");
}

#[test]
fn an_accept_for_the_first_of_two_switch_servers_never_sends_the_key_to_the_second() {
    // The attacker sends two SwitchServers in one batch: a plausible partner host first, then itself in
    // clear text. The application reads the first offer and accepts it.
    let mut v = Victim::chatting(config().redirect(RedirectPolicy::AskApplication));
    let before = v.issued();
    v.poll(vec![
        msg(
            "SwitchServer",
            json!({"newUrl": "https://chat.partner.example/chat"}),
        ),
        msg(
            "SwitchServer",
            json!({"newUrl": "http://attacker.example/chat"}),
        ),
    ]);
    let offers: Vec<(SwitchOfferId, String)> = v
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::SwitchOffered {
                offer, endpoint, ..
            } => Some((*offer, endpoint.host().to_owned())),
            _ => None,
        })
        .collect();
    assert_eq!(offers.len(), 2, "each SwitchServer is its own offer");
    let (first, ref first_host) = offers[0];
    let (second, ref second_host) = offers[1];
    assert_eq!(first_host, "chat.partner.example");
    assert_eq!(second_host, "attacker.example");
    assert_ne!(first, second);

    // The decision names the first offer: the second replaced it, so nothing is decided.
    let now = v.now();
    assert_eq!(
        v.s().accept_switch(first, now),
        Err(CommandError::SwitchOfferGone { offer: first })
    );
    v.drain();
    assert_eq!(v.session().endpoint().host(), HOST);
    assert_eq!(
        v.issued(),
        before,
        "still waiting for a decision on the second"
    );
    assert!(
        v.requests()
            .iter()
            .all(|r| host_of(r) != "attacker.example"),
        "nothing reaches the attacker"
    );
    // The application refuses what it was actually offered last.
    v.s().refuse_switch(second).expect("the pending offer");
    v.drain();
    assert!(matches!(
        v.end_reason(),
        Some(EndReason::RedirectRefused { target, .. }) if target.host() == "attacker.example"
    ));
    assert!(v.requests().iter().all(|r| host_of(r) == HOST));

    // A switch inside the policy after an offer withdraws the offer: an accept naming it moves nothing.
    let mut v = Victim::chatting(config().redirect(RedirectPolicy::AskApplication));
    v.poll(vec![
        msg(
            "SwitchServer",
            json!({"newUrl": "https://chat.partner.example/chat"}),
        ),
        msg(
            "SwitchServer",
            json!({"newUrl": "https://d.la2-c2-phx.salesforceliveagent.com/chat"}),
        ),
    ]);
    let offer = v.offer();
    assert_eq!(
        v.accept_switch(),
        Err(CommandError::SwitchOfferGone { offer })
    );
    v.drain();
    assert_eq!(
        v.session().endpoint().host(),
        "d.la2-c2-phx.salesforceliveagent.com"
    );
    assert!(
        v.requests()
            .iter()
            .all(|r| host_of(r) != "chat.partner.example")
    );
}

#[test]
fn an_accept_after_the_offer_lapsed_is_refused_even_before_the_timeout_fires() {
    let mut v = Victim::chatting(config().redirect(RedirectPolicy::AskApplication));
    let before = v.issued();
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://chat.partner.example/chat"}),
    )]);
    let offer = v.offer();
    let decide_by = v
        .events()
        .iter()
        .find_map(|e| match e {
            Event::SwitchOffered { decide_by, .. } => Some(*decide_by),
            _ => None,
        })
        .expect("offered");
    // The application's clock is past the deadline; the session has not been told (no handle_timeout,
    // no poll_output since): the accept itself carries the time.
    let late = decide_by + Duration::from_millis(1);
    assert_eq!(
        v.s().accept_switch(offer, late),
        Err(CommandError::SwitchOfferLapsed { offer })
    );
    v.set_now(late);
    v.drain();
    assert!(matches!(
        v.end_reason(),
        Some(EndReason::SwitchUndecided { .. })
    ));
    assert_eq!(v.issued(), before, "nothing went to the offered host");
    assert!(v.requests().iter().all(|r| host_of(r) == HOST));

    // Exactly at the deadline is too late as well; an earlier `now` than the session has seen counts as
    // the latest it has seen.
    let mut v = Victim::chatting(config().redirect(RedirectPolicy::AskApplication));
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://chat.partner.example/chat"}),
    )]);
    let offer = v.offer();
    let decide_by = v.session().poll_timeout().expect("the offer's deadline");
    let now = v.now();
    v.s().handle_timeout(decide_by - Duration::from_millis(1));
    assert_eq!(
        v.s().accept_switch(offer, decide_by),
        Err(CommandError::SwitchOfferLapsed { offer })
    );
    let mut v2 = Victim::chatting(config().redirect(RedirectPolicy::AskApplication));
    v2.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://chat.partner.example/chat"}),
    )]);
    let offer = v2.offer();
    let decide_by = v2.session().poll_timeout().expect("the offer's deadline");
    v2.s()
        .handle_response(
            liveagent::RequestId(u64::MAX),
            http::Response::new(Vec::new()),
            decide_by,
        )
        .expect_err("an id never issued; the time is still seen");
    assert_eq!(
        v2.s().accept_switch(offer, now),
        Err(CommandError::SwitchOfferLapsed { offer })
    );
}

#[test]
fn policy_never_follows_nothing_and_also_allow_widens_only_to_https() {
    let mut v = Victim::chatting(config().redirect(RedirectPolicy::Never));
    v.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://d.la2.salesforceliveagent.com/chat"}),
    )]);
    assert!(matches!(
        v.end_reason(),
        Some(EndReason::RedirectRefused {
            reason: RedirectRefusal::Disabled,
            ..
        })
    ));
    let p = RedirectPolicy::AlsoAllow(vec!["*.partner.example".into()]);
    let conf = Endpoint::parse(HOST).expect("host");
    let ep = |s: &str| Endpoint::parse(s).expect("endpoint");
    assert_eq!(
        p.check(&conf, &ep("https://chat.partner.example/chat")),
        Ok(())
    );
    assert_eq!(
        p.check(&conf, &ep("http://chat.partner.example/chat")),
        Err(RedirectRefusal::NotHttps)
    );
    assert_eq!(
        p.check(&conf, &ep("https://partner.example.evil/chat")),
        Err(RedirectRefusal::ForeignHost)
    );
    // Only the configured host itself is in the trust class, not its neighbours under the same domain.
    let org = ep("https://chat.example.co.uk");
    let d = RedirectPolicy::default();
    assert_eq!(
        d.check(&org, &ep("https://chat.example.co.uk/chat")),
        Ok(())
    );
    for other in ["https://other.example.co.uk", "https://evil.co.uk"] {
        assert_eq!(
            d.check(&org, &ep(other)),
            Err(RedirectRefusal::ForeignHost),
            "{other}"
        );
    }
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn snapshot_after_a_switch_resumes_only_inside_the_policy() {
    // The attack: a snapshot taken after a hostile switch. The switch was never followed, so the
    // snapshot still names the configured endpoint, and the session had ended: nothing to resume.
    let mut refused = Victim::chatting(config());
    refused.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "http://attacker.example:8080/chat"}),
    )]);
    let snap = refused.session().snapshot();
    assert_eq!(snapshot_host(&snap), HOST);
    assert!(matches!(
        Session::resume(config(), snap, refused.now()),
        Err(ResumeError::AlreadyEnded)
    ));
    // Taken while an offer waits (AskApplication): the snapshot stays on the configured host, and the
    // resumed session goes there (the server repeats SwitchServer if it means it).
    let cfg = config().redirect(RedirectPolicy::AskApplication);
    let mut offered = Victim::chatting(cfg.clone());
    offered.poll(vec![msg(
        "SwitchServer",
        json!({"newUrl": "https://attacker.example/chat"}),
    )]);
    let snap = offered.session().snapshot();
    assert_eq!(snapshot_host(&snap), HOST);
    let resumed = Victim::from(
        Session::resume(cfg, snap, offered.now()).expect("resumes"),
        offered.now(),
    );
    assert!(!resumed.requests().is_empty());
    assert!(resumed.requests().iter().all(|r| host_of(r) == HOST));
    // A snapshot whose endpoint was tampered with (or taken under another policy).
    let v = Victim::chatting(config());
    let mut stored: Value = serde_json::to_value(v.session().snapshot()).expect("serialise");
    stored["endpoint"] = json!("https://attacker.example");
    let snap: SessionSnapshot = serde_json::from_value(stored.clone()).expect("deserialise");
    match Session::resume(config(), snap, v.now()) {
        Err(ResumeError::EndpointOutsidePolicy { reason, .. }) => {
            assert_eq!(reason, RedirectRefusal::ForeignHost)
        }
        other => panic!(
            "expected EndpointOutsidePolicy, got {:?}",
            other.map(|_| ())
        ),
    }
    // An in-policy switched endpoint resumes, and requests go there.
    stored["endpoint"] = json!("https://d.la9.salesforceliveagent.com");
    let snap: SessionSnapshot = serde_json::from_value(stored).expect("deserialise");
    let s = Session::resume(config(), snap, v.now()).expect("in policy");
    let v = Victim::from(s, v.now());
    assert!(!v.requests().is_empty());
    assert!(
        v.requests()
            .iter()
            .all(|r| host_of(r) == "d.la9.salesforceliveagent.com")
    );
    insta::assert_snapshot!(v.transcript());
}

// ------------------------------------------------------------------------------------------------------
// 2. Medium: a renumbered batch silently mutes the chat
// ------------------------------------------------------------------------------------------------------

#[test]
fn a_batch_numbered_i64_max_ends_the_chat_instead_of_muting_it() {
    let mut v = Victim::chatting(config());
    v.poll_answer(vec![agent_says("one")], i64::MAX);
    // The text arrived, and the chat ended saying why; ack never took the absurd value.
    assert_eq!(v.agent_texts(), ["one"]);
    assert!(matches!(
        v.end_reason(),
        Some(EndReason::BadSequence {
            previous: None,
            sequence: i64::MAX
        })
    ));
    assert_eq!(v.session().ack(), 2);
    assert!(v.requests().iter().all(|r| {
        r.kind != RequestKind::Messages
            || r.http
                .uri()
                .query()
                .is_some_and(|q| !q.contains("9223372036854775807"))
    }));

    // An absurd jump forward from a sane number is refused the same way.
    let mut v = Victim::chatting(config());
    v.poll_answer(vec![agent_says("far")], 2 + (1 << 21));
    assert!(matches!(
        v.end_reason(),
        Some(EndReason::BadSequence {
            previous: Some(2),
            ..
        })
    ));
    assert_eq!(v.agent_texts(), ["far"]);
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn a_backwards_renumbering_is_surfaced_and_its_messages_delivered() {
    let mut v = Victim::chatting(config());
    v.poll_answer(vec![agent_says("at 100")], 100);
    v.poll_answer(vec![agent_says("five")], 5);
    v.poll_answer(vec![agent_says("six")], 6);
    assert_eq!(v.agent_texts(), ["at 100", "five", "six"]);
    assert!(v.events().iter().any(|e| matches!(
        e,
        Event::SequenceReset {
            previous: 100,
            sequence: 5
        }
    )));
    assert!(v.end_reason().is_none());
    assert_eq!(v.session().ack(), 6);
    insta::assert_snapshot!(v.transcript());
}

// ------------------------------------------------------------------------------------------------------
// 3. Low: no bounds on what the server sends
// ------------------------------------------------------------------------------------------------------

#[test]
fn a_1mib_body_of_forty_thousand_tiny_messages_is_refused_unacknowledged() {
    let mut v = Victim::chatting(config());
    let tiny: Vec<Value> = (0..40_000)
        .map(|_| json!({"type": "AgentTyping"}))
        .collect();
    let body = batch(tiny, 40_002);
    assert!(body.len() <= 1 << 20, "fits the body limit: {}", body.len());
    let poll = v.take(RequestKind::Messages);
    v.answer(&poll, 200, &body);
    // Not decoded, not acknowledged (the server still holds them), retried with backoff.
    assert_eq!(v.session().ack(), 2);
    assert!(v.events().iter().any(|e| matches!(
        e,
        Event::Retrying {
            request: RequestKind::Messages,
            cause: liveagent::Failure::Decode(liveagent::wire::DecodeError::TooManyMessages {
                len: 40_000,
                limit: 500,
                ..
            }),
            ..
        }
    )));
    assert!(v.events().len() < 20, "{} events", v.events().len());
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn a_2000_message_flood_on_every_poll_cannot_starve_the_application() {
    // A driver that handles each request as soon as it gets it: the old session handed out the next poll
    // before any event, so the application saw nothing. Now events come first.
    let mut cfg = config();
    cfg.limits.max_messages_per_batch = 2_000;
    let mut v = Victim::chatting(cfg);
    let mut seq = 2;
    let mut seen = 0usize;
    for _ in 0..40 {
        let poll = v.take(RequestKind::Messages);
        let msgs: Vec<Value> = (0..2_000).map(|i| agent_says(&format!("m{i}"))).collect();
        seq += 2_000;
        v.set_now(v.now() + Duration::from_millis(1));
        let resp = http::Response::builder()
            .status(200)
            .body(batch(msgs, seq))
            .expect("resp");
        v.handle_response(poll.id, resp).expect("id");
        // The very next output is an event, not the next poll.
        match v.poll_output() {
            Output::Event(_) => seen += 1,
            other => panic!("expected an event first, got {other:?}"),
        }
        v.drain();
        // Events are handed out, not held: after the drain the session holds none.
        seen += v.events().len();
        v.h.log_mut().retain(|o| matches!(o, Out::Request(_)));
    }
    assert!(seen >= 80_000, "the application saw {seen} events");
}

#[test]
fn a_server_answering_every_poll_at_once_with_nothing_is_paced() {
    // Every poll answered 1 ms after it went out: 204, `{"messages":[]}` with a climbing `sequence`, and a
    // batch of nothing but an already delivered message. A long poll is held for seconds; unpaced, the
    // session would re-poll as fast as the network allows (10,000 polls in these 10 s).
    let delivered = msg("ChatMessage", json!({"name": "Andy", "text": "old"}));
    let bodies: [&dyn Fn(i64) -> Vec<u8>; 3] = [
        &|_| Vec::new(),
        &|n| format!(r#"{{"messages":[],"sequence":{}}}"#, 3 + n).into_bytes(),
        &|_| batch(vec![delivered.clone()], 3),
    ];
    for (kind, body) in bodies.iter().enumerate() {
        let mut v = Victim::chatting(config());
        v.poll(vec![delivered.clone()]); // index 3 delivered
        let start = v.now();
        let end = start + Duration::from_secs(10);
        let mut polls = 0i64;
        // The poll the session sent after the last batch (the drain logged it).
        let mut pending = Some(v.take(RequestKind::Messages));
        while v.now() < end {
            let out = match pending.take() {
                Some(r) => Output::Request(r),
                None => v.poll_output(),
            };
            match out {
                Output::Request(r) if r.kind == RequestKind::Messages => {
                    polls += 1;
                    v.set_now(v.now() + Duration::from_millis(1));
                    let status = if kind == 0 { 204 } else { 200 };
                    let resp = http::Response::builder()
                        .status(status)
                        .body(body(polls))
                        .expect("response");
                    v.handle_response(r.id, resp).expect("known id");
                }
                Output::Request(r) => panic!("unexpected {:?}", r.kind),
                Output::Event(e) => panic!("unexpected {e:?}"),
                Output::Wait(Some(t)) => {
                    let now = t.max(v.now());
                    v.set_now(now);
                    v.s().handle_timeout(now);
                }
                Output::Wait(None) => panic!("ended: {:?}", v.end_reason()),
            }
        }
        // At most ten polls a second (MIN_BACKOFF apart), and still polling: the chat is not muted.
        assert!(
            (50..=102).contains(&polls),
            "body kind {kind}: {polls} polls in 10 s"
        );
        assert_eq!(v.session().state(), State::Chatting);
    }
}

/// Drives `v` for `secs` virtual seconds, answering every request 1 ms after it went out with `answer`
/// (given the request and how many were sent before it) and draining events; returns how many requests
/// went out and the events.
fn flood(
    v: &mut Victim,
    secs: u64,
    mut answer: impl FnMut(&OutgoingRequest, u64) -> (u16, Vec<u8>),
) -> (u64, Vec<Event>) {
    let end = v.now() + Duration::from_secs(secs);
    let mut sent = 0u64;
    let mut events = Vec::new();
    let mut pending: Vec<OutgoingRequest> = Vec::new();
    for kind in [
        RequestKind::Messages,
        RequestKind::Chat,
        RequestKind::ResyncState,
        RequestKind::ReconnectSession,
    ] {
        while let Some(r) = v.h.take(kind) {
            pending.push(r);
        }
    }
    while v.now() < end {
        if let Some(r) = pending.pop() {
            v.set_now(v.now() + Duration::from_millis(1));
            let (status, body) = answer(&r, sent);
            sent += 1;
            let resp = http::Response::builder()
                .status(status)
                .body(body)
                .expect("response");
            v.handle_response(r.id, resp).expect("known id");
            continue;
        }
        match v.poll_output() {
            Output::Request(r) => pending.push(r),
            Output::Event(e) => events.push(e),
            Output::Wait(Some(t)) => {
                let now = t.max(v.now());
                v.set_now(now);
                v.s().handle_timeout(now);
            }
            Output::Wait(None) => break,
        }
    }
    (sent, events)
}

#[test]
fn answers_that_look_new_every_time_cannot_raise_the_request_rate() {
    // Each poll answered at once with one AgentTyping under a new index (nothing reaches the application:
    // the agent is typing already), or the same text under sequence + 1, or a 10/9 see-saw of sequences.
    // Each answer looks new, so the empty-poll pacing does not apply; unbounded this was 1000 polls a second.
    let typing = || msg("AgentTyping", json!({}));
    let same_text = || agent_says("again");
    type Body = Box<dyn Fn(u64) -> Vec<u8>>;
    let cases: [(&str, Body); 3] = [
        (
            "typing",
            Box::new(move |n| batch(vec![typing()], 3 + n as i64)),
        ),
        (
            "same text",
            Box::new(move |n| batch(vec![same_text()], 3 + n as i64)),
        ),
        (
            "see-saw",
            Box::new(move |n| batch(vec![agent_says("saw")], 9 + (n % 2) as i64)),
        ),
    ];
    let limits = liveagent::LimitsConfig::default();
    let ceiling = 10 * u64::from(limits.max_requests_per_second) + u64::from(limits.request_burst);
    for (name, body) in cases {
        let mut v = Victim::chatting(config());
        let (sent, _) = flood(&mut v, 10, |r, n| match r.kind {
            RequestKind::Messages => (200, body(n)),
            _ => (200, Vec::new()),
        });
        assert!(
            sent <= ceiling,
            "{name}: {sent} requests in 10 s, above the ceiling of {ceiling}"
        );
        assert!(sent >= 100, "{name}: the chat still runs ({sent} requests)");
    }
}

#[test]
fn repeated_503_handovers_back_off_and_give_up_like_other_failures() {
    // Every poll answered 503, every ReconnectSession answered at once: unbounded this was 500
    // poll+reconnect pairs a second for ever.
    let mut v = Victim::chatting(config());
    let (sent, events) = flood(&mut v, 120, |r, _| {
        match r.kind {
        RequestKind::ReconnectSession => (
            200,
            br#"{"messages":[{"type":"ReconnectSession","message":{"resetSequence":false,"affinityToken":"77aa77aa"}}]}"#
                .to_vec(),
        ),
        RequestKind::Messages => (503, Vec::new()),
        _ => (200, Vec::new()),
    }
    });
    let retries = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Retrying {
                    request: RequestKind::ReconnectSession,
                    ..
                }
            )
        })
        .count();
    assert!(
        retries >= 3,
        "handovers in a row are backed off ({retries} retries)"
    );
    match v.end_reason() {
        Some(EndReason::GaveUp { attempts, .. }) => {
            assert_eq!(*attempts, RetryPolicy::default().max_attempts)
        }
        other => panic!("expected GaveUp after the retry budget, got {other:?}"),
    }
    assert!(sent <= 40, "{sent} requests before giving up");
}

#[test]
fn no_new_poll_while_the_application_has_not_drained_its_events() {
    let mut cfg = config();
    cfg.limits.max_undrained_events = 3;
    let mut v = Victim::chatting(cfg);
    let poll = v.take(RequestKind::Messages);
    let msgs: Vec<Value> = (0..5).map(|i| agent_says(&format!("m{i}"))).collect();
    let resp = http::Response::builder()
        .status(200)
        .body(batch(msgs, 7))
        .expect("resp");
    v.handle_response(poll.id, resp).expect("id");
    // The application takes two events and stops: 3 still wait, so no poll goes out yet.
    assert!(matches!(v.poll_output(), Output::Event(_)));
    assert!(matches!(v.poll_output(), Output::Event(_)));
    assert!(
        v.session()
            .in_flight()
            .all(|(_, k)| k != RequestKind::Messages)
    );
    v.drain();
    assert!(
        v.session()
            .in_flight()
            .any(|(_, k)| k == RequestKind::Messages)
    );
}

/// A Messages body of `count` messages of `kind`, each `{"<field>": [{}, {}, ...]}` (or the bare list when
/// `field` is empty), the lists as long as fits a body of just under `bytes` in all.
fn lists_of_empty_objects(
    kind: &str,
    field: &str,
    count: usize,
    bytes: usize,
    seq: i64,
) -> Vec<u8> {
    let (head, tail) = if field.is_empty() {
        (String::new(), "")
    } else {
        (format!(r#"{{"{field}":"#), "}")
    };
    let envelope = 64 + count * (kind.len() + head.len() + 32);
    let per = (bytes.saturating_sub(envelope) / count / 3).max(1);
    let list = format!("[{}]", vec!["{}"; per].join(","));
    let one = format!(r#"{{"type":"{kind}","message":{head}{list}{tail}}}"#);
    let body = format!(
        r#"{{"messages":[{}],"sequence":{seq},"offset":7}}"#,
        vec![one; count].join(",")
    );
    assert!(body.len() <= bytes, "{} bytes", body.len());
    body.into_bytes()
}

/// The Retrying and GaveUp causes that say a batch's events would hold too much.
fn events_too_large(e: &Event) -> Option<(usize, usize)> {
    let cause = match e {
        Event::Retrying { cause, .. } => cause,
        Event::Ended(EndReason::GaveUp { last, .. }) => last,
        _ => return None,
    };
    match cause {
        liveagent::Failure::Decode(liveagent::wire::DecodeError::EventsTooLarge {
            bytes,
            limit,
            ..
        }) => Some((*bytes, *limit)),
        _ => None,
    }
}

#[test]
fn a_megabyte_of_empty_objects_in_typed_lists_cannot_pin_more_than_the_event_byte_cap() {
    // 500 SensitiveDataRules messages, each a list of `{}`: within the body cap (1 MiB) and the batch cap
    // (500), but each 3-byte `{},` decodes to a 120-byte rule: 61 MB of events held until the application
    // drained them. Served again on every poll, as a server that keeps the unacknowledged batch does.
    let body = lists_of_empty_objects(
        "SensitiveDataRules",
        "sensitiveDataRules",
        500,
        1 << 20,
        502,
    );
    let cap = liveagent::LimitsConfig::default().max_undrained_event_bytes;
    let mut v = Victim::chatting(config());
    let mut answered = 0;
    while v.session().state() != State::Ended {
        let poll = v.take(RequestKind::Messages);
        v.set_now(v.now() + Duration::from_millis(50));
        let resp = http::Response::builder()
            .status(200)
            .body(body.clone())
            .expect("resp");
        v.handle_response(poll.id, resp).expect("id");
        answered += 1;
        // Before the application takes anything: what waits is a Retrying (or the end), nothing more.
        let held = v.session().queued_event_bytes();
        assert!(
            held <= 4096,
            "answer {answered}: {held} bytes of events wait"
        );
        // Never acknowledged: the server still holds the batch.
        assert_eq!(v.session().ack(), 2, "answer {answered}");
        v.drain();
        if let Some(at) = v.session().poll_timeout() {
            v.set_now(at);
            v.timeout();
        }
        assert!(answered <= 20, "still polling after {answered} refusals");
    }
    // Refused on each of the retry budget's attempts (a Retrying each, the last a GaveUp), saying why: the
    // chat is not muted silently.
    assert_eq!(answered, RetryPolicy::default().max_attempts as usize);
    let refusals: Vec<(usize, usize)> = v
        .events()
        .into_iter()
        .filter_map(events_too_large)
        .collect();
    assert_eq!(refusals.len(), answered, "{refusals:?}");
    for (bytes, limit) in refusals {
        assert_eq!(limit, cap);
        assert!(bytes > 40 * body.len(), "estimated {bytes} bytes");
    }
    assert!(matches!(
        v.end_reason(),
        Some(EndReason::GaveUp {
            request: RequestKind::Messages,
            ..
        })
    ));
    assert!(
        !v.events().iter().any(|e| matches!(
            e,
            Event::Message(liveagent::wire::Message::SensitiveDataRules(_))
        )),
        "no event of the refused batch reached the application"
    );

    // The same batch reaches an application that allows more: refused for the memory, not unreadable.
    let mut cfg = config();
    cfg.limits.max_undrained_event_bytes = 128 << 20;
    let mut v = Victim::chatting(cfg);
    let poll = v.take(RequestKind::Messages);
    v.answer(&poll, 200, &body);
    let rules = v
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Message(liveagent::wire::Message::SensitiveDataRules(_))
            )
        })
        .count();
    assert_eq!(rules, 500);
    assert_eq!(v.session().ack(), 502);
}

#[test]
fn a_megabyte_of_unknown_messages_of_nested_objects_is_held_at_about_its_own_size() {
    // 500 messages of a type the crate does not know, each a list of `{"":0}`: as `serde_json::Value` trees
    // (a 632-byte B-tree leaf per 7-byte object) they held 101 MB; kept as their text, about the body.
    let mut v = Victim::chatting(config());
    let per = 2_000 / 7;
    let one = json!({"type": "HostileNested", "message": vec![json!({"": 0}); per]});
    let body = batch(vec![one; 500], 502);
    assert!(body.len() <= 1 << 20, "{} bytes", body.len());
    let poll = v.take(RequestKind::Messages);
    v.set_now(v.now() + Duration::from_millis(50));
    let resp = http::Response::builder()
        .status(200)
        .body(body.clone())
        .expect("resp");
    v.handle_response(poll.id, resp).expect("id");
    let held = v.session().queued_event_bytes();
    assert!(
        held < body.len() * 3 / 2,
        "{held} bytes of events for a {}-byte body",
        body.len()
    );
    v.drain();
    let kept: Vec<String> = v
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Message(liveagent::wire::Message::Unknown { kind, raw }) => {
                assert_eq!(kind, "HostileNested");
                Some(raw.get().to_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(kept.len(), 500, "every message delivered");
    let sent = serde_json::to_string(&vec![json!({"": 0}); per]).expect("json");
    assert!(kept.iter().all(|k| *k == sent), "each payload kept as sent");
    assert_eq!(v.session().ack(), 502);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Whatever a batch holds and whatever the cap: the events waiting never exceed the cap; a batch is
    /// either delivered whole and acknowledged, or refused whole (nothing delivered, not acknowledged, a
    /// Retrying that says why); and raising the cap never turns a delivery into a refusal.
    #[test]
    fn a_batch_is_delivered_whole_or_refused_whole_and_the_queue_stays_under_the_cap(
        shapes in proptest::collection::vec((0u8..6, 0usize..3_000), 1..40),
        cap_kib in 64usize..2_048,
    ) {
        let messages: Vec<Value> = shapes
            .iter()
            .enumerate()
            .map(|(i, (shape, k))| {
                let empties = vec![json!({}); *k];
                match shape {
                    0 => agent_says(&format!("m{i} {}", "x".repeat(*k))),
                    1 => msg("SensitiveDataRules", json!({"sensitiveDataRules": empties})),
                    2 => msg("RichMessage", json!({"type": "ChatWindowMenu", "items": empties})),
                    3 => msg("TransferToButtonInitiated", json!({"a": empties})),
                    4 => msg("HostileNested", json!(vec![json!({"": 0}); *k])),
                    _ => msg("CustomEvent", json!({"type": "t", "data": "d".repeat(*k)})),
                }
            })
            .collect();
        let n = i64::try_from(messages.len()).expect("len");
        let body = batch(messages, 2 + n);
        let outcome = |cap: usize| {
            let mut cfg = config();
            cfg.limits.max_undrained_event_bytes = cap;
            let mut v = Victim::chatting(cfg);
            let poll = v.take(RequestKind::Messages);
            let resp = http::Response::builder().status(200).body(body.clone()).expect("resp");
            v.handle_response(poll.id, resp).expect("id");
            let held = v.session().queued_event_bytes();
            assert!(held <= cap.max(64 << 10), "{held} bytes held, cap {cap}");
            v.drain();
            let delivered = v
                .events()
                .iter()
                .filter(|e| matches!(e, Event::AgentMessage(_) | Event::Message(_)))
                .count();
            let refused = v.events().into_iter().filter_map(events_too_large).count();
            if refused > 0 {
                assert_eq!(delivered, 0, "a refused batch delivered {delivered} events");
                assert_eq!(v.session().ack(), 2, "a refused batch was acknowledged");
            } else {
                assert_eq!(delivered, shapes.len(), "an accepted batch lost messages");
                assert_eq!(v.session().ack(), 2 + n);
            }
            refused == 0
        };
        let cap = cap_kib << 10;
        if outcome(cap) {
            proptest::prop_assert!(outcome(cap * 2), "accepted under {cap} but refused under twice that");
        }
    }
}

// ------------------------------------------------------------------------------------------------------
// 4. Low: sizes the application can send are unchecked
// ------------------------------------------------------------------------------------------------------

#[test]
fn oversized_custom_events_rich_messages_and_rule_lists_are_refused() {
    let mut v = Victim::chatting(config());
    let big = "x".repeat(64 * 1024 * 1024);
    assert!(matches!(
        v.s().send_custom_event("survey", big.clone()),
        Err(CommandError::PayloadTooLarge { limit: 65536, .. })
    ));
    let action = RichAction {
        kind: "ChatWindowMenu".into(),
        index: 0,
        value: "y".repeat(70 * 1024),
        dialog_id: None,
    };
    assert!(matches!(
        v.s().send_rich_message(vec![action.clone()]),
        Err(CommandError::PayloadTooLarge { .. })
    ));
    let small = RichAction {
        value: "ok".into(),
        ..action
    };
    assert!(matches!(
        v.s().send_rich_message(vec![small; 65]),
        Err(CommandError::TooManyItems { len: 65, limit: 64 })
    ));
    let rule = TriggeredRule {
        id: None,
        name: "r".into(),
    };
    assert!(matches!(
        v.s().report_sensitive_data_rules(vec![rule.clone(); 1000]),
        Err(CommandError::TooManyItems { .. })
    ));
    let huge_rule = TriggeredRule {
        id: None,
        name: "n".repeat(65 * 1024),
    };
    assert!(matches!(
        v.s().report_sensitive_data_rules(vec![huge_rule]),
        Err(CommandError::PayloadTooLarge { .. })
    ));
    assert!(matches!(
        v.s().sneak_peek("z".repeat(33 * 1024)),
        Err(CommandError::TextTooLong { .. })
    ));
    v.drain();
    assert_eq!(v.session().pending_commands(), 0);
    assert!(v.requests().iter().all(|r| r.http.body().len() < 64 * 1024));
    // Within the caps, everything still goes out.
    v.s()
        .send_custom_event("survey", "{\"q\":1}")
        .expect("small event");
    v.s()
        .report_sensitive_data_rules(vec![rule])
        .expect("one rule");
    v.drain();
    assert_eq!(v.session().pending_commands(), 2);
    insta::assert_snapshot!(v.transcript());
}

// ------------------------------------------------------------------------------------------------------
// 5. Low: log injection and secrets
// ------------------------------------------------------------------------------------------------------

#[test]
fn crlf_and_escapes_in_server_error_display_are_escaped_and_bounded() {
    let body = b"denied\r\nX-Injected: 1\n\x1b[31mred\x1b[0m \xe2\x80\xae reversed".to_vec();
    let e = ServerError::parse(400, &body);
    let shown = e.to_string();
    assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
    assert!(!shown.contains('\u{202e}'), "{shown:?}");
    assert!(
        shown.contains("\\r\\n") && shown.contains("\\u{1b}"),
        "{shown:?}"
    );
    let long = vec![b'a'; 1 << 20];
    assert!(ServerError::parse(500, &long).to_string().len() < 200);

    // The same through EndReason, as `println!("ended: {reason}")` would print it.
    let mut v = Victim::chatting(config());
    let poll = v.take(RequestKind::Messages);
    v.answer(&poll, 400, &body);
    let reason = v.end_reason().expect("ended").to_string();
    assert!(!reason.chars().any(|c| c.is_control()), "{reason:?}");
    let mut v = Victim::chatting(config());
    v.poll(vec![msg(
        "ChatEnded",
        json!({"reason": "agent\r\n\u{1b}[2J"}),
    )]);
    let reason = v.end_reason().expect("ended").to_string();
    assert!(!reason.chars().any(|c| c.is_control()), "{reason:?}");
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn an_error_page_echoing_the_session_key_or_token_shows_neither() {
    // A 403 page that quotes the key and the token (a proxy's debug page, a hostile server): the end reason is
    // what an application logs, so it must hide both, also when a snippet's bound cuts one in half.
    // Error text is cut at 120 bytes: this body's cut leaves the key's first 10 bytes.
    let cut = &KEY[..10];
    for body in [
        format!("Forbidden: key {KEY} with affinity {AFFINITY} is not valid"),
        format!("{}{KEY}", "x".repeat(110)),
        format!("{AFFINITY}{AFFINITY}{KEY}{KEY}"),
    ] {
        let mut v = Victim::chatting(config());
        let poll = v.take(RequestKind::Messages);
        v.answer(&poll, 403, body.as_bytes());
        let shown = format!("{} / {:?}", v.end_reason().expect("ended"), v.events());
        assert!(!shown.contains(KEY) && !shown.contains(AFFINITY), "{shown}");
        assert!(!shown.contains(cut), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
    // Retried failures carry the text too (Event::Retrying): a 500 page echoing the key.
    let mut v = Victim::chatting(config());
    let poll = v.take(RequestKind::Messages);
    v.answer(
        &poll,
        500,
        format!("internal error for session {KEY}").as_bytes(),
    );
    let shown = format!("{:?}", v.events());
    assert!(!shown.contains(KEY), "{shown}");
}

/// What a log line must never receive from a server: raw control characters (CR, LF, ESC, NUL, C1), Unicode
/// direction overrides and invisible format characters; and no unbounded text.
fn assert_log_safe(what: &str, shown: &str) {
    let what: String = what.chars().take(200).collect();
    let bad = shown.chars().find(|&c| {
        c.is_control()
            || matches!(c,
                '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    });
    assert!(
        bad.is_none(),
        "{what}: {bad:?} in {:?}",
        &shown[..shown.len().min(300)]
    );
    assert!(shown.len() <= 1536, "{what}: {} bytes", shown.len());
}

#[test]
fn every_error_and_end_reason_display_is_log_safe_for_hostile_bodies() {
    use liveagent::wire::{self, ChatEndReason, Limits, Message};
    let hostile: Vec<Vec<u8>> = vec![
        b"denied\r\nX-Injected: 1\r\n\r\n<html>".to_vec(),
        "\u{1b}[2J\u{1b}[31mred\u{1b}[0m".into(),
        "\u{202e}gnp.exe \u{2066}isolate\u{2069}".into(),
        "zero\u{200b}width\u{feff}bom\u{2060}".into(),
        "nul\0bell\u{7}del\u{7f}c1\u{85}csi\u{9b}".into(),
        "line\u{2028}para\u{2029}".into(),
        b"bad utf8 \xff\xfe\xc3 \r\n".to_vec(),
        "\n".repeat(100_000).into(),
        "\u{1b}".repeat(200_000).into(),
        ("é".repeat(300_000) + "\r\n").into(),
        ("\u{202e}".repeat(50_000)).into(),
    ];
    let limits = Limits::default();
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut show = |what: String, text: String| shown.push((what, text));
    let mut end_reasons: Vec<EndReason> = Vec::new();
    for (i, body) in hostile.iter().enumerate() {
        let text = String::from_utf8_lossy(body).into_owned();
        let as_json = serde_json::to_string(&text).expect("json string");
        // Error answers, as any status.
        for status in [400, 401, 403, 404, 405, 409, 429, 500, 502, 503] {
            let e = ServerError::parse(status, body);
            show(format!("ServerError {status} #{i}"), e.to_string());
            end_reasons.push(EndReason::Rejected {
                request: RequestKind::Messages,
                error: e.clone(),
            });
            end_reasons.push(EndReason::GaveUp {
                request: RequestKind::Chat,
                attempts: 8,
                last: liveagent::Failure::Server(e),
            });
        }
        let mut sync = b"Out of sync Ack. Expected 3. Actual ".to_vec();
        sync.extend_from_slice(body);
        show(
            format!("ServerError 409 sync #{i}"),
            ServerError::parse(409, &sync).to_string(),
        );
        // Bodies that do not decode: raw, as a string where a number belongs, as a status no parser takes.
        let bodies: Vec<Vec<u8>> = vec![
            body.clone(),
            format!(r#"{{"messages":[{{"type":"ChatRequestSuccess","message":{{"queuePosition":{as_json}}}}}],"sequence":{as_json}}}"#).into_bytes(),
            format!(r#"{{"messages":{as_json}}}"#).into_bytes(),
            format!(r#"{{"id":"s","key":{as_json},"affinityToken":"a"}}"#).into_bytes(),
            format!(r#"{{"id":{as_json},"key":"k","affinityToken":"a","clientPollTimeout":{as_json}}}"#).into_bytes(),
            format!(r#"{{"affinityToken":{as_json},"resetSequence":{as_json}}}"#).into_bytes(),
            format!(r#"{{"messages":[{{"type":"ReconnectSession","message":{{"affinityToken":{as_json}}}}}]}}"#).into_bytes(),
            format!(r#"{{"buttons":{as_json},"pingRate":{as_json}}}"#).into_bytes(),
            format!(r#"{{"results":[{{"id":{as_json},"isAvailable":{as_json}}}]}}"#).into_bytes(),
            format!(r#"{{"sessionId":1,"visitorId":{as_json}}}"#).into_bytes(),
        ];
        for (j, b) in bodies.iter().enumerate() {
            for status in [200, 302, 500] {
                let mut errors: Vec<wire::DecodeError> = Vec::new();
                errors.extend(wire::parse_messages(status, b, &limits).err());
                errors.extend(wire::parse_session_id(status, b, &limits).err());
                errors.extend(wire::parse_reconnect_session(status, b, &limits).err());
                errors.extend(wire::parse_settings(status, b, &limits).err());
                errors.extend(wire::parse_availability(status, b, &limits).err());
                errors.extend(wire::parse_visitor_id(status, b, &limits).err());
                errors.extend(wire::parse_envelope(b, &limits).err());
                for e in errors {
                    show(
                        format!("DecodeError #{i}/{j} {status}: {e:?}"),
                        e.to_string(),
                    );
                    end_reasons.push(EndReason::GaveUp {
                        request: RequestKind::Messages,
                        attempts: 8,
                        last: liveagent::Failure::Decode(e),
                    });
                }
            }
        }
        // A known message whose payload does not decode: its reason quotes the server's value.
        for (kind, payload) in [
            (
                "ChatRequestSuccess",
                format!(r#"{{"queuePosition":{as_json}}}"#),
            ),
            (
                "ChatEstablished",
                format!(r#"{{"name":5,"userId":{as_json}}}"#),
            ),
            ("ChatEnded", format!(r#"{{"reason":[{as_json}]}}"#)),
            (
                "QueueUpdate",
                format!(r#"{{{as_json}:1,"position":{as_json}}}"#),
            ),
        ] {
            if let Message::Invalid { error, .. } = Message::decode(kind, &payload) {
                show(format!("Message::Invalid {kind} #{i}"), error);
            }
        }
        // URLs: SwitchServer targets and configured endpoints.
        for url in [
            format!("https://{text}"),
            format!("{text}://host.example"),
            format!("https://host.example:{text}"),
            format!("https:{text}"),
            text.clone(),
        ] {
            if let Err(e) = Endpoint::parse(&url) {
                show(format!("Endpoint::parse #{i}"), e.to_string());
                end_reasons.push(EndReason::Protocol {
                    request: RequestKind::Messages,
                    error: e,
                });
            }
        }
        // Server-chosen words an end reason repeats.
        end_reasons.push(EndReason::AgentEnded {
            reason: Some(ChatEndReason::Other(text.clone())),
            attached_records: Some(json!({"x": text})),
        });
        end_reasons.push(EndReason::RequestFailed {
            reason: Some(text.clone()),
        });
    }
    // The same through a live session, as `println!("ended: {reason}")` and a Retrying log line print them.
    for (i, body) in hostile.iter().enumerate() {
        let text = String::from_utf8_lossy(body).into_owned();
        for (status, answer) in [
            (400, body.clone()),
            (403, body.clone()),
            (500, body.clone()),
            (200, body.clone()),
        ] {
            let mut v = Victim::chatting(config());
            let poll = v.take(RequestKind::Messages);
            v.answer(&poll, status, &answer);
            for e in v.events() {
                if let Event::Retrying { cause, .. } = e {
                    show(format!("Retrying {status} #{i}"), cause.to_string());
                }
            }
            end_reasons.extend(v.end_reason().cloned());
        }
        let mut v = Victim::chatting(config());
        v.poll(vec![msg("ChatEnded", json!({"reason": text}))]);
        end_reasons.extend(v.end_reason().cloned());
        let mut v = Victim::queued(config());
        v.poll(vec![msg("ChatRequestFail", json!({"reason": text}))]);
        end_reasons.extend(v.end_reason().cloned());
        let mut v = Victim::chatting(config());
        v.s().send_message("hi").expect("queued");
        v.drain();
        let post = v.take(RequestKind::Chat);
        v.answer(&post, 409, body);
        end_reasons.extend(v.end_reason().cloned());
    }
    end_reasons.push(EndReason::RedirectRefused {
        target: Endpoint::parse("https://attacker.example:8443/chat").expect("url"),
        reason: RedirectRefusal::ForeignHost,
    });
    end_reasons.push(EndReason::SwitchUndecided {
        target: Endpoint::parse("https://attacker.example/chat").expect("url"),
        reason: RedirectRefusal::ForeignHost,
    });
    end_reasons.push(EndReason::BadSequence {
        previous: Some(i64::MIN),
        sequence: i64::MAX,
    });
    end_reasons.push(EndReason::CounterExhausted {
        counter: "X-LIVEAGENT-SEQUENCE",
    });
    assert!(end_reasons.len() > 500, "{} end reasons", end_reasons.len());
    for r in &end_reasons {
        assert_log_safe(&format!("EndReason {r:?}"), &r.to_string());
    }
    for (what, text) in &shown {
        assert_log_safe(what, text);
    }
    assert!(shown.len() > 500, "{} texts", shown.len());
    // Escaped, not dropped: what was there can still be read in the log.
    let e = ServerError::parse(400, b"denied\r\nX-Injected: 1");
    assert_eq!(e.to_string(), "HTTP 400: denied\\r\\nX-Injected: 1");
}

#[test]
fn malformed_session_keys_and_tokens_are_refused_not_sent() {
    let bad_keys = [
        format!(" {KEY} "),
        format!("{KEY}\u{7f}"),
        "ké".to_string(),
        "k".repeat(900 * 1024),
        "a\tb".to_string(),
    ];
    for key in bad_keys {
        let mut cfg = config();
        cfg.retry = RetryPolicy::default();
        let mut v = Victim::new(cfg);
        let sid = v.take(RequestKind::SessionId);
        let body = json!({"id": "sess-1", "key": key, "affinityToken": AFFINITY});
        v.answer(&sid, 200, body.to_string().as_bytes());
        assert_eq!(
            v.session().state(),
            State::Connecting,
            "key {:?} accepted",
            &key[..key.len().min(20)]
        );
        assert!(v.requests().iter().all(|r| {
            !r.http
                .headers()
                .contains_key(liveagent::wire::header::SESSION_KEY)
        }));
        assert!(
            v.events()
                .iter()
                .any(|e| matches!(e, Event::Retrying { .. }))
        );
    }
    // A token with padding from ReconnectSession is refused too.
    let mut v = Victim::chatting(config());
    let poll = v.take(RequestKind::Messages);
    v.answer(&poll, 503, b"");
    let rc = v.take(RequestKind::ReconnectSession);
    v.answer(
        &rc,
        200,
        br#"{"resetSequence":true,"affinityToken":" 73061fa1 "}"#,
    );
    assert!(v.events().iter().any(|e| matches!(
        e,
        Event::Retrying {
            request: RequestKind::ReconnectSession,
            ..
        }
    )));
    assert!(v.requests().iter().all(|r| {
        r.http
            .headers()
            .get(liveagent::wire::header::AFFINITY)
            .is_none_or(|h| h.as_bytes() != b" 73061fa1 ")
    }));
}

#[test]
fn an_invalid_reconnect_session_message_does_not_print_its_token() {
    let mut v = Victim::chatting(config());
    v.poll(vec![msg(
            "ReconnectSession",
            json!({"affinityToken": "SECRET-TOKEN-1", "resetSequence": "maybe", "nested": {"key": "SECRET-KEY-2"}}),
        )]);
    let invalid = v
        .events()
        .into_iter()
        .find(|e| matches!(e, Event::Message(liveagent::wire::Message::Invalid { .. })))
        .expect("the message is kept as Invalid");
    let shown = format!("{invalid:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    insta::assert_snapshot!(v.transcript());
}

// ------------------------------------------------------------------------------------------------------
// 6. Low: hostile snapshots and configs
// ------------------------------------------------------------------------------------------------------

fn tampered(v: &Victim, edit: impl FnOnce(&mut Value)) -> Result<Session, ResumeError> {
    let mut stored = serde_json::to_value(v.session().snapshot()).expect("serialise");
    edit(&mut stored);
    let snap: SessionSnapshot = serde_json::from_value(stored).expect("deserialise");
    Session::resume(config(), snap, v.now())
}

#[test]
fn a_session_id_accepted_live_always_resumes_and_one_refused_on_resume_is_refused_live() {
    // The server hands out ids of every length; whatever the session accepts, its own snapshot resumes.
    for len in [36, 1024, 1025, 2048] {
        let mut v = Victim::new(config());
        let sid = v.take(RequestKind::SessionId);
        let id = "i".repeat(len);
        let body = json!({"id": id, "key": KEY, "affinityToken": AFFINITY});
        v.answer(&sid, 200, body.to_string().as_bytes());
        let accepted = v.session().state() != State::Connecting;
        let stored = serde_json::to_string(&v.session().snapshot()).expect("serialise");
        let snap: SessionSnapshot = serde_json::from_str(&stored).expect("deserialise");
        let resumed = Session::resume(config(), snap, v.now());
        if accepted {
            let s = resumed.unwrap_or_else(|e| {
                panic!("id of {len} bytes accepted live, refused on resume: {e}")
            });
            assert_eq!(s.session_id(), Some(id.as_str()));
        } else {
            // Refused live: the session never used it, and its snapshot holds no credentials.
            assert!(len > 1024, "an id of {len} bytes refused");
            assert!(resumed.is_ok(), "a connecting session resumes");
        }
    }
}

#[test]
fn a_stored_snapshot_in_ending_with_nothing_queued_resumes_and_ends() {
    // Storage (an older release, or an edit) holds a chat in Ending with no ChatEnd queued, in flight or
    // accepted: resumed, it must still end, not poll for ever.
    let mut v = Victim::chatting(config());
    v.s().end().expect("end");
    v.drain();
    let resumed = tampered(&v, |s| {
        s["queue"] = json!([]);
        s["unacked"] = Value::Null;
        s["chat_end_accepted"] = Value::Bool(false);
    })
    .expect("resumes");
    assert_eq!(resumed.state(), State::Ending);
    let mut v = Victim::from(resumed, v.now());
    assert_eq!(v.s().end(), Ok(()), "ending already: harmless");
    v.drain();
    let chat_end = v.take(RequestKind::Chat);
    assert_eq!(chat_end.http.body(), br#"{"reason":"client"}"#);
    v.answer(&chat_end, 200, b"");
    // The server confirms with ChatEnded on whatever poll is still out.
    for _ in 0..3 {
        if let Some(poll) = v.h.take(RequestKind::Messages) {
            v.answer(&poll, 200, &batch(vec![msg("ChatEnded", json!({}))], 9));
        }
        v.drain();
    }
    assert!(
        matches!(v.end_reason(), Some(EndReason::VisitorEnded { .. })),
        "{:?}",
        v.end_reason()
    );
}

#[test]
fn hostile_snapshots_are_refused_with_a_typed_error() {
    let v = Victim::chatting(config());
    let err = |r: Result<Session, ResumeError>| r.expect_err("refused");
    assert!(matches!(
        err(tampered(&v, |s| s["credentials"] = Value::Null)),
        ResumeError::Inconsistent { .. }
    ));
    assert!(matches!(
        err(tampered(&v, |s| s["state"] = json!("Connecting"))),
        ResumeError::Inconsistent { .. }
    ));
    assert!(matches!(
        err(tampered(&v, |s| s["credentials"]["key"] = json!("bad key\n"))),
        ResumeError::MalformedCredentials
    ));
    assert!(matches!(
        err(tampered(&v, |s| s["next_request_id"] = json!(u64::MAX))),
        ResumeError::CounterOutOfRange {
            counter: "next_request_id",
            ..
        }
    ));
    assert!(matches!(
        err(tampered(&v, |s| s["next_sequence"] = json!(u64::MAX))),
        ResumeError::CounterOutOfRange {
            counter: "next_sequence",
            ..
        }
    ));
    assert!(matches!(
        err(tampered(&v, |s| s["ack"] = json!(i64::MAX))),
        ResumeError::CounterOutOfRange { counter: "ack", .. }
    ));
    assert!(matches!(
        err(tampered(&v, |s| s["unacked"] =
            json!({"commands": [], "sequence": 1}))),
        ResumeError::Inconsistent { .. }
    ));
    assert!(matches!(
        err(tampered(&v, |s| {
            s["next_command_id"] = json!(2);
            s["queue"] = json!([{"id": 1, "command": {"CustomEvent": {"kind": "k", "data": "d".repeat(100_000)}}}]);
        })),
        ResumeError::CommandRefused { .. }
    ));
    // The genuine snapshot resumes.
    assert!(tampered(&v, |_| {}).is_ok());
    // Errors are log-safe and never repeat the key.
    let e = err(tampered(&v, |s| {
        s["credentials"]["key"] = json!("bad key\n")
    }));
    assert!(!e.to_string().contains("bad key"));
}

#[test]
fn counters_never_collide_or_saturate_silently() {
    // next_sequence at the top (e.g. a hostile 409 `Actual`): the chat ends rather than reuse numbers.
    let mut v = Victim::chatting(config());
    v.s().send_message("a").expect("queued");
    v.drain();
    let post = v.take(RequestKind::Chat);
    v.answer(
        &post,
        409,
        b"Out of sync Ack. Expected 3. Actual 9007199254740993",
    );
    assert!(
        matches!(
            v.end_reason(),
            Some(EndReason::CounterExhausted {
                counter: "X-LIVEAGENT-SEQUENCE"
            })
        ),
        "{:?}",
        v.end_reason()
    );
    let seqs: Vec<&str> = v
        .requests()
        .iter()
        .filter_map(|r| r.http.headers().get(liveagent::wire::header::SEQUENCE))
        .filter_map(|h| h.to_str().ok())
        .collect();
    let mut unique = seqs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        seqs.len(),
        unique.len(),
        "sequence numbers reused: {seqs:?}"
    );
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn an_unacked_batch_without_commands_never_posts_empty_nouns() {
    let v = Victim::chatting(config());
    // Refused at resume...
    assert!(
        tampered(&v, |s| s["unacked"] =
            json!({"commands": [], "sequence": 2}))
        .is_err()
    );
    // ...and a live session never builds one.
    let mut v = Victim::chatting(config());
    for _ in 0..3 {
        v.s().set_typing(true).expect("typing");
        v.drain();
        let post = v.take(RequestKind::Chat);
        v.answer(&post, 200, b"");
    }
    assert!(
        v.requests()
            .iter()
            .all(|r| !String::from_utf8_lossy(r.http.body()).contains("\"nouns\":[]"))
    );
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn zero_poll_margin_timeout_and_backoff_cannot_make_a_busy_loop() {
    use liveagent::floors;
    let mut cfg = config();
    cfg.poll_margin = Duration::ZERO;
    cfg.default_client_poll_timeout = Duration::ZERO;
    cfg.request_timeout = Duration::ZERO;
    cfg.retry.initial_backoff = Duration::ZERO;
    cfg.retry.max_backoff = Duration::ZERO;
    cfg.retry.jitter_percent = 100;
    cfg.retry.max_attempts = u32::MAX;
    let mut v = Victim::new(cfg);
    let sid = v.take(RequestKind::SessionId);
    let body =
        json!({"id": "sess-1", "key": KEY, "affinityToken": AFFINITY, "clientPollTimeout": 0});
    v.answer(&sid, 200, body.to_string().as_bytes());
    let init = v.take(RequestKind::ChasitorInit);
    v.answer(&init, 200, b"");
    // Ten virtual seconds of a server that never answers (unpaced, that was 500 polls per virtual second).
    let start = v.now();
    let mut issued = 0;
    let mut wakeups = 0;
    while v.now() < start + Duration::from_secs(10) {
        let Some(t) = v.session().poll_timeout() else {
            break;
        };
        assert!(t > v.now(), "hot loop");
        v.set_now(t);
        let before = v.log().len();
        v.timeout();
        wakeups += 1;
        for o in &v.log()[before..] {
            match o {
                Out::Request(r) => {
                    issued += 1;
                    assert!(
                        r.deadline >= v.now() + floors::MIN_REQUEST_TIMEOUT,
                        "{:?} deadline below the floor",
                        r.kind
                    );
                }
                Out::Event(Event::Retrying { at, .. }) => {
                    assert!(
                        *at >= v.now() + floors::MIN_BACKOFF,
                        "retry below the floor"
                    )
                }
                Out::Event(_) => {}
            }
        }
    }
    assert!(issued <= 10, "{issued} requests in 10 virtual seconds");
    assert!(wakeups <= 20, "{wakeups} wake-ups in 10 virtual seconds");
    assert!(
        v.end_reason().is_none(),
        "u32::MAX attempts: still retrying"
    );

    // A server that answers every request at once with 500: one retry per backoff floor at most.
    let mut cfg = config();
    cfg.retry.initial_backoff = Duration::ZERO;
    cfg.retry.max_backoff = Duration::ZERO;
    cfg.retry.max_attempts = u32::MAX;
    let mut v = Victim::chatting(cfg);
    let start = v.now();
    let mut polls = 0;
    while v.now() < start + Duration::from_secs(1) {
        if let Some(pos) = v
            .log()
            .iter()
            .position(|o| matches!(o, Out::Request(r) if r.kind == RequestKind::Messages))
        {
            let Out::Request(poll) = v.h.log_mut().remove(pos) else {
                unreachable!()
            };
            polls += 1;
            v.set_now(v.now() - Duration::from_millis(50)); // answered at once (`answer` adds 50 ms)
            v.answer(&poll, 500, b"");
            continue;
        }
        let t = v.session().poll_timeout().expect("retrying");
        assert!(t >= v.now() + floors::MIN_BACKOFF, "retry below the floor");
        v.set_now(t);
        v.timeout();
    }
    assert!(polls <= 11, "{polls} polls in one virtual second");
    insta::assert_snapshot!(v.transcript());
}

#[test]
fn max_attempts_zero_is_one_attempt_not_none() {
    use liveagent::floors;
    let mut cfg = config();
    cfg.retry.max_attempts = 0;
    let mut v = Victim::new(cfg);
    let sid = v.take(RequestKind::SessionId);
    v.answer(&sid, 500, b"");
    assert_eq!(floors::MIN_ATTEMPTS, 1);
    assert!(
        matches!(
            v.end_reason(),
            Some(EndReason::GaveUp {
                request: RequestKind::SessionId,
                attempts: 1,
                ..
            })
        ),
        "{:?}",
        v.end_reason()
    );
    assert_eq!(v.issued(), 1, "exactly one attempt");
    insta::assert_snapshot!(v.transcript());
}

// ------------------------------------------------------------------------------------------------------
// 7. Endpoint::parse follows the URL rules
// ------------------------------------------------------------------------------------------------------

#[test]
fn endpoint_parse_follows_url_rules_for_scheme_and_port() {
    for bad in [
        "https://host.example:0",
        "https://host.example:99999",
        "https://host.example:",
        "https://host.example:65536/chat",
        "https://host.example:abc",
        "https:host.example",
        "HTTPS:host.example",
        "http:host.example/chat",
        "ftp://host.example",
        "https://user@host.example",
        "https://",
        "https://:443",
    ] {
        assert!(Endpoint::parse(bad).is_err(), "{bad} accepted");
    }
    for (good, scheme, authority) in [
        ("HTTPS://Host.Example/chat", "https", "Host.Example"),
        ("Http://127.0.0.1:1", "http", "127.0.0.1:1"),
        ("https://host.example:65535", "https", "host.example:65535"),
        ("host.example:8443", "https", "host.example:8443"),
        ("https://[::1]:8080/chat/rest/", "https", "[::1]:8080"),
    ] {
        let e = Endpoint::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!((e.scheme(), e.authority()), (scheme, authority), "{good}");
    }
    // The error text never carries raw control characters from the input.
    let e = Endpoint::parse("https://bad\u{1b}[2Jhost").expect_err("bad host");
    assert!(!e.to_string().chars().any(|c| c.is_control()));
}

// ------------------------------------------------------------------------------------------------------
// Shared suffixes, upload hosts and parameters: where the chat key may go
// ------------------------------------------------------------------------------------------------------

/// The tenants of one shared suffix: the org's own endpoint, and another customer's host beside it.
const SHARED_SUFFIX_TENANTS: &[(&str, &str)] = &[
    ("acme.my.site.com", "rival.my.site.com"),
    ("chat.acme.my.site.com", "rival.my.site.com"),
    ("acme.secure.force.com", "rival.secure.force.com"),
    ("acme.herokuapp.com", "rival.herokuapp.com"),
    ("acme.ltd.uk", "rival.ltd.uk"),
    ("chat.acme.ltd.uk", "rival.ltd.uk"),
    ("acme.nsw.gov.au", "rival.nsw.gov.au"),
    ("acme.uk.com", "rival.uk.com"),
];

fn config_at(host: &str) -> Config {
    let mut c = config();
    c.endpoint = Endpoint::parse(&format!("https://{host}/chat/rest/")).expect("endpoint");
    c
}

#[test]
fn a_switch_to_another_tenant_of_a_shared_suffix_is_refused_before_the_key_goes_there() {
    for &(ours, theirs) in SHARED_SUFFIX_TENANTS {
        let mut v = Victim::chatting(config_at(ours));
        v.poll(vec![msg(
            "SwitchServer",
            json!({"newUrl": format!("https://{theirs}/chat")}),
        )]);
        assert!(
            matches!(
                v.end_reason(),
                Some(EndReason::RedirectRefused {
                    reason: RedirectRefusal::ForeignHost,
                    ..
                })
            ),
            "{ours} -> {theirs}: {:?}",
            v.end_reason()
        );
        assert!(
            v.requests().iter().all(|r| host_of(r) == ours),
            "{ours} -> {theirs}: a request left the configured host"
        );
        // The parent of the configured host is another host too (`*.acme.ltd.uk` is not `acme.ltd.uk`).
        let parent = ours.split_once('.').map(|(_, p)| p).unwrap_or(ours);
        let policy = RedirectPolicy::default();
        let configured = Endpoint::parse(ours).expect("endpoint");
        let to = |h: &str| Endpoint::parse(&format!("https://{h}/chat")).expect("endpoint");
        assert_eq!(
            policy.check(&configured, &to(parent)),
            Err(RedirectRefusal::ForeignHost),
            "{ours} -> {parent}"
        );
        // What a real migration needs still moves: the shared Live Agent pool, and the host itself.
        assert_eq!(
            policy.check(&configured, &to("d.la4-c1-ia4.salesforceliveagent.com")),
            Ok(())
        );
        assert_eq!(policy.check(&configured, &to(ours)), Ok(()));
    }
}

#[test]
fn only_hosts_the_application_names_widen_the_redirect_policy() {
    let configured = Endpoint::parse("acme.my.site.com").expect("endpoint");
    let to = |h: &str| Endpoint::parse(&format!("https://{h}/chat")).expect("endpoint");
    let policy = RedirectPolicy::AlsoAllow(vec![
        "Chat.Acme.Example.".into(),
        "*.eu.acme.example".into(),
        // Entries of no valid shape name nothing.
        "*".into(),
        "*.com".into(),
        "a.*.example".into(),
        String::new(),
    ]);
    for (host, expected) in [
        ("chat.acme.example", Ok(())),
        ("one.eu.acme.example", Ok(())),
        ("two.one.eu.acme.example", Ok(())),
        ("eu.acme.example", Err(RedirectRefusal::ForeignHost)),
        ("other.acme.example", Err(RedirectRefusal::ForeignHost)),
        (
            "chat.acme.example.attacker.example",
            Err(RedirectRefusal::ForeignHost),
        ),
        ("xeu.acme.example", Err(RedirectRefusal::ForeignHost)),
        ("attacker.com", Err(RedirectRefusal::ForeignHost)),
        ("a.b.example", Err(RedirectRefusal::ForeignHost)),
        ("rival.my.site.com", Err(RedirectRefusal::ForeignHost)),
    ] {
        assert_eq!(policy.check(&configured, &to(host)), expected, "{host}");
    }
    assert_eq!(
        policy.check(
            &configured,
            &Endpoint::parse("http://chat.acme.example").expect("ep")
        ),
        Err(RedirectRefusal::NotHttps)
    );
}

fn file_request(url: &str) -> Value {
    msg(
        "FileTransfer",
        json!({"type": "Requested", "uploadServletUrl": url, "fileToken": "tok-7"}),
    )
}

/// The FileTransfer the session delivered last.
fn delivered_transfer(v: &Victim) -> liveagent::wire::FileTransfer {
    v.events()
        .into_iter()
        .rev()
        .find_map(|e| match e {
            Event::Message(liveagent::wire::Message::FileTransfer(t)) => Some(t.clone()),
            _ => None,
        })
        .expect("a FileTransfer was delivered")
}

#[test]
fn an_upload_goes_to_no_salesforce_host_the_configuration_does_not_name() {
    use liveagent::wire::UploadError;
    let mut v = Victim::chatting(config().upload_hosts(["acme.my.salesforce.com"]));
    for url in [
        "https://rival.my.salesforce.com/services/liveagent/file",
        "https://webto.salesforce.com/services/liveagent/file",
        "https://na1.salesforce.com/services/liveagent/file",
        "https://acme.my.salesforce.com.attacker.example/services/liveagent/file",
        "http://acme.my.salesforce.com/services/liveagent/file",
        "https://acme.my.salesforce.com:8443/services/liveagent/file",
    ] {
        v.poll(vec![file_request(url)]);
        let t = delivered_transfer(&v);
        match v
            .session()
            .upload_request(&t, "a.txt", "text/plain", b"secret file")
        {
            Err(UploadError::HostRefused { .. }) => {}
            other => panic!("{url}: {other:?}"),
        }
    }
    // The org's own My Domain, as configured, and the chat host itself.
    for url in [
        "https://acme.my.salesforce.com/services/liveagent/file",
        &format!("https://{HOST}/content/fileUploadServlet"),
    ] {
        v.poll(vec![file_request(url)]);
        let t = delivered_transfer(&v);
        let req = v
            .session()
            .upload_request(&t, "a.txt", "text/plain", b"file")
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(req.uri().to_string().starts_with(url), "{url}");
    }
}

/// The query pairs of a URI, names and values percent-decoded as a servlet container reads them.
fn servlet_parameters(uri: &http::Uri) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && i + 2 < b.len()
                && let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16)
            {
                out.push(x);
                i += 3;
                continue;
            }
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(n), decode(v))
        })
        .collect()
}

#[test]
fn percent_encoded_upload_parameter_names_cannot_smuggle_another_org_chat_or_token() {
    let mut v = Victim::chatting(config());
    let url = format!(
        "https://{HOST}/content/fileUploadServlet?org%49d=00Dattacker&chat%4Bey=attacker-chat\
         &file%54oken=attacker-token&%65ncoding=UTF-7&ORGID=00Dshouting&chatkey=lower&keep=1"
    );
    v.poll(vec![file_request(&url)]);
    let t = delivered_transfer(&v);
    let req = v
        .session()
        .upload_request(&t, "a.txt", "text/plain", b"file")
        .expect("built");
    let params = servlet_parameters(req.uri());
    let (id, _) = KEY.split_once('!').expect("key has a !");
    for (name, ours) in [
        ("orgId", "00DD0000000JVXs"),
        ("chatKey", id),
        ("fileToken", "tok-7"),
        ("encoding", "UTF-8"),
    ] {
        let values: Vec<&str> = params
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values, vec![ours], "{name} in {:?}", req.uri());
    }
    assert!(params.contains(&("keep".into(), "1".into())), "{params:?}");
}

// ------------------------------------------------------------------------------------------------------
// Redaction that cannot be dodged: an echoed key, transformed, in the server's error text
// ------------------------------------------------------------------------------------------------------

/// Text as a reader of a log would reassemble it, written independently of the crate's redaction: lowercase,
/// with Debug's and JSON's backslash escapes, `%XX`, `\uXXXX` and HTML references decoded (a few times over),
/// and line breaks (raw or escaped), spaces and `<wbr>`/`<br>` tags removed.
fn as_a_reader_reassembles_it(text: &str) -> String {
    fn percent(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && i + 2 < b.len()
                && let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16)
                && x.is_ascii()
            {
                out.push(x);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    fn json_u(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("\\u") {
            out.push_str(&rest[..i]);
            let hex = rest.get(i + 2..i + 6).unwrap_or("");
            match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                Some(c) if hex.len() == 4 => {
                    out.push(c);
                    rest = &rest[i + 6..];
                }
                _ => {
                    out.push_str("\\u");
                    rest = &rest[i + 2..];
                }
            }
        }
        out.push_str(rest);
        out
    }
    let mut t = text.to_lowercase();
    for _ in 0..4 {
        t = t
            .replace("\\\\", "\\")
            .replace("\\\"", "\"")
            .replace("\\/", "/");
        t = json_u(&percent(&t));
        for gone in [
            "\\r", "\\n", "\r", "\n", " ", "<wbr>", "<wbr/>", "<br>", "<br/>",
        ] {
            t = t.replace(gone, "");
        }
    }
    t
}

/// The first run of eight or more characters of `secret` that `shown` still holds, as a reader sees it.
fn surviving_run(shown: &str, secret: &str) -> Option<String> {
    let view = as_a_reader_reassembles_it(shown);
    let secret: Vec<char> = secret.to_lowercase().chars().collect();
    secret
        .windows(8.min(secret.len()))
        .map(|w| w.iter().collect::<String>())
        .find(|w| view.contains(w.as_str()))
}

/// How the echo of one character is written: as is, case flipped, `%XX`, `\u00XX`, HTML `&#NN;`.
fn echo_char(c: char, how: u8) -> String {
    match how % 5 {
        0 => c.to_string(),
        1 if c.is_ascii_lowercase() => c.to_ascii_uppercase().to_string(),
        1 => c.to_ascii_lowercase().to_string(),
        2 => format!("%{:02X}", c as u32),
        3 => format!("\\u{:04x}", c as u32),
        _ => format!("&#{};", c as u32),
    }
}

const ECHO_SEPARATORS: &[&str] = &["", "", "", "\n", "\r\n", "<wbr>", "<br/>", "\\n"];

fn echo(secret: &str, hows: &[(u8, u8)]) -> String {
    secret
        .chars()
        .zip(hows.iter().cycle())
        .map(|(c, &(how, sep))| {
            let sep = ECHO_SEPARATORS[usize::from(sep) % ECHO_SEPARATORS.len()];
            format!("{}{sep}", echo_char(c, how))
        })
        .collect()
}

/// A chat whose session key and affinity token are `key` and `token`, polling.
fn requested_with(key: &str, token: &str) -> Victim {
    let mut v = Victim::new(config());
    let sid = v.take(RequestKind::SessionId);
    let body = json!({"id": "sess-1", "key": key, "affinityToken": token, "clientPollTimeout": 40});
    v.answer(&sid, 200, body.to_string().as_bytes());
    v
}

fn secrets_shown(v: &Victim) -> String {
    let mut shown = format!("{:?}", v.events());
    for e in v.events() {
        shown.push_str(&format!("\n{e:?}"));
        match e {
            Event::Retrying { cause, .. } => shown.push_str(&format!("\n{cause}")),
            Event::Ended(r) => shown.push_str(&format!("\n{r}")),
            _ => {}
        }
    }
    if let Some(r) = v.end_reason() {
        shown.push_str(&format!("\n{r}\n{r:?}"));
    }
    shown
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 192, ..Default::default() })]

    #[test]
    fn a_key_echoed_in_any_case_encoding_or_split_never_reaches_a_log_line(
        key in "[A-Za-z0-9]{8,24}![0-9]{6,13}![A-Za-z0-9+/]{4,40}=?",
        token in "[a-f0-9]{8,32}",
        hows in proptest::collection::vec((0u8..5, 0u8..8), 1..16),
        before in "[ -~]{0,150}",
        after in "[ -~]{0,40}",
        status in proptest::sample::select(vec![400u16, 403, 404, 405, 409, 500, 502, 200]),
        on_init in proptest::bool::ANY,
    ) {
        let mut v = requested_with(&key, &token);
        let body = format!(
            "{before}key {} token {} {after}",
            echo(&key, &hows),
            echo(&token, &hows)
        );
        // A 200 that does not decode quotes the body around the error; an error status quotes its start.
        let body = if status == 200 { format!("{{\"messages\": [{body}") } else { body };
        let req = if on_init {
            v.take(RequestKind::ChasitorInit)
        } else {
            let init = v.take(RequestKind::ChasitorInit);
            v.answer(&init, 200, b"");
            v.take(RequestKind::Messages)
        };
        v.answer(&req, status, body.as_bytes());
        let mut shown = secrets_shown(&v);
        // The same page from the upload servlet: its failure detail is a log line too.
        let upload = v.session().upload_answer(if status == 200 { 500 } else { status }, body.as_bytes());
        shown.push_str(&format!("\n{upload}\n{upload:?}"));
        for secret in [&key, &token] {
            proptest::prop_assert!(
                surviving_run(&shown, secret).is_none(),
                "{:?} of {secret:?} survives in {shown}",
                surviving_run(&shown, secret)
            );
        }
    }
}

#[test]
fn an_upload_servlet_echoing_the_key_and_token_gets_neither_into_the_failure_detail() {
    let mut v = Victim::chatting(config());
    let poll = v.take(RequestKind::Messages);
    let transfer = json!({"type": "Requested", "uploadServletUrl": format!("https://{HOST}/content/upload"),
        "fileToken": "ft-1"});
    v.answer(&poll, 200, &batch(vec![msg("FileTransfer", transfer)], 3));
    let t = delivered_transfer(&v);
    let req = v
        .session()
        .upload_request(&t, "receipt.txt", "text/plain", b"paid")
        .expect("upload built");
    assert!(
        !format!("{req:?}").contains(KEY),
        "the request never carries the key"
    );
    for (status, body) in [
        (
            500,
            format!("Upload refused for session {KEY} affinity {AFFINITY}"),
        ),
        (403, format!("Invalid session {}", KEY.to_lowercase())),
        (
            400,
            format!(
                "bad chatKey; session {}",
                KEY.replace('!', "%21").replace('=', "%3D")
            ),
        ),
        (
            200,
            format!("Failure: {{\"key\": \"{}\"}}", KEY.replace('!', "\\u0021")),
        ),
        (
            200,
            format!("Error <p>{}<wbr>{}</p>", &KEY[..12], &KEY[12..]),
        ),
        (502, format!("{AFFINITY}\n{}\n{}", &KEY[..20], &KEY[20..])),
    ] {
        let answer = v.session().upload_answer(status, body.as_bytes());
        let liveagent::wire::UploadAnswer::Failed { detail, .. } = &answer else {
            panic!("{status} {body:?}: {answer:?}")
        };
        let shown = format!("{detail}\n{answer}\n{answer:?}");
        for secret in [KEY, AFFINITY] {
            assert_eq!(surviving_run(&shown, secret), None, "{body:?}: {shown}");
        }
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

#[test]
fn an_error_page_echoing_the_key_transformed_shows_none_of_it() {
    for body in [
        format!("Invalid session {}", KEY.to_lowercase()),
        format!(
            "Invalid session {}",
            KEY.replace('!', "%21").replace('=', "%3D")
        ),
        format!("{{\"error\": \"{}\"}}", KEY.replace('!', "\\u0021")),
        format!("session:\n{}\n{}", &KEY[..20], &KEY[20..]),
        format!("<p>{}<wbr>{}</p>", &KEY[..12], &KEY[12..]),
    ] {
        let mut v = Victim::chatting(config());
        let poll = v.take(RequestKind::Messages);
        v.answer(&poll, 403, body.as_bytes());
        let shown = secrets_shown(&v);
        assert_eq!(surviving_run(&shown, KEY), None, "{body:?}: {shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

#[test]
fn a_chat_request_fail_reason_echoing_the_key_is_redacted_in_the_end_reason() {
    let mut v = Victim::requested(config());
    let poll = v.take(RequestKind::Messages);
    let body = batch(
        vec![msg(
            "ChatRequestFail",
            json!({"reason": format!("no agent for {}", KEY.to_uppercase())}),
        )],
        1,
    );
    v.answer(&poll, 200, &body);
    let shown = secrets_shown(&v);
    assert!(
        matches!(v.end_reason(), Some(EndReason::RequestFailed { .. })),
        "{shown}"
    );
    assert_eq!(surviving_run(&shown, KEY), None, "{shown}");
}

/// The fuzz target's shape, played once per spelling: after the chat is established, an error page echoes every
/// key and token issued so far, re-spelled; the test kit's monitor (which reassembles the text its own way)
/// finds no eight characters of either in any failure or end reason.
#[test]
fn error_pages_echoing_issued_secrets_in_every_spelling_pass_the_monitor() {
    use liveagent::testkit::{ECHO_SECRETS, Op, ScriptedAnswer, Setup};
    for how in 0..64u8 {
        for status in [400u16, 403, 500] {
            let ok = Op::Respond {
                pick: 0,
                reply: ScriptedAnswer::Natural(0),
            };
            let mut body = b"<html>denied for".to_vec();
            body.extend_from_slice(ECHO_SECRETS);
            body.push(how);
            let echo = Op::Respond {
                pick: 0,
                reply: ScriptedAnswer::Raw { status, body },
            };
            let ops = [ok.clone(), ok.clone(), ok, echo];
            let h = Harness::run(Setup::default(), Timestamp::ZERO, &ops)
                .unwrap_or_else(|v| panic!("spelling {how}, status {status}: {v}"));
            let ended = h.session().end_reason().map(|r| format!("{r}"));
            let state = h.session().state();
            assert!(
                state != liveagent::State::Ended || ended.is_some_and(|r| r.contains("<redacted>")),
                "{how}/{status}: {state:?}"
            );
        }
    }
}
