"""The running Modbus gateway: masters polling slaves, points as BACnet objects.

Per master one asyncio task works through :class:`~.schedule.MasterSchedule`
on its transport. Values read become object values (scale, offset, bit
fields, polarity, state maps); BACnet writes become Modbus writes, one request
each. Objects live in the router's device (single-device mode) or in one
virtual device per slave on the VBUS network (virtual-device mode); the
status objects of every slave are in the router's device.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bacpypes3.errors import ExecutionError

from ..config.model import Config
from ..events import NO_EVENTS, Events
from ..feature import Summary, new_summary
from ..net.host import DeviceHost, VirtualDeviceHandle
from .codec import DecodeError, Function, ModbusException, Request
from .datatypes import ByteOrder, DataTypeError, ValueCodec
from .devconfig import Point
from .mapping import STATUS_OBJECTS, GatewayMapping, PointMapping, SlaveMapping, map_gateway
from .objects import GatewayObject, Publications, Reliability, make_object, point_kwargs
from .plan import Item, Limits, ReadPlanner, ReadRequest, read_function
from .schedule import MasterSchedule, Outcome, ReadJob, SlaveSchedule, Wait, WriteJob
from .schema import ModbusMaster, ModbusSlave
from .transport import SerialTransport, Target, TcpTransport, Transport

__all__ = ["ModbusGateway", "PointRuntime", "SlaveRuntime", "MasterRuntime", "slave_target", "slave_planner",
           "write_request", "run_read_group", "Reporter", "REWRITE_AFTER"]

log = logging.getLogger("bacrouter.modbus")

#: seconds before an output whose read-back differs from the written value is written again
REWRITE_AFTER = 5.0
#: the wait doubles after each re-write that did not take, up to REWRITE_AFTER * 2**REWRITE_BACKOFF (5 min)
REWRITE_BACKOFF = 6
SECONDS, PERCENT = 73, 98  # engineering units of the status objects

#: told each Read Group request as it completes: (its entry, how many are done, how many in all)
Reporter = Callable[[dict[str, Any], int, int], None]


# --------------------------------------------------------------------------- sans-IO helpers


def slave_target(slave: ModbusSlave, master: ModbusMaster) -> Target:
    ascii_framing = slave.ascii if slave.ascii is not None else master.protocol == "ascii"
    return Target(unit=slave.station, timeout=slave.timeout_ms / 1000, baud=slave.baudrate, parity=slave.parity,
                  stop_bits=slave.stop_bits, ascii=bool(ascii_framing) and master.serial)


def slave_limits(slave: ModbusSlave) -> Limits:
    return Limits(slave.group_bit, slave.unused_bit, slave.group_reg, slave.unused_reg)


def slave_planner(slave: ModbusSlave, points: list[Point] | None = None, keys: list[Any] | None = None) -> ReadPlanner:
    """The read plan of ``points`` (default: the slave's enabled ones); ``keys`` name the items (default: the points)."""
    if points is None:
        points = [p for p in slave.point_list if p.enabled]
    items = [Item(key, read_function(p.address_type, slave.coil_fr_discrete, slave.holding_fr_input),
                  p.address, p.registers) for key, p in zip(keys or points, points, strict=True)]
    return ReadPlanner(items, slave_limits(slave))


def write_request(address_type: str, address: int, words: list[int], single_coil: bool, single_register: bool) -> Request:
    """One write, never combined: function 5/15 for a coil, 6/16 for registers (a multi-register value: 16)."""
    if address_type == "coil":
        return Request(Function.WRITE_SINGLE_COIL if single_coil else Function.WRITE_MULTIPLE_COILS, address, 1,
                       (words[0] & 1,))
    if len(words) == 1 and single_register:
        return Request(Function.WRITE_SINGLE_REGISTER, address, 1, tuple(words))
    return Request(Function.WRITE_MULTIPLE_REGISTERS, address, len(words), tuple(words))


def point_codec(slave: ModbusSlave, plan: PointMapping) -> ValueCodec:
    point = plan.point
    integer = ByteOrder(slave.integer_little_endian, slave.integer_byte_reverse)
    floats = ByteOrder(slave.float_little_endian, slave.float_byte_reverse)
    return _codec(point.data_type, point.address_type, point.reg_num, integer, floats, slave.byte_reverse,
                  point.bit_offset, point.bit_len)


#: codecs are immutable and few differ: thousands of points share a handful
_codec = functools.lru_cache(maxsize=1024)(ValueCodec.build)


# --------------------------------------------------------------------------- points


class PointRuntime:
    """One point: its codec, its object, and what was last written to it."""

    __slots__ = ("plan", "point", "codec", "obj", "slave", "written", "written_at", "_rewrite", "_rewrites",
                 "_mismatch", "words", "read_at")

    def __init__(self, slave: SlaveRuntime, plan: PointMapping) -> None:
        self.slave, self.plan, self.point = slave, plan, plan.point
        self.codec = point_codec(slave.config, plan)
        self.written: Any = None  # last value commanded to an output (read-back is compared with it)
        self.written_at: float | None = None  # when that write completed
        self._rewrite: asyncio.TimerHandle | None = None
        self._rewrites = 0  # re-writes in a row that did not take: each waits twice as long
        self._mismatch = False  # the unreliability is ours (read-back), not the value's
        self.words: tuple[int, ...] = ()  # the raw registers (or bits) of the last answer, for the live view
        self.read_at: float | None = None  # when they came (monotonic)
        point = self.point
        self.obj: GatewayObject = make_object(plan.object_type, plan.instance, plan.name,
                                              description=point.description,
                                              writer=self if point.writable else None, **point_kwargs(point))

    # ------------------------------------------------------------------ Modbus to BACnet

    def to_bacnet(self, raw: float) -> Any:
        """The object's value for a raw Modbus number, or None when there is none (unmapped state)."""
        point = self.point
        if point.kind == "analog":
            return raw * point.scale + point.offset
        if not math.isfinite(raw):
            return None
        if point.kind == "binary":
            return int((raw != 0) != point.polarity)
        number = int(raw)
        if point.state_values:
            return point.state_values.index(number) + 1 if number in point.state_values else None
        state = number + 1
        return state if 1 <= state <= len(point.state_texts) else None

    def to_modbus(self, value: Any) -> float:
        point = self.point
        if point.kind == "analog":
            return (float(value) - point.offset) / point.scale
        if point.kind == "binary":
            return float(bool(value) != point.polarity)
        state = int(value)
        return float(point.state_values[state - 1] if point.state_values else state - 1)

    def received(self, words: tuple[int, ...], started: float, now: float) -> None:
        self.words, self.read_at = tuple(words), now
        raw, reliable = self.codec.decode(words)
        value = self.to_bacnet(raw) if reliable else None
        if value is None:
            self.obj.set_reliability(Reliability.UNRELIABLE_OTHER)  # NaN, or a value no state stands for
            return
        reliability = Reliability.NO_FAULT
        self._mismatch = False
        if self.written is not None and self.written_at is not None and started >= self.written_at:
            if self._matches(value):
                self._cancel_rewrite()
                self._rewrites = 0
            else:
                reliability, self._mismatch = Reliability.UNRELIABLE_OTHER, True
                if self._rewrite is None:
                    delay = REWRITE_AFTER * 2 ** min(self._rewrites, REWRITE_BACKOFF)
                    self._rewrite = asyncio.get_running_loop().call_later(delay, self._write_again)
        self.obj.update(value, reliability)

    def _matches(self, value: Any) -> bool:
        if self.point.kind != "analog":
            return value == self.written
        tolerance = self.point.output_tolerance
        if self.codec.data_type not in ("float", "double"):
            tolerance = max(tolerance, abs(self.point.scale) / 2)  # an integer register holds multiples of scale
        return abs(value - self.written) <= tolerance + 1e-9 * max(1.0, abs(value))

    # ------------------------------------------------------------------ BACnet to Modbus (PointWriter)

    def encode(self, value: Any, current: tuple[int, ...] | None = None) -> list[int]:
        return self.codec.encode(self.to_modbus(value), current)

    def check(self, value: Any) -> None:
        try:
            raw = self.to_modbus(value)
            if math.isfinite(raw) and self.codec.bit_len:
                if not 0 <= round(raw) < (1 << self.codec.bit_len):
                    raise DataTypeError(f"{value} does not fit {self.codec.bit_len} bit(s)")
            else:
                self.codec.encode(raw, [0] * max(self.codec.registers, 1))
        except (DataTypeError, ValueError, OverflowError, IndexError, ZeroDivisionError) as err:
            log.info("%s: write of %r refused: %s", self.plan.name, value, err)
            raise ExecutionError(errorClass="property", errorCode="valueOutOfRange") from None

    def write(self, value: Any) -> None:
        self._cancel_rewrite()
        self._rewrites = 0
        if self.point.is_output:
            self.written, self.written_at = value, None
        self.slave.queue_write(self, value)

    def relinquished(self) -> None:
        self._cancel_rewrite()
        self.written = self.written_at = None
        if self._mismatch:  # nothing to compare with any more; a NaN reading stays unreliable
            self._mismatch = False
            self.obj.set_reliability(Reliability.NO_FAULT)

    def write_finished(self, value: Any, now: float) -> None:
        if self.point.is_output and self.written == value:
            self.written_at = now

    def _write_again(self) -> None:
        self._rewrite = None
        value, level = self.obj.commanded_value()
        if level is not None and self.written is not None:
            self._rewrites += 1
            log.info("%s: read-back differs from %r: writing again (%d)", self.plan.name, value, self._rewrites)
            self.slave.queue_write(self, value)

    def _cancel_rewrite(self) -> None:
        if self._rewrite is not None:
            self._rewrite.cancel()
            self._rewrite = None

    def close(self) -> None:
        self._cancel_rewrite()


@dataclass
class WriteOp:
    point: PointRuntime
    value: Any


# --------------------------------------------------------------------------- slaves


class SlaveRuntime:
    #: where online/offline goes (the gateway sets its host's; bacrouter.events)
    events: Events = NO_EVENTS
    #: the online state last emitted: a slave starts offline until it first answers
    reported_online = False

    def __init__(self, master: MasterRuntime, plan: SlaveMapping, device: VirtualDeviceHandle | None) -> None:
        self.master, self.plan, self.config = master, plan, plan.slave
        self.name = plan.slave.name
        self.device = device
        #: what this slave put into bacpypes3 applications: taken out when it stops, alone
        self.published = Publications()
        self.target = slave_target(plan.slave, plan.master)
        self.points = [PointRuntime(self, p) for p in plan.points]
        planner = slave_planner(self.config, [p.point for p in self.points], self.points)
        self.schedule = SlaveSchedule(self.name, planner,
                                      self.config.update_ms / 1000, self.config.offline_ms / 1000)
        self.schedule.refreshed = not planner.plan()  # a slave without points has nothing to wait for
        self.answered = False
        self.last_error = ""
        self.status: dict[str, GatewayObject] = {}
        base = plan.base
        for name, code, offset in STATUS_OBJECTS:
            kwargs: dict[str, Any] = {"texts": ["offline", "online"]} if code == "bi" else \
                {"units": SECONDS if name == "update_delay" else PERCENT}
            self.status[name] = make_object(code, base + offset, plan.status_names[name], **kwargs)

    def queue_write(self, point: PointRuntime, value: Any) -> None:
        self.master.queue_write(WriteJob(self.schedule, WriteOp(point, value), key=point))

    def read_done(self, request: ReadRequest, outcome: str, values: tuple[int, ...], started: float,
                  error: str = "") -> None:
        now = time.monotonic()
        if outcome == Outcome.OK:
            for item in request.items:
                offset = item.address - request.address
                try:
                    item.key.received(values[offset: offset + item.count], started, now)
                except Exception:  # one point's bug must not stop the others
                    log.exception("%s: cannot take the value of %s", self.name, item.key.plan.name)
        elif outcome == Outcome.EXCEPTION:
            for item in request.items:
                item.key.obj.set_reliability(Reliability.UNRELIABLE_OTHER)
        self._events(self.schedule.read_done(request, outcome, now), outcome, error)

    def account(self, outcome: str, error: str = "") -> None:
        """A request other than a planned read (a write, a refused grouped read) was answered or not."""
        self._events(self.schedule.count(outcome, time.monotonic()), outcome, error)

    def _events(self, events: list[str], outcome: str, error: str) -> None:
        if outcome != Outcome.FAILED and not self.answered:
            self.answered = True
        if error:
            self.last_error = error
        for event in events:
            if event == "offline":
                log.warning("Modbus slave %s (station %d) is offline: %s", self.name, self.target.unit, error)
                self.answered = False
                for point in self.points:
                    point.obj.set_reliability(Reliability.COMMUNICATION_FAILURE)
                if self.device is not None:
                    self.device.vanish()
            elif event == "online":
                log.info("Modbus slave %s is back online", self.name)
            elif event == "refreshed" and self.device is not None:
                self.device.appear()
        self.update_status()

    def update_status(self) -> None:
        online = self.schedule.online and self.answered
        if online != self.reported_online:  # the device went online or offline: tell the transports
            self.reported_online = online
            self.events.emit("device", {"gateway": "modbus", "device": self.name, "online": online,
                                        "reason": "" if online else self.last_error})
        self.status["online"].update(1 if online else 0)
        self.status["update_delay"].update(round(self.schedule.update_delay, 3))
        self.status["fail_rate"].update(round(self.schedule.fail_rate, 1))

    def objects(self) -> list[GatewayObject]:
        return [p.obj for p in self.points]

    def snapshot(self) -> dict[str, Any]:
        schedule = self.schedule
        return {
            "name": self.name, "master": self.master.name, "station": self.target.unit,
            "online": bool(schedule.online and self.answered), "points": len(self.points),
            "requests_per_cycle": len(schedule.planner.plan()), "requests": schedule.requests,
            "failed": schedule.failed, "exceptions": schedule.exceptions, "went_offline": schedule.went_offline,
            "fail_rate": round(schedule.fail_rate, 1), "update_delay_s": round(schedule.update_delay, 3),
            "pending_writes": len(schedule.writes), "last_error": self.last_error,
            "device": None if self.device is None else {"instance": self.plan.device_instance,
                                                        "present": self.device.present},
        }

    def live(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        """A page of the points as they are now (raw words, BACnet value, reliability, age) and the status objects."""
        from ..net.client import jsonable

        now = time.monotonic()
        rows = []
        for index, runtime in enumerate(self.points[offset: offset + limit], offset):
            point, obj = runtime.point, runtime.obj
            rows.append({"index": index, "name": point.name, "object": str(obj.objectIdentifier),
                         "object_name": obj.objectName, "address_type": point.address_type,
                         "address": point.address, "data_type": point.data_type, "raw": list(runtime.words),
                         "value": jsonable(obj.value), "reliability": int(obj.reliability),
                         "age_s": None if runtime.read_at is None else round(now - runtime.read_at, 1),
                         "writable": bool(point.writable)})
        status = [{"name": name, "object": str(obj.objectIdentifier), "object_name": obj.objectName,
                   "value": jsonable(obj.value), "reliability": int(obj.reliability)}
                  for name, obj in self.status.items()]
        return {**self.snapshot(), "total": len(self.points), "offset": offset, "limit": limit, "rows": rows,
                "status": status}

    def close(self) -> None:
        for point in self.points:
            point.close()


# --------------------------------------------------------------------------- masters


def make_transport(master: ModbusMaster, device: str | None) -> Transport:
    gap = master.request_gap_ms / 1000
    if master.serial:
        if not device:
            raise ValueError(f"master {master.name}: no serial device")
        return SerialTransport(device, gap)
    return TcpTransport(master.host, master.port, rtu=master.protocol == "rtu-over-tcp", gap=gap)


async def _exchange(transport: Transport, target: Target, request: Request) -> tuple[str, tuple[int, ...], str, Any]:
    """(outcome, values, error text, exception) of one request; never raises but for cancellation."""
    try:
        response = await transport.exchange(target, request)
        return Outcome.OK, response.values, "", None
    except ModbusException as err:
        return Outcome.EXCEPTION, (), str(err), err
    except TimeoutError:
        return Outcome.FAILED, (), "no answer", None
    except (DecodeError, OSError, ValueError) as err:
        return Outcome.FAILED, (), str(err) or type(err).__name__, err


class MasterRuntime:
    def __init__(self, config: ModbusMaster, transport: Transport) -> None:
        self.config, self.name, self.transport = config, config.name, transport
        self.slaves: list[SlaveRuntime] = []
        self.schedule = MasterSchedule([])
        self._wake = asyncio.Event()
        self._urgent: deque[tuple[Any, asyncio.Future[Any], Reporter | None]] = deque()  # read-group runs
        self._task: asyncio.Task[None] | None = None
        # (a cancellation can be lost in asyncio.wait_for on 3.11: the loop also checks this)
        self._stopped = False

    def add(self, slave: SlaveRuntime) -> None:
        self.slaves.append(slave)
        self.schedule.slaves.append(slave.schedule)

    def remove(self, slave: SlaveRuntime) -> None:
        """Take a slave off this master while it keeps polling the others; its pending writes are forgotten."""
        if slave in self.slaves:
            self.slaves.remove(slave)
        self.schedule.remove(slave.schedule)
        slave.close()

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"modbus-{self.name}")

    def queue_write(self, job: WriteJob) -> None:
        self.schedule.queue_write(job)
        self._wake.set()

    async def read_group(self, slave: SlaveRuntime, report: Reporter | None = None) -> list[dict[str, Any]]:
        """Run the slave's whole read plan once, now, between the master's other requests.

        ``report(entry, done, total)`` is told each request as it completes; cancelling the caller stops the run
        after the request on the line (the poller checks between requests).
        """
        if self._stopped:
            raise RuntimeError(f"Modbus master {self.name} is stopped")
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._urgent.append((slave, future, report))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while not self._stopped:
            self._wake.clear()
            try:
                if self._urgent:
                    slave, future, report = self._urgent[0]  # stays queued until answered: stop() answers it then
                    if slave not in self.slaves:  # removed by a reload since it was asked for
                        self._urgent.popleft()
                        if not future.done():
                            future.set_exception(RuntimeError(f"Modbus slave {slave.name} was stopped (reload)"))
                        continue
                    try:
                        result = await run_read_group(self.transport, slave.target, slave.schedule.planner, report,
                                                      stop=future.done)
                    except Exception as err:
                        if not future.done():
                            future.set_exception(RuntimeError(f"read group failed: {err}"))
                        raise
                    finally:
                        if self._urgent and self._urgent[0][1] is future:
                            self._urgent.popleft()
                    if not future.done():
                        future.set_result(result)
                    continue
                job = self.schedule.next_job(time.monotonic())
                match job:
                    case WriteJob():
                        await self._write(job)
                    case ReadJob():
                        await self._read(job.slave, job.request)
                    case Wait():
                        timeout = None if job.until is None else max(0.0, job.until - time.monotonic())
                        try:
                            await asyncio.wait_for(self._wake.wait(), timeout)
                        except TimeoutError:
                            pass
                    case _:
                        raise AssertionError(f"the Modbus schedule asked for {job!r}")
            except asyncio.CancelledError:
                raise
            except Exception:  # the poller must outlive any bug in one request's handling
                log.exception("Modbus master %s: request handling failed", self.name)
                await asyncio.sleep(0.1)

    def _slave(self, schedule: SlaveSchedule) -> SlaveRuntime:
        return next(s for s in self.slaves if s.schedule is schedule)

    async def _read(self, schedule: SlaveSchedule, request: ReadRequest) -> None:
        slave = self._slave(schedule)
        started = time.monotonic()
        outcome, values, error, exc = await _exchange(self.transport, slave.target,
                                                      Request(request.function, request.address, request.count))
        if isinstance(exc, ModbusException) and exc.code == 2 and schedule.planner.illegal_address(request):
            log.info("Modbus slave %s refused %d items from %d with function %d (illegal address): reading in "
                     "smaller parts from now on", slave.name, request.count, request.address, request.function)
            schedule.replanned()
            slave.account(outcome)  # an answer all the same
            return
        slave.read_done(request, outcome, values, started, error)

    async def _write(self, job: WriteJob) -> None:
        op: WriteOp = job.payload
        point, slave = op.point, op.point.slave
        p = point.point
        current: tuple[int, ...] | None = None
        if point.codec.bit_len:  # a bit field: read the register, change the bits, write it back
            function = read_function(p.address_type, slave.config.coil_fr_discrete, slave.config.holding_fr_input)
            outcome, current, error, _ = await _exchange(self.transport, slave.target,
                                                         Request(function, p.address, p.registers))
            if outcome != Outcome.OK:
                log.warning("%s: write of %r not done: reading the register failed: %s", point.plan.name, op.value, error)
                slave.account(outcome, error)
                point.write_finished(op.value, time.monotonic())
                return
        try:
            words = point.encode(op.value, current)
            request = write_request(p.address_type, p.address, words, slave.config.single_write_coil,
                                    slave.config.single_write_reg)
        except (DataTypeError, ValueError) as err:
            log.warning("%s: cannot write %r: %s", point.plan.name, op.value, err)
            return
        outcome, _, error, _ = await _exchange(self.transport, slave.target, request)
        if outcome != Outcome.OK:
            log.warning("%s: write of %r failed: %s", point.plan.name, op.value, error)
        point.write_finished(op.value, time.monotonic())
        slave.account(outcome, error)

    def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
        for _, future, _ in self._urgent:
            if not future.done():
                future.set_exception(RuntimeError(f"Modbus master {self.name} stopped (reload or shutdown)"))
        self._urgent.clear()
        self.transport.close()
        for slave in self.slaves:
            slave.close()

    def snapshot(self) -> dict[str, Any]:
        config = self.config
        where = config.resource if config.serial else f"{config.host}:{config.port}"
        return {"name": self.name, "protocol": config.protocol, "line": where,
                "pending_writes": self.schedule.pending_writes, "dropped_writes": self.schedule.dropped_writes,
                # octets heard outside any answer (serial), answers that came after their timeout (TCP)
                "noise_octets": getattr(self.transport, "noise", 0), "late_answers": getattr(self.transport, "stale", 0),
                "slaves": [s.snapshot() for s in self.slaves]}


async def run_read_group(transport: Transport, target: Target, planner: ReadPlanner, report: Reporter | None = None,
                         stop: Callable[[], bool] | None = None) -> list[dict[str, Any]]:
    """Every request of the plan once, with its result: the seeds' "Read Group" test.

    ``report`` is told each request as it completes; ``stop`` is asked before each: True ends the run there.
    """
    results: list[dict[str, Any]] = []
    plan = planner.plan()
    for request in plan:
        if stop is not None and stop():
            break
        started = time.monotonic()
        outcome, values, error, _ = await _exchange(transport, target,
                                                    Request(request.function, request.address, request.count))
        entry: dict[str, Any] = request.as_dict()
        entry.update(result=outcome, ms=round(1000 * (time.monotonic() - started), 1))
        if outcome == Outcome.OK:
            entry["values"] = list(values)
        else:
            entry["error"] = error
        results.append(entry)
        if report is not None:
            report(entry, len(results), len(plan))
    return results


# --------------------------------------------------------------------------- the gateway


class ModbusGateway:
    """The running Modbus gateway: owns the masters (one poller each), their slaves and the published objects.

    Objects go into the router's device, or into one virtual device per slave
    on the virtual network, through the :class:`~bacrouter.net.host.DeviceHost`.
    A new configuration is applied per master and per slave: only what changed
    restarts, an unchanged slave keeps its objects (values, priority arrays,
    COV subscriptions) and its pending writes.
    """

    def __init__(self, config: Config, host: DeviceHost) -> None:
        self.config, self.host = config, host
        self.masters: dict[str, MasterRuntime] = {}
        #: COV subscriptions of objects taken out by a reload, by object name, for their successors
        self._carried: dict[str, list[Any]] = {}

    @property
    def slaves(self) -> list[SlaveRuntime]:
        return [s for m in self.masters.values() for s in m.slaves]

    @property
    def devices(self) -> list[VirtualDeviceHandle]:
        return [s.device for s in self.slaves if s.device is not None]

    async def start(self) -> Summary:
        plan = map_gateway(self.config)
        for slave_plan in plan.slaves:
            self._start_slave(slave_plan, plan.virtual)
        self._run_masters(plan)
        points = sum(len(s.points) for s in self.slaves)
        if plan.slaves:
            log.info("Modbus gateway: %d master(s), %d slave(s), %d point(s), %s mode", len(self.masters),
                     len(self.slaves), points, "virtual-device" if plan.virtual else "single-device")
        return self._report({}, {}, set(), set())

    async def apply(self, config: Config) -> Summary:
        """Switch to ``config``: restart only the masters and slaves whose own settings changed.

        A master restarts, with its slaves, when its section or its resource
        changed; a slave restarts when its section (its points file included)
        or its place in the mapping (block, instances, names, device, MAC)
        changed. What the whole mapping depends on (virtual-device mode, the
        delimiter, the router's device) restarts everything.
        """
        old, plan = self.config, map_gateway(config)
        everything = _globals(old) != _globals(config)
        wanted = {p.slave.name: p for p in plan.slaves}
        masters_wanted = {p.master.name: p.master for p in plan.slaves}
        before_masters = {name: m.config.label for name, m in self.masters.items()}
        before_slaves = {s.name: s.config.label for s in self.slaves}
        kept_masters: set[str] = set()
        kept_slaves: set[str] = set()
        for name, master in list(self.masters.items()):
            new = None if everything else masters_wanted.get(name)
            if new is None or _master_changed(old, config, master.config, new):
                self._stop_master(master)
                del self.masters[name]
                continue
            kept_masters.add(name)
            master.config = new  # equal, but the running model must hold the new configuration's objects
            for slave in list(master.slaves):
                slave_plan = wanted.get(slave.name)
                if slave_plan is None or slave_plan != slave.plan:
                    self._stop_slave(slave)
                else:
                    kept_slaves.add(slave.name)
                    slave.plan, slave.config = slave_plan, slave_plan.slave
        self.config = config
        try:
            for slave_plan in plan.slaves:
                if slave_plan.slave.name not in kept_slaves:
                    self._start_slave(slave_plan, plan.virtual)
            self._run_masters(plan)
        finally:
            self._carried = {}
        return self._report(before_masters, before_slaves, kept_masters, kept_slaves)

    def _report(self, before_masters: dict[str, str], before_slaves: dict[str, str], kept_masters: set[str],
                kept_slaves: set[str]) -> Summary:
        """Every master and slave, before and after, by what happened to it (a master, then its slaves)."""
        summary = new_summary()

        def verb(name: str, before: dict[str, str], kept: set[str]) -> str:
            return "unchanged" if name in kept else "restarted" if name in before else "started"

        after_slaves = set()
        for name, master in self.masters.items():
            summary[verb(name, before_masters, kept_masters)].append(master.config.label)
            for slave in master.slaves:
                after_slaves.add(slave.name)
                summary[verb(slave.name, before_slaves, kept_slaves)].append(slave.config.label)
        summary["stopped"] = [label for name, label in before_masters.items() if name not in self.masters]
        summary["stopped"] += [label for name, label in before_slaves.items() if name not in after_slaves]
        return summary

    def _master(self, config: ModbusMaster) -> MasterRuntime | None:
        master = self.masters.get(config.name)
        if master is None:
            resource = self.config.resources.get(config.resource) if config.serial else None
            try:
                transport = make_transport(config, resource.ifname if resource else None)
            except ValueError as err:
                log.error("Modbus master %s not started: %s", config.name, err)
                return None
            master = self.masters[config.name] = MasterRuntime(config, transport)
        return master

    def _start_slave(self, slave_plan: SlaveMapping, virtual: bool) -> SlaveRuntime | None:
        master = self._master(slave_plan.master)
        if master is None:
            return None
        app = self.host.router_app()
        device = None
        if virtual and slave_plan.device_instance is not None and slave_plan.mac is not None:
            device = self.host.virtual_device(slave_plan.mac, slave_plan.device_instance, slave_plan.device_name,
                                              slave_plan.slave.description)
            if device is None:
                log.error("virtual-device mode: the vbus port is not running; slave %s is not published",
                          slave_plan.slave.name)
        slave = SlaveRuntime(master, slave_plan, device)
        slave.events = getattr(self.host, "events", NO_EVENTS)
        master.add(slave)
        target_app = device.app if device is not None else app
        if target_app is not None and (device is not None or not virtual):
            for obj in slave.objects():
                self._publish(slave, target_app, obj)
            if device is None:
                self._publish_view(target_app, slave)
        if app is not None:
            for obj in slave.status.values():
                self._publish(slave, app, obj)
        slave.update_status()
        if device is not None and slave.schedule.refreshed:
            device.appear()  # no points: nothing to wait for
        return slave

    def _run_masters(self, plan: GatewayMapping) -> None:
        """Masters and slaves in the configuration's order; start the pollers of new masters."""
        order = {p.slave.name: i for i, p in enumerate(plan.slaves)}
        names = dict.fromkeys(p.master.name for p in plan.slaves)
        self.masters = {name: self.masters[name] for name in names if name in self.masters}
        for master in self.masters.values():
            master.slaves.sort(key=lambda s: order.get(s.name, len(order)))
            master.schedule.slaves[:] = [s.schedule for s in master.slaves]
            if not master.running:
                master.start()

    def _stop_slave(self, slave: SlaveRuntime) -> None:
        """Take one slave off its running master: no more polling, its objects and device are gone."""
        slave.master.remove(slave)
        self._withdraw(slave)

    def _stop_master(self, master: MasterRuntime) -> None:
        master.stop()
        for slave in master.slaves:
            self._withdraw(slave)

    def _withdraw(self, slave: SlaveRuntime) -> None:
        for obj in slave.published.withdraw():
            if getattr(obj, "_cov", None):  # COV subscribers stay subscribed to the object's successor
                self._carried[obj.objectName] = obj._cov
        if slave.device is not None:
            slave.device.close()

    def summary(self) -> dict[str, Any]:
        slaves = self.slaves
        return {"masters": len(self.masters), "slaves": len(slaves),
                "online": sum(1 for s in slaves if s.answered and s.schedule.online),
                "points": sum(len(s.points) for s in slaves),
                # since start, all slaves together: the dashboard graphs the fail rate of each interval
                "requests": sum(s.schedule.requests for s in slaves),
                "failed": sum(s.schedule.failed for s in slaves)}

    def _publish(self, slave: SlaveRuntime, app: Any, obj: Any) -> None:
        if not slave.published.publish(app, obj):
            return
        carried = self._carried.get(obj.objectName)
        if carried and hasattr(obj, "_cov"):
            for subscription in carried:
                subscription.reported = None  # tell them at the next change: values are being re-read
            obj._cov = carried

    def _publish_view(self, app: Any, slave: SlaveRuntime) -> None:
        from bacpypes3.basetypes import DeviceObjectReference
        from bacpypes3.object import StructuredViewObject

        view = StructuredViewObject(
            objectIdentifier=("structured-view", slave.plan.base),
            objectName=f"{slave.plan.master.name}{self.config.app.delimiter}{slave.name}",
            description=slave.config.description, nodeType="device", nodeSubtype="Modbus slave",
            subordinateList=[DeviceObjectReference(objectIdentifier=obj.objectIdentifier)
                             for obj in slave.objects() + list(slave.status.values())],
        )
        self._publish(slave, app, view)

    def stop(self) -> dict[str, list[Any]]:
        """Stop polling and unpublish; returns the live COV subscriptions by object name (for a successor)."""
        for master in self.masters.values():
            self._stop_master(master)
        self.masters.clear()
        carried, self._carried = self._carried, {}
        return carried

    def find_slave(self, name: str) -> SlaveRuntime | None:
        return next((s for s in self.slaves if s.name == name), None)

    def running_slave(self, name: str) -> SlaveRuntime:
        slave = self.find_slave(name)
        if slave is None:
            known = ", ".join(s.name for s in self.slaves) or "none running"
            raise KeyError(f"no running Modbus slave '{name}' (running: {known})")
        return slave

    async def read_group(self, name: str, report: Reporter | None = None) -> dict[str, Any]:
        slave = self.running_slave(name)
        results = await slave.master.read_group(slave, report)
        return {"slave": name, "station": slave.target.unit, "requests": results}

    def snapshot(self) -> list[dict[str, Any]]:
        return [m.snapshot() for m in self.masters.values()]


def _globals(config: Config) -> tuple[Any, ...]:
    """What every slave's mapping depends on: a change restarts the whole gateway."""
    return config.vbus, config.app.delimiter, config.app.device_instance, config.app.device_name


def _master_changed(old: Config, new: Config, before: ModbusMaster, after: ModbusMaster) -> bool:
    """The master's own settings: its section and, on a serial line, its resource."""
    if before != after:
        return True
    return after.serial and old.resources.get(after.resource) != new.resources.get(after.resource)
