"""A Hypothesis property on the in-process simulator: whatever the interleaving of visitor commands and
server faults, every visitor text ends delivered once or reported uncertain (or undelivered, when the
server never took it) — judged from the SIMULATOR's record (`Pair.check_delivery`: what the server accepted
and emitted), not from the session's own bookkeeping."""

from __future__ import annotations

from typing import Any, Dict, List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import liveagent
from liveagent.sim import Pair

from conftest import session_config

triggers = st.one_of(
    st.builds(lambda n: {"type": "poll", "n": n}, st.integers(1, 8)),
    st.builds(lambda n: {"type": "post", "n": n}, st.integers(1, 8)),
    st.builds(lambda n: {"type": "request", "n": n}, st.integers(1, 12)),
    st.builds(lambda ms: {"type": "after", "ms": ms}, st.integers(0, 20_000)),
)

fault_kinds = st.one_of(
    st.just({"type": "dropReply"}),
    st.builds(lambda ms: {"type": "delayReply", "ms": ms}, st.integers(0, 5_000)),
    st.builds(
        lambda count, status: {"type": "serverErrors", "count": count, "status": status},
        st.integers(1, 3),
        st.sampled_from([500, 502, 503, 504]),
    ),
    st.just({"type": "handover"}),
    st.just({"type": "duplicateBatch"}),
    st.builds(lambda by: {"type": "sequenceDrift", "by": by}, st.integers(1, 5)),
    st.just({"type": "expire"}),
)

faults = st.lists(st.fixed_dictionaries({"session": st.just(0), "at": triggers, "kind": fault_kinds}), max_size=4)

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)

commands = st.one_of(
    st.tuples(st.just("send"), texts),
    st.tuples(st.just("wait"), st.integers(0, 4_000)),
    st.tuples(st.just("typing"), st.booleans()),
    st.tuples(st.just("end"), st.none()),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=faults, script=st.lists(commands, max_size=10))
def test_every_visitor_text_is_delivered_once_or_reported_uncertain(
    plan: List[Dict[str, Any]], script: List[Any]
) -> None:
    pair = Pair(session_config("https://sim.invalid"), {"agent": "default", "faults": plan})
    elapsed = 0.0
    sent = 0
    for kind, arg in script:
        try:
            if kind == "send":
                # Numbered: the simulator's record matches texts by content, so each must be unique.
                pair.send_message(f"{sent}: {arg}")
                sent += 1
            elif kind == "typing":
                pair.command({"type": "setTyping", "typing": arg})
            elif kind == "end":
                pair.end()
            else:
                elapsed += arg / 1000
                pair.run_until_elapsed(elapsed)
        except liveagent.CommandRefused:
            # Refused commands (the chat already ended, e.g. the session expired) change nothing.
            pass
    # The visitor ends the chat (the default agent never does), unless it has ended already.
    try:
        pair.end()
    except liveagent.CommandRefused:
        pass
    pair.run()
    report = pair.check_delivery()
    assert report["clean"], f"{report['text']}\n{pair.transcript()}"
    # Every text the pair was given is accounted for by the simulator's record.
    assert report["sent"] == sent
    assert report["acceptedByServer"] <= sent
    assert report["ended"] is not None
