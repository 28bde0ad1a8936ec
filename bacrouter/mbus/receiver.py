"""Sans-IO frame receiver: bytes from a serial line in, frames and located errors out.

The M-Bus master decides by what comes back: one ACK = a slave is there, anything garbled = a
collision of several answers.  So the receiver never raises on bad input; every problem becomes an
:class:`MBusError` event in stream order, and the caller (a tool, the meter simulator) decides.
"""

from __future__ import annotations

from .frame import START_BYTES, Frame, MBusError, decode_frame, frame_length

__all__ = ["FrameReceiver"]

_SHOWN = 16  # garbage bytes quoted in an error message


class FrameReceiver:
    """Find frames in a byte stream delivered in arbitrary pieces.

    ``feed`` returns the events completed by the new bytes: a :class:`Frame` for each valid frame
    and an :class:`MBusError` for skipped garbage or a frame that failed its checks.  A frame whose
    header is impossible (length fields differ, ...) costs one byte and scanning resumes right after
    its start byte; a complete frame with a bad checksum or stop byte is dropped as a whole.
    With ``drop_master_frames`` the echo of our own requests (lines with local echo) is discarded.
    """

    def __init__(self, drop_master_frames: bool = False) -> None:
        self.drop_master_frames = drop_master_frames
        self._buf = bytearray()
        self._offset = 0  # stream position of _buf[0]

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back until more arrive."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | MBusError]:
        self._buf += data
        events: list[Frame | MBusError] = []
        while self._buf:
            if self._buf[0] not in START_BYTES:
                self._skip_garbage(events)
                continue
            try:
                total = frame_length(self._buf)
            except MBusError as err:
                events.append(self._located(err))
                self._consume(1)
                continue
            if total is None or len(self._buf) < total:
                break
            try:
                frame = decode_frame(bytes(self._buf[:total]))
            except MBusError as err:
                events.append(self._located(err))
            else:
                if not (self.drop_master_frames and frame.from_master):
                    events.append(frame)
            self._consume(total)
        return events

    def flush(self) -> list[MBusError]:
        """The line went idle: report an incomplete frame (if any) and start afresh."""
        if not self._buf:
            return []
        err = MBusError(f"incomplete frame at stream offset {self._offset}: {len(self._buf)} byte(s) "
                        f"{self._buf[:_SHOWN].hex(' ').upper()}{' ...' if len(self._buf) > _SHOWN else ''}")
        self._consume(len(self._buf))
        return [err]

    def reset(self) -> None:
        """Forget buffered bytes silently (e.g. after switching the baud rate)."""
        self._consume(len(self._buf))

    def _skip_garbage(self, events: list[Frame | MBusError]) -> None:
        end = next((i for i, octet in enumerate(self._buf) if octet in START_BYTES), len(self._buf))
        junk = self._buf[:end]
        shown = junk[:_SHOWN].hex(" ").upper() + (" ..." if end > _SHOWN else "")
        events.append(MBusError(f"stream offset {self._offset}: skipped {end} byte(s) that start no frame: {shown}"))
        self._consume(end)

    def _located(self, err: MBusError) -> MBusError:
        return MBusError(f"frame at stream offset {self._offset}: {err}")

    def _consume(self, count: int) -> None:
        del self._buf[:count]
        self._offset += count
