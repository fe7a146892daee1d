"""Snapshots cross the language boundary: one taken in Rust (the simulator pair's session, driven by Rust)
resumes in Python, and one taken in Python is the same document Rust's own `Session::snapshot` writes, which
Rust resumes (the pair of the second test continues the chat from it)."""

from __future__ import annotations

import json

import pytest

import liveagent
from liveagent.sim import Pair

from conftest import session_config


def test_a_snapshot_taken_in_rust_resumes_in_python_and_goes_back_unchanged() -> None:
    pair = Pair(session_config("https://sim.invalid"), {"agent": "default"})
    pair.run_until_event("agentMessage")
    pair.send_message("Where is my parcel?")
    pair.run_until_event("agentMessage")
    rust_snapshot = pair.snapshot()
    taken = json.loads(rust_snapshot)
    assert taken["state"] == "Chatting"

    # The pair's simulated server lives at the endpoint the snapshot names.
    config = session_config(taken["endpoint"])
    session = liveagent.Session.resume(config, rust_snapshot, 50.0)
    status = session.status()
    assert status["state"] == "chatting"
    assert status["agent"]["name"] == "Andy L."
    assert status["sessionId"] == taken["credentials"]["id"]

    # Back: before it does anything, Python's snapshot is the very document Rust wrote, and Rust reads it.
    back = session.snapshot()
    assert json.loads(back) == taken
    again = liveagent.Session.resume(config, back, 60.0)
    assert again.status()["sessionId"] == taken["credentials"]["id"]

    # The resumed session goes on where the Rust one stopped: the next poll acknowledges the same batch and
    # carries the same key and token.
    out = session.poll_output(50.0)
    assert out["type"] == "request" and out["kind"] == "messages", out
    assert f"ack={taken['ack']}" in out["url"]
    assert out["headers"]["x-liveagent-session-key"] == taken["credentials"]["key"]
    assert out["headers"]["x-liveagent-affinity"] == taken["credentials"]["affinity"]
    assert json.loads(session.snapshot())["pc"] == taken["pc"] + 1


def test_a_queued_text_survives_the_round_trip() -> None:
    pair = Pair(session_config("https://sim.invalid"), {"agent": "idle"})
    pair.run_until_event("queued")
    taken = json.loads(pair.snapshot())
    session = liveagent.Session.resume(session_config(taken["endpoint"]), json.dumps(taken), 10.0)
    command = session.send_message("still there?")
    assert session.status()["pendingCommands"] == 1
    queued = json.loads(session.snapshot())
    assert len(queued["queue"]) == 1
    resumed = liveagent.Session.resume(session_config(taken["endpoint"]), json.dumps(queued), 20.0)
    assert resumed.status()["pendingCommands"] == 1
    # Command ids go on from where they were, so ids given before the snapshot stay unique.
    assert resumed.send_message("hello?") > command


def test_a_snapshot_outside_the_redirect_policy_is_refused() -> None:
    pair = Pair(session_config("https://sim.invalid"), {"agent": "default"})
    pair.run_until_event("agentMessage")
    taken = json.loads(pair.snapshot())
    taken["endpoint"] = "https://evil.example.com"
    with pytest.raises(liveagent.InvalidSnapshot) as raised:
        liveagent.Session.resume(session_config("https://sim.invalid"), json.dumps(taken), 0.0)
    assert raised.value.reason == "endpointOutsidePolicy"
