"""MS/TP master node state machine (ASHRAE 135 clause 9.5.6), sans-IO.

Feed it what the receiver saw (:meth:`MasterNode.octets`, :meth:`frame`,
:meth:`invalid`), what went out (:meth:`sent`) and NPDUs to send
(:meth:`enqueue`); :meth:`run` performs the transitions due at ``now`` and
returns what to do, as :mod:`bacrouter.actions`: :class:`Transmit` a frame
(``data`` is the :class:`~.frame.Frame`), :class:`Deliver` an NPDU up. :meth:`deadline`
says when to run it again if nothing happens. SilenceTimer is derived from
the time of the last octet on the line, received or sent.

The transitions and their order follow the standard as bacnet-stack
implements it, with three changes: an extended data-expecting-reply frame
waits for its reply like a standard one; a node answering a request looks
for the reply anywhere in its queue, not only at its head; and a request
that must cross a router (its NPDU carries a DNET) is answered with
Reply-Postponed at once, since its answer cannot come back within
Treply_delay and the bus is better used meanwhile.

Message delay guarantee: an NPDU that could not be sent within 6 s is
dropped, so a late reply can never be matched to a reused invoke ID.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from enum import Enum

from ..actions import Deliver, Transmit
from ..net.npdu import DecodeError
from ..net.npdu import decode as decode_npdu
from .frame import BROADCAST, MAX_DATA, MAX_EXTENDED_DATA, Frame, FrameType

__all__ = ["State", "MstpTimers", "MasterNode", "reply_matches"]


class State(Enum):
    INITIALIZE = "initialize"
    IDLE = "idle"
    USE_TOKEN = "use_token"
    WAIT_FOR_REPLY = "wait_for_reply"
    DONE_WITH_TOKEN = "done_with_token"
    PASS_TOKEN = "pass_token"
    NO_TOKEN = "no_token"
    POLL_FOR_MASTER = "poll_for_master"
    ANSWER_DATA_REQUEST = "answer_data_request"


@dataclass
class MstpTimers:
    no_token: float = 0.500
    slot: float = 0.010
    usage_timeout: float = 0.035
    reply_delay: float = 0.245
    reply_timeout: float = 0.300
    message_delay: float = 6.0
    npoll: int = 50
    nretry_token: int = 1
    nmin_octets: int = 4


Action = Transmit | Deliver


@dataclass
class _Outgoing:
    destination: int
    npdu: bytes
    expecting_reply: bool
    queued: float


@dataclass
class _Inbox:
    frame: Frame | None = None
    invalid: bool = False
    not_for_us: bool = False


_DATA_NO_REPLY = (FrameType.DATA_NOT_EXPECTING_REPLY, FrameType.EXTENDED_DATA_NOT_EXPECTING_REPLY)
_DATA_REPLY = (FrameType.DATA_EXPECTING_REPLY, FrameType.EXTENDED_DATA_EXPECTING_REPLY)
_UNEXPECTED_WHILE_WAITING = (FrameType.TOKEN, FrameType.POLL_FOR_MASTER, FrameType.REPLY_TO_POLL_FOR_MASTER,
                             FrameType.TEST_REQUEST)
_EPSILON = 1e-6  # wake just after a deadline, so strict comparisons have flipped
MAX_QUEUE = 1000  # NPDUs waiting for the token (6 s of them at most; this bounds a flood)


@dataclass
class MasterNode:
    """One MS/TP master node's state machine (clause 9.5.6), sans-IO.

    Owns the token logic (use the token, pass it, poll for a successor,
    claim it when the line is silent), the queue of NPDUs waiting for the
    token (bounded, with the 6 s drop rule), the reply-postponed state, the
    known next station and the counters. It is fed received frames and
    timestamps and returns the frames to transmit and the NPDUs to deliver.
    """

    mac: int
    max_master: int = 127
    max_info_frames: int = 1
    timers: MstpTimers = field(default_factory=MstpTimers)
    extended_frames: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.mac <= 127 or not self.mac <= self.max_master <= 127:
            raise ValueError(f"master MAC {self.mac} must be 0..max_master ({self.max_master}) and max_master <= 127")
        self.state = State.INITIALIZE
        self.next_station = self.mac
        self.poll_station = self.mac
        self.token_count = self.timers.npoll
        self.frame_count = 0
        self.retry_count = 0
        self.event_count = 0
        self.sole_master = False
        self.last_activity = 0.0
        self.queue: deque[_Outgoing] = deque()
        self.counters: Counter[str] = Counter()
        self._inbox = _Inbox()
        self._request: tuple[Frame, float] | None = None
        self._now = 0.0
        self.token_times: deque[float] = deque(maxlen=16)  # when we got the token, for rotation time

    # ------------------------------------------------------------------ inputs

    def octets(self, count: int, last: float) -> None:
        """``count`` octets were received, the last one at ``last`` (SilenceTimer and EventCount)."""
        self.event_count = min(self.event_count + count, 1 << 30)
        self.last_activity = max(self.last_activity, last)

    def sent(self, end: float) -> None:
        """Our transmission ended at ``end``."""
        self.last_activity = max(self.last_activity, end)

    def frame(self, frame: Frame, end: float) -> None:
        """A valid frame ended at ``end``."""
        self.last_activity = max(self.last_activity, end)
        if frame.destination in (self.mac, BROADCAST):
            self._inbox.frame = frame
        else:
            self._inbox.not_for_us = True

    def invalid(self, at: float) -> None:
        self._inbox.invalid = True
        self.last_activity = max(self.last_activity, at)

    def enqueue(self, destination: int, npdu: bytes, expecting_reply: bool, now: float) -> bool:
        """Queue an NPDU for ``destination`` (255: broadcast); False if it can never be sent."""
        limit = MAX_EXTENDED_DATA if self.extended_frames else MAX_DATA
        if len(npdu) > limit:
            self.counters["dropped_too_long"] += 1
            return False
        self._expire(now)
        if len(self.queue) >= MAX_QUEUE:  # the token has not come for a long while: the oldest goes
            self.queue.popleft()
            self.counters["dropped_queue_full"] += 1
        self.queue.append(_Outgoing(destination, npdu, expecting_reply and destination != BROADCAST, now))
        return True

    # ------------------------------------------------------------------ the machine

    def silence(self, now: float) -> float:
        return now - self.last_activity

    def run(self, now: float) -> list[Action]:
        actions: list[Action] = []
        self._now = now
        self._expire(now)  # the 6 s guarantee holds also while the token never comes
        for _ in range(64):  # every transition is finite; this only guards against a bug looping
            if not self._step(now, actions):
                break
        self._inbox = _Inbox() if self.state != State.ANSWER_DATA_REQUEST else self._inbox
        return actions

    def deadline(self) -> float | None:
        """When :meth:`run` should be called again if no octet arrives before."""
        t = self.timers
        state = self.state
        if state in (State.INITIALIZE, State.USE_TOKEN, State.DONE_WITH_TOKEN):
            return self.last_activity
        if state == State.IDLE:
            return self.last_activity + t.no_token + _EPSILON
        if state == State.WAIT_FOR_REPLY:
            return self.last_activity + t.reply_timeout + _EPSILON
        if state in (State.PASS_TOKEN, State.POLL_FOR_MASTER):
            return self.last_activity + t.usage_timeout + _EPSILON
        if state == State.NO_TOKEN:
            ours = self.last_activity + t.no_token + t.slot * self.mac
            if self._now >= ours + t.slot:  # our slot went by while we were not looking: the last chance is
                return self.last_activity + t.no_token + t.slot * (self.max_master + 1) + _EPSILON  # after all
            return ours + _EPSILON
        if state == State.ANSWER_DATA_REQUEST and self._request is not None:
            return self._request[1] + t.reply_delay + _EPSILON
        return None

    def _send(self, actions: list[Action], frame_type: int, destination: int, data: bytes = b"") -> None:
        actions.append(Transmit(destination, Frame(frame_type, destination, self.mac, data)))
        # SendFrame restarts SilenceTimer; sent() moves it on to the end of the transmission
        self.last_activity = max(self.last_activity, self._now)
        self.counters[f"sent_{FrameType.name_of(frame_type).lower()}"] += 1

    def _next(self, station: int) -> int:
        return (station + 1) % (self.max_master + 1)

    def _step(self, now: float, actions: list[Action]) -> bool:
        """One transition; True when the next one must be taken at once."""
        return getattr(self, "_state_" + self.state.value)(now, actions)

    def _go(self, state: State) -> bool:
        self.state = state
        return True

    # -- INITIALIZE
    def _state_initialize(self, now: float, actions: list[Action]) -> bool:
        self.next_station = self.poll_station = self.mac
        self.token_count = self.timers.npoll
        self.sole_master = False
        self.last_activity = max(self.last_activity, now)
        return self._go(State.IDLE)

    # -- IDLE
    def _state_idle(self, now: float, actions: list[Action]) -> bool:
        inbox = self._inbox
        if inbox.invalid or inbox.not_for_us:
            inbox.invalid = inbox.not_for_us = False
            if inbox.frame is None:
                return False
        frame = inbox.frame
        if frame is not None:
            inbox.frame = None
            return self._idle_frame(frame, now, actions)
        if self.silence(now) >= self.timers.no_token:
            self.event_count = 0
            self.counters["lost_token"] += 1
            return self._go(State.NO_TOKEN)
        return False

    def _idle_frame(self, frame: Frame, now: float, actions: list[Action]) -> bool:
        kind, broadcast = frame.type, frame.destination == BROADCAST
        if kind == FrameType.TOKEN:
            if broadcast:
                return False
            self.frame_count = 0
            self.sole_master = False
            self.token_times.append(now)
            self.counters["token_received"] += 1
            return self._go(State.USE_TOKEN)
        if kind == FrameType.POLL_FOR_MASTER:
            if not broadcast:
                self._send(actions, FrameType.REPLY_TO_POLL_FOR_MASTER, frame.source)
            return False
        if kind in _DATA_NO_REPLY:
            if broadcast and _is_confirmed_request(frame.data):
                self.counters["dropped_broadcast_confirmed"] += 1  # a BTL rule: never answer those
                return False
            actions.append(Deliver(frame.source, frame.data, broadcast, False))
            return False
        if kind in _DATA_REPLY:
            if broadcast:
                return False
            actions.append(Deliver(frame.source, frame.data, False, True))
            self._request = (frame, now)
            self.state = State.ANSWER_DATA_REQUEST
            return True
        if kind == FrameType.TEST_REQUEST and not broadcast:
            self._send(actions, FrameType.TEST_RESPONSE, frame.source, frame.data)
            return False
        return False  # unwanted: replies nobody waits for, proprietary frames

    # -- USE_TOKEN
    def _state_use_token(self, now: float, actions: list[Action]) -> bool:
        self._expire(now)
        if not self.queue:
            self.frame_count = self.max_info_frames
            return self._go(State.DONE_WITH_TOKEN)
        item = self.queue.popleft()
        extended = len(item.npdu) > MAX_DATA
        if item.expecting_reply:
            kind = FrameType.EXTENDED_DATA_EXPECTING_REPLY if extended else FrameType.DATA_EXPECTING_REPLY
        else:
            kind = FrameType.EXTENDED_DATA_NOT_EXPECTING_REPLY if extended else FrameType.DATA_NOT_EXPECTING_REPLY
        self._send(actions, kind, item.destination, item.npdu)
        self.frame_count += 1
        return self._go(State.WAIT_FOR_REPLY if item.expecting_reply else State.DONE_WITH_TOKEN)

    def _expire(self, now: float) -> None:
        limit = self.timers.message_delay
        while self.queue and now - self.queue[0].queued > limit:
            self.queue.popleft()
            self.counters["dropped_message_delay"] += 1

    # -- WAIT_FOR_REPLY
    def _state_wait_for_reply(self, now: float, actions: list[Action]) -> bool:
        inbox = self._inbox
        frame = inbox.frame
        if frame is None and self.silence(now) >= self.timers.reply_timeout:
            self.frame_count = self.max_info_frames
            self.counters["reply_timeouts"] += 1
            return self._go(State.DONE_WITH_TOKEN)
        if frame is None and (inbox.invalid or inbox.not_for_us):
            inbox.invalid = inbox.not_for_us = False
            return self._go(State.DONE_WITH_TOKEN)
        if frame is None:
            return False
        inbox.frame = None
        if frame.destination == self.mac:
            if frame.type in (FrameType.REPLY_POSTPONED, FrameType.TEST_RESPONSE):
                return self._go(State.DONE_WITH_TOKEN)
            if frame.type in _UNEXPECTED_WHILE_WAITING:
                self.counters["token_dropped"] += 1
                return self._go(State.IDLE)
            actions.append(Deliver(frame.source, frame.data, False, frame.expecting_reply))
            return self._go(State.DONE_WITH_TOKEN)
        # a broadcast while we wait: perhaps a second token on the bus; drop ours
        self.counters["token_dropped"] += 1
        return self._go(State.IDLE)

    # -- DONE_WITH_TOKEN
    def _state_done_with_token(self, now: float, actions: list[Action]) -> bool:
        t = self.timers
        if self.frame_count < self.max_info_frames:
            return self._go(State.USE_TOKEN)
        if not self.sole_master and self.next_station == self.mac:
            self.poll_station = self._next(self.mac)
            self._send(actions, FrameType.POLL_FOR_MASTER, self.poll_station)
            self.retry_count = 0
            return self._go(State.POLL_FOR_MASTER)
        if self.token_count < t.npoll - 1:
            if self.sole_master and self.next_station != self._next(self.mac):
                self.frame_count = 0
                self.token_count += 1
                return self._go(State.USE_TOKEN)
            self.token_count += 1
            self._give_token(actions)
            return self._go(State.PASS_TOKEN)
        if self._next(self.poll_station) == self.next_station:
            if self.sole_master:
                self.poll_station = self._next(self.next_station)
                self._send(actions, FrameType.POLL_FOR_MASTER, self.poll_station)
                self.next_station = self.mac
                self.retry_count = 0
                self.token_count = 1
                return self._go(State.POLL_FOR_MASTER)
            self.poll_station = self.mac
            self._give_token(actions)
            self.token_count = 1
            return self._go(State.PASS_TOKEN)
        self.poll_station = self._next(self.poll_station)
        self._send(actions, FrameType.POLL_FOR_MASTER, self.poll_station)
        self.retry_count = 0
        return self._go(State.POLL_FOR_MASTER)

    def _give_token(self, actions: list[Action]) -> None:
        self._send(actions, FrameType.TOKEN, self.next_station)
        self.retry_count = 0
        self.event_count = 0

    # -- PASS_TOKEN
    def _state_pass_token(self, now: float, actions: list[Action]) -> bool:
        t = self.timers
        if self.silence(now) <= t.usage_timeout:
            if self.event_count > t.nmin_octets:
                return self._go(State.IDLE)  # the next station is using the token
            return False
        if self.retry_count < t.nretry_token:
            self.retry_count += 1
            self._send(actions, FrameType.TOKEN, self.next_station)
            self.event_count = 0
            self.counters["token_retries"] += 1
            return False
        # the next station is gone: look for another
        self.poll_station = self._next(self.next_station)
        self._send(actions, FrameType.POLL_FOR_MASTER, self.poll_station)
        self.counters["successor_lost"] += 1
        self.next_station = self.mac
        self.retry_count = 0
        self.token_count = 0
        return self._go(State.POLL_FOR_MASTER)

    # -- NO_TOKEN
    def _state_no_token(self, now: float, actions: list[Action]) -> bool:
        t = self.timers
        silence = self.silence(now)
        if silence < t.no_token + t.slot * self.mac:
            if self.event_count > t.nmin_octets:
                return self._go(State.IDLE)  # someone else is active
            return False
        ours = t.no_token + t.slot * (self.mac + 1)
        everyone = t.no_token + t.slot * (self.max_master + 1)
        if silence < ours or silence > everyone:
            # our time slot: generate a token by looking for a successor
            self.poll_station = self._next(self.mac)
            self._send(actions, FrameType.POLL_FOR_MASTER, self.poll_station)
            self.next_station = self.mac
            self.retry_count = 0
            self.token_count = 0
            self.counters["token_generated"] += 1
            return self._go(State.POLL_FOR_MASTER)
        if self.event_count > t.nmin_octets:
            return self._go(State.IDLE)
        return False

    # -- POLL_FOR_MASTER
    def _state_poll_for_master(self, now: float, actions: list[Action]) -> bool:
        t = self.timers
        inbox = self._inbox
        frame = inbox.frame
        if frame is not None:
            inbox.frame = None
            if frame.destination == self.mac and frame.type == FrameType.REPLY_TO_POLL_FOR_MASTER:
                self.sole_master = False
                self.next_station = frame.source
                self.counters["masters_found"] += 1
                self._give_token(actions)
                self.poll_station = self.mac
                self.token_count = 0
                return self._go(State.PASS_TOKEN)
            return self._go(State.IDLE)
        if self.silence(now) > t.usage_timeout or inbox.invalid or inbox.not_for_us:
            inbox.invalid = inbox.not_for_us = False
            if self.sole_master:
                self.frame_count = 0
                return self._go(State.USE_TOKEN)
            if self.next_station != self.mac:
                self._give_token(actions)
                return self._go(State.PASS_TOKEN)
            if self._next(self.poll_station) != self.mac:
                self.poll_station = self._next(self.poll_station)
                self._send(actions, FrameType.POLL_FOR_MASTER, self.poll_station)
                self.retry_count = 0
                return False
            self.sole_master = True
            self.frame_count = 0
            self.counters["sole_master"] += 1
            return self._go(State.USE_TOKEN)
        return False

    # -- ANSWER_DATA_REQUEST
    def _state_answer_data_request(self, now: float, actions: list[Action]) -> bool:
        assert self._request is not None
        request, received = self._request
        for index, item in enumerate(self.queue):
            if item.destination == request.source and reply_matches(request.data, item.npdu):
                del self.queue[index]
                extended = len(item.npdu) > MAX_DATA
                kind = FrameType.EXTENDED_DATA_NOT_EXPECTING_REPLY if extended else FrameType.DATA_NOT_EXPECTING_REPLY
                self._send(actions, kind, request.source, item.npdu)
                self.counters["replies_in_time"] += 1
                return self._answered()
        if _crosses_a_router(request.data) or now - received > self.timers.reply_delay:
            self._send(actions, FrameType.REPLY_POSTPONED, request.source)
            return self._answered()
        return False

    def _answered(self) -> bool:
        self._request = None
        self._inbox = _Inbox()
        return self._go(State.IDLE)


# --------------------------------------------------------------------------- replies


def _is_confirmed_request(npdu: bytes) -> bool:
    try:
        decoded = decode_npdu(npdu)
    except DecodeError:
        return False
    return not decoded.is_network_message and bool(decoded.payload) and decoded.payload[0] >> 4 == 0


def _crosses_a_router(npdu: bytes) -> bool:
    try:
        return decode_npdu(npdu).dnet is not None
    except DecodeError:
        return False


def _invoke_and_service(apdu: bytes, request: bool) -> tuple[int, int | None] | None:
    if not apdu:
        return None
    kind, segmented = apdu[0] >> 4, bool(apdu[0] & 0x08)
    try:
        if request:
            if kind != 0:
                return None
            return apdu[2], apdu[5] if segmented else apdu[3]
        if kind in (2, 5):  # SimpleACK, Error
            return apdu[1], apdu[2]
        if kind == 3:  # ComplexACK
            return apdu[1], apdu[4] if segmented else apdu[2]
        if kind in (6, 7):  # Reject, Abort: no service choice
            return apdu[1], None
    except IndexError:
        return None
    return None


def reply_matches(request_npdu: bytes, reply_npdu: bytes) -> bool:
    """Is ``reply_npdu`` the answer to the confirmed request ``request_npdu`` (same peer, invoke ID, service)?

    The caller has checked that the reply goes back to the station the request came from.
    """
    try:
        request, reply = decode_npdu(request_npdu), decode_npdu(reply_npdu)
    except DecodeError:
        return False
    if request.is_network_message or reply.is_network_message:
        return False
    if (request.snet, request.sadr if request.snet is not None else b"") != \
            (reply.dnet, reply.dadr if reply.dnet is not None else b""):
        return False
    asked = _invoke_and_service(request.payload, request=True)
    answered = _invoke_and_service(reply.payload, request=False)
    if asked is None or answered is None or asked[0] != answered[0]:
        return False
    return answered[1] is None or answered[1] == asked[1]
