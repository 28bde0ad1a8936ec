"""Scripts written for the original product's Free Client run unchanged: the host API's values, names and
formatting are the original's (issue 10, items 1 to 5)."""

from __future__ import annotations

import logging
import time

from bacrouter.freeclient.bus import BusRuntime, PointReport
from bacrouter.freeclient.definition import INTERFACE_TCP, BusDefinition, DevicePlan, PointDef


class Sink:
    def __init__(self) -> None:
        self.events: list = []
        self.failures: list[str] = []

    def report(self, events):
        self.events += events

    def failed(self, reason):
        self.failures.append(reason)


def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def running(script: str, points: list[PointDef]) -> tuple[BusRuntime, Sink]:
    definition = BusDefinition("b", INTERFACE_TCP, "t.lua", script.encode(), server="127.0.0.1:1",
                               devices=[DevicePlan(1, "dev", points=points)])
    sink = Sink()
    runtime = BusRuntime(definition, sink, open_line=lambda path: None)
    runtime.start()
    return runtime, sink


def reported(sink: Sink, point: int) -> list:
    return [e.value for e in sink.events if isinstance(e, PointReport) and e.point == point]


def test_binary_points_are_booleans_in_lua():
    # point 1 a binary output; points 2.. analog values the script reports what it saw on
    points = [PointDef(1, "pump", "bo")] + [PointDef(i, f"seen{i}", "av") for i in range(2, 8)]
    runtime, sink = running("""
        local function seen(ctx)
          local dev, pnt, value = swg.firstwrite()
          if dev == nil then swg.timer(1, 20, seen) return end
          swg.updatepoint(1, 2, type(value) == "boolean" and 1 or 0)
          swg.updatepoint(1, 3, value and 1 or 0)           -- the original's idiom for the coil
          local commanded = swg.getwrite(1, 1)
          swg.updatepoint(1, 4, commanded == value and type(commanded) == "boolean" and 1 or 0)
          swg.updatepoint(1, 1, value)                      -- a boolean back
          local back = swg.pointvalue(1, 1)
          swg.updatepoint(1, 5, back == value and 1 or 0)   -- the read-back matches what was saved
          swg.updatepoint(1, 1, 0)                          -- still a number too
          swg.updatepoint(1, 6, swg.pointvalue(1, 1) == false and 1 or 0)
          swg.updatepoint(1, 7, 1)
        end
        return swg.interface_tcp, function(ctx) swg.timer(1, 0, seen) end""", points)
    try:
        runtime.post_write(1, 1, 0)  # BACnet commands the output OFF
        until(lambda: reported(sink, 7))
        assert runtime.state == "running", runtime.reason
        assert [reported(sink, p)[-1] for p in range(2, 7)] == [1, 0, 1, 1, 1]
        assert reported(sink, 1) == [0]  # the last word (0) per callback; the gateway gets 0/1 as before
    finally:
        runtime.stop()


def test_value_type_1_makes_a_point_read_only_whatever_its_object_type(tmp_path):
    import asyncio

    import pytest
    from bacpypes3.errors import ExecutionError

    from bacrouter.freeclient.definition import parse_definition
    from bacrouter.freeclient.gateway import FcPoint
    from bacrouter.freeclient.schema import FreeClientBus

    data = {"type": 2, "server": "127.0.0.1:1", "script": {"s.lua": "return 2, function() end"}, "fcdevices": [
        {"name": "meter", "fcpoints": [
            {"name": "energy", "object_type": "av", "value_type": 1, "tag": "func_code=4, addr=0"},
            {"name": "setpoint", "object_type": "av", "value_type": 0, "tag": "func_code=3, addr=0"},
            {"name": "relay", "object_type": "bo", "value_type": "1"}]}]}
    definition, problems = parse_definition(data, FreeClientBus(name="b"), tmp_path)
    assert not problems
    energy, setpoint, relay = definition.devices[0].points
    assert (energy.read_only, setpoint.read_only, relay.read_only) == (True, False, True)
    # the script sees it: a script that refuses writable objects on input addresses starts
    runtime = BusRuntime(definition, Sink())
    seen = [(p["read_only"], p["commandable"]) for p in runtime._context()["devices"][0]["points"]]
    assert seen == [(True, False), (False, False), (True, False)]
    # and BACnet cannot write it

    class Bus:
        accepts_writes = True

        def post_write(self, *args):
            raise AssertionError("a read-only point was written")

    class Device:
        bus, index = Bus(), 1

    for point, code in ((energy, "av"), (relay, "bo")):
        obj = FcPoint(Device(), point, code, 1, point.name).obj
        with pytest.raises(ExecutionError) as refused:
            asyncio.run(obj.write_property("presentValue", 1, priority=8 if code == "bo" else None))
        assert refused.value.errorCode == "writeAccessDenied"
    _, bad = parse_definition({**data, "fcdevices": [{"name": "m", "fcpoints": [
        {"name": "p", "object_type": "av", "value_type": 7}]}]}, FreeClientBus(name="b"), tmp_path)
    assert any("value_type" in p for p in bad)


def test_the_original_result_constant_names_exist_beside_ours():
    points = [PointDef(1, "ok", "av")]
    runtime, sink = running("""
        local pairs_ = {
          {swg.rs485error_busmess, swg.rs485_busmess, -1}, {swg.rs485error_noreply, swg.rs485_noreply, -2},
          {swg.rs485error_byte, swg.rs485_byte, -3}, {swg.rs485error_overflow, swg.rs485_overflow, -5},
          {swg.tcperror_timeout, swg.tcp_timeout, -1}, {swg.tcperror_read, swg.tcp_read, -2},
          {swg.tcperror_write, swg.tcp_write, -3}, {swg.tcperror_connect, swg.tcp_connect, -4},
        }
        local same = 0
        for _, p in ipairs(pairs_) do if p[1] == p[2] and p[2] == p[3] then same = same + 1 end end
        return swg.interface_tcp, function(ctx) swg.updatepoint(1, 1, same) end""", points)
    try:
        until(lambda: reported(sink, 1) or runtime.state == "failed")
        assert reported(sink, 1) == [8], runtime.reason
    finally:
        runtime.stop()


def test_print_and_log_format_values_the_way_lua_does(caplog):
    points = [PointDef(1, "done", "av")]
    caplog.set_level(logging.INFO, logger="bacrouter.freeclient")
    runtime, sink = running("""
        return swg.interface_tcp, function(ctx)
          print("p", nil, true, false, 3, 6 / 2, 2^53 // 1 | 0, 0.1, "x", nil)
          swg.log("l", nil, true, 3, 9007199254740992, setmetatable({}, {__tostring = function() return "T" end}))
          swg.updatepoint(1, 1, 1)
        end""", points)
    try:
        until(lambda: reported(sink, 1) or runtime.state == "failed")
        assert runtime.state == "running", runtime.reason
        lines = [r.getMessage() for r in caplog.records if r.name == "bacrouter.freeclient"]
        assert "bus b: p nil true false 3 3.0 9007199254740992 0.1 x nil" in lines
        assert "bus b: l nil true 3 9007199254740992 T" in lines
    finally:
        runtime.stop()
