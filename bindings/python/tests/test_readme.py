"""The README's "From Python" code runs as written: its ```python blocks, in order, in one namespace, the
driver block against the simulator's HTTP server on 127.0.0.1."""

from __future__ import annotations

import re

from conftest import REPO


def python_blocks() -> list:
    text = (REPO / "README.md").read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_python_blocks_run(sim_server, monkeypatch, capsys) -> None:
    blocks = python_blocks()
    assert len(blocks) == 2, "the README's From Python section has its two examples"
    server = sim_server(
        {
            "agent": {
                "steps": [
                    {"after": {"secs": 0, "nanos": 100_000_000}, "action": "Accept"},
                    {"after": {"secs": 0, "nanos": 0}, "action": "EchoVisitor"},
                ]
            },
            "poll_hold_ms": 2000,
        }
    )
    monkeypatch.setenv("LIVEAGENT_ENDPOINT", server.url)
    namespace: dict = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert out == "agent: echo: Hello?\nended: visitorEnded\n", out
    server.stop()
    assert server.accepted_visitor_texts() == ["Hello?"]
