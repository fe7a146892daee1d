"""The ready drivers against the simulator's HTTP server on 127.0.0.1: the same chat, with a 503 handover
and a 409, through `http.client` threads and through asyncio/aiohttp. Judged from the server's record."""

from __future__ import annotations

import asyncio
import time

import pytest

import liveagent
from liveagent.drivers.blocking import BlockingDriver

from chat_script import SCENARIO, VisitorScript, check_against_server
from conftest import session_config


def test_the_blocking_driver_runs_a_whole_chat(sim_server) -> None:
    server = sim_server(SCENARIO)
    session = liveagent.Session(session_config(server.url), time.monotonic())
    script = VisitorScript()
    BlockingDriver(session).run(script.on_event)
    print("\n".join(script.lines))
    assert session.ended and session.state == "ended"
    check_against_server(script, server)


def test_commands_from_another_thread_go_through_submit(sim_server) -> None:
    server = sim_server({"agent": {"steps": [{"after": {"secs": 0, "nanos": 0}, "action": "Accept"},
                                             {"after": {"secs": 0, "nanos": 0}, "action": "EchoVisitor"}]},
                         "poll_hold_ms": 2000})
    session = liveagent.Session(session_config(server.url), time.monotonic())
    driver = BlockingDriver(session)
    seen = []

    def on_event(session: liveagent.Session, event: dict) -> None:
        seen.append(event["type"])
        if event["type"] == "chatEstablished":
            # From another thread, as an application's UI would.
            import threading

            def later() -> None:
                assert driver.submit(lambda s: s.send_message("hi")).result(timeout=10) >= 0
            threading.Thread(target=later).start()
        if event["type"] == "agentMessage":
            driver.submit(lambda s: s.end())

    driver.run(on_event)
    # After the end a command is refused with a typed exception, handed to the future.
    refused = driver.submit(lambda s: s.send_message("too late"))
    driver.run(on_event)
    with pytest.raises(liveagent.SessionEnded):
        refused.result(timeout=5)
    server.stop()
    assert server.accepted_visitor_texts() == ["hi"]
    assert seen[-1] == "ended"


def test_the_asyncio_driver_runs_a_whole_chat(sim_server) -> None:
    pytest.importorskip("aiohttp")
    from liveagent.drivers.aio import AsyncDriver

    server = sim_server(SCENARIO)
    session = liveagent.Session(session_config(server.url), time.monotonic())
    script = VisitorScript()
    asyncio.run(AsyncDriver(session).run(script.on_event))
    print("\n".join(script.lines))
    assert session.ended
    check_against_server(script, server)
