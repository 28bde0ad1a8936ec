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
takes all its devices offline.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from bacpypes3.errors import ExecutionError

from ..config.model import Config
from ..events import NO_EVENTS, Events
from ..feature import Summary, new_summary
from ..modbus.objects import GatewayObject, Publications, Reliability, make_object, point_kwargs
from ..net.host import DeviceHost, VirtualDeviceHandle
from .bus import BusRuntime, Event, OnlineReport
from .configcheck import FcDevicePlan, plan_freeclient
from .definition import PointDef
from .schema import FreeClientBus

__all__ = ["FreeClientGateway"]

log = logging.getLogger("bacrouter.freeclient")


class FcPoint:
    """A point's object and where its writes go (the PointWriter of the object)."""

    __slots__ = ("device", "point", "obj", "bus")

    def __init__(self, device: FcDevice, point: PointDef, code: str, instance: int, name: str) -> None:
        self.device, self.point, self.bus = device, point, device.bus
        writable = not code.endswith("i")
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

    def __init__(self, loop: asyncio.AbstractEventLoop, devices: dict[int, FcDevice]) -> None:
        self.loop, self.devices = loop, devices

    def report(self, events: list[Event]) -> None:
        self.loop.call_soon_threadsafe(self._report, events)

    def failed(self, reason: str) -> None:
        self.loop.call_soon_threadsafe(self._failed)

    def _report(self, events: list[Event]) -> None:
        for event in events:
            target = self.devices.get(event.device)
            if target is None:
                continue  # a disabled device
            if isinstance(event, OnlineReport):
                target.set_online(event.online)
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

    def _failed(self) -> None:
        for device in self.devices.values():
            device.set_online(False)


class _BusParts:
    """What one running bus put into the router: its devices, objects and virtual devices, and what it was built from."""

    def __init__(self, settings: tuple[Any, ...]) -> None:
        self.settings = settings
        self.devices: list[FcDevice] = []
        self.published = Publications()
        self.virtual: list[VirtualDeviceHandle] = []


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
        runtime = BusRuntime(definition, _Sink(asyncio.get_running_loop(), devices),
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
        self._stop_buses(changed)
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
        return {"buses": len(self.buses), "devices": len(self.devices),
                "online": sum(1 for d in self.devices if d.online)}

    def _stop_buses(self, names: list[str]) -> None:
        runtimes = [self.buses[name] for name in names]
        for runtime in runtimes:  # all at once: each then ends within the same short while
            runtime.request_stop()
        for runtime in runtimes:
            runtime.stop()
        for name in names:
            parts = self._parts.pop(name)
            del self.buses[name]
            parts.published.withdraw()
            for virtual in parts.virtual:
                virtual.close()

    def stop(self) -> None:
        self._stop_buses(list(self.buses))

    def snapshot(self) -> list[dict[str, Any]]:
        return [runtime.status() for runtime in self.buses.values()]


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
