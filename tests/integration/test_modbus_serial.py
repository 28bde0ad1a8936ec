"""Modbus RTU and ASCII masters on a serial line (a socat pty pair) against pymodbus serial servers,
and the transports' handling of late, foreign and broken answers."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time

import pytest

from bacrouter.modbus.codec import DecodeError, Request, crc16, rtu_frame
from bacrouter.modbus.objects import Reliability
from bacrouter.modbus.transport import SerialTransport, Target, TcpTransport, silent_interval

from ..peers.modbus_peer import SlavePeer, serial_server
from .modbus_harness import PtyPair, free_port, in_loop, obj, point, running, serial_master, slave, until, write_config

pytestmark = pytest.mark.skipif(shutil.which("socat") is None and not os.environ.get("BACROUTER_REQUIRE_ALL"),
                                reason="needs socat")

OK, COMM = Reliability.NO_FAULT, Reliability.COMMUNICATION_FAILURE


@pytest.fixture
def ptys(tmp_path):
    pair = PtyPair(tmp_path)
    yield pair
    pair.close()


def line_config(tmp_path, ptys, protocol, slaves):
    uci = serial_master("line1", "RS485-1", protocol) + "".join(slave(name, "line1", unit, baudrate=19200)
                                                                 for name, unit, _ in slaves)
    return write_config(tmp_path, uci, {name: points for name, _, points in slaves},
                        {"RS485-1": {"type": "USB", "ifname": ptys.a}})


@pytest.mark.parametrize("framer", ["rtu", "ascii"])
@in_loop
async def test_two_slaves_share_a_line(tmp_path, ptys, framer):
    meter, valve = SlavePeer(3), SlavePeer(7)
    meter.set("holding", 100, 1234)
    valve.set("coil", 0, 1)
    server = await serial_server([meter, valve], ptys.b, framer)
    try:
        paths = line_config(tmp_path, ptys, framer, [
            ("meter", 3, [point("power", "ai", "holding", 100, 1, scale=0.01)]),
            ("valve", 7, [point("open", "bo", "coil", 0, 1), point("position", "av", "holding", 2, 2)]),
        ])
        async with running(paths) as node:
            power, valve_open = obj(node, "line1|meter|power"), obj(node, "line1|valve|open")
            await until(lambda: power.reliability == OK and valve_open.reliability == OK, what="both slaves")
            assert power.value == pytest.approx(12.34) and valve_open.value == 1
            await obj(node, "line1|valve|position").write_property("presentValue", 77.0)
            await until(lambda: valve.get("holding", 2) == [77], what="the write on the line")
            assert meter.get("holding", 2) == [0]  # station 3 saw nothing of it
    finally:
        await server.shutdown()


@in_loop
async def test_an_absent_station_goes_offline_without_disturbing_the_other(tmp_path, ptys):
    meter = SlavePeer(3)
    meter.set("holding", 100, 500)
    server = await serial_server([meter], ptys.b, "rtu")
    try:
        paths = line_config(tmp_path, ptys, "rtu", [
            ("meter", 3, [point("power", "ai", "holding", 100, 1)]),
            ("ghost", 9, [point("x", "ai", "holding", 0, 1)]),
        ])
        async with running(paths) as node:
            ghost, power = obj(node, "line1|ghost|x"), obj(node, "line1|meter|power")
            await until(lambda: power.reliability == OK and ghost.reliability == COMM, what="the ghost offline")
            meter.set("holding", 100, 600)
            await until(lambda: power.value == 600.0, what="the meter polled on")
            assert obj(node, "line1|ghost|comm|online").value == 0
            assert obj(node, "line1|meter|comm|online").value == 1
    finally:
        await server.shutdown()


@in_loop
async def test_unplugged_line_fails_requests_and_recovers(tmp_path, ptys):
    transport = SerialTransport(ptys.a)
    target = Target(1, timeout=0.2)
    os.unlink(ptys.a)
    with pytest.raises(OSError):
        await transport.exchange(target, Request(3, 0, 1))
    transport.close()


def test_silent_interval():
    assert silent_interval(9600) == pytest.approx(3.5 * 11 / 9600)
    assert silent_interval(19200) == pytest.approx(3.5 * 11 / 19200)
    assert silent_interval(38400) == 0.00175


@in_loop
async def test_rtu_noise_garbage_and_foreign_answers_are_failures_not_crashes(ptys):
    """The far end of the pty answers each request with one kind of damage, then properly."""
    rng = random.Random(9)
    far = os.open(ptys.b, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    loop = asyncio.get_running_loop()
    answers: list[bytes] = []
    request = Request(3, 10, 2)
    good = rtu_frame(5, bytes((3, 4, 0, 1, 0, 2)))
    damaged = [
        rng.randbytes(30),
        good[:-1] + bytes((good[-1] ^ 0xFF,)),  # CRC
        rtu_frame(6, bytes((3, 4, 0, 1, 0, 2))),  # another station
        rtu_frame(5, bytes((4, 4, 0, 1, 0, 2))),  # another function
        rtu_frame(5, bytes((3, 2, 0, 1))),  # too short for the request
        rtu_frame(5, bytes((0x83, 2, 0))),  # an exception one octet too long
        good[:4],  # cut short
    ]

    def heard() -> None:
        try:
            os.read(far, 256)
        except BlockingIOError:
            return
        os.write(far, answers.pop(0) if answers else good)

    loop.add_reader(far, heard)
    transport = SerialTransport(ptys.a)
    try:
        for broken in damaged:
            answers.append(broken)
            with pytest.raises((DecodeError, TimeoutError)):
                await transport.exchange(Target(5, timeout=0.15), request)
        response = await transport.exchange(Target(5, timeout=0.5), request)
        assert response.values == (1, 2)
        assert crc16(good) == 0
    finally:
        loop.remove_reader(far)
        os.close(far)
        transport.close()


@in_loop
async def test_tcp_late_answers_are_recognised_by_transaction():
    port = free_port()

    async def serve(reader, writer):
        first = True
        while True:
            try:
                header = await reader.readexactly(7)
            except asyncio.IncompleteReadError:
                return
            pdu = await reader.readexactly(int.from_bytes(header[4:6], "big") - 1)
            if first:
                await asyncio.sleep(0.3)  # longer than the master waits
                first = False
            writer.write(header[:4] + b"\x00\x05" + header[6:7] + bytes((pdu[0], 2, 0, 42)))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    transport = TcpTransport("127.0.0.1", port)
    try:
        with pytest.raises(TimeoutError):
            await transport.exchange(Target(1, timeout=0.1), Request(3, 0, 1))
        await asyncio.sleep(0.3)
        assert (await transport.exchange(Target(1, timeout=0.5), Request(3, 0, 1))).values == (42,)
        assert transport.stale == 1
    finally:
        transport.close()
        server.close()


class FarEnd:
    """The other side of the pty: answers each request with what the test queued, octet timing included."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.heard: list[float] = []  # when each request arrived
        self.replies: list[list[tuple[float, bytes]]] = []  # per request: (delay, octets) pieces
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.fd, self._heard)

    def _heard(self) -> None:
        try:
            os.read(self.fd, 256)
        except BlockingIOError:
            return
        self.heard.append(time.monotonic())
        for delay, piece in self.replies.pop(0) if self.replies else []:
            self.loop.call_later(delay, os.write, self.fd, piece)

    def close(self) -> None:
        self.loop.remove_reader(self.fd)
        os.close(self.fd)


@in_loop
async def test_a_garbled_answer_is_let_pass_before_the_next_request(ptys):
    far = FarEnd(ptys.b)
    transport = SerialTransport(ptys.a)
    foreign = rtu_frame(9, bytes((3, 100)) + bytes(100))  # another station's long answer, trickling in
    # four octets every 2 ms, as a USB adapter hands them over: one frame at 19200 baud, 55 ms long
    pieces = [foreign[i:i + 4] for i in range(0, len(foreign), 4)]
    far.replies.append([(0.01 + 0.002 * i, piece) for i, piece in enumerate(pieces)])
    far.replies.append([(0.005, rtu_frame(5, bytes((3, 2, 0, 7))))])
    try:
        with pytest.raises(DecodeError):
            await transport.exchange(Target(5, timeout=0.5, baud=19200), Request(3, 0, 1))
        response = await transport.exchange(Target(5, timeout=0.5, baud=19200), Request(3, 0, 1))
        assert response.values == (7,)
        last_piece = far.heard[0] + 0.01 + 0.002 * (len(pieces) - 1)
        assert far.heard[1] >= last_piece + silent_interval(19200, 10)  # not into the foreign answer
    finally:
        far.close()
        transport.close()


@in_loop
async def test_the_silence_before_a_slow_slave_is_its_own_t35(ptys):
    far = FarEnd(ptys.b)
    transport = SerialTransport(ptys.a)
    far.replies.append([(0.001, rtu_frame(1, bytes((3, 2, 0, 1))))])
    far.replies.append([(0.001, rtu_frame(2, bytes((3, 2, 0, 2))))])
    try:
        await transport.exchange(Target(1, timeout=0.5, baud=115200), Request(3, 0, 1))
        answered = time.monotonic()
        await transport.exchange(Target(2, timeout=0.5, baud=1200), Request(3, 0, 1))
        assert far.heard[1] - answered >= silent_interval(1200, 10) * 0.95  # 29 ms, not 115200's 1.75 ms
    finally:
        far.close()
        transport.close()


@in_loop
async def test_a_closed_transport_never_reopens_the_line(ptys):
    transport = SerialTransport(ptys.a)
    transport.close()
    with pytest.raises(OSError):
        await transport.exchange(Target(1, timeout=0.1), Request(3, 0, 1))
