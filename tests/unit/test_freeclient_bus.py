"""A Free Client bus runtime on its own: what a script reports reaches the sink in order, hostile or
careless scripts are bounded, a stopping bus lets go at once, and a TCP bus stays in step."""

from __future__ import annotations

import socket
import threading
import time

from bacrouter.freeclient.bus import MAX_PENDING_IO, BusRuntime, OnlineReport, PointReport
from bacrouter.freeclient.definition import (
    INTERFACE_RS485,
    INTERFACE_TCP,
    SHIPPED_SCRIPTS,
    BusDefinition,
    DevicePlan,
    PointDef,
)
from bacrouter.freeclient.link import RS485, TCP, IdleWait, Reply, TcpLink


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.failures: list[str] = []

    def report(self, events):
        self.events += events

    def failed(self, reason):
        self.failures.append(reason)


def bus(script: str, interface: int = INTERFACE_TCP, server: str = "127.0.0.1:1") -> BusDefinition:
    points = [PointDef(1, "temp", "ai"), PointDef(2, "mode", "mv", state_texts=["a", "b"]), PointDef(3, "sp", "ao")]
    return BusDefinition("b", interface, "t.lua", script.encode(), server=server,
                         devices=[DevicePlan(1, "dev", points=points)])


def running(script: str, **kwargs) -> tuple[BusRuntime, Sink]:
    sink = Sink()
    runtime = BusRuntime(bus(script, **kwargs), sink, open_line=lambda path: None, device_path="/dev/null")
    runtime.start()
    return runtime, sink


def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_events_arrive_in_the_order_said_and_online_follows_the_last_word():
    # a good value brings the device online; an onoff(false) after it must still take it offline
    runtime, sink = running("""
        return swg.interface_tcp, function(ctx)
          swg.updatepoint(1, 1, 20.5)
          swg.onoff(1, false)
          swg.timer(1, 0, function()
            swg.updatepoint(1, 1, 21.0)
            swg.updatepoint(1, 1, 21.5)  -- the last word per point is what goes
            _G.was = swg.devicestatus(1)
            swg.onoff(1, false)
            swg.timer(2, 0, function() _G.after = swg.devicestatus(1) swg.updatepoint(1, 2, 1) end)
          end)
        end""")
    try:
        until(lambda: len(sink.events) >= 5)
        assert sink.events == [PointReport(1, 1, 20.5, 0), OnlineReport(1, False), PointReport(1, 1, 21.5, 0),
                               OnlineReport(1, False), PointReport(1, 2, 1, 0)]
        assert runtime._online[1] is True  # the last update (good) brought it back, as the gateway does
    finally:
        runtime.stop()


def test_nan_is_unreliable_and_writes_merge_per_point():
    runtime, sink = running("""
        return swg.interface_tcp, function(ctx)
          swg.updatepoint(1, 1, 0/0)
          swg.timer(1, 300, function()
            local seen = {}
            while true do
              local dev, pnt, value = swg.firstwrite()
              if dev == nil then break end
              seen[#seen + 1] = pnt .. "=" .. tostring(value)
            end
            swg.log(table.concat(seen, ","))
            swg.updatepoint(1, 3, #seen)
          end)
        end""")
    try:
        runtime.post_write(1, 3, 10.0)
        runtime.post_write(1, 2, 2)
        runtime.post_write(1, 3, 12.0)  # replaces the first: one pending write per point, its place kept
        until(lambda: any(isinstance(e, PointReport) and (e.device, e.point) == (1, 3) for e in sink.events))
        nan = sink.events[0]
        assert (nan.device, nan.point, nan.reliability) == (1, 1, 7)  # UNRELIABLE_OTHER
        assert sink.events[-1] == PointReport(1, 3, 2, 0)
    finally:
        runtime.stop()


def test_a_failed_bus_refuses_writes_and_hostile_queues_are_bounded():
    runtime, sink = running("""
        return swg.interface_tcp, function(ctx)
          for i = 1, 1e6 do swg.sndrcvtcp(nil, 0, 1, 0, function() end) end
        end""")
    try:
        until(lambda: runtime.state == "failed")
        assert f"more than {MAX_PENDING_IO} transactions" in runtime.reason and sink.failures
        assert not runtime.accepts_writes
    finally:
        runtime.stop()
    runtime, sink = running("""
        return swg.interface_tcp, function(ctx)
          for i = 1, 1e5 do swg.timer(1, 1e9, function() end) end  -- one timer re-armed: one entry
          swg.updatepoint(1, 1, 1)
        end""")
    try:
        until(lambda: sink.events)
        assert len(runtime._timers) < 1000 and runtime.state == "running"
    finally:
        runtime.stop()


def listening() -> tuple[socket.socket, str]:
    """A TCP server socket on loopback, and its host:port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server, f"127.0.0.1:{server.getsockname()[1]}"


def test_stop_ends_a_long_wait_and_a_running_script_at_once():
    server, address = listening()
    runtime, _ = running("""
        return swg.interface_tcp, function(ctx)
          swg.sndrcvtcp("x", 1, 10, 1e9, function() end)  -- the server never answers: a 60 s wait at most
        end""", server=address)
    loop, _ = running("""
        local function spin() for i = 1, 3e7 do end swg.timer(1, 0, spin) end  -- always inside the script
        return swg.interface_tcp, function(ctx) swg.timer(1, 0, spin) end""")
    try:
        time.sleep(0.3)
        started = time.monotonic()
        runtime.stop()
        loop.stop()
        assert time.monotonic() - started < 1.0
        assert not runtime._thread.is_alive() and not loop._thread.is_alive()
        assert runtime.state == loop.state == "stopped"  # stopping is not a failure
    finally:
        server.close()


def test_a_late_tcp_answer_is_dropped_before_the_next_request():
    server, address = listening()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            for number in range(1, 4):
                if not conn.recv(100):
                    return
                if number == 1:
                    time.sleep(0.3)  # too late for the first request's 100 ms
                conn.sendall(b"ANS-%d" % number)

    threading.Thread(target=serve, daemon=True).start()
    link = TcpLink(address, frame_gap=0.02)
    try:
        assert link.exchange(b"REQ1", 5, 5, 0.1)[0] == TCP.TIMEOUT
        time.sleep(0.4)
        assert link.exchange(b"REQ2", 5, 5, 1.0) == (5, b"ANS-2")
        assert link.exchange(b"REQ3", 5, 5, 1.0) == (5, b"ANS-3")
    finally:
        link.close()
        server.close()


def test_waits_are_clamped():
    rs485 = BusRuntime(bus("", INTERFACE_RS485), Sink())
    rs485._sndrcv485(b"x", 1e9, -5, 10)
    tcp = BusRuntime(bus(""), Sink())
    tcp._sndrcvtcp(b"x", 1, 10, 1e12)
    assert rs485._io[0][1][1:3] == (60.0, 0.0) and tcp._io[0][1][3] == 60.0


def test_the_shipped_rtu_script_takes_a_short_answer_as_damage():
    # a valid CRC around one register when three were asked: the CRC must not become a value
    from bacrouter.modbus.codec import rtu_frame

    reply = rtu_frame(1, bytes((3, 2, 0x00, 0x2A)))
    asked: list[bytes] = []

    class Line:
        def transaction(self, settings, packet, before_idle, timeout, maxlen, stop=None):
            asked.append(packet)
            return len(reply), reply

        def release(self) -> None:
            pass

    points = [PointDef(i, f"p{i}", "ai", tag=f"reg={i - 1}") for i in (1, 2, 3)]
    script = (SHIPPED_SCRIPTS / "modbus_rtu.lua").read_bytes()
    definition = BusDefinition("b", INTERFACE_RS485, "modbus_rtu.lua", script,
                               tag="update_interval=50", devices=[DevicePlan(1, "dev", tag="unit=1", points=points)])
    sink = Sink()
    runtime = BusRuntime(definition, sink, open_line=lambda path: Line(), device_path="/dev/null")
    runtime.start()
    try:
        until(lambda: len(asked) >= 4)
        assert runtime.state == "running"
        assert not [e for e in sink.events if isinstance(e, PointReport) and e.reliability == 0]  # no good value from it
        assert OnlineReport(1, False) in sink.events  # three bad answers: offline, as with silence
    finally:
        runtime.stop()


def test_idle_wait_and_reply_rules():
    idle = IdleWait(0.010, now=0.0)
    assert not idle.ready(0.005)
    idle.heard(0.006)
    assert not idle.ready(0.012) and idle.ready(0.016)
    assert not idle.failed(0.5) and idle.failed(1.02)
    reply = Reply(0.0, timeout=0.1, gap=0.004, maxlen=8)
    assert reply.outcome(0.05) is None
    assert Reply(0.0, 0.1, 0.004, 8).outcome(0.1) == (RS485.NOREPLY, b"")
    reply.feed(b"\x01\x02", 0.02)
    assert reply.outcome(0.022) is None and reply.outcome(0.025) == (2, b"\x01\x02")
    full = Reply(0.0, 0.1, 0.004, 4)
    full.feed(b"abcd", 0.01)
    assert full.outcome(0.01) == (4, b"abcd")
    full.feed(b"e", 0.011)
    assert full.outcome(0.011) == (RS485.OVERFLOW, b"abcd")


def test_setunit_sets_the_units_of_an_analog_point_without_a_unit_only():
    """swg.setunit (issue 10 item 8): the M-Bus script gives a point the units of its record's VIF."""
    from bacrouter.freeclient.bus import UnitReport

    sink = Sink()
    points = [PointDef(1, "energy", "ai"), PointDef(2, "volume", "ai", unit="liters"), PointDef(3, "alarm", "bi")]
    script = b"""
        return swg.interface_tcp, function(ctx)
          _G.r = {swg.setunit(1, 1, "kilowatt-hours"), swg.setunit(1, 2, "kilowatt-hours"),
                  swg.setunit(1, 3, "kilowatt-hours")}
          _G.units = {ctx.devices[1].points[1].unit, ctx.devices[1].points[2].unit}
          swg.updatepoint(1, 1, 1.5)
        end"""
    definition = BusDefinition("b", INTERFACE_TCP, "t.lua", script, server="127.0.0.1:1",
                               devices=[DevicePlan(1, "dev", points=points)])
    runtime = BusRuntime(definition, sink, open_line=lambda path: None, device_path="/dev/null")
    runtime.start()
    try:
        until(lambda: len(sink.events) >= 2)
    finally:
        runtime.stop()
    assert sink.events == [UnitReport(1, 1, 19), PointReport(1, 1, 1.5, 0)]  # 19: kilowatt-hours
    assert runtime.sandbox.run("return r[1], r[2], r[3], units[1], units[2]", "check") == (
        True, False, False, None, b"liters")


def test_a_script_printing_in_a_loop_writes_a_bounded_number_of_lines(caplog):
    import logging

    from bacrouter.freeclient.bus import PRINT_BURST, PRINT_RATE

    caplog.set_level(logging.INFO, logger="bacrouter.freeclient")
    runtime, sink = running("""
        return swg.interface_tcp, function(ctx)
          local function chatter()
            for i = 1, 500 do print('line', i) swg.log('log', i) end
            swg.timer(1, 10, chatter)
          end
          chatter()
        end""")
    started = time.monotonic()
    try:
        until(lambda: runtime.counters.get("log_dropped", 0) > 5000)
        time.sleep(1.0)
    finally:
        runtime.stop()
    elapsed = time.monotonic() - started
    lines = [r for r in caplog.records if r.getMessage().startswith("bus b: ")]
    assert len(lines) <= PRINT_BURST + PRINT_RATE * elapsed + 1  # a minute of this: at most 20 + 60 lines
    assert runtime.counters["log_dropped"] > 5000
    assert any("dropped before" in r.getMessage() for r in lines)  # what was dropped is said


def test_a_non_string_error_object_is_reported_with_its_type_and_tostring():
    runtime, sink = running("""
        return swg.interface_tcp, function(ctx)
          swg.timer(1, 0, function() error(setmetatable({}, {__tostring = function() return 'meter 7 gone' end})) end)
        end""")
    try:
        until(lambda: sink.failures)
        assert "error object of type table: meter 7 gone" in sink.failures[0]
    finally:
        runtime.stop()


def test_stopping_never_waits_for_a_thread_that_cannot_be_stopped():
    """A thread stuck where no interruption reaches (a C call that never returns, here a host call that sleeps)
    is left behind after the grace: stop() returns, and what the thread says afterwards goes nowhere."""
    release, entered = threading.Event(), threading.Event()
    sink = Sink()
    runtime = BusRuntime(bus("""
        return swg.interface_tcp, function(ctx)
          swg.timer(1, 0, function() swg.now() swg.updatepoint(1, 1, 5) end)
        end"""), sink)
    runtime._now = lambda: entered.set() or release.wait(10) and 0  # blocks, deaf to the stop
    runtime.start()
    try:
        until(entered.is_set)
        time.sleep(0.05)
        started = time.monotonic()
        assert runtime.stop(grace=0.2) is False
        assert time.monotonic() - started < 0.4 and runtime.state == "stopped" and not runtime.ended
    finally:
        release.set()
    until(lambda: runtime.ended)
    assert sink.events == []  # the late report was dropped
