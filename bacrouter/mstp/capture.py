"""MS/TP captures in pcap format, link type 165 (LINKTYPE_BACNET_MS_TP), for Wireshark and tshark.

Each record is one whole frame as it is on the wire, preamble included, stamped
with the time its last octet was received (or sent). Time in a capture only goes
forward: a stamp earlier than the one before (octets that a pty or a USB adapter
delivers in one burst are dated back by their modelled wire time) is written as
the one before, and counted (``held``). Records are buffered and written in
batches, so capturing does not add file I/O to the turnaround of the port's thread.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

__all__ = ["PcapWriter", "LINKTYPE_MSTP"]

LINKTYPE_MSTP = 165
_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
FLUSH_BYTES = 16384


class PcapWriter:
    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 64 << 20) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self._file.write(_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_MSTP))
        self._buffer = bytearray()
        self.max_bytes = max_bytes
        self.written = _HEADER.size
        self.frames = 0
        self.full = False
        self.held = 0  # stamps that would have gone back in time
        self._last_us = 0
        # monotonic stamps from the port thread become wall-clock times in the file
        self._offset = time.time() - time.monotonic()

    def add(self, octets: bytes, monotonic_time: float) -> None:
        """One frame, ``monotonic_time`` (time.monotonic) being when its last octet was on the line."""
        if self.full:
            return
        if self.written + len(self._buffer) + _RECORD.size + len(octets) > self.max_bytes:
            self.full = True
            return
        stamp_us = int((monotonic_time + self._offset) * 1_000_000)
        if stamp_us < self._last_us:
            stamp_us = self._last_us
            self.held += 1
        self._last_us = stamp_us
        seconds, micro = divmod(stamp_us, 1_000_000)
        self._buffer += _RECORD.pack(seconds, micro, len(octets), len(octets))
        self._buffer += octets
        self.frames += 1
        if len(self._buffer) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._file.write(self._buffer)
            self.written += len(self._buffer)
            self._buffer.clear()
        self._file.flush()

    def close(self) -> None:
        self.flush()
        self._file.close()

    def status(self) -> dict[str, object]:
        return {"path": str(self.path), "frames": self.frames, "bytes": self.written + len(self._buffer),
                "full": self.full, "held": self.held}
