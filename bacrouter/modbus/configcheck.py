"""Loading the slaves' point files, and the gateway's configuration rules for ``bacrouter check``."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from ..config.library import load_library
from ..config.model import Config, Problem
from ..lua import lua_missing
from ..lua.conversions import load_directory, register
from .collisions import find_collisions
from .devconfig import WRITABLE, parse_points, point_key_warnings
from .mapping import map_gateway
from .schema import ModbusMaster, ModbusSlave

__all__ = ["attach_points", "check_modbus", "points_path", "load_conversions"]


def points_path(slave: ModbusSlave, data_dir: Path) -> Path:
    path = Path(slave.points) if slave.points else Path("modbus") / f"{slave.name}.json"
    return path if path.is_absolute() else data_dir / path


def load_conversions(data_dir: Path) -> list[Problem]:
    """The user's conversion scripts (``conversions/*.lua`` in the data directory), registered for ``o…`` types."""
    directory = data_dir / "conversions"
    if not directory.is_dir():
        return []
    found, failed = load_directory(directory)
    for conversion in found:
        register(conversion)
    # without lupa no script loads: the points that use one are left out (attach_points), the rest runs
    severity = "warning" if lua_missing() else "error"
    return [Problem(f"conversion script: {message}", str(path), 0, severity=severity) for path, message in failed]


def attach_points(config: Config, data_dir: Path) -> list[Problem]:
    """Read every slave's device-config JSON into ``slave.point_list``; problems are located in the file."""
    problems: list[Problem] = []
    library = load_library(data_dir)
    for slave in config.sections_of(ModbusSlave):
        path = points_path(slave, data_dir)
        slave.points_file = str(path)
        loaded = slave.read_json(path, "points", "points file", problems)
        if loaded is None:
            continue
        data, raw = loaded
        points, messages = parse_points(data, "", library.state_texts)
        # a library set the points name is part of what they are: a change of it restarts the slave
        slave.points_signature = hashlib.sha1(raw + library.signature(data)).hexdigest()
        problems += [Problem(w, str(path), 0, slave.label, severity="warning") for w in point_key_warnings(data)]
        slave.point_list = points
        if lua_missing():
            problems += _without_lua(points, str(path), slave.label)
        if not messages and not any(p.enabled for p in points):
            problems.append(slave.problem("no enabled points: nothing is polled, and its online status stays off",
                                          severity="warning"))
        for message in messages:
            problems.append(Problem(message.removeprefix(": "), str(path), 0, slave.label))
    return problems


def _without_lua(points: list, file: str, section: str) -> list[Problem]:
    """Without lupa, the points whose data type is a Lua conversion (o...) are disabled: a warning each."""
    problems = []
    for point in points:
        if point.enabled and point.data_type.startswith("o"):
            point.enabled = False
            problems.append(Problem(f"{point.label} key 'data_type': {point.data_type!r} is a Lua conversion and "
                                    f"{lua_missing()}: the point is not polled", file, 0, section,
                                    severity="warning"))
    return problems


def check_modbus(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    masters = {m.name: m for m in config.sections_of(ModbusMaster)}
    delimiter = config.app.delimiter
    for master in config.sections_of(ModbusMaster):
        if master.serial and not master.resource:
            problems.append(master.problem(f"protocol {master.protocol} needs an RS485 resource (option 'resource')",
                                           "protocol"))
        if not master.serial and not master.host:
            problems.append(master.problem(f"protocol {master.protocol} needs the server's address (option 'host')",
                                           "protocol"))
        if delimiter in master.name:
            problems.append(master.problem(f"the name contains the delimiter {delimiter!r}: object names get ambiguous",
                                           severity="warning"))
    for slave in config.sections_of(ModbusSlave):
        master = masters.get(slave.master or "")
        if master is None:
            known = ", ".join(sorted(masters)) or "none configured"
            problems.append(slave.problem(f"no modbus_master '{slave.master}' (known: {known})", "master"))
            continue
        found = []
        if master.serial and not 1 <= slave.station <= 247:
            found.append(slave.problem(f"station {slave.station} on a serial line must be 1..247", "station"))
        if delimiter in slave.name:
            found.append(slave.problem(f"the name contains the delimiter {delimiter!r}: object names get ambiguous",
                                       severity="warning"))
        found += _check_points(slave)
        if not slave.enabled:  # not polled, not mapped: what would collide is for when it is enabled again
            found = [dataclasses.replace(p, severity="warning", message=f"(disabled) {p.message}") for p in found]
        problems += found
    plan = map_gateway(config)
    for slave, point, message in plan.notes:
        where = f"{point.label}: " if point is not None else ""
        problems.append(Problem(f"{where}{message}", slave.points_file, 0, slave.label, severity="warning"))
    slaves = {s.name: s for s in config.sections_of(ModbusSlave)}
    for collision in find_collisions(config):
        if collision.rule in ("point_names", "output_overlap"):
            continue  # _check_points says where in the points file
        if collision.rule == "station" and "must be" in collision.message:
            continue  # said above
        # two slaves answering one station: a warning here (it may be on purpose), an import disables the second
        severity = "warning" if collision.rule == "station" else "error"
        problems.append(slaves[collision.name].problem(collision.message, collision.option, severity))
    return problems


def _check_points(slave: ModbusSlave) -> list[Problem]:
    problems: list[Problem] = []
    names: dict[str, int] = {}
    outputs: list = []

    for point in slave.point_list:
        if not point.enabled:
            continue
        if point.name in names:
            problems.append(Problem(f"{point.label}: the name is already point {names[point.name] + 1}'s",
                                    slave.points_file, 0, slave.label))
        names.setdefault(point.name, point.index)
        if point.kind == "analog" and point.unit not in (None, ""):
            from .objects import units_code  # bacpypes3 knows the unit names

            try:
                units_code(point.unit)
            except ValueError:
                problems.append(Problem(f"{point.label} key 'unit': {point.unit!r} is not a BACnet engineering unit "
                                        f"(a number, or a name such as degrees-celsius)", slave.points_file, 0,
                                        slave.label))
        if point.is_output and point.address_type in WRITABLE:
            span = range(point.address, point.address + point.registers)
            for other in outputs:
                if other.address_type == point.address_type and set(span) & set(
                        range(other.address, other.address + other.registers)):
                    problems.append(Problem(
                        f"{point.label}: output on {point.address_type} {point.address} overlaps output "
                        f"{other.label} (outputs are verified by reading back, so they may not share an address)",
                        slave.points_file, 0, slave.label))
            outputs.append(point)
    return problems
