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
from ..feature import Summary, new_summary
from ..modbus.objects import GatewayObject, Publications, Reliability, make_object, point_kwargs
from ..net.host import DeviceHost, VirtualDeviceHandle
from .bus import BusRuntime, Event
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
    """The running Free Client: one bus runtime (a Lua script on a line) per enabled bus, and its devices' objects."""

    def __init__(self, config: Config, host: DeviceHost) -> None:
        self.config, self.host = config, host
        self.buses: dict[str, BusRuntime] = {}
        self.devices: list[FcDevice] = []
        self._published = Publications()
        self._virtual: list[VirtualDeviceHandle] = []

    async def start(self) -> Summary:
        summary = new_summary()
        config = self.config
        plans, _ = plan_freeclient(config)
        if not plans and not any(b.enabled and b.bus for b in config.sections_of(FreeClientBus)):
            return summary
        app = self.host.router_app()
        virtual_mode = config.vbus is not None
        loop = asyncio.get_running_loop()
        by_bus: dict[str, list[FcDevicePlan]] = {}
        for plan in plans:
            by_bus.setdefault(plan.bus.name, []).append(plan)
        for bus_config in config.sections_of(FreeClientBus):
            definition = bus_config.bus
            if not bus_config.enabled or definition is None:
                continue
            devices: dict[int, FcDevice] = {}
            resource = config.resources.get(definition.resource) if definition.resource else None
            runtime = BusRuntime(definition, _Sink(loop, devices), device_path=resource.ifname if resource else None)
            for plan in by_bus.get(definition.name, []):
                virtual = None
                if virtual_mode and plan.device_instance is not None and plan.mac is not None:
                    virtual = self.host.virtual_device(plan.mac, plan.device_instance, plan.prefix,
                                                       plan.device.description)
                    if virtual is not None:
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
            summary["started"].append(bus_config.label)
        log.info("Free Client: %d bus(es), %d device(s), %d point(s)", len(self.buses), len(self.devices),
                 sum(len(d.points) for d in self.devices))
        return summary

    async def apply(self, config: Config) -> Summary:
        """Restart when the buses or what they are placed after changed."""
        if _settings(self.config) == _settings(config):
            self.config = config
            summary = new_summary()
            summary["unchanged"] = [f"freeclient_bus '{name}'" for name in self.buses]
            return summary
        before = set(self.buses)
        self.stop()
        self.config = config
        summary = await self.start()
        after = {label.split("'")[1] for label in summary["started"]}
        summary["restarted"] = [label for label in summary["started"] if label.split("'")[1] in before]
        summary["started"] = [label for label in summary["started"] if label.split("'")[1] not in before]
        summary["stopped"] = [f"freeclient_bus '{name}'" for name in sorted(before - after)]
        return summary

    def summary(self) -> dict[str, Any]:
        return {"buses": len(self.buses), "devices": len(self.devices),
                "online": sum(1 for d in self.devices if d.online)}

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


def _settings(config: Config) -> tuple[Any, ...]:
    """What the Free Client is built from (the Modbus slaves too: devices are placed after them)."""
    from ..modbus.schema import ModbusSlave

    buses = [(b, config.resources.get(b.resource) if b.resource else None) for b in config.sections_of(FreeClientBus)]
    return (buses, [(s.name, s.enabled, s.block, s.instance) for s in config.sections_of(ModbusSlave)],
            config.vbus, config.app.delimiter)
