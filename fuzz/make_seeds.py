#!/usr/bin/env python3
"""Builds fuzz/seeds/<target>/ from tests/fixtures/peers/ and tests/fixtures/spec/ (run from anywhere).

The seeds are committed; libFuzzer never writes into them (.ci/run and the README give a scratch corpus
directory first). Each seed is framed the way its target reads its input (see src/testkit/fuzz/):
* parse_session_id / parse_messages: a first byte below 0xE0 means status 200, then the body; 0xE0 and two
  big-endian bytes give another status. parse_messages also takes 0xC0, a type index and a bare payload.
* parse_visitor: a selector byte (0 Settings, 1 Availability, 2 VisitorId, 3 ReconnectSession), then the body.
* parse_error: two big-endian status bytes, then the body.
* decode_noun: the index of the noun in NOUN_NAMES (bit 0x80: also POST it to the simulator, 0x40: as a
  MultiNoun), then the request body.
* session_ops / sim_session: bytes for `arbitrary`; zeros mean "a cooperative server", the rest is entropy.
  The sim_session seeds named for a latency or an unreachable server are written field by field (SimInput).
  (hostile_server's seeds are random bytes, written once, not by this script.)
"""
import json
import os
import random
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(ROOT, "fuzz", "seeds")

KNOWN_MESSAGE_TYPES = [
    "AgentDisconnect", "AgentNotTyping", "AgentTyping", "ChasitorSessionData", "ChatEnded", "ChatEstablished",
    "ChatMessage", "ChatRequestFail", "ChatRequestSuccess", "ChatTransferred", "CustomEvent",
    "NewVisitorBreadcrumb", "QueueUpdate", "SensitiveDataRules", "ReconnectSession", "SwitchServer",
    "Availability", "Settings", "VisitorId", "AsyncResult", "FileTransfer", "TransferToButtonInitiated",
    "ChatResumedAfterTransfer", "AgentJoinedConference", "AgentLeftConference", "RichMessage",
    "ChasitorIdleTimeoutWarningEvent",
]
NOUN_NAMES = [
    "ChasitorInit", "ChasitorResyncState", "ChasitorTyping", "ChasitorNotTyping", "ChasitorSneakPeek",
    "ChatMessage", "CustomEvent", "ChatEnd", "ChasitorIdleTimeoutWarningEvent", "SensitiveDataRuleTriggered",
    "RichMessage",
]


def fixtures():
    for d in ("peers", "spec"):
        for name in sorted(os.listdir(os.path.join(FIX, d))):
            if name.endswith((".json", ".txt")):
                with open(os.path.join(FIX, d, name), "rb") as f:
                    yield d, name, f.read()


def status(code):
    return bytes([0xE0]) + code.to_bytes(2, "big")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# The targets whose seeds this script writes (hostile_server's and sim_request's are written by hand: kept).
OWN_TARGETS = ("parse_session_id", "parse_messages", "parse_visitor", "parse_error", "decode_noun",
               "session_ops", "sim_session")


def main():
    for target in OWN_TARGETS:
        shutil.rmtree(os.path.join(OUT, target), ignore_errors=True)
    for d, name, body in fixtures():
        seed = f"{d}__{name}"
        lower = name.lower()
        write("session_ops", seed, body)
        if "sessionid" in lower:
            write("parse_session_id", seed, b"\0" + body)
        if name.endswith(".txt"):
            code = int(name.split("error-")[1][:3]) if "error-" in name else 400
            write("parse_error", seed, code.to_bytes(2, "big") + body)
            write("parse_session_id", seed, status(code) + body)
            write("parse_messages", seed, status(code) + body)
            continue
        if "messages" in lower or lower.startswith("message-") or "switchserver" in lower:
            write("parse_messages", seed, b"\0" + body)
            for i, m in enumerate(json.loads(body).get("messages", [])):
                if m.get("type") in KNOWN_MESSAGE_TYPES:
                    k = KNOWN_MESSAGE_TYPES.index(m["type"])
                    payload = json.dumps(m.get("message", {})).encode()
                    write("parse_messages", f"{seed}.{i}.decode", bytes([0xC0, k]) + payload)
        for sel, key in ((0, "settings"), (1, "availability"), (2, "visitorid"), (3, "reconnectsession")):
            if key in lower:
                write("parse_visitor", seed, bytes([sel]) + body)
    write("parse_messages", "empty-204", status(204))
    write("parse_messages", "blank-200", b"\0 \n")
    write("parse_error", "out-of-sync", (409).to_bytes(2, "big") + b"Out of sync Ack. Expected 498. Actual 4")
    write("parse_error", "503", (503).to_bytes(2, "big") + b"Service Unavailable")
    write("parse_visitor", "reconnect-bare-minimal", b"\x03" + b'{"affinityToken":"a1"}')

    init = {
        "organizationId": "00DD0000000JVXs", "deploymentId": "572D000000000J6", "buttonId": "573D000000000OC",
        "agentId": "005B0000000F3b2", "doFallback": True, "sessionId": "5503f854-0203-4324-8ed5-f793a367426f",
        "userAgent": "Mozilla/5.0", "language": "en-US", "screenResolution": "2560x1440", "visitorName": "Jon A.",
        "prechatDetails": [{"label": "E-mail Address", "value": "jon@example.com",
                            "transcriptFields": ["c__EmailAddress"], "displayToAgent": True,
                            "entityMaps": [{"entityName": "Contact", "fieldName": "Email"}]}],
        "prechatEntities": [{"entityName": "Contact", "showOnCreate": True, "saveToTranscript": "ContactId",
                             "entityFieldsMaps": [{"fieldName": "Email", "label": "E-mail Address",
                                                   "doFind": True, "isExactMatch": True, "doCreate": True}]}],
        "buttonOverrides": ["573D000000000OD"], "receiveQueueUpdates": True, "isPost": True, "trackingId": "",
    }
    bodies = {
        "ChasitorInit": init,
        "ChasitorResyncState": {"organizationId": "00DD0000000JVXs"},
        "ChasitorTyping": {},
        "ChasitorNotTyping": {},
        "ChasitorSneakPeek": {"position": 3, "text": "hel"},
        "ChatMessage": {"text": "hello"},
        "CustomEvent": {"type": "survey", "data": "{\"q\":1}"},
        "ChatEnd": {"reason": "client"},
        "ChasitorIdleTimeoutWarningEvent": {"idleTimeoutWarningEvent": "triggered"},
        "SensitiveDataRuleTriggered": {"rules": [{"id": "0GR1", "name": "cc"}]},
        "RichMessage": {"actions": [{"type": "ChatWindowMenu", "index": 0, "value": "Yes"}]},
    }
    for i, n in enumerate(NOUN_NAMES):
        body = json.dumps(bodies[n]).encode()
        write("decode_noun", n, bytes([i]) + body)
        write("decode_noun", n + ".sim", bytes([0x80 | i]) + body)
        write("decode_noun", n + ".multi", bytes([0x40 | i]) + body)

    rng = random.Random(5)
    for target in ("session_ops", "sim_session"):
        for n in (16, 128, 512):
            write(target, f"zeros-{n}", bytes(n))
        for i in range(8):
            write(target, f"random-{i}", bytes(rng.randrange(256) for _ in range(64 << (i % 4))))
    # Cooperative answers interleaved with sends: op 0 (Respond, Natural) is all zeros.
    write("session_ops", "odd-setup-zeros", b"\x01" + bytes(300))
    sim_session_seeds()


# sim::Dialect::switches().len(): one byte each, zero for the default.
DIALECT_SWITCHES = 24


def u32(n):
    return n.to_bytes(4, "little")


def sim_chat(max_attempts):
    """A SimInput up to its dialect (src/testkit/fuzz/sim_session.rs): seed 7, no fault, an echo agent
    accepting after 1 s, the visitor sending at 2.5 s and 3.5 s and ending at 13.5 s, the default dialect."""
    b = bytes([7, 0, 0, 0, 0, 0, 0, 0])  # seed
    b += b"\x00"  # no fault
    b += u32(0x6000_0000) + bytes([10])  # AgentScript variant 1: echo, accepting after 10 tenths
    for after, act in ((25, 0), (10, 0), (100, 0xF000_0000)):  # Send, Send, End (VisitorAct variants)
        b += bytes([1, after]) + u32(act)
    b += b"\x00"  # no more visitor steps
    b += bytes([0, 0, max_attempts])  # consecutive sequence, wrapped answers, max_attempts (n % 8 + 2)
    return b + bytes(DIALECT_SWITCHES)


def unreachable(trigger, count, after):
    """One `Unreachable` fault (a bool to go on first): a Trigger, count (n % 6 + 1), the delay's bytes."""
    return b"\x01" + trigger + bytes([count]) + after


def sim_session_seeds():
    post_2 = u32(0x7000_0000) + bytes([1])  # Trigger variant 2: Post, int_in_range(1..=12) of 1: 2
    at_5s = u32(0xA000_0000) + (50).to_bytes(2, "little")  # Trigger variant 3: After, 50 tenths
    no_latency = b"\x00"
    # Every attempt of the first ChatMessage lost, the transport failing after 2 s, 3 attempts allowed.
    write("sim_session", "unreachable-message-budget-spent",
          sim_chat(1) + no_latency + unreachable(post_2, 2, bytes([1, 20])) + b"\x00")
    # Two attempts lost, each failing just as the request deadline passes (delay tag 2, offset 0).
    write("sim_session", "unreachable-at-request-deadline",
          sim_chat(0) + no_latency + unreachable(post_2, 1, bytes([2, 0])) + b"\x00")
    # Unreachable from 5 s: the held poll loses its connection at once, the next request fails at once.
    write("sim_session", "unreachable-breaks-held-poll",
          sim_chat(0) + no_latency + unreachable(at_5s, 1, bytes([0])) + b"\x00")
    # Every answer 15 s late: an idle poll's 204 arrives as the poll's deadline passes (45 s = 30 s + 15 s).
    write("sim_session", "latency-at-poll-deadline", sim_chat(0) + bytes([225, 0, 0]))
    # Every answer 30 s late: as each request's deadline passes.
    write("sim_session", "latency-at-request-deadline", sim_chat(0) + bytes([224, 0, 0]))


if __name__ == "__main__":
    main()
