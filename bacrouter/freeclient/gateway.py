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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bacpypes3.errors import ExecutionError

from ..config.model import Config, Problem
from ..modbus.mapping import place_points, plan_gateway
from ..modbus.objects import GatewayObject, Publications, Reliability, make_object, point_kwargs, units_code
from .bus import BusRuntime, Event
from .definition import BusDefinition, DevicePlan, PointDef

if TYPE_CHECKING:
    from ..net.node import RouterNode
    from ..net.vbus import VirtualDevice

__all__ = ["FreeClientGateway", "plan_freeclient", "check_freeclient", "FcDevicePlan"]

log = logging.getLogger("bacrouter.freeclient")


@dataclass
class FcDevicePlan:
    bus: BusDefinition
    device: DevicePlan
    block: int
    points: list[tuple[PointDef, str, int, str]] = field(default_factory=list)  # (point, type, instance, name)
    prefix: str = ""
    delimiter: str = "|"
    device_instance: int | None = None
    mac: int | None = None

    @property
    def base(self) -> int:
        return self.block * 1000


def plan_freeclient(config: Config) -> tuple[list[FcDevicePlan], list[tuple[str, DevicePlan, str]]]:
    """The devices of every enabled bus, after the Modbus slaves; notes are (bus, device, message)."""
    modbus = plan_gateway(config)
    virtual = modbus.virtual
    delimiter = config.app.delimiter
    taken = {s.block for s in modbus.slaves}
    block, mac = 1, len(modbus.slaves) + 1
    plans, notes = [], []
    for bus in config.freeclient_buses:
        if not bus.enabled or bus.bus is None:
            continue
        for device in bus.bus.devices:
            if not device.enabled:
                continue
            while block in taken:
                block += 1
            taken.add(block)
            prefix = f"{bus.name}{delimiter}{device.name}"
            plan = FcDevicePlan(bus.bus, device, block, prefix=prefix, delimiter=delimiter)
            if virtual:
                plan.device_instance, plan.mac = device.instance, mac
                mac += 1
            wanted = [(p, p.object_type, p.instance, p.name) for p in device.points if p.enabled]
            plan.points, placed_notes = place_points(wanted, plan.base, virtual, prefix + delimiter)
            notes += [(bus.name, device, f"point '{point.name}': {message}") for point, message in placed_notes]
            plans.append(plan)
    return plans, notes


def check_freeclient(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    buses = {b.name: b for b in config.freeclient_buses}
    plans, notes = plan_freeclient(config)
    for bus_name, device, message in notes:
        bus = buses[bus_name]
        problems.append(Problem(f"device '{device.name}' {message}", bus.definition_file, 0, bus.label, severity="warning"))
    for plan in plans:
        bus = buses[plan.bus.name]
        for point, *_ in plan.points:
            if point.kind == "analog" and point.unit not in (None, ""):
                try:
                    units_code(point.unit)
                except ValueError:
                    problems.append(Problem(f"device '{plan.device.name}' point '{point.name}' key 'unit': "
                                            f"{point.unit!r} is not a BACnet engineering unit", bus.definition_file,
                                            0, bus.label))
    if config.vbus is not None:
        modbus = plan_gateway(config)
        seen = {s.slave.instance: f"modbus_slave '{s.slave.name}'" for s in modbus.slaves if s.slave.instance}
        seen[config.app.device_instance] = "the router's own"
        for plan in plans:
            bus = buses[plan.bus.name]
            where = f"device '{plan.device.name}'"
            if plan.device_instance is None:
                problems.append(Problem(f"{where}: virtual-device mode (a vbus port is enabled) needs a device "
                                        f"instance (key 'instance')", bus.definition_file, 0, bus.label))
                continue
            other = seen.get(plan.device_instance)
            if other is not None:
                problems.append(Problem(f"{where}: device instance {plan.device_instance} is already {other}",
                                        bus.definition_file, 0, bus.label))
            seen[plan.device_instance] = f"{bus.label} device '{plan.device.name}'"
        if len(modbus.slaves) + len(plans) > 254:
            problems.append(Problem(f"{len(modbus.slaves) + len(plans)} virtual devices: the virtual network holds "
                                    f"at most 254", config.uci.path if config.uci else ""))
    return problems


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
    def __init__(self, plan: FcDevicePlan, bus: BusRuntime, virtual: VirtualDevice | None) -> None:
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
            target = self.devices.get(event[1])
            if target is None:
                continue  # a disabled device
            if event[0] == "online":
                target.set_online(event[2])
                continue
            _, _, point, value, reliability = event
            if point not in target.points:
                continue  # a disabled point
            try:
                target.points[point].update(value, reliability)
            except (TypeError, ValueError, OverflowError) as err:  # one odd value must not cost the others
                log.warning("Free Client device %s point %s: value %r not taken: %s", event[1], point, value, err)
                continue
            if reliability == Reliability.NO_FAULT and value is not None and not target.online:
                target.set_online(True)

    def _failed(self) -> None:
        for device in self.devices.values():
            device.set_online(False)


class FreeClientGateway:
    def __init__(self, node: RouterNode) -> None:
        self.node = node
        self.buses: dict[str, BusRuntime] = {}
        self.devices: list[FcDevice] = []
        self._published = Publications()
        self._virtual: list[VirtualDevice] = []

    async def start(self) -> None:
        config = self.node.config
        plans, _ = plan_freeclient(config)
        if not plans and not any(b.enabled and b.bus for b in config.freeclient_buses):
            return
        app = self.node.app.app if self.node.app is not None else None
        virtual_mode = config.vbus is not None
        vbus = self.node.vbus_runtime() if virtual_mode else None
        loop = asyncio.get_running_loop()
        by_bus: dict[str, list[FcDevicePlan]] = {}
        for plan in plans:
            by_bus.setdefault(plan.bus.name, []).append(plan)
        for bus_config in config.freeclient_buses:
            definition = bus_config.bus
            if not bus_config.enabled or definition is None:
                continue
            devices: dict[int, FcDevice] = {}
            resource = config.resources.get(definition.resource) if definition.resource else None
            runtime = BusRuntime(definition, _Sink(loop, devices), device_path=resource.ifname if resource else None)
            for plan in by_bus.get(definition.name, []):
                virtual = None
                if vbus is not None and plan.device_instance is not None and plan.mac is not None:
                    from ..net.vbus import VirtualDevice

                    virtual = VirtualDevice(vbus, plan.mac, plan.device_instance, plan.prefix, plan.device.description)
                    self._virtual.append(virtual)
                device = FcDevice(plan, runtime, virtual)
                devices[device.index] = device
                self.devices.append(device)
                target = virtual.app if virtual is not None else (None if virtual_mode else app)
                if target is not None:
                    for point in device.points.values():
                        self._published.publish(target, point.obj)
                if app is not None:
                    self._published.publish(app, device.status)
            self.buses[definition.name] = runtime
            runtime.start()
        log.info("Free Client: %d bus(es), %d device(s), %d point(s)", len(self.buses), len(self.devices),
                 sum(len(d.points) for d in self.devices))

    def stop(self) -> None:
        for runtime in self.buses.values():  # all at once: each then ends within the same short while
            runtime.request_stop()
        for runtime in self.buses.values():
            runtime.stop()
        self._published.withdraw()
        for virtual in self._virtual:
            virtual.close()
        self._virtual.clear()
        self.buses.clear()
        self.devices.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        return [runtime.status() for runtime in self.buses.values()]
