"""The router configuration file: a whole router's configuration in one JSON document.

It holds everything a configuration consists of: the UCI package (each section
with its options), resource.conf, every points file and Free Client definition
the sections refer to, Free Client scripts kept in the data directory, the
user's conversion scripts and the user library; with the format version and the
bacrouter version that wrote it (docs/configuration-files.md shows one)::

    {"format": "bacrouter-router", "format_version": 1, "bacrouter_version": "...",
     "secrets": false,
     "uci": [{"type": "bacrouter", "name": "main", "options": {...}}, {"type": "bip", "options": {...}}, ...],
     "resources": {...},
     "files": {"modbus/boiler.json": {"json": {...}}, "conversions/pt100.lua": {"text": "..."}},
     "library": {"state_texts": {...}, "units": [...]}}

Three library functions, each returning what a page can show, and the CLI
(``bacrouter export`` / ``import``) on top:

- :func:`export_router` builds the document (the panel's password hash only
  ``with_secrets``);
- :func:`plan_import` checks the document: it writes the configuration it
  describes into a scratch directory, loads it with the real loader, and
  reports every problem and the difference from the current configuration
  (sections, slaves, buses, points, resources, files, library: added,
  changed, removed);
- :func:`apply_import` writes every file as one change
  (:mod:`bacrouter.config.transaction`: all or nothing, even if killed), keeps
  the previous files for :func:`undo_import`, and reloads the daemon if it runs.

An import replaces the whole configuration: files the old configuration used
and the new one does not are removed (an undo brings them back). A document
without secrets keeps this router's own (its panel password).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import __version__
from .config import Problem, has_errors, transaction, uci
from .config.files import FileProblem, parse_json, read_file, read_if_present
from .config.hardware import missing_hardware
from .config.library import LIBRARY_FILE
from .paths import Paths

__all__ = ["FORMAT", "FORMAT_VERSION", "MIGRATIONS", "SECRETS", "ConfigFileError", "Change", "ImportPlan",
           "ImportResult", "export_router", "read_document", "plan_import", "apply_import", "undo_import",
           "reload_daemon", "dumps_document"]

FORMAT = "bacrouter-router"
#: the version this bacrouter writes; it reads every older one (through MIGRATIONS) and refuses newer ones
FORMAT_VERSION = 1
#: version N → a function turning a version-N document into a version-N+1 one
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
#: (section type, option) of every secret: left out of an export unless asked for
SECRETS = (("panel", "password_hash"),)
#: where files of sections that pointed outside the data directory go in an exported configuration
EXTERNAL = "external"
_RESERVED = {"previous", transaction.JOURNAL, LIBRARY_FILE, "resource.conf"}


class ConfigFileError(Exception):
    """A router file that cannot be exported or imported, and why (nothing was changed)."""


# --------------------------------------------------------------------------- what the configuration uses


def _resolved(data_dir: Path, option: str) -> Path:
    path = Path(option)
    return path if path.is_absolute() else data_dir / path


def _script_path(data_dir: Path, script: str) -> Path | None:
    """A bus's own script, where the Free Client finds it, when it is the user's (not a shipped one)."""
    if Path(script).is_absolute():
        return Path(script)
    for candidate in (data_dir / script, data_dir / "freeclient" / script):
        if candidate.is_file():
            return candidate
    return None


def _referenced(package: uci.UciPackage, data_dir: Path) -> list[tuple[uci.UciSection | None, str, Path]]:
    """(section, option, file) for each file the configuration uses besides the UCI package and resource.conf."""
    found: list[tuple[uci.UciSection | None, str, Path]] = []
    for section in package.sections:
        if section.type == "modbus_slave":
            option = section.options.get("points")
            found.append((section, "points", _resolved(data_dir, option) if isinstance(option, str) and option
                          else data_dir / "modbus" / f"{section.name}.json"))
        elif section.type == "freeclient_bus":
            option = section.options.get("definition")
            found.append((section, "definition", _resolved(data_dir, option) if isinstance(option, str) and option
                          else data_dir / "freeclient" / f"{section.name}.json"))
            script = section.options.get("script")
            if isinstance(script, str) and script:
                path = _script_path(data_dir, script)
                if path is not None:
                    found.append((section, "script", path))
    conversions = data_dir / "conversions"
    if conversions.is_dir():
        found += [(None, "", path) for path in sorted(conversions.glob("*.lua")) if path.is_file()]
    return found


def _relative(path: Path, data_dir: Path) -> str | None:
    try:
        return path.resolve().relative_to(data_dir.resolve()).as_posix()
    except ValueError:
        return None


def _file_entry(raw: bytes, name: str) -> dict[str, Any]:
    if name.endswith(".json"):
        try:
            return {"json": parse_json(raw)}
        except FileProblem:
            pass  # carried as it is: the import's check reports it where it is
    try:
        return {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _entry_bytes(entry: Any, where: str) -> bytes:
    if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in ("json", "text", "base64"):
        raise ConfigFileError(f"{where}: expected one of {{\"json\": ...}}, {{\"text\": \"...\"}}, "
                              f"{{\"base64\": \"...\"}}")
    kind, value = next(iter(entry.items()))
    if kind == "json":
        return _json_bytes(value)
    if not isinstance(value, str):
        raise ConfigFileError(f"{where}.{kind}: expected a string")
    if kind == "text":
        return value.encode("utf-8", "surrogateescape")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise ConfigFileError(f"{where}.base64: not base64") from None


# --------------------------------------------------------------------------- export


def export_router(paths: Paths, with_secrets: bool = False, notes: list[str] | None = None) -> dict[str, Any]:
    """The router file of the configuration at ``paths``; what was left out or moved is said in ``notes``.

    A configuration with errors exports too (to be fixed at a desk); one whose
    UCI file or resource.conf cannot be parsed does not."""
    notes = notes if notes is not None else []
    transaction.recover(paths)
    try:
        package = uci.load(paths.uci_file)
    except FileNotFoundError:
        raise ConfigFileError(f"{paths.uci_file}: no configuration to export (bacrouter init creates one)") from None
    except uci.UciError as err:
        raise ConfigFileError(f"{err}: fix it before exporting") from None
    try:
        resources = parse_json(read_file(paths.resource_file))
    except FileNotFoundError:
        resources = {}
        notes.append(f"{paths.resource_file} does not exist: exported no resources")
    except FileProblem as err:
        raise ConfigFileError(f"{paths.resource_file}:{err.line}: {err.message}: fix it before exporting") from None

    sections = []
    moved: dict[tuple[str, str], str] = {}
    files: dict[str, dict[str, Any]] = {}
    for section, option, path in _referenced(package, paths.data_dir):
        name = _relative(path, paths.data_dir)
        if name is None and section is not None:  # outside the data directory: carried inside it
            name = f"{EXTERNAL}/{section.name}-{option}-{path.name}"
            moved[(section.name, option)] = name
            notes.append(f"{section.type} '{section.name}' option '{option}': {path} is outside {paths.data_dir}: "
                         f"exported as {name}")
        if name is None:
            continue
        try:
            raw = read_file(path)
        except FileNotFoundError:
            notes.append(f"{path} does not exist: not exported (the import's check will say so)")
            continue
        except FileProblem as err:
            notes.append(f"{path} {err.message}: not exported")
            continue
        files[name] = _file_entry(raw, name)
    for section in package.sections:
        options: dict[str, Any] = {}
        for option, value in section.options.items():
            if not with_secrets and (section.type, option) in SECRETS:
                continue
            options[option] = list(value) if isinstance(value, list) else moved.get((section.name, option), value)
        entry: dict[str, Any] = {"type": section.type}
        if not section.anonymous:
            entry["name"] = section.name
        entry["options"] = options
        sections.append(entry)
    document: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION,
                                "bacrouter_version": __version__, "secrets": with_secrets,
                                "uci": sections, "resources": resources, "files": files}
    library = paths.data_dir / LIBRARY_FILE
    try:
        document["library"] = parse_json(read_file(library))
    except FileNotFoundError:
        pass
    except FileProblem as err:
        notes.append(f"{library}: {err.message}: the library was not exported")
    return document


def dumps_document(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- reading a document


def read_document(raw: bytes, source: str = "router file") -> tuple[dict[str, Any], int | None]:
    """A router file's document, migrated to this version: (document, the version it was migrated from or None).

    UTF-8 with or without a byte-order mark; ConfigFileError names what is wrong (a syntax error's line and
    column, a newer format version)."""
    try:
        document = parse_json(raw)
    except FileProblem as err:
        where = f":{err.line}:{err.column}" if err.line else ""
        raise ConfigFileError(f"{source}{where}: {err.message}") from None
    return migrate(document, source)


def migrate(document: Any, source: str = "router file") -> tuple[dict[str, Any], int | None]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ConfigFileError(f"{source}: not a bacrouter router file (expected an object with "
                              f"\"format\": \"{FORMAT}\"; bacrouter export writes one)")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigFileError(f"{source}: 'format_version' {version!r} is not a version number")
    if version > FORMAT_VERSION:
        raise ConfigFileError(
            f"{source} was written by bacrouter {document.get('bacrouter_version', '?')} in router file format "
            f"version {version}; this bacrouter ({__version__}) reads versions up to {FORMAT_VERSION}: "
            f"update bacrouter on this machine, or export again from an older one")
    migrated_from = version if version < FORMAT_VERSION else None
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ConfigFileError(f"{source}: format version {version} cannot be migrated (no migration from it)")
        document = step(dict(document))
        version += 1
        document["format_version"] = version
    return document, migrated_from


def _package(document: dict[str, Any], path: Path) -> uci.UciPackage:
    sections = document.get("uci")
    if not isinstance(sections, list):
        raise ConfigFileError("key 'uci': expected a list of sections")
    package = uci.UciPackage(name=path.name, path=str(path))
    for index, entry in enumerate(sections):
        where = f"uci[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise ConfigFileError(f"{where}: expected an object with a 'type'")
        name = entry.get("name")
        if name is not None and (not isinstance(name, str) or not uci.validate_name(name)):
            raise ConfigFileError(f"{where}.name: {name!r} is not a section name (letters, digits, _)")
        if name is not None and package.section(name) is not None:
            raise ConfigFileError(f"{where}.name: a section '{name}' comes earlier")
        options = entry.get("options", {})
        if not isinstance(options, dict):
            raise ConfigFileError(f"{where}.options: expected an object")
        try:
            section = package.add(entry["type"], name)
        except ValueError as err:
            raise ConfigFileError(f"{where}: {err}") from None
        for option, value in options.items():
            if not uci.validate_name(option):
                raise ConfigFileError(f"{where}.options: {option!r} is not an option name (letters, digits, _)")
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                section.options[option] = list(value)
            elif isinstance(value, str):
                if value:  # libuci drops an empty option: so does the file
                    section.options[option] = value
            else:
                raise ConfigFileError(f"{where}.options.{option}: expected text or a list of texts, not "
                                      f"{json.dumps(value)[:40]}")
    return package


def _data_file(paths: Paths, name: Any) -> Path:
    if not isinstance(name, str) or not name:
        raise ConfigFileError(f"files: {name!r} is not a file name")
    relative = PurePosixPath(name)
    if (relative.is_absolute() or "\\" in name or any(part in ("", ".", "..") for part in name.split("/"))
            or relative.parts[0] in _RESERVED or transaction.STAGING in name):
        raise ConfigFileError(f"files: {name!r} is not a file of the data directory (a relative path, without "
                              f"'..', not {', '.join(sorted(_RESERVED))})")
    return paths.data_dir.joinpath(*relative.parts)


def _new_files(paths: Paths, document: dict[str, Any], package: uci.UciPackage) -> dict[Path, bytes]:
    """Every file of the configuration the document describes, at its place under ``paths``."""
    resources = document.get("resources", {})
    if not isinstance(resources, dict):
        raise ConfigFileError("key 'resources': expected an object (resource.conf)")
    files = document.get("files", {})
    if not isinstance(files, dict):
        raise ConfigFileError("key 'files': expected an object: {\"modbus/NAME.json\": {\"json\": ...}, ...}")
    new: dict[Path, bytes] = {paths.uci_file: uci.dump_bytes(package), paths.resource_file: _json_bytes(resources)}
    for name, entry in files.items():
        new[_data_file(paths, name)] = _entry_bytes(entry, f"files.{name}")
    if "library" in document:
        new[paths.data_dir / LIBRARY_FILE] = _json_bytes(document["library"])
    return new


def _current_files(paths: Paths) -> set[Path]:
    """The files the current configuration consists of (what an import replaces or removes)."""
    found = {paths.uci_file, paths.resource_file, paths.data_dir / LIBRARY_FILE}
    try:
        package = uci.load(paths.uci_file)
    except (FileNotFoundError, uci.UciError):
        return found
    for _, _, path in _referenced(package, paths.data_dir):
        if _relative(path, paths.data_dir) is not None:  # never remove files outside the data directory
            found.add(path)
    return found


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- plan


@dataclass
class Change:
    """One difference an import makes."""

    kind: str  # section, slave, bus, resource, file, library
    action: str  # added, changed, removed
    what: str  # e.g. "modbus_slave 'boiler'", "modbus/boiler.json"
    detail: list[str] = field(default_factory=list)  # options changed, points added, ...

    def __str__(self) -> str:
        text = f"{self.action} {self.what}"
        if self.detail:
            shown = self.detail[:8] + ([f"... and {len(self.detail) - 8} more"] if len(self.detail) > 8 else [])
            text += ": " + "; ".join(shown)
        return text


@dataclass
class ImportPlan:
    """What an import would do, checked: apply it with :func:`apply_import` when ``ok``."""

    files: dict[Path, bytes | None]  # the change: every file that differs (None: removed)
    base: dict[Path, str | None]  # sha256 of each of those files when the plan was made
    changes: list[Change]
    summary: dict[str, dict[str, int]]
    problems: list[Problem]
    notes: list[str]
    format_version: int
    written_by: str
    migrated_from: int | None = None

    @property
    def ok(self) -> bool:
        return not has_errors(self.problems)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "format_version": self.format_version, "written_by": self.written_by,
                "migrated_from": self.migrated_from, "summary": self.summary,
                "changes": [dataclasses.asdict(c) for c in self.changes],
                "files": {str(p): ("removed" if d is None else "written") for p, d in self.files.items()},
                "problems": [{"severity": p.severity, "file": p.file, "line": p.line, "section": p.section,
                              "message": str(p)} for p in self.problems],
                "notes": self.notes}


def plan_import(paths: Paths, document: dict[str, Any], migrated_from: int | None = None) -> ImportPlan:
    """Check ``document`` (a router file's, already through :func:`read_document` or :func:`migrate`) against the
    configuration at ``paths``: the problems of the configuration it makes, and the difference. Changes nothing."""
    document, migrated = migrate(document)
    migrated_from = migrated_from or migrated
    transaction.recover(paths)
    notes: list[str] = []
    package = _package(document, paths.uci_file)
    if not document.get("secrets"):
        _keep_secrets(paths, package, notes)
    new = _new_files(paths, document, package)
    problems, new_config = _check_in_scratch(paths, new)
    from .loader import load_config

    old_config, _ = load_config(paths) if paths.uci_file.exists() else (None, [])
    old_package = old_config.uci if old_config is not None else None
    changes = _diff(old_package, package, old_config, new_config)
    removed = _current_files(paths) - set(new)
    files: dict[Path, bytes | None] = {}
    base: dict[Path, str | None] = {}
    for path in sorted(set(new) | removed):
        current = read_if_present(path)
        wanted = new.get(path)
        if current == wanted:
            continue
        files[path] = wanted
        base[path] = _digest(current)
        action = "added" if current is None else "removed" if wanted is None else "changed"
        changes.append(Change("file", action, _shown(paths, path)))
    summary: dict[str, dict[str, int]] = {}
    for change in changes:
        counts = summary.setdefault(change.kind, {"added": 0, "changed": 0, "removed": 0})
        counts[change.action] += 1
    points = {"added": 0, "changed": 0, "removed": 0}
    for change in changes:
        for line in change.detail:
            for action in points:
                if line.startswith(f"points {action}: "):
                    points[action] += line.count(", ") + 1
    summary["points"] = points
    return ImportPlan(files=files, base=base, changes=changes, summary=summary, problems=problems, notes=notes,
                      format_version=FORMAT_VERSION, written_by=str(document.get("bacrouter_version", "?")),
                      migrated_from=migrated_from)


def _shown(paths: Paths, path: Path) -> str:
    name = _relative(path, paths.data_dir)
    return name if name is not None else str(path)


def _keep_secrets(paths: Paths, package: uci.UciPackage, notes: list[str]) -> None:
    try:
        current = uci.load(paths.uci_file)
    except (FileNotFoundError, uci.UciError):
        return
    for type_, option in SECRETS:
        old = next((s for s in current.of_type(type_) if option in s.options), None)
        new = next(iter(package.of_type(type_)), None)
        if old is not None and new is not None and option not in new.options:
            new.options[option] = old.options[option]
            notes.append(f"the file has no secrets: kept this router's {type_} {option}")


def _check_in_scratch(paths: Paths, new: dict[Path, bytes]) -> tuple[list[Problem], Any]:
    """Load the configuration the files make with the real loader, in a scratch copy; problems named as the real
    files will be."""
    from .loader import load_config

    with tempfile.TemporaryDirectory(prefix="bacrouter-import-") as directory:
        scratch = Paths(Path(directory))
        renames = {str(scratch.uci_file): str(paths.uci_file), str(scratch.data_dir): str(paths.data_dir)}

        def there(path: Path) -> Path:
            if path == paths.uci_file:
                return scratch.uci_file
            return scratch.data_dir / path.relative_to(paths.data_dir)

        for path, data in new.items():
            target = there(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        config, problems = load_config(scratch)
        if config is not None:
            problems += missing_hardware(config)

        def named(text: str) -> str:
            for old, real in renames.items():
                text = text.replace(old, real)
            return text

        problems = [dataclasses.replace(p, file=named(p.file), message=named(p.message)) for p in problems]
        if config is not None:
            _rename_files(config, named)
    return problems, config


def _rename_files(config: Any, named: Callable[[str], str]) -> None:
    for sections in config.components.values():
        for section in sections:
            for attribute in ("points_file", "definition_file"):
                if getattr(section, attribute, ""):
                    setattr(section, attribute, named(getattr(section, attribute)))


# --------------------------------------------------------------------------- the difference


def _diff(old: uci.UciPackage | None, new: uci.UciPackage, old_config: Any, new_config: Any) -> list[Change]:
    changes: list[Change] = []
    before = {(s.type, s.name): s for s in (old.sections if old is not None else [])}
    after = {(s.type, s.name): s for s in new.sections}
    kinds = {"modbus_slave": "slave", "freeclient_bus": "bus"}
    for key, section in after.items():
        label = f"{section.type} '{section.name}'"
        kind = kinds.get(section.type, "section")
        previous = before.get(key)
        if previous is None:
            changes.append(Change(kind, "added", label, _contents(section.type, section.name, None, new_config)))
            continue
        detail = _option_changes(section.type, previous.options, section.options)
        detail += _contents(section.type, section.name, old_config, new_config)
        if detail:
            changes.append(Change(kind, "changed", label, detail))
    for key, section in before.items():
        if key not in after:
            changes.append(Change(kinds.get(section.type, "section"), "removed", f"{section.type} '{section.name}'"))
    if old_config is not None or new_config is not None:
        changes += _resource_changes(old_config.resources if old_config is not None else {},
                                     new_config.resources if new_config is not None else {})
    return changes


def _option_changes(type_: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    detail = []
    for option in dict.fromkeys([*old, *new]):
        if old.get(option) == new.get(option):
            continue
        if (type_, option) in SECRETS:
            detail.append(f"option {option} {'set' if option not in old else 'removed' if option not in new else 'changed'}")
        elif option not in old:
            detail.append(f"option {option} = {_value(new[option])}")
        elif option not in new:
            detail.append(f"option {option} removed (was {_value(old[option])})")
        else:
            detail.append(f"option {option} {_value(old[option])} → {_value(new[option])}")
    return detail


def _value(value: Any) -> str:
    return " ".join(f"'{v}'" for v in value) if isinstance(value, list) else f"'{value}'"


def _section(config: Any, type_: str, name: str) -> Any:
    if config is None:
        return None
    return next((s for s in config.components.get(type_, []) if s.name == name), None)


def _keyed(items: list[Any], attribute: str = "name") -> dict[str, Any]:
    keyed: dict[str, Any] = {}
    for index, item in enumerate(items):
        key = getattr(item, attribute, "") or f"#{index + 1}"
        while key in keyed:
            key += "'"
        keyed[key] = item
    return keyed


def _compare(old: dict[str, Any], new: dict[str, Any], same: Callable[[Any, Any], bool], what: str) -> list[str]:
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    changed = [k for k in new if k in old and not same(old[k], new[k])]
    return [f"{what} {action}: {', '.join(names)}" for action, names in
            (("added", added), ("changed", changed), ("removed", removed)) if names]


def _same_ignoring_index(a: Any, b: Any) -> bool:
    return dataclasses.replace(a, index=0) == dataclasses.replace(b, index=0)


def _contents(type_: str, name: str, old_config: Any, new_config: Any) -> list[str]:
    """Points of a slave, devices and points of a bus, that differ."""
    old, new = _section(old_config, type_, name), _section(new_config, type_, name)
    if type_ == "modbus_slave":
        return _compare(_keyed(old.point_list if old is not None else []),
                        _keyed(new.point_list if new is not None else []), _same_ignoring_index, "points")
    if type_ == "freeclient_bus":
        old_devices = _keyed(old.bus.devices if old is not None and old.bus is not None else [])
        new_devices = _keyed(new.bus.devices if new is not None and new.bus is not None else [])
        detail = _compare(old_devices, new_devices, lambda a, b: dataclasses.replace(a, points=[], index=0) ==
                          dataclasses.replace(b, points=[], index=0), "devices")
        for device, plan in new_devices.items():
            previous = old_devices.get(device)
            lines = _compare(_keyed(previous.points if previous is not None else []), _keyed(plan.points),
                             _same_ignoring_index, "points")
            detail += [f"device '{device}' {line}" if previous is not None else line for line in lines]
        return detail
    return []


def _resource_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = [Change("resource", "added", f"resource '{n}'", [f"{r.type.value} {r.ifname}"])
               for n, r in new.items() if n not in old]
    changes += [Change("resource", "changed", f"resource '{n}'",
                       [f"{old[n].type.value} {old[n].ifname} → {r.type.value} {r.ifname}"])
                for n, r in new.items() if n in old and (old[n].type, old[n].ifname) != (r.type, r.ifname)]
    changes += [Change("resource", "removed", f"resource '{n}'") for n in old if n not in new]
    return changes


# --------------------------------------------------------------------------- apply, undo, reload


@dataclass
class ImportResult:
    files: list[str]  # every file written or removed
    reload: dict[str, Any]  # {"state": "reloaded" | "not running" | "refused" | "failed" | "not asked", ...}

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "reload": self.reload}


def apply_import(paths: Paths, plan: ImportPlan, reload: bool = True) -> ImportResult:
    """Write the plan's files as one change (the previous files kept for :func:`undo_import`), then reload the
    daemon if it runs. ConfigFileError, with nothing changed, when the plan has errors or the configuration
    changed since it was made."""
    if not plan.ok:
        raise ConfigFileError("the imported configuration has errors: nothing was changed")
    transaction.recover(paths)
    moved = [str(p) for p, digest in plan.base.items() if _digest(read_if_present(p)) != digest]
    if moved:
        raise ConfigFileError(f"the configuration changed since the import was checked ({', '.join(moved[:3])}): "
                              f"nothing was changed; check the import again")
    if not plan.files:
        return ImportResult([], {"state": "not asked", "reason": "nothing to change"})
    try:
        transaction.commit(paths, plan.files)
    except transaction.TransactionError as err:
        raise ConfigFileError(f"{err}: nothing was changed") from None
    return ImportResult([str(p) for p in plan.files], reload_daemon(paths) if reload else {"state": "not asked"})


def undo_import(paths: Paths, reload: bool = True) -> ImportResult:
    """Put back the configuration the last change replaced (itself undoable), then reload the daemon if it runs."""
    try:
        files = transaction.undo(paths)
    except transaction.TransactionError as err:
        raise ConfigFileError(str(err)) from None
    return ImportResult([str(p) for p in files], reload_daemon(paths) if reload else {"state": "not asked"})


def reload_daemon(paths: Paths, timeout: float = 60.0) -> dict[str, Any]:
    """Ask a running daemon to reload: {"state": "reloaded", "summary"}, "refused" with its problems,
    "not running", or "failed" with a message."""
    from .control_client import ControlError, call

    if not paths.control_socket.exists():
        return {"state": "not running"}
    try:
        answer = call(paths.control_socket, "reload", timeout=timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        return {"state": "not running"}
    except (OSError, ControlError) as err:
        return {"state": "failed", "message": str(getattr(err, "message", None) or err)}
    if isinstance(answer, dict) and answer.get("ok"):
        return {"state": "reloaded", "summary": answer.get("summary")}
    return {"state": "refused", "problems": answer.get("problems", []) if isinstance(answer, dict) else []}
