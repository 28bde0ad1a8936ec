"""Control: one table of methods, served on a unix socket (and later over ubus and the web panel).

The wire format on the socket is one JSON object per line:
request ``{"id": 1, "method": "status", "params": {}}``,
answer ``{"id": 1, "result": ...}`` or ``{"id": 1, "error": {"code": "...", "message": "..."}}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["ControlError", "MethodTable", "ControlServer", "call"]

log = logging.getLogger("bacrouter.control")

Method = Callable[[dict[str, Any]], Awaitable[Any] | Any]
MAX_REQUEST = 1 << 20


class ControlError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class MethodTable:
    """Named handlers; every transport calls through :meth:`call`."""

    def __init__(self) -> None:
        self.methods: dict[str, tuple[Method, str]] = {}

    def add(self, name: str, handler: Method, doc: str = "") -> None:
        doc = doc or ((handler.__doc__ or "").strip().splitlines() or [""])[0]
        self.methods[name] = (handler, doc)

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
    def __init__(self, table: MethodTable, path: Path) -> None:
        self.table, self.path = table, path
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            # a stale socket from a crash; a live daemon would answer a connect
            if _alive(self.path):
                raise ControlError("in_use", f"another bacrouter is serving {self.path}")
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._client, path=str(self.path), limit=MAX_REQUEST)
        os.chmod(self.path, 0o660)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    await _send(writer, {"id": None, "error": {"code": "too_large", "message": "request too large"}})
                    return
                if not line:
                    return
                await _send(writer, await self._answer(line))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
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
        if self._server is not None:
            self._server.close()
            self._server = None
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


def call(path: Path | str, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    """Call a method of a running daemon (blocking); raise ControlError or OSError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps({"id": 1, "method": method, "params": params or {}}).encode() + b"\n")
        buffer = b""
        while not buffer.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ControlError("closed", "the daemon closed the connection")
            buffer += chunk
    answer = json.loads(buffer)
    if "error" in answer:
        raise ControlError(answer["error"].get("code", "error"), answer["error"].get("message", ""))
    return answer["result"]
