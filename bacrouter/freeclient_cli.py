"""``bacrouter freeclient points|import|export|new-bus``: the Free Client's configuration files."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_commands"]


def cmd_points(args: argparse.Namespace) -> int:
    from . import pointscsv
    from .modbus_cli import points_command

    return points_command(
        args, lambda paths: pointscsv.freeclient_points_csv(paths, args.bus, args.device),
        lambda paths, data, merge: pointscsv.import_freeclient_points(paths, args.bus, args.device, data, merge),
        f"freeclient_bus '{args.bus}' device '{args.device}'")


def cmd_new_bus(args: argparse.Namespace) -> int:
    import json

    from . import templates
    from .modbus_cli import _report, _write_out
    from .paths import Paths

    if args.output:
        return _write_out(args, json.dumps(templates.freeclient_bus_template(args.name, args.resource or "",
                                                                             args.server or ""), indent=2) + "\n")
    paths = Paths.from_arg(args.config_dir)
    report = templates.new_bus(paths, args.name, args.resource or "", args.server or "", args.script)
    code = _report(args, report, paths)
    if code == 0 and not args.dry_run and not args.json:
        print(f"edit its devices and points in {paths.data_dir / 'freeclient' / (report.added[0]['name'] + '.json')}")
    return code


def cmd_import(args: argparse.Namespace) -> int:
    from .freeclient_files import import_bus
    from .modbus_cli import _read_source, _report
    from .paths import Paths

    paths = Paths.from_arg(args.config_dir)
    try:
        raw = _read_source(args.file)
    except OSError as err:
        print(f"{args.file}: {err.strerror or err}", file=sys.stderr)
        return 1
    report = import_bus(paths, raw, args.name, args.file, args.resource or "", args.server or "",
                        args.script or "")
    return _report(args, report, paths)


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from .cliutil import CliError
    from .freeclient_files import export_bus
    from .modbus.devicefile import ImportError_
    from .modbus_cli import _load, _write_out
    from .paths import Paths

    try:
        data = export_bus(_load(Paths.from_arg(args.config_dir)), args.bus)
    except ImportError_ as err:
        raise CliError(str(err)) from None
    return _write_out(args, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def add_commands(freeclient: Any, common: argparse.ArgumentParser) -> None:
    from .modbus_cli import add_points_arguments

    points = freeclient.add_parser("points", parents=[common],
                                   help="a device's points as CSV for a spreadsheet, or imported from one")
    points.add_argument("bus", help="the freeclient_bus section")
    points.add_argument("device", help="the device's name in the bus definition")
    add_points_arguments(points)
    points.set_defaults(func=cmd_points)
    imp = freeclient.add_parser("import", parents=[common],
                                help="add a bus from a bus file (the original's export format); colliding devices "
                                     "are added disabled, with the reason")
    imp.add_argument("file", help="the bus JSON file (- reads standard input)")
    imp.add_argument("--name", help="section name (default: the bus's name)")
    line = imp.add_mutually_exclusive_group()
    line.add_argument("--resource", help="run it on this RS485 resource (a TCP bus file becomes an RS485 bus)")
    line.add_argument("--server", help="run it against host:port (an RS485 bus file becomes a TCP bus)")
    imp.add_argument("--script", help="a script file (data directory, then the shipped ones) instead of the "
                                      "file's inline script, e.g. modbus_rtu.lua")
    imp.add_argument("--dry-run", action="store_true", help="report, write nothing")
    imp.add_argument("--json", action="store_true", help="machine-readable report (as modbus import --json)")
    imp.set_defaults(func=cmd_import)
    exp = freeclient.add_parser("export", parents=[common], help="write a bus as a bus file, its script inline")
    exp.add_argument("bus", help="the freeclient_bus section")
    exp.add_argument("-o", "--output", metavar="FILE", help="file to write (default: standard output)")
    exp.set_defaults(func=cmd_export)
    new = freeclient.add_parser("new-bus", parents=[common],
                                help="add a bus to start from: a complete, valid, explained bus definition for the "
                                     "shipped Modbus RTU script")
    new.add_argument("name", help="the bus's section name")
    where = new.add_mutually_exclusive_group()
    where.add_argument("--resource", help="the RS485 resource of an RS485 bus")
    where.add_argument("--server", help="host:port of a TCP bus")
    new.add_argument("--script", default="modbus_rtu.lua", help="the bus's Lua script (default: %(default)s)")
    new.add_argument("-o", "--output", metavar="FILE", help="only write the definition file (- standard output)")
    new.add_argument("--dry-run", action="store_true", help="report, write nothing")
    new.add_argument("--json", action="store_true", help="machine-readable report (as modbus import --json)")
    new.set_defaults(func=cmd_new_bus)
