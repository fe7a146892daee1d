"""Bad input across the boundary: each a typed exception (a `liveagent.LiveAgentError` subclass) with a clear
message, never a crash or a panic, and the session unchanged."""

from __future__ import annotations

import math

import pytest

import liveagent
from liveagent import (
    InvalidArgument,
    InvalidConfig,
    InvalidSnapshot,
    InvalidTime,
    InvalidUtf8,
    LiveAgentError,
    SessionEnded,
    UnknownRequest,
)

from conftest import session_config

ENDPOINT = "https://d.la1-c1-phx.salesforceliveagent.com"


def new_session(now: float = 100.0) -> liveagent.Session:
    return liveagent.Session(session_config(ENDPOINT), now)


def first_request(session: liveagent.Session, now: float = 100.0) -> dict:
    out = session.poll_output(now)
    assert out["type"] == "request", out
    return out


@pytest.mark.parametrize(
    "config, code, words",
    [
        ("{not json", InvalidConfig, "not valid JSON"),
        ("[1, 2]", InvalidConfig, "must be a JSON object"),
        ({"endpoint": ENDPOINT, "organizationId": "o", "deploymentId": "d"}, InvalidConfig, "buttonId"),
        ({**session_config(ENDPOINT), "requestTimeoutMs": "soon"}, InvalidConfig, "requestTimeoutMs"),
        ({**session_config(ENDPOINT), "pollMarginMs": -1}, InvalidConfig, "pollMarginMs"),
        ({**session_config(ENDPOINT), "retyr": {}}, InvalidConfig, "`retyr`: unknown field"),
        ({**session_config(ENDPOINT), "version": 99}, InvalidConfig, "schema version 99"),
        ({**session_config(ENDPOINT), "endpoint": "ftp://x"}, InvalidConfig, "endpoint"),
        ({**session_config(ENDPOINT), "seed": {1, 2}}, InvalidConfig, "no JSON form"),
    ],
)
def test_a_bad_configuration_is_invalid_config(config, code, words) -> None:
    with pytest.raises(code, match=words) as raised:
        liveagent.Session(config, 0.0)
    assert isinstance(raised.value, ValueError)
    assert raised.value.code == "invalidConfig"


@pytest.mark.parametrize("now", [math.nan, -1.0, -0.001, math.inf, -math.inf, 1e300, 10**400, 2**53])
def test_a_time_that_is_not_one_is_invalid_time_everywhere(now) -> None:
    with pytest.raises(InvalidTime, match="seconds"):
        liveagent.Session(session_config(ENDPOINT), now)
    s = new_session()
    request = first_request(s)
    for call in (
        lambda: s.poll_output(now),
        lambda: s.drain_outputs(now),
        lambda: s.handle_timeout(now),
        lambda: s.handle_response(request["id"], 200, [], b"{}", now),
        lambda: s.handle_transport_error(request["id"], "timeout", now),
        lambda: liveagent.Session.resume(session_config(ENDPOINT), "{}", now),
    ):
        with pytest.raises(InvalidTime) as raised:
            call()
        assert raised.value.code == "invalidTime"
    # Nothing changed: the request is still in flight and its answer is taken.
    assert s.handle_transport_error(request["id"], "timeout", 101.0) == "accepted"


def test_a_time_earlier_than_one_seen_is_clamped_not_refused() -> None:
    s = new_session(100.0)
    first_request(s, 100.0)
    assert s.poll_output(50.0)["type"] == "wait"


def test_an_unknown_request_id_is_unknown_request() -> None:
    s = new_session()
    request = first_request(s)
    for bad_id in (request["id"] + 1000, -1, 2**64, 2**70):
        with pytest.raises(UnknownRequest) as raised:
            s.handle_response(bad_id, 200, [], b"{}", 101.0)
        assert isinstance(raised.value, LookupError)
        with pytest.raises(UnknownRequest):
            s.handle_transport_error(bad_id, "reset", 101.0)
    assert s.handle_transport_error(request["id"], "reset", 101.0) == "accepted"


def test_a_body_that_is_not_utf8_is_a_failed_answer_the_session_retries() -> None:
    s = new_session()
    request = first_request(s)
    assert s.handle_response(request["id"], 200, {"content-type": "application/json"}, b"\xff\xfe{", 101.0) == "accepted"
    outputs = s.drain_outputs(101.0)
    retry = [o["event"] for o in outputs if o["type"] == "event"]
    assert retry and retry[0]["type"] == "retrying", outputs
    assert retry[0]["cause"]["type"] == "decode"
    assert retry[0]["at"] > 101.0  # a time on the caller's clock, in seconds


def test_text_that_is_not_utf8_is_invalid_utf8() -> None:
    s = new_session()
    with pytest.raises(InvalidUtf8, match="UTF-8"):
        s.send_message("half a surrogate: \udcff")
    with pytest.raises(InvalidUtf8):
        liveagent.Session('{"endpoint": "\udcff"}', 0.0)
    with pytest.raises(InvalidUtf8):
        s.handle_response(first_request(s)["id"], 200, [("x-\udcff", "v")], b"", 101.0)
    assert s.status()["pendingCommands"] == 0


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda s, r: s.handle_response(r, 1000, [], b"", 101.0), "not an HTTP status"),
        (lambda s, r: s.handle_response(r, -200, [], b"", 101.0), "not an HTTP status"),
        (lambda s, r: s.handle_response(r, 200, [("bad name", "v")], b"", 101.0), "header name"),
        (lambda s, r: s.handle_response(r, 200, [("x", "a\nb")], b"", 101.0), "value of header"),
        (lambda s, r: s.handle_response(r, 200, [1, 2], b"", 101.0), "pairs of str"),
        (lambda s, r: s.handle_transport_error(r, "meteor", 101.0), "not one of timeout"),
        (lambda s, r: s.command({"type": "dance"}), "unknown command type"),
        (lambda s, r: s.command({"type": "sendMessage"}), "text"),
        (lambda s, r: s.command("not json"), "not valid JSON"),
    ],
)
def test_other_bad_arguments_are_invalid_argument(call, words) -> None:
    s = new_session()
    request = first_request(s)
    with pytest.raises(InvalidArgument, match=words) as raised:
        call(s, request["id"])
    assert raised.value.code == "invalidArgument"
    assert s.handle_transport_error(request["id"], "reset", 101.0) == "accepted"


def test_a_refused_command_says_why() -> None:
    s = new_session()
    with pytest.raises(liveagent.CommandRefused) as raised:
        s.send_message("")
    assert raised.value.reason == "emptyText"
    with pytest.raises(liveagent.CommandRefused) as raised:
        s.send_message("x" * (64 * 1024))
    assert raised.value.reason == "textTooLong"
    assert s.status()["pendingCommands"] == 0


def test_calls_after_the_end_say_ended() -> None:
    s = new_session()
    request = first_request(s)
    # The server refuses the SessionId request (a 404 is final): the session ends.
    assert s.handle_response(request["id"], 404, [], b"no such org", 100.5) == "accepted"
    outputs = s.drain_outputs(100.5)
    assert outputs[-1] == {"type": "wait", "until": None}
    assert outputs[-2]["event"]["type"] == "ended"
    assert s.ended and s.state == "ended"
    assert s.status()["endReason"]["type"] == "rejected"
    for call in (
        lambda: s.send_message("hello?"),
        lambda: s.set_typing(True),
        lambda: s.sneak_peek("hel"),
        lambda: s.send_custom_event("t", "d"),
        lambda: s.end(),
        lambda: s.command({"type": "sendMessage", "text": "hi"}),
    ):
        with pytest.raises(SessionEnded) as raised:
            call()
        assert raised.value.code == "ended"
        assert isinstance(raised.value, liveagent.CommandRefused)
    # A second answer to a request the session handed out is stale (ignored), not an error; polling after
    # the end waits forever.
    assert s.handle_response(request["id"], 200, [], b"{}", 102.0) == "stale"
    assert s.poll_output(103.0) == {"type": "wait", "until": None}
    assert s.poll_timeout() is None


@pytest.mark.parametrize(
    "snapshot, reason",
    [
        ("{", "malformed"),
        ({"state": "Ended"}, "malformed"),
        (17, "malformed"),
    ],
)
def test_a_bad_snapshot_is_invalid_snapshot(snapshot, reason) -> None:
    with pytest.raises(InvalidSnapshot) as raised:
        liveagent.Session.resume(session_config(ENDPOINT), snapshot, 0.0)
    assert raised.value.reason == reason


def test_errors_never_quote_the_session_key() -> None:
    s = new_session()
    request = first_request(s)
    key = "09f1fd9d-03f0-49b4-9532-74161bbf8475!1700000001061!s0OzlkbKW12NUiJ9bJvScHVUkfk="
    body = ('{"id":"09f1fd9d","key":"%s","affinityToken":"5eb7f92b","clientPollTimeout":40}' % key).encode()
    s.handle_response(request["id"], 200, [], body, 101.0)
    texts = []
    for out in s.drain_outputs(101.0):
        if out["type"] == "request":
            assert out["headers"]["x-liveagent-session-key"] == key
            s.handle_response(out["id"], 500, [], ("oops " + key).encode(), 102.0)
    for out in s.drain_outputs(102.0):
        texts.append(repr(out.get("event")))
    try:
        s.handle_response(12345, 200, [], b"", 103.0)
    except LiveAgentError as e:
        texts.append(str(e))
    assert texts and all(key not in t for t in texts), texts
    assert key not in repr(s)
