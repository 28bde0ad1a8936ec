"""One MS/TP port's data link, sans-IO: receiver, master node, baud rate, sniffer and capture together.

The serial shell (and the bus simulator) feed it octets with their arrival
time and carry out what it returns, as :mod:`bacrouter.actions`: frames to
:class:`Transmit` (``data`` is the :class:`~.frame.Frame`), NPDUs to
:class:`Deliver` up, a baud rate to switch to (:class:`SetBaud`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..actions import Deliver, SetBaud, Transmit
from .baud import BaudManager
from .capture import PcapWriter
from .frame import Frame, FrameType, encode_frame
from .master import MasterNode, MstpTimers
from .receiver import Invalid, Received, Receiver, StandardReceiver
from .sniffer import Sniffer

__all__ = ["MstpLink"]

log = logging.getLogger("bacrouter.mstp")


Action = Transmit | Deliver | SetBaud


class MstpLink:
    def __init__(self, mac: int, *, baud: int = 38400, baud_mode: str = "fixed", max_master: int = 127,
                 max_info_frames: int = 1, extended_frames: bool = True, timers: MstpTimers | None = None,
                 tolerance: float = 0.0, receiver: Receiver | StandardReceiver | None = None) -> None:
        self.receiver = receiver or Receiver(baud, tolerance)
        self.master = MasterNode(mac, max_master=max_master, max_info_frames=max_info_frames,
                                 timers=timers or MstpTimers(), extended_frames=extended_frames)
        self.baud = BaudManager(baud_mode, baud)
        self.sniffer = Sniffer()
        self.capture: PcapWriter | None = None
        #: sees every receive event first (the bus simulator keeps its statistics with it)
        self.observer: Callable[[Received | Invalid], None] | None = None

    @property
    def mac(self) -> int:
        return self.master.mac

    # ------------------------------------------------------------------ inputs

    def received(self, data: bytes | bytearray | memoryview, end: float) -> list[Action]:
        """Octets read from the line, the last one at ``end``."""
        self.master.octets(len(data), end)
        actions: list[Action] = []
        for event in self.receiver.feed(data, end):
            actions += self._event(event)
        return actions

    def poll(self, now: float) -> list[Action]:
        """Timers: call at :meth:`deadline`, or whenever convenient."""
        actions: list[Action] = []
        for event in self.receiver.poll(now):
            actions += self._event(event)
        switch = self.baud.poll(now)
        if switch is not None:
            actions.append(self._switch(switch))
        return actions + self._run(now)

    def enqueue(self, destination: int, npdu: bytes, expecting_reply: bool, now: float) -> bool:
        return self.master.enqueue(destination, npdu, expecting_reply, now)

    def sent(self, frame: Frame, start: float, end: float) -> None:
        """A frame went out between ``start`` and ``end``."""
        self.master.sent(end)
        self.sniffer.frame(frame, start)
        if self.capture is not None:
            self.capture.add(encode_frame(frame), end)  # when its last octet is on the line

    def deadline(self) -> float | None:
        times = [t for t in (self.master.deadline(), self.baud.deadline()) if t is not None]
        receiver = self.receiver
        if receiver.in_frame and receiver.last is not None:
            gap = getattr(receiver, "abort_gap", None) or getattr(receiver, "frame_abort", 0.0)
            times.append(receiver.last + gap + 1e-6)
        return min(times) if times else None

    # ------------------------------------------------------------------ machinery

    def _event(self, event: Received | Invalid) -> list[Action]:
        actions: list[Action] = []
        if self.observer is not None:
            self.observer(event)
        if isinstance(event, Received):
            frame = event.frame
            if frame.source == self.mac:
                # our own frames never reach here (echo is filtered): another node has our MAC
                if not self.master.counters["duplicate_mac"]:
                    log.warning("another node on this bus uses MAC %d, ours: one of them must change", self.mac)
                self.master.counters["duplicate_mac"] += 1
            self.sniffer.frame(frame, event.start)
            if self.capture is not None:
                # when it was received (its last octet), not its modelled start: a burst read from a pty
                # or a USB adapter would date a reply before the request it answers
                self.capture.add(encode_frame(frame), event.end)
            self.baud.valid_frame(event.end)
            if frame.type == FrameType.TOKEN and frame.destination == self.mac:
                switch = self.baud.token(event.end)
                if switch is not None:
                    actions.append(self._switch(switch))
            self.master.frame(frame, event.end)
            return actions + self._run(event.end)
        if event.reason != "garbage":  # stray octets between frames are no frame at all for the node
            self.master.invalid(event.at)
        switch = self.baud.invalid_frame(event.at)
        if switch is not None:
            actions.append(self._switch(switch))
        return actions + self._run(event.at)

    def _switch(self, baud: int) -> SetBaud:
        self.receiver.set_baud(baud)
        return SetBaud(baud)

    def _run(self, now: float) -> list[Action]:
        if self.baud.quiet:
            return []  # detecting the rate: listen only
        return list(self.master.run(now))

    # ------------------------------------------------------------------ status

    def status(self, now: float) -> dict[str, Any]:
        master = self.master
        rotations = list(master.token_times)
        rotation = None
        if len(rotations) >= 2:
            rotation = round((rotations[-1] - rotations[0]) / (len(rotations) - 1) * 1000, 1)
        return {
            "mac": master.mac,
            "state": master.state.value,
            "next_station": master.next_station,
            "sole_master": master.sole_master,
            "token_rotation_ms": rotation,
            "queue": len(master.queue),
            "baud": self.baud.status(),
            "receiver": dict(self.receiver.counters),
            "node": dict(master.counters),
            "sniffer": self.sniffer.status(now),
            "capture": self.capture.status() if self.capture is not None else None,
        }
