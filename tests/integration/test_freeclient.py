"""Free Client buses in the router: a Lua Modbus RTU master against a pymodbus slave on a pty, a TCP bus,
buses defined by the original's export files, and scripts that fail without taking anything else down."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time

import pytest

from bacrouter.freeclient.definition import SHIPPED_SCRIPTS
from bacrouter.modbus.objects import Reliability

from ..peers.modbus_peer import SlavePeer, serial_server
from .modbus_harness import PtyPair, free_port, in_loop, obj, running, until, write_config

pytestmark = pytest.mark.skipif(shutil.which("socat") is None and not os.environ.get("BACROUTER_REQUIRE_ALL"),
                                reason="needs socat")

OK, COMM = Reliability.NO_FAULT, Reliability.COMMUNICATION_FAILURE

DEVICES = [{"name": "plc", "tag": "unit=3", "instance": 9001, "fcpoints": [
    {"name": "temp", "object_type": "ai", "instance": 1, "tag": "reg=10, scale=0.1, signed=true", "unit": 62},
    {"name": "setpoint", "object_type": "av", "instance": 2, "tag": "reg=11"},
    {"name": "mode", "object_type": "mv", "instance": 1, "tag": "reg=12", "state_texts": ["off", "on", "auto"]},
    {"name": "pump", "object_type": "bo", "instance": 1, "tag": "reg=4, fc=1"},
]}]


@pytest.fixture
def ptys(tmp_path):
    pair = PtyPair(tmp_path)
    yield pair
    pair.close()


def bus_files(root, name, definition):
    (root / "bacrouter" / "freeclient").mkdir(parents=True, exist_ok=True)
    (root / "bacrouter" / "freeclient" / f"{name}.json").write_text(json.dumps(definition))


def rtu_bus(tmp_path, ptys, extra_uci="", definition=None, name="fc1"):
    uci = f"\nconfig freeclient_bus '{name}'\n\toption resource 'RS485-1'\n\toption script 'modbus_rtu.lua'\n" + extra_uci
    paths = write_config(tmp_path, uci, {}, {"RS485-1": {"type": "USB", "ifname": ptys.a}})
    bus_files(tmp_path, name, definition or {"name": name, "tag": "update_interval=200, timeout=300", "type": 1,
                                             "baudrate": 9600, "fcdevices": DEVICES})
    return paths


@in_loop
async def test_a_lua_modbus_master_reads_maps_and_writes(tmp_path, ptys):
    slave = SlavePeer(3)
    slave.set("holding", 10, 0xFFF6, 7, 2)  # -1.0, 7, auto
    slave.set("coil", 4, 1)
    server = await serial_server([slave], ptys.b, "rtu", baud=9600)
    try:
        async with running(rtu_bus(tmp_path, ptys)) as node:
            temp, setpoint, mode, pump = (obj(node, f"fc1|plc|{n}") for n in ("temp", "setpoint", "mode", "pump"))
            await until(lambda: pump.reliability == OK and temp.reliability == OK, what="the script's first poll")
            assert (temp.value, setpoint.value, mode.value, pump.value) == (pytest.approx(-1.0), 7.0, 3, 1)
            assert str(await temp.read_property("units")) == "degrees-celsius"
            assert temp.objectIdentifier[1] == 1001 and obj(node, "fc1|plc|comm|online").value == 1
            await setpoint.write_property("presentValue", 42.0)
            await pump.write_property("presentValue", 0, priority=8)
            await mode.write_property("presentValue", 1)
            await until(lambda: slave.get("holding", 11, 2) == [42, 0] and slave.get("coil", 4) == [0],
                        what="the writes through the script")
            slave.set("holding", 11, 55)  # and back: the next poll shows the slave's value
            await until(lambda: setpoint.value == 55.0)
            await pump.write_property("presentValue", None, priority=8)  # relinquished: polled value again
            slave.set("coil", 4, 1)
            await until(lambda: pump.value == 1)
            status = node.feature("freeclient").snapshot()[0]
            assert status["state"] == "running" and status["counters"]["writes"] == 4
    finally:
        await server.shutdown()


@in_loop
async def test_the_script_takes_a_silent_device_offline(tmp_path, ptys):
    slave = SlavePeer(3)
    quiet: set[int] = set()
    server = await serial_server([slave], ptys.b, "rtu", baud=9600, quiet=quiet)
    try:
        async with running(rtu_bus(tmp_path, ptys)) as node:
            temp = obj(node, "fc1|plc|temp")
            await until(lambda: temp.reliability == OK)
            quiet.add(3)
            await until(lambda: temp.reliability == COMM, what="onoff(false) after three silent polls")
            assert obj(node, "fc1|plc|comm|online").value == 0
            quiet.clear()
            await until(lambda: temp.reliability == OK, what="back")
            assert node.feature("freeclient").snapshot()[0]["counters"]["noreply"] >= 3
    finally:
        await server.shutdown()


@in_loop
async def test_an_exported_bus_with_its_script_inside_is_accepted_as_is(tmp_path, ptys):
    """The original's export: script text embedded, serial settings and resource in the file."""
    slave = SlavePeer(3)
    slave.set("holding", 10, 123)
    script = (SHIPPED_SCRIPTS / "modbus_rtu.lua").read_text()
    export = {"enable": 1, "name": "RS485-1_modbus", "tag": "update_interval=200", "type": 1, "server": "",
              "parity": "none", "baudrate": 9600, "bit7": 0, "frame_ms": 10, "resource": "RS485-1",
              "script": {"modbus_rtu.lua": script}, "fcdevices": DEVICES}
    uci = "\nconfig freeclient_bus 'field'\n\toption definition 'exports/RS485-1_modbus.json'\n"
    paths = write_config(tmp_path, uci, {}, {"RS485-1": {"type": "USB", "ifname": ptys.a}})
    (tmp_path / "bacrouter" / "exports").mkdir()
    (tmp_path / "bacrouter" / "exports" / "RS485-1_modbus.json").write_text(json.dumps(export))
    server = await serial_server([slave], ptys.b, "rtu", baud=9600)
    try:
        async with running(paths) as node:
            temp = obj(node, "field|plc|temp")
            await until(lambda: temp.reliability == OK and temp.value == pytest.approx(12.3))
            assert node.feature("freeclient").snapshot()[0]["script"] == "modbus_rtu.lua"
    finally:
        await server.shutdown()


BROKEN = {
    "error": "return swg.interface_rs485, function(ctx) swg.timer(1, 50, function() error('sensor table empty') end) end",
    "loop": "return swg.interface_rs485, function(ctx) swg.timer(1, 50, function() while true do end end) end",
    "memory": "return swg.interface_rs485, function(ctx) swg.timer(1, 50, function() local t = {} "
              "while true do t[#t + 1] = string.rep('x', 1000) end end) end",
    "escape": "return swg.interface_rs485, function(ctx) swg.timer(1, 50, function() return swg.now.__globals__ end) end",
}  # (a script that does not speak its bus's interface is refused by check: test_freeclient_check.py)


@in_loop
async def test_failing_scripts_stop_their_bus_only(tmp_path, ptys):
    slave = SlavePeer(3)
    slave.set("holding", 10, 5)
    uci = "\nconfig freeclient_bus 'good'\n\toption resource 'RS485-1'\n\toption script 'modbus_rtu.lua'\n"
    for name in BROKEN:
        uci += f"\nconfig freeclient_bus '{name}'\n\toption resource 'RS485-1'\n\toption script '{name}.lua'\n"
    paths = write_config(tmp_path, uci, {}, {"RS485-1": {"type": "USB", "ifname": ptys.a}})
    bus_files(tmp_path, "good", {"tag": "update_interval=100", "fcdevices": DEVICES})
    for name, text in BROKEN.items():
        bus_files(tmp_path, name, {"fcdevices": [{"name": "d", "instance": 1, "fcpoints": [
            {"name": "p", "object_type": "av", "instance": 1}]}]})
        (tmp_path / "bacrouter" / "freeclient" / f"{name}.lua").write_text(text)
    server = await serial_server([slave], ptys.b, "rtu", baud=9600)
    try:
        async with running(paths) as node:
            await until(lambda: all(node.feature("freeclient").buses[n].state == "failed" for n in BROKEN), timeout=15,
                        what="every broken bus stopped")
            reasons = {n: node.feature("freeclient").buses[n].reason for n in BROKEN}
            assert "sensor table empty" in reasons["error"]
            assert "instruction limit" in reasons["loop"]
            assert "memory limit" in reasons["memory"]
            assert "no attributes" in reasons["escape"]
            # the good bus polls on and the event loop kept serving meanwhile
            temp = obj(node, "good|plc|temp")
            before = node.feature("freeclient").buses["good"].counters["transactions"]
            started = time.monotonic()
            await asyncio.sleep(0.5)
            assert time.monotonic() - started < 1.0
            assert node.feature("freeclient").buses["good"].counters["transactions"] > before
            assert temp.reliability == OK and temp.value == pytest.approx(0.5)
            assert obj(node, "error|d|p").reliability == COMM
    finally:
        await server.shutdown()


TCP_SCRIPT = """
-- Modbus TCP read of one register, with sndrcvtcp
local tid = 0
local function poll(ctx)
  tid = (tid + 1) % 65536
  local pdu = string.pack(">BI2I2", 3, 10, 1)
  local frame = string.pack(">I2I2I2B", tid, 0, #pdu + 1, 1) .. pdu
  swg.sndrcvtcp(frame, 11, 260, 500, function(ctx2, result, data)
    if result >= 11 then
      swg.updatepoint(1, 1, string.unpack(">I2", data, 10), swg.reliability_no_fault)
    else
      swg.updatepoint(1, 1, nil, swg.reliability_communication_failure)
      swg.tcpreset()
    end
    swg.timer("poll", 100, poll)
  end)
end
return swg.interface_tcp, function(ctx) swg.timer("poll", 0, poll) end
"""


@in_loop
async def test_a_tcp_bus(tmp_path):
    from ..peers.modbus_peer import tcp_server

    port = free_port()
    slave = SlavePeer(1)
    slave.set("holding", 10, 321)
    server = await tcp_server([slave], "127.0.0.1", port)
    uci = f"\nconfig freeclient_bus 'tcp'\n\toption server '127.0.0.1:{port}'\n\toption script 'mbtcp.lua'\n"
    paths = write_config(tmp_path, uci, {}, {})
    bus_files(tmp_path, "tcp", {"type": 2, "fcdevices": [{"name": "meter", "fcpoints": [
        {"name": "power", "object_type": "ai", "instance": 1}]}]})
    (tmp_path / "bacrouter" / "freeclient" / "mbtcp.lua").write_text(TCP_SCRIPT)
    try:
        async with running(paths) as node:
            power = obj(node, "tcp|meter|power")
            await until(lambda: power.reliability == OK and power.value == 321.0)
            await server.shutdown()
            await until(lambda: power.reliability == COMM, what="connection errors reported")
            server = await tcp_server([slave], "127.0.0.1", port)
            await until(lambda: power.reliability == OK, what="reconnected after tcpreset")
    finally:
        await server.shutdown()


@in_loop
async def test_sndrcv485_waits_for_the_idle_line_and_reports_what_happened(tmp_path, ptys):
    """before_idle, timeout, maxlen and the result codes, against a far end the test plays."""
    far = os.open(ptys.b, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    loop = asyncio.get_running_loop()
    heard: list[tuple[float, bytes]] = []

    def readable():
        try:
            data = os.read(far, 256)
        except BlockingIOError:
            return
        heard.append((time.monotonic(), data))
        if data == b"ping":
            os.write(far, b"pong")
        elif data == b"long":
            os.write(far, b"x" * 40)

    loop.add_reader(far, readable)
    script = """
results = {}
local steps = {
  {"ping", 50, 300, 16}, {"silent", 0, 100, 16}, {"long", 0, 300, 16},
}
local function step(ctx, n)
  local s = steps[n]
  if not s then swg.updatepoint(1, 1, 1, 0) return end
  swg.sndrcv485(s[1], s[2], s[3], s[4], function(ctx2, result, data)
    swg.log("step", n, result, #data)
    swg.updatepoint(1, n + 1, result, 0)
    step(ctx2, n + 1)
  end)
end
return swg.interface_rs485, function(ctx) swg.timer(1, 0, function(c) step(c, 1) end) end
"""
    uci = "\nconfig freeclient_bus 'probe'\n\toption resource 'RS485-1'\n\toption script 'probe.lua'\n"
    paths = write_config(tmp_path, uci, {}, {"RS485-1": {"type": "USB", "ifname": ptys.a}})
    bus_files(tmp_path, "probe", {"fcdevices": [{"name": "d", "fcpoints": [
        {"name": f"r{i}", "object_type": "av", "instance": i} for i in range(1, 5)]}]})
    (tmp_path / "bacrouter" / "freeclient" / "probe.lua").write_text(script)
    # the line is busy for the first 150 ms: the first transaction must wait for 50 ms of silence after it
    chatter_end = time.monotonic() + 0.15
    last_chatter = [0.0]

    async def chatter():
        while time.monotonic() < chatter_end:
            os.write(far, b"\x00")
            last_chatter[0] = time.monotonic()
            await asyncio.sleep(0.01)

    chatting = asyncio.ensure_future(chatter())
    try:
        async with running(paths) as node:
            done = obj(node, "probe|d|r1")
            await until(lambda: done.value == 1, what="all steps")
            results = [obj(node, f"probe|d|r{i}").value for i in (2, 3, 4)]
            assert results == [4.0, -2.0, -5.0]  # pong; noreply; overflow (40 octets, maxlen 16)
            ping_at = next(t for t, data in heard if data == b"ping")
            assert ping_at >= last_chatter[0] + 0.045  # before_idle counted from the last chatter octet
    finally:
        chatting.cancel()
        loop.remove_reader(far)
        os.close(far)


@in_loop
async def test_a_reload_restarts_only_the_bus_that_changed(tmp_path):
    from bacrouter.loader import load_config

    from ..peers.modbus_peer import tcp_server

    port = free_port()
    slave = SlavePeer(1)
    slave.set("holding", 10, 321)
    server = await tcp_server([slave], "127.0.0.1", port)
    uci = "".join(f"\nconfig freeclient_bus '{name}'\n\toption server '127.0.0.1:{port}'\n\toption script 'mbtcp.lua'\n"
                  for name in ("one", "two"))
    paths = write_config(tmp_path, uci, {}, {})
    (tmp_path / "bacrouter" / "freeclient" / "mbtcp.lua").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "bacrouter" / "freeclient" / "mbtcp.lua").write_text(TCP_SCRIPT)

    def definition(name, description=""):
        bus_files(tmp_path, name, {"type": 2, "fcdevices": [{"name": "meter", "fcpoints": [
            {"name": "power", "object_type": "ai", "instance": 1, "description": description}]}]})

    definition("one")
    definition("two")
    try:
        async with running(paths) as node:
            gateway = node.feature("freeclient")
            one, two = obj(node, "one|meter|power"), obj(node, "two|meter|power")
            await until(lambda: one.value == 321.0 and two.value == 321.0, what="both buses polling")
            runtime_one, runtime_two = gateway.buses["one"], gateway.buses["two"]
            unchanged = await node.apply(load_config(paths)[0])
            assert unchanged["unchanged"] == ["freeclient_bus 'one'", "freeclient_bus 'two'"]
            assert gateway.buses["one"] is runtime_one and gateway.buses["two"] is runtime_two

            definition("two", "changed")  # the definition of bus two changes
            summary = await node.apply(load_config(paths)[0])
            assert summary["restarted"] == ["freeclient_bus 'two'"]
            assert summary["unchanged"] == ["freeclient_bus 'one'"]
            assert gateway.buses["one"] is runtime_one and runtime_one.state == "running"
            assert obj(node, "one|meter|power") is one and one.value == 321.0
            assert gateway.buses["two"] is not runtime_two and runtime_two.state != "running"
            new_two = obj(node, "two|meter|power")
            assert new_two is not two and new_two.description == "changed"
            slave.set("holding", 10, 123)
            await until(lambda: one.value == 123.0 and new_two.value == 123.0, what="both buses polling on")
            assert [b["name"] for b in gateway.snapshot()] == ["one", "two"]

            write_config(tmp_path, uci.split("\nconfig freeclient_bus 'two'")[0], {}, {})  # bus two removed
            summary = await node.apply(load_config(paths)[0])
            assert summary["stopped"] == ["freeclient_bus 'two'"] and summary["unchanged"] == ["freeclient_bus 'one'"]
            assert "two|meter|power" not in node.app.app.objectName and "two|meter|comm|online" not in \
                node.app.app.objectName
            assert gateway.buses["one"] is runtime_one and list(gateway.buses) == ["one"]
    finally:
        await server.shutdown()


@in_loop
async def test_a_script_error_restarts_the_bus_after_a_back_off(tmp_path, ptys, monkeypatch):
    """Issue 10 item 4: the bus runs again after 10 s doubling (here 0.4 s doubling); meanwhile its devices are
    offline and its status shows the error, how many there were and when the next restart comes."""
    from bacrouter.freeclient import gateway as gateway_module
    from bacrouter.freeclient.restart import RestartPolicy

    monkeypatch.setattr(gateway_module, "restart_policy", lambda: RestartPolicy(first=0.4, longest=5.0), raising=False)
    script = ("return swg.interface_rs485, function(ctx) swg.updatepoint(1, 1, 42) "
              "swg.timer(1, 300, function() error('once a day') end) end")
    uci = "\nconfig freeclient_bus 'flaky'\n\toption resource 'RS485-1'\n\toption script 'flaky.lua'\n"
    paths = write_config(tmp_path, uci, {}, {"RS485-1": {"type": "USB", "ifname": ptys.a}})
    bus_files(tmp_path, "flaky", {"fcdevices": [{"name": "d", "instance": 1, "fcpoints": [
        {"name": "p", "object_type": "av", "instance": 1}]}]})
    (tmp_path / "bacrouter" / "freeclient" / "flaky.lua").write_text(script)
    async with running(paths) as node:
        gateway = node.feature("freeclient")
        p = obj(node, "flaky|d|p")
        await until(lambda: p.reliability == OK and p.value == 42.0, what="the first run")
        await until(lambda: gateway.snapshot()[0]["failures"] == 1, what="the first failure")
        status = gateway.snapshot()[0]
        assert status["state"] == "failed" and status["failures"] == 1 and "once a day" in status["last_error"]
        assert 0 < status["next_restart_in"] <= 0.4
        assert p.reliability == COMM and obj(node, "flaky|d|comm|online").value == 0
        await until(lambda: p.reliability == OK and gateway.buses["flaky"].state == "running",
                    what="the restart after 0.4 s")
        assert gateway.snapshot()[0]["next_restart_in"] is None
        await until(lambda: gateway.snapshot()[0]["failures"] == 2, what="the second failure")
        assert 0.4 < gateway.snapshot()[0]["next_restart_in"] <= 0.8  # doubled
        await until(lambda: gateway.snapshot()[0]["failures"] == 3, what="the third failure", timeout=5)


ORIGINAL_SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "original_modbus_rtu.lua")


@in_loop
async def test_a_script_written_for_the_original_product_reads_and_writes_through_bacnet(tmp_path, ptys, caplog):
    """Issue 10, done means: a Modbus RTU script in the original product's style (device tags with slave and
    readreqs, points with func_code/addr/datatype, binary outputs written as `value and 1 or 0`, the original's
    constant names, read-only input points by value_type) runs unchanged against a pymodbus slave, and a binary
    output commanded OFF through BACnet switches the coil off (then ON again)."""
    import logging
    import struct

    caplog.set_level(logging.INFO, logger="bacrouter.freeclient")
    slave = SlavePeer(1)
    slave.set("holding", 4, *struct.unpack(">HH", struct.pack(">f", 21.5)))
    slave.set("holding", 6, 7)
    slave.set("input", 0, *struct.unpack(">HH", struct.pack(">f", 1234.5)))
    slave.set("coil", 2, 1)  # the fan runs: BACnet will command it OFF
    slave.set("discrete", 1, 1)
    points = [
        {"name": "temp", "object_type": "ai", "instance": 1, "tag": 'func_code=3, addr=4, datatype="f32"'},
        {"name": "setpoint", "object_type": "av", "instance": 2, "tag": 'func_code=3, addr=6, datatype="u16"'},
        {"name": "limit", "object_type": "av", "instance": 3, "tag": 'func_code=3, addr=8, datatype="f32"'},
        {"name": "energy", "object_type": "av", "instance": 4, "value_type": 1,
         "tag": 'func_code=4, addr=0, datatype="f32"'},
        {"name": "fan", "object_type": "bo", "instance": 1, "tag": "func_code=1, addr=2"},
        {"name": "alarm", "object_type": "bi", "instance": 2, "tag": "func_code=2, addr=1"},
    ]
    definition = {"name": "orig", "tag": "update_interval=200, timeout=300", "type": 1, "baudrate": 9600,
                  "fcdevices": [{"name": "ahu", "instance": 9001,
                                 "tag": "slave=1, readreqs={{3,0,10},{4,0,2},{1,0,8},{2,0,8}}", "fcpoints": points}]}
    uci = "\nconfig freeclient_bus 'orig'\n\toption resource 'RS485-1'\n\toption script 'original_modbus_rtu.lua'\n"
    paths = write_config(tmp_path, uci, {}, {"RS485-1": {"type": "USB", "ifname": ptys.a}})
    bus_files(tmp_path, "orig", definition)
    shutil.copy(ORIGINAL_SCRIPT, tmp_path / "bacrouter" / "freeclient" / "original_modbus_rtu.lua")
    server = await serial_server([slave], ptys.b, "rtu", baud=9600)
    try:
        async with running(paths) as node:
            temp, setpoint, limit, energy, fan, alarm = (
                obj(node, f"orig|ahu|{n}") for n in ("temp", "setpoint", "limit", "energy", "fan", "alarm"))
            gateway = node.feature("freeclient")
            await until(lambda: all(o.reliability == OK for o in (temp, energy, fan, alarm)) or
                        gateway.buses["orig"].state == "failed", what="the script's first poll")
            assert gateway.buses["orig"].state == "running", gateway.buses["orig"].reason
            assert (temp.value, setpoint.value, energy.value, fan.value, alarm.value) == (21.5, 7.0, 1234.5, 1, 1)
            # a binary output commanded OFF: the coil goes off (with 0/1 in Lua, `value and 1 or 0` kept it on)
            await fan.write_property("presentValue", 0, priority=8)
            await until(lambda: slave.get("coil", 2) == [0], what="the coil switched off")
            mark = len(caplog.records)
            await asyncio.sleep(0.6)  # polls later it is still off, and the object says so
            assert slave.get("coil", 2) == [0] and fan.value == 0
            # and the script's read-back (false) matches what BACnet commands (false, not 0)
            assert not [r.getMessage() for r in caplog.records[mark:] if "point 5 reads" in r.getMessage()]
            await fan.write_property("presentValue", 1, priority=8)
            await until(lambda: slave.get("coil", 2) == [1], what="the coil switched on")
            await setpoint.write_property("presentValue", 42.0)
            await limit.write_property("presentValue", 12.25)
            await until(lambda: slave.get("holding", 6) == [42] and
                        struct.unpack(">f", struct.pack(">HH", *slave.get("holding", 8, 2)))[0] == 12.25,
                        what="the register writes")
            slave.set("holding", 4, *struct.unpack(">HH", struct.pack(">f", -3.0)))
            slave.set("discrete", 1, 0)
            await until(lambda: temp.value == -3.0 and alarm.value == 0, what="new values polled")
            # value_type 1: the input register's av is read-only, so the script accepted it
            from bacpypes3.errors import ExecutionError

            with pytest.raises(ExecutionError):
                await energy.write_property("presentValue", 1.0)
    finally:
        await server.shutdown()


ESCAPES = {  # scripts that once ran for ever past the budget, the time limit and interruption (issue 10, item 20)
    "xpcall": "xpcall(function() error('a') end, function() while true do end end)",
    "table.move": "table.move({}, 1, 1e10, 2)",
    # what no interruption reaches (a C call that never returns): a host call made deaf to the stop
    "uninterruptible": "swg.now()",
}


class LoopLag:
    """The longest the event loop went without running a 10 ms ticker."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - before - 0.01)

    def close(self) -> None:
        self._task.cancel()


@pytest.mark.parametrize("escape", list(ESCAPES))
@in_loop
async def test_a_stuck_script_never_blocks_a_reload_nor_leaks_threads(tmp_path, escape, monkeypatch):
    import threading

    from bacrouter.freeclient.bus import BusRuntime
    from bacrouter.loader import load_config

    release = threading.Event()
    if escape == "uninterruptible":
        monkeypatch.setattr(BusRuntime, "_now", lambda self: release.wait(10) and 0)
    baseline = threading.active_count()
    uci = "\nconfig freeclient_bus 'stuck'\n\toption server '127.0.0.1:1'\n\toption script 'stuck.lua'\n"
    paths = write_config(tmp_path, uci, {}, {})
    (tmp_path / "bacrouter" / "freeclient").mkdir(parents=True, exist_ok=True)
    (tmp_path / "bacrouter" / "freeclient" / "stuck.lua").write_text(
        "return swg.interface_tcp, function(ctx) swg.timer(1, 0, function() %s end) end" % ESCAPES[escape])

    def definition(description):
        bus_files(tmp_path, "stuck", {"type": 2, "fcdevices": [{"name": "meter", "fcpoints": [
            {"name": "power", "object_type": "ai", "instance": 1, "description": description}]}]})

    definition("first")
    lag = LoopLag()
    try:
        async with running(paths) as node:
            gateway = node.feature("freeclient")
            for turn in range(3):  # each reload restarts the bus while its script is stuck in the escape
                await until(lambda: gateway.buses["stuck"].counters["callbacks"] >= 2, what="the script running")
                await asyncio.sleep(0.1)
                definition(f"turn {turn}")
                started = time.monotonic()
                summary = await node.apply(load_config(paths)[0])
                assert summary["restarted"] == ["freeclient_bus 'stuck'"]
                assert time.monotonic() - started < 1.0
            assert lag.worst < 0.2, f"the event loop stood still for {lag.worst:.2f} s"
            if escape == "uninterruptible":
                assert gateway.summary()["stuck_threads"] == 3  # left behind, not waited for
            else:  # stopped at once, and on its own the budget ends the script: the bus fails, it does not hang
                await until(lambda: gateway.buses["stuck"].state == "failed", timeout=10,
                            what="the budget stopping the script")
                assert "instruction limit" in gateway.buses["stuck"].reason
        release.set()
        await until(lambda: threading.active_count() <= baseline, timeout=3, what="every bus thread ended")
    finally:
        release.set()
        lag.close()
