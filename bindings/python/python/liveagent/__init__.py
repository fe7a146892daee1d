"""liveagent: a sans-IO client for the Salesforce Chat REST API (Live Agent visitor API).

The :class:`Session` is the Rust crate's state machine behind its versioned JSON boundary: it never does
I/O, never reads a clock and never sleeps. A driver feeds it HTTP answers and the time and sends the
requests it hands out; :mod:`liveagent.drivers.blocking` (standard library, threads) and
:mod:`liveagent.drivers.aio` (asyncio, the ``async`` extra) are ready ones. :mod:`liveagent.sim` rehearses
whole chats against the simulated server on virtual time.

**Time.** Every time is ``time.monotonic()`` seconds (a float): the ``now`` you pass, and every time you
get back (a request's ``deadline``, a wait's ``until``, ``decideBy``, ``endsAt``, ``at``). Only differences
matter, so one session must see one clock. The core counts milliseconds; this package converts at the
boundary (deadlines are rounded up to the next whole millisecond).

**Outputs** are plain dicts, the core's JSON boundary parsed (its schema, ``docs/boundary.md`` in the
repository), with the time fields renamed from ``...Ms`` to seconds as above. The ``.pyi`` stub types them.
"""

from __future__ import annotations

from . import errors
from ._native import CORE_VERSION, SCHEMA_VERSION, Session
from .errors import (
    CommandRefused,
    InternalError,
    InvalidArgument,
    InvalidConfig,
    InvalidSnapshot,
    InvalidTime,
    InvalidUtf8,
    LiveAgentError,
    SessionEnded,
    SimulationError,
    UnknownRequest,
)

__version__ = CORE_VERSION

__all__ = [
    "CORE_VERSION",
    "SCHEMA_VERSION",
    "Session",
    "errors",
    "CommandRefused",
    "InternalError",
    "InvalidArgument",
    "InvalidConfig",
    "InvalidSnapshot",
    "InvalidTime",
    "InvalidUtf8",
    "LiveAgentError",
    "SessionEnded",
    "SimulationError",
    "UnknownRequest",
]
