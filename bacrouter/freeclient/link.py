"""The lines a Free Client script talks on: an RS485 transaction (``sndrcv485``) and a TCP exchange.

The timing rules are sans-IO (:class:`IdleWait`, :class:`Reply`); the shells
(:class:`SharedLine`, :class:`TcpLink`) run blocking in a bus's own thread.
Several buses may share one RS485 line: a transaction holds the line from
the idle wait to the end of the answer, so they take turns.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..rs485 import SerialLine, octet_bits

__all__ = ["RS485", "TCP", "LineSettings", "IdleWait", "Reply", "SharedLine", "TcpLink"]


class RS485:
    """Result codes of sndrcv485 (a result >= 0 is the answer's length)."""

    BUSMESS = -1  # the line never fell idle for before_idle
    NOREPLY = -2
    BYTE = -3  # the line failed while receiving
    OVERFLOW = -5  # more than maxlen octets
    MAXLENGTH = 2048


class TCP:
    TIMEOUT = -1
    READ = -2
    WRITE = -3
    CONNECT = -4


#: how long past before_idle the line may stay busy before the transaction gives up (busmess)
BUSY_LIMIT = 1.0
#: the longest a line or socket wait goes without looking whether the bus is stopping
SLICE = 0.1


@dataclass(frozen=True)
class LineSettings:
    baud: int = 9600
    parity: str = "none"
    data_bits: int = 8
    frame_ms: int | None = None  # silence that ends an answer; None: 3.5 characters (at least 2 ms)

    @property
    def octet_time(self) -> float:
        return octet_bits(self.parity, 1, self.data_bits) / self.baud

    @property
    def frame_gap(self) -> float:
        if self.frame_ms is not None:
            return self.frame_ms / 1000
        return max(3.5 * self.octet_time, 0.002)


class IdleWait:
    """The line must carry nothing for ``need`` seconds before we talk; busy for too long: give up."""

    def __init__(self, need: float, now: float, limit: float = BUSY_LIMIT) -> None:
        self.need, self.start, self.last, self.limit = need, now, now, limit

    def heard(self, now: float) -> None:
        self.last = now

    def ready(self, now: float) -> bool:
        return now - self.last >= self.need

    def failed(self, now: float) -> bool:
        return now - self.start > self.need + self.limit

    def wake_at(self) -> float:
        return self.last + self.need


class Reply:
    """Collects an answer: the first octet within ``timeout``, then until ``gap`` of silence or ``maxlen``."""

    def __init__(self, now: float, timeout: float, gap: float, maxlen: int) -> None:
        self.deadline, self.gap, self.maxlen = now + timeout, gap, maxlen
        self.data = bytearray()
        self.last: float | None = None

    def feed(self, data: bytes, now: float) -> None:
        self.data += data
        self.last = now

    def wake_at(self) -> float:
        return self.deadline if self.last is None else self.last + self.gap

    def outcome(self, now: float) -> tuple[int, bytes] | None:
        """(result, data) once the answer is complete (or missing), else None."""
        if len(self.data) > self.maxlen:
            return RS485.OVERFLOW, bytes(self.data[: self.maxlen])
        if self.last is None:
            return (RS485.NOREPLY, b"") if now >= self.deadline else None
        if len(self.data) == self.maxlen or now - self.last >= self.gap:
            return len(self.data), bytes(self.data)
        return None


class SharedLine:
    """One RS485 tty for every bus on it; opened by the first bus, closed with the last."""

    _lines: dict[str, SharedLine] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.users = 0
        self._line: Any = None
        self.transactions = 0

    @classmethod
    def acquire(cls, path: str) -> SharedLine:
        with cls._registry_lock:
            line = cls._lines.get(path)
            if line is None:
                line = cls._lines[path] = SharedLine(path)
            line.users += 1
            return line

    def release(self) -> None:
        with SharedLine._registry_lock:
            self.users -= 1
            if self.users <= 0:
                SharedLine._lines.pop(self.path, None)
                with self.lock:
                    self._close()

    def _close(self) -> None:
        if self._line is not None:
            line, self._line = self._line, None
            line.close()

    def transaction(self, settings: LineSettings, packet: bytes, before_idle: float, timeout: float,
                    maxlen: int, stop: threading.Event | None = None) -> tuple[int, bytes]:
        """Wait for ``before_idle`` of silence, send, collect the answer; (result, data).

        ``stop`` set ends the transaction within a slice (NOREPLY): a bus that is stopping lets go of the line."""
        with self.lock:
            self.transactions += 1
            try:
                if self._line is None:
                    self._line = SerialLine(self.path, settings.baud, settings.parity, 1, settings.data_bits)
                else:
                    self._line.configure(settings.baud, settings.parity, 1, settings.data_bits)
                line = self._line
                idle = IdleWait(before_idle, time.monotonic())
                while not idle.ready(time.monotonic()):
                    if idle.failed(time.monotonic()):
                        return RS485.BUSMESS, b""
                    if stop is not None and stop.is_set():
                        return RS485.NOREPLY, b""
                    if self._wait(line, idle.wake_at()):
                        line.read()
                        idle.heard(time.monotonic())
                if packet:
                    line.write(packet)
                sent = time.monotonic() + len(packet) * settings.octet_time  # the last octet leaves the UART
                reply = Reply(sent, timeout, settings.frame_gap, maxlen)
                while True:
                    now = time.monotonic()
                    outcome = reply.outcome(now)
                    if outcome is not None:
                        return outcome
                    if stop is not None and stop.is_set():
                        return RS485.NOREPLY, b""
                    if self._wait(line, reply.wake_at()):
                        reply.feed(line.read(), time.monotonic())
            except OSError:
                self._close()  # unplugged: the next transaction opens it again
                return RS485.BYTE, b""

    @staticmethod
    def _wait(line: Any, until: float) -> bool:
        """True when octets are waiting, False when ``until`` (or the end of a slice) passed first."""
        return bool(select.select([line.fd], [], [], min(max(0.0, until - time.monotonic()), SLICE))[0])


class TcpLink:
    """The connection of a TCP bus: opened on demand, closed by tcpreset or any failure."""

    def __init__(self, server: str, frame_gap: float = 0.02) -> None:
        host, _, port = server.rpartition(":")
        self.address = (host or server, int(port) if port.isdigit() else 502)
        self.frame_gap = frame_gap
        self._sock: socket.socket | None = None

    def reset(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()

    def exchange(self, packet: bytes | None, minlen: int, maxlen: int, timeout: float,
                 stop: threading.Event | None = None) -> tuple[int, bytes]:
        """Send ``packet`` (if any), then collect at least ``minlen`` octets within ``timeout``, and what follows
        without a gap, up to ``maxlen``; (result, data). What arrived since the last exchange (a late answer
        to a request that timed out) is dropped first, or every later answer would belong to the one before."""
        deadline = time.monotonic() + timeout
        if self._sock is not None and packet and not self._drain(self._sock):
            self.reset()  # the server closed the connection in the meantime: open a new one
        if self._sock is None:
            try:
                self._sock = socket.create_connection(self.address, timeout=min(max(timeout, 0.1), 10.0))
            except OSError:
                return TCP.CONNECT, b""
        sock = self._sock
        if packet:
            try:
                sock.settimeout(max(deadline - time.monotonic(), 0.01))
                sock.sendall(packet)
            except OSError:
                self.reset()
                return TCP.WRITE, b""
        data = bytearray()
        while len(data) < maxlen:
            if stop is not None and stop.is_set():
                break
            wait = deadline - time.monotonic() if len(data) < minlen else self.frame_gap
            if wait <= 0:
                break
            if not select.select([sock], [], [], min(wait, SLICE))[0]:
                if wait <= SLICE:
                    break
                continue
            try:
                chunk = sock.recv(maxlen - len(data))
            except OSError:
                self.reset()
                return TCP.READ, bytes(data)
            if not chunk:
                self.reset()
                return (TCP.READ, bytes(data)) if len(data) < minlen else (len(data), bytes(data))
            data += chunk
        if len(data) < minlen:
            return TCP.TIMEOUT, bytes(data)
        return len(data), bytes(data)

    @staticmethod
    def _drain(sock: socket.socket) -> bool:
        """Drop what is waiting to be read; False when the peer has closed the connection."""
        try:
            while select.select([sock], [], [], 0)[0]:
                if not sock.recv(65536):
                    return False
        except OSError:
            return False
        return True

    def close(self) -> None:
        self.reset()
