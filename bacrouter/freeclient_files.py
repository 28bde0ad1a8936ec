"""The Free Client bus file (the original's bus export format): export, and import with the collision rules.

Export writes the bus's definition with the section's options folded in and
the script inline (``{"file.lua": text}``), so the file alone rebuilds the
bus. Import keeps the file as ``freeclient/NAME.json`` beside a
``freeclient_bus`` section; every enabled device is checked under the current
mapping mode (:mod:`bacrouter.modbus.collisions`) and one that collides is
imported with ``"enable": false`` and the reason reported. A bus whose RS485
resource a port or a Modbus master uses is imported disabled. An RS485 bus
file imports as a TCP bus (``server``) and the other way round (``resource``):
the settings that do not apply are dropped and reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import has_errors, uci
from .config.model import Config
from .freeclient.collisions import find_all
from .freeclient.definition import INTERFACE_RS485, INTERFACE_TCP, definition_path
from .freeclient.schema import FreeClientBus
from .modbus.devicefile import ImportError_, section_name
from .modbus_files import ImportReport, _current, read_file_data
from .paths import Paths
from .preview import preview

__all__ = ["export_bus", "import_bus"]

SERIAL_KEYS = ("resource", "baudrate", "parity", "bit7", "frame_ms")


def export_bus(config: Config, name: str) -> dict[str, Any]:
    bus = config.section_of(FreeClientBus, name)
    if bus is None:
        known = ", ".join(b.name for b in config.sections_of(FreeClientBus)) or "none configured"
        raise ImportError_(f"no freeclient_bus '{name}' (known: {known})")
    try:
        with open(bus.definition_file, "rb") as handle:
            data = read_file_data(handle.read(), bus.definition_file)
    except OSError as err:
        raise ImportError_(f"{bus.definition_file}: {err.strerror or err}") from None
    out = dict(data) if isinstance(data, dict) else {}
    out["enable"] = bus.enabled
    out["name"] = bus.name
    definition = bus.bus
    if definition is not None:
        out["type"] = definition.interface
        if definition.interface == INTERFACE_TCP:
            out["server"] = definition.server
        else:
            out.update(resource=definition.resource, baudrate=definition.baudrate, parity=definition.parity,
                       bit7=definition.bit7)
            if definition.frame_ms:
                out["frame_ms"] = definition.frame_ms
        out["tag"] = definition.tag
        if definition.script_name:
            out["script"] = {definition.script_name: definition.script.decode("utf-8", "replace")}
    out["fcdevices"] = out.pop("fcdevices", [])
    return out


def import_bus(paths: Paths, raw: bytes, name: str | None = None, source: str = "-", resource: str = "",
               server: str = "", script: str = "") -> ImportReport:
    """Add a bus from a bus file; ``script`` names a script file instead of the file's inline one."""
    report = ImportReport()
    try:
        data = read_file_data(raw, source)
        if not isinstance(data, dict) or not isinstance(data.get("fcdevices", []), list):
            raise ImportError_("not a bus file: expected an object with a list of 'fcdevices'")
        wanted = section_name(name or str(data.get("name") or "") or Path(source).stem)
        package, config = _current(paths)
    except ImportError_ as err:
        report.errors.append(str(err))
        return report
    if package.section(wanted) is not None:
        report.errors.append(f"a section '{wanted}' exists already: choose another with --name")
        return report
    data = dict(data, name=wanted)

    def drop(key: str, reason: str) -> None:
        if key in data:
            report.defaulted.append({"type": "freeclient_bus", "name": wanted, "option": key, "value": None,
                                     "reason": reason})
            del data[key]

    if server:
        data.update(type=INTERFACE_TCP, server=server)
        for key in SERIAL_KEYS:
            drop(key, "a TCP bus has no serial settings")
    elif resource:
        data.update(type=INTERFACE_RS485, resource=resource)
        drop("server", "an RS485 bus has no server")
    enabled = data.get("enable", True) not in (False, 0, "0", "false")
    section = package.add("freeclient_bus", wanted)
    if script:
        section.options["script"] = script
    if data.get("type") == INTERFACE_RS485 or (data.get("resource") and not data.get("server")):
        reason = _line_taken(config, str(data.get("resource") or ""))
        if enabled and reason:
            section.options["enabled"] = "0"
            report.disabled.append({"type": "freeclient_bus", "name": wanted, "rule": "resource", "reason": reason})
    if not enabled:
        section.options["enabled"] = "0"
    target = definition_path(FreeClientBus(name=wanted), paths.data_dir)
    if target.exists():
        report.errors.append(f"{target} exists already: choose another name")
        return report

    def stage() -> None:
        report.changes = {paths.uci_file: uci.dumps(package).encode(),
                          target: (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()}

    stage()
    new_config, problems = preview(paths, report.changes)
    if new_config is not None:
        devices = {str(d.get("name", "")).strip(): d for d in data.get("fcdevices", []) if isinstance(d, dict)}
        hits = [c for c in find_all(new_config)
                if c.kind == "freeclient_device" and c.name.split("/", 1)[0] == wanted]
        for collision in hits:
            device = devices.get(collision.name.split("/", 1)[1])
            if device is not None:
                device["enable"] = False
            report.disabled.append({"type": "freeclient_device", "name": collision.name, "rule": collision.rule,
                                    "reason": collision.message})
        if hits:
            stage()
            new_config, problems = preview(paths, report.changes)
    label = f"freeclient_bus '{wanted}'"
    mine = [p for p in problems if p.section == label or p.file == str(target)]
    if new_config is None or has_errors(mine):
        report.errors += [str(p) for p in mine if p.severity == "error"] or [str(p) for p in problems]
        report.changes = {}
        return report
    report.warnings += [str(p) for p in mine if p.severity == "warning"]
    report.added.append({"type": "freeclient_bus", "name": wanted, "enabled": section.options.get("enabled") != "0",
                         "points": sum(len(d.get("fcpoints") or []) for d in data.get("fcdevices", [])
                                       if isinstance(d, dict))})
    return report


def _line_taken(config: Config, resource: str) -> str:
    if not resource:
        return ""
    wanted = config.resources.get(resource)
    if config.resources_loaded and wanted is None:
        return f"resource '{resource}' is not in resource.conf"
    for user in config.claimed_resources():
        if isinstance(user, FreeClientBus):
            continue  # buses take turns on a line
        other = config.resources.get(user.claimed_resource)
        if user.claimed_resource == resource or (other and other.ifname == wanted.ifname):
            return f"resource '{resource}' is already used by {user.label}"
    return ""
