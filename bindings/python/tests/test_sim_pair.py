"""Whole chats on the in-process simulator (liveagent.sim.Pair) on virtual time, judged from the
simulator's record."""

from __future__ import annotations

import json

import pytest

import liveagent
from liveagent.sim import Pair

from conftest import session_config

HANDOVER_AND_409 = {
    "agent": "default",
    "faults": [
        # A 503 server handover on the 4th poll: the session reconnects and resumes.
        {"session": 0, "at": {"type": "poll", "n": 4}, "kind": {"type": "handover"}},
        # The server's sequence counter jumps: the 3rd POST is answered 409 "Out of sync".
        {"session": 0, "at": {"type": "post", "n": 3}, "kind": {"type": "sequenceDrift", "by": 2}},
    ],
}


def secrets(snapshot: str) -> tuple:
    """The session key and affinity token a snapshot holds."""
    credentials = json.loads(snapshot)["credentials"]
    return credentials["key"], credentials["affinity"]


def test_a_whole_chat_with_a_503_handover_and_a_409() -> None:
    pair = Pair(session_config("https://sim.invalid"), HANDOVER_AND_409)
    pair.run_until_event("queued")
    before = pair.snapshot()
    greeting = pair.run_until_event("agentMessage")
    assert greeting["type"] == "agentMessage"
    assert greeting["text"] == "Hello, how can I help you?"
    pair.send_message("Where is my parcel?")
    assert pair.run_until_event("agentMessage")["text"] == "echo: Where is my parcel?"
    pair.send_message("It was due on Monday.")
    assert pair.run_until_event("agentMessage")["text"] == "echo: It was due on Monday."
    after = pair.snapshot()
    pair.end()
    pair.run()

    # The simulator's record: both texts accepted once, every agent text received once, ended by us.
    report = pair.check_delivery()
    assert report["clean"], report["text"]
    assert report["sent"] == 2
    assert report["acceptedByServer"] == 2
    assert report["agentEmitted"] == report["agentReceived"] == 3
    assert report["ended"]["type"] == "visitorEnded"
    assert pair.agent_texts() == [
        "Hello, how can I help you?",
        "echo: Where is my parcel?",
        "echo: It was due on Monday.",
    ]

    # Both faults happened: the handover restored the session, the 409 was answered by a re-send.
    events = pair.events()
    kinds = [e["event"]["type"] for e in events]
    assert "sessionRestored" in kinds
    transcript = pair.transcript()
    assert " 409 " in transcript or "409" in transcript
    assert "503" in transcript
    # Times are virtual seconds since the start, in order.
    ats = [e["at"] for e in events]
    assert ats == sorted(ats) and ats[-1] > 2.0
    assert pair.elapsed >= ats[-1]

    # The handover gave a new affinity token; events (meant for logs) carry no secret.
    (key, affinity_before), (_, affinity_after) = secrets(before), secrets(after)
    assert affinity_before != affinity_after
    text = json.dumps(events) + transcript
    for secret in (key, affinity_before, affinity_after):
        assert secret not in text


def test_a_delivered_event_names_the_command_ids_it_delivered() -> None:
    pair = Pair(session_config("https://sim.invalid"), {"agent": "default"})
    pair.run_until_event("agentMessage")
    first = pair.send_message("one")
    delivered = pair.run_until_event("delivered")
    assert delivered == {"type": "delivered", "commands": [first]}


def test_typing_and_custom_commands_go_through_the_pair() -> None:
    pair = Pair(session_config("https://sim.invalid"), {"agent": "default"})
    pair.run_until_event("agentMessage")
    assert isinstance(pair.command({"type": "setTyping", "typing": True})["commandId"], int)
    assert pair.command({"type": "end"}) == {}
    pair.run()
    assert pair.check_delivery()["ended"]["type"] == "visitorEnded"
    with pytest.raises(liveagent.SessionEnded):
        pair.send_message("too late")


def test_bad_simulator_configurations_are_simulation_errors() -> None:
    with pytest.raises(liveagent.SimulationError, match="pollHoldMs"):
        Pair(session_config("https://sim.invalid"), {"pollHoldMs": "long"})
    with pytest.raises(liveagent.SimulationError, match="meteor"):
        Pair(
            session_config("https://sim.invalid"),
            {"faults": [{"at": {"type": "poll", "n": 1}, "kind": {"type": "meteor"}}]},
        )
    with pytest.raises(liveagent.InvalidConfig, match="buttonId"):
        Pair({"endpoint": "https://sim.invalid", "organizationId": "o", "deploymentId": "d"})
