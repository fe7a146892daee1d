"""Outputs are built as Python objects by the extension (no JSON text in between) and commands and
configurations are read from dicts (no json.dumps): the values are still exactly JSON's (what json.loads
would give), with the boundary's times in seconds, and what has no JSON form is refused with a code."""

from __future__ import annotations

import json
from typing import Any, List

import pytest

import liveagent
from liveagent import InvalidArgument, InvalidConfig, InvalidUtf8

from conftest import session_config

ENDPOINT = "https://d.la1-c1-phx.salesforceliveagent.com"
SESSION_ID_BODY = b'{"id":"sid","key":"KEY!1","affinityToken":"AFF1","clientPollTimeout":40}'
ESTABLISHED_BODY = (
    b'{"messages":[{"type":"ChatRequestSuccess","message":{"queuePosition":1,"estimatedWaitTime":-1}},'
    b'{"type":"ChatEstablished","message":{"name":"Ann","userId":"005","items":[],"sneakPeekEnabled":false,'
    b'"chasitorIdleTimeout":{"isEnabled":false}}},'
    b'{"type":"ChatMessage","message":{"text":"hi","name":"Ann","agentId":"005",'
    b'"schedule":{"responseDelayMilliseconds":0.0}}},'
    b'{"type":"SomethingNew","message":{"deadlineMs":5,"atMs":6,"event":{"endsAtMs":7}}}],'
    b'"sequence":1,"offset":7}'
)


def drain(s: liveagent.Session, now: float) -> List[Any]:
    outs = []
    while True:
        o = s.poll_output(now)
        outs.append(o)
        if o["type"] == "wait":
            return outs


def json_shaped(value: Any) -> None:
    """Only the types json.loads makes, and the value survives a JSON round trip unchanged."""
    assert json.loads(json.dumps(value)) == value
    if isinstance(value, dict):
        assert type(value) is dict
        for k, v in value.items():
            assert type(k) is str
            json_shaped(v)
    elif isinstance(value, list):
        assert type(value) is list
        for v in value:
            json_shaped(v)
    else:
        assert value is None or type(value) in (str, int, float, bool), value


def chatting() -> tuple:
    s = liveagent.Session(session_config(ENDPOINT), 100.0)
    outputs = drain(s, 100.0)
    s.handle_response(outputs[0]["id"], 200, {"content-type": "application/json"}, SESSION_ID_BODY, 100.0)
    outputs += drain(s, 100.0)
    init = [o for o in outputs if o["type"] == "request" and o["kind"] == "chasitorInit"][0]
    s.handle_response(init["id"], 200, None, b"", 100.5)
    polled = drain(s, 100.5)
    outputs += polled
    poll = [o for o in polled if o["type"] == "request" and o["kind"] == "messages"][0]
    s.handle_response(poll["id"], 200, [("Content-Type", "application/json")], ESTABLISHED_BODY, 101.0)
    outputs += s.drain_outputs(101.0)
    return s, outputs


def test_outputs_are_json_values_with_times_in_seconds() -> None:
    s, outputs = chatting()
    kinds = set()
    for o in outputs:
        json_shaped(o)
        assert not [k for k in o if k.endswith("Ms")], o
        if o["type"] == "request":
            assert set(o) == {"type", "id", "kind", "method", "url", "headers", "body", "deadline"}
            assert type(o["id"]) is int and type(o["deadline"]) is float and o["deadline"] > 100.0
            assert all(type(v) is str for v in o["headers"].values())
            assert o["body"] is None or type(o["body"]) is str
            kinds.add(o["kind"])
        elif o["type"] == "event":
            kinds.add(o["event"]["type"])
            assert not [k for k in o["event"] if k.endswith("Ms")], o
        else:
            assert set(o) == {"type", "until"} and type(o["until"]) is float
    assert {"sessionId", "chasitorInit", "messages", "chatEstablished", "agentMessage", "message"} <= kinds
    (message,) = [o["event"] for o in outputs if o["type"] == "event" and o["event"]["type"] == "message"]
    # A server payload keeps its own field names, whatever they end in.
    assert message["messageType"] == "SomethingNew"
    assert message["payload"] == {"deadlineMs": 5, "atMs": 6, "event": {"endsAtMs": 7}}
    (agent,) = [o["event"] for o in outputs if o["type"] == "event" and o["event"]["type"] == "agentMessage"]
    assert agent == {"type": "agentMessage", "text": "hi", "name": "Ann", "agentId": "005",
                     "schedule": {"responseDelayMilliseconds": 0.0}}
    status = s.status()
    json_shaped(status)
    assert status["state"] == s.state == "chatting"
    assert type(status["pollTimeout"]) is float and "pollTimeoutMs" not in status


def test_the_same_poll_twice_gives_equal_but_separate_dicts() -> None:
    s, outputs = chatting()
    poll = [o for o in outputs if o["type"] == "request" and o["kind"] == "messages"][-1]
    poll["headers"]["x-mine"] = "changed by the application"
    s.handle_response(poll["id"], 204, None, b"", 102.0)
    (again, wait) = drain(s, 102.0)
    assert again["kind"] == "messages" and "x-mine" not in again["headers"]
    assert again["headers"]["x-liveagent-session-key"] == "KEY!1"


def test_commands_from_dicts_and_from_text_agree() -> None:
    s, _ = chatting()
    assert s.command({"type": "sendMessage", "text": "from a dict"}) == {"commandId": 1}
    assert s.command('{"type": "sendMessage", "text": "from text"}') == {"commandId": 2}
    assert s.command({"type": "sendRichMessage", "actions": [{"type": "ChatWindowButton", "index": 0, "value": "yes"}]}) == {
        "commandId": 3
    }
    assert s.command({"type": "setTyping", "typing": True}) == {"commandId": 4}
    assert s.command({"type": "end"}) == {}


@pytest.mark.parametrize(
    "command, error, words",
    [
        ({"type": "sendMessage", "text": float("nan")}, InvalidArgument, "no JSON form"),
        ({"type": "sendMessage", "text": object()}, InvalidArgument, "no JSON form"),
        ({"type": "sendMessage", 5: "x"}, InvalidArgument, "no JSON form"),
        ({"type": "sendMessage", "text": 2**70}, InvalidArgument, "field `text`: invalid type: floating point"),
        ({"type": "sendMessage", "text": "\udcff"}, InvalidUtf8, "UTF-8"),
        ({"type": "sendMessage", "text": 5}, InvalidArgument, "field `text`"),
        ({"type": "dance"}, InvalidArgument, "unknown command type"),
        ({"type": "end", "x": 1}, InvalidArgument, "field `x`: unknown field"),
        ([1, 2], InvalidArgument, "must be a JSON object"),
    ],
)
def test_a_command_dict_without_json_form_is_refused_with_a_code(command, error, words) -> None:
    s, _ = chatting()
    with pytest.raises(error, match=words.replace("(", r"\(")):
        s.command(command)
    assert s.status()["pendingCommands"] == 0


def test_nesting_and_cycles_are_refused_not_a_crash() -> None:
    s, _ = chatting()
    deep: Any = "x"
    for _ in range(500):
        deep = [deep]
    with pytest.raises(InvalidArgument, match="nested deeper"):
        s.command({"type": "sendCustomEvent", "eventType": "t", "data": deep})
    cyclic: dict = {"type": "end"}
    cyclic["self"] = cyclic
    with pytest.raises(InvalidArgument, match="nested deeper"):
        s.command(cyclic)
    with pytest.raises(InvalidConfig, match="nested deeper"):
        liveagent.Session({**session_config(ENDPOINT), "visitor": cyclic}, 0.0)
