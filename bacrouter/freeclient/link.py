"""The lines a Free Client script talks on: an RS485 transaction (``sndrcv485``) and a TCP exchange.

The RS485 side is :class:`~bacrouter.rs485.Rs485Line` (quiet wait, settings,
silence-ended answer, all shared with the Modbus and M-Bus masters);
:class:`SharedLine` only lets several buses take turns on one line and turns
the outcomes into sndrcv485's result codes. Both shells run blocking in a
bus's own thread: a transaction holds the line from the idle wait to the end
of the answer.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass

from ..rs485 import ANSWERED, BUSY, OVERFLOW, QUIET, SLICE, Answer, IdleWait, Rs485Line, SerialSettings

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


@dataclass(frozen=True)
class LineSettings:
    """A bus's line: its serial settings and the silence that ends an answer."""

    baud: int = 9600
    parity: str = "none"
    data_bits: int = 8
    frame_ms: int | None = None  # silence that ends an answer; None: 3.5 characters (at least 2 ms)

    @property
    def serial(self) -> SerialSettings:
        return SerialSettings(self.baud, self.parity, 1, self.data_bits)

    @property
    def octet_time(self) -> float:
        return self.serial.octet_time

    @property
    def frame_gap(self) -> float:
        if self.frame_ms is not None:
            return self.frame_ms / 1000
        return max(3.5 * self.octet_time, 0.002)


class Reply(Answer):
    """An answer collected for sndrcv485: :class:`~bacrouter.rs485.Answer` with the script's result codes."""

    def __init__(self, now: float, timeout: float, gap: float, maxlen: int) -> None:
        super().__init__(now, timeout, gap, maxlen)

    def outcome(self, now: float) -> tuple[int, bytes] | None:
        """(result, data) once the answer is complete (or missing), else None."""
        return _result(self.result(now), bytes(self.data), self.maxlen or 0)


def _result(outcome: str | None, data: bytes, maxlen: int) -> tuple[int, bytes] | None:
    if outcome == ANSWERED:
        return len(data), data
    if outcome == OVERFLOW:
        return RS485.OVERFLOW, data[:maxlen]
    if outcome is None:
        return None
    return RS485.NOREPLY, b""  # no answer, or the bus is stopping


class SharedLine:
    """One RS485 line for every bus on it; opened by the first bus's transaction, closed with the last bus."""

    _lines: dict[str, SharedLine] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.users = 0
        self.line = Rs485Line(path)
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
                    self.line.close()

    def transaction(self, settings: LineSettings, packet: bytes, before_idle: float, timeout: float,
                    maxlen: int, stop: threading.Event | None = None) -> tuple[int, bytes]:
        """Wait for ``before_idle`` of silence, send, collect the answer; (result, data).

        ``stop`` set ends the transaction within a slice (NOREPLY): a bus that is stopping lets go of the line."""
        with self.lock:
            self.transactions += 1
            line = self.line
            try:
                line.use(settings.serial)
                quiet = line.wait_quiet(before_idle, stop=stop)
                if quiet != QUIET:
                    return (RS485.BUSMESS, b"") if quiet == BUSY else (RS485.NOREPLY, b"")
                sent = line.send(packet) if packet else time.monotonic()
                outcome, data = line.receive(sent, timeout, settings.frame_gap, maxlen, stop)
                return _result(outcome, data, maxlen) or (RS485.NOREPLY, b"")
            except OSError:
                line.close()  # unplugged: the next transaction opens it again
                return RS485.BYTE, b""


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
