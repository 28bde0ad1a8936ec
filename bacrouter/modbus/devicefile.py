"""Importing the original product's device files into UCI + points file, and exporting them back.

An original device file is one JSON object: the slave's keys (station,
timing, limits, byte order...) and its ``points``. Importing writes the slave
keys as a ``config modbus_slave`` section and the file itself, unchanged, as
the slave's points file. From then on the UCI options are what counts (the
slave keys left in the file are only the template for export).

Exporting puts the UCI options back into that object: a key whose value has
the same meaning as the UCI option keeps its original spelling (``1`` stays
``1``, ``true`` stays ``true``), so a file imported and exported without
changes comes back equal, key for key, point for point.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from typing import Any

from .devconfig import SLAVE_KEYS
from .schema import ModbusSlave

__all__ = ["ImportError_", "slave_options", "export_device", "section_name", "PARITY_NAMES"]

#: spellings of parity in device files
PARITY_NAMES = {"none": "none", "n": "none", "0": "none", "even": "even", "e": "even", "2": "even",
                "odd": "odd", "o": "odd", "1": "odd"}
#: device-file key → UCI option, where they differ
_OPTION = {"enable": "enabled"}
_NOT_OPTIONS = {"name"}
#: bacrouter's own slave options a device file may carry too (a master file's slaves do, when they are set)
EXTRA_KEYS = ("block", "stop_bits")


class ImportError_(ValueError):  # noqa: N801 - ImportError is a builtin
    """The device file cannot become a slave section."""


def section_name(text: str) -> str:
    """A UCI section name from a device name: letters, digits and underscores."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text.strip()).strip("_")
    if not name:
        raise ImportError_("the device has no name: give one with --name")
    return name if not name[0].isdigit() else f"dev_{name}"


def _sanitized(text: str) -> str:
    try:
        return section_name(text)
    except ImportError_:
        return ""


@functools.cache
def _field_kinds() -> dict[str, str]:
    kinds = {}
    for f in dataclasses.fields(ModbusSlave):
        if "doc" not in f.metadata:  # not a UCI option
            continue
        kinds[f.name] = str(f.type)
    return kinds


def _truth(value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ImportError_(f"{value!r} is not true or false")
    return bool(value)


def _uci_text(key: str, value: Any) -> str:
    """The UCI option text for a device-file value."""
    kind = _field_kinds()[_OPTION.get(key, key)]
    if kind == "bool":
        return "1" if _truth(value) else "0"
    if key == "parity":
        name = PARITY_NAMES.get(str(value).strip().lower())
        if name is None:
            raise ImportError_(f"key 'parity': {value!r} is not none, even or odd")
        return name
    if kind == "int":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ImportError_(f"key '{key}': {value!r} is not a number") from None
        if number != int(number):
            raise ImportError_(f"key '{key}': {value!r} is not a whole number")
        return str(int(number))
    return str(value)


def slave_options(data: dict[str, Any], master: str) -> dict[str, str]:
    """UCI options of a ``modbus_slave`` section for an original device file."""
    if not isinstance(data, dict) or not isinstance(data.get("points", []), list):
        raise ImportError_("not a device file: expected an object with a list of 'points'")
    options = {"master": master}
    for key in SLAVE_KEYS + EXTRA_KEYS:
        if key in _NOT_OPTIONS or key not in data or data[key] is None:
            continue
        options[_OPTION.get(key, key)] = _uci_text(key, data[key])
    return options


def _same(original: Any, value: Any, key: str) -> bool:
    try:
        if key == "parity":
            return PARITY_NAMES.get(str(original).strip().lower()) == value
        if isinstance(value, bool):
            return _truth(original) == value
        if isinstance(value, int):
            return float(original) == value
        return str(original) == str(value)
    except (ImportError_, TypeError, ValueError):
        return False


def _like(value: Any, original: Any) -> Any:
    """``value`` written the way the file wrote the key before (bool, number or text)."""
    if isinstance(value, bool):
        if isinstance(original, bool) or original is None:
            return value
        if isinstance(original, str):
            return "1" if value else "0"
        return int(value)
    if isinstance(original, str):
        return str(value)
    return value


def export_device(slave: ModbusSlave, template: dict[str, Any] | None) -> dict[str, Any]:
    """The original device file of ``slave``: its points file with the UCI options written back."""
    template = dict(template or {})
    values: dict[str, Any] = {"name": slave.name}
    for key in SLAVE_KEYS + EXTRA_KEYS:
        option = _OPTION.get(key, key)
        if option in ("name",) or not hasattr(slave, option):
            continue
        values[key] = getattr(slave, option)
    defaults = ModbusSlave(master="")
    out: dict[str, Any] = {}
    for key, original in template.items():
        if key == "points" or key not in values:
            out[key] = original
            continue
        value = values.pop(key)
        if value is None or (key == "name" and isinstance(original, str) and _sanitized(original) == value):
            out[key] = original
        else:
            out[key] = original if _same(original, value, key) else _like(value, original)
    for key, value in values.items():  # options the file did not have: only where they are not the default
        option = _OPTION.get(key, key)
        if value is None or (key != "name" and value == getattr(defaults, option, object())):
            continue
        out[key] = value
    out["points"] = template.get("points", [])
    return out


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
