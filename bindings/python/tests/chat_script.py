"""One scripted visitor chat, shared by the driver tests: what the visitor says and when, and a readable
transcript of what the application saw."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import liveagent

TEXTS = ["Where is my parcel?", "It was due on Monday."]

#: The simulator's HTTP server scenario (its own JSON, as `sim_server --dump-scenario` prints it): the agent
#: accepts at once, greets and echoes; a 503 handover on the 4th poll and a 409 "Out of sync" on the 3rd POST.
SCENARIO: Dict[str, Any] = {
    "agent": {
        "steps": [
            {"after": {"secs": 0, "nanos": 200_000_000}, "action": "Accept"},
            {"after": {"secs": 0, "nanos": 0}, "action": {"Say": {"text": "Hello, how can I help you?"}}},
            {"after": {"secs": 0, "nanos": 0}, "action": "EchoVisitor"},
        ]
    },
    "faults": [
        {"session": 0, "at": {"Poll": 4}, "kind": "Handover"},
        {"session": 0, "at": {"Post": 3}, "kind": {"SequenceDrift": 2}},
    ],
    "poll_hold_ms": 2000,
}


class VisitorScript:
    """Says the next text after each agent message, ends after the echo of the last one. `lines` is the
    transcript (no secret in it: events carry none)."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.said: List[int] = []
        self.events: List[Dict[str, Any]] = []
        self.end_reason: Dict[str, Any] = {}

    def on_event(self, session: liveagent.Session, event: Dict[str, Any]) -> None:
        self.events.append(event)
        kind = event["type"]
        if kind == "agentMessage":
            self.lines.append(f"agent: {event['text']}")
            if len(self.said) < len(TEXTS):
                text = TEXTS[len(self.said)]
                self.said.append(session.send_message(text))
                self.lines.append(f"visitor: {text}")
            elif event["text"] == f"echo: {TEXTS[-1]}":
                session.end()
                self.lines.append("visitor ends the chat")
        elif kind == "retrying":
            self.lines.append(
                f"retrying {event['request']} (attempt {event['attempt']}): {event['cause']['message']}"
            )
        elif kind == "ended":
            self.end_reason = event["reason"]
            self.lines.append(f"ended: {event['reason']['type']}")
        elif kind in ("delivered", "deliveryUncertain", "undelivered"):
            self.lines.append(f"{kind} {event['commands']}")
        else:
            self.lines.append(kind)


def check_against_server(script: VisitorScript, server: Any) -> None:
    """The chat as the SERVER recorded it: every text accepted exactly once, the handover and the 409 seen,
    the session completed; and the application got every echo once and ended normally."""
    server.stop()
    assert server.accepted_visitor_texts() == TEXTS, server.transcript
    assert " 503" in server.transcript and " 409" in server.transcript, server.transcript
    assert server.report is not None
    assert [s["completed"] for s in server.report["sessions"]] == [True], server.report
    agent_lines = [line for line in script.lines if line.startswith("agent: ")]
    assert agent_lines == [
        "agent: Hello, how can I help you?",
        "agent: echo: Where is my parcel?",
        "agent: echo: It was due on Monday.",
    ]
    assert script.end_reason["type"] == "visitorEnded", script.lines
    assert "sessionRestored" in script.lines, script.lines
    # Every text the application sent is reported delivered (or uncertain), none undelivered.
    reported = [c for e in script.events if e["type"] in ("delivered", "deliveryUncertain") for c in e["commands"]]
    assert sorted(set(reported) & set(script.said)) == sorted(script.said), script.lines
