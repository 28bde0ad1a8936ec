"""MS/TP receive state machines, sans-IO: octets with their arrival times in, frames out.

:class:`Receiver` is the product's revised machine, which cannot be led astray
by frames hidden inside other frames (seeds, "Solution to MSTP frame
desynchronization"):

1. a gap of more than 20 bit times between two octets of a frame aborts it;
2. an idle line of 33 bit times or more means the next octet starts a frame;
3. octets that follow a complete valid frame start a new frame at once
   (for devices that do not respect Tturnaround).

After anything invalid it does not hunt for a preamble in the middle of the
traffic, where a frame's data can hold a valid-looking header; it waits for
the line to go idle. Extended frames (types 32 and 33) must also have a
length an extended frame can have, which throws out short fake headers.

:class:`StandardReceiver` is the standard's machine (clause 9.5.4 with
Tframe_abort and SKIP_DATA) as most devices implement it; the bus simulation
uses it to show the stall the revised machine avoids.

Times are in seconds. An octet's time is when its stop bit ended. Real serial
ports report bursts, not single octets: :meth:`Receiver.feed` spreads a burst
back-to-back before its arrival time, and ``tolerance`` widens the gap rules
to the timing jitter of the port (USB adapters deliver in packets).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .frame import (
    DATA_CRC_REMAINDER,
    HEADER_CRC_REMAINDER,
    MAX_DATA,
    Frame,
    FrameError,
    crc8,
    crc16,
    decode_extended_data,
)

__all__ = ["Received", "Invalid", "Receiver", "StandardReceiver", "BITS_PER_OCTET", "length_is_valid"]

BITS_PER_OCTET = 10  # start, 8 data, stop
ABORT_GAP_BITS = 20
RESYNC_IDLE_BITS = 33
#: Length field bounds of COBS frames (Addendum 135-2012an): BACnet data (32, 33) and other COBS types
BACNET_COBS_LENGTH = (506, 1506)
OTHER_COBS_LENGTH = (5, 2043)


@dataclass(frozen=True, slots=True)
class Received:
    """A valid frame, with the times of its first and last octet."""

    frame: Frame
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str  # header_crc, data_crc, bad_length, abort, bad_preamble, garbage (no frame where one must start)
    at: float


Event = Received | Invalid


def length_is_valid(frame_type: int, length: int) -> bool:
    """Whether a header's Length can belong to a frame of this type."""
    if 32 <= frame_type <= 127:
        low, high = BACNET_COBS_LENGTH if frame_type in (32, 33) else OTHER_COBS_LENGTH
        return low <= length <= high
    return length <= MAX_DATA


class _Base:
    def __init__(self, baud: int, tolerance: float = 0.0) -> None:
        self.counters: Counter[str] = Counter()
        self.tolerance = tolerance
        self.set_baud(baud)
        self.last: float | None = None  # time of the last octet
        self.octets = 0  # every octet seen (the master's EventCount)
        self._state = "idle"
        self._buffer = bytearray()
        self._need = 0
        self._start = 0.0

    def set_baud(self, baud: int) -> None:
        self.baud = baud
        self.bit_time = 1.0 / baud
        self.octet_time = BITS_PER_OCTET / baud

    def feed(self, data: bytes | bytearray | memoryview, end: float) -> list[Event]:
        """A burst of octets whose last one arrived at ``end``, assumed back-to-back."""
        events: list[Event] = []
        count = len(data)
        octet_time = self.octet_time
        first = end - (count - 1) * octet_time
        if self.last is not None and first <= self.last:
            # the burst cannot have started before the previous octet ended
            first = self.last + octet_time
        for index, octet in enumerate(data):
            event = self.feed_octet(octet, first + index * octet_time)
            if event is not None:
                events.append(event)
        return events

    def feed_octet(self, octet: int, at: float) -> Event | None:
        raise NotImplementedError

    @property
    def in_frame(self) -> bool:
        return self._state != "idle"

    def _finish_header(self, at: float, header: bytes) -> tuple[int, Event | None]:
        """Check a complete header; return the data octets still to come (0: frame done) and any event."""
        if crc8(header) != HEADER_CRC_REMAINDER:
            self.counters["header_crc_errors"] += 1
            return -1, self._invalid("header_crc", at)
        frame_type, length = header[0], (header[3] << 8) | header[4]
        if length == 0:
            return 0, self._valid(Frame(frame_type, header[1], header[2]), at)
        return length + 2, None

    def _finish_data(self, at: float, header: bytes, field: bytes) -> Event:
        frame_type = header[0]
        if 32 <= frame_type <= 127:
            try:
                data = decode_extended_data(field)
            except FrameError:
                self.counters["data_crc_errors"] += 1
                return self._invalid("data_crc", at)
        else:
            if crc16(field) != DATA_CRC_REMAINDER:
                self.counters["data_crc_errors"] += 1
                return self._invalid("data_crc", at)
            data = bytes(field[:-2])
        return self._valid(Frame(frame_type, header[1], header[2], data), at)

    def _valid(self, frame: Frame, at: float) -> Received:
        self.counters["valid_frames"] += 1
        return Received(frame, self._start, at)

    def _invalid(self, reason: str, at: float) -> Invalid:
        self.counters["invalid_frames"] += 1
        return Invalid(reason, at)


class Receiver(_Base):
    """The revised, desynchronization-resistant receive machine."""

    def __init__(self, baud: int, tolerance: float = 0.0) -> None:
        super().__init__(baud, tolerance)
        self.synced = True  # may the next octet start a frame?
        self._pad_allowed = False  # clause 9.3: at most one X'FF' may follow a frame

    def set_baud(self, baud: int) -> None:
        super().set_baud(baud)
        # gaps measured as silence between the end of one octet and the start of the next, with a
        # hundredth of a bit time of slack so a gap of exactly 20 (or 33) bit times counts as such
        slack = self.bit_time / 100
        self.abort_gap = max(ABORT_GAP_BITS * self.bit_time, self.tolerance) + slack
        self.resync_idle = max(RESYNC_IDLE_BITS * self.bit_time, self.tolerance) - slack

    def feed_octet(self, octet: int, at: float) -> Event | None:
        self.octets += 1
        event: Event | None = None
        if self.last is not None:
            silence = at - self.octet_time - self.last
            if self._state != "idle" and silence > self.abort_gap:
                self.counters["aborts"] += 1
                event = self._invalid("abort", self.last)
                self._state, self.synced = "idle", False
            if silence >= self.resync_idle:
                self.synced = True
        else:
            self.synced = True
        self.last = at
        result = self._step(octet, at)
        self._pad_allowed = isinstance(result, Received)
        return result if result is not None else event

    def _step(self, octet: int, at: float) -> Event | None:
        state = self._state
        if state == "idle":
            if not self.synced:
                self.counters["octets_skipped"] += 1
                return None
            if octet == 0xFF and self._pad_allowed:  # the optional pad octet after a frame
                self.counters["pad"] += 1
                return None
            if octet == 0x55:
                self._state, self._start = "preamble", at - self.octet_time
                return None
            # something that is not a frame where a frame had to start: noise, or another baud rate
            self.synced = False
            self.counters["octets_skipped"] += 1
            self.counters["garbage"] += 1
            return Invalid("garbage", at)
        if state == "preamble":
            if octet == 0xFF:
                self._state, self._buffer = "header", bytearray()
                return None
            self._state, self.synced = "idle", False
            return self._invalid("bad_preamble", at)
        if state == "header":
            self._buffer.append(octet)
            if len(self._buffer) < 6:
                return None
            header = bytes(self._buffer)
            need, event = self._finish_header(at, header)
            if need < 0:
                self._state, self.synced = "idle", False
                return event
            if need == 0:
                self._state, self.synced = "idle", True
                return event
            if not length_is_valid(header[0], need - 2):
                self.counters["bad_length"] += 1
                self._state, self.synced = "idle", False
                return self._invalid("bad_length", at)
            self._header, self._need, self._buffer = header, need, bytearray()
            self._state = "data"
            return None
        # data
        self._buffer.append(octet)
        if len(self._buffer) < self._need:
            return None
        event = self._finish_data(at, self._header, bytes(self._buffer))
        self._state = "idle"
        self.synced = isinstance(event, Received)
        return event

    def poll(self, now: float) -> list[Event]:
        """Abort a frame whose octets stopped coming; call when nothing arrives for a while."""
        if self.last is None:
            return []
        silence = now - self.last
        if self._state != "idle" and silence > self.abort_gap:
            self.counters["aborts"] += 1
            self._state, self.synced = "idle", False
            return [self._invalid("abort", self.last)]
        if not self.synced and silence >= self.resync_idle:
            self.synced = True
        return []


class StandardReceiver(_Base):
    """The standard receive machine: hunts for a preamble anywhere, skips other nodes' data.

    ``this_station`` decides which frames are "for us" (their data is kept and
    checked) and which are skipped octet by octet. ``extended`` says whether
    the node understands frames 32..127 (checks their length) or skips them.
    """

    def __init__(self, baud: int, this_station: int, tolerance: float = 0.0, frame_abort_bits: int = 60,
                 extended: bool = False) -> None:
        self.this_station = this_station
        self.frame_abort_bits = frame_abort_bits
        self.extended = extended
        super().__init__(baud, tolerance)

    def set_baud(self, baud: int) -> None:
        super().set_baud(baud)
        self.frame_abort = max(self.frame_abort_bits * self.bit_time, self.tolerance) + self.bit_time / 100

    def feed_octet(self, octet: int, at: float) -> Event | None:
        self.octets += 1
        event: Event | None = None
        if self.last is not None and self._state != "idle" and at - self.octet_time - self.last > self.frame_abort:
            self.counters["aborts"] += 1
            if self._state in ("header", "data", "skip"):
                event = self._invalid("abort", self.last)
            self._state = "idle"
        self.last = at
        result = self._step(octet, at)
        return result if result is not None else event

    def _step(self, octet: int, at: float) -> Event | None:
        state = self._state
        if state == "idle":
            if octet == 0x55:
                self._state, self._start = "preamble", at - self.octet_time
            return None
        if state == "preamble":
            if octet == 0xFF:
                self._state, self._buffer = "header", bytearray()
            elif octet != 0x55:
                self._state = "idle"
            return None
        if state == "header":
            self._buffer.append(octet)
            if len(self._buffer) < 6:
                return None
            header = bytes(self._buffer)
            need, event = self._finish_header(at, header)
            if need <= 0:
                self._state = "idle"
                return event
            for_us = header[1] in (self.this_station, 0xFF)
            understood = self.extended or not 32 <= header[0] <= 127
            if self.extended and 32 <= header[0] <= 127 and for_us and not length_is_valid(header[0], need - 2):
                self._state = "idle"
                return self._invalid("bad_length", at)
            if for_us and understood and need - 2 <= (2043 if self.extended else MAX_DATA):
                self._header, self._need, self._buffer, self._state = header, need, bytearray(), "data"
            else:
                self._need, self._buffer, self._state = need, bytearray(), "skip"
            return None
        self._buffer.append(octet)
        if len(self._buffer) < self._need:
            return None
        self._state = "idle"
        if state == "skip":
            self.counters["skipped_frames"] += 1
            return None
        return self._finish_data(at, self._header, bytes(self._buffer))

    def poll(self, now: float) -> list[Event]:
        if self.last is not None and self._state != "idle" and now - self.last > self.frame_abort:
            self.counters["aborts"] += 1
            state, self._state = self._state, "idle"
            if state in ("header", "data", "skip"):
                return [self._invalid("abort", self.last)]
        return []

