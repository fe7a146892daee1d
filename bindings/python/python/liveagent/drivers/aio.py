"""An asyncio driver on aiohttp (install the extra: ``pip install 'liveagent[async]'``).

One task per request, so the long poll and a POST are in flight together; the driver's own task owns the
:class:`~liveagent.Session` and is woken through an :class:`asyncio.Queue` by answers, by commands given
with :meth:`AsyncDriver.submit` and by the session's timers. Each request's deadline is its total timeout,
redirects are never followed (``allow_redirects=False``: a 3xx is an answer the session judges), and answers
are read up to ``max_body_bytes`` + 1 bytes.

Time is ``time.monotonic()`` seconds, as everywhere in this package (asyncio's default loop clock is the
same clock).
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Set, Tuple, TypeVar, Union

import aiohttp
from yarl import URL

from .. import Session

if TYPE_CHECKING:  # the stub's types; at run time they are plain dicts
    from .._native import Event, RequestOutput

T = TypeVar("T")

DEFAULT_MAX_BODY_BYTES = (1 << 20) + 1

EventHandler = Callable[[Session, "Event"], Union[None, Awaitable[None]]]


def transport_error_kind(error: BaseException) -> str:
    """What kind of transport failure an aiohttp/asyncio exception is, as ``handle_transport_error`` names
    it."""
    if isinstance(error, (asyncio.TimeoutError, TimeoutError, aiohttp.ServerTimeoutError)):
        return "timeout"
    if isinstance(error, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
        return "connectRefused"
    if isinstance(
        error,
        (
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            ConnectionResetError,
            BrokenPipeError,
        ),
    ):
        return "reset"
    return "other"


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to ``limit`` bytes (``read(n)`` alone may return less than is coming)."""
    chunks: List[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class AsyncDriver:
    """Drives one :class:`~liveagent.Session` over HTTP on asyncio.

    ``await run(on_event)`` loops until the session ends, calling ``on_event(session, event)`` (a function or
    a coroutine function) for every event. Commands from other tasks go through :meth:`submit`, which runs
    a function on the driver's task and returns a future of its result.
    """

    def __init__(
        self,
        session: Session,
        *,
        http: Optional[aiohttp.ClientSession] = None,
        clock: Callable[[], float] = time.monotonic,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.session = session
        self._http = http
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._wake: Optional["asyncio.Queue[Tuple[str, Any]]"] = None
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._pending: List[Tuple[str, Any]] = []

    def submit(self, command: Callable[[Session], T]) -> "asyncio.Future[T]":
        """Runs ``command(session)`` on the driver's task. Call it from the event loop's thread. The future
        holds the result or the exception it raised (e.g. :class:`~liveagent.CommandRefused`)."""
        future: "asyncio.Future[T]" = asyncio.get_running_loop().create_future()
        item = ("command", (command, future))
        if self._wake is None:
            self._pending.append(item)
        else:
            self._wake.put_nowait(item)
        return future

    async def run(self, on_event: EventHandler) -> None:
        """Runs the session until it has ended and every request task has finished."""
        self._wake = asyncio.Queue()
        for item in self._pending:
            self._wake.put_nowait(item)
        self._pending.clear()
        own_http = self._http is None
        # No connection reuse limits beyond aiohttp's; auto_decompress off would change nothing here (the
        # session asks for no encoding).
        http = self._http or aiohttp.ClientSession()
        try:
            await self._loop(http, on_event)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if own_http:
                await http.close()

    async def _loop(self, http: aiohttp.ClientSession, on_event: EventHandler) -> None:
        assert self._wake is not None
        session, clock = self.session, self._clock
        while True:
            out = session.poll_output(clock())
            if out["type"] == "request":
                task = asyncio.ensure_future(self._transfer(http, out))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                continue
            if out["type"] == "event":
                result = on_event(session, out["event"])
                if result is not None:
                    await result
                continue
            until = out["until"]
            if until is None:
                break
            try:
                wake, value = await asyncio.wait_for(
                    self._wake.get(), timeout=max(until - clock(), 0.001)
                )
            except asyncio.TimeoutError:
                session.handle_timeout(clock())
                continue
            self._dispatch(wake, value)
        # Commands given after the end are refused by the session, never left waiting.
        while not self._wake.empty():
            wake, value = self._wake.get_nowait()
            if wake == "command":
                self._dispatch(wake, value)

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
            if future.cancelled():
                return
            try:
                future.set_result(command(session))
            except BaseException as e:  # handed to whoever awaits the future
                future.set_exception(e)

    async def _transfer(self, http: aiohttp.ClientSession, request: "RequestOutput") -> None:
        assert self._wake is not None
        try:
            remaining = request["deadline"] - self._clock()
            if remaining <= 0:
                raise asyncio.TimeoutError()
            body: Optional[bytes] = None
            text = request["body"]
            if "bodyBase64" in request:
                body = base64.b64decode(request["bodyBase64"])
            elif text is not None:
                body = text.encode("utf-8")
            async with http.request(
                request["method"],
                # encoded=True: the session's URL is sent as it is, never re-quoted.
                URL(request["url"], encoded=True),
                headers=request["headers"],
                data=body,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=remaining),
            ) as resp:
                data = await _read_at_most(resp.content, self._max_body_bytes)
                headers = [(k, v) for k, v in resp.headers.items()]
                status = resp.status
        except Exception as e:  # every failure is reported to the session by kind
            self._wake.put_nowait(("failure", (request["id"], transport_error_kind(e))))
            return
        self._wake.put_nowait(("answer", (request["id"], status, headers, data)))
