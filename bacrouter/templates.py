"""Starting points: a new Modbus slave, a new Free Client bus, complete, valid and explained.

JSON has no comments, so the explanations are where the formats keep text:
each point's ``description`` says what the point shows and what to change;
the UCI section gets ``#`` comments. Both are checked like any import (the
collision rules included) before they are written as one change.
"""

from __future__ import annotations

import json
from typing import Any

from . import modbus_files as masterfile
from .config import has_errors, transaction, uci
from .freeclient.definition import SHIPPED_SCRIPTS
from .modbus.devicefile import dumps, section_name
from .paths import Paths
from .preview import preview

__all__ = ["modbus_slave_template", "freeclient_bus_template", "new_slave", "new_bus"]


def modbus_slave_template(name: str) -> dict[str, Any]:
    """A device file with every slave key at its default and one point of each common kind."""
    return {
        "name": name,
        "description": "a new slave: set the station and the points, then 'bacrouter check'",
        "enable": True,
        "station": 1,
        "timeout_ms": 1000, "update_ms": 1000, "offline_ms": 10000,
        "baudrate": 9600, "parity": "none",
        "group_bit": 2000, "unused_bit": 0, "group_reg": 125, "unused_reg": 0,
        "single_write_coil": False, "single_write_reg": False,
        "coil_fr_discrete": False, "holding_fr_input": False,
        "byte_reverse": False, "integer_byte_reverse": False, "float_byte_reverse": False,
        "integer_little_endian": False, "float_little_endian": False,
        "points": [
            {"name": "temperature", "description": "a measurement: input register 0, signed, tenths of a degree "
                                                   "(scale 0.1); instance 1 of the slave's block",
             "instance": 1, "enable": True, "object_type": "ai", "address_type": "input", "address": 0,
             "data_type": "s16", "scale": 0.1, "offset": 0, "unit": "degrees-celsius", "cov_increment": 0.5},
            {"name": "setpoint", "description": "a setting BACnet may write: holding register 10, a float in two "
                                                "registers",
             "instance": 2, "enable": True, "object_type": "av", "address_type": "holding", "address": 10,
             "data_type": "float", "unit": "degrees-celsius"},
            {"name": "pump", "description": "a command: coil 0, read back to verify the write",
             "instance": 1, "enable": True, "object_type": "bo", "address_type": "coil", "address": 0,
             "state_texts": ["Off", "On"]},
            {"name": "mode", "description": "a multistate setting: holding register 11, values 0, 1, 3",
             "instance": 1, "enable": True, "object_type": "mv", "address_type": "holding", "address": 11,
             "state_texts": ["Auto", "Hand", "Off"], "state_values": [0, 1, 3]},
        ],
    }


def freeclient_bus_template(name: str, resource: str = "", server: str = "") -> dict[str, Any]:
    """A bus in the original's export format, for the shipped Modbus RTU script."""
    return {
        "enable": True, "name": name,
        "tag": "update_interval=1000, timeout=500",
        "type": 2 if server else 1,
        **({"server": server} if server else {"resource": resource, "baudrate": 9600, "parity": "none",
                                              "bit7": False}),
        "fcdevices": [{
            "enable": True, "name": "device1", "instance": 100,
            "description": "one device on the bus: its tag gives the script its station (unit=1)",
            "tag": "unit=1",
            "fcpoints": [
                {"name": "temperature", "description": "input register 0 (fc=4), tenths of a degree",
                 "instance": 1, "enable": True, "object_type": "ai", "value_type": 1,
                 "tag": "fc=4, reg=0, scale=0.1, signed=true", "unit": "degrees-celsius", "cov_increment": 0.5},
                {"name": "setpoint", "description": "holding register 1 (fc=3): BACnet writes go to the device",
                 "instance": 2, "enable": True, "object_type": "av", "value_type": 0, "tag": "fc=3, reg=1"},
                {"name": "running", "description": "discrete input 0 (fc=2)", "instance": 1, "enable": True,
                 "object_type": "bi", "value_type": 1, "tag": "fc=2, reg=0", "state_texts": ["Stopped", "Running"]},
            ]}],
    }


def new_slave(paths: Paths, name: str, master: str) -> masterfile.ImportReport:
    """Add slave ``name`` on ``master`` from the template (collisions checked as for an import)."""
    data = modbus_slave_template(name)
    return masterfile.import_slave(paths, dumps(data).encode(), master, name, source=f"{name}.json")


def new_bus(paths: Paths, name: str, resource: str = "", server: str = "",
            script: str = "modbus_rtu.lua") -> masterfile.ImportReport:
    """Add a Free Client bus ``name`` with a definition to start from; the shipped script by default."""
    report = masterfile.ImportReport()
    name = section_name(name)
    if bool(resource) == bool(server):
        report.errors.append("say where the bus is: --resource (RS485) or --server host:port (TCP)")
        return report
    package = uci.load(paths.uci_file)
    if package.section(name) is not None:
        report.errors.append(f"a section '{name}' exists already: choose another name")
        return report
    target = paths.data_dir / "freeclient" / f"{name}.json"
    if target.exists():
        report.errors.append(f"{target} exists already: choose another name")
        return report
    section = package.add("freeclient_bus", name)
    section.options["script"] = script
    if not (SHIPPED_SCRIPTS / script).is_file() and not (paths.data_dir / "freeclient" / script).is_file():
        report.warnings.append(f"script '{script}' is not there yet: put it in {paths.data_dir / 'freeclient'}")
    data = freeclient_bus_template(name, resource, server)
    text = uci.dumps(package)
    comment = (f"\n# a Free Client bus: its devices and points are in freeclient/{name}.json (the original's bus "
               f"export format); edit them there, or as CSV: bacrouter freeclient points {name} device1 --csv\n")
    text = text.replace(f"\nconfig freeclient_bus '{name}'", comment + f"config freeclient_bus '{name}'", 1)
    report.changes = {paths.uci_file: text.encode(), target: (json.dumps(data, indent=2) + "\n").encode()}
    config, problems = preview(paths, report.changes)
    mine = [p for p in problems if p.section == f"freeclient_bus '{name}'" or p.file == str(target)]
    if config is None or has_errors(mine):
        report.errors += [str(p) for p in mine if p.severity == "error"] or [str(p) for p in problems]
        report.changes = {}
        return report
    report.warnings += [str(p) for p in mine if p.severity == "warning"]
    report.added.append({"type": "freeclient_bus", "name": name, "enabled": True})
    return report


def apply(paths: Paths, report: masterfile.ImportReport) -> None:
    transaction.commit(paths, report.changes)
