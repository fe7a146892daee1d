"""A blocking driver on the standard library: ``http.client`` on one short-lived thread per request.

The long poll and a POST are in flight together (each request has its own thread and connection); the loop
thread owns the :class:`~liveagent.Session` and is woken through a :class:`queue.Queue` by answers, by
commands given with :meth:`BlockingDriver.submit` and by the session's own timers. Each request's deadline is
its socket timeout (so a lost answer ends as ``"timeout"`` no later than the session expects it), redirects are
never followed (``http.client`` does not follow them: a 3xx is reported to the session as an answer), and
answers are read up to ``max_body_bytes`` + 1 bytes (the session refuses larger ones itself).

Time is ``time.monotonic()`` seconds, as everywhere in this package.
"""

from __future__ import annotations

import base64
import concurrent.futures
import http.client
import queue
import socket
import ssl
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, TypeVar

from .. import Session

if TYPE_CHECKING:  # the stub's types; at run time they are plain dicts
    from .._native import Event, RequestOutput

T = TypeVar("T")

#: Read at most this many bytes of an answer (the session's own default cap is 1 MiB; one byte more lets
#: it see that the body was too large).
DEFAULT_MAX_BODY_BYTES = (1 << 20) + 1

EventHandler = Callable[[Session, "Event"], None]


def transport_error_kind(error: BaseException) -> str:
    """What kind of transport failure an exception from ``http.client``/``socket`` is, as the session's
    ``handle_transport_error`` names it. The session needs only the kind, never the text."""
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(error, (ConnectionRefusedError, socket.gaierror)):
        return "connectRefused"
    if isinstance(
        error,
        (
            ConnectionResetError,
            ConnectionAbortedError,
            BrokenPipeError,
            http.client.RemoteDisconnected,
            http.client.IncompleteRead,
        ),
    ):
        return "reset"
    return "other"


def send_request(
    request: "RequestOutput",
    *,
    clock: Callable[[], float] = time.monotonic,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ssl_context: Optional[ssl.SSLContext] = None,
) -> Tuple[int, List[Tuple[str, str]], bytes]:
    """Sends one request of :meth:`Session.poll_output` (a ``{"type": "request", ...}`` output) and returns
    ``(status, headers, body)``. Raises what ``http.client`` raises; a deadline already past raises
    :class:`TimeoutError`. Redirects are answers like any other."""
    remaining = request["deadline"] - clock()
    if remaining <= 0:
        raise TimeoutError("the request's deadline passed before it was sent")
    url = urllib.parse.urlsplit(request["url"])
    if url.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            url.hostname or "", url.port, timeout=remaining, context=ssl_context
        )
    else:
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=remaining)
    try:
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        body: Optional[bytes] = None
        text = request["body"]
        if "bodyBase64" in request:
            body = base64.b64decode(request["bodyBase64"])
        elif text is not None:
            body = text.encode("utf-8")
        conn.request(request["method"], target, body=body, headers=request["headers"])
        # The socket timeout is per operation: give each step only what is left of the deadline.
        if conn.sock is not None:
            conn.sock.settimeout(max(request["deadline"] - clock(), 0.001))
        resp = conn.getresponse()
        if conn.sock is not None:
            conn.sock.settimeout(max(request["deadline"] - clock(), 0.001))
        data = resp.read(max_body_bytes)
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


class BlockingDriver:
    """Drives one :class:`~liveagent.Session` over HTTP with blocking I/O.

    ``run(on_event)`` loops until the session ends, calling ``on_event(session, event)`` on the loop thread
    for every event. Other threads give commands with :meth:`submit`, which runs a function on the loop
    thread (the session is not shared) and returns a :class:`concurrent.futures.Future` of its result.
    """

    def __init__(
        self,
        session: Session,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.session = session
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._ssl_context = ssl_context
        self._wake: "queue.Queue[Tuple[str, Any]]" = queue.Queue()
        self._threads: List[threading.Thread] = []

    def submit(self, command: Callable[[Session], T]) -> "concurrent.futures.Future[T]":
        """Runs ``command(session)`` on the loop thread; thread-safe. The future holds its result or the
        exception it raised (e.g. :class:`~liveagent.CommandRefused`)."""
        future: "concurrent.futures.Future[T]" = concurrent.futures.Future()
        self._wake.put(("command", (command, future)))
        return future

    def run(self, on_event: EventHandler) -> None:
        """Runs the session until it has ended and every request thread has finished."""
        session, clock = self.session, self._clock
        while True:
            out = session.poll_output(clock())
            if out["type"] == "request":
                self._spawn(out)
                continue
            if out["type"] == "event":
                on_event(session, out["event"])
                continue
            until = out["until"]
            if until is None:
                break
            # At least a millisecond, so a deadline already due cannot make the loop spin.
            try:
                wake, value = self._wake.get(timeout=max(until - clock(), 0.001))
            except queue.Empty:
                session.handle_timeout(clock())
                continue
            self._dispatch(wake, value)
        # Commands given after the end are refused (the session says why), never left waiting.
        while True:
            try:
                wake, value = self._wake.get_nowait()
            except queue.Empty:
                break
            if wake == "command":
                self._dispatch(wake, value)
        for t in self._threads:
            t.join()
        self._threads.clear()

    def _dispatch(self, wake: str, value: Any) -> None:
        session, now = self.session, self._clock()
        if wake == "answer":
            request_id, status, headers, body = value
            session.handle_response(request_id, status, headers, body, now)
        elif wake == "failure":
            request_id, kind = value
            session.handle_transport_error(request_id, kind, now)
        else:
            command, future = value
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(command(session))
                except BaseException as e:  # handed to whoever waits on the future
                    future.set_exception(e)

    def _spawn(self, request: "RequestOutput") -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        t = threading.Thread(target=self._transfer, args=(request,), daemon=True)
        self._threads.append(t)
        t.start()

    def _transfer(self, request: "RequestOutput") -> None:
        try:
            status, headers, body = send_request(
                request,
                clock=self._clock,
                max_body_bytes=self._max_body_bytes,
                ssl_context=self._ssl_context,
            )
        except Exception as e:  # every failure is reported to the session by kind
            self._wake.put(("failure", (request["id"], transport_error_kind(e))))
            return
        self._wake.put(("answer", (request["id"], status, headers, body)))
