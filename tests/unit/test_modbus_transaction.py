"""The sans-IO Modbus transaction core on a simulated clock, with an in-memory line: slaves answer with
octets scheduled at given times, noise arrives when the test says, and nothing sleeps."""

from __future__ import annotations

import heapq
from collections.abc import Callable

import pytest

from bacrouter.modbus.codec import DecodeError, ModbusException, Request, ascii_frame, lrc, rtu_frame, tcp_frame
from bacrouter.modbus.transaction import (
    QUIET_LIMIT,
    SETTLE,
    Completed,
    Disconnect,
    SerialTransactions,
    SetSerial,
    Target,
    TcpTransactions,
    Transmit,
    Wait,
    silent_interval,
)
from bacrouter.rs485 import SerialSettings

READ = Request(3, 10, 1)
READ2 = Request(3, 10, 2)
START = 100.0


class SimLine:
    """A master's core on one side of an in-memory line, a scripted far end on the other.

    ``slave(frame)`` returns the pieces of its answer as (delay after the request left the UART, octets);
    ``at(t, octets)`` puts anything else on the line. The clock jumps from event to event."""

    def __init__(self, core: SerialTransactions | TcpTransactions,
                 slave: Callable[[bytes], list[tuple[float, bytes]]] | None = None) -> None:
        self.core, self.slave = core, slave
        self.now = START
        self.sent: list[tuple[float, bytes]] = []  # (when written, octets)
        self.settings: list[SerialSettings] = []
        self.disconnects = 0
        self.heard: list[tuple[float, int, bytes]] = []  # heap of octets due at the master
        self._seq = 0

    def at(self, when: float, data: bytes) -> None:
        heapq.heappush(self.heard, (when, self._seq, data))
        self._seq += 1

    def run(self, target: Target, request: Request = READ) -> Completed:
        actions = self.core.request(target, request, self.now)
        while True:
            until = None
            for action in actions:
                if isinstance(action, SetSerial):
                    self.settings.append(action.settings)
                elif isinstance(action, Transmit):
                    self.sent.append((self.now, action.data))
                    if self.slave is not None:
                        on_wire = target.settings.transmit_time(len(action.data)) if isinstance(
                            self.core, SerialTransactions) else 0.0
                        for delay, piece in self.slave(action.data):
                            self.at(self.now + on_wire + delay, piece)
                elif isinstance(action, Disconnect):
                    self.disconnects += 1
                elif isinstance(action, Wait):
                    until = action.until
                elif isinstance(action, Completed):
                    return action
            assert until is not None
            if self.heard and self.heard[0][0] <= until:
                when, _, data = heapq.heappop(self.heard)
                self.now = max(self.now, when)
                actions = self.core.received(data, self.now)
            else:
                self.now = max(self.now, until)
                actions = self.core.poll(self.now)

    def idle_until(self, when: float) -> None:
        """Let the line carry what is due before ``when`` while no transaction runs."""
        while self.heard and self.heard[0][0] <= when:
            moment, _, data = heapq.heappop(self.heard)
            assert self.core.received(data, moment) == []
        self.now = when


def answer(unit: int, *registers: int) -> bytes:
    return rtu_frame(unit, bytes((3, 2 * len(registers))) + b"".join(r.to_bytes(2, "big") for r in registers))


def replies(*answers: list[tuple[float, bytes]]) -> Callable[[bytes], list[tuple[float, bytes]]]:
    queue = list(answers)
    return lambda frame: queue.pop(0) if queue else []


# --------------------------------------------------------------------------- serial: timing


@pytest.mark.parametrize("baud", [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200])
@pytest.mark.parametrize("parity", ["none", "even"])
def test_a_request_waits_for_t35_after_the_last_answer(baud, parity):
    target = Target(5, timeout=1.0, baud=baud, parity=parity)
    line = SimLine(SerialTransactions(), replies([(0.002, answer(5, 1, 2))], [(0.002, answer(5, 3, 4))]))
    assert line.run(target, READ2).result().values == (1, 2)
    answered = line.now
    assert line.run(target, READ2).result().values == (3, 4)
    t35 = 0.00175 if baud > 19200 else 3.5 * (11 if parity == "even" else 10) / baud
    assert silent_interval(baud, 11 if parity == "even" else 10) == pytest.approx(t35)
    assert line.sent[1][0] - answered == pytest.approx(t35)


def test_the_first_request_on_a_quiet_line_goes_at_once():
    line = SimLine(SerialTransactions(), replies([(0.01, answer(5, 7))]))
    assert line.run(Target(5)).result().values == (7,)
    assert line.sent[0][0] == START


def test_the_silence_before_a_slow_slave_is_the_slower_t35_plus_the_request_gap():
    fast, slow = Target(1, baud=115200), Target(2, baud=1200)
    line = SimLine(SerialTransactions(gap=0.05), replies([(0.001, answer(1, 1))], [(0.001, answer(2, 2))],
                                                          [(0.001, answer(1, 3))]))
    line.run(fast)
    answered = line.now
    line.run(slow)
    assert line.sent[1][0] - answered == pytest.approx(silent_interval(1200, 10) + 0.05)
    answered = line.now
    line.run(fast)  # after the slow slave's answer, its t3.5 still applies
    assert line.sent[2][0] - answered == pytest.approx(silent_interval(1200, 10) + 0.05)


def test_serial_settings_are_switched_only_when_they_differ():
    line = SimLine(SerialTransactions(), replies(*[[(0.001, answer(u, 1))] for u in (1, 1, 2, 2, 1)]))
    for unit, baud in ((1, 9600), (1, 9600), (2, 19200), (2, 19200), (1, 9600)):
        line.run(Target(unit, baud=baud))
    assert line.settings == [SerialSettings(9600), SerialSettings(19200), SerialSettings(9600)]
    line.core.line_lost()  # reopened after an unplug: the settings are applied again
    line.slave = replies([(0.001, answer(1, 1))])
    line.run(Target(1, baud=9600))
    assert line.settings[-1] == SerialSettings(9600) and len(line.settings) == 4


def test_the_answer_timeout_counts_from_the_end_of_the_request_on_the_wire():
    target = Target(5, timeout=0.1, baud=1200)
    line = SimLine(SerialTransactions())
    completed = line.run(target)
    assert isinstance(completed.error, TimeoutError)
    frame = line.sent[0][1]
    assert line.now - START == pytest.approx(len(frame) * 10 / 1200 + 0.1)


# --------------------------------------------------------------------------- serial: answers


def test_an_answer_split_across_reads_is_put_together():
    frame = answer(5, 0x1234, 0x5678)
    pieces = [(0.001 * i, frame[i:i + 2]) for i in range(0, len(frame), 2)]
    line = SimLine(SerialTransactions(), replies(pieces))
    assert line.run(Target(5), READ2).result().values == (0x1234, 0x5678)
    assert line.core.noise == 0


def test_an_answer_after_the_timeout_is_late_and_not_taken_for_the_next_one():
    target = Target(5, timeout=0.1, baud=9600)
    late = answer(5, 111)
    pieces = [(0.11 + 0.002 * (i // 3), late[i:i + 3]) for i in range(0, len(late), 3)]  # 10 ms after the timeout
    line = SimLine(SerialTransactions(), replies(pieces, [(0.002, answer(5, 222))]))
    assert isinstance(line.run(target).error, TimeoutError)
    line.idle_until(line.now + 0.012)  # the poller asks again while the late answer is coming in
    assert line.run(target).result().values == (222,)
    assert line.core.late == 1 and line.core.noise == len(late)
    last_piece = START + target.settings.transmit_time(8) + pieces[-1][0]
    assert line.sent[1][0] == pytest.approx(last_piece + silent_interval(9600, 10))  # not into the late answer


def test_a_late_answer_heard_between_transactions_is_counted_once():
    target = Target(5, timeout=0.05)
    line = SimLine(SerialTransactions(), replies([(0.08, answer(5, 1)), (0.081, b"\x00")]))
    assert isinstance(line.run(target).error, TimeoutError)
    line.idle_until(line.now + 1.0)
    assert line.core.late == 1 and line.core.noise == len(answer(5, 1)) + 1


def test_noise_between_transactions_is_counted_and_delays_the_next_request():
    line = SimLine(SerialTransactions(), replies([(0.002, answer(5, 1))], [(0.002, answer(5, 2))]))
    line.run(Target(5))
    line.at(line.now + 0.5, b"\xff\x00\xff")
    line.idle_until(line.now + 0.5)
    assert line.core.noise == 3 and line.core.late == 0
    noise_at = line.now
    assert line.run(Target(5)).result().values == (2,)
    assert line.sent[1][0] == pytest.approx(noise_at + silent_interval(9600, 10))


def test_noise_during_the_quiet_wait_restarts_it():
    line = SimLine(SerialTransactions(), replies([(0.002, answer(5, 1))]))
    line.at(START + 0.001, b"\x01")
    line.core.received(b"\x02", START)  # the line is busy as the request comes
    assert line.run(Target(5)).result().values == (1,)
    assert line.sent[0][0] == pytest.approx(START + 0.001 + silent_interval(9600, 10))
    assert line.core.noise == 2


def test_a_babbling_line_gets_the_request_anyway():
    line = SimLine(SerialTransactions(), replies([(0.01, answer(5, 1))]))
    line.core.received(b"\x55", START)
    for i in range(1, 1003):
        line.at(START + 0.002 * i, b"\x55")  # an octet every 2 ms: t3.5 of silence never comes
    assert line.run(Target(5)).result().values == (1,)
    need = silent_interval(9600, 10)
    assert START + need + QUIET_LIMIT < line.sent[0][0] <= START + need + QUIET_LIMIT + 0.002
    assert line.core.noise == 1003


def test_an_exception_response_is_the_slaves_no():
    line = SimLine(SerialTransactions(), replies([(0.002, rtu_frame(5, bytes((0x83, 2))))]))
    completed = line.run(Target(5))
    assert isinstance(completed.error, ModbusException) and completed.error.code == 2
    with pytest.raises(ModbusException):
        completed.result()


def test_a_garbled_answer_fails_after_its_rest_has_passed():
    garbled = answer(5, 1, 2)
    garbled = garbled[:-1] + bytes((garbled[-1] ^ 0xFF,))
    trickle = [(0.002 + 0.002 * i, garbled[i:i + 1]) for i in range(len(garbled))]
    line = SimLine(SerialTransactions(), replies(trickle + [(0.002 + 0.002 * len(garbled), b"\x99\x99")]))
    completed = line.run(Target(5, baud=19200), READ2)
    assert isinstance(completed.error, DecodeError)
    last_octet = START + Target(5, baud=19200).settings.transmit_time(8) + 0.002 + 0.002 * len(garbled)
    assert line.now == pytest.approx(last_octet + max(silent_interval(19200, 10), SETTLE))
    assert line.core.noise == 2  # what followed the garbled part


def test_foreign_and_short_answers_are_decode_errors_or_timeouts():
    cases = [
        (rtu_frame(6, bytes((3, 4, 0, 1, 0, 2))), DecodeError),  # another station
        (rtu_frame(5, bytes((4, 4, 0, 1, 0, 2))), DecodeError),  # another function
        (rtu_frame(5, bytes((3, 2, 0, 1))), DecodeError),  # too short for the request
        (answer(5, 1, 2)[:4], TimeoutError),  # cut short
    ]
    line = SimLine(SerialTransactions(), replies(*[[(0.002, frame)] for frame, _ in cases]))
    for _, error in cases:
        assert isinstance(line.run(Target(5, timeout=0.2), READ2).error, error)
    assert line.core.late == 0  # the cut-short answer's rest never came


def test_ascii_answers_and_lrc_errors():
    pdu = bytes((3, 4, 0, 1, 0, 2))
    good = ascii_frame(5, pdu)
    body = bytes((5,)) + pdu
    bad = b":" + (body + bytes(((lrc(body) + 1) & 0xFF,))).hex().upper().encode() + b"\r\n"
    line = SimLine(SerialTransactions(), replies([(0.005, good[:7]), (0.01, good[7:])], [(0.005, bad)]))
    target = Target(5, ascii=True)
    assert line.run(target, READ2).result().values == (1, 2)
    completed = line.run(target, READ2)
    assert isinstance(completed.error, DecodeError) and "LRC" in str(completed.error)
    assert line.sent[0][1].startswith(b":05030")


def test_a_request_while_one_is_under_way_is_refused():
    core = SerialTransactions()
    core.request(Target(5), READ, START)
    with pytest.raises(RuntimeError):
        core.request(Target(5), READ, START)
    core.line_lost()
    assert not core.busy


# --------------------------------------------------------------------------- TCP


def mbap_answer(frame: bytes, *registers: int, transaction: int | None = None) -> bytes:
    tid = int.from_bytes(frame[:2], "big") if transaction is None else transaction
    return tcp_frame(tid, frame[6], bytes((3, 2 * len(registers))) + b"".join(r.to_bytes(2, "big") for r in registers))


def test_tcp_transaction_ids_count_up_and_a_stale_answer_is_skipped():
    def slave(frame: bytes) -> list[tuple[float, bytes]]:
        tid = int.from_bytes(frame[:2], "big")
        if tid == 1:
            return [(0.3, mbap_answer(frame, 111))]  # after the master has given up
        return [(0.01, mbap_answer(frame, 222))]

    line = SimLine(TcpTransactions(), slave)
    assert isinstance(line.run(Target(1, timeout=0.1)).error, TimeoutError)
    assert line.disconnects == 0  # ids tell late answers apart: the connection stays
    line.now += 0.25  # the next request goes out just before the late answer arrives
    assert line.run(Target(1, timeout=0.5)).result().values == (222,)
    assert line.core.stale == 1
    assert [int.from_bytes(frame[:2], "big") for _, frame in line.sent] == [1, 2]


def test_tcp_answers_in_one_read_and_split_across_reads():
    def slave(frame: bytes) -> list[tuple[float, bytes]]:
        whole = mbap_answer(frame, 7, 8)
        return [(0.001, whole[:5]), (0.002, whole[5:])]

    line = SimLine(TcpTransactions(), slave)
    assert line.run(Target(1), READ2).result().values == (7, 8)


def test_tcp_exception_response_and_foreign_unit():
    def slave(frame: bytes) -> list[tuple[float, bytes]]:
        tid = frame[:2]
        if tid == b"\x00\x01":
            return [(0.001, tcp_frame(1, 1, bytes((0x83, 4))))]
        return [(0.001, tcp_frame(2, 9, bytes((3, 2, 0, 1))))]

    line = SimLine(TcpTransactions(), slave)
    completed = line.run(Target(1))
    assert isinstance(completed.error, ModbusException) and completed.error.code == 4
    assert line.disconnects == 0
    completed = line.run(Target(1))
    assert isinstance(completed.error, DecodeError) and line.disconnects == 1


def test_tcp_garbage_drops_the_connection():
    line = SimLine(TcpTransactions(), replies([(0.001, b"\x00\x01\x12\x34\x00\x05\x01\x03")]))
    completed = line.run(Target(1))
    assert isinstance(completed.error, DecodeError) and line.disconnects == 1


def test_tcp_requests_keep_the_gap():
    line = SimLine(TcpTransactions(gap=0.2), lambda frame: [(0.01, mbap_answer(frame, 1))])
    line.run(Target(1))
    done = line.now
    line.run(Target(1))
    assert line.sent[1][0] == pytest.approx(done + 0.2)


def test_rtu_over_tcp_drops_the_connection_on_timeout():
    line = SimLine(TcpTransactions(rtu=True), replies([], [(0.01, answer(5, 9))]))
    assert isinstance(line.run(Target(5, timeout=0.1)).error, TimeoutError)
    assert line.disconnects == 1  # no ids: a late answer would be taken for the next one
    assert line.run(Target(5)).result().values == (9,)
    assert line.sent[1][1] == rtu_frame(5, bytes((3, 0, 10, 0, 1)))
