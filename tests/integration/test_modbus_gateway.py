"""The Modbus gateway against pymodbus slaves on loopback TCP: values, writes, offline logic, read-back, COV.

The router runs in the test's event loop without BACnet ports; objects are
read and written through the same ``read_property`` / ``write_property``
calls bacpypes3's services make (the BACnet side end to end is in
test_modbus_bacnet.py).
"""

from __future__ import annotations

import asyncio
import math
import struct

import pytest
from bacpypes3.errors import ExecutionError
from bacpypes3.primitivedata import Real

from bacrouter.modbus import gateway as gateway_module
from bacrouter.modbus.objects import Reliability

from ..peers.modbus_peer import SlavePeer, tcp_server
from .modbus_harness import free_port, in_loop, obj, point, running, slave, tcp_master, until, write_config

COMM, UNRELIABLE, OK = Reliability.COMMUNICATION_FAILURE, Reliability.UNRELIABLE_OTHER, Reliability.NO_FAULT


def float_words(value: float) -> tuple[int, int]:
    raw = struct.pack(">f", value)
    return int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")


POINTS = [
    point("temp", "ai", "holding", 10, 1, data_type="s16", scale=0.1, unit="degrees-celsius", cov_increment=0.5),
    point("setpoint", "av", "holding", 11, 2),
    point("energy", "ai", "input", 20, 3, data_type="u32"),
    point("flow", "ai", "input", 22, 4, data_type="float"),
    point("relay", "bo", "coil", 5, 1),
    point("alarm", "bi", "discrete", 7, 2, polarity=True, state_texts=["ok", "alarm"]),
    point("mode", "mv", "holding", 14, 1, state_texts=["off", "heat", "cool"], state_values=[0, 5, 9]),
    point("flag", "bi", "holding", 15, 3, bit_offset=3, bit_len=1),
    point("level", "ao", "holding", 30, 5, scale=0.5),
]


def fill(peer: SlavePeer) -> None:
    peer.set("holding", 10, 0xFFFE, 7)  # temp -0.2, setpoint 7
    peer.set("input", 20, 0x0001, 0x0002)  # energy 65538
    peer.set("input", 22, *float_words(1.5))
    peer.set("coil", 5, 1)
    peer.set("discrete", 7, 0)
    peer.set("holding", 14, 9, 0b1000)  # mode cool, flag set
    peer.set("holding", 30, 40)  # level 20.0


@pytest.fixture
def port():
    return free_port()


def config(tmp_path, port, points=None, **options):
    return write_config(tmp_path, tcp_master("tcp1", port) + slave("meter", "tcp1", **options),
                        {"meter": POINTS if points is None else points})


@in_loop
async def test_values_arrive_with_their_types_scales_and_maps(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port)) as node:
            temp = obj(node, "tcp1|meter|temp")
            await until(lambda: temp.reliability == OK, what="the first poll")
            await until(lambda: obj(node, "tcp1|meter|level").reliability == OK, what="every read")
            values = {name: obj(node, f"tcp1|meter|{name}").value for name in
                      ("temp", "setpoint", "energy", "flow", "relay", "alarm", "mode", "flag", "level")}
            assert values == {"temp": pytest.approx(-0.2), "setpoint": 7.0, "energy": 65538.0, "flow": 1.5,
                              "relay": 1, "alarm": 1, "mode": 3, "flag": 1, "level": 20.0}
            assert str(await temp.read_property("units")) == "degrees-celsius"
            assert str(await obj(node, "tcp1|meter|alarm").read_property("polarity")) == "reverse"
            assert await obj(node, "tcp1|meter|mode").read_property("stateText", 3) == "cool"
            assert temp.objectIdentifier[1] == 1001  # block 1: 1000 + the point's instance
            # grouped reads: coils, discrete, input 20..23, holding 10..11, 14..15 and 30 (no gaps allowed)
            assert len(node.feature("modbus").slaves[0].schedule.planner.plan()) == 6
    finally:
        await server.shutdown()


@in_loop
async def test_writes_use_the_slaves_function_codes_and_never_combine(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    points = POINTS + [point("total", "av", "holding", 40, 6, data_type="u32")]
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port, points, single_write_coil=1, single_write_reg=1)) as node:
            setpoint, relay, flag = (obj(node, f"tcp1|meter|{n}") for n in ("setpoint", "relay", "flag"))
            await until(lambda: setpoint.reliability == OK)
            peer.requests.clear()
            await setpoint.write_property("presentValue", 23.0)
            await relay.write_property("presentValue", 0, priority=8)
            await obj(node, "tcp1|meter|total").write_property("presentValue", 70000.0)
            await until(lambda: peer.get("holding", 40, 2) == [1, 4464], what="the u32 write")
            writes = [r for r in peer.requests if r[0] in (5, 6, 15, 16)]
            assert writes == [(6, 11, 1), (5, 5, 1), (16, 40, 2)]  # in order, one each, a u32 always 16
            assert peer.get("holding", 11) == [23] and peer.get("coil", 5) == [0]
    finally:
        await server.shutdown()


@in_loop
async def test_multiple_write_functions_by_default_and_bit_fields_read_modify_write(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    peer.set("holding", 15, 0b1010_1000)
    points = POINTS[:-2] + [point("flag", "bv", "holding", 15, 3, bit_offset=3, bit_len=1)]
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port, points)) as node:
            setpoint, flag = obj(node, "tcp1|meter|setpoint"), obj(node, "tcp1|meter|flag")
            await until(lambda: flag.reliability == OK and flag.value == 1)
            peer.requests.clear()
            await setpoint.write_property("presentValue", 9.0)
            await flag.write_property("presentValue", 0)
            await until(lambda: peer.get("holding", 15) == [0b1010_0000], what="the bit field write")
            writes = [r for r in peer.requests if r[0] in (5, 6, 15, 16)]
            assert writes == [(16, 11, 1), (16, 15, 1)]
            assert (3, 15, 1) in peer.requests  # the register was read just before its bits were changed
            assert peer.get("holding", 11) == [9]
    finally:
        await server.shutdown()


@in_loop
async def test_writes_that_cannot_be_encoded_are_refused(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port)) as node:
            await until(lambda: obj(node, "tcp1|meter|setpoint").reliability == OK)
            for name, value in (("setpoint", 70000.0), ("setpoint", -1.0), ("mode", 4)):
                with pytest.raises(ExecutionError) as err:
                    await obj(node, f"tcp1|meter/{name}".replace("/", "|")).write_property("presentValue", value)
                assert err.value.errorCode == "valueOutOfRange"
            with pytest.raises(ExecutionError) as err:
                await obj(node, "tcp1|meter|temp").write_property("presentValue", 1.0)
            assert err.value.errorCode == "writeAccessDenied"  # an input is never writable
            assert node.feature("modbus").masters["tcp1"].schedule.pending_writes == 0
    finally:
        await server.shutdown()


@in_loop
async def test_offline_after_three_failures_then_back_with_held_writes(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    server = await tcp_server([peer], "127.0.0.1", port)
    async with running(config(tmp_path, port)) as node:
        temp, setpoint = obj(node, "tcp1|meter|temp"), obj(node, "tcp1|meter|setpoint")
        online = obj(node, "tcp1|meter|comm|online")
        await until(lambda: temp.reliability == OK and online.value == 1)
        await server.shutdown()
        slave_runtime = node.feature("modbus").slaves[0]
        await until(lambda: temp.reliability == COMM, what="communication failure")
        assert online.value == 0 and setpoint.reliability == COMM
        assert slave_runtime.schedule.failed == 3 and slave_runtime.schedule.went_offline == 1
        # probes only, every offline interval (0.4 s): about two in a second, not a poll every 0.2 s
        await asyncio.sleep(1.0)
        assert 3 + 1 <= slave_runtime.schedule.failed <= 3 + 4
        await setpoint.write_property("presentValue", 11.0)  # held while the slave is away
        assert node.feature("modbus").masters["tcp1"].schedule.pending_writes == 1
        server = await tcp_server([peer], "127.0.0.1", port)
        try:
            await until(lambda: online.value == 1 and temp.reliability == OK, what="back online")
            await until(lambda: peer.get("holding", 11) == [11])
            fail_rate = await obj(node, "tcp1|meter|comm|fail_rate").read_property("presentValue")
            assert 0 < fail_rate < 100
        finally:
            await server.shutdown()


@in_loop
async def test_a_slave_that_answers_too_late_goes_offline(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port, timeout_ms=150)) as node:
            temp = obj(node, "tcp1|meter|temp")
            await until(lambda: temp.reliability == OK)
            peer.delay = 0.3
            await until(lambda: temp.reliability == COMM, what="offline on timeouts")
            peer.delay = 0.0
            peer.set("holding", 10, 55)
            await until(lambda: temp.reliability == OK and temp.value == pytest.approx(5.5), what="fresh values")
    finally:
        await server.shutdown()


@in_loop
async def test_illegal_address_splits_the_read_and_the_split_is_remembered(tmp_path, port):
    peer = SlavePeer(1, invalid={"holding": [12, 13]})
    fill(peer)
    points = [point("a", "ai", "holding", 10, 1), point("b", "ai", "holding", 11, 2), point("gone", "ai", "holding", 13, 3),
              point("c", "ai", "holding", 14, 4)]
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port, points, unused_reg=5)) as node:
            planner = node.feature("modbus").slaves[0].schedule.planner
            a, gone, c = obj(node, "tcp1|meter|a"), obj(node, "tcp1|meter|gone"), obj(node, "tcp1|meter|c")
            await until(lambda: a.reliability == OK and c.reliability == OK and gone.reliability == UNRELIABLE)
            assert a.value == 65534 and c.value == 9
            plan = [(r.address, r.count) for r in planner.plan()]
            assert (13, 1) in plan and all(start + count <= 13 or start >= 13 for start, count in plan)
            before = len(planner.splits)
            await asyncio.sleep(0.6)  # three more cycles: no new splits, no grouped read of the gap again
            assert len(planner.splits) == before
            assert node.feature("modbus").slaves[0].schedule.online  # exceptions are answers: never offline
    finally:
        await server.shutdown()


@in_loop
async def test_nan_is_unreliable_and_infinity_is_a_value(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    peer.set("input", 22, 0x7FC0, 0x0000)
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port)) as node:
            flow = obj(node, "tcp1|meter|flow")
            await until(lambda: flow.reliability == UNRELIABLE, what="NaN")
            flags = await flow.read_property("statusFlags")
            assert flags[1] == 1  # fault
            peer.set("input", 22, 0x7F80, 0x0000)
            await until(lambda: flow.reliability == OK, what="infinity")
            assert math.isinf(flow.value)
    finally:
        await server.shutdown()


@in_loop
async def test_output_relinquish_default_read_back_mismatch_and_rewrite(tmp_path, port, monkeypatch):
    monkeypatch.setattr(gateway_module, "REWRITE_AFTER", 0.3)
    peer = SlavePeer(1)
    fill(peer)
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port)) as node:
            level = obj(node, "tcp1|meter|level")
            await until(lambda: level.reliability == OK)
            assert await level.read_property("relinquishDefault") == 20.0
            await level.write_property("presentValue", 30.0, priority=8)
            await until(lambda: peer.get("holding", 30) == [60], what="the write")
            await asyncio.sleep(0.5)
            assert level.reliability == OK and level.value == 30.0
            assert await level.read_property("relinquishDefault") == 30.0  # the polled value
            # the device stops following: another controller forces 25.0 and ignores us
            peer.stuck.add(("holding", 30))
            peer.set("holding", 30, 50)
            await until(lambda: level.reliability == UNRELIABLE, what="the read-back mismatch")
            assert level.value == 30.0  # still commanded
            writes_before = sum(1 for r in peer.requests if r[:2] == (16, 30))
            await until(lambda: sum(1 for r in peer.requests if r[:2] == (16, 30)) > writes_before,
                        what="the re-write")
            peer.stuck.clear()
            await until(lambda: level.reliability == OK and peer.get("holding", 30) == [60], what="recovery")
            # relinquished: the polled value is the present value, and nothing is compared any more
            await level.write_property("presentValue", None, priority=8)
            peer.set("holding", 30, 44)
            await until(lambda: level.value == 22.0)
            assert level.reliability == OK
    finally:
        await server.shutdown()


@in_loop
async def test_cov_notifications_for_analog_multistate_and_reliability(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port)) as node:
            app = node.app.app
            sent = []
            app.request = lambda apdu: sent.append(apdu)
            temp, mode = obj(node, "tcp1|meter|temp"), obj(node, "tcp1|meter|mode")
            await until(lambda: temp.reliability == OK and mode.reliability == OK)
            temp.subscribe_cov("client", 7, False, 60)
            mode.subscribe_cov("client", 8, True, None)
            assert len(sent) == 2  # the initial notifications

            def notified(process):
                return [a for a in sent if a.subscriberProcessIdentifier == process]

            peer.set("holding", 10, 1)  # -0.2 -> 0.1: below the COV increment of 0.5
            await asyncio.sleep(0.5)
            assert len(notified(7)) == 1
            peer.set("holding", 10, 20)  # 2.0
            await until(lambda: len(notified(7)) == 2)
            assert notified(7)[-1].listOfValues[0].value.cast_out(Real) == 2.0
            peer.set("holding", 14, 5)  # heat
            await until(lambda: len(notified(8)) == 2)
            assert type(notified(8)[-1]).__name__ == "ConfirmedCOVNotificationRequest"
            await server.shutdown()
            await until(lambda: len(notified(7)) == 3 and len(notified(8)) == 3, what="reliability notifications")
            mode.subscribe_cov("client", 8, None, None)  # cancelled
            assert mode._cov is None
    finally:
        await server.shutdown()


@in_loop
async def test_status_objects_and_structured_view(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port)) as node:
            app = node.app.app
            online = obj(node, "tcp1|meter|comm|online")
            await until(lambda: online.value == 1)
            assert online.objectIdentifier[1] == 1999
            assert obj(node, "tcp1|meter|comm|update_delay").objectIdentifier[1] == 1998
            assert obj(node, "tcp1|meter|comm|fail_rate").objectIdentifier[1] == 1999
            view = app.objectName["tcp1|meter"]
            assert (str(view.objectIdentifier[0]), view.objectIdentifier[1]) == ("structured-view", 1000)
            assert len(view.subordinateList) == len(POINTS) + 3
            result = await node.feature("modbus").read_group("meter")
            assert [r["result"] for r in result["requests"]] == ["ok"] * 6
            assert result["requests"][0]["function"] == 1
    finally:
        await server.shutdown()


async def _fuzz_server(port: int, mutations: int):
    """A Modbus TCP server whose first ``mutations`` answers are broken in every way we could think of."""
    import random

    from bacrouter.modbus.codec import tcp_frame

    rng = random.Random(4)
    state = {"served": 0}

    async def serve(reader, writer):
        try:
            while True:
                header = await reader.readexactly(7)
                pdu = await reader.readexactly(int.from_bytes(header[4:6], "big") - 1)
                tid, unit = int.from_bytes(header[:2], "big"), header[6]
                count = int.from_bytes(pdu[3:5], "big")
                good = bytes((pdu[0], 2 * count)) + bytes(2 * count)
                state["served"] += 1
                if state["served"] > mutations:
                    writer.write(tcp_frame(tid, unit, good))
                    continue
                kind = rng.randrange(8)
                if kind == 0:
                    answer = rng.randbytes(rng.randrange(1, 40))
                elif kind == 1:
                    answer = tcp_frame(tid, unit, good)[: rng.randrange(1, 7 + len(good))]
                    writer.write(answer)
                    writer.close()
                    return
                elif kind == 2:
                    frame = bytearray(tcp_frame(tid, unit, good))
                    frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
                    answer = bytes(frame)
                elif kind == 3:
                    answer = tcp_frame(tid, unit, bytes((pdu[0], 2 * count + 2)) + bytes(2 * count))
                elif kind == 4:
                    answer = tcp_frame(tid, unit, bytes((pdu[0] | 0x80,)))
                elif kind == 5:
                    answer = tid.to_bytes(2, "big") + b"\x00\x00\xff\xff" + rng.randbytes(20)
                elif kind == 6:
                    answer = tcp_frame(tid, unit, bytes((7,)) + good[1:])
                else:
                    answer = tcp_frame((tid + 1) & 0xFFFF, unit, good)  # someone else's transaction
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    return server, state


@in_loop
async def test_fuzzed_answers_never_crash_the_poller(tmp_path, port):
    server, state = await _fuzz_server(port, 60)
    points = [point("a", "ai", "holding", 0, 1), point("b", "ai", "holding", 3, 2)]
    try:
        async with running(config(tmp_path, port, points, update_ms=0, offline_ms=100, timeout_ms=100)) as node:
            master = node.feature("modbus").masters["tcp1"]
            a = obj(node, "tcp1|meter|a")
            await until(lambda: state["served"] > 60 and a.reliability == OK, timeout=30, what="good answers")
            assert not master._task.done()
            assert node.feature("modbus").slaves[0].schedule.failed > 10
    finally:
        server.close()


@in_loop
async def test_reload_rebuilds_the_gateway_when_its_files_change(tmp_path, port):
    from bacrouter.loader import load_config

    peer = SlavePeer(1)
    fill(peer)
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        paths = config(tmp_path, port, POINTS[:2])
        async with running(paths) as node:
            await until(lambda: obj(node, "tcp1|meter|temp").reliability == OK)
            node.app.app.request = lambda apdu: None
            obj(node, "tcp1|meter|temp").subscribe_cov("client", 5, False, None)
            unchanged = await node.apply(load_config(paths)[0])
            assert unchanged["unchanged"] == ["modbus_master 'tcp1'", "modbus_slave 'meter'"] \
                and not unchanged["restarted"]  # nothing changed: the gateway keeps running
            config(tmp_path, port, POINTS[:3])  # a point added to the file
            summary = await node.apply(load_config(paths)[0])
            assert "modbus_slave 'meter'" in summary["restarted"]
            energy = obj(node, "tcp1|meter|energy")
            await until(lambda: energy.reliability == OK and energy.value == 65538.0)
            assert len(node.feature("modbus").slaves[0].points) == 3
            temp = obj(node, "tcp1|meter|temp")  # rebuilt, not lost, and still subscribed
            assert [(c.address, c.process) for c in temp._cov] == [("client", 5)]
    finally:
        await server.shutdown()


def two_slaves(tmp_path, port, b_points, **b_options):
    uci = tcp_master("tcp1", port) + slave("a", "tcp1", 1, block=1) + slave("b", "tcp1", 2, block=2, **b_options)
    return write_config(tmp_path, uci, {"a": POINTS, "b": b_points})


@in_loop
async def test_reloading_one_changed_slave_leaves_a_commanded_output_on_another_as_commanded(tmp_path, port):
    from bacrouter.loader import load_config

    peer_a, peer_b = SlavePeer(1), SlavePeer(2)
    fill(peer_a)
    fill(peer_b)
    server = await tcp_server([peer_a, peer_b], "127.0.0.1", port)
    try:
        paths = two_slaves(tmp_path, port, POINTS[:2])
        async with running(paths) as node:
            gateway = node.feature("modbus")
            level, relay = obj(node, "tcp1|a|level"), obj(node, "tcp1|a|relay")
            await until(lambda: level.reliability == OK and relay.reliability == OK
                        and obj(node, "tcp1|b|temp").reliability == OK, what="the first polls")
            node.app.app.request = lambda apdu: None
            level.subscribe_cov("client", 9, False, None)
            await level.write_property("presentValue", 30.0, priority=8)
            await relay.write_property("presentValue", 0, priority=8)
            await until(lambda: peer_a.get("holding", 30) == [60] and peer_a.get("coil", 5) == [0],
                        what="the commands")
            await until(lambda: level.value == 30.0 and relay.reliability == OK, what="the read-back")
            master, slave_a, slave_b = gateway.masters["tcp1"], gateway.find_slave("a"), gateway.find_slave("b")
            peer_a.requests.clear()

            two_slaves(tmp_path, port, POINTS[:3])  # b's points file changes: a point added
            summary = await node.apply(load_config(paths)[0])

            assert summary["restarted"] == ["modbus_slave 'b'"]
            assert summary["unchanged"] == ["modbus_master 'tcp1'", "modbus_slave 'a'"]
            assert summary["started"] == summary["stopped"] == []
            assert gateway.masters["tcp1"] is master and gateway.find_slave("a") is slave_a
            assert gateway.find_slave("b") is not slave_b and len(gateway.find_slave("b").points) == 3
            # a's objects are the same objects, still published, still commanded, still subscribed
            assert obj(node, "tcp1|a|level") is level and obj(node, "tcp1|a|relay") is relay
            assert level.value == 30.0 and relay.value == 0
            assert (await level.read_property("priorityArray"))[7].real == 30.0
            assert level.commanded_value() == (30.0, 8) and relay.commanded_value() == (0, 8)
            assert [(c.address, c.process) for c in level._cov] == [("client", 9)]
            # b came back with its new point while a polls on
            energy = obj(node, "tcp1|b|energy")
            await until(lambda: energy.reliability == OK and energy.value == 65538.0, what="b's new point")
            await until(lambda: sum(1 for r in peer_a.requests if r[0] in (1, 3)) >= 4, what="a polled on")
            assert peer_a.get("holding", 30) == [60] and peer_a.get("coil", 5) == [0]
            assert not [r for r in peer_a.requests if r[0] in (5, 6, 15, 16)]  # nothing written, relinquish
            assert level.value == 30.0 and level.reliability == OK  # default included

            # b removed: its objects and status objects go, a still untouched
            write_config(tmp_path, tcp_master("tcp1", port) + slave("a", "tcp1", 1, block=1), {"a": POINTS})
            summary = await node.apply(load_config(paths)[0])
            assert summary["stopped"] == ["modbus_slave 'b'"] and "modbus_slave 'a'" in summary["unchanged"]
            assert "tcp1|b|temp" not in node.app.app.objectName
            assert "tcp1|b|comm|online" not in node.app.app.objectName and "tcp1|b" not in node.app.app.objectName
            assert obj(node, "tcp1|a|level") is level and level.commanded_value() == (30.0, 8)
    finally:
        await server.shutdown()


@in_loop
async def test_a_read_group_in_progress_ends_when_the_gateway_stops(tmp_path, port):
    peer = SlavePeer(1)
    fill(peer)
    server = await tcp_server([peer], "127.0.0.1", port)
    try:
        async with running(config(tmp_path, port, POINTS[:2])) as node:
            await until(lambda: obj(node, "tcp1|meter|temp").reliability == OK)
            peer.delay = 0.2
            running_group = asyncio.ensure_future(node.feature("modbus").read_group("meter"))
            await asyncio.sleep(0.05)
            node.feature("modbus").stop()
            with pytest.raises(RuntimeError, match="stopped"):
                await asyncio.wait_for(running_group, 2)
    finally:
        await server.shutdown()
