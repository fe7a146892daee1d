"""Shared fixtures: the session configuration, and the simulator's HTTP server as a subprocess on loopback."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List, Optional

import pytest
from hypothesis import settings

# 100 examples in CI (about a second); `LIVEAGENT_HYPOTHESIS=long` for a longer search on demand.
settings.register_profile("ci", max_examples=100)
settings.register_profile("long", max_examples=5000)
settings.load_profile(os.environ.get("LIVEAGENT_HYPOTHESIS", "ci"))

REPO = pathlib.Path(__file__).resolve().parents[3]

IDS = {
    "organizationId": "00Dxx0000001gPL",
    "deploymentId": "572xx0000004CDV",
    "buttonId": "573xx0000004CFH",
}


def session_config(endpoint: str, **extra: Any) -> Dict[str, Any]:
    """A session configuration (the boundary's JSON form, as a dict) for `endpoint`."""
    return {"endpoint": endpoint, **IDS, "visitor": {"name": "Jon A."}, "seed": 5, **extra}


def sim_server_binary() -> pathlib.Path:
    """The simulator's HTTP server: $LIVEAGENT_SIM_SERVER, else the installable binary or the example as
    built by `cargo build` (CI builds it before running pytest); built here if neither exists."""
    env = os.environ.get("LIVEAGENT_SIM_SERVER")
    if env:
        return pathlib.Path(env)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for candidate in (
        target / "debug" / "liveagent-sim-server",
        target / "debug" / "examples" / "sim_server",
    ):
        if candidate.exists():
            return candidate
    subprocess.run(
        ["cargo", "build", "--example", "sim_server"], cwd=REPO, check=True, stdout=sys.stderr
    )
    return target / "debug" / "examples" / "sim_server"


class SimServer:
    """`sim_server` on 127.0.0.1 (a free port) with a scenario; stops at end of input on its stdin."""

    def __init__(self, tmp: pathlib.Path, scenario: Dict[str, Any]) -> None:
        self.tmp = tmp
        scenario_file = tmp / "scenario.json"
        scenario_file.write_text(json.dumps(scenario))
        self.port_file = tmp / "port"
        self.transcript_file = tmp / "transcript.txt"
        self.report_file = tmp / "report.json"
        self.process = subprocess.Popen(
            [
                str(sim_server_binary()),
                "--listen",
                "127.0.0.1:0",
                "--port-file",
                str(self.port_file),
                "--scenario",
                str(scenario_file),
                "--transcript",
                str(self.transcript_file),
                "--report",
                str(self.report_file),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not (self.port_file.exists() and self.port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"sim_server did not start: {self.process.stderr.read().decode()}")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port_file.read_text().strip()}"
        self.transcript: Optional[str] = None
        self.report: Optional[Dict[str, Any]] = None

    def stop(self) -> None:
        """Closes its stdin (it shuts down, writing the transcript and the report) and reads both."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.transcript_file.exists():
            self.transcript = self.transcript_file.read_text()
        if self.report_file.exists():
            self.report = json.loads(self.report_file.read_text())

    def accepted_visitor_texts(self) -> List[str]:
        """The ChatMessage texts the server accepted, from its transcript (its record, not the client's)."""
        assert self.transcript is not None, "stop() first"
        texts = []
        for line in self.transcript.splitlines():
            marker = "-> 200 ChatMessage "
            if marker in line:
                texts.append(json.loads(line.split(marker, 1)[1]))
        return texts


@pytest.fixture
def sim_server(tmp_path: pathlib.Path) -> Iterator[Any]:
    """A factory: `sim_server(scenario)` starts one; every one started is stopped at the end."""
    started: List[SimServer] = []

    def start(scenario: Dict[str, Any]) -> SimServer:
        d = tmp_path / f"server{len(started)}"
        d.mkdir()
        server = SimServer(d, scenario)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
