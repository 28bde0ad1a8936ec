"""The user library: named sets of state texts and the engineering units the user uses most.

Stored with the configuration in ``DATA_DIR/library.json`` and carried in the
router configuration file (:mod:`bacrouter.configfile`)::

    {
      "state_texts": {"Off/On": ["Off", "On"], "Auto/Hand/Off": ["Auto", "Hand", "Off"]},
      "units": ["degrees-celsius", "percent", 98]
    }

A point's ``state_texts`` may name a set instead of listing texts; the
gateways resolve the name with :meth:`Library.state_texts`. A missing file is
an empty library. Problems (a set that is not a list of texts, an unknown key)
come back in :attr:`Library.problems`, located in the file; the sets that are
fine are still usable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import FileProblem, parse_json, read_file
from .model import Problem

__all__ = ["LIBRARY_FILE", "Library", "library_path", "load_library", "parse_library"]

#: the library's file, relative to the data directory
LIBRARY_FILE = "library.json"
_KEYS = ("state_texts", "units")


@dataclass
class Library:
    #: set name → its texts, in file order
    state_text_sets: dict[str, list[str]] = field(default_factory=dict)
    #: engineering units, most used first: BACnet names (degrees-celsius) or numbers
    units: list[str | int] = field(default_factory=list)
    file: str = ""
    problems: list[Problem] = field(default_factory=list)

    def state_texts(self, name: str) -> list[str] | None:
        """The texts of the set called ``name``; None when there is no such set."""
        texts = self.state_text_sets.get(name)
        return list(texts) if texts is not None else None

    def signature(self, data: Any) -> bytes:
        """The texts of every set ``data`` (a points or bus file) names: part of what the file means."""
        names: set[str] = set()
        stack = [data]
        while stack:  # any depth: device files, bus files with devices and points
            item = stack.pop()
            if isinstance(item, dict):
                if isinstance(item.get("state_texts"), str):
                    names.add(item["state_texts"])
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return json.dumps({n: self.state_text_sets.get(n) for n in sorted(names)}).encode() if names else b""

    def to_json(self) -> dict[str, Any]:
        return {"state_texts": {k: list(v) for k, v in self.state_text_sets.items()}, "units": list(self.units)}

    def dumps(self) -> str:
        return dumps_library(self.to_json())

    @property
    def empty(self) -> bool:
        return not self.state_text_sets and not self.units


def library_path(data_dir: Path) -> Path:
    return Path(data_dir) / LIBRARY_FILE


def dumps_library(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def parse_library(data: Any, file: str = LIBRARY_FILE) -> Library:
    """A library from the file's JSON; what is wrong is in ``problems`` (errors and warnings), the rest is kept."""
    library = Library(file=file)

    def problem(message: str, severity: str = "error") -> None:
        library.problems.append(Problem(message, file, 0, "library", severity=severity))

    if not isinstance(data, dict):
        problem('expected a JSON object: {"state_texts": {NAME: [TEXT, ...]}, "units": [UNIT, ...]}')
        return library
    for key in data:
        if key not in _KEYS:
            problem(f"unknown key '{key}' (known: {', '.join(_KEYS)})", "warning")
    sets = data.get("state_texts", {})
    if not isinstance(sets, dict):
        problem("key 'state_texts': expected an object of named sets: {NAME: [TEXT, ...]}")
        sets = {}
    for name, texts in sets.items():
        where = f"state_texts.{name}"
        if not str(name).strip():
            problem(f"{where}: a set needs a name")
            continue
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            problem(f"{where}: expected a list of (non-empty) texts")
            continue
        if len(set(texts)) != len(texts):
            problem(f"{where}: a text appears twice", "warning")
        library.state_text_sets[str(name)] = list(texts)
    units = data.get("units", [])
    if not isinstance(units, list):
        problem("key 'units': expected a list of engineering units (names or numbers)")
        units = []
    for index, unit in enumerate(units):
        if isinstance(unit, bool) or not isinstance(unit, (str, int)) or (isinstance(unit, str) and not unit.strip()):
            problem(f"units[{index}]: {unit!r} is not an engineering unit (a name such as degrees-celsius, "
                    f"or a number)")
            continue
        if unit in library.units:
            problem(f"units[{index}]: {unit!r} is listed twice", "warning")
            continue
        library.units.append(unit)
    return library


def load_library(data_dir: Path | str) -> Library:
    """The library of a configuration (``DATA_DIR/library.json``); empty when there is none."""
    path = library_path(Path(data_dir))
    try:
        raw = read_file(path)
    except FileNotFoundError:
        return Library(file=str(path))
    except FileProblem as err:
        return Library(file=str(path), problems=[Problem(err.message, str(path), 0, "library")])
    try:
        data = parse_json(raw)
    except FileProblem as err:
        message = f"{err.message} (column {err.column})" if err.column else err.message
        return Library(file=str(path), problems=[Problem(message, str(path), err.line, "library")])
    return parse_library(data, str(path))
