"""MS/TP captures in pcap format, link type 165 (LINKTYPE_BACNET_MS_TP), for Wireshark and tshark.

Each record is one whole frame as it is on the wire, preamble included.
Records are buffered and written in batches, so capturing does not add file
I/O to the turnaround of the port's thread.
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
        # monotonic stamps from the port thread become wall-clock times in the file
        self._offset = time.time() - time.monotonic()

    def add(self, octets: bytes, monotonic_time: float) -> None:
        if self.full:
            return
        if self.written + len(self._buffer) + _RECORD.size + len(octets) > self.max_bytes:
            self.full = True
            return
        stamp = monotonic_time + self._offset
        seconds = int(stamp)
        self._buffer += _RECORD.pack(seconds, int((stamp - seconds) * 1e6), len(octets), len(octets))
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
                "full": self.full}
