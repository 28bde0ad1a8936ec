"""Control: one table of methods, served on a unix socket (and later over ubus and the web panel).

The wire format on the socket is one JSON object per line:
request ``{"id": 1, "method": "status", "params": {}}``,
answer ``{"id": 1, "result": ...}`` or ``{"id": 1, "error": {"code": "...", "message": "..."}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .control_client import ControlError, call

__all__ = ["ControlError", "MethodTable", "ControlServer", "call"]

log = logging.getLogger("bacrouter.control")

Method = Callable[[dict[str, Any]], Awaitable[Any] | Any]
#: the argument types a method may declare (its signature: name → type), as ubus knows them
PARAM_TYPES = ("string", "int", "bool", "double", "table", "array")
MAX_REQUEST = 1 << 20
#: connections served at once; scripts and the panel use a handful
MAX_CLIENTS = 32
#: seconds a connection may stay silent before it is closed
IDLE_TIMEOUT = 60.0
#: a full house closes its longest-silent connection if it has been silent this long (seconds)
EVICT_AFTER = 1.0
ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX = 0.1, 5.0
BUSY = b'{"id": null, "error": {"code": "busy", "message": "too many control connections"}}\n'


class MethodTable:
    """Named handlers; every transport calls through :meth:`call`."""

    def __init__(self) -> None:
        self.methods: dict[str, tuple[Method, str]] = {}
        #: the arguments each method declares, name → type (one of PARAM_TYPES); ubus publishes them
        self.signatures: dict[str, dict[str, str]] = {}

    def add(self, name: str, handler: Method, doc: str = "", params: dict[str, str] | None = None) -> None:
        """Add ``name``; ``params`` declares its arguments for transports that publish a signature.

        A transport that checks arguments against the signature (ubus) lets a
        caller pass only what is declared, so an argument meant for the root-only
        socket (a capture's file path) is left out of ``params``.
        """
        doc = doc or ((handler.__doc__ or "").strip().splitlines() or [""])[0]
        unknown = {kind for kind in (params or {}).values() if kind not in PARAM_TYPES}
        if unknown:
            raise ValueError(f"method {name}: argument types {sorted(unknown)} are not among {PARAM_TYPES}")
        self.methods[name] = (handler, doc)
        self.signatures[name] = dict(params or {})

    async def call(self, name: str, params: dict[str, Any] | None = None) -> Any:
        entry = self.methods.get(name)
        if entry is None:
            raise ControlError("unknown_method", f"no method {name!r}; known: {', '.join(sorted(self.methods))}")
        if params is not None and not isinstance(params, dict):
            raise ControlError("bad_params", "params must be an object")
        result = entry[0](params or {})
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        return result

    def describe(self) -> dict[str, str]:
        return {name: doc for name, (_, doc) in sorted(self.methods.items())}


class ControlServer:
    """The unix socket of the method table: one JSON request per line, one answer per line.

    It survives its clients: at most ``MAX_CLIENTS`` connections (more are
    told "busy" and closed at once), a connection idle for ``IDLE_TIMEOUT`` is
    closed, and when the process is out of file descriptors accepting pauses
    and backs off instead of spinning.
    """

    def __init__(self, table: MethodTable, path: Path) -> None:
        self.table, self.path = table, path
        self._sock: socket.socket | None = None
        self._clients: dict[asyncio.Task[None], float] = {}  # → when it last sent a request
        self._backoff = ACCEPT_BACKOFF_MIN
        self._resume: asyncio.TimerHandle | None = None
        self.counters = {"connections": 0, "refused_busy": 0, "idle_closed": 0, "evicted": 0, "accept_failed": 0}

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            # a stale socket from a crash; a live daemon would answer a connect
            if _alive(self.path):
                raise ControlError("in_use", f"another bacrouter is serving {self.path}")
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        os.chmod(self.path, 0o660)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        sock = self._sock
        if sock is None:
            return
        loop = asyncio.get_running_loop()
        for _ in range(16):  # a burst, then let the loop breathe
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as err:  # EMFILE, ENFILE, ENOBUFS, ENOMEM: wait for descriptors to come back
                self.counters["accept_failed"] += 1
                log.warning("control socket: cannot accept a connection (%s): pausing %g s", err.strerror or err,
                            self._backoff)
                loop.remove_reader(sock.fileno())
                if self._clients:
                    self._evict_idlest(loop.time())  # a silent client's descriptor is better spent on a new one
                self._resume = loop.call_later(self._backoff, self._listen_again)
                self._backoff = min(self._backoff * 2, ACCEPT_BACKOFF_MAX)
                return
            self._backoff = ACCEPT_BACKOFF_MIN
            if len(self._clients) >= MAX_CLIENTS and not self._evict_idlest(loop.time()):
                self.counters["refused_busy"] += 1
                with contextlib.suppress(OSError):
                    conn.send(BUSY)
                conn.close()
                continue
            self.counters["connections"] += 1
            conn.setblocking(False)
            task = loop.create_task(self._serve(conn), name="control-client")
            self._clients[task] = loop.time()
            task.add_done_callback(lambda done: self._clients.pop(done, None))

    def _evict_idlest(self, now: float) -> bool:
        """Make room by closing the connection that has been silent longest (for a second at least)."""
        task, last = min(self._clients.items(), key=lambda item: item[1])
        if now - last < EVICT_AFTER:
            return False
        self.counters["evicted"] += 1
        task.cancel()
        del self._clients[task]
        return True

    def _listen_again(self) -> None:
        self._resume = None
        if self._sock is not None:
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._accept)

    async def _serve(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(sock=conn, limit=MAX_REQUEST)
        except OSError:
            conn.close()
            return
        await self._client(reader, writer)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
                except TimeoutError:
                    self.counters["idle_closed"] += 1
                    return
                except (asyncio.LimitOverrunError, ValueError):
                    await _send(writer, {"id": None, "error": {"code": "too_large", "message": "request too large"}})
                    return
                if not line:
                    return
                task = asyncio.current_task()
                if task in self._clients:
                    self._clients[task] = asyncio.get_running_loop().time()  # type: ignore[index]
                await _send(writer, await self._answer(line))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("method"), str):
                raise ValueError("expected {\"method\": ..., \"params\": {...}}")
        except (ValueError, RecursionError) as err:  # RecursionError: "[[[[..." nested beyond the parser
            return {"id": None, "error": {"code": "bad_request", "message": str(err) or type(err).__name__}}
        ident = request.get("id")
        if not (ident is None or isinstance(ident, str) or (isinstance(ident, int) and not isinstance(ident, bool))):
            return {"id": None, "error": {"code": "bad_request", "message": "id must be a string, an integer or null"}}
        try:
            return {"id": ident, "result": await self.table.call(request["method"], request.get("params"))}
        except ControlError as err:
            return {"id": ident, "error": {"code": err.code, "message": err.message}}
        except Exception as err:  # a broken handler answers with an error, the server stays up
            log.exception("control method %s failed", request["method"])
            return {"id": ident, "error": {"code": "internal", "message": f"{type(err).__name__}: {err}"}}

    async def close(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
        if self._sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        for task in list(self._clients):
            task.cancel()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    try:
        text = json.dumps(message, default=str, allow_nan=False)
    except ValueError:  # NaN or infinity in a result: JSON has no such numbers, null says "no value"
        text = json.dumps(_finite(message), default=str)
    writer.write(text.encode() + b"\n")
    await writer.drain()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(str(path))
            return True
        except OSError:
            return False
