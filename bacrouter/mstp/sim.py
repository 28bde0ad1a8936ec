"""A simulated MS/TP bus: nodes, bit-timed octets, collisions and noise, on simulated time.

Every octet takes ten bit times on the line. A node starts transmitting when
its state machine says so, no earlier than Tturnaround (plus its own
reaction time) after the last octet it heard; two transmissions that overlap
garble each other's octets for every listener. Listeners get the octets that
ended before whatever they do next, so silence timers see the line as a UART
would. A noise hook can corrupt what one node hears, which is how a receiver
loses frame synchronization in the field.

Used by the tests (token passing, recovery, the desynchronization attack)
and by the MS/TP benchmark.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..actions import Deliver, Transmit
from .frame import Frame, FrameType, encode_frame
from .link import MstpLink
from .master import MasterNode
from .receiver import BITS_PER_OCTET, Invalid, Received, Receiver, StandardReceiver

__all__ = ["Bus", "SimNode", "MasterSim", "ScriptedSim", "Transmission"]

TURNAROUND_BITS = 40


@dataclass
class Transmission:
    sender: SimNode
    start: float
    octets: bytearray
    octet_time: float
    serial: int = 0  # what listeners key their progress by (an id() could be reused once it is forgotten)
    garbled: set[int] = field(default_factory=set)

    @property
    def end(self) -> float:
        return self.start + len(self.octets) * self.octet_time

    def octet_end(self, index: int) -> float:
        return self.start + (index + 1) * self.octet_time


class SimNode:
    """Something attached to the bus. Subclasses decide what to send."""

    def __init__(self, mac: int, receiver: Receiver | StandardReceiver, reaction: float = 0.0) -> None:
        self.mac = mac
        self.receiver = receiver
        self.reaction = reaction
        self.bus: Bus | None = None
        self.heard: dict[int, int] = {}  # transmission serial -> octets delivered
        self.busy_until = 0.0
        self.frames_heard: Counter[int] = Counter()  # valid frames by type
        self.tokens_for_me = 0
        self.last_token_at: float | None = None
        self.longest_token_gap = 0.0

    @property
    def baud(self) -> int:
        return self.receiver.baud

    # the bus calls these
    def hear(self, octets: bytes, end: float) -> list[Frame]:
        frames = []
        for event in self.receiver.feed(octets, end):
            frames += self.on_event(event)
        return frames

    def on_event(self, event: Received | Invalid) -> list[Frame]:
        if isinstance(event, Received):
            frame = event.frame
            self.frames_heard[frame.type] += 1
            if frame.type == FrameType.TOKEN and frame.destination == self.mac:
                self.tokens_for_me += 1
                if self.last_token_at is not None:
                    self.longest_token_gap = max(self.longest_token_gap, event.end - self.last_token_at)
                self.last_token_at = event.end
        return []

    def token_gap(self, now: float) -> float:
        """The longest time this node went without the token, up to ``now``."""
        since = now - (self.last_token_at if self.last_token_at is not None else 0.0)
        return max(self.longest_token_gap, since)

    def wake(self, now: float) -> list[Frame]:
        """Timers are due (or something was heard): what to send now."""
        for event in self.receiver.poll(now):
            self.on_event(event)
        return []

    def deadline(self) -> float | None:
        return None

    def transmitted(self, frame: Frame, start: float, end: float) -> None:
        pass


class MasterSim(SimNode):
    """A master node: an :class:`MstpLink` (our receiver, or a legacy one, behind our state machine)."""

    def __init__(self, link: MstpLink, reaction: float = 0.0,
                 on_deliver: Callable[[MasterSim, Deliver, float], None] | None = None) -> None:
        super().__init__(link.mac, link.receiver, reaction)
        self.link = link
        link.observer = lambda event: SimNode.on_event(self, event)
        self.on_deliver = on_deliver
        self.delivered: list[tuple[float, Deliver]] = []

    @property
    def node(self) -> MasterNode:
        return self.link.master

    def hear(self, octets: bytes, end: float) -> list[Frame]:
        return self._actions(self.link.received(octets, end), end)

    def wake(self, now: float) -> list[Frame]:
        return self._actions(self.link.poll(now), now)

    def _actions(self, actions: list, now: float) -> list[Frame]:
        frames = []
        for action in actions:
            match action:
                case Transmit():
                    frames.append(action.data)
                case Deliver():
                    self.delivered.append((now, action))
                    if self.on_deliver is not None:
                        self.on_deliver(self, action, now)
        return frames

    def deadline(self) -> float | None:
        return self.link.deadline()

    def transmitted(self, frame: Frame, start: float, end: float) -> None:
        self.link.sent(frame, start, end)


class ScriptedSim(SimNode):
    """A node that runs a script on every valid frame it hears: ``script(node, frame, now) -> frames``."""

    def __init__(self, mac: int, receiver: Receiver | StandardReceiver,
                 script: Callable[[ScriptedSim, Frame, float], list[Frame]], reaction: float = 0.0) -> None:
        super().__init__(mac, receiver, reaction)
        self.script = script
        self.state: dict[str, object] = {}

    def on_event(self, event: Received | Invalid) -> list[Frame]:
        super().on_event(event)
        if isinstance(event, Received):
            return self.script(self, event.frame, event.end)
        return []


Corrupt = Callable[[SimNode, SimNode, Transmission, int, int], int]


class Bus:
    """The line. ``run(until)`` advances simulated time."""

    def __init__(self, baud: int) -> None:
        self.baud = baud
        self.octet_time = BITS_PER_OCTET / baud
        self.turnaround = TURNAROUND_BITS / baud
        self.nodes: list[SimNode] = []
        self.now = 0.0
        self.transmissions: list[Transmission] = []
        self._events: list[tuple[float, int, str, object]] = []
        self._sequence = 0
        self._wake_at: dict[int, float] = {}
        self.corrupt: Corrupt | None = None
        self.collisions = 0
        self.on_frame: Callable[[float, Frame, SimNode], None] | None = None  # clean frames as sent

    def add(self, node: SimNode) -> SimNode:
        node.bus = self
        self.nodes.append(node)
        self._schedule_wake(node)
        return node

    def remove(self, node: SimNode) -> None:
        """Unplug ``node``: it neither hears nor sends from now on (its pending wake-up is dropped)."""
        self.nodes.remove(node)
        self._wake_at.pop(id(node), None)

    # ------------------------------------------------------------------ scheduling

    def _push(self, at: float, kind: str, payload: object) -> None:
        self._sequence += 1
        heapq.heappush(self._events, (at, self._sequence, kind, payload))

    def _schedule_wake(self, node: SimNode) -> None:
        at = node.deadline()
        if at is None:
            self._wake_at.pop(id(node), None)
            return
        at = max(at, self.now)
        if self._wake_at.get(id(node)) == at:
            return
        self._wake_at[id(node)] = at
        self._push(at, "wake", node)

    def transmit(self, sender: SimNode, frames: list[Frame], ready: float) -> None:
        """``sender`` wants to send ``frames``, decided at ``ready``.

        Each frame waits Tturnaround after the last octet on the line, its
        sender's own included (SendFrame in clause 9.5.5).
        """
        for frame in frames:
            last_heard = sender.receiver.last or 0.0
            start = max(ready + sender.reaction, last_heard + self.turnaround, sender.busy_until)
            if sender.busy_until:
                start = max(start, sender.busy_until + self.turnaround)
            self._sequence += 1
            tx = Transmission(sender, start, bytearray(encode_frame(frame)), BITS_PER_OCTET / sender.baud,
                              self._sequence)
            self._collide(tx)
            sender.busy_until = tx.end
            # the sender's silence timer restarts with its last octet; it cannot act before then anyway
            sender.transmitted(frame, start, tx.end)
            self.transmissions.append(tx)
            if self.on_frame is not None:
                self.on_frame(start, frame, sender)
            self._push(tx.end, "end", tx)

    def _collide(self, tx: Transmission) -> None:
        """Garble the octets of ``tx`` and of any transmission it overlaps."""
        for other in self.transmissions:
            if other.sender is tx.sender or other.end <= tx.start or other.start >= tx.end:
                continue
            self.collisions += 1
            for index in range(len(tx.octets)):
                t_end = tx.octet_end(index)
                t_start = t_end - tx.octet_time
                for j in range(len(other.octets)):
                    o_end = other.octet_end(j)
                    if o_end > t_start and o_end - other.octet_time < t_end:
                        garbled = tx.octets[index] & other.octets[j]
                        tx.octets[index] = other.octets[j] = garbled
                        tx.garbled.add(index)
                        other.garbled.add(j)

    # ------------------------------------------------------------------ delivery

    def _flush(self, node: SimNode, upto: float) -> list[Frame]:
        """Give ``node`` every octet that ended by ``upto`` and it has not heard yet."""
        out: list[Frame] = []
        for tx in self.transmissions:
            if tx.sender is node or tx.start >= upto:
                continue
            done = node.heard.get(tx.serial, 0)
            if done >= len(tx.octets):
                continue
            upto_index = done
            while upto_index < len(tx.octets) and tx.octet_end(upto_index) <= upto + 1e-12:
                upto_index += 1
            if upto_index == done:
                continue
            node.heard[tx.serial] = upto_index
            octets = bytes(self._as_heard(node, tx, i) for i in range(done, upto_index))
            out += node.hear(octets, tx.octet_end(upto_index - 1))
        return out

    def _as_heard(self, node: SimNode, tx: Transmission, index: int) -> int:
        value = tx.octets[index]
        if node.baud != tx.sender.baud:
            return value ^ 0xA5  # another baud rate: framing garbage
        if self.corrupt is not None:
            value = self.corrupt(tx.sender, node, tx, index, value)
        return value

    def run(self, until: float) -> None:
        while self._events and self._events[0][0] <= until:
            at, _, kind, payload = heapq.heappop(self._events)
            self.now = at
            if kind == "wake":
                node = payload  # type: ignore[assignment]
                if self._wake_at.get(id(node)) != at:
                    continue  # superseded
                del self._wake_at[id(node)]
                frames = self._flush(node, at) + node.wake(at)
                self.transmit(node, frames, at)
                self._schedule_wake(node)
            else:
                tx = payload  # type: ignore[assignment]
                self._schedule_wake(tx.sender)
                for node in self.nodes:
                    if node is tx.sender:
                        continue
                    frames = self._flush(node, at)
                    self.transmit(node, frames, at)
                    self._schedule_wake(node)
            # forget transmissions everyone has heard
            if len(self.transmissions) > 64:
                horizon = self.now - 1.0
                self.transmissions = [t for t in self.transmissions if t.end > horizon]
                live = {t.serial for t in self.transmissions}
                for node in self.nodes:
                    node.heard = {k: v for k, v in node.heard.items() if k in live}
        self.now = until

