"""The MS/TP shell without hardware: echo filter, pcap writer, and the worker on a pty pair."""

from __future__ import annotations

import os
import struct
import threading
import time
import tty

import pytest

from bacrouter.mstp.capture import LINKTYPE_MSTP, PcapWriter
from bacrouter.mstp.frame import Frame, FrameType, encode_frame
from bacrouter.mstp.link import MstpLink
from bacrouter.mstp.port import EchoFilter, MstpWorker

TOKEN = encode_frame(Frame(FrameType.TOKEN, 2, 1))
OTHER = encode_frame(Frame(FrameType.TOKEN, 1, 2))


def test_echo_filter_removes_our_frame_and_passes_everything_else():
    echo = EchoFilter()
    echo.wrote(TOKEN)
    assert echo.filter(TOKEN[:3]) == b"" and echo.filter(TOKEN[3:] + OTHER) == OTHER
    assert echo.echoed == len(TOKEN)
    echo.wrote(TOKEN)  # an adapter that does not echo: the reply starts like our frame, then differs
    assert echo.filter(OTHER[:2]) == b""
    assert echo.filter(OTHER[2:]) == OTHER and echo.echoed == len(TOKEN)  # held octets come out first


def test_echo_filter_expects_every_frame_written_in_order():
    # a token use writes data frames and then the token before the first echo is read
    data = encode_frame(Frame(FrameType.DATA_NOT_EXPECTING_REPLY, 255, 3, b"\x01\x20\xff\xff\x00\xff\x10\x08"))
    echo = EchoFilter()
    echo.wrote(data, now=0.0)
    echo.wrote(TOKEN, now=0.001)
    assert echo.filter(data[:5], now=0.002) == b"" and echo.filter(data[5:] + TOKEN + OTHER, now=0.004) == OTHER
    assert echo.echoed == len(data) + len(TOKEN)


def test_echo_filter_forgets_frames_that_never_came_back():
    echo = EchoFilter(window=0.25)
    for at in range(10):  # a sole master polling on an adapter that does not echo
        echo.wrote(TOKEN, now=at * 0.1)
    assert len(echo.expected) <= 4
    assert echo.filter(TOKEN, now=5.0) == TOKEN  # long after: another node's identical frame is not ours


def test_echo_filter_is_transparent_without_a_write():
    assert EchoFilter().filter(OTHER) == OTHER


def test_pcap_writer_produces_link_type_165(tmp_path):
    writer = PcapWriter(tmp_path / "a.pcap")
    writer.add(TOKEN, time.monotonic())
    writer.add(OTHER, time.monotonic())
    writer.close()
    data = (tmp_path / "a.pcap").read_bytes()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, LINKTYPE_MSTP)
    _, _, incl, orig = struct.unpack_from("<IIII", data, 24)
    assert incl == orig == len(TOKEN) and data[40:48] == TOKEN
    assert writer.status()["frames"] == 2


def test_pcap_writer_time_only_goes_forward(tmp_path):
    writer = PcapWriter(tmp_path / "c.pcap")
    now = time.monotonic()
    for stamp in (now, now + 0.002, now + 0.001, now + 0.003):  # the third would go back 1 ms
        writer.add(TOKEN, stamp)
    writer.close()
    data = (tmp_path / "c.pcap").read_bytes()
    stamps = [struct.unpack_from("<II", data, 24 + i * (16 + len(TOKEN))) for i in range(4)]
    micros = [seconds * 1_000_000 + micro for seconds, micro in stamps]
    assert micros == sorted(micros) and micros[1] == micros[2] and micros[3] - micros[0] == pytest.approx(3000, abs=2)
    assert writer.status()["held"] == 1


def test_pcap_writer_stops_at_its_size_limit(tmp_path):
    writer = PcapWriter(tmp_path / "b.pcap", max_bytes=24 + 3 * (16 + len(TOKEN)))
    for _ in range(10):
        writer.add(TOKEN, 0.0)
    writer.close()
    assert writer.frames == 3 and writer.full


class Pty:
    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave

    def close(self) -> None:
        os.close(self.master)
        os.close(self._slave)


def test_worker_answers_a_poll_for_master_on_a_tty():
    pty = Pty()
    states: list[str] = []
    worker = MstpWorker("t", pty.path, lambda: MstpLink(3, max_master=5), lambda *a: None,
                        lambda state, reason: states.append(state), realtime=False)
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while "up" not in states and time.monotonic() < deadline:
            time.sleep(0.01)
        os.write(pty.master, encode_frame(Frame(FrameType.POLL_FOR_MASTER, 3, 1)))
        answer = b""
        while len(answer) < 8 and time.monotonic() < deadline:
            try:
                answer += os.read(pty.master, 64)
            except BlockingIOError:
                time.sleep(0.001)
        assert answer[:8] == encode_frame(Frame(FrameType.REPLY_TO_POLL_FOR_MASTER, 1, 3))
        status = worker.call(lambda link: link.status(time.monotonic()))
        assert status["node"]["sent_reply_to_poll_for_master"] == 1
    finally:
        worker.stop()
        pty.close()
    assert states[-1] == "stopped"


def test_worker_reports_a_fault_and_retries_when_the_tty_cannot_open(monkeypatch):
    import bacrouter.mstp.port as port

    monkeypatch.setattr(port, "RETRY_FIRST", 0.05, raising=False)
    attempts = []
    opened = threading.Event()

    def opener(path, baud):
        attempts.append(path)
        if len(attempts) < 3:
            raise OSError(2, "No such file or directory")
        opened.set()
        raise OSError(19, "No such device")

    reasons: list[tuple[str, str]] = []
    worker = MstpWorker("t", "/dev/ttyUSB9", lambda: MstpLink(3), lambda *a: None,
                        lambda state, reason: reasons.append((state, reason)), opener=opener, realtime=False)
    worker.start()
    try:
        assert opened.wait(5)
        assert worker.call(lambda link: "never") is None  # status calls are answered while the line is down
    finally:
        worker.stop()
    assert reasons[0] == ("fault", "cannot open /dev/ttyUSB9: [Errno 2] No such file or directory")
    assert len(attempts) >= 3


class StalledLine:
    """An adapter that opens but takes no data: every write fails as SerialLine's does after 1 s."""

    notes: list[str] = []

    def __init__(self, path, baud) -> None:
        self._r, self._w = os.pipe()
        self.fd = self._r

    def read(self) -> bytes:
        return b""

    def write(self, data: bytes) -> None:
        raise OSError(f"{'/dev/ttyUSB9'}: the adapter takes no data (write stalled)")

    def set_baud(self, baud: int) -> None:
        pass

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


def test_a_stalled_adapter_is_one_fault_retried_with_back_off(monkeypatch):
    """Issue 10 item 10: a line that opens and stalls at once is not up and down on every try; the tries
    come less and less often (back-off), and the state is reported once, with the schedule in status."""
    import bacrouter.mstp.port as port

    monkeypatch.setattr(port, "RETRY_FIRST", 0.05, raising=False)
    monkeypatch.setattr(port, "RETRY_MAX", 0.4, raising=False)
    monkeypatch.setattr(port, "PROBATION", 2.0, raising=False)
    opened: list[float] = []

    def opener(path, baud):
        opened.append(time.monotonic())
        return StalledLine(path, baud)

    states: list[tuple[str, str]] = []
    worker = MstpWorker("t", "/dev/ttyUSB9", lambda: MstpLink(3), lambda *a: None,
                        lambda state, reason: states.append((state, reason)), opener=opener, realtime=False)
    worker.start()
    try:
        deadline = time.monotonic() + 8
        while len(opened) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        retry = worker.retry_status()
    finally:
        worker.stop()
    assert len(opened) >= 6
    # the first open is up (a fresh start), the stall a fault; the retries change nothing visible
    assert states[:2] == [("up", ""), ("fault", "/dev/ttyUSB9: the adapter takes no data (write stalled)")]
    assert states[2:] == [("stopped", "")]
    assert retry is not None and retry["failures"] >= 5 and retry["every_s"] == 0.4 and retry["max_s"] == 0.4
    # the pause after each failure doubles (0.05, 0.1, 0.2, 0.4): tries come further apart
    gaps = [b - a for a, b in zip(opened, opened[1:], strict=False)]
    assert gaps[3] > gaps[0] + 0.2
