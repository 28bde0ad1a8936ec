"""The I/O shells of a Modbus master: one request at a time on a serial line or a TCP connection.

Everything protocol-shaped is in :mod:`.codec`; here only octets, clocks and
file descriptors. ``exchange`` sends one request and returns its response, or
raises: :class:`~.codec.ModbusException` (the slave said no),
:class:`~.codec.DecodeError` (garbled or foreign answer), ``TimeoutError``
(no answer) or ``OSError`` (the line or connection failed; the next exchange
reopens it).

On a serial line every slave may have its own baud rate, parity, stop bits
and RTU or ASCII framing: the line is switched before each request, but only
after the previous frame has left the UART and t3.5 of silence has passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..rs485 import SerialLine, octet_bits
from .codec import (
    AsciiReceiver,
    DecodeError,
    Request,
    Response,
    RtuReceiver,
    TcpReceiver,
    ascii_frame,
    decode_response,
    encode_request,
    rtu_frame,
    tcp_frame,
)

#: silence that ends a garbled answer (seconds): longer than the bursts of USB serial adapters
SETTLE = 0.02

__all__ = ["Target", "Transport", "SerialTransport", "TcpTransport", "silent_interval"]

log = logging.getLogger("bacrouter.modbus.transport")


@dataclass(frozen=True)
class Target:
    """Who a request is for, and how to reach it."""

    unit: int
    timeout: float = 1.0
    baud: int = 9600
    parity: str = "none"
    stop_bits: int = 1
    ascii: bool = False
    data_bits: int = 8


def silent_interval(baud: int, bits: int = 11) -> float:
    """t3.5: 3.5 character times, fixed at 1.75 ms above 19200 baud (Modbus over serial line, 2.5.1.1)."""
    if baud > 19200:
        return 0.00175
    return 3.5 * bits / baud


class Transport(Protocol):
    async def exchange(self, target: Target, request: Request) -> Response: ...
    def close(self) -> None: ...


class SerialTransport:
    """A master on an RS485 line, shared by slaves with different settings.

    One reader stays on the tty for as long as it is open: octets that arrive
    while no answer is awaited (late or foreign answers, noise) are counted
    and dropped, and every octet moves the moment the line last carried
    something. A request goes out only after that moment plus t3.5 (of the
    slower of the previous and the next settings) plus ``gap``.
    """

    def __init__(self, path: str, gap: float = 0.0, open_line: Callable[..., Any] = SerialLine) -> None:
        self.path = path
        self.gap = gap  # extra silence between requests (request_gap_ms)
        self._open_line = open_line
        self._line: Any = None
        self._receiver: Any = None
        self._answer: asyncio.Future[bytes] | None = None
        self._last_activity = 0.0  # monotonic end of the last frame on the line, ours or heard
        self._silence = 0.0  # t3.5 of the settings that used the line last
        self.closed = False
        self.noise = 0  # octets heard while no answer was expected

    def _line_for(self, target: Target) -> Any:
        if self.closed:
            raise OSError(f"{self.path}: the master is stopped")
        if self._line is None:
            self._line = self._open_line(self.path, target.baud, target.parity, target.stop_bits, target.data_bits)
            asyncio.get_running_loop().add_reader(self._line.fd, self._readable)
        else:
            self._line.configure(target.baud, target.parity, target.stop_bits, target.data_bits)
        return self._line

    def _readable(self) -> None:
        answer = self._answer
        try:
            data = self._line.read()
        except OSError as err:  # the adapter is gone
            self._drop_line()
            if answer is not None and not answer.done():
                answer.set_exception(err)
            return
        if not data:
            return
        self._last_activity = time.monotonic()
        if answer is None or answer.done():
            self.noise += len(data)
            return
        try:
            pdu = self._receiver.feed(data)
        except DecodeError as err:
            answer.set_exception(err)
            return
        if pdu is not None:
            answer.set_result(pdu)

    async def _quiet(self, silence: float, limit: float = 2.0) -> None:
        """Wait until the line has carried nothing for ``silence`` (+ gap); a babbling line waits ``limit``."""
        give_up = time.monotonic() + limit
        while True:
            wait = self._last_activity + silence + self.gap - time.monotonic()
            if wait <= 0 or time.monotonic() >= give_up:
                return
            await asyncio.sleep(wait)

    async def exchange(self, target: Target, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        bits = octet_bits(target.parity, target.stop_bits, target.data_bits)
        silence = silent_interval(target.baud, bits)
        await self._quiet(max(silence, self._silence))
        try:
            line = self._line_for(target)
        except OSError:
            self._drop_line()
            raise
        pdu = encode_request(request)
        frame = ascii_frame(target.unit, pdu) if target.ascii else rtu_frame(target.unit, pdu)
        self._receiver = AsciiReceiver(target.unit, request) if target.ascii else RtuReceiver(target.unit, request)
        self._answer = answer = loop.create_future()
        try:
            line.write(frame)
            tx_end = time.monotonic() + len(frame) * bits / target.baud
            self._last_activity = tx_end  # the frame leaves the UART then
            pdu_in = await asyncio.wait_for(answer, tx_end - time.monotonic() + target.timeout)
        except TimeoutError:  # (before OSError, its base class): the line itself is fine
            raise
        except DecodeError:
            self._answer = None
            # let the rest of the garbled answer pass before anything else; USB adapters hand octets over
            # in bursts, so a gap shorter than SETTLE may still be inside one frame
            await self._quiet(max(silence, SETTLE))
            raise
        except OSError:
            self._drop_line()
            raise
        finally:
            self._answer = None
            self._silence = silence
        return decode_response(request, pdu_in)

    def _drop_line(self) -> None:
        if self._line is not None:
            line, self._line = self._line, None
            try:
                asyncio.get_running_loop().remove_reader(line.fd)
            except (RuntimeError, ValueError, OSError):
                pass
            line.close()

    def close(self) -> None:
        """For good: a stopped master never reopens the line (a new one may own it by then)."""
        self.closed = True
        self._drop_line()


class TcpTransport:
    """A master talking to one Modbus TCP server (or a serial gateway with RTU frames over TCP)."""

    def __init__(self, host: str, port: int, rtu: bool = False, gap: float = 0.0) -> None:
        self.host, self.port, self.rtu, self.gap = host, port, rtu, gap
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._transaction = 0
        self._receiver = TcpReceiver()
        self._quiet_from = 0.0
        self.stale = 0  # answers that came after their request timed out
        self.closed = False

    async def _connect(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.closed:
            raise OSError(f"{self.host}:{self.port}: the master is stopped")
        if self._writer is None or self._writer.is_closing() or self._reader is None:
            self._disconnect()
            self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                                max(timeout, 1.0))
            self._receiver = TcpReceiver()
        return self._reader, self._writer

    async def exchange(self, target: Target, request: Request) -> Response:
        delay = self._quiet_from - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            return await self._exchange(target, request)
        except TimeoutError:  # (before OSError, its base class)
            if self.rtu:
                self._disconnect()  # a late RTU answer would be taken for the next one
            raise
        except (OSError, DecodeError, asyncio.IncompleteReadError):
            self._disconnect()  # a broken stream cannot be resynchronised: start a fresh connection
            raise
        finally:
            self._quiet_from = time.monotonic() + self.gap

    async def _exchange(self, target: Target, request: Request) -> Response:
        deadline = time.monotonic() + target.timeout
        reader, writer = await self._connect(target.timeout)
        pdu = encode_request(request)
        if self.rtu:
            writer.write(rtu_frame(target.unit, pdu))
            receiver = RtuReceiver(target.unit, request)
        else:
            self._transaction = (self._transaction + 1) & 0xFFFF
            writer.write(tcp_frame(self._transaction, target.unit, pdu))
        await writer.drain()
        while True:
            data = await asyncio.wait_for(reader.read(4096), max(0.0, deadline - time.monotonic()))
            if not data:
                raise ConnectionResetError(f"{self.host}:{self.port} closed the connection")
            if self.rtu:
                answer = receiver.feed(data)
                if answer is not None:
                    return decode_response(request, answer)
                continue
            for transaction, unit, answer in self._receiver.feed(data):
                if transaction != self._transaction:
                    self.stale += 1
                    continue
                if unit != target.unit and unit not in (0, 255):
                    raise DecodeError(f"answer from unit {unit}, not {target.unit}")
                return decode_response(request, answer)

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

