"""The I/O shells of a Modbus master: one request at a time on a serial line or a TCP connection.

Everything protocol-shaped is sans-IO: the frames in :mod:`.codec`, the
transactions (t3.5 and request gap, per-slave serial settings, answer
framing and timeout, transaction ids, noise and late answers) in
:mod:`.transaction`. Here only octets, clocks and file descriptors: each
shell hands the core what arrived and when, and carries out the actions it
gets back. ``exchange`` sends one request and returns its response, or
raises: :class:`~.codec.ModbusException` (the slave said no),
:class:`~.codec.DecodeError` (garbled or foreign answer), ``TimeoutError``
(no answer) or ``OSError`` (the line or connection failed; the next exchange
reopens it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..rs485 import Rs485Line, SerialLine, SerialSettings
from .codec import Request, Response
from .transaction import (
    SETTLE,
    Action,
    Completed,
    Disconnect,
    SerialTransactions,
    SetSerial,
    Target,
    TcpTransactions,
    Transmit,
    Wait,
    silent_interval,
)

__all__ = ["Target", "Transport", "SerialTransport", "TcpTransport", "silent_interval", "SETTLE"]

log = logging.getLogger("bacrouter.modbus.transport")


class Transport(Protocol):
    async def exchange(self, target: Target, request: Request) -> Response: ...
    def close(self) -> None: ...


class _Shell:
    """What both shells show of their core."""

    core: SerialTransactions | TcpTransactions

    @property
    def gap(self) -> float:
        """Extra silence between requests, seconds."""
        return self.core.gap

    @property
    def noise(self) -> int:
        """Octets heard while no answer was awaited."""
        return self.core.noise


class SerialTransport(_Shell):
    """The asyncio shell of a master on an RS485 line: :class:`~.transaction.SerialTransactions` over an
    :class:`~bacrouter.rs485.Rs485Line`.

    One reader stays on the tty for as long as it is open, so the core hears
    every octet (late or foreign answers, noise) with the moment it arrived.
    """

    def __init__(self, path: str, gap: float = 0.0, open_line: Callable[..., Any] = SerialLine) -> None:
        self.path = path
        self.line = Rs485Line(path, open_line=open_line)
        self.core = SerialTransactions(gap)
        self.closed = False
        self._lock = asyncio.Lock()
        self._pending: list[Action] = []  # what the core answered to octets the reader handed it
        self._wakeup: asyncio.Future[None] | None = None
        self._error: OSError | None = None

    @property
    def stale(self) -> int:
        """Answers that came after their request had timed out."""
        return self.core.late

    async def exchange(self, target: Target, request: Request) -> Response:
        async with self._lock:
            if self.closed:
                raise OSError(f"{self.path}: the master is stopped")
            self._pending, self._error = [], None
            actions = self.core.request(target, request, time.monotonic())
            while True:
                until: float | None = None
                for action in actions:
                    if isinstance(action, SetSerial):
                        self._use(action.settings)
                    elif isinstance(action, Transmit):
                        self._call(self.line.send, action.data)
                    elif isinstance(action, Wait):
                        until = action.until
                    elif isinstance(action, Completed):
                        return action.result()
                assert until is not None, actions
                actions = await self._next(until)

    async def _next(self, until: float) -> list[Action]:
        """The core's next actions: on octets from the reader, or once ``until`` has passed."""
        if not self._pending and self._error is None:
            self._wakeup = wakeup = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait((wakeup,), timeout=max(0.0, until - time.monotonic()))
            finally:
                self._wakeup = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._pending:
            actions, self._pending = self._pending, []
            return actions
        return self.core.poll(time.monotonic())

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _use(self, settings: SerialSettings) -> None:
        opening = not self.line.is_open
        self._call(self.line.use, settings)
        if opening:
            asyncio.get_running_loop().add_reader(self.line.fd, self._readable)

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except OSError:
            self._drop_line()
            raise

    def _readable(self) -> None:
        try:
            data = self.line.read()
        except OSError as err:  # the adapter is gone
            busy = self.core.busy
            self._drop_line()
            if busy:
                self._error = err
                self._wake()
            return
        if data:
            self._pending += self.core.received(data, self.line.last)
            self._wake()

    def _drop_line(self) -> None:
        if self.line.is_open:
            try:
                asyncio.get_running_loop().remove_reader(self.line.fd)
            except (RuntimeError, ValueError, OSError):
                pass
            self.line.close()
        self.core.line_lost()

    def close(self) -> None:
        """For good: a stopped master never reopens the line (a new one may own it by then)."""
        self.closed = True
        busy = self.core.busy
        self._drop_line()
        if busy:
            self._error = OSError(f"{self.path}: the master is stopped")
            self._wake()


class TcpTransport(_Shell):
    """The asyncio shell of a master talking to one Modbus TCP server (or a serial gateway with RTU frames
    over TCP): :class:`~.transaction.TcpTransactions` over an asyncio stream."""

    def __init__(self, host: str, port: int, rtu: bool = False, gap: float = 0.0) -> None:
        self.host, self.port, self.rtu = host, port, rtu
        self.core = TcpTransactions(rtu, gap)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self.closed = False

    @property
    def stale(self) -> int:
        """Answers that came after their request timed out (recognised by their transaction id)."""
        return self.core.stale

    async def _connect(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.closed:
            raise OSError(f"{self.host}:{self.port}: the master is stopped")
        if self._writer is None or self._writer.is_closing() or self._reader is None:
            self._disconnect()
            self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                                max(timeout, 1.0))
        return self._reader, self._writer

    async def exchange(self, target: Target, request: Request) -> Response:
        async with self._lock:
            try:
                return await self._exchange(target, request)
            except (OSError, asyncio.IncompleteReadError):  # TimeoutError included: of connecting
                if self.core.busy:
                    self._disconnect()  # a broken stream cannot be resynchronised: start a fresh connection
                    self.core.connection_lost(time.monotonic())
                raise

    async def _exchange(self, target: Target, request: Request) -> Response:
        if self.closed:
            raise OSError(f"{self.host}:{self.port}: the master is stopped")
        actions = self.core.request(target, request, time.monotonic())
        while True:
            until: float | None = None
            for action in actions:
                if isinstance(action, Transmit):
                    _, writer = await self._connect(target.timeout)
                    writer.write(action.data)
                    await writer.drain()
                elif isinstance(action, Disconnect):
                    self._disconnect()
                elif isinstance(action, Wait):
                    until = action.until
                elif isinstance(action, Completed):
                    return action.result()
            assert until is not None, actions
            actions = await self._next(until)

    async def _next(self, until: float) -> list[Action]:
        """The core's next actions: on octets from the connection, or once ``until`` has passed."""
        wait = max(0.0, until - time.monotonic())
        if self._reader is None:
            await asyncio.sleep(wait)
            return self.core.poll(time.monotonic())
        try:
            data = await asyncio.wait_for(self._reader.read(4096), wait)
        except TimeoutError:
            return self.core.poll(time.monotonic())
        if not data:
            raise ConnectionResetError(f"{self.host}:{self.port} closed the connection")
        return self.core.received(data, time.monotonic())

    def _disconnect(self) -> None:
        if self._writer is not None:
            writer, self._writer, self._reader = self._writer, None, None
            try:
                writer.close()
            except (OSError, RuntimeError):
                pass

    def close(self) -> None:
        """For good: a stopped master never reconnects."""
        self.closed = True
        self._disconnect()
