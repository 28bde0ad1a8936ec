"""What an MS/TP port learns by listening: active devices, the bus's max master, counters.

Helps commissioning (seeds, "BACnet MSTP auto addressing"): which MACs are in
use (a free one for a new device), which baud they speak, and the
"current max master" — the highest address any master polls for, learned
from Poll-For-Master traffic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .frame import Frame, FrameType

__all__ = ["Sniffer", "Device"]

#: a device not heard for this long is no longer "recently active"
RECENT = 300.0
_MASTER_FRAMES = frozenset({FrameType.TOKEN, FrameType.POLL_FOR_MASTER, FrameType.REPLY_TO_POLL_FOR_MASTER})


@dataclass
class Device:
    mac: int
    master: bool = False
    frames: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0


class Sniffer:
    def __init__(self) -> None:
        self.devices: dict[int, Device] = {}
        self.frames: Counter[str] = Counter()
        self.max_master_polled: int | None = None
        self.token_hops = 0

    def frame(self, frame: Frame, at: float) -> None:
        self.frames[FrameType.name_of(frame.type).lower()] += 1
        if frame.type == FrameType.TOKEN:
            self.token_hops += 1
        elif frame.type == FrameType.POLL_FOR_MASTER and frame.destination <= 127:
            if self.max_master_polled is None or frame.destination > self.max_master_polled:
                self.max_master_polled = frame.destination
        source = frame.source
        if source == 0xFF:
            return
        device = self.devices.get(source)
        if device is None:
            device = self.devices[source] = Device(source, first_seen=at)
        device.frames += 1
        device.last_seen = at
        if frame.type in _MASTER_FRAMES:
            device.master = True

    def active(self, now: float) -> list[Device]:
        return sorted((d for d in self.devices.values() if now - d.last_seen <= RECENT), key=lambda d: d.mac)

    def free_masters(self, now: float, max_master: int) -> list[int]:
        """Master addresses 0..max_master nobody has used recently."""
        used = {d.mac for d in self.active(now)}
        return [mac for mac in range(max_master + 1) if mac not in used]

    def status(self, now: float, wall_offset: float = 0.0) -> dict[str, object]:
        return {
            "active_devices": [{"mac": d.mac, "role": "master" if d.master else "slave", "frames": d.frames,
                                "last_seen_s": round(now - d.last_seen, 1)} for d in self.active(now)],
            "max_master_polled": self.max_master_polled,
            "frames": dict(self.frames),
            "token_hops": self.token_hops,
        }
