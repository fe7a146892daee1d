"""Rehearsal: a :class:`Session` and the simulated Chat REST API server on a virtual clock.

:class:`Pair` runs a whole chat, faults included (503 handovers, 409s, lost answers, ...), in milliseconds
and deterministically, the way the Rust tests do; :meth:`Pair.check_delivery` judges it from the
simulator's own record (what the server accepted and emitted), not from what the session believes.
Virtual times are seconds since the pair started. The simulator's configuration (agent script, dialect,
faults) is the JSON form described in ``docs/boundary.md`` in the repository, as a dict.
"""

from __future__ import annotations

from ._native import Pair

__all__ = ["Pair"]
