"""RS485 lines: the tty, and the one shell through which masters talk on it in transactions.

:class:`SerialLine` is the tty of an RS485 resource (non-blocking raw octets;
exclusive open, kernel RS485 direction control, low-latency mode and a 1 ms
FTDI latency timer where the adapter has them), shared by MS/TP ports and by
the masters. MS/TP keeps its own real-time thread on it; the Modbus master,
the Free Client buses and the M-Bus tools go through :class:`Rs485Line`.

The timing rules are sans-IO, so every user keeps the same ones:
:class:`SerialSettings` (character time), :class:`IdleWait` (the line must
have been silent for a frame gap before we transmit), :class:`Answer` (an
answer ends with a silence) and :class:`EchoFilter` (adapters that echo).
"""

from __future__ import annotations

import logging
import os
import select
import termios
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["SerialLine", "EchoFilter", "PARITY", "octet_bits", "SerialSettings", "IdleWait", "Answer", "Rs485Line",
           "QUIET", "BUSY", "STOPPED", "ANSWERED", "NO_ANSWER", "OVERFLOW"]

log = logging.getLogger("bacrouter.rs485")

#: UCI parity names to pyserial's
PARITY = {"none": "N", "even": "E", "odd": "O"}


#: a write that cannot get into the tty in this long means the adapter is stuck
WRITE_DEADLINE = 1.0
#: how long past its frame gap a line may stay busy before a quiet wait gives up
BUSY_LIMIT = 1.0
#: the longest a blocking wait goes without looking whether its caller is stopping
SLICE = 0.1

# outcomes of Rs485Line's waits
QUIET, BUSY, STOPPED = "quiet", "busy", "stopped"  # wait_quiet
ANSWERED, NO_ANSWER, OVERFLOW = "answered", "no answer", "overflow"  # receive (and STOPPED)


def octet_bits(parity: str = "none", stop_bits: int = 1, data_bits: int = 8) -> int:
    """Bits on the wire per character: start, data, parity, stop."""
    return 1 + data_bits + (parity != "none") + stop_bits


@dataclass(frozen=True)
class SerialSettings:
    """How the UART frames characters on the line; a master may switch them per request."""

    baud: int = 9600
    parity: str = "none"
    stop_bits: int = 1
    data_bits: int = 8

    @property
    def bits(self) -> int:
        return octet_bits(self.parity, self.stop_bits, self.data_bits)

    @property
    def octet_time(self) -> float:
        return self.bits / self.baud

    def transmit_time(self, octets: int) -> float:
        """How long ``octets`` characters take on the wire."""
        return octets * self.bits / self.baud


class IdleWait:
    """A wait for ``need`` seconds of silence before we transmit, sans-IO.

    The silence counts from ``last`` (the last octet known on the line: heard,
    or the end of our own frame), or from ``now`` when the line's past is
    unknown. Every octet heard meanwhile restarts it; a line still busy
    ``limit`` seconds past ``need`` has failed the wait.
    """

    def __init__(self, need: float, now: float, limit: float = BUSY_LIMIT, last: float | None = None) -> None:
        self.need, self.start, self.limit = need, now, limit
        self.last = now if last is None else last

    def heard(self, now: float) -> None:
        self.last = now

    def ready(self, now: float) -> bool:
        return now >= self.wake_at()  # (the same sum as wake_at: waking then is never a hair too early)

    def failed(self, now: float) -> bool:
        return now - self.start > self.need + self.limit

    def wake_at(self) -> float:
        return self.last + self.need


class Answer:
    """An answer being collected, sans-IO: its first octet due within ``timeout`` of ``start`` (the end of the
    request on the wire), then octets until ``gap`` of silence ends it, or ``maxlen`` of them."""

    def __init__(self, start: float, timeout: float, gap: float, maxlen: int | None = None) -> None:
        self.deadline, self.gap, self.maxlen = start + timeout, gap, maxlen
        self.data = bytearray()
        self.last: float | None = None

    def feed(self, data: bytes, now: float) -> None:
        self.data += data
        self.last = now

    def wake_at(self) -> float:
        return self.deadline if self.last is None else self.last + self.gap

    def result(self, now: float) -> str | None:
        """ANSWERED, NO_ANSWER or OVERFLOW once decided, else None (keep collecting)."""
        if self.maxlen is not None and len(self.data) > self.maxlen:
            return OVERFLOW
        if self.last is None:
            return NO_ANSWER if now >= self.deadline else None
        if len(self.data) == self.maxlen or now >= self.wake_at():
            return ANSWERED
        return None


class SerialLine:
    """The tty of an RS485 resource: raw (8N1 unless configured), kernel RS485 mode and low latency
    where the driver has them."""

    def __init__(self, path: str, baud: int, parity: str = "none", stop_bits: int = 1, data_bits: int = 8) -> None:
        import serial  # pyserial; imported here so the sans-IO cores need no serial port

        self.path = path
        self.notes: list[str] = []
        self._serial = serial.Serial(port=None, baudrate=baud, bytesize=data_bits, parity=PARITY[parity],
                                     stopbits=stop_bits, timeout=0, write_timeout=1.0, exclusive=True)
        self._serial.port = path
        try:
            self._serial.open()
        except termios.error as err:
            raise OSError(f"{path}: the line refuses {baud} baud, parity {parity}: {err}") from None
        self._tune(serial)
        self.fd = self._serial.fileno()

    def _tune(self, serial: Any) -> None:
        try:
            import serial.rs485

            self._serial.rs485_mode = serial.rs485.RS485Settings(rts_level_for_tx=True, rts_level_for_rx=False)
            self.notes.append("kernel RS485 mode")
        except (OSError, termios.error, ValueError, AttributeError, NotImplementedError) as err:
            # pyserial keeps the refused setting and would fail every later reconfiguration (a baud change)
            self._serial._rs485_mode = None
            log.debug("%s: no kernel RS485 mode (%s); the adapter switches direction itself", self.path, err)
        try:
            self._serial.set_low_latency_mode(True)
            self.notes.append("low latency")
        except (OSError, termios.error, ValueError, AttributeError, NotImplementedError) as err:
            log.debug("%s: no low-latency mode (%s)", self.path, err)
        # FTDI adapters buffer 16 ms by default; 1 ms keeps turnaround short
        name = Path(self.path).resolve().name
        timer = Path(f"/sys/bus/usb-serial/devices/{name}/latency_timer")
        try:
            if timer.exists() and timer.read_text().strip() != "1":
                timer.write_text("1")
                self.notes.append("FTDI latency timer 1 ms")
        except OSError as err:
            log.debug("%s: cannot set the latency timer: %s", self.path, err)

    def set_baud(self, baud: int) -> None:
        self._serial.baudrate = baud

    def configure(self, baud: int, parity: str = "none", stop_bits: int = 1, data_bits: int = 8) -> None:
        """Switch the line's settings (only what differs: each change is a tcsetattr)."""
        port = self._serial
        try:
            if port.bytesize != data_bits:
                port.bytesize = data_bits
            if port.baudrate != baud:
                port.baudrate = baud
            if port.parity != PARITY[parity]:
                port.parity = PARITY[parity]
            if port.stopbits != stop_bits:
                port.stopbits = stop_bits
        except termios.error as err:  # not an OSError: the callers' handling would miss it
            raise OSError(f"{self.path}: the line refuses {baud} baud, parity {parity}, {data_bits} data bits, "
                          f"{stop_bits} stop bit(s): {err}") from None

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = None
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:
                now = time.monotonic()
                deadline = deadline or now + WRITE_DEADLINE
                if now >= deadline:
                    raise OSError(f"{self.path}: the adapter takes no data (write stalled)") from None
                select.select([], [self.fd], [], 0.05)
                continue
            view = view[written:]

    def read(self) -> bytes:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return b""
        if not data:
            raise OSError(f"{self.path}: end of file (device gone?)")
        return data

    def close(self) -> None:
        try:
            self._serial.close()
        except OSError:
            pass


class EchoFilter:
    """Removes our own frames from what we read, for RS485 adapters that echo what they send.

    Every frame written is expected back, in order (a token use writes several
    before the first echo is read). Octets are held back while they match the
    oldest expected frame; a full match is dropped (echo) and the next one is
    expected. A mismatch releases what was held and forgets every
    expectation, and an expectation that has not come back within
    ``window`` seconds of being written expires: adapters that do not echo
    lose nothing.
    """

    def __init__(self, window: float = 0.25) -> None:
        self.window = window
        self.expected: deque[tuple[bytes, float]] = deque()  # (frame, expires)
        self.held = bytearray()
        self.echoed = 0

    def wrote(self, data: bytes, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._expire(now)
        self.expected.append((bytes(data), now + self.window))

    def _expire(self, now: float) -> None:
        while self.expected and self.expected[0][1] < now and not self.held:
            self.expected.popleft()

    def filter(self, data: bytes, now: float | None = None) -> bytes:
        if not self.expected:
            return data
        self._expire(time.monotonic() if now is None else now)
        out = bytearray()
        for octet in data:
            if self.expected:
                frame = self.expected[0][0]
                if octet == frame[len(self.held)]:
                    self.held.append(octet)
                    if len(self.held) == len(frame):
                        self.echoed += len(self.held)
                        self.expected.popleft()
                        self.held.clear()
                    continue
                out += self.held
                self.expected.clear()
                self.held.clear()
            out.append(octet)
        return bytes(out)


class Tty(Protocol):
    """What :class:`Rs485Line` needs of a tty (a :class:`SerialLine`, or a test's fake)."""

    fd: int

    def configure(self, baud: int, parity: str = "none", stop_bits: int = 1, data_bits: int = 8) -> None: ...
    def write(self, data: bytes) -> None: ...
    def read(self) -> bytes: ...
    def close(self) -> None: ...


class Rs485Line:
    """One RS485 line as a master uses it: a transaction at a time, blocking (a bus's thread, a tool).

    Owns the tty (opened on first use, exclusively; reopened after ``close``),
    the settings it runs at (switched only when a request needs others), the
    moment the line last carried an octet, the count of octets heard while
    waiting for quiet (``noise``) and, for adapters that echo, an
    :class:`EchoFilter`. The asyncio Modbus master uses the same object
    without its blocking waits: it watches ``fd`` and calls :meth:`read`.

    An ``OSError`` (adapter unplugged) goes to the caller, who closes the line;
    the next :meth:`use` opens it again.
    """

    def __init__(self, path: str, echo: bool = False, open_line: Callable[..., Tty] = SerialLine) -> None:
        self.path = path
        self._open_line = open_line
        self.tty: Tty | None = None
        self.settings: SerialSettings | None = None
        self.echo = EchoFilter() if echo else None
        self.last = 0.0  # monotonic time of the last octet on the line: heard, or the end of our own frame
        self.noise = 0

    @property
    def is_open(self) -> bool:
        return self.tty is not None

    @property
    def fd(self) -> int:
        if self.tty is None:
            raise OSError(f"{self.path}: the line is not open")
        return self.tty.fd

    def use(self, settings: SerialSettings) -> Tty:
        """Open the tty at ``settings``, or switch an open one to them if they differ."""
        if self.tty is None:
            self.tty = self._open_line(self.path, settings.baud, settings.parity, settings.stop_bits,
                                       settings.data_bits)
            self.last = time.monotonic()  # what the line carried before is unknown: count the silence from now
        elif settings != self.settings:
            self.tty.configure(settings.baud, settings.parity, settings.stop_bits, settings.data_bits)
        self.settings = settings
        return self.tty

    def read(self, now: float | None = None) -> bytes:
        """What is waiting (non-blocking), our own echo removed; every octet moves ``last``."""
        if self.tty is None:
            return b""
        data = self.tty.read()
        if not data:
            return b""
        now = time.monotonic() if now is None else now
        self.last = now
        return self.echo.filter(data, now) if self.echo is not None else data

    def send(self, data: bytes) -> float:
        """Write ``data``; returns when its last octet leaves the UART (the start of the answer timeout)."""
        if self.tty is None or self.settings is None:
            raise OSError(f"{self.path}: the line is not open")
        if self.echo is not None:
            self.echo.wrote(data)
        self.tty.write(data)
        self.last = time.monotonic() + self.settings.transmit_time(len(data))
        return self.last

    def wait_quiet(self, need: float, limit: float = BUSY_LIMIT, stop: Any = None) -> str:
        """Block until the line has been silent for ``need``: QUIET, BUSY (still busy ``limit`` past ``need``)
        or STOPPED (``stop``, a threading.Event, was set). Octets heard meanwhile are noise."""
        self._drain()  # octets waiting arrived at some unknown moment before now: the silence starts now
        idle = IdleWait(need, time.monotonic(), limit, last=self.last)
        while True:
            now = time.monotonic()
            if idle.ready(now):
                return QUIET
            if idle.failed(now):
                return BUSY
            if stop is not None and stop.is_set():
                return STOPPED
            if self._wait(idle.wake_at()):
                self.noise += len(self.read())
                idle.heard(self.last)

    def receive(self, start: float, timeout: float, gap: float, maxlen: int | None = None,
                stop: Any = None) -> tuple[str, bytes]:
        """Collect an answer (see :class:`Answer`): (ANSWERED, octets), (NO_ANSWER, b""),
        (OVERFLOW, the first ``maxlen`` octets) or (STOPPED, b"")."""
        answer = Answer(start, timeout, gap, maxlen)
        while True:
            outcome = answer.result(time.monotonic())
            if outcome is not None:
                data = bytes(answer.data)
                return outcome, data[:maxlen] if outcome == OVERFLOW else data
            if stop is not None and stop.is_set():
                return STOPPED, b""
            if self._wait(answer.wake_at()):
                data = self.read()
                if data:
                    answer.feed(data, self.last)

    def _drain(self) -> None:
        for _ in range(64):  # a babbling line does not hold the caller here: the quiet wait gives up on it
            if self.tty is None or not select.select([self.tty.fd], [], [], 0)[0]:
                return
            self.noise += len(self.read())

    def _wait(self, until: float) -> bool:
        """True when octets are waiting, False when ``until`` (or the end of a slice) passed first."""
        return bool(select.select([self.fd], [], [], min(max(0.0, until - time.monotonic()), SLICE))[0])

    def close(self) -> None:
        if self.tty is not None:
            tty, self.tty = self.tty, None
            self.settings = None
            tty.close()
