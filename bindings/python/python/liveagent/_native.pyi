"""Types of the native module (the Rust core behind its JSON boundary). Import from ``liveagent`` and
``liveagent.sim``, not from here.

Every time is ``time.monotonic()`` seconds (float). Outputs are the boundary's JSON (``docs/boundary.md``)
parsed into dicts, with the time fields ``untilMs``, ``deadlineMs``, ``decideByMs``, ``endsAtMs`` and
``atMs`` renamed to ``until``, ``deadline``, ``decideBy``, ``endsAt`` and ``at`` and given in seconds.
Events and outputs may gain fields and ``type`` values within a schema version: ignore what you do not know.
"""

import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

if sys.version_info >= (3, 11):
    from typing import Literal, NotRequired, TypedDict
else:  # pragma: no cover
    from typing_extensions import Literal, NotRequired, TypedDict

SCHEMA_VERSION: int
CORE_VERSION: str

#: A JSON document as text, or the Python value itself: dicts with str keys, lists, tuples, str, int, finite
#: float, bool and None (read directly, without ``json.dumps``).
JsonInput = Union[str, Mapping[str, Any]]
#: Response headers: a mapping, ``(name, value)`` pairs (as ``http.client`` gives them) or ``None``.
Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]], None]

RequestKind = Literal[
    "sessionId", "chasitorInit", "messages", "chat", "resyncState", "reconnectSession", "deleteSession"
]
TransportErrorKind = Literal["timeout", "connectRefused", "reset", "other"]
State = Literal[
    "connecting", "initializing", "requested", "queued", "chatting", "agentDisconnected", "ending",
    "deleting", "ended",
]

class RequestOutput(TypedDict):
    """Send this request now (never following redirects) and report its outcome with the same ``id``.
    ``headers`` and, for ``deleteSession``, ``url`` carry the session key: never log them raw."""

    type: Literal["request"]
    id: int
    kind: RequestKind
    method: str
    url: str
    headers: Dict[str, str]
    body: Optional[str]
    bodyBase64: NotRequired[str]
    #: When the session counts the request as failed (seconds); use it as the transport timeout.
    deadline: float

class Failure(TypedDict):
    type: Literal["transport", "noAnswer", "server", "decode"]
    message: str
    error: NotRequired[Any]

class EndReason(TypedDict):
    """``type``: ``visitorEnded``, ``agentEnded``, ``requestFailed``, ``idleTimeout``, ``sessionInvalid``,
    ``conflict``, ``rejected``, ``gaveUp``, ``redirectRefused``, ``switchUndecided``, ``badSequence``,
    ``counterExhausted``, ``protocol``, ``missingCredentials``; other fields by type (docs/boundary.md)."""

    type: str
    normal: bool
    message: str

class Event(TypedDict, total=False):
    """One event; ``type`` says which (``chatRequested``, ``queued``, ``queueUpdate``, ``chatEstablished``,
    ``chatTransferred``, ``agentDisconnected``, ``agentMessage``, ``agentTyping``, ``sessionRestored``,
    ``serverSwitched``, ``switchOffered``, ``sequenceReset``, ``delivered``, ``deliveryUncertain``,
    ``undelivered``, ``idleWarning``, ``idleWarningCleared``, ``retrying``, ``message``, ``ended``), and the
    other fields depend on it. Events carry no secret."""

    type: str
    text: str  # agentMessage
    name: str  # agentMessage
    agentId: str  # agentMessage
    schedule: Dict[str, Any]  # agentMessage
    typing: bool  # agentTyping
    position: Optional[int]  # queued, queueUpdate
    estimatedWaitSecs: Optional[float]  # queued, queueUpdate
    agent: Dict[str, Any]  # chatEstablished, chatTransferred
    data: Dict[str, Any]  # sessionRestored
    endpoint: str  # serverSwitched, switchOffered
    reason: Any  # switchOffered (a redirect refusal), ended (an EndReason)
    decideBy: float  # switchOffered: seconds
    previous: int  # sequenceReset
    sequence: int  # sequenceReset
    commands: List[int]  # delivered, deliveryUncertain, undelivered
    endsAt: float  # idleWarning: seconds
    request: RequestKind  # retrying
    attempt: int  # retrying
    at: float  # retrying: seconds
    cause: Failure  # retrying
    messageType: str  # message
    payload: Any  # message
    error: str  # message

class EventOutput(TypedDict):
    """Hand this event to the application."""

    type: Literal["event"]
    event: Event

class WaitOutput(TypedDict):
    """Nothing to do until ``until`` (seconds; then ``handle_timeout``), an answer or a command. ``None``: the
    session has ended."""

    type: Literal["wait"]
    until: Optional[float]

Output = Union[RequestOutput, EventOutput, WaitOutput]

class Status(TypedDict):
    state: State
    reconnecting: bool
    agentTyping: bool
    agent: Optional[Dict[str, Any]]
    sessionId: Optional[str]
    endpoint: str
    pendingCommands: int
    #: When ``handle_timeout`` is next due (seconds), ``None`` once ended.
    pollTimeout: Optional[float]
    endReason: Optional[EndReason]

class UploadRequest(TypedDict):
    method: str
    url: str
    headers: Dict[str, str]
    bodyBase64: str

class Session:
    """One visitor chat: the Rust state machine, sans-IO. Call :meth:`poll_output` until it returns a
    ``wait`` after every input or command; send the requests, hand the events to the application, report
    every request's outcome. Refused calls raise a :class:`liveagent.LiveAgentError` subclass and change
    nothing. Not thread-safe: drive it from one thread (the drivers do)."""

    def __init__(self, config: JsonInput, now: float) -> None:
        """A new chat from the configuration (the boundary's JSON form: ``endpoint``, ``organizationId``,
        ``deploymentId``, ``buttonId`` required; durations in milliseconds, ``requestTimeoutMs``...), created
        at ``now`` (``time.monotonic()`` seconds). Raises InvalidConfig, InvalidTime."""
    @staticmethod
    def resume(config: JsonInput, snapshot: JsonInput, now: float) -> "Session":
        """Resumes a chat from a :meth:`snapshot` (taken by this package, or by Rust's ``Session::snapshot``
        serialised with serde_json). Raises InvalidConfig, InvalidSnapshot (``reason`` says why),
        InvalidTime."""
    def poll_output(self, now: float) -> Output:
        """The next output: a request to send, an event, or a wait."""
    def drain_outputs(self, now: float) -> List[Output]:
        """Every output up to and including the next wait, in one call."""
    def poll_timeout(self) -> Optional[float]:
        """When :meth:`handle_timeout` is next due (seconds), ``None`` once ended."""
    def handle_response(
        self, id: int, status: int, headers: Headers, body: bytes, now: float
    ) -> Literal["accepted", "stale"]:
        """The answer to request ``id``. Any body bytes (one that does not decode is a failed answer the
        session retries). ``"stale"``: a late answer the session no longer waits for. Raises UnknownRequest,
        InvalidArgument (status, headers), InvalidUtf8, InvalidTime."""
    def handle_transport_error(
        self, id: int, kind: TransportErrorKind, now: float
    ) -> Literal["accepted", "stale"]:
        """Request ``id`` failed in the transport. Raises UnknownRequest, InvalidArgument, InvalidTime."""
    def handle_timeout(self, now: float) -> None:
        """Tells the session the time (call it at a wait's ``until``)."""
    def command(self, command: JsonInput) -> Dict[str, Any]:
        """Any command as the boundary's JSON (``{"type": "sendMessage", "text": ...}``, ``setTyping``,
        ``sneakPeek``, ``sendCustomEvent``, ``reportSensitiveDataRules``, ``sendRichMessage``, ``end``,
        ``acceptSwitch``, ``refuseSwitch``): ``{"commandId": n}`` or ``{}``."""
    def send_message(self, text: str) -> int:
        """Queues a text for the agent; returns its command id (named later by ``delivered``,
        ``deliveryUncertain`` or ``undelivered``). Raises CommandRefused, SessionEnded, InvalidUtf8."""
    def set_typing(self, typing: bool) -> int:
        """The visitor started or stopped typing; returns the command id."""
    def sneak_peek(self, text: str) -> int:
        """What the visitor is typing (Sneak Peek); returns the command id."""
    def send_custom_event(self, event_type: str, data: Optional[str] = None) -> int:
        """A custom event; returns the command id."""
    def end(self) -> None:
        """Ends the chat; the session goes on until the server confirmed (then ``ended``)."""
    def accept_switch(self, offer: int, now_ms: float) -> None:
        """Follows the server switch ``offer`` (the ``offer`` of its ``switchOffered`` event), decided at
        ``now_ms``; refused once the offer was replaced or its ``decideByMs`` passed."""
    def refuse_switch(self, offer: int) -> None:
        """Declines the server switch ``offer``."""
    def upload_request(
        self, transfer: JsonInput, filename: str, content_type: str, file: bytes
    ) -> UploadRequest:
        """The upload POST answering a FileTransfer request (``transfer``: that ``message`` event's
        ``payload``), for the application to send itself. Its URL holds the chat key."""
    def status(self) -> Status:
        """The observable state, without secrets."""
    @property
    def state(self) -> State: ...
    @property
    def ended(self) -> bool:
        """The session has ended (``poll_output`` waits with ``until`` ``None``)."""
    def snapshot(self) -> str:
        """The durable state as JSON text. Holds the session key and affinity token: store it like a
        password."""

class DeliveryReport(TypedDict):
    clean: bool
    sent: int
    acceptedByServer: int
    agentEmitted: int
    agentReceived: int
    ended: Optional[EndReason]
    discrepancies: List[str]
    notes: List[str]
    text: str

class TimedEvent(TypedDict):
    #: Virtual seconds since the pair started.
    at: float
    event: Event

class Pair:
    """A session against the simulated server on a virtual clock starting at 0: whole chats with faults in
    milliseconds, deterministically. The session's ``endpoint`` is replaced by the simulator's. Not
    thread-safe (use it on the thread that made it)."""

    def __init__(self, config: JsonInput, sim: Optional[JsonInput] = None) -> None:
        """``config``: the session's, as for :class:`Session`; ``sim``: the simulator's (agent script,
        dialect, faults; docs/boundary.md). Raises InvalidConfig, SimulationError."""
    def send_message(self, text: str) -> int:
        """Sends a visitor text (judged by :meth:`check_delivery`); returns its command id."""
    def end(self) -> None:
        """Ends the chat from the visitor's side."""
    def command(self, command: JsonInput) -> Dict[str, Any]:
        """Any command, as :meth:`Session.command` takes it (texts sent so are not judged)."""
    def run(self) -> None:
        """Runs until the session has ended. Raises SimulationError on a livelock or the step bound."""
    def run_until_event(self, event_type: str) -> Optional[Event]:
        """Runs until the session hands out an event of this ``type``; ``None`` if it ended first."""
    def run_until_elapsed(self, elapsed: float) -> None:
        """Runs until ``elapsed`` virtual seconds since the start."""
    @property
    def elapsed(self) -> float:
        """Virtual seconds since the start."""
    def events(self) -> List[TimedEvent]:
        """Every event so far, with its virtual time."""
    def agent_texts(self) -> List[str]:
        """The agent texts the application got, in order."""
    def transcript(self) -> str:
        """The request-by-request transcript (key and token shown as placeholders)."""
    def check_delivery(self) -> DeliveryReport:
        """Judges the chat from the simulator's record (what the server accepted and emitted)."""
    def snapshot(self) -> str:
        """The session's snapshot (see :meth:`Session.snapshot`)."""
