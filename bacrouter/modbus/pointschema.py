"""The keys of one point of the device-config format: kind, range and doc, and editing a point by its keys.

:mod:`.devconfig` reads points; this module says what each key is for a
person or a form (the panel's point editor, the docs' table) and turns what a
form sends back into the point's JSON. An edit keeps what it does not touch:
a key whose text did not change keeps its value as the file wrote it (``1``
stays ``1``, ``"10"`` stays ``"10"``), keys of no known meaning (a vendor's
``x-ui``) stay, and text that is not a number is written as it was typed, so
``bacrouter check`` (Save & Apply) says what is wrong at the point's key
rather than the edit being lost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .datatypes import REGISTERS
from .devconfig import ADDRESS_TYPES, OBJECT_TYPES, POINT_KEYS, flag

__all__ = ["PointKey", "POINT_SCHEMA", "form_text", "edit_point", "new_point", "copy_point", "point_location",
           "free_point_name", "free_instance", "markdown_table"]


@dataclass(frozen=True)
class PointKey:
    key: str
    #: text, int, number (int or float), unit (a number or a name), bool, choice, texts, ints (one a line)
    kind: str
    doc: str
    default: Any = None
    choices: tuple[str, ...] = ()
    #: offered while typing (a datalist), any other text is allowed too
    suggestions: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    required: bool = False


#: every key of a point, in the format's order (the same as devconfig.POINT_KEYS)
POINT_SCHEMA: tuple[PointKey, ...] = (
    PointKey("name", "text", "the point's name (the BACnet object name, after master|slave| in single-device "
             "mode); unique among the slave's enabled points", required=True),
    PointKey("description", "text", "the object's Description"),
    PointKey("instance", "int", "object instance: in single-device mode 0..999 inside the slave's block, in "
             "virtual-device mode the instance in the slave's device; a taken one gets the lowest free one",
             0, min=0, max=4194302),
    PointKey("enable", "bool", "poll the point and make its object", True),
    PointKey("object_type", "choice", "ai/bi/mi read only; av/bv/mv on a coil or holding register forward "
             "BACnet writes; ao/bo/mo are commandable outputs (priority array), read back to verify",
             choices=OBJECT_TYPES, required=True),
    PointKey("address_type", "choice", "Modbus table: coil and holding are writable, discrete and input are "
             "read only", choices=ADDRESS_TYPES, required=True),
    PointKey("address", "int", "first register or bit, 0-based", 0, min=0, max=65535),
    PointKey("data_type", "text", "u16 s16 u32 s32 u64 s64 float double, or o and a conversion (obcd, "
             "ocompat_bcd, om10k, olow10th, or a conversion script of your own)", "u16",
             suggestions=(*REGISTERS, "obcd", "ocompat_bcd", "om10k", "olow10th")),
    PointKey("scale", "number", "BACnet value = Modbus value × scale + offset (analog)", 1),
    PointKey("offset", "number", "added after scaling (analog)", 0),
    PointKey("unit", "unit", "BACnet engineering unit of an analog object: a number or a name such as "
             "degrees-celsius"),
    PointKey("cov_increment", "number", "an analog object notifies COV subscribers when the value moved by "
             "at least this much (empty: any change)"),
    PointKey("bit_offset", "int", "first bit of a bit field in the register(s), 0 the least significant", 0,
             min=0, max=63),
    PointKey("bit_len", "int", "bits of a bit field (0: the whole value)", 0, min=0, max=64),
    PointKey("polarity", "bool", "binary objects: reverse (0 is active)", False),
    PointKey("state_texts", "texts", "binary: the inactive and active text; multistate: a text per state (one "
             "a line), or @NAME for a set of the user library"),
    PointKey("state_values", "ints", "multistate: the Modbus value of each state, one a line (empty: state N "
             "is value N-1)"),
    PointKey("reg_num", "int", "registers a conversion (o...) reads, when it does not say itself", 0, min=0,
             max=125),
    PointKey("output_tolerance", "number", "outputs: a read-back this close to the value written counts as "
             "the same (default: half a scale step for integer registers)"),
)
assert tuple(k.key for k in POINT_SCHEMA) == POINT_KEYS, "the schema and devconfig.POINT_KEYS differ"

_BY_KEY = {k.key: k for k in POINT_SCHEMA}
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def form_text(key: str, value: Any) -> str:
    """The text a form shows for ``value`` of ``key`` (lists one entry a line; a library set as @NAME)."""
    spec = _BY_KEY.get(key)
    if value is None:
        return ""
    if spec is not None and spec.kind in ("texts", "ints"):
        if isinstance(value, str):
            return f"@{value}" if spec.kind == "texts" else value
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)  # 1.0 stays "1.0": the text says what the file has


def _number(text: str, whole: bool) -> Any:
    if _INT.fullmatch(text):
        return int(text)
    if not whole and _FLOAT.fullmatch(text):
        return float(text)
    return text  # not a number: written as typed, the check says so at the key


def _value(spec: PointKey, text: str) -> Any:
    if spec.kind == "int":
        return _number(text, True)
    if spec.kind == "number":
        return _number(text, False)
    if spec.kind == "unit":
        return int(text) if _INT.fullmatch(text) else text
    if spec.kind == "texts":
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) == 1 and lines[0].startswith("@") and len(lines[0]) > 1:
            return lines[0][1:]
        return lines
    if spec.kind == "ints":
        items = [item.strip() for item in re.split(r"[\n,;]", text) if item.strip()]
        return [int(item) if _INT.fullmatch(item) else item for item in items]
    return text


def edit_point(raw: Mapping[str, Any], texts: Mapping[str, str | bool | None]) -> dict[str, Any]:
    """``raw`` with the keys of ``texts`` set from a form: a text per key (a bool for the bool keys; None: the
    form did not have the key, it stays). An empty text removes the key (its default applies), but for a
    required key; a text equal to the key's current text keeps the value as the file wrote it."""
    out = dict(raw)
    for spec in POINT_SCHEMA:
        if spec.key not in texts or texts[spec.key] is None:
            continue
        given = texts[spec.key]
        old = raw.get(spec.key)
        if spec.kind == "bool":
            wanted = bool(given)
            if (flag(old) if spec.key in raw else bool(spec.default)) == wanted:
                continue
            out[spec.key] = (1 if wanted else 0) if isinstance(old, int) and not isinstance(old, bool) else wanted
            continue
        text = str(given).replace("\r\n", "\n").strip()
        if spec.key in raw and text == form_text(spec.key, old).strip():
            continue
        if text == "":
            if spec.required:
                out[spec.key] = ""
            else:
                out.pop(spec.key, None)
            continue
        out[spec.key] = _value(spec, text)
    return out


def free_point_name(points: list[Any], wanted: str) -> str:
    """``wanted``, or ``wanted_2``, ``wanted_3``... the first no point of ``points`` has."""
    names = {str(p.get("name") or "").strip() for p in points if isinstance(p, dict)}
    base = re.sub(r"_\d+$", "", wanted) or "point"
    name, number = wanted, 1
    while name in names:
        number += 1
        name = f"{base}_{number}"
    return name


def free_instance(points: list[Any], object_type: str, start: int = 0) -> int:
    """The lowest instance from ``start`` no point of ``object_type`` has (instances are per object type)."""
    taken = set()
    for p in points:
        if isinstance(p, dict) and str(p.get("object_type", "")).lower() == object_type:
            try:
                taken.add(int(p.get("instance", 0)))
            except (TypeError, ValueError):
                continue
    instance = max(start, 0)
    while instance in taken:
        instance += 1
    return instance


def new_point(points: list[Any], object_type: str = "ai", address_type: str = "holding") -> dict[str, Any]:
    """A point to start from: a free name and instance, the register after the last one used."""
    address = 0
    for p in points:
        if isinstance(p, dict) and str(p.get("address_type", "")).lower() == address_type:
            try:
                address = max(address, int(p.get("address", 0)) + REGISTERS.get(str(p.get("data_type", "u16")), 1))
            except (TypeError, ValueError):
                continue
    return {"name": free_point_name(points, f"point{len(points) + 1}"), "instance": free_instance(points, object_type, 1),
            "enable": True, "object_type": object_type, "address_type": address_type, "address": min(address, 65535),
            "data_type": "u16"}


def copy_point(points: list[Any], index: int) -> dict[str, Any]:
    """Point ``index`` again, under a free name and instance (every other key as it was)."""
    source = dict(points[index])
    source["name"] = free_point_name(points, str(source.get("name") or "point"))
    object_type = str(source.get("object_type", "")).lower()
    try:
        start = int(source.get("instance", 0))
    except (TypeError, ValueError):
        start = 0
    source["instance"] = free_instance(points, object_type, start)
    return source


_AT_POINT = re.compile(r"(?:\(disabled\) )?point (\d+)(?: '.*?')?(?: key '(\w+)')?(?::|\s|$)")
_AT_ITEM = re.compile(r"points\[(\d+)\](?: '.*?')?: unknown key '([^']*)'")


def point_location(message: str) -> tuple[int, str] | None:
    """Which point (0-based) and key a problem of a points file is about, from its message (``point 3 'flow'
    key 'address': ...``, ``points[2] 'flow': unknown key 'scael'``); the key is "" for the point as a whole
    (and for an unknown key, which no field holds). None: not about one point."""
    found = _AT_POINT.match(message)
    if found:
        return int(found.group(1)) - 1, found.group(2) or ""
    found = _AT_ITEM.match(message)
    if found:
        return int(found.group(1)), ""
    return None


def markdown_table() -> str:
    """The point keys as a Markdown table (docs/modbus.md holds it; a unit test keeps them equal)."""
    rows = ["| key | value | default | meaning |", "| --- | --- | --- | --- |"]
    for spec in POINT_SCHEMA:
        if spec.choices:
            value = " ".join(f"`{c}`" for c in spec.choices)
        elif spec.min is not None:
            value = f"{spec.kind} {spec.min}..{spec.max}"
        else:
            value = {"texts": "list of texts", "ints": "list of whole numbers", "unit": "number or name",
                     "bool": "true/false"}.get(spec.kind, spec.kind)
        default = "required" if spec.required else ("" if spec.default is None else
                                                     form_text(spec.key, spec.default))
        rows.append(f"| `{spec.key}` | {value} | {default} | {spec.doc} |")
    return "\n".join(rows) + "\n"
