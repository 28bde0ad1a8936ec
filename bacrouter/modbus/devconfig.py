"""The original product's Modbus device-config JSON: a slave with its points (DESIGN section 4.3).

bacrouter keeps a slave's options in UCI (``config modbus_slave``) and its
points in a JSON file in this same format, so the product's device files
(and the offline configurator's) import unchanged, and export back equal:
the file is never rewritten, so every key a point had, known or not, stays.

:func:`parse_points` turns the JSON into typed :class:`Point` objects and a
list of problems, each naming the file, the point and the key.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import files
from ..config.files import unknown_keys
from ..lua import conversions
from .datatypes import REGISTERS

__all__ = ["Point", "SLAVE_KEYS", "POINT_KEYS", "parse_points", "split_device_file", "join_device_file",
           "OBJECT_TYPES", "ADDRESS_TYPES", "load_json", "point_key_warnings"]

OBJECT_TYPES = ("ai", "ao", "av", "bi", "bo", "bv", "mi", "mo", "mv")
ADDRESS_TYPES = ("coil", "discrete", "input", "holding")
WRITABLE = ("coil", "holding")

#: slave-level keys of the device-config format; they live in UCI once imported
SLAVE_KEYS = ("enable", "name", "description", "instance", "station", "timeout_ms", "update_ms", "offline_ms",
              "baudrate", "parity", "ascii", "group_bit", "unused_bit", "group_reg", "unused_reg",
              "single_write_coil", "single_write_reg", "coil_fr_discrete", "holding_fr_input", "byte_reverse",
              "integer_byte_reverse", "float_byte_reverse", "integer_little_endian", "float_little_endian")
POINT_KEYS = ("name", "description", "instance", "enable", "object_type", "address_type", "address", "data_type",
              "scale", "offset", "unit", "cov_increment", "bit_offset", "bit_len", "polarity", "state_texts",
              "state_values", "reg_num", "output_tolerance")


@dataclass(slots=True)
class Point:
    """One point, interpreted. (The file keeps the JSON as it was: export starts from it.)"""

    index: int
    name: str
    object_type: str
    address_type: str
    address: int
    data_type: str = "u16"
    instance: int = 0
    enabled: bool = True
    description: str = ""
    scale: float = 1.0
    offset: float = 0.0
    unit: int | str | None = None
    cov_increment: float | None = None
    bit_offset: int = 0
    bit_len: int = 0
    polarity: bool = False  # True: reversed (binary)
    state_texts: list[str] = field(default_factory=list)
    state_values: list[int] = field(default_factory=list)
    reg_num: int = 0
    output_tolerance: float = 0.0

    @property
    def kind(self) -> str:
        """analog, binary or multistate."""
        return {"a": "analog", "b": "binary", "m": "multistate"}[self.object_type[0]]

    @property
    def is_output(self) -> bool:
        return self.object_type.endswith("o")

    @property
    def is_value(self) -> bool:
        return self.object_type.endswith("v")

    @property
    def writable(self) -> bool:
        """Whether BACnet writes reach the slave."""
        return (self.is_output or self.is_value) and self.address_type in WRITABLE

    @property
    def registers(self) -> int:
        """Registers (or bits) the point occupies."""
        if self.address_type in ("coil", "discrete"):
            return 1
        if self.data_type.startswith("o"):
            try:
                return self.reg_num or conversions.get(self.data_type[1:]).registers or 1
            except conversions.ConversionError:
                return max(self.reg_num, 1)
        return REGISTERS.get(self.data_type, 1)

    @property
    def label(self) -> str:
        return f"point {self.index + 1} '{self.name}'"


def flag(value: Any) -> bool:
    """A true/false key of the original's JSON files (numbers, booleans or words)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "reverse")
    return bool(value)


def point_header(raw: Any, where: str, problems: list[str]) -> tuple[str, str, str | None] | None:
    """What every point of the original's JSON formats (Modbus device config, Free Client bus) starts with:
    ``(where, name, object_type)``, ``where`` naming the point from now on. None when it is not an object;
    ``object_type`` None when it is not one of OBJECT_TYPES. Problems are reported either way."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected an object")
        return None
    name = str(raw.get("name") or "").strip()
    if name:
        where += f" '{name}'"
    else:
        problems.append(f"{where}: no name")
    object_type = str(raw.get("object_type", "")).lower()
    if object_type not in OBJECT_TYPES:
        problems.append(f"{where} key 'object_type': {raw.get('object_type')!r} is not one of {', '.join(OBJECT_TYPES)}")
        return where, name, None
    return where, name, object_type


def _number(raw: dict[str, Any], key: str, default: float, problems: list[str], where: str) -> float:
    value = raw.get(key, default)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        problems.append(f"{where} key '{key}': {value!r} is not a number")
        return default
    if not math.isfinite(number):
        problems.append(f"{where} key '{key}': {value!r} is not a finite number")
        return default
    return number


def _integer(raw: dict[str, Any], key: str, default: int, problems: list[str], where: str,
             low: int | None = None, high: int | None = None) -> int:
    value = raw.get(key, default)
    if value in (None, ""):
        return default
    try:
        number = int(value)
        if isinstance(value, float) and value != number:
            raise ValueError
    except (TypeError, ValueError):
        problems.append(f"{where} key '{key}': {value!r} is not a whole number")
        return default
    if (low is not None and number < low) or (high is not None and number > high):
        problems.append(f"{where} key '{key}': {number} is outside {low}..{high}")
    return number


#: looks a named set of state texts up in the user library (bacrouter.config.library.Library.state_texts)
TextSets = Callable[[str], "list[str] | None"]


def state_texts(raw: dict[str, Any], where: str, problems: list[str], sets: TextSets | None) -> list[str]:
    """A point's ``state_texts``: a list of texts, or the name of a set in the user library."""
    value = raw.get("state_texts") or []
    if isinstance(value, str):
        found = sets(value) if sets is not None else None
        if found is None:
            problems.append(f"{where} key 'state_texts': no set of state texts named {value!r} in the user library")
            return []
        return found
    if not isinstance(value, list):
        problems.append(f"{where} key 'state_texts': expected a list of texts or the name of a library set")
        return []
    return [str(t) for t in value]


def parse_points(data: Any, source: str = "", sets: TextSets | None = None) -> tuple[list[Point], list[str]]:
    """Points of a device-config JSON (the whole slave object, or ``{"points": [...]}``); ``sets`` resolves
    ``state_texts`` given by the name of a user library set."""
    problems: list[str] = []
    if isinstance(data, dict):
        items = data.get("points", [])
    else:
        items = data
    if not isinstance(items, list):
        return [], [f"{source}: 'points' must be a list"]
    points: list[Point] = []
    for index, raw in enumerate(items):
        header = point_header(raw, f"{source}: point {index + 1}", problems)
        if header is None or header[2] is None:
            continue
        where, name, object_type = header
        address_type = str(raw.get("address_type", "")).lower()
        if address_type not in ADDRESS_TYPES:
            problems.append(f"{where} key 'address_type': {raw.get('address_type')!r} is not one of {', '.join(ADDRESS_TYPES)}")
            continue
        point = Point(
            index=index, name=name, object_type=object_type, address_type=address_type,
            address=_integer(raw, "address", 0, problems, where, 0, 65535),
            data_type=str(raw.get("data_type") or "u16").lower(),
            instance=_integer(raw, "instance", 0, problems, where, 0, 4194302),
            enabled=flag(raw.get("enable", True)),
            description=str(raw.get("description") or ""),
            scale=_number(raw, "scale", 1.0, problems, where),
            offset=_number(raw, "offset", 0.0, problems, where),
            unit=raw.get("unit"),
            cov_increment=_number(raw, "cov_increment", 0.0, problems, where) if raw.get("cov_increment") not in (None, "") else None,
            bit_offset=_integer(raw, "bit_offset", 0, problems, where, 0, 63),
            bit_len=_integer(raw, "bit_len", 0, problems, where, 0, 64),
            polarity=flag(raw.get("polarity", False)),
            state_texts=state_texts(raw, where, problems, sets),
            state_values=[],
            reg_num=_integer(raw, "reg_num", 0, problems, where, 0, 125),
            output_tolerance=_number(raw, "output_tolerance", 0.0, problems, where),
        )
        values = raw.get("state_values") or []
        if not isinstance(values, list) or not all(isinstance(v, int) or (isinstance(v, str) and v.lstrip("-").isdigit()) for v in values):
            problems.append(f"{where} key 'state_values': expected a list of whole numbers")
        else:
            point.state_values = [int(v) for v in values]
        problems += [f"{where} {p}" for p in check_point(point)]
        points.append(point)
    return points, problems


def check_point(point: Point) -> list[str]:
    """What is wrong with one point on its own."""
    problems: list[str] = []
    bits = point.address_type in ("coil", "discrete")
    if point.data_type.startswith("o"):
        try:
            conversions.get(point.data_type[1:])
        except conversions.LuaUnavailable:
            pass  # not this point's fault: the slave's check leaves it out with a warning
        except conversions.ConversionError as err:
            problems.append(f"key 'data_type': {err}")
        if bits:
            problems.append(f"key 'data_type': conversion {point.data_type!r} needs registers, not a {point.address_type}")
    elif point.data_type not in REGISTERS:
        problems.append(f"key 'data_type': {point.data_type!r} is not one of {', '.join(REGISTERS)} or a conversion (o...)")
    elif bits and REGISTERS[point.data_type] > 1:
        problems.append(f"key 'data_type': {point.data_type} needs registers, not a {point.address_type}")
    if point.address + point.registers > 0x10000:
        problems.append(f"key 'address': {point.registers} register(s) from {point.address} run past 65535")
    if point.is_output and point.address_type not in WRITABLE:
        problems.append(f"key 'address_type': an output object needs a writable address (coil or holding), "
                        f"not {point.address_type}")
    if point.bit_len:
        if bits:
            problems.append("key 'bit_len': bit fields are for registers")
        elif point.bit_offset + point.bit_len > 16 * point.registers:
            problems.append(f"key 'bit_offset': bits {point.bit_offset}..{point.bit_offset + point.bit_len - 1} "
                            f"do not fit {point.registers} register(s)")
        if point.data_type in ("float", "double"):
            problems.append("key 'bit_len': a bit field cannot be a float")
    if point.kind == "multistate":
        if not point.state_texts:
            problems.append("key 'state_texts': a multistate object needs its state texts")
        if point.state_values and len(point.state_values) != len(point.state_texts):
            problems.append(f"key 'state_values': {len(point.state_values)} values for "
                            f"{len(point.state_texts)} state texts")
        if len(set(point.state_values)) != len(point.state_values):
            problems.append("key 'state_values': a Modbus value appears twice")
    elif point.kind == "binary":
        if point.state_texts and len(point.state_texts) != 2:
            problems.append(f"key 'state_texts': a binary object has 2 state texts, not {len(point.state_texts)}")
        if point.state_values:
            problems.append("key 'state_values': only multistate objects map values to states")
    elif point.state_texts or point.state_values:
        problems.append("key 'state_texts': only binary and multistate objects have state texts")
    if point.scale == 0 and point.kind == "analog":
        problems.append("key 'scale': 0 would make every value 0 and writes impossible")
    return problems


def split_device_file(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An original device-config object → (slave options, points file). Unknown slave keys go with the options."""
    slave = {k: v for k, v in data.items() if k != "points"}
    return slave, {"points": data.get("points", [])}


def join_device_file(slave: dict[str, Any], points: list[dict[str, Any]]) -> dict[str, Any]:
    joined = dict(slave)
    joined["points"] = points
    return joined


def load_json(path: str) -> Any:
    """A device file named on a command line (with or without a byte-order mark; ValueError with line and column)."""
    return files.load_json(path)


def point_key_warnings(data: Any) -> list[str]:
    """Keys of a device-config file (its slave keys, each point's keys) that this format does not have."""
    warnings = unknown_keys(data, (*SLAVE_KEYS, "points"), "") if isinstance(data, dict) else []
    items = data.get("points") if isinstance(data, dict) else data
    if isinstance(items, list):
        for index, raw in enumerate(items):
            if isinstance(raw, dict):
                name = str(raw.get("name") or "").strip()
                warnings += unknown_keys(raw, POINT_KEYS, f"points[{index}]" + (f" '{name}'" if name else ""))
    return warnings
