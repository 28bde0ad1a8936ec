"""Where each Modbus point lives in BACnet: the instance plan, the same for ``check`` and the daemon.

Single-device mode (no VBUS port): every slave owns an instance block of
1000 in the router's device (``block`` * 1000 .. + 999); a point's instance is
its block base plus its ``instance`` (0..999); names are
``master|slave|point`` with the configured delimiter.

Virtual-device mode (a VBUS port is enabled): every slave is a device of its
own on the virtual network, with the slave's ``instance`` as device instance,
named ``master|slave``; its points keep their own instances and names.

In both modes each slave has three status objects in the router's device,
``master|slave|comm|online`` (binary input), ``…|update_delay`` and
``…|fail_rate`` (analog inputs), at the top of its block, and in
single-device mode a Structured View at the block's base.

A point whose instance is taken (or out of range) gets the lowest free one;
the plan says so, and ``bacrouter check`` reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config.model import Config
from .devconfig import Point
from .schema import ModbusMaster, ModbusSlave

__all__ = ["PointMapping", "SlaveMapping", "GatewayMapping", "map_gateway", "place_points", "STATUS_OBJECTS", "BACNET_TYPES",
           "BLOCK"]

BACNET_TYPES = {"ai": "analog-input", "ao": "analog-output", "av": "analog-value", "bi": "binary-input",
                "bo": "binary-output", "bv": "binary-value", "mi": "multi-state-input", "mo": "multi-state-output",
                "mv": "multi-state-value"}
#: status objects: (name, object type, offset from the top of the block)
STATUS_OBJECTS = (("online", "bi", 999), ("update_delay", "ai", 998), ("fail_rate", "ai", 999))
BLOCK = 1000


@dataclass(slots=True)
class PointMapping:
    point: Point
    object_type: str  # ai, ao, ...
    instance: int
    name: str


@dataclass
class SlaveMapping:
    slave: ModbusSlave
    master: ModbusMaster
    block: int
    points: list[PointMapping] = field(default_factory=list)
    device_instance: int | None = None  # virtual-device mode
    device_name: str = ""
    mac: int | None = None  # on the VBUS network
    status_names: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> int:
        return self.block * BLOCK


@dataclass
class GatewayMapping:
    virtual: bool
    slaves: list[SlaveMapping] = field(default_factory=list)
    #: (slave, point or None, message) for things the plan decided on its own
    notes: list[tuple[ModbusSlave, Point | None, str]] = field(default_factory=list)


def place_points(points: list[tuple[Any, str, int, str]], base: int, virtual: bool,
                 prefix: str) -> tuple[list[tuple[Any, str, int, str]], list[tuple[Any, str]]]:
    """Instances and names for (key, object type, wanted instance, name) in a block at ``base`` (single-device
    mode: names get ``prefix``, the block's top and base are kept for the status objects and the view) or in
    a device of their own (virtual). Returns [(key, type, instance, name)] and notes [(key, message)]."""
    used: dict[str, set[int]] = {}
    if not virtual:
        # the block's top holds the status objects, its base the Structured View
        used = {"bi": {base + 999}, "ai": {base + 998, base + 999}}
    placed, notes = [], []
    for key, code, instance_wanted, name in points:
        if virtual:
            wanted, low, high = instance_wanted, 0, 4194302
        else:
            wanted, low, high = base + instance_wanted, base, base + BLOCK - 1
        taken = used.setdefault(code, set())
        instance = wanted
        if not low <= instance <= high or instance in taken:
            free = next((i for i in range(low, high + 1) if i not in taken), None)
            if free is None:
                notes.append((key, f"no free {code} instance left: point left out"))
                continue
            instance = free
            shown = 0 if virtual else base
            reason = "is taken" if low <= wanted <= high else f"is outside {low - shown}..{high - shown}"
            notes.append((key, f"instance {instance_wanted} {reason}: using {instance - shown}"))
        taken.add(instance)
        placed.append((key, code, instance, name if virtual else f"{prefix}{name}"))
    return placed, notes


def map_gateway(config: Config) -> GatewayMapping:
    virtual = config.vbus is not None
    delimiter = config.app.delimiter
    plan = GatewayMapping(virtual)
    masters = {m.name: m for m in config.sections_of(ModbusMaster) if m.enabled}
    slaves = [s for s in config.sections_of(ModbusSlave) if s.enabled and s.master in masters]
    taken_blocks = {s.block for s in slaves if s.block}
    next_block = 1
    mac = 1
    for slave in slaves:
        block = slave.block
        if not block:
            while next_block in taken_blocks:
                next_block += 1
            block = next_block
            taken_blocks.add(block)
        master = masters[slave.master]
        slave_plan = SlaveMapping(slave, master, block)
        prefix = f"{master.name}{delimiter}{slave.name}"
        slave_plan.status_names = {name: f"{prefix}{delimiter}comm{delimiter}{name}" for name, _, _ in STATUS_OBJECTS}
        if virtual:
            slave_plan.device_instance = slave.instance
            slave_plan.device_name = prefix
            slave_plan.mac = mac
            mac += 1
        wanted = [(point, point.object_type, point.instance, point.name) for point in slave.point_list if point.enabled]
        placed, notes = place_points(wanted, slave_plan.base, virtual, f"{prefix}{delimiter}")
        slave_plan.points = [PointMapping(point, code, instance, name) for point, code, instance, name in placed]
        plan.notes += [(slave, point, message) for point, message in notes]
        plan.slaves.append(slave_plan)
    return plan
