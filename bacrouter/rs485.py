"""The tty of an RS485 resource, shared by MS/TP ports, Modbus masters and Free Client buses.

Non-blocking raw octets; kernel RS485 direction control, low-latency mode and
a 1 ms FTDI latency timer where the adapter has them.
"""

from __future__ import annotations

import logging
import os
import select
import termios
import time
from collections import deque
from pathlib import Path
from typing import Any

__all__ = ["SerialLine", "EchoFilter", "PARITY", "octet_bits"]

log = logging.getLogger("bacrouter.rs485")

#: UCI parity names to pyserial's
PARITY = {"none": "N", "even": "E", "odd": "O"}


#: a write that cannot get into the tty in this long means the adapter is stuck
WRITE_DEADLINE = 1.0


def octet_bits(parity: str = "none", stop_bits: int = 1, data_bits: int = 8) -> int:
    """Bits on the wire per character: start, data, parity, stop."""
    return 1 + data_bits + (parity != "none") + stop_bits


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
