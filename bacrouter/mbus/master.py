"""An M-Bus master on a serial line (8E1 by the standard), for the command-line tools: scan, read, select, set address.

Blocking and simple on purpose: the tools run alone on the line, through the
shared :class:`~bacrouter.rs485.Rs485Line`. Every exchange waits for a quiet
line, writes one frame and collects what comes back until the response
timeout passes or, after an answer, the line stays quiet for a few octets:
that last wait is what tells one meter from two (a collision leaves extra or
garbled octets). Converters that echo what the master sends are recognised:
the line's echo filter drops our own frame, and the frame receiver drops any
master frame that is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..rs485 import BUSY_LIMIT, Rs485Line, SerialLine, SerialSettings
from .frame import (
    Frame,
    FrameKind,
    MBusError,
    application_reset,
    req_ud2,
    select_secondary,
    set_primary_address,
    snd_nke,
    switch_baudrate,
)
from .receiver import FrameReceiver
from .records import VariableData, parse_payload
from .search import Replies

__all__ = ["MBusMaster", "Exchange", "NoAnswer", "Collision", "response_timeout", "SELECTED"]

SELECTED = 0xFD  # the address of the meter selected by its secondary address


def response_timeout(baud: int) -> float:
    """EN 13757-2: a slave answers within 330 bit times + 50 ms."""
    return 330 / baud + 0.05


class NoAnswer(Exception):
    pass


class Collision(Exception):
    """More than one meter answered (or the line garbled the answer)."""


@dataclass
class Exchange:
    frames: list[Frame]
    errors: list[MBusError]

    @property
    def outcome(self) -> str:
        if self.errors or len(self.frames) > 1:
            return Replies.COLLISION
        return Replies.ONE if self.frames else Replies.NONE


class MBusMaster:
    """The tools' side of an M-Bus line: exchanges (one request, its answers) and the operations built on them."""

    def __init__(self, path: str, baud: int = 2400, timeout: float | None = None, retries: int = 2,
                 parity: str = "even", open_line: Callable[..., Any] = SerialLine) -> None:
        self.baud = baud
        self.settings = SerialSettings(baud, parity, 1)
        self.bits = self.settings.bits  # the benchmarks time 8E1 on ptys that refuse parity: they set 11
        self.timeout = timeout if timeout is not None else response_timeout(baud)
        self.retries = retries
        self.line = Rs485Line(path, echo=True, open_line=open_line)
        self.line.use(self.settings)
        self.fcb = True
        self.sent = 0  # frames written (the benchmarks count selects)

    def close(self) -> None:
        self.line.close()

    # ------------------------------------------------------------------ one exchange

    def exchange(self, request: bytes, answers: bool = True) -> Exchange:
        """Send ``request`` after a character of silence (late octets of something earlier are dropped);
        collect the answer(s)."""
        line = self.line
        line.use(self.settings)
        octet = self.bits / self.baud
        line.wait_quiet(octet, BUSY_LIMIT)  # a line that stays busy gets the request anyway, as before
        line.send(request)
        self.sent += 1
        sent_at = time.monotonic() + len(request) * octet
        if not answers:
            return Exchange([], [])
        quiet = max(0.02, 10 * octet)  # after an answer: anything more within this is a second answer
        _, data = line.receive(sent_at, self.timeout, quiet)
        receiver = FrameReceiver(drop_master_frames=True)
        frames: list[Frame] = []
        errors: list[MBusError] = []
        for event in receiver.feed(data) + receiver.flush():
            (errors if isinstance(event, MBusError) else frames).append(event)
        return Exchange(frames, errors)

    def _answer(self, request: bytes, want: FrameKind) -> Frame:
        """The single answer of kind ``want``, the request repeated as it is (same FCB) on silence or garble.

        Noise garbles one answer; two meters on one address garble every one: a collision is reported
        when the last attempt is garbled too."""
        last = Exchange([], [])
        for _ in range(self.retries + 1):
            last = self.exchange(request)
            if last.outcome == Replies.COLLISION:
                continue
            if last.frames:
                frame = last.frames[0]
                if frame.kind is not want:
                    raise MBusError(f"expected {want.value}, got a {frame.kind.value} frame")
                return frame
        if last.outcome == Replies.COLLISION:
            raise Collision("; ".join(str(e) for e in last.errors) or f"{len(last.frames)} answers")
        raise NoAnswer(f"no answer in {self.retries + 1} attempt(s)")

    # ------------------------------------------------------------------ operations

    def ping(self, address: int) -> str:
        """SND_NKE: none / one / collision (the primary scan)."""
        return self.exchange(snd_nke(address)).outcome

    def select(self, mask: str) -> str:
        """Select by secondary address (F: wildcard): none / one / collision."""
        return self.exchange(select_secondary(mask)).outcome

    def address_of_selected(self) -> str:
        """The full secondary address of the meter just selected (its data header)."""
        frame = self.request_data(SELECTED)
        payload = parse_payload(frame)
        header = getattr(payload, "header", None)
        address = header.secondary_address if header is not None else ""
        if not address:
            raise MBusError("the selected meter's answer has no secondary address")
        return address

    def request_data(self, address: int) -> Frame:
        frame = self._answer(req_ud2(address, self.fcb), FrameKind.LONG)
        self.fcb = not self.fcb
        return frame

    def read(self, address: int | str, reset: bool = True, limit: int = 16) -> list[Frame]:
        """Every telegram of a meter (primary address or secondary address), following "more records"."""
        target = self.target(address, reset)
        frames = []
        self.fcb = True
        for _ in range(limit):
            frame = self.request_data(target)
            frames.append(frame)
            payload = parse_payload(frame)
            if not (isinstance(payload, VariableData) and payload.more_records_follow):
                break
        return frames

    def target(self, address: int | str, reset: bool = True) -> int:
        """The address to send to: a primary one (reset with SND_NKE first), or select a secondary one."""
        if isinstance(address, int):
            if reset:
                self.exchange(snd_nke(address))
            return address
        outcome = self.select(address)
        if outcome == Replies.NONE:
            raise NoAnswer(f"no meter with secondary address {address}")
        if outcome == Replies.COLLISION:
            raise Collision(f"more than one meter matches {address}")
        return SELECTED

    def set_address(self, address: int | str, new: int) -> None:
        target = self.target(address, reset=False)
        self._answer(set_primary_address(target, new), FrameKind.ACK)

    def switch_baudrate(self, address: int | str, baud: int) -> None:
        target = self.target(address, reset=False)
        self._answer(switch_baudrate(target, baud), FrameKind.ACK)

    def reset(self, address: int) -> None:
        self._answer(application_reset(address), FrameKind.ACK)


def parse_address(text: str) -> int | str:
    """A primary address (0..250) or a 16-hex-digit secondary address."""
    text = text.strip()
    if text.isdigit() and int(text) <= 250:
        return int(text)
    if len(text) == 16 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.upper()
    raise ValueError(f"{text!r} is neither a primary address (0..250) nor a secondary address (16 hex digits)")
