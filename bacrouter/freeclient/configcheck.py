"""Placing the Free Client's devices and points, and its configuration rules for ``bacrouter check``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config.model import Config, Problem
from ..modbus.mapping import map_gateway, place_points
from .definition import BusDefinition, DevicePlan, PointDef
from .schema import FreeClientBus

__all__ = ["FcDevicePlan", "plan_freeclient", "check_freeclient"]


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
    modbus = map_gateway(config)
    virtual = modbus.virtual
    delimiter = config.app.delimiter
    taken = {s.block for s in modbus.slaves}
    block, mac = 1, len(modbus.slaves) + 1
    plans, notes = [], []
    for bus in config.sections_of(FreeClientBus):
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
    buses = {b.name: b for b in config.sections_of(FreeClientBus)}
    plans, notes = plan_freeclient(config)
    for bus_name, device, message in notes:
        bus = buses[bus_name]
        problems.append(Problem(f"device '{device.name}' {message}", bus.definition_file, 0, bus.label, severity="warning"))
    for plan in plans:
        bus = buses[plan.bus.name]
        for point, *_ in plan.points:
            if point.kind == "analog" and point.unit not in (None, ""):
                from ..modbus.objects import units_code  # bacpypes3 knows the unit names

                try:
                    units_code(point.unit)
                except ValueError:
                    problems.append(Problem(f"device '{plan.device.name}' point '{point.name}' key 'unit': "
                                            f"{point.unit!r} is not a BACnet engineering unit", bus.definition_file,
                                            0, bus.label))
    if config.vbus is not None:
        modbus = map_gateway(config)
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
