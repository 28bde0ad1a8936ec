"""The original's collision rules for gateway devices, one checker for ``check`` and for every import.

Under the current mapping mode every enabled Modbus slave (then every enabled
Free Client device) is checked, in file order, against the ones before it:

* single-device mode (no VBUS port): its instance block is its own
  (``block``), and its object names (``master|slave|point``, the status
  objects) are not taken in the router's device;
* virtual-device mode: its device instance is set, is not the router's and
  not another device's; there is a VBUS MAC address left for it (254 devices);
  its device name is not taken;
* both: no other slave answers the same station on the same line with the
  same serial settings (baud rate and framing: parity alone does not keep two
  devices apart, some do not check it), or the same TCP server and unit;
  no two enabled points of the slave share a name; no two outputs overlap.

A device that collides is left out of the tables, so the ones after it are
checked as if it were disabled: exactly what an import does with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..config.model import Config
from .devconfig import WRITABLE
from .mapping import map_gateway
from .schema import ModbusMaster, ModbusSlave

__all__ = ["Collision", "Taken", "find_collisions", "point_collisions", "line_key", "VBUS_DEVICES", "taken_blocks",
           "slave_instances", "lowest_free", "MAX_BLOCK", "MAX_INSTANCE"]

VBUS_DEVICES = 254
MAX_BLOCK = 4193
MAX_INSTANCE = 4194302

#: rules a device is checked by; ``point_names`` and ``output_overlap`` are within one slave
RULES = ("block", "object_name", "device_instance", "vbus_mac", "device_name", "station", "point_names",
         "output_overlap")


@dataclass(frozen=True)
class Collision:
    kind: str  # "modbus_slave" or "freeclient_device"
    name: str  # the slave's section name, or "BUS/DEVICE"
    rule: str  # one of RULES
    message: str
    option: str = ""  # the slave's option the rule is about

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def line_key(slave: ModbusSlave, master: ModbusMaster) -> tuple[Any, ...]:
    """What two slaves must share to answer each other's requests: line, station, and on a serial line the
    baud rate and framing."""
    if master.serial:
        framing = "ascii" if (slave.ascii if slave.ascii is not None else master.protocol == "ascii") else "rtu"
        return ("serial", master.resource, slave.station, slave.baudrate, framing)
    return ("tcp", master.host, master.port, master.protocol, slave.station)


def _describe_line(key: tuple[Any, ...]) -> str:
    if key[0] == "serial":
        return f"station {key[2]} on resource '{key[1]}' at {key[3]} baud ({key[4]})"
    return f"station {key[4]} on {key[1]}:{key[2]}"


def point_collisions(points: list[Any]) -> list[tuple[str, str]]:
    """(rule, message) for enabled points of one slave sharing a name, or outputs sharing an address."""
    found: list[tuple[str, str]] = []
    names: dict[str, Any] = {}
    outputs: list[Any] = []
    for point in points:
        if not point.enabled:
            continue
        other = names.setdefault(point.name, point)
        if other is not point:
            found.append(("point_names", f"{point.label}: the name is already {other.label}'s"))
        if point.is_output and point.address_type in WRITABLE:
            span = set(range(point.address, point.address + point.registers))
            for out in outputs:
                if out.address_type == point.address_type and span & set(range(out.address, out.address + out.registers)):
                    found.append(("output_overlap", f"{point.label}: output on {point.address_type} {point.address} "
                                                    f"overlaps output {out.label}"))
            outputs.append(point)
    return found


@dataclass
class Taken:
    """What the devices checked so far hold: the next ones (the Free Client's) are checked against it."""

    virtual: bool
    names: dict[str, str]
    device_names: dict[str, str]
    instances: dict[int, str]
    devices: int


def find_collisions(config: Config, tables: list[Taken] | None = None) -> list[Collision]:
    """Every collision of every enabled slave with the ones before it (``tables`` gets what they hold; the
    Free Client's devices are checked after them by :func:`bacrouter.freeclient.collisions.find_all`)."""
    plan = map_gateway(config)
    virtual = plan.virtual
    found: list[Collision] = []
    names: dict[str, str] = {}  # object name in the router's device -> owner
    device_names: dict[str, str] = {}
    blocks: dict[int, str] = {}
    instances: dict[int, str] = {config.app.device_instance: "the router's own"}
    lines: dict[tuple[Any, ...], str] = {}
    devices = 0
    for slave_plan in plan.slaves:
        slave, master = slave_plan.slave, slave_plan.master
        label = slave.label
        mine: list[Collision] = []

        def hit(rule: str, message: str, option: str = "", name: str = slave.name, mine: list = mine) -> None:
            mine.append(Collision("modbus_slave", name, rule, message, option))

        for rule, message in point_collisions(slave.point_list):
            hit(rule, message)
        if master.serial and not 1 <= slave.station <= 247:
            hit("station", f"station {slave.station} on a serial line must be 1..247", "station")
        key = line_key(slave, master)
        if key in lines:
            hit("station", f"{_describe_line(key)} is already {lines[key]}'s", "station")
        own = list(slave_plan.status_names.values())
        if virtual:
            for rule, message in virtual_device_collisions(slave.instance, instances, devices,
                                                           "per slave (option 'instance')"):
                hit(rule, message, "instance" if rule == "device_instance" and slave.instance is not None else "")
            if slave_plan.device_name in device_names:
                hit("device_name", f"device name '{slave_plan.device_name}' is already "
                                   f"{device_names[slave_plan.device_name]}'s")
        else:
            if slave_plan.block in blocks:
                hit("block", f"instance block {slave_plan.block} is already {blocks[slave_plan.block]}'s", "block")
            own += [p.name for p in slave_plan.points]
        clash = object_name_clash(own, names)
        if clash:
            hit("object_name", clash)
        found += mine
        if mine:
            continue  # left out, as the import leaves it out: the next ones are checked without it
        lines[key] = label
        names.update(dict.fromkeys(own, label))
        if virtual:
            devices += 1
            device_names[slave_plan.device_name] = label
            if slave.instance is not None:
                instances[slave.instance] = label
        else:
            blocks[slave_plan.block] = label
    if tables is not None:
        tables.append(Taken(virtual, names, device_names, instances, devices))
    return found


def virtual_device_collisions(instance: int | None, instances: dict[int, str], devices: int,
                              where: str) -> list[tuple[str, str]]:
    """What keeps a new device off the virtual network: no instance, an instance taken, no MAC left."""
    found: list[tuple[str, str]] = []
    if instance is None:
        found.append(("device_instance", f"virtual-device mode (a vbus port is enabled) needs a device instance {where}"))
    elif instance in instances:
        other = instances[instance]
        found.append(("device_instance", f"device instance {instance} is "
                      + ("the router's own" if other == "the router's own" else f"already {other}'s")))
    if devices >= VBUS_DEVICES:
        found.append(("vbus_mac", f"no VBUS MAC address left: the virtual network holds at most {VBUS_DEVICES} devices"))
    return found


def object_name_clash(own: list[str], names: dict[str, str]) -> str | None:
    """Which of a device's object names another already holds (``names``: name → holder), or None."""
    taken = sorted({n for n in own if n in names})
    if not taken:
        return None
    shown = ", ".join(f"'{n}' ({names[n]})" for n in taken[:3]) + (" ..." if len(taken) > 3 else "")
    return f"{len(taken)} object name(s) already taken: {shown}"


# --------------------------------------------------------------------------- what a new slave may take


def taken_blocks(config: Config) -> set[int]:
    """Instance blocks a new slave must not take: every slave's own ``block`` (disabled ones too: they get it
    back when enabled) and the blocks the enabled ones without one were given."""
    taken = {s.block for s in config.sections_of(ModbusSlave) if s.block}
    return taken | {s.block for s in map_gateway(config).slaves}


def slave_instances(config: Config) -> set[int]:
    """Device instances a new slave must not take: the router's and every slave's (disabled ones too)."""
    return {config.app.device_instance} | {s.instance for s in config.sections_of(ModbusSlave)
                                           if s.instance is not None}


def lowest_free(taken: set[int], start: int, high: int) -> int | None:
    """The lowest number from ``start`` to ``high`` not in ``taken`` (None: all are)."""
    return next((n for n in range(start, high + 1) if n not in taken), None)
