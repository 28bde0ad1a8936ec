"""The shared RS485 line shell (Rs485Line) over a socketpair standing in for the tty: settings, quiet wait,
silence-ended answers, echo removal. The sans-IO timing rules are tested in test_freeclient_sandbox and
test_modbus_transaction; here only that the shell keeps them."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from bacrouter.rs485 import (
    ANSWERED,
    BUSY,
    NO_ANSWER,
    OVERFLOW,
    QUIET,
    STOPPED,
    Answer,
    IdleWait,
    Rs485Line,
    SerialSettings,
)


class FakeTty:
    """A tty whose far end is a socket the test writes to and reads from."""

    opened: list[FakeTty] = []

    def __init__(self, path: str, baud: int, parity: str = "none", stop_bits: int = 1, data_bits: int = 8) -> None:
        self.ours, self.far = socket.socketpair()
        self.ours.setblocking(False)
        self.fd = self.ours.fileno()
        self.configured = [(baud, parity, stop_bits, data_bits)]
        self.closed = False
        FakeTty.opened.append(self)

    def configure(self, baud: int, parity: str = "none", stop_bits: int = 1, data_bits: int = 8) -> None:
        self.configured.append((baud, parity, stop_bits, data_bits))

    def write(self, data: bytes) -> None:
        self.ours.sendall(data)

    def read(self) -> bytes:
        try:
            data = self.ours.recv(4096)
        except BlockingIOError:
            return b""
        if not data:
            raise OSError("gone")
        return data

    def close(self) -> None:
        self.closed = True
        self.ours.close()
        self.far.close()


@pytest.fixture
def line():
    FakeTty.opened.clear()
    line = Rs485Line("/dev/fake", open_line=FakeTty)
    yield line
    line.close()


def later(delay: float, action) -> threading.Timer:
    timer = threading.Timer(delay, action)
    timer.start()
    return timer


def test_the_tty_is_opened_once_and_switched_only_when_the_settings_differ(line):
    slow, fast = SerialSettings(9600), SerialSettings(38400, "even")
    line.use(slow)
    line.use(slow)
    line.use(fast)
    line.use(fast)
    (tty,) = FakeTty.opened
    assert tty.configured == [(9600, "none", 1, 8), (38400, "even", 1, 8)]
    line.close()
    assert tty.closed and not line.is_open
    line.use(fast)  # reopened at the settings asked for
    assert FakeTty.opened[1].configured == [(38400, "even", 1, 8)]


def test_the_quiet_wait_counts_octets_heard_as_noise(line):
    line.use(SerialSettings(9600))
    tty = FakeTty.opened[0]
    tty.far.send(b"\x01\x02")  # waiting since before the wait began
    started = time.monotonic()
    later(0.01, lambda: tty.far.send(b"\x03"))
    assert line.wait_quiet(0.03) == QUIET
    assert line.noise == 3
    assert time.monotonic() - started >= 0.04 - 0.005  # 30 ms of silence after the octet at 10 ms


def test_a_line_quiet_since_its_last_octet_needs_no_further_wait(line):
    line.use(SerialSettings(9600))
    line.last = time.monotonic() - 1.0
    started = time.monotonic()
    assert line.wait_quiet(0.05) == QUIET
    assert time.monotonic() - started < 0.03


def test_a_babbling_line_fails_the_quiet_wait_and_a_stop_ends_it(line):
    line.use(SerialSettings(9600))
    tty = FakeTty.opened[0]
    babble = threading.Event()

    def talk() -> None:
        while not babble.is_set():
            tty.far.send(b"\x55")
            time.sleep(0.002)

    talker = threading.Thread(target=talk)
    talker.start()
    try:
        assert line.wait_quiet(0.02, limit=0.05) == BUSY
        stop = threading.Event()
        stop.set()
        assert line.wait_quiet(0.02, limit=1.0, stop=stop) == STOPPED
    finally:
        babble.set()
        talker.join()


def test_an_answer_ends_with_a_silence(line):
    line.use(SerialSettings(19200))
    tty = FakeTty.opened[0]
    sent = line.send(b"\x01\x03\x00\x00\x00\x01")
    assert tty.far.recv(64) == b"\x01\x03\x00\x00\x00\x01"
    assert sent >= line.last - 1e-9 and sent > time.monotonic() - 0.01
    later(0.005, lambda: tty.far.send(b"\x01\x03"))
    later(0.010, lambda: tty.far.send(b"\x02\x00\x07"))
    later(0.100, lambda: tty.far.send(b"\xee"))  # after the gap: not part of the answer
    assert line.receive(sent, timeout=0.5, gap=0.03) == (ANSWERED, b"\x01\x03\x02\x00\x07")
    assert line.receive(time.monotonic(), timeout=0.5, gap=0.01) == (ANSWERED, b"\xee")  # the next one


def test_no_answer_overflow_and_stop(line):
    line.use(SerialSettings(9600))
    tty = FakeTty.opened[0]
    assert line.receive(time.monotonic(), timeout=0.02, gap=0.01) == (NO_ANSWER, b"")
    tty.far.send(b"abcdef")
    assert line.receive(time.monotonic(), timeout=0.5, gap=0.02, maxlen=4) == (OVERFLOW, b"abcd")
    stop = threading.Event()
    stop.set()
    assert line.receive(time.monotonic(), timeout=0.5, gap=0.02, stop=stop) == (STOPPED, b"")


def test_an_echoing_adapter_loses_our_frame_not_the_answer():
    FakeTty.opened.clear()
    line = Rs485Line("/dev/fake", echo=True, open_line=FakeTty)
    try:
        line.use(SerialSettings(2400, "even"))
        tty = FakeTty.opened[0]
        request = b"\x10\x5b\x01\x5c\x16"
        sent = line.send(request)
        tty.far.send(tty.far.recv(64))  # the adapter hands our frame back
        later(0.02, lambda: tty.far.send(b"\xe5"))
        assert line.receive(sent, timeout=0.5, gap=0.03) == (ANSWERED, b"\xe5")
    finally:
        line.close()


def test_a_lost_adapter_is_an_oserror_and_the_line_reopens(line):
    line.use(SerialSettings(9600))
    FakeTty.opened[0].far.close()
    with pytest.raises(OSError):
        line.wait_quiet(0.01)
    line.close()
    line.use(SerialSettings(9600))
    assert len(FakeTty.opened) == 2 and line.wait_quiet(0.001) == QUIET


def test_the_sans_io_rules_wake_exactly_when_they_asked_to():
    idle = IdleWait(0.1, now=0.3, last=0.2)
    assert idle.ready(idle.wake_at()) and not idle.ready(0.29)
    answer = Answer(0.0, timeout=0.3, gap=0.1)
    answer.feed(b"x", 0.2)
    assert answer.result(answer.wake_at()) == ANSWERED
