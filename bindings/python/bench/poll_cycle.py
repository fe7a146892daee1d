#!/usr/bin/env python3
"""The cost of the Python boundary: the steady-state poll cycles of an established chat, through the binding,
next to the same cycles in Rust (``cargo bench --bench poll_cycle``, run by this script in the same run) and
to ``json.loads`` of the same bodies (the per-poll work a pure-Python client does at the least).

A benchmark, not a test: run it by hand on a release build of the extension::

    cd bindings/python && maturin develop --release && python bench/poll_cycle.py
    python bench/poll_cycle.py --callgrind   # instructions instead of time (valgrind; ~3 minutes)

Cycles, as in ``benches/poll_cycle.rs`` (canned answers, no server, no I/O):

* ``poll_204``: a 204 handled, the next poll request produced, outputs drained to the wait.
* ``poll_200_chat_message``: a 200 with one agent ChatMessage handled (its ``sequence`` rewritten each time),
  the next poll produced, the ``agentMessage`` event drained.
* ``poll_200_18_messages``: the same with the 18-message body of ``tests/fixtures/peers/yalutec-...``
  (queue, established, typing, chat), the largest captured body.

Each cycle is timed twice: the way the drivers drain (``poll_output`` until a wait: one call and one dict
per output) and with ``drain_outputs`` (one call for all).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Tuple

import liveagent

REPO = pathlib.Path(__file__).resolve().parents[3]

CONFIG = {
    "endpoint": "https://d.la4-c1-ph2.salesforceliveagent.com/chat/rest/",
    "organizationId": "00DD0000000JVXs",
    "deploymentId": "572D000000000J6",
    "buttonId": "573D000000000OC",
    "visitor": {"name": "Jon A."},
    "seed": 7,
    "messageSpacingMs": 0,
    # As in benches/support: thousands of cycles at one instant are the work measured, not a flood the
    # request-rate ceiling should hold back.
    "limits": {"maxRequestsPerSecond": 2**32 - 1, "requestBurst": 2**32 - 1},
}
SESSION_ID_BODY = (
    b'{"clientPollTimeout":40,"key":"ec550263-748c-4d17-a8b4-4a1f6d3b9a7e!1570039675081!'
    b'TxbTUjf1hP8Vns6w0h3zjLhAp3U6HYJvr+M1pbrY3WE=","affinityToken":"878a1fa0",'
    b'"id":"ec550263-748c-4d17-a8b4-4a1f6d3b9a7e"}'
)
ESTABLISHED_BODY = (
    b'{"messages":[{"type":"ChatRequestSuccess","message":{"queuePosition":1,"estimatedWaitTime":-1,'
    b'"geoLocation":{"countryCode":"US","city":"Ashburn"},"visitorId":"17878b72-61d5-47ae-be39-0a48951a0e4d"}},'
    b'{"type":"ChatEstablished","message":{"name":"Everardo G","userId":"0053g000000usWa","items":[],'
    b'"sneakPeekEnabled":false,"chasitorIdleTimeout":{"isEnabled":false}}}],"sequence":1,"offset":1574190116}'
)
#: The Rust bench's one-message body (benches/support: message_json(0)).
CHAT_MESSAGE = {
    "type": "ChatMessage",
    "message": {
        "text": "Thanks for waiting, this is reply number 0 to your question.",
        "name": "Everardo G",
        "schedule": {"responseDelayMilliseconds": 0.0},
        "agentId": "0053g000000usWa",
    },
}
EIGHTEEN = REPO / "tests/fixtures/peers/yalutec-sales-force__messages-200-queue-established-typing-chat.json"


def drain(s: liveagent.Session, now: float) -> List[dict]:
    outputs = []
    while True:
        out = s.poll_output(now)
        outputs.append(out)
        if out["type"] == "wait":
            return outputs


def the_poll(outputs: List[dict]) -> int:
    polls = [o["id"] for o in outputs if o["type"] == "request" and o["kind"] == "messages"]
    assert polls, outputs
    return polls[-1]


def established() -> Tuple[liveagent.Session, int]:
    """A chatting session with its long poll in flight (the Rust bench's `established`)."""
    now = 0.0
    s = liveagent.Session(CONFIG, now)
    (sid,) = [o["id"] for o in drain(s, now) if o["type"] == "request"]
    s.handle_response(sid, 200, None, SESSION_ID_BODY, now)
    (init,) = [o["id"] for o in drain(s, now) if o["type"] == "request" and o["kind"] == "chasitorInit"]
    s.handle_response(init, 200, None, b"", now)
    poll = the_poll(drain(s, now))
    s.handle_response(poll, 200, None, ESTABLISHED_BODY, now)
    poll = the_poll(drain(s, now))
    assert s.state == "chatting"
    return s, poll


def sequenced(messages: list, offset: int = 1574190116) -> Callable[[int], bytes]:
    """The body with a given `sequence`, as the server numbers consecutive batches."""
    head = json.dumps({"messages": messages}, separators=(",", ":"))[:-1]

    def body(seq: int) -> bytes:
        return f'{head},"sequence":{seq},"offset":{offset}}}'.encode()

    return body


def cycle_204(batched: bool) -> Callable[[int], None]:
    s, poll = established()
    t = [0.0]

    def run(n: int) -> None:
        nonlocal poll
        handle, poll_output, drain_outputs = s.handle_response, s.poll_output, s.drain_outputs
        for _ in range(n):
            t[0] += 1.0  # each 204 a second after its poll, as in the Rust bench
            handle(poll, 204, None, b"", t[0])
            if batched:
                outs = drain_outputs(t[0])
            else:
                outs = []
                while True:
                    o = poll_output(t[0])
                    outs.append(o)
                    if o["type"] == "wait":
                        break
            poll = outs[0]["id"]

    return run


def cycle_200(messages: list, batched: bool) -> Callable[[int], None]:
    s, poll = established()
    body = sequenced(messages)
    seq = [1]

    def run(n: int) -> None:
        nonlocal poll
        handle, poll_output, drain_outputs = s.handle_response, s.poll_output, s.drain_outputs
        for _ in range(n):
            seq[0] += len(messages)
            handle(poll, 200, None, body(seq[0]), 0.0)
            if batched:
                outs = drain_outputs(0.0)
            else:
                outs = []
                while True:
                    o = poll_output(0.0)
                    outs.append(o)
                    if o["type"] == "wait":
                        break
            poll = [o["id"] for o in outs if o["type"] == "request"][0]

    return run


def loads(body: bytes) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            json.loads(body)

    return run


def measure(run: Callable[[int], None], n: int, repeats: int) -> float:
    """Nanoseconds per iteration: the median of `repeats` runs of `n` (after one warm-up run)."""
    run(n)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        run(n)
        times.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(times)


CRITERION = re.compile(r"^(poll_cycle/\S+)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", re.M)


def rust_cycles() -> Dict[str, float]:
    """The Rust cycles' medians (ns) from `cargo bench --bench poll_cycle`, run now."""
    out = subprocess.run(
        ["cargo", "bench", "--bench", "poll_cycle", "--", "poll_cycle/poll_"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # criterion prints "name   time:   [low unit mid unit high unit]" (the name may be on its own line).
    out = re.sub(r"\n\s+time:", " time:", out)
    unit = {"ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
    found = {}
    for m in re.finditer(r"(poll_cycle/\S+)\s+time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]", out):
        found[m.group(1)] = float(m.group(4)) * unit[m.group(5)]
    return found


def workloads() -> Dict[str, Callable[[], Callable[[int], None]]]:
    """Every workload by name, each a factory (the setup) of a function running N iterations."""
    eighteen = json.loads(EIGHTEEN.read_bytes())["messages"]
    assert len(eighteen) == 18
    return {
        "poll_204": lambda: cycle_204(False),
        "poll_204_drain": lambda: cycle_204(True),
        "poll_200_chat_message": lambda: cycle_200([CHAT_MESSAGE], False),
        "poll_200_chat_message_drain": lambda: cycle_200([CHAT_MESSAGE], True),
        "poll_200_18_messages": lambda: cycle_200(eighteen, False),
        "poll_200_18_messages_drain": lambda: cycle_200(eighteen, True),
        "json_loads_chat_message": lambda: loads(sequenced([CHAT_MESSAGE])(2)),
        "json_loads_18_messages": lambda: loads(sequenced(eighteen)(19)),
    }


def callgrind_ir(args: List[str]) -> int:
    """The instruction total of one callgrind run of `args`."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = pathlib.Path(d) / "cg.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for line in out.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no callgrind total")


def per_iteration_ir(name: str, n: int) -> float:
    """(Ir(n) - Ir(0)) / n for one workload: setup, interpreter start and the warm-up excluded."""
    me = [sys.executable, str(pathlib.Path(__file__).resolve()), "--one", name]
    return (callgrind_ir(me + [str(n)]) - callgrind_ir(me + ["0"])) / n


def rust_callgrind() -> Dict[str, int]:
    """The Rust cycles' instructions per iteration (`bash benches/callgrind.sh cycle-204 cycle-200`)."""
    out = subprocess.run(
        ["bash", "benches/callgrind.sh", "cycle-204", "cycle-200"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("cycle-204", "cycle-200"):
            found[parts[0]] = int(parts[1])
    return found


def callgrind_table(n: int) -> None:
    rust = rust_callgrind()
    ir = {name: per_iteration_ir(name, n if "18" not in name else n // 4) for name in workloads()}
    print(f"instructions per iteration (callgrind, (Ir(N) - Ir(0)) / N, N = {n}; Rust: benches/callgrind.sh)")
    print(f"{'cycle':<24} {'poll_output':>12} {'drain_outputs':>14} {'Rust':>9} {'ratio':>7} {'json.loads':>11} {'ratio':>7}")
    for name, rust_name, loads_name in (
        ("poll_204", "cycle-204", None),
        ("poll_200_chat_message", "cycle-200", "json_loads_chat_message"),
        ("poll_200_18_messages", None, "json_loads_18_messages"),
    ):
        each, drained = ir[name], ir[name + "_drain"]
        r = rust.get(rust_name) if rust_name else None
        parse = ir[loads_name] if loads_name else None
        print(
            f"{name:<24} {each:>12,.0f} {drained:>14,.0f} "
            + (f"{r:>9,} {each / r:>6.1f}×" if r else f"{'–':>9} {'–':>7}")
            + (f" {parse:>11,.0f} {each / parse:>6.2f}×" if parse else f" {'–':>11} {'–':>7}")
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-rust", action="store_true", help="skip the Rust cycles (cargo bench)")
    p.add_argument("-n", type=int, default=20_000, help="iterations per run")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument(
        "--callgrind",
        action="store_true",
        help="count instructions with valgrind instead of timing (repeatable on a loaded machine)",
    )
    p.add_argument("--one", nargs=2, metavar=("WORKLOAD", "N"), help=argparse.SUPPRESS)
    a = p.parse_args()

    if a.one:
        # One workload for callgrind: setup, one warm-up iteration, then N.
        run = workloads()[a.one[0]]()
        run(1)
        run(int(a.one[1]))
        return
    if a.callgrind:
        callgrind_table(min(a.n, 2000))
        return

    eighteen = json.loads(EIGHTEEN.read_bytes())["messages"]
    one_body = sequenced([CHAT_MESSAGE])(2)
    eighteen_body = sequenced(eighteen)(19)
    rows = [
        ("poll_204", "poll_cycle/poll_204", cycle_204, None),
        ("poll_200_chat_message", "poll_cycle/poll_200_chat_message", lambda b: cycle_200([CHAT_MESSAGE], b), one_body),
        ("poll_200_18_messages", None, lambda b: cycle_200(eighteen, b), eighteen_body),
    ]
    rust = {} if a.no_rust else rust_cycles()
    print(f"liveagent {liveagent.CORE_VERSION}, Python {sys.version.split()[0]}, n={a.n}, median of {a.repeats}")
    print(f"{'cycle':<24} {'poll_output':>12} {'drain_outputs':>14} {'Rust':>9} {'ratio':>7} {'json.loads':>11} {'ratio':>7}")
    for name, rust_name, make, body in rows:
        n = a.n if body is None or len(body) < 1000 else a.n // 4
        each = measure(make(False), n, a.repeats)
        batched = measure(make(True), n, a.repeats)
        r = rust.get(rust_name) if rust_name else None
        parse = measure(loads(body), n, a.repeats) if body is not None else None
        print(
            f"{name:<24} {each / 1000:>10.2f}µs {batched / 1000:>12.2f}µs "
            + (f"{r / 1000:>7.2f}µs {each / r:>6.1f}×" if r else f"{'–':>9} {'–':>7}")
            + (f" {parse / 1000:>9.2f}µs {each / parse:>6.2f}×" if parse else f" {'–':>11} {'–':>7}")
        )


if __name__ == "__main__":
    main()
