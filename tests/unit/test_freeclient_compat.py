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
