"""An in-process stand-in for a ``grpc.aio`` channel: calls go straight to servicer methods.

When the gateway hosts the PFS server in its own process (gateway.server.inproc), the PFS
client (gateway.pfs.client) is built on a :class:`LocalChannel` instead of a gRPC channel. The
generated stubs work on it unchanged; each call runs the servicer's handler on this event loop
with a small :class:`_Context` in place of gRPC's, the way CockroachDB short-circuits RPCs to
its local node. What gRPC would have done on the way is kept:

- request messages are handed over as they are (no serialization); a request the client
  encoded by hand (ModifyFile's AddFile bytes, gateway.pfs.wire) is parsed by the handler's
  own deserializer; a handler that answers bytes (pfsd's hand-encoded FileInfos, GetFile's
  BytesValues) is read by the client's deserializer, so the client sees the same types;
- ``context.abort`` raises the ``grpc.aio.AioRpcError`` the client would have received, and
  any other exception is the ``UNKNOWN`` status gRPC's server makes of it, so errors leave
  gateway.pfs.errors typed exactly as over gRPC;
- metadata (request, initial, trailing) passes as tuples of (key, value), ``-bin`` values
  bytes, as grpc.aio delivers it;
- a client stream (ModifyFile) is bounded (:data:`STREAM_WINDOW` messages in flight) and
  runs its handler as a task: a cancel reaches the handler as ``CancelledError`` wherever it
  waits, so a stream given up on commits nothing, as over gRPC. A stream all written before
  :data:`INLINE_BYTES` of body (a small PUT) is held until awaited, then its handler runs in
  the caller's task over the held messages: no task, no hand-off futures.

Deadlines (``timeout=``) are accepted and not enforced: the handler runs in this process, it
cannot be unreachable, and a stuck one would be stuck in the gateway either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import grpc

from gateway.pfs.wire import AddFileChunk

log = logging.getLogger("gateway.pfs.local")
STREAM_WINDOW = 4  # request messages queued ahead of a streaming handler (bounds memory)
# A client stream holds its messages, its handler not started, while under these (a body up
# to one upload chunk, gateway.ops.body's 1 MiB, is one message whenever the handler starts).
INLINE_BYTES = 1 << 20
INLINE_MESSAGES = 32
_EMPTY = grpc.aio.Metadata()


class _Details(NamedTuple):
    """What a generic handler is asked to serve (grpc.HandlerCallDetails)."""

    method: str
    invocation_metadata: tuple = ()


class Handlers:
    """Catches what servicer registration code adds to a server, as ``{"/svc/Method": handler}``.

    Pass it where a ``grpc.aio.Server`` is expected (``add_XServicer_to_server(servicer, h)``).
    """

    def __init__(self) -> None:
        self.table: dict[str, grpc.RpcMethodHandler] = {}
        self._generic: list[grpc.GenericRpcHandler] = []

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        for name, handler in handlers.items():
            self.table[f"/{service}/{name}"] = handler

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)

    def find(self, method: str) -> grpc.RpcMethodHandler | None:
        handler = self.table.get(method)
        if handler is None:
            for generic in self._generic:
                handler = generic.service(_Details(method))
                if handler is not None:
                    self.table[method] = handler
                    break
        return handler


class _Context:
    """The part of ``grpc.aio.ServicerContext`` the pfsd servicers use."""

    __slots__ = ("_metadata", "initial", "trailing", "sent")
    # The caller shares the servicer's process: pfsd may answer a GetFile with an open
    # descriptor of the blob (its ``pfs-local-fd`` extension), which only a caller here can use.
    local_process = True

    def __init__(self, metadata: Any) -> None:
        self._metadata = tuple(metadata) if metadata else ()
        self.initial: tuple = ()
        self.trailing: tuple = ()
        self.sent = False  # initial metadata sent (an event a GetFile reader waits for)

    def invocation_metadata(self) -> tuple:
        return self._metadata

    async def send_initial_metadata(self, metadata: Any) -> None:
        self.initial = tuple(metadata)
        self.sent = True

    def set_trailing_metadata(self, metadata: Any) -> None:
        self.trailing = tuple(metadata)

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        raise grpc.aio.AioRpcError(code, _EMPTY, grpc.aio.Metadata(*trailing_metadata), details)

    def cancelled(self) -> bool:
        return False  # a cancel is delivered as CancelledError into the handler's task

    def peer(self) -> str:
        return "local"


def _status(exc: Exception, method: str) -> grpc.aio.AioRpcError:
    """What gRPC's server answers for a handler's exception."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc
    log.error("unexpected error in %s", method, exc_info=exc)
    return grpc.aio.AioRpcError(grpc.StatusCode.UNKNOWN, _EMPTY, _EMPTY,
                                f"Unexpected {type(exc)}: {exc}")


def _unimplemented(method: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(grpc.StatusCode.UNIMPLEMENTED, _EMPTY, _EMPTY, "Method not found!")


def _decode(request: Any, deserializer: Callable | None) -> Any:
    return deserializer(request) if isinstance(request, bytes) and deserializer else request


def _answer(response: Any, deserializer: Callable | None) -> Any:
    return deserializer(response) if isinstance(response, bytes) and deserializer else response


class _UnaryUnary:
    def __init__(self, channel: LocalChannel, method: str, deserializer: Callable | None) -> None:
        self._channel, self._method, self._deserializer = channel, method, deserializer

    async def __call__(self, request: Any, *, timeout: float | None = None, metadata: Any = None,
                       **_: Any) -> Any:
        handler = self._channel.handlers.find(self._method)
        if handler is None:
            raise _unimplemented(self._method)
        try:
            response = await handler.unary_unary(_decode(request, handler.request_deserializer),
                                                 _Context(metadata))
        except Exception as exc:  # noqa: BLE001 - delivered as the call's status
            raise _status(exc, self._method) from None
        return _answer(response, self._deserializer)


class _StreamCall:
    """A server-streaming call: iterate it; ``initial_metadata()`` waits for the handler's."""

    def __init__(self, handler: grpc.RpcMethodHandler, method: str, request: Any, metadata: Any,
                 deserializer: Callable | None) -> None:
        self._ctx = _Context(metadata)
        self._method, self._deserializer = method, deserializer
        self._gen = handler.unary_stream(_decode(request, handler.request_deserializer), self._ctx)
        self._ahead: deque = deque()  # messages read while waiting for the initial metadata
        self._error: grpc.aio.AioRpcError | None = None
        self._done = False

    async def _pull(self) -> bool:
        """One more message into ``_ahead``; False at the end (or on an error, kept)."""
        if self._done:
            return False
        try:
            self._ahead.append(await self._gen.__anext__())
            return True
        except StopAsyncIteration:
            pass
        except Exception as exc:  # noqa: BLE001 - delivered as the call's status
            self._error = _status(exc, self._method)
        self._done = True
        return False

    async def initial_metadata(self) -> tuple:
        """The handler's initial metadata: its (key, value) pairs as they are (iterated like
        grpc.aio's Metadata; building one per GET cost more than reading it)."""
        while not self._ctx.sent and await self._pull():
            pass
        return self._ctx.initial

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata(*self._ctx.trailing)

    def done(self) -> bool:
        return self._done

    def cancel(self) -> bool:
        if self._done:
            return False
        self._done = True
        self._ahead.clear()
        # closes the handler's generator: its finally blocks (open blob files) run now
        asyncio.ensure_future(self._close())
        return True

    async def _close(self) -> None:
        try:
            await self._gen.aclose()
        except (RuntimeError, Exception):  # noqa: BLE001 - already running or failed: it ends anyway
            pass

    def __aiter__(self) -> _StreamCall:
        return self

    async def __anext__(self) -> Any:
        if not self._ahead and not await self._pull():
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return _answer(self._ahead.popleft(), self._deserializer)


class _UnaryStream:
    def __init__(self, channel: LocalChannel, method: str, deserializer: Callable | None) -> None:
        self._channel, self._method, self._deserializer = channel, method, deserializer

    def __call__(self, request: Any, *, timeout: float | None = None, metadata: Any = None,
                 **_: Any) -> _StreamCall:
        handler = self._channel.handlers.find(self._method)
        if handler is None:
            raise _unimplemented(self._method)
        return _StreamCall(handler, self._method, request, metadata, self._deserializer)


class _Requests:
    """The request iterator a client-streaming handler reads, fed by ``_ClientStream.write``."""

    def __init__(self, deserializer: Callable | None) -> None:
        self.items: deque = deque()
        self.closed = False
        self.reader: asyncio.Future | None = None  # the handler waiting for a message
        self.writer: asyncio.Future | None = None  # the client waiting for room
        self._deserializer = deserializer

    @staticmethod
    def wake(fut: asyncio.Future | None) -> None:
        if fut is not None and not fut.done():
            fut.set_result(None)

    def __aiter__(self) -> _Requests:
        return self

    async def __anext__(self) -> Any:
        while not self.items:
            if self.closed:
                raise StopAsyncIteration
            self.reader = asyncio.get_running_loop().create_future()
            await self.reader
        item = self.items.popleft()
        if self.writer is not None:
            self.wake(self.writer)
        # inline: the few messages of every write pass here (_decode's test, without its call)
        return self._deserializer(item) if isinstance(item, bytes) and self._deserializer else item


class _ClientStream:
    """A client-streaming call (ModifyFile): ``write`` messages, ``done_writing``, await it.

    The handler starts as a task once the messages pass :data:`INLINE_BYTES` of body or
    :data:`INLINE_MESSAGES`, else in the awaiting task (see the module's notes).
    """

    def __init__(self, handler: grpc.RpcMethodHandler, method: str, metadata: Any,
                 deserializer: Callable | None) -> None:
        self._handler = handler
        self._ctx = _Context(metadata)
        self._method, self._deserializer = method, deserializer
        self._requests = _Requests(handler.request_deserializer)
        self._task: asyncio.Task | None = None
        self._held = 0  # body bytes held while the handler has not started
        self._ended_inline = False  # ran (or was cancelled) without a task

    async def _run(self) -> Any:
        try:
            return await self._handler.stream_unary(self._requests, self._ctx)
        except Exception as exc:  # noqa: BLE001 - delivered as the call's status
            raise _status(exc, self._method) from None

    def _start(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        self._requests.wake(self._requests.writer)
        if not task.cancelled():
            task.exception()  # retrieved: the caller may never await a call it gave up on

    async def write(self, request: Any) -> None:
        requests = self._requests
        task = self._task
        if task is None:
            if self._ended_inline or requests.closed:
                raise asyncio.InvalidStateError("the RPC has already finished")
            requests.items.append(request)
            self._held += _body_size(request)
            if self._held < INLINE_BYTES and len(requests.items) < INLINE_MESSAGES:
                return
            self._start()
            task = self._task
            if len(requests.items) < STREAM_WINDOW:
                return
        elif task.done() or requests.closed:
            raise asyncio.InvalidStateError("the RPC has already finished")
        else:
            requests.items.append(request)
            requests.wake(requests.reader)
        while len(requests.items) >= STREAM_WINDOW and not task.done():
            requests.writer = asyncio.get_running_loop().create_future()
            await requests.writer

    async def done_writing(self) -> None:
        self._requests.closed = True
        self._requests.wake(self._requests.reader)

    def cancel(self) -> bool:
        if self._task is not None:
            return self._task.cancel()
        if self._ended_inline:
            return False
        self._ended_inline = True  # the handler never saw the stream: nothing to undo
        self._requests.items.clear()
        return True

    def done(self) -> bool:
        return self._ended_inline if self._task is None else self._task.done()

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata(*self._ctx.trailing)

    async def initial_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata(*self._ctx.initial)

    async def _inline(self) -> Any:
        if self._ended_inline:
            raise grpc.aio.AioRpcError(grpc.StatusCode.CANCELLED, _EMPTY, _EMPTY, "Locally cancelled")
        self._ended_inline = True
        self._requests.closed = True
        return await self._run()

    def __await__(self):
        if self._task is None:
            # every message is held: the handler runs here, in the caller's task (a cancel of
            # the caller reaches it as CancelledError, as it would reach the task)
            response = yield from self._inline().__await__()
        else:
            # awaiting the task itself: a cancel of the caller cancels the call, as in grpc.aio
            response = yield from self._task.__await__()
        return _answer(response, self._deserializer)


def _body_size(request: Any) -> int:
    """The body bytes a request message carries (what the window bounds); small ones count 0."""
    if type(request) is AddFileChunk:
        return sum(map(len, request.pieces))
    if isinstance(request, bytes):
        return len(request)
    if request.WhichOneof("body") == "add_file":  # a copy of the value: only until a task runs
        return len(request.add_file.raw.value)
    return 0


class _StreamUnary:
    def __init__(self, channel: LocalChannel, method: str, deserializer: Callable | None) -> None:
        self._channel, self._method, self._deserializer = channel, method, deserializer

    def __call__(self, request_iterator: Any = None, *, timeout: float | None = None,
                 metadata: Any = None, **_: Any) -> _ClientStream:
        handler = self._channel.handlers.find(self._method)
        if handler is None:
            raise _unimplemented(self._method)
        if request_iterator is not None:
            raise NotImplementedError("local client streams are written with write()")
        return _ClientStream(handler, self._method, metadata, self._deserializer)


class LocalChannel:
    """What the generated stubs need of a ``grpc.aio.Channel``, served by ``handlers``."""

    local_process = True  # calls are served in this process (see _Context.local_process)

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers

    def unary_unary(self, method: str, request_serializer: Callable | None = None,
                    response_deserializer: Callable | None = None, **_: Any) -> _UnaryUnary:
        return _UnaryUnary(self, method, response_deserializer)

    def unary_stream(self, method: str, request_serializer: Callable | None = None,
                     response_deserializer: Callable | None = None, **_: Any) -> _UnaryStream:
        return _UnaryStream(self, method, response_deserializer)

    def stream_unary(self, method: str, request_serializer: Callable | None = None,
                     response_deserializer: Callable | None = None, **_: Any) -> _StreamUnary:
        return _StreamUnary(self, method, response_deserializer)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("no pfs_v2 call the gateway makes streams both ways")

    async def close(self, grace: float | None = None) -> None:
        pass
