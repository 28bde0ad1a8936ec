"""The Free Client on the BACnet side: buses, their devices and points as objects, the instance plan.

Devices map like Modbus slaves (``modbus/mapping.py``): in single-device mode
each device gets an instance block in the router's device after the Modbus
slaves' blocks, its points named ``bus|device|point``, a Structured View and
an ``bus|device|comm|online`` status object; in virtual-device mode each is a
device of its own on the VBUS network (MACs after the Modbus slaves'), silent
while the script has it offline.

A device is online once the script says so (``onoff``) or reports a good
value (``updatepoint`` with no fault); ``onoff(dev, false)`` takes it
offline: its objects show COMMUNICATION_FAILURE. A bus whose script fails
takes all its devices offline, and runs again after the back-off its
:class:`~.restart.RestartPolicy` says.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from bacpypes3.errors import ExecutionError

from ..config.model import Config
from ..events import NO_EVENTS, Events
from ..feature import Summary, new_summary
from ..modbus.objects import GatewayObject, Publications, Reliability, make_object, point_kwargs
from ..net.host import DeviceHost, VirtualDeviceHandle
from .bus import STOP_GRACE, BusRuntime, Event, OnlineReport, UnitReport
from .configcheck import FcDevicePlan, plan_freeclient
from .definition import PointDef
from .restart import RestartPolicy
from .schema import FreeClientBus

__all__ = ["FreeClientGateway"]

#: the daemon is stopping (SIGTERM within a second): how long all buses together may take to end
SHUTDOWN_GRACE = 0.2

log = logging.getLogger("bacrouter.freeclient")

#: how each bus's restarts after failures are planned (a test shortens the waits)
restart_policy: Callable[[], RestartPolicy] = RestartPolicy


class FcPoint:
    """A point's object and where its writes go (the PointWriter of the object)."""

    __slots__ = ("device", "point", "obj", "bus")

    def __init__(self, device: FcDevice, point: PointDef, code: str, instance: int, name: str) -> None:
        self.device, self.point, self.bus = device, point, device.bus
        writable = not code.endswith("i") and not point.read_only  # value_type 1: read-only whatever the type
        self.obj: GatewayObject = make_object(code, instance, name, description=point.description,
                                              writer=self if writable else None, **point_kwargs(point))

    def check(self, value: Any) -> None:
        # the object checked the range; what the device accepts is the script's to say, if it still runs
        if not self.bus.accepts_writes:
            raise ExecutionError(errorClass="device", errorCode="operationalProblem")

    def write(self, value: Any) -> None:
        if self.point.kind == "binary" and self.point.polarity:
            value = 1 - int(value)
        self.bus.post_write(self.device.index, self.point.index, value)

    def relinquished(self) -> None:
        self.bus.post_write(self.device.index, self.point.index, None)

    def set_units(self, units: int) -> None:
        """The script's units for an analog point whose definition sets none (the M-Bus record's VIF)."""
        if self.point.kind == "analog" and self.point.unit in (None, "") and hasattr(self.obj, "units"):
            self.obj.units = units

    def update(self, value: Any, reliability: int) -> None:
        if value is None:
            self.obj.set_reliability(reliability)
            return
        kind = self.point.kind
        if kind == "analog":
            value = float(value)
            if math.isnan(value):
                self.obj.set_reliability(Reliability.UNRELIABLE_OTHER)
                return
        elif not math.isfinite(value):
            self.obj.set_reliability(Reliability.UNRELIABLE_OTHER)
            return
        elif kind == "binary":
            value = int(bool(value) != self.point.polarity)
        else:
            value = int(value)
            if not 1 <= value <= len(self.point.state_texts or [1]):
                self.obj.set_reliability(Reliability.UNRELIABLE_OTHER)
                return
        self.obj.update(value, reliability)


class FcDevice:
    #: where online/offline goes (the gateway sets its host's; bacrouter.events)
    events: Events = NO_EVENTS

    def __init__(self, plan: FcDevicePlan, bus: BusRuntime, virtual: VirtualDeviceHandle | None) -> None:
        self.plan, self.bus, self.virtual = plan, bus, virtual
        self.index = plan.device.index
        self.points = {p.index: FcPoint(self, p, code, instance, name) for p, code, instance, name in plan.points}
        self.online = False
        d = plan.delimiter
        self.status = make_object("bi", plan.base + 999, f"{plan.prefix}{d}comm{d}online", texts=["offline", "online"])

    def set_online(self, online: bool) -> None:
        if online == self.online:
            return
        self.online = online
        self.status.update(int(online))
        self.events.emit("device", {"gateway": "freeclient", "device": self.plan.prefix, "online": online,
                                    "reason": ""})
        if not online:
            for point in self.points.values():
                point.obj.set_reliability(Reliability.COMMUNICATION_FAILURE)
            if self.virtual is not None:
                self.virtual.vanish()
        elif self.virtual is not None:
            self.virtual.appear()


class _Sink:
    """The bus thread's news, carried onto the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, devices: dict[int, FcDevice],
                 on_failure: Callable[[str], None] | None = None) -> None:
        self.loop, self.devices, self.on_failure = loop, devices, on_failure

    def report(self, events: list[Event]) -> None:
        self.loop.call_soon_threadsafe(self._report, events)

    def failed(self, reason: str) -> None:
        self.loop.call_soon_threadsafe(self._failed, reason)

    def _report(self, events: list[Event]) -> None:
        for event in events:
            target = self.devices.get(event.device)
            if target is None:
                continue  # a disabled device
            if isinstance(event, OnlineReport):
                target.set_online(event.online)
                continue
            if isinstance(event, UnitReport):
                if event.point in target.points:
                    target.points[event.point].set_units(event.units)
                continue
            point, value, reliability = event.point, event.value, event.reliability
            if point not in target.points:
                continue  # a disabled point
            try:
                target.points[point].update(value, reliability)
            except (TypeError, ValueError, OverflowError) as err:  # one odd value must not cost the others
                log.warning("Free Client device %s point %s: value %r not taken: %s", event.device, point, value, err)
                continue
            if reliability == Reliability.NO_FAULT and value is not None and not target.online:
                target.set_online(True)

    def _failed(self, reason: str = "") -> None:
        for device in self.devices.values():
            device.set_online(False)
        if self.on_failure is not None:
            self.on_failure(reason)


class _BusParts:
    """What one running bus put into the router: its devices, objects and virtual devices, and what it was built from."""

    def __init__(self, settings: tuple[Any, ...]) -> None:
        self.settings = settings
        self.devices: list[FcDevice] = []
        self.published = Publications()
        self.virtual: list[VirtualDeviceHandle] = []
        self.restarts = restart_policy()  # when the bus runs again after a failure
        self.restart_timer: asyncio.TimerHandle | None = None


class FreeClientGateway:
    """The running Free Client: one bus runtime (a Lua script on a line) per enabled bus, and its devices' objects.

    A new configuration is applied per bus: a bus restarts only when its
    section, its definition (and script), its resource or the placement of its
    devices changed; the others run on with their objects.
    """

    def __init__(self, config: Config, host: DeviceHost) -> None:
        self.config, self.host = config, host
        self.buses: dict[str, BusRuntime] = {}
        self._parts: dict[str, _BusParts] = {}
        #: stopped buses whose threads did not end (see bus.STOP_GRACE): counted in summary(), never waited for
        self.stuck: list[BusRuntime] = []

    @property
    def devices(self) -> list[FcDevice]:
        return [device for parts in self._parts.values() for device in parts.devices]

    async def start(self) -> Summary:
        summary = new_summary()
        for bus_config, settings in _wanted(self.config):
            self._start_bus(bus_config, settings)
            summary["started"].append(bus_config.label)
        if self.buses:
            log.info("Free Client: %d bus(es), %d device(s), %d point(s)", len(self.buses), len(self.devices),
                     sum(len(d.points) for d in self.devices))
        return summary

    def _start_bus(self, bus_config: FreeClientBus, settings: tuple[Any, ...]) -> None:
        config, definition = self.config, bus_config.bus
        plans: list[FcDevicePlan] = settings[2]
        app = self.host.router_app()
        virtual_mode = config.vbus is not None
        parts = _BusParts(settings)
        devices: dict[int, FcDevice] = {}
        resource = config.resources.get(definition.resource) if definition.resource else None
        name = definition.name
        runtime = BusRuntime(definition, _Sink(asyncio.get_running_loop(), devices,
                                               lambda reason: self._bus_failed(name, reason)),
                             device_path=resource.ifname if resource else None)
        for plan in plans:
            virtual = None
            if virtual_mode and plan.device_instance is not None and plan.mac is not None:
                virtual = self.host.virtual_device(plan.mac, plan.device_instance, plan.prefix, plan.device.description)
                if virtual is not None:
                    parts.virtual.append(virtual)
            device = FcDevice(plan, runtime, virtual)
            device.events = getattr(self.host, "events", NO_EVENTS)
            devices[device.index] = device
            parts.devices.append(device)
            target = virtual.app if virtual is not None else (None if virtual_mode else app)
            if target is not None:
                for point in device.points.values():
                    parts.published.publish(target, point.obj)
            if app is not None:
                parts.published.publish(app, device.status)
        self.buses[definition.name] = runtime
        self._parts[definition.name] = parts
        runtime.start()

    async def apply(self, config: Config) -> Summary:
        """Switch to ``config``: restart only the buses whose own settings or device placement changed."""
        summary = new_summary()
        everything = _globals(self.config) != _globals(config)
        wanted = {bus.name: (bus, settings) for bus, settings in _wanted(config)}
        changed = [name for name, parts in self._parts.items()
                   if everything or name not in wanted or wanted[name][1] != parts.settings]
        await self._stop_buses_async(changed)
        self.config = config
        for name, (bus_config, settings) in wanted.items():
            if name in self.buses:
                self._parts[name].settings = settings  # equal, but hold the new configuration's objects
                summary["unchanged"].append(bus_config.label)
                continue
            self._start_bus(bus_config, settings)
            summary["restarted" if name in changed else "started"].append(bus_config.label)
        summary["stopped"] = [f"freeclient_bus '{name}'" for name in changed if name not in wanted]
        self.buses = {name: self.buses[name] for name in wanted if name in self.buses}  # the configuration's order
        self._parts = {name: self._parts[name] for name in self.buses}
        return summary

    def summary(self) -> dict[str, Any]:
        self.stuck = [r for r in self.stuck if not r.ended]
        return {"buses": len(self.buses), "devices": len(self.devices),
                "online": sum(1 for d in self.devices if d.online), "stuck_threads": len(self.stuck),
                # since start, all buses together: a transaction failed when it had no reply or an error
                "transactions": sum(b.counters["transactions"] for b in self.buses.values()),
                "failed": sum(b.counters["noreply"] + b.counters["errors"] for b in self.buses.values())}

    def _bus_failed(self, name: str, reason: str) -> None:
        """A bus failed (event loop): its devices are offline; it runs again after the back-off."""
        parts, runtime = self._parts.get(name), self.buses.get(name)
        if parts is None or runtime is None or runtime.state != "failed":
            return  # stopped or replaced meanwhile
        loop = asyncio.get_running_loop()
        due = parts.restarts.failed(loop.time(), reason)
        log.warning("Free Client bus %s: failure %d, restarting in %.0f s", name, parts.restarts.failures,
                    due - loop.time())
        self._plan_restart(name, due)

    def _plan_restart(self, name: str, due: float) -> None:
        parts = self._parts[name]
        if parts.restart_timer is not None:
            parts.restart_timer.cancel()
        parts.restart_timer = asyncio.get_running_loop().call_at(due, self._restart_bus, name)

    def _restart_bus(self, name: str) -> None:
        parts, runtime = self._parts.get(name), self.buses.get(name)
        if parts is None or runtime is None:
            return
        parts.restart_timer = None
        if runtime.state != "failed":
            return
        loop = asyncio.get_running_loop()
        if not runtime.restartable:  # its thread is still letting go of the line
            self._plan_restart(name, loop.time() + 0.5)
            return
        log.info("Free Client bus %s: restarting after failure %d", name, parts.restarts.failures)
        parts.restarts.restarted(loop.time())
        runtime.start()

    def _take_down(self, names: list[str]) -> list[BusRuntime]:
        """Ask the buses to stop (all at once) and withdraw their objects; their runtimes, still ending."""
        for name in names:
            timer = self._parts[name].restart_timer
            if timer is not None:
                timer.cancel()
        runtimes = [self.buses.pop(name) for name in names]
        for runtime in runtimes:
            runtime.request_stop()
        for name in names:
            parts = self._parts.pop(name)
            parts.published.withdraw()
            for virtual in parts.virtual:
                virtual.close()
        return runtimes

    async def _stop_buses_async(self, names: list[str]) -> None:
        """Stop buses without ever blocking the event loop: wait for their threads up to STOP_GRACE in
        small sleeps, then leave behind any that is stuck (a script in a C call that never returns)."""
        runtimes = self._take_down(names)
        deadline = asyncio.get_running_loop().time() + STOP_GRACE
        while any(not r.ended for r in runtimes) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        self._left_behind(runtimes)

    def _left_behind(self, runtimes: list[BusRuntime]) -> None:
        for runtime in runtimes:
            if not runtime.finish():
                self.stuck.append(runtime)
        self.stuck = [r for r in self.stuck if not r.ended]

    def stop(self) -> None:
        """Stop every bus (the daemon is stopping): one short wait for all together, then leave the stuck."""
        runtimes = self._take_down(list(self.buses))
        deadline = time.monotonic() + SHUTDOWN_GRACE
        for runtime in runtimes:
            runtime.stop(max(0.0, deadline - time.monotonic()))
        self._left_behind(runtimes)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every bus's status, with its failures, last error and the seconds until its next restart."""
        now = time.monotonic()  # the event loop's clock, also where no loop runs
        return [{**runtime.status(), **self._parts[name].restarts.status(now)}
                for name, runtime in self.buses.items()]


def _wanted(config: Config) -> list[tuple[FreeClientBus, tuple[Any, ...]]]:
    """The buses to run, each with what it is built from: its section (definition and script included), its
    resource, and where its devices are placed (after the Modbus slaves)."""
    plans, _ = plan_freeclient(config)
    by_bus: dict[str, list[FcDevicePlan]] = {}
    for plan in plans:
        by_bus.setdefault(plan.bus.name, []).append(plan)
    wanted: list[tuple[FreeClientBus, tuple[Any, ...]]] = []
    for bus in config.sections_of(FreeClientBus):
        definition = bus.bus
        if not bus.enabled or definition is None:
            continue
        resource = config.resources.get(definition.resource) if definition.resource else None
        wanted.append((bus, (bus, resource, by_bus.get(definition.name, []))))
    return wanted


def _globals(config: Config) -> tuple[Any, ...]:
    """What every bus's devices depend on: a change restarts them all."""
    return config.vbus, config.app.delimiter
