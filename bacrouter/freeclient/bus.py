"""A running Free Client bus: its Lua script, the ``swg`` host API, and the thread it all runs in.

Each bus has a thread of its own with its own sandboxed Lua runtime, so a
slow line or a heavy script never holds up routing, and a script that fails
(an error, an endless loop, a memory bomb) stops only its bus, and stopping a
bus never waits on the event loop for long (``STOP_GRACE``; a thread stuck
where no interruption reaches is left behind, its reports dropped). The script is
event-driven as in the original product: it returns ``(interface_mask,
init)``; ``init(ctx)`` starts timers and transactions whose callbacks the
bus calls later. Transactions run one after another, after the Lua code that
asked for them has returned.

Values flow to the BACnet side through a :class:`BusSink` (the gateway
marshals them onto the event loop); BACnet writes come back through
:meth:`BusRuntime.post_write` and wait for the script's ``firstwrite()``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..lua.sandbox import Sandbox, ScriptError
from ..reliability import Reliability
from .definition import INTERFACE_RS485, INTERFACE_TCP, BusDefinition
from .link import RS485, TCP, LineSettings, SharedLine, TcpLink

__all__ = ["BusRuntime", "BusSink", "Reliability", "UnitReport"]

log = logging.getLogger("bacrouter.freeclient")

#: how long stopping a bus waits for its thread: a bus that is only waiting on its line ends within a slice
#: (0.1 s), a running script at its next clock check; a thread still running then is left behind (never
#: waited for on the event loop), reports nothing more, and ends when what it is stuck in returns
STOP_GRACE = 0.5
#: what a script may print (print, swg.log): a burst, then so many lines a second; the rest is counted and
#: said with the next line that gets through (a script printing in a loop must not flood logread)
PRINT_BURST = 20
PRINT_RATE = 1.0
#: the longest before_idle or timeout a script may ask for (a transaction holds a line that others share)
LONGEST_WAIT = 60.0
#: transactions a script may have queued, and distinct timers it may have running
MAX_PENDING_IO = 256
MAX_TIMERS = 4096


@dataclass(frozen=True, slots=True)
class PointReport:
    """A script's ``updatepoint``: the point's value and reliability."""

    device: Any
    point: Any
    value: Any
    reliability: int


@dataclass(frozen=True, slots=True)
class OnlineReport:
    """A script's ``onoff``: the device is online or not."""

    device: Any
    online: bool


@dataclass(frozen=True, slots=True)
class UnitReport:
    """A script's ``setunit``: the engineering units of an analog point whose definition sets none."""

    device: Any
    point: Any
    units: int


#: what one callback reported, in order
Event = PointReport | OnlineReport | UnitReport


class BusSink(Protocol):
    """Where the bus's news goes (called from the bus thread)."""

    def report(self, events: list[Event]) -> None: ...
    def failed(self, reason: str) -> None: ...


class _PointMirror:
    __slots__ = ("value", "reliability", "commanded", "binary")

    def __init__(self, binary: bool = False) -> None:
        self.value: Any = None
        self.reliability = Reliability.COMMUNICATION_FAILURE
        self.commanded: Any = None
        self.binary = binary  # the script sees true/false for it, as on the original host

    def lua_value(self, value: Any) -> Any:
        """A value as the script sees it: a boolean for a binary point (0 is true in Lua), else as is."""
        if self.binary and value is not None:
            return bool(value)
        return value


class BusRuntime:
    """One Free Client bus: a Lua script on an RS485 line or a TCP connection, in a thread of its own.

    Owns the script's sandbox, the line it talks on, the mirror of its
    devices' points (what ``pointvalue`` and ``getwrite`` answer), the BACnet
    writes waiting for the script, the batch of reports carried to the event
    loop through its sink, and the bus's state, reason and counters.
    """

    def __init__(self, definition: BusDefinition, sink: BusSink, open_line: Callable[[str], Any] = SharedLine.acquire,
                 device_path: str | None = None) -> None:
        self.definition = definition
        self.name = definition.name
        self.sink = sink
        self.state, self.reason = "stopped", ""
        self._open_line = open_line
        self._device_path = device_path
        self._line: Any = None
        self._tcp: TcpLink | None = None
        self._settings = LineSettings(definition.baudrate, definition.parity, 7 if definition.bit7 else 8,
                                      definition.frame_ms)
        self._points = {(d.index, p.index): _PointMirror(p.kind == "binary") for d in definition.devices
                        for p in d.points}
        self._point_defs = {(d.index, p.index): p for d in definition.devices for p in d.points}
        self._online = {d.index: False for d in definition.devices}
        self._lock = threading.Lock()  # guards writes and the mirrors' commanded values
        self._writes: dict[tuple[int, int], Any] = {}  # pending per point, oldest first; a newer value replaces
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._timers: list[tuple[float, int, Any, Any]] = []  # (due, sequence, id, callback)
        self._timer_ids: dict[Any, int] = {}
        self._sequence = itertools.count()
        self._io: deque[tuple[str, tuple[Any, ...], Any]] = deque()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self.counters = {"callbacks": 0, "transactions": 0, "noreply": 0, "errors": 0, "writes": 0}
        self.sandbox: Sandbox | None = None
        self._ctx: Any = None
        # reported during the current callback, the last word per point or device, in the order said
        self._batch: dict[tuple[Any, ...], Event] = {}
        self._print_tokens, self._print_at, self._print_dropped = float(PRINT_BURST), time.monotonic(), 0

    # ------------------------------------------------------------------ lifecycle (event loop thread)

    def start(self) -> None:
        """Run the bus; after a failure, run it again: a fresh script runtime, the line opened anew."""
        if self._thread is not None:
            if self._thread.is_alive():
                raise RuntimeError(f"Free Client bus {self.name}: still running")
            self._stop.clear()
            self._wake.clear()
            self._timers, self._timer_ids, self._batch = [], {}, {}
            self._io.clear()
            self.sandbox, self._ctx, self.reason = None, None, ""
            self._started = time.monotonic()
        self.state = "starting"
        self._thread = threading.Thread(target=self._main, name=f"freeclient-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end (any thread): a wait on the line or a running script ends soon after."""
        self._stop.set()
        self._wake.set()
        if self.sandbox is not None:
            self.sandbox.interrupt()

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop and wait up to ``grace`` for the thread (0: not at all); False when it was left behind."""
        self.request_stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(grace)
        return self.finish()

    @property
    def ended(self) -> bool:
        """The bus thread has ended (or never started)."""
        return self._thread is None or not self._thread.is_alive()

    def finish(self) -> bool:
        """After request_stop(): the bus is stopped; a thread still running is left behind (False), its news
        dropped from now on. Never waits."""
        ended = self.ended
        if not ended:
            self.sink = _NO_SINK
            log.warning("Free Client bus %s: its thread did not stop within %g s and is left behind", self.name,
                        STOP_GRACE)
        if self.state not in ("failed",):
            self.state = "stopped"
        return ended

    @property
    def restartable(self) -> bool:
        """Failed, and its thread has ended: :meth:`start` may run it again."""
        return self.state == "failed" and not (self._thread is not None and self._thread.is_alive())

    @property
    def accepts_writes(self) -> bool:
        return self.state in ("starting", "running")

    def post_write(self, device: int, point: int, value: Any) -> None:
        """A BACnet write (value None: relinquished) for the script's firstwrite(); one pending per point."""
        mirror = self._points.get((device, point))
        if mirror is not None:
            value = mirror.lua_value(value)
        with self._lock:
            self._writes[(device, point)] = value
            if mirror is not None:
                mirror.commanded = value
        self.counters["writes"] += 1
        self._wake.set()

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "reason": self.reason,
                "interface": "rs485" if self.definition.interface == INTERFACE_RS485 else "tcp",
                "script": self.definition.script_name, "devices": len(self.definition.devices),
                "online": sum(self._online.values()), "pending_writes": len(self._writes),
                "memory_kb": round(self.sandbox.memory_used() / 1024) if self.sandbox else 0,
                "counters": dict(self.counters)}

    # ------------------------------------------------------------------ the bus thread

    def _main(self) -> None:
        try:
            self._setup()
            self.state = "running"
            while not self._stop.is_set():
                if self._io:
                    self._transact(*self._io.popleft())
                    continue
                now = time.monotonic()
                if self._timers and self._timers[0][0] <= now:
                    _, sequence, timer_id, callback = heapq.heappop(self._timers)
                    if self._timer_ids.get(timer_id) == sequence:
                        del self._timer_ids[timer_id]
                        self._enter(callback, self._ctx)
                    continue
                wait = self._timers[0][0] - now if self._timers else None
                self._wake.wait(wait)
                self._wake.clear()
        except ScriptError as err:
            if not self._stop.is_set():
                self._fail(f"script {err.kind}: {err}")
        except Exception as err:  # our bug: the bus stops, the daemon does not
            log.exception("Free Client bus %s failed", self.name)
            self._fail(f"internal error: {err}")
        finally:
            if self._line is not None:
                self._line.release()
                self._line = None
            if self._tcp is not None:
                self._tcp.close()

    def _fail(self, reason: str) -> None:
        self.state, self.reason = "failed", reason
        log.error("Free Client bus %s stopped: %s", self.name, reason)
        for device in self._online:
            self._online[device] = False
        self.sink.failed(reason)

    def load(self, sandbox: Sandbox) -> Any:
        """Run the script in ``sandbox`` with the host API; its init function. ScriptError when it fails to
        load or does not return ``interface_mask, init`` for the bus's interface (also ``bacrouter check``)."""
        definition = self.definition
        sandbox.lua.globals()[b"swg"] = self._host_table(sandbox)
        sandbox.lua.globals()[b"print"] = sandbox.printer(self._print)
        returned = sandbox.run(definition.script, definition.script_name or self.name)
        if len(returned) < 2 or not callable(returned[1]):
            raise ScriptError("interface", "the script must return interface_mask, init")
        mask = returned[0] if isinstance(returned[0], int) else 0
        if not mask & definition.interface:
            wanted = "RS485" if definition.interface == INTERFACE_RS485 else "TCP"
            raise ScriptError("interface", f"the script does not speak {wanted} (its interface mask is {mask})")
        return returned[1]

    def _setup(self) -> None:
        definition = self.definition
        self.sandbox = sandbox = Sandbox(f"bus {self.name}")
        init = self.load(sandbox)
        if definition.interface == INTERFACE_RS485:
            if not self._device_path:
                raise ScriptError("interface", "no serial device for the bus's resource")
            self._line = self._open_line(self._device_path)
        else:
            self._tcp = TcpLink(definition.server, self._settings.frame_gap)
        self._ctx = sandbox.table(self._context())
        self._enter(init, self._ctx)

    def _context(self) -> dict[str, Any]:
        definition = self.definition
        devices = []
        for device in definition.devices:
            points = []
            for point in device.points:
                code = point.object_type
                points.append({"tag": point.tag, "name": point.name, "instance": point.instance,
                               "obj_type": code[0], "commandable": code.endswith("o") and point.writable,
                               "read_only": not point.writable,
                               "unit": point.unit if point.unit not in (None, "") else None,
                               "max_value": len(point.state_texts) if code[0] == "m" else (2 if code[0] == "b" else 0)})
            devices.append({"tag": device.tag, "name": device.name, "instance": device.instance or 0,
                            "points": points})
        return {"type": definition.interface, "baudrate": definition.baudrate, "tag": definition.tag,
                "name": definition.name, "devices": devices}

    def _enter(self, function: Any, *args: Any) -> tuple[Any, ...]:
        """Every call into the script: counted, budgeted, and fatal for the bus when it fails.

        The values it reported go to the BACnet side together when it returns (one hop to the
        event loop per callback, not per point)."""
        assert self.sandbox is not None
        self.counters["callbacks"] += 1
        try:
            return self.sandbox.call(function, *args)
        finally:
            if self._batch:
                events, self._batch = list(self._batch.values()), {}
                self.sink.report(events)

    def _transact(self, kind: str, args: tuple[Any, ...], callback: Any) -> None:
        self.counters["transactions"] += 1
        if kind == "rs485":
            packet, before_idle, timeout, maxlen = args
            result, data = self._line.transaction(self._settings, packet, before_idle, timeout, maxlen, self._stop)
            if result == RS485.NOREPLY:
                self.counters["noreply"] += 1
        else:
            packet, minlen, maxlen, timeout = args
            assert self._tcp is not None
            result, data = self._tcp.exchange(packet, minlen, maxlen, timeout, self._stop)
        if result < 0:
            self.counters["errors"] += 1
        if callback is not None and not self._stop.is_set():
            self._enter(callback, self._ctx, result, data)

    # ------------------------------------------------------------------ the host API (called by Lua, bus thread)

    def _host_table(self, sandbox: Sandbox) -> Any:
        constants = {
            "interface_rs485": INTERFACE_RS485, "interface_tcp": INTERFACE_TCP,
            "rs485_maxlength": RS485.MAXLENGTH,
            "rs485_busmess": RS485.BUSMESS, "rs485_noreply": RS485.NOREPLY, "rs485_byte": RS485.BYTE,
            "rs485_overflow": RS485.OVERFLOW,
            "tcp_timeout": TCP.TIMEOUT, "tcp_read": TCP.READ, "tcp_write": TCP.WRITE, "tcp_connect": TCP.CONNECT,
            # the original host's names for the same results
            "rs485error_busmess": RS485.BUSMESS, "rs485error_noreply": RS485.NOREPLY, "rs485error_byte": RS485.BYTE,
            "rs485error_overflow": RS485.OVERFLOW,
            "tcperror_timeout": TCP.TIMEOUT, "tcperror_read": TCP.READ, "tcperror_write": TCP.WRITE,
            "tcperror_connect": TCP.CONNECT,
            "reliability_no_fault": Reliability.NO_FAULT, "reliability_unreliable_other": Reliability.UNRELIABLE_OTHER,
            "reliability_communication_failure": Reliability.COMMUNICATION_FAILURE,
        }
        functions = {
            "now": self._now, "timer": self._timer, "sndrcv485": self._sndrcv485, "sndrcvtcp": self._sndrcvtcp,
            "tcpreset": self._tcpreset, "updatepoint": self._updatepoint, "pointvalue": self._pointvalue,
            "firstwrite": self._firstwrite, "getwrite": self._getwrite, "onoff": self._onoff,
            "devicestatus": self._devicestatus, "log": self._print, "mbus_records": self._mbus_records,
            "setunit": self._setunit,
        }
        table = sandbox.table(constants)
        for name, function in functions.items():
            table[name.encode()] = function
        table[b"log"] = sandbox.printer(self._print)  # values formatted by Lua, as print does
        return table

    def _now(self) -> int:
        return int((time.monotonic() - self._started) * 1000)

    def _timer(self, timer_id: Any, delay_ms: Any, callback: Any = None) -> None:
        if callback is None:
            self._timer_ids.pop(timer_id, None)  # cancelled: the heap entry is skipped when it falls due
            return
        if timer_id not in self._timer_ids and len(self._timer_ids) >= MAX_TIMERS:
            raise ValueError(f"timer: more than {MAX_TIMERS} timers running")
        sequence = next(self._sequence)
        self._timer_ids[timer_id] = sequence
        if len(self._timers) > 2 * len(self._timer_ids) + 64:  # re-armed timers leave stale entries behind
            self._timers = [t for t in self._timers if self._timer_ids.get(t[2]) == t[1]]
            heapq.heapify(self._timers)
        heapq.heappush(self._timers, (time.monotonic() + max(0.0, float(delay_ms or 0)) / 1000, sequence,
                                      timer_id, callback))

    def _sndrcv485(self, packet: Any, before_idle_ms: Any, timeout_ms: Any, maxlen: Any, callback: Any = None) -> None:
        if self.definition.interface != INTERFACE_RS485:
            raise ValueError("sndrcv485 on a TCP bus")
        data = bytes(packet or b"")
        if len(data) > RS485.MAXLENGTH:
            raise ValueError(f"sndrcv485: a packet of {len(data)} octets (at most {RS485.MAXLENGTH})")
        limit = min(int(maxlen or RS485.MAXLENGTH), RS485.MAXLENGTH)
        self._queue("rs485", (data, _seconds(before_idle_ms), _seconds(timeout_ms), limit), callback)

    def _sndrcvtcp(self, packet: Any, minlen: Any, maxlen: Any, timeout_ms: Any, callback: Any = None) -> None:
        if self.definition.interface != INTERFACE_TCP:
            raise ValueError("sndrcvtcp on an RS485 bus")
        limit = max(1, min(int(maxlen or 65536), 65536))
        self._queue("tcp", (bytes(packet) if packet else None, max(0, int(minlen or 0)), limit, _seconds(timeout_ms)),
                    callback)

    def _queue(self, kind: str, args: tuple[Any, ...], callback: Any) -> None:
        if len(self._io) >= MAX_PENDING_IO:
            raise ValueError(f"more than {MAX_PENDING_IO} transactions waiting: wait for their callbacks")
        self._io.append((kind, args, callback))

    def _tcpreset(self) -> None:
        if self._tcp is not None:
            self._tcp.reset()

    def _mirror(self, device: Any, point: Any, call: str) -> _PointMirror:
        mirror = self._points.get((device, point))
        if mirror is None:
            raise ValueError(f"{call}: no point {point} on device {device}")
        return mirror

    def _updatepoint(self, device: Any, point: Any, value: Any, reliability: Any = None) -> None:
        mirror = self._mirror(device, point, "updatepoint")
        level = Reliability.NO_FAULT if reliability is None else int(reliability)
        if isinstance(value, bool):
            value = int(value)  # a binary point's true/false (any point's, as 1/0)
        if value is not None and not isinstance(value, (int, float)):
            raise ValueError(f"updatepoint: the value of point {point} on device {device} is not a number")
        if isinstance(value, float) and not math.isfinite(value) and level == Reliability.NO_FAULT:
            level = Reliability.UNRELIABLE_OTHER if math.isnan(value) else level
        if mirror.binary and value is not None and (not isinstance(value, float) or math.isfinite(value)):
            value = int(value != 0)
        mirror.value, mirror.reliability = value, level
        self._batch.pop(("point", device, point), None)  # the last word goes last
        self._batch[("point", device, point)] = PointReport(device, point, value, level)
        if level == Reliability.NO_FAULT and value is not None:
            self._online[device] = True  # a good value brings its device online (the gateway does the same)

    def _pointvalue(self, device: Any, point: Any) -> tuple[Any, int]:
        mirror = self._mirror(device, point, "pointvalue")
        return mirror.lua_value(mirror.value), mirror.reliability

    def _firstwrite(self) -> tuple[Any, ...] | None:
        with self._lock:
            if not self._writes:
                return None
            key = next(iter(self._writes))
            return (*key, self._writes.pop(key))

    def _getwrite(self, device: Any, point: Any) -> Any:
        mirror = self._mirror(device, point, "getwrite")
        with self._lock:
            return mirror.commanded

    def _onoff(self, device: Any, online: Any) -> None:
        if device not in self._online:
            raise ValueError(f"onoff: no device {device}")
        state = bool(online)
        self._online[device] = state
        self._batch.pop(("online", device), None)
        self._batch[("online", device)] = OnlineReport(device, state)

    def _devicestatus(self, device: Any) -> bool:
        if device not in self._online:
            raise ValueError(f"devicestatus: no device {device}")
        return self._online[device]

    def _setunit(self, device: Any, point: Any, unit: Any) -> bool:
        """bacrouter's helper (not in the original API): the BACnet engineering units of an analog point
        whose definition sets none (a name such as ``kilowatt-hours`` or a number). Returns false, and
        changes nothing, for a point with a unit of its own or one that is not analog."""
        self._mirror(device, point, "setunit")
        from ..modbus.objects import units_code  # bacpypes3 knows the names

        definition = self._point_defs.get((device, point))
        if definition is None or definition.kind != "analog" or definition.unit not in (None, ""):
            return False
        try:
            code = units_code(unit.decode() if isinstance(unit, bytes) else unit)
        except ValueError as err:
            raise ValueError(f"setunit: {unit!r} is not a BACnet engineering unit") from err
        self._batch.pop(("unit", device, point), None)
        self._batch[("unit", device, point)] = UnitReport(device, point, code)
        return True

    def _mbus_records(self, data: Any, offset: Any = 0) -> tuple[Any, ...]:
        """bacrouter's helper (not in the original API): decode an M-Bus reply for the M-Bus script.

        Returns a table ``{more = bool, id = "12345678", secondary = "...", manufacturer = "ABB",
        records = {[n] = {value = number, text = "...", unit = "Energy (10 Wh)", si_value = number,
        si_unit = "Wh", bacnet_unit = "kilowatt-hours", bacnet_value = number, func = "Instantaneous value",
        storage = n, tariff = n}}}`` with the records
        numbered from ``offset`` (libmbus's record ids; a multi-telegram read counts on), or nil and why.
        """
        from ..mbus import MBusError, parse_frame, records_json

        try:
            decoded = records_json(parse_frame(bytes(data or b"")))
        except MBusError as err:
            return None, str(err)
        if decoded.get("type") != "variable":
            return None, f"not variable data ({decoded.get('type')})"
        assert self.sandbox is not None
        start = int(offset or 0)
        records = {}
        for record in decoded["records"]:
            text = record["text"]
            try:
                value: Any = float(text) if text not in (None, "") else None
            except ValueError:
                value = None
            records[start + record["id"]] = {"value": value, "text": text or "", "unit": record["unit"] or "",
                                              "si_value": record["value"], "si_unit": record["si_unit"] or "",
                                              "bacnet_unit": record["bacnet_unit"],
                                              "bacnet_value": record["bacnet_value"],
                                              "func": record["function"] or "", "storage": record["storage_number"],
                                              "tariff": record["tariff"]}
        header = decoded["header"]
        table = {"more": decoded["more_records_follow"], "id": header.get("id") or "",
                 "secondary": header.get("secondary_address") or "", "manufacturer": header.get("manufacturer") or "",
                 "count": len(decoded["records"]), "records": records}
        return self.sandbox.table(table), None

    def _print(self, *values: Any) -> None:
        text = " ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values)
        self._log_line(text)

    def _log_line(self, text: str) -> None:
        """A line the script logs, rate-limited per bus (PRINT_BURST, then PRINT_RATE a second)."""
        now = time.monotonic()
        self._print_tokens = min(float(PRINT_BURST), self._print_tokens + (now - self._print_at) * PRINT_RATE)
        self._print_at = now
        if self._print_tokens < 1:
            self._print_dropped += 1
            self.counters["log_dropped"] = self.counters.get("log_dropped", 0) + 1
            return
        self._print_tokens -= 1
        if self._print_dropped:
            dropped, self._print_dropped = self._print_dropped, 0
            log.info("bus %s: %s (%d line(s) dropped before: more than %g a second)", self.name, text, dropped,
                     PRINT_RATE)
        else:
            log.info("bus %s: %s", self.name, text)


class _NoSink:
    """Where a bus left behind reports: nowhere (its objects belong to a newer bus, or to no one)."""

    def report(self, events: list[Event]) -> None:
        pass

    def failed(self, reason: str) -> None:
        pass


_NO_SINK = _NoSink()


def _seconds(milliseconds: Any) -> float:
    """A script's wait in ms as seconds, within 0..LONGEST_WAIT."""
    return min(max(0.0, float(milliseconds or 0)) / 1000, LONGEST_WAIT)
