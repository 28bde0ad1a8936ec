"""``bacrouter modbus ...``: read plans, the Read Group test, device-file import and export."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cliutil import EXIT_NOT_RUNNING, CliError, control, print_json
from .config import has_errors, uci
from .config.files import FileProblem, parse_json
from .config.model import Config
from .loader import load_config
from .modbus.configcheck import points_path
from .modbus.devconfig import load_json, parse_points
from .modbus.devicefile import ImportError_, dumps, export_device, section_name, slave_options
from .modbus.plan import ReadRequest
from .modbus.schema import ModbusMaster, ModbusSlave
from .paths import Paths

__all__ = ["add_commands"]

FUNCTION_NAMES = {1: "coils", 2: "discrete inputs", 3: "holding registers", 4: "input registers"}


def parse_json_text(raw: bytes) -> object:
    """A device file's JSON (a byte-order mark allowed); ValueError with the line and column of a syntax error."""
    try:
        return parse_json(raw)
    except FileProblem as err:
        raise ValueError(str(err)) from None


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


@dataclass(frozen=True)
class _StagedPaths(Paths):
    """The configuration as it would be: the live tree, but the UCI file read from ``staged``."""

    staged: Path = Path()

    @property
    def uci_file(self) -> Path:
        return self.staged


def _referenced(package: uci.UciPackage, target: Path, data_dir: Path) -> bool:
    """Does a modbus_slave section of ``package`` use ``target`` as its points file?"""
    for section in package.sections:
        if section.type == "modbus_slave":
            points = section.options.get("points")
            slave = ModbusSlave(master="", name=section.name, points=points if isinstance(points, str) else "")
            if points_path(slave, data_dir) == target:
                return True
    return False


def cmd_import(args: argparse.Namespace) -> int:
    """Add a slave from an original device file: validated first, then committed as one change.

    The whole new configuration (UCI with the new section, the points file) is
    validated in a scratch directory before anything under the configuration
    changes. Then the points file is put in place (nothing refers to it yet),
    then the UCI file that refers to it replaces the old one: each one rename.
    A kill at any point leaves the old configuration or the new one; at worst a
    points file nothing uses, which the next import of the same file takes over.
    """
    paths = Paths.from_arg(args.config_dir)
    source = Path(args.file)
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else source.read_bytes()
        data = parse_json_text(raw)
        name = section_name(args.name or (data.get("name") if isinstance(data, dict) else "") or source.stem)
        options = slave_options(data, args.master)
    except (OSError, ValueError) as err:  # json and ImportError_ are ValueErrors
        print(f"{source}: {getattr(err, 'strerror', None) or err}", file=sys.stderr)
        return 1
    try:
        package = uci.load(paths.uci_file)
    except (OSError, uci.UciError) as err:
        print(f"{paths.uci_file}: {err}", file=sys.stderr)
        return 1
    if package.section(name) is not None:
        print(f"a section '{name}' exists already: choose another with --name", file=sys.stderr)
        return 1
    target = points_path(ModbusSlave(master=args.master, name=name), paths.data_dir)
    if target.exists() and (_referenced(package, target, paths.data_dir) or target.read_bytes() != raw):
        print(f"{target} exists already: choose another name with --name", file=sys.stderr)
        return 1
    # else: absent, or this very file left unused by an import that was interrupted: ours to take over
    section = package.add("modbus_slave", name)
    section.options.update(options)
    committed = uci.dumps(package)

    with tempfile.TemporaryDirectory(prefix="bacrouter-import-") as scratch:
        staged_points, staged_uci = Path(scratch) / target.name, Path(scratch) / paths.uci_file.name
        staged_points.write_bytes(raw)
        section.options["points"] = str(staged_points)
        staged_uci.write_text(uci.dumps(package))
        config, problems = load_config(_StagedPaths(paths.root, staged=staged_uci))

        def located(problem: Any) -> str:  # the scratch names, as the files will be called
            return str(problem).replace(str(staged_points), str(target)).replace(str(staged_uci), str(paths.uci_file))

        mine = [p for p in problems if name in p.section or p.file == str(staged_points)]
        for problem in mine:
            print(located(problem))
        if config is None or has_errors(mine):
            print("not imported: fix the file or the options and try again", file=sys.stderr)
            return 1
    points = len(next(s for s in config.sections_of(ModbusSlave) if s.name == name).point_list)

    uci.write_atomic(target, raw)  # the file itself, unchanged: it exports back the same
    uci.write_atomic(paths.uci_file, committed)  # the commit: from here the section and its points exist
    print(f"imported modbus_slave '{name}' on master '{args.master}' with {points} point(s); points in {target}")
    print("apply it with: bacrouter reload")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    paths = Paths.from_arg(args.config_dir)
    config = _load(paths)
    slave = _slave(config, args.slave)
    try:
        template = load_json(slave.points_file)
    except (OSError, ValueError) as err:
        raise CliError(f"{slave.points_file}: {getattr(err, 'strerror', None) or err}") from None
    if not isinstance(template, dict):
        template = {"points": template}
    text = dumps(export_device(slave, template))
    if args.output and args.output != "-":
        uci.write_atomic(args.output, text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


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
    imp = modbus.add_parser("import", parents=[common], help="add a slave from an original device-config file")
    imp.add_argument("file", help="the device-config JSON file (- reads standard input)")
    imp.add_argument("--master", required=True, help="the modbus_master section the slave is on")
    imp.add_argument("--name", help="section name (default: the device's name)")
    imp.set_defaults(func=cmd_import)
    exp = modbus.add_parser("export", parents=[common], help="write a slave as an original device-config file")
    exp.add_argument("slave", help="the modbus_slave section to export")
    exp.add_argument("-o", "--output", metavar="FILE", help="file to write (default: standard output)")
    exp.set_defaults(func=cmd_export)
    status = modbus.add_parser("status", parents=[common], help="masters and slaves of the running gateway")
    status.add_argument("--json", action="store_true", help='machine-readable output: {"masters": [...]}')
    status.set_defaults(func=cmd_status)
