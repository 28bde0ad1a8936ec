"""``bacrouter modbus ...``: read plans, the Read Group test, device-file import and export."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from . import modbus_files as masterfile
from .cliutil import EXIT_NOT_RUNNING, CliError, control, print_json
from .config import uci
from .config.model import Config
from .loader import load_config
from .modbus.devconfig import load_json, parse_points
from .modbus.devicefile import ImportError_, dumps, slave_options
from .modbus.plan import ReadRequest
from .modbus.schema import ModbusMaster, ModbusSlave
from .paths import Paths

__all__ = ["add_commands"]

FUNCTION_NAMES = {1: "coils", 2: "discrete inputs", 3: "holding registers", 4: "input registers"}


def _load(paths: Paths) -> Config:
    config, problems = load_config(paths)
    if config is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        raise CliError(f"cannot read the configuration in {paths.uci_file}")
    return config


def _slave(config: Config, name: str) -> ModbusSlave:
    slave = next((s for s in config.sections_of(ModbusSlave) if s.name == name), None)
    if slave is None:
        known = ", ".join(s.name for s in config.sections_of(ModbusSlave)) or "none configured"
        raise CliError(f"no modbus_slave '{name}' (known: {known})")
    return slave


# --------------------------------------------------------------------------- plan


def _plan_of(args: argparse.Namespace) -> tuple[str, list[ReadRequest]]:
    from .modbus.gateway import slave_planner

    path = Path(args.slave)
    if path.suffix == ".json" or (path.exists() and path.is_file()):
        try:
            data = load_json(str(path))
        except (OSError, ValueError) as err:
            raise CliError(f"{path}: {getattr(err, 'strerror', None) or err}") from None
        points, problems = parse_points(data, str(path))
        for problem in problems:
            print(problem, file=sys.stderr)
        slave = ModbusSlave(master="", name=path.stem)
        if isinstance(data, dict):  # an original device file carries the slave's limits
            try:
                for key, text in slave_options(data, "").items():
                    if key in ("group_bit", "unused_bit", "group_reg", "unused_reg"):
                        setattr(slave, key, int(text))
                    elif key in ("coil_fr_discrete", "holding_fr_input"):
                        setattr(slave, key, text == "1")
            except ImportError_ as err:
                print(f"{path}: {err}", file=sys.stderr)
        slave.point_list = points
        return str(path), slave_planner(slave).plan()
    slave = _slave(_load(Paths.from_arg(args.config_dir)), args.slave)
    return f"modbus_slave '{slave.name}'", slave_planner(slave).plan()


def cmd_plan(args: argparse.Namespace) -> int:
    source, plan = _plan_of(args)
    if args.json:
        print_json({"source": source, "requests": [r.as_dict() for r in plan]})
        return 0
    print(f"{source}: {len(plan)} request(s) per poll")
    for request in plan:
        names = ", ".join(sorted({getattr(i.key, "name", str(i.key)) for i in request.items}))
        print(f"  function {request.function} ({FUNCTION_NAMES[request.function]}) from {request.address}, "
              f"{request.count}: {names}")
    return 0


# --------------------------------------------------------------------------- test (Read Group)


async def _read_group_here(config: Config, slave: ModbusSlave) -> dict[str, Any]:
    from .modbus.gateway import make_transport, run_read_group, slave_planner, slave_target

    master = config.section_of(ModbusMaster, slave.master)
    if master is None:
        raise CliError(f"modbus_slave '{slave.name}': no master '{slave.master}'")
    resource = config.resources.get(master.resource) if master.serial else None
    transport = make_transport(master, resource.ifname if resource else None)
    try:
        results = await run_read_group(transport, slave_target(slave, master), slave_planner(slave))
    finally:
        transport.close()
    return {"slave": slave.name, "station": slave.station, "requests": results}


def _not_loaded(paths: Paths, name: str) -> CliError | None:
    """The running daemon does not know slave ``name``: is it in the configuration, waiting for a reload?"""
    config, _ = load_config(paths)
    if config is not None and any(s.name == name for s in config.sections_of(ModbusSlave)):
        reload = "bacrouter reload" + (f" --config-dir {paths.root}" if paths.root else "")
        return CliError(f"modbus_slave '{name}' is in the configuration but the running router has not loaded it "
                        f"yet: apply it with {reload}, then test again")
    return None


def cmd_test(args: argparse.Namespace) -> int:
    paths = Paths.from_arg(args.config_dir)
    try:
        result = control(args, "read_group", {"slave": args.slave}, timeout=120)
    except CliError as err:
        if err.code == EXIT_NOT_RUNNING:  # not running: the line is ours
            config = _load(paths)
            try:
                result = asyncio.run(_read_group_here(config, _slave(config, args.slave)))
            except (OSError, ValueError) as failure:
                raise CliError(f"cannot reach the slave: {failure}") from None
        elif err.details.get("error_code") in ("bad_params", "not_running"):
            raise _not_loaded(paths, args.slave) or err from None
        else:
            raise
    if args.json:
        print_json(result)
    else:
        print(f"modbus_slave '{result['slave']}' (station {result['station']}):")
        for entry in result["requests"]:
            outcome = entry["result"]
            detail = " ".join(str(v) for v in entry.get("values", [])) if outcome == "ok" else entry.get("error", "")
            print(f"  function {entry['function']} from {entry['address']}, {entry['count']}: {outcome} "
                  f"in {entry['ms']} ms  {detail}".rstrip())
    return 0 if all(e["result"] != "failed" for e in result["requests"]) else 1


# --------------------------------------------------------------------------- import / export


def _read_source(name: str) -> bytes:
    return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()


def _report(args: argparse.Namespace, report: Any, paths: Paths) -> int:
    """Print an import's report, then write it (unless --dry-run): exit 0 imported, 1 refused."""
    if report.ok and not args.dry_run:
        masterfile.apply(paths, report)
    if getattr(args, "json", False):
        print_json(dict(report.as_dict(), written=report.ok and not args.dry_run))
        return 0 if report.ok else 1
    for line in report.lines():
        print(line)
    if not report.ok:
        for error in report.errors:
            print(error)
        print("not imported: fix the file or the options and try again", file=sys.stderr)
        return 1
    if args.dry_run:
        print("dry run: nothing written")
    else:
        if report.disabled:
            print("some of it is imported disabled: see why above, fix it, then enable it")
        print("apply it with: bacrouter reload")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Add a slave (an original device file) or a master with its slaves (a master file): every enabled slave is
    checked for collisions and imported disabled if it collides; the result is validated, then written as one
    change (:mod:`bacrouter.config.transaction`)."""
    paths = Paths.from_arg(args.config_dir)
    source = args.file
    try:
        raw = _read_source(source)
    except OSError as err:
        print(f"{source}: {err.strerror or err}", file=sys.stderr)
        return 1
    try:
        data = masterfile.read_file_data(raw, source)
    except ImportError_ as err:
        print(err, file=sys.stderr)
        return 1
    if isinstance(data, dict) and data.get("format") == masterfile.MASTER_FORMAT:
        overrides = {k: v for k, v in (("resource", args.resource), ("host", args.host)) if v}
        report = masterfile.import_master(paths, raw, args.name, source, overrides)
    else:
        if not args.master:
            print(f"{source} is a slave's device file: say which master it goes on with --master", file=sys.stderr)
            return 1
        report = masterfile.import_slave(paths, raw, args.master, args.name, source)
    return _report(args, report, paths)


def _write_out(args: argparse.Namespace, text: str) -> int:
    if args.output and args.output != "-":
        uci.write_atomic(args.output, text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    config = _load(Paths.from_arg(args.config_dir))
    try:
        if args.master_file:
            data = masterfile.export_master(config, args.slave)
        else:
            data = masterfile.export_slave(config, args.slave)
    except ImportError_ as err:
        raise CliError(str(err)) from None
    return _write_out(args, dumps(data))


def cmd_new_slave(args: argparse.Namespace) -> int:
    """A slave to start from: a commented device file, added to the configuration (or only written, -o)."""
    from . import templates

    if args.output:
        return _write_out(args, dumps(templates.modbus_slave_template(args.name)))
    if not args.master:
        raise CliError("say which master the slave is on: --master M (or write only the file with -o FILE)")
    paths = Paths.from_arg(args.config_dir)
    report = templates.new_slave(paths, args.name, args.master)
    code = _report(args, report, paths)
    if code == 0 and not args.dry_run and not args.json:
        print(f"edit its points in {paths.data_dir / 'modbus' / (report.added[0]['name'] + '.json')} "
              f"(or as CSV: bacrouter modbus points {report.added[0]['name']} --csv)")
    return code


# --------------------------------------------------------------------------- points as CSV


def points_command(args: argparse.Namespace, export: Any, do_import: Any, what: str) -> int:
    """``... points --csv`` / ``--import FILE.csv``, shared by the Modbus and Free Client commands."""
    from . import pointscsv

    paths = Paths.from_arg(args.config_dir)
    try:
        if args.import_file:
            report = do_import(paths, _read_source(args.import_file), args.merge)
        else:
            data = export(paths)
            if args.output and args.output != "-":
                uci.write_atomic(args.output, data)
                print(f"wrote {args.output}")
            else:
                sys.stdout.flush()
                sys.stdout.buffer.write(data)
            return 0
    except ValueError as err:
        raise CliError(str(err)) from None
    if report.ok and not args.dry_run:
        pointscsv.apply(paths, report)
    if args.json:
        print_json(dict(report.as_dict(), written=report.ok and not args.dry_run))
        return 0 if report.ok else 1
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not report.ok:
        for problem in report.problems:
            print(f"{args.import_file}: {problem}")
        print(f"not imported: {len(report.problems)} problem(s); nothing changed", file=sys.stderr)
        return 1
    print(f"{what}: {len(report.added)} point(s) added, {len(report.changed)} changed, {len(report.removed)} "
          f"removed, {report.unchanged} unchanged" + (" (dry run: nothing written)" if args.dry_run else ""))
    return 0


def cmd_points(args: argparse.Namespace) -> int:
    from . import pointscsv

    return points_command(args, lambda paths: pointscsv.modbus_points_csv(paths, args.slave),
                          lambda paths, data, merge: pointscsv.import_modbus_points(paths, args.slave, data, merge),
                          f"modbus_slave '{args.slave}'")


def add_points_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", action="store_true",
                        help="write the points as CSV: a header row with the keys, one row per point (the default)")
    parser.add_argument("-o", "--output", metavar="FILE", help="file to write (default: standard output)")
    parser.add_argument("--import", dest="import_file", metavar="FILE.csv",
                        help="replace the points with the rows of a CSV file (',' or ';', with or without a BOM)")
    parser.add_argument("--merge", action="store_true",
                        help="with --import: replace only the points with a row's object type and instance, add the "
                             "others, keep the rest")
    parser.add_argument("--dry-run", action="store_true", help="with --import: report, write nothing")
    parser.add_argument("--json", action="store_true",
                        help='with --import: {"ok", "added", "changed", "removed", "unchanged", "warnings", '
                             '"problems": [{"row", "column", "message"}], "written"}')


# --------------------------------------------------------------------------- status


def cmd_status(args: argparse.Namespace) -> int:
    masters = control(args, "modbus")
    if args.json:
        print_json({"masters": masters})
        return 0
    for master in masters:
        print(f"master {master['name']} ({master['protocol']} on {master['line']}), "
              f"{master['pending_writes']} write(s) queued")
        for s in master["slaves"]:
            state = "online" if s["online"] else "OFFLINE"
            print(f"  {s['name']:16} station {s['station']:3}  {state:7}  {s['points']} point(s), "
                  f"{s['requests_per_cycle']} request(s) per poll, fail rate {s['fail_rate']}%, "
                  f"late {s['update_delay_s']} s" + (f"  last error: {s['last_error']}" if s["last_error"] else ""))
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("modbus", parents=[common], help="Modbus gateway tools")
    modbus = group.add_subparsers(dest="modbus_command", required=True, metavar="COMMAND", help="which tool")
    plan = modbus.add_parser("plan", parents=[common], help="show the read plan of a slave or a device-config file")
    plan.add_argument("slave", help="a modbus_slave section, or a device-config JSON file")
    plan.add_argument("--json", action="store_true",
                      help='machine-readable output: {"source", "requests": [{"function", "address", "count"}, ...]}')
    plan.set_defaults(func=cmd_plan)
    test = modbus.add_parser("test", parents=[common],
                             help="run a slave's read plan once against the device (Read Group test)")
    test.add_argument("slave", help="the modbus_slave section to test")
    test.add_argument("--json", action="store_true",
                      help='machine-readable output: {"slave", "station", "requests": [...]}')
    test.set_defaults(func=cmd_test)
    imp = modbus.add_parser("import", parents=[common],
                            help="add a slave (an original device-config file) or a master with its slaves (a master "
                                 "file); colliding slaves are added disabled, with the reason")
    imp.add_argument("file", help="the device-config or master JSON file (- reads standard input)")
    imp.add_argument("--master", help="the modbus_master section a slave file's slave goes on")
    imp.add_argument("--name", help="section name (default: the device's or master's name)")
    imp.add_argument("--resource", help="a master file: the RS485 resource to use here")
    imp.add_argument("--host", help="a master file: the TCP server to use here")
    imp.add_argument("--dry-run", action="store_true", help="report what the import would do; write nothing")
    imp.add_argument("--json", action="store_true",
                     help='machine-readable report: {"ok", "added", "disabled", "defaulted", "renamed", "warnings", '
                          '"errors", "files", "written"}')
    imp.set_defaults(func=cmd_import)
    exp = modbus.add_parser("export", parents=[common],
                            help="write a slave as an original device-config file (--master-file: a master with its "
                                 "slaves)")
    exp.add_argument("slave", help="the modbus_slave section to export (the modbus_master with --master-file)")
    exp.add_argument("--master-file", action="store_true", help="export the master SLAVE names with all its slaves")
    exp.add_argument("-o", "--output", metavar="FILE", help="file to write (default: standard output)")
    exp.set_defaults(func=cmd_export)
    new = modbus.add_parser("new-slave", parents=[common],
                            help="add a slave to start from: a complete, valid, explained device file")
    new.add_argument("name", help="the slave's section name")
    new.add_argument("--master", help="the modbus_master section it is on")
    new.add_argument("-o", "--output", metavar="FILE", help="only write the device file (- standard output)")
    new.add_argument("--dry-run", action="store_true", help="report, write nothing")
    new.add_argument("--json", action="store_true", help="machine-readable report (as import --json)")
    new.set_defaults(func=cmd_new_slave)
    points = modbus.add_parser("points", parents=[common],
                               help="a slave's points as CSV for a spreadsheet, or imported from one")
    points.add_argument("slave", help="the modbus_slave section")
    add_points_arguments(points)
    points.set_defaults(func=cmd_points)
    status = modbus.add_parser("status", parents=[common], help="masters and slaves of the running gateway")
    status.add_argument("--json", action="store_true", help='machine-readable output: {"masters": [...]}')
    status.set_defaults(func=cmd_status)
