"""Points as CSV, for Excel, LibreOffice and WPS: a Modbus slave's, or a Free Client device's.

One row per point, one column per point key (the header row names the keys,
known ones first in the format's order, then any other key a point has).
Export writes UTF-8 with a byte-order mark (Excel then reads the accents) and
``,``; import takes ``,``, ``;`` or a tab (what a spreadsheet writes in a
locale whose decimal point is a comma), with or without the mark.

Cells: an empty cell leaves the key out; ``true``/``false`` and numbers are
what they look like, except in the keys that are always text (name,
description, types, tag); state texts are one cell, ``Off/On``, or
``["a/b", "c"]`` (JSON) when a text holds a ``/``; ``@NAME`` names a set of
the user library; another list or object is JSON. Export then import gives
back the same points.

An import is all or nothing: the points are checked as the file would hold
them, and any problem (each named by row and column) changes nothing. Rows
replace the points, or with ``merge`` replace the points with the same
object type and instance and add the others.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import has_errors, transaction
from .config.files import FileProblem, parse_json
from .paths import Paths
from .preview import preview

__all__ = ["CsvProblem", "PointsImport", "to_csv", "from_csv", "MODBUS_KEYS", "FREECLIENT_KEYS",
           "modbus_points_csv", "import_modbus_points", "freeclient_points_csv", "import_freeclient_points"]

BOM = "\ufeff"
#: keys whose cells are always text
TEXT_KEYS = {"name", "description", "object_type", "address_type", "data_type", "tag"}
FREECLIENT_KEYS = ("name", "description", "instance", "enable", "object_type", "value_type", "polarity",
                   "state_texts", "unit", "cov_increment", "tag")
_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?|-?\d+[eE][-+]?\d+")


def _modbus_keys() -> tuple[str, ...]:
    from .modbus.devconfig import POINT_KEYS

    return POINT_KEYS


MODBUS_KEYS = _modbus_keys()


@dataclass(frozen=True)
class CsvProblem:
    row: int  # 1 is the header row
    column: str  # the key
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f" column '{self.column}'" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class PointsImport:
    """What a CSV import does: points added, changed, removed (by name), or the problems that stop it."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[CsvProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changes: dict[Path, bytes | None] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "added": self.added, "changed": self.changed, "removed": self.removed,
                "unchanged": self.unchanged, "warnings": self.warnings,
                "problems": [{"row": p.row, "column": p.column, "message": p.message} for p in self.problems]}


# --------------------------------------------------------------------------- cells


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if key == "state_texts":
            return "@" + value  # a set of the user library
        if key not in TEXT_KEYS and (_scalar(value) != value or value.startswith(("[", "{", "@"))):
            return json.dumps(value, ensure_ascii=False)  # a text that would read back as something else
        return value
    if key == "state_texts" and isinstance(value, list) and value and all(
            isinstance(t, str) and t and "/" not in t and t.strip() == t for t in value) and not value[0].startswith(
            ("[", "@", '"')):
        return "/".join(value)
    return json.dumps(value, ensure_ascii=False)


def _scalar(text: str) -> Any:
    if text in ("true", "TRUE", "True"):
        return True
    if text in ("false", "FALSE", "False"):
        return False
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _value(key: str, text: str) -> tuple[Any, str]:
    """A cell's value; a non-empty message when the cell cannot be read."""
    if key in TEXT_KEYS:
        return text, ""
    if key == "state_texts":
        if text.startswith("@"):
            return text[1:], ""
        if not text.startswith("["):
            return text.split("/"), ""
    if text.startswith(("[", "{", '"')):
        try:
            return json.loads(text), ""
        except ValueError as err:
            return text, f"{text!r} is not JSON ({err})"
    return _scalar(text), ""


# --------------------------------------------------------------------------- CSV


def to_csv(points: list[dict[str, Any]], keys: tuple[str, ...]) -> bytes:
    """Points as CSV bytes: UTF-8 with a byte-order mark, ``,``, a header row, CRLF (what Excel writes)."""
    columns = list(keys) + sorted({k for p in points for k in p} - set(keys))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for point in points:
        writer.writerow([_cell(k, point.get(k)) for k in columns])
    return (BOM + out.getvalue()).encode("utf-8")


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def from_csv(data: bytes, keys: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[CsvProblem], list[str]]:
    """Points from CSV bytes; problems by row and column; warnings."""
    warnings: list[str] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        warnings.append("the file is not UTF-8: read as Windows-1252 (save it as 'CSV UTF-8' to be sure)")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        return [], [CsvProblem(1, "", "no header row: the first row names the point keys")], warnings
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines[0])))
    header = [h.strip() for h in rows[0]]
    problems: list[CsvProblem] = []
    if "name" not in header:
        problems.append(CsvProblem(1, "", f"no 'name' column (the header row has: {', '.join(header)})"))
    seen: set[str] = set()
    for index, key in enumerate(header):
        if not key:
            if any(len(r) > index and r[index].strip() for r in rows[1:]):
                problems.append(CsvProblem(1, f"#{index + 1}", "a column with values has no key in the header row"))
        elif key in seen:
            problems.append(CsvProblem(1, key, "the column is there twice"))
        seen.add(key)
    unknown = [k for k in header if k and k not in keys]
    if unknown:
        warnings.append(f"columns that are not point keys, kept as they are: {', '.join(unknown)}")
    points = []
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue  # an empty row (spreadsheets leave them)
        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            problems.append(CsvProblem(number, "", f"{len(row)} cells for {len(header)} columns"))
        point: dict[str, Any] = {}
        for key, cell in zip(header, row, strict=False):
            if not key or cell == "":
                continue
            value, message = _value(key, cell)
            if message:
                problems.append(CsvProblem(number, key, message))
            point[key] = value
        point["__row__"] = number
        points.append(point)
    return points, problems, warnings


_WHERE = re.compile(r"(?:device \d+(?: '[^']*')? )?point (\d+)(?: '[^']*')?(?: key '([^']+)')?:? ?(.*)", re.S)


def _located(message: str, rows: list[int]) -> CsvProblem:
    """A point's problem ("point 3 'x' key 'address': ...") as a row and column of the CSV."""
    match = _WHERE.search(message)
    if match:
        index = int(match.group(1)) - 1
        row = rows[index] if 0 <= index < len(rows) else 0
        return CsvProblem(row, match.group(2) or "", match.group(3))
    return CsvProblem(0, "", message)


def _merge(old: list[dict[str, Any]], new: list[dict[str, Any]], merge: bool, report: PointsImport
           ) -> list[dict[str, Any]]:
    def ident(p: dict[str, Any]) -> tuple[str, str]:
        return str(p.get("object_type", "")).lower(), str(p.get("instance", 0))

    incoming = {}
    for point in new:
        other = incoming.get(ident(point))
        if other is not None:
            report.problems.append(CsvProblem(point["__row__"], "instance",
                                              f"{point.get('object_type')} instance {point.get('instance', 0)} is "
                                              f"already row {other['__row__']}'s"))
        incoming[ident(point)] = point
    result: list[dict[str, Any]] = []
    used = set()
    for point in old:
        replacement = incoming.get(ident(point))
        if replacement is None:
            if merge:
                result.append(point)
            else:
                report.removed.append(str(point.get("name", "")))
            continue
        used.add(ident(point))
        clean = {k: v for k, v in replacement.items() if k != "__row__"}
        if clean == point:
            report.unchanged += 1
        else:
            report.changed.append(str(clean.get("name", "")))
        result.append(replacement)
    for point in new:
        if ident(point) not in used:
            report.added.append(str(point.get("name", "")))
            result.append(point)
            used.add(ident(point))
    return result


def _read_json(path: Path) -> Any:
    try:
        return parse_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except FileProblem as err:
        raise ValueError(f"{path}:{err.line}: {err.message}") from None


def _finish(paths: Paths, report: PointsImport, target: Path, data: Any, points: list[dict[str, Any]],
            check: Callable[[Any], list[str]], section: str) -> PointsImport:
    rows = [p.pop("__row__", 0) for p in points]
    for problem in (_located(m, rows) for m in check(data)):  # every bad row, not just the first kind
        if problem not in report.problems:
            report.problems.append(problem)
    if report.problems:
        report.changes = {}
        return report
    from .modbus.devicefile import dumps

    report.changes = {target: dumps(data).encode()}
    config, problems = preview(paths, report.changes)
    mine = [p for p in problems if p.file == str(target) or p.section == section]
    if config is None or has_errors(mine):
        report.problems += [_located(p.message.removeprefix(f"{section} "), rows)
                            for p in mine if p.severity == "error"]
        report.changes = {}
    report.warnings += [str(p) for p in mine if p.severity == "warning"]
    return report


def apply(paths: Paths, report: PointsImport) -> None:
    if not report.ok:
        raise transaction.TransactionError("the CSV has problems: nothing to write")
    transaction.commit(paths, report.changes)


# --------------------------------------------------------------------------- Modbus


def _slave_file(paths: Paths, slave: str) -> tuple[Path, dict[str, Any]]:
    from .loader import load_config
    from .modbus.configcheck import points_path
    from .modbus.schema import ModbusSlave

    config, _ = load_config(paths)
    section = config.section_of(ModbusSlave, slave) if config else None
    if section is None:
        raise ValueError(f"no modbus_slave '{slave}'")
    target = points_path(section, paths.data_dir)
    data = _read_json(target)
    if data is None:
        data = {"points": []}
    if isinstance(data, list):
        data = {"points": data}
    return target, data


def modbus_points_csv(paths: Paths, slave: str) -> bytes:
    _, data = _slave_file(paths, slave)
    return to_csv([p for p in data.get("points", []) if isinstance(p, dict)], MODBUS_KEYS)


def import_modbus_points(paths: Paths, slave: str, csv_data: bytes, merge: bool = False) -> PointsImport:
    """Replace (or merge into) a slave's points from CSV; nothing written (see :func:`apply`)."""
    from .modbus.devconfig import parse_points

    report = PointsImport()
    target, data = _slave_file(paths, slave)
    new, report.problems, report.warnings = from_csv(csv_data, MODBUS_KEYS)
    points = _merge([p for p in data.get("points", []) if isinstance(p, dict)], new, merge, report)
    data = dict(data, points=points)

    def check(candidate: Any) -> list[str]:
        return [m.removeprefix(": ") for m in parse_points({"points": [_plain(p) for p in points]}, "")[1]]

    return _finish(paths, report, target, data, points, check, f"modbus_slave '{slave}'")


def _plain(point: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in point.items() if k != "__row__"}


# --------------------------------------------------------------------------- Free Client


def _bus_file(paths: Paths, bus: str, device: str) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    from .freeclient.definition import definition_path
    from .freeclient.schema import FreeClientBus
    from .loader import load_config

    config, _ = load_config(paths)
    section = config.section_of(FreeClientBus, bus) if config else None
    if section is None:
        raise ValueError(f"no freeclient_bus '{bus}'")
    target = definition_path(section, paths.data_dir)
    data = _read_json(target)
    if not isinstance(data, dict):
        raise ValueError(f"{target}: not a bus definition")
    for entry in data.get("fcdevices") or []:
        if isinstance(entry, dict) and str(entry.get("name", "")).strip() == device:
            return target, data, entry
    known = ", ".join(str(d.get("name")) for d in data.get("fcdevices") or [] if isinstance(d, dict)) or "none"
    raise ValueError(f"bus '{bus}' has no device '{device}' (it has: {known})")


def freeclient_points_csv(paths: Paths, bus: str, device: str) -> bytes:
    _, _, entry = _bus_file(paths, bus, device)
    return to_csv([p for p in entry.get("fcpoints") or [] if isinstance(p, dict)], FREECLIENT_KEYS)


def import_freeclient_points(paths: Paths, bus: str, device: str, csv_data: bytes, merge: bool = False
                             ) -> PointsImport:
    from .freeclient.definition import _points

    report = PointsImport()
    target, data, entry = _bus_file(paths, bus, device)
    new, report.problems, report.warnings = from_csv(csv_data, FREECLIENT_KEYS)
    points = _merge([p for p in entry.get("fcpoints") or [] if isinstance(p, dict)], new, merge, report)
    entry["fcpoints"] = points

    def check(candidate: Any) -> list[str]:
        problems: list[str] = []
        _points([_plain(p) for p in points], "", problems)
        names = [p.get("name") for p in points]
        for index, name in enumerate(names):
            if name and names.index(name) != index:
                problems.append(f"point {index + 1} key 'name': '{name}' is already point {names.index(name) + 1}'s")
        return [m.strip() for m in problems]

    return _finish(paths, report, target, data, points, check, f"freeclient_bus '{bus}'")
