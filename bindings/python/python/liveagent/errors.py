"""The exceptions of the liveagent package: one class per error code of the Rust core's JSON boundary.

Every refusal leaves the session unchanged. ``code`` is the boundary's stable code (``"invalidTime"``, ...),
``reason`` its finer reason where it has one (``"textTooLong"``, ``"alreadyEnded"``, ...). Messages never
contain the session key or the affinity token.
"""

from __future__ import annotations

from typing import Dict, Optional, Type


class LiveAgentError(Exception):
    """Base class of every error this package raises for a refused call."""

    code: str = "internal"

    def __init__(self, message: str, code: Optional[str] = None, reason: Optional[str] = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.reason: Optional[str] = reason

    @property
    def message(self) -> str:
        """What was wrong, for people (names the field or argument)."""
        return str(self.args[0]) if self.args else ""


class InvalidConfig(LiveAgentError, ValueError):
    """The configuration is malformed, misses a required field, or has an unknown or mistyped one."""

    code = "invalidConfig"


class InvalidSnapshot(LiveAgentError, ValueError):
    """The snapshot is malformed or cannot be resumed (``reason`` says why)."""

    code = "invalidSnapshot"


class InvalidTime(LiveAgentError, ValueError):
    """A time is NaN, infinite, negative or too large (times are ``time.monotonic()`` seconds)."""

    code = "invalidTime"


class InvalidArgument(LiveAgentError, ValueError):
    """Another argument is malformed: headers, an HTTP status, a transport error name, a command."""

    code = "invalidArgument"


class UnknownRequest(LiveAgentError, LookupError):
    """An answer or transport error for a request id this session never handed out."""

    code = "unknownRequest"


class InvalidUtf8(LiveAgentError, ValueError):
    """Text that is not valid UTF-8 (e.g. a ``str`` with lone surrogates)."""

    code = "invalidUtf8"


class CommandRefused(LiveAgentError):
    """The session refused a command (``reason``: ``textTooLong``, ``queueFull``, ``emptyText``, ...)."""

    code = "command"


class SessionEnded(CommandRefused):
    """A command after the session ended."""

    code = "ended"


class SimulationError(LiveAgentError):
    """The simulator pair stopped early (step limit, livelock) or its configuration is wrong."""

    code = "simulation"


class InternalError(LiveAgentError):
    """Output that could not be serialised: a bug, please report it."""

    code = "internal"


#: The exception class for each boundary error code; an unknown code (a newer core) raises the base class.
BY_CODE: Dict[str, Type[LiveAgentError]] = {
    cls.code: cls
    for cls in (
        InvalidConfig,
        InvalidSnapshot,
        InvalidTime,
        InvalidArgument,
        UnknownRequest,
        InvalidUtf8,
        CommandRefused,
        SessionEnded,
        SimulationError,
        InternalError,
    )
}


def _make(code: str, message: str, reason: Optional[str]) -> LiveAgentError:
    """Called by the native module to build the exception for a boundary error."""
    return BY_CODE.get(code, LiveAgentError)(message, code, reason)
