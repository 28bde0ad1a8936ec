"""Modbus transactions, sans-IO: what a master sends, when, and what the octets that come back mean.

One object per master: :class:`SerialTransactions` for an RS485 line (RTU or
ASCII per slave, each with its own serial settings), :class:`TcpTransactions`
for a TCP connection (MBAP with transaction ids, or RTU frames over TCP). A
transaction starts with ``request(target, request, now)`` and goes on with
``received(data, now)`` (octets, stamped with when they arrived) and
``poll(now)`` (time passed). Each call returns the actions for the shell to
carry out, in order:

- :class:`SetSerial` -- open the line, or switch it, to these settings
- :class:`Transmit` -- write these octets now
- :class:`Disconnect` -- drop the TCP connection (the stream cannot be resynchronised)
- :class:`Wait` -- call ``poll`` at ``until``, unless octets arrive first
- :class:`Completed` -- the transaction is over: a response, or the error to raise

The error of a Completed is a :class:`~.codec.ModbusException` (the slave said
no), a :class:`~.codec.DecodeError` (garbled or foreign answer) or a
``TimeoutError`` (no answer). Nothing here reads a clock or touches a file
descriptor; the shells in :mod:`.transport` only carry the actions out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..rs485 import IdleWait, SerialSettings, octet_bits
from .codec import (
    AsciiReceiver,
    DecodeError,
    ModbusException,
    Request,
    Response,
    RtuReceiver,
    TcpReceiver,
    ascii_frame,
    decode_response,
    encode_request,
    rtu_frame,
    tcp_frame,
)

__all__ = [
    "Target",
    "silent_interval",
    "SetSerial",
    "Transmit",
    "Disconnect",
    "Wait",
    "Completed",
    "Action",
    "SerialTransactions",
    "TcpTransactions",
    "SETTLE",
    "QUIET_LIMIT",
]

#: silence that ends a garbled answer (seconds): longer than the bursts of USB serial adapters
SETTLE = 0.02
#: a line that never falls quiet for this long gets the request anyway (a babbling line must not stop the master)
QUIET_LIMIT = 2.0

_NEVER = float("-inf")


@dataclass(frozen=True)
class Target:
    """Who a request is for, and how to reach it."""

    unit: int
    timeout: float = 1.0
    baud: int = 9600
    parity: str = "none"
    stop_bits: int = 1
    ascii: bool = False
    data_bits: int = 8

    @property
    def settings(self) -> SerialSettings:
        return SerialSettings(self.baud, self.parity, self.stop_bits, self.data_bits)


def silent_interval(baud: int, bits: int = 11) -> float:
    """t3.5: 3.5 character times, fixed at 1.75 ms above 19200 baud (Modbus over serial line, 2.5.1.1)."""
    if baud > 19200:
        return 0.00175
    return 3.5 * bits / baud


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class SetSerial:
    """Open the line at these settings, or switch it to them (only emitted when they differ)."""

    settings: SerialSettings


@dataclass(frozen=True)
class Transmit:
    """Write these octets now."""

    data: bytes


@dataclass(frozen=True)
class Disconnect:
    """Close the TCP connection; the next Transmit opens a fresh one."""


@dataclass(frozen=True)
class Wait:
    """Nothing to do before ``until`` (monotonic seconds) unless octets arrive."""

    until: float


@dataclass(frozen=True)
class Completed:
    """The end of a transaction: ``response``, or ``error`` to raise."""

    response: Response | None = None
    error: Exception | None = None

    def result(self) -> Response:
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


Action = SetSerial | Transmit | Disconnect | Wait | Completed


class _Phase(Enum):
    IDLE = "idle"
    QUIET = "quiet"  # waiting for the silence before the request
    ANSWER = "answer"  # request sent, collecting its answer
    SETTLE = "settle"  # a garbled answer: letting the rest of it pass


def _complete(response: Response | None = None, error: Exception | None = None) -> list[Action]:
    return [Completed(response, error)]


def _decoded(request: Request, pdu: bytes) -> Completed:
    try:
        return Completed(decode_response(request, pdu))
    except (ModbusException, DecodeError) as err:
        return Completed(error=err)


# --------------------------------------------------------------------------- serial line


class SerialTransactions:
    """The transactions of a master on an RS485 line shared by slaves with different settings.

    Owns the line's timing as the master knows it: the moment it last carried
    an octet (heard, or the end of our own frame), the settings it runs at and
    the t3.5 of the slave that used it last. A request goes out only after the
    line has been silent for t3.5 (of the slower of the previous and the next
    settings) plus ``gap``; octets heard meanwhile restart that silence. The
    answer is due ``timeout`` after the request has left the UART; a garbled
    one fails only after its rest has passed (SETTLE of silence), so the next
    request is not sent into it.

    Counts ``noise`` (octets heard while no answer was awaited, late answers
    included) and ``late`` (timed-out requests whose answer came after all,
    before the next request went out). A late answer that starts only after
    the next request has left cannot be told from its answer (RTU and ASCII
    have no ids): on a half-duplex line it would have collided with it, and
    the receiver's unit, function and length checks are all that remains.
    """

    def __init__(self, gap: float = 0.0) -> None:
        self.gap = gap  # extra silence between requests (request_gap_ms)
        self.noise = 0
        self.late = 0
        self.last = _NEVER  # the last octet on the line
        self.settings: SerialSettings | None = None  # what the line runs at; None: closed
        self._silence = 0.0  # t3.5 of the settings that used the line last
        self._phase = _Phase.IDLE
        self._target: Target | None = None
        self._request: Request | None = None
        self._receiver: RtuReceiver | AsciiReceiver | None = None
        self._this_silence = 0.0
        self._idle: IdleWait | None = None
        self._deadline = 0.0
        self._error: Exception | None = None
        self._timed_out = False  # the last transaction timed out: the next octets heard are its late answer

    @property
    def busy(self) -> bool:
        return self._phase is not _Phase.IDLE

    def request(self, target: Target, request: Request, now: float) -> list[Action]:
        if self.busy:
            raise RuntimeError("a Modbus transaction is already under way on this line")
        self._target, self._request = target, request
        bits = octet_bits(target.parity, target.stop_bits, target.data_bits)
        self._this_silence = silent_interval(target.baud, bits)
        need = max(self._this_silence, self._silence) + self.gap
        self._idle = IdleWait(need, now, QUIET_LIMIT, last=self.last)
        self._phase = _Phase.QUIET
        return self.poll(now)

    def poll(self, now: float) -> list[Action]:
        if self._phase is _Phase.QUIET or self._phase is _Phase.SETTLE:
            assert self._idle is not None
            if not (self._idle.ready(now) or self._idle.failed(now)):
                return [Wait(self._idle.wake_at())]
            if self._phase is _Phase.QUIET:
                return self._transmit(now)
            return self._finish(Completed(error=self._error))
        if self._phase is _Phase.ANSWER:
            if now < self._deadline:
                return [Wait(self._deadline)]
            self._timed_out = True
            assert self._target is not None
            return self._finish(Completed(error=TimeoutError(f"no answer from unit {self._target.unit}")))
        return []

    def received(self, data: bytes, now: float) -> list[Action]:
        if not data:
            return self.poll(now)
        self.last = now
        if self._phase is _Phase.ANSWER:
            assert self._receiver is not None and self._request is not None
            try:
                pdu = self._receiver.feed(data)
            except DecodeError as err:
                self._error = err
                self._phase = _Phase.SETTLE
                self._idle = IdleWait(max(self._this_silence, SETTLE) + self.gap, now, QUIET_LIMIT, last=now)
                return self.poll(now)
            if pdu is None:
                return [Wait(self._deadline)]
            return self._finish(_decoded(self._request, pdu))
        self.noise += len(data)
        if self._timed_out:
            self.late += 1
            self._timed_out = False
        if self._idle is not None and self.busy:
            self._idle.heard(now)
        return self.poll(now)

    def line_lost(self) -> None:
        """The shell lost the line (unplugged, stopped): the transaction under way is over, and the next one
        opens the line again."""
        self.settings = None
        if self.busy:
            self._finish(Completed(error=OSError("line lost")))

    def _transmit(self, now: float) -> list[Action]:
        target, request = self._target, self._request
        assert target is not None and request is not None
        actions: list[Action] = []
        settings = target.settings
        if settings != self.settings:
            actions.append(SetSerial(settings))
            self.settings = settings
        pdu = encode_request(request)
        if target.ascii:
            frame, self._receiver = ascii_frame(target.unit, pdu), AsciiReceiver(target.unit, request)
        else:
            frame, self._receiver = rtu_frame(target.unit, pdu), RtuReceiver(target.unit, request)
        self.last = now + settings.transmit_time(len(frame))  # the frame leaves the UART then
        self._deadline = self.last + target.timeout
        self._timed_out = False  # from here on a late answer could not be told from this one's
        self._phase = _Phase.ANSWER
        return actions + [Transmit(frame), Wait(self._deadline)]

    def _finish(self, completed: Completed) -> list[Action]:
        self._silence = self._this_silence
        self._phase = _Phase.IDLE
        self._receiver = self._idle = self._error = None
        return [completed]


# --------------------------------------------------------------------------- TCP


class TcpTransactions:
    """The transactions of a master on one TCP connection: Modbus TCP (MBAP), or RTU frames over TCP.

    Owns the transaction id and the MBAP receiver: an answer carrying the id
    of an earlier request (one that timed out) is counted in ``stale`` and
    skipped, never taken for the answer awaited. RTU over TCP has no ids: a
    timeout drops the connection, or the late answer would be taken for the
    next one. A garbled stream cannot be resynchronised either: it is dropped.
    Requests are at least ``gap`` apart (from the end of one transaction to the
    next request). ``noise`` counts RTU octets heard while no answer was awaited.
    """

    def __init__(self, rtu: bool = False, gap: float = 0.0) -> None:
        self.rtu, self.gap = rtu, gap
        self.transaction = 0
        self.stale = 0
        self.noise = 0
        self._receiver = TcpReceiver()
        self._quiet_from = _NEVER
        self._phase = _Phase.IDLE
        self._target: Target | None = None
        self._request: Request | None = None
        self._rtu_receiver: RtuReceiver | None = None
        self._deadline = 0.0

    @property
    def busy(self) -> bool:
        return self._phase is not _Phase.IDLE

    def request(self, target: Target, request: Request, now: float) -> list[Action]:
        if self.busy:
            raise RuntimeError("a Modbus transaction is already under way on this connection")
        self._target, self._request = target, request
        self._phase = _Phase.QUIET
        return self.poll(now)

    def poll(self, now: float) -> list[Action]:
        if self._phase is _Phase.QUIET:
            return self._transmit(now) if now >= self._quiet_from else [Wait(self._quiet_from)]
        if self._phase is _Phase.ANSWER:
            if now < self._deadline:
                return [Wait(self._deadline)]
            assert self._target is not None
            error = TimeoutError(f"no answer from unit {self._target.unit}")
            return self._finish(now, Completed(error=error), disconnect=self.rtu)
        return []

    def received(self, data: bytes, now: float) -> list[Action]:
        if not data:
            return self.poll(now)
        answering = self._phase is _Phase.ANSWER
        request, target = self._request, self._target
        if self.rtu:
            if not answering or self._rtu_receiver is None:
                self.noise += len(data)
                return self.poll(now)
            assert request is not None
            try:
                pdu = self._rtu_receiver.feed(data)
            except DecodeError as err:
                return self._finish(now, Completed(error=err), disconnect=True)
            if pdu is None:
                return [Wait(self._deadline)]
            answer = _decoded(request, pdu)
            return self._finish(now, answer, disconnect=isinstance(answer.error, DecodeError))
        try:
            answers = self._receiver.feed(data)
        except DecodeError as err:
            if answering:
                return self._finish(now, Completed(error=err), disconnect=True)
            self._receiver = TcpReceiver()
            return [Disconnect()] + self.poll(now)
        completed: Completed | None = None
        for transaction, unit, pdu in answers:
            if completed is not None or not answering or transaction != self.transaction:
                self.stale += 1
                continue
            assert request is not None and target is not None
            if unit != target.unit and unit not in (0, 255):
                completed = Completed(error=DecodeError(f"answer from unit {unit}, not {target.unit}"))
            else:
                completed = _decoded(request, pdu)
        if completed is not None:
            return self._finish(now, completed, disconnect=isinstance(completed.error, DecodeError))
        return self.poll(now)

    def connection_lost(self, now: float) -> None:
        """The shell lost the connection (refused, reset, closed): whatever was buffered is gone."""
        self._receiver = TcpReceiver()
        if self.busy:
            self._finish(now, Completed(error=OSError("connection lost")))

    def _transmit(self, now: float) -> list[Action]:
        target, request = self._target, self._request
        assert target is not None and request is not None
        pdu = encode_request(request)
        if self.rtu:
            frame = rtu_frame(target.unit, pdu)
            self._rtu_receiver = RtuReceiver(target.unit, request)
        else:
            self.transaction = (self.transaction + 1) & 0xFFFF
            frame = tcp_frame(self.transaction, target.unit, pdu)
        self._deadline = now + target.timeout
        self._phase = _Phase.ANSWER
        return [Transmit(frame), Wait(self._deadline)]

    def _finish(self, now: float, completed: Completed, disconnect: bool = False) -> list[Action]:
        self._phase = _Phase.IDLE
        self._rtu_receiver = None
        self._quiet_from = now + self.gap
        if disconnect:
            self._receiver = TcpReceiver()
            return [Disconnect(), completed]
        return [completed]
