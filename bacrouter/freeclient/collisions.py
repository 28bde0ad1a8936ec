"""The collision rules of :mod:`bacrouter.modbus.collisions` for the Free Client's devices, after the slaves.

A device is checked like a slave: in single-device mode its object names
(``bus|device|point``); in virtual-device mode its device instance, a VBUS
MAC address, its device name; and its points' names.
"""

from __future__ import annotations

from ..config.model import Config
from ..modbus.collisions import (
    Collision,
    Taken,
    find_collisions,
    object_name_clash,
    slave_instances,
    virtual_device_collisions,
)
from .configcheck import plan_freeclient
from .schema import FreeClientBus

__all__ = ["find_all", "device_instances"]


def find_all(config: Config) -> list[Collision]:
    """The collisions of every enabled Modbus slave, then of every enabled Free Client device."""
    tables: list[Taken] = []
    found = find_collisions(config, tables)
    if not config.sections_of(FreeClientBus):
        return found
    taken = tables[0]
    virtual, names, device_names, instances, devices = (taken.virtual, taken.names, taken.device_names,
                                                        taken.instances, taken.devices)
    plans, _ = plan_freeclient(config)
    for plan in plans:
        name = f"{plan.bus.name}/{plan.device.name}"
        label = f"freeclient device '{name}'"
        mine: list[Collision] = []

        def hit(rule: str, message: str, name: str = name, mine: list = mine) -> None:
            mine.append(Collision("freeclient_device", name, rule, message, "instance" if "instance" in rule else ""))

        seen: set[str] = set()
        for point in plan.device.points:
            if point.enabled and point.name in seen:
                hit("point_names", f"point '{point.name}': the name is used twice")
            seen.add(point.name)
        if virtual:
            for rule, message in virtual_device_collisions(plan.device_instance, instances, devices, "(key 'instance')"):
                hit(rule, message)
            if plan.prefix in device_names:
                hit("device_name", f"device name '{plan.prefix}' is already {device_names[plan.prefix]}'s")
            own: list[str] = []
        else:
            own = [placed[3] for placed in plan.points]
        clash = object_name_clash(own, names)
        if clash:
            hit("object_name", clash)
        found += mine
        if mine:
            continue
        names.update(dict.fromkeys(own, label))
        if virtual:
            devices += 1
            device_names[plan.prefix] = label
            if plan.device_instance is not None:
                instances[plan.device_instance] = label
    return found


def device_instances(config: Config) -> set[int]:
    """Device instances a new gateway device must not take: the router's, every Modbus slave's and every Free
    Client device's (disabled ones too: they get theirs back when enabled)."""
    taken = slave_instances(config)
    for bus in config.sections_of(FreeClientBus):
        if bus.bus is not None:
            taken |= {d.instance for d in bus.bus.devices if d.instance is not None}
    return taken
