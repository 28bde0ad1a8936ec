"""The ``bacrouter`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .cliutil import (
    EXIT_CLOSED_OUTPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    control,
    fail,
    print_json,
)
from .cliutil import (
    table as _table,
)
from .config import has_errors
from .feature import describe
from .humanize import duration
from .loader import load_config
from .net import bvll
from .paths import Paths

__all__ = ["main"]


def _paths(args: argparse.Namespace) -> Paths:
    return Paths.from_arg(args.config_dir)


def cmd_run(args: argparse.Namespace) -> int:
    from .daemon import run

    return run(_paths(args))


def cmd_panel(args: argparse.Namespace) -> int:
    from .logs import setup_logging
    from .panel.app import LUCI_CSS, Options, serve

    setup_logging()
    options = Options(_paths(args), cert=Path(args.cert), key=Path(args.key), idle_timeout=args.idle_timeout,
                      luci_css=Path(args.luci_css) if args.luci_css else LUCI_CSS)
    return serve(options, args.listen, args.port)


def cmd_check(args: argparse.Namespace) -> int:
    paths = _paths(args)
    config, problems = load_config(paths)
    if config is not None:  # made offline, for another machine: what is not here is a warning (docs/configuration-files.md)
        from .config.hardware import missing_hardware

        problems += missing_hardware(config)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    failed = has_errors(problems) or (args.strict and bool(problems))
    if args.json:
        print_json({"ok": not failed, "errors": errors, "warnings": warnings,
                    "problems": [{"severity": p.severity, "file": p.file, "line": p.line, "section": p.section,
                                  "message": str(p)} for p in problems]})
        return 1 if failed else 0
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{paths.uci_file}: OK ({len(config.enabled_ports) if config else 0} port(s) enabled)")
    else:
        print(f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if failed else 0


def cmd_init(args: argparse.Namespace) -> int:
    from .config.defaults import init

    for line in init(_paths(args)) or ["nothing to do: configuration exists"]:
        print(line)
    return 0


_call = control


def cmd_status(args: argparse.Namespace) -> int:
    status = _call(args, "status")
    ports = _call(args, "ports")
    routes = _call(args, "routes", {"limit": STATUS_ROUTES})
    if args.json:
        summary = {k: v for k, v in routes.items() if k != "routes"}
        print_json({"status": status, "ports": ports, "routes": routes["routes"], "routes_summary": summary})
        return 0
    print(format_status(status, ports, routes))
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    result = _call(args, "reload")
    if args.json:
        print_json(result)
    elif not result["ok"]:
        print("configuration has errors; the router keeps running the previous one:", file=sys.stderr)
        for problem in result["problems"]:
            print(f"  {problem}", file=sys.stderr)
    else:
        print("reloaded; " + describe(result["summary"]))
    return 0 if result["ok"] else 1


def cmd_call(args: argparse.Namespace) -> int:
    try:
        params = json.loads(args.params) if args.params else {}
    except json.JSONDecodeError as err:
        raise CliError(f"PARAMS is not JSON ({err}): give an object, like '{{\"port\": \"ms1\"}}'",
                       EXIT_USAGE) from None
    if not isinstance(params, dict):
        raise CliError(f"PARAMS must be a JSON object, not {type(params).__name__}: like '{{\"port\": \"ms1\"}}'",
                       EXIT_USAGE)
    print(json.dumps(_call(args, args.method, params), indent=2))
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    params = {"port": args.port, "action": args.action}
    if args.output:
        params["path"] = str(Path(args.output).resolve())
    result = _call(args, "capture", params)
    if args.json:
        print_json(result)
        return 0
    verb = "capturing" if args.action == "start" else "captured"
    print(f"{verb} {result['frames']} frame(s) of {args.port} to {result['path']}" +
          ("" if args.action == "start" else "; open it with wireshark or tshark -r"))
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    if args.json:
        print_json({"version": __version__})
        return 0
    print(f"bacrouter {__version__}")
    return 0


def cmd_help_config(args: argparse.Namespace) -> int:
    from .config.reference import render, render_section
    from .registry import all_section_types as section_types

    types = section_types()
    if args.section is None:
        sys.stdout.write(render(types))
        return 0
    cls = types.get(args.section)
    if cls is None:
        raise CliError(f"bacrouter help config: unknown section type '{args.section}'; the known ones are: "
                       f"{', '.join(types)}", EXIT_USAGE)
    sys.stdout.write(render_section(cls, args.section))
    return 0


#: routes `bacrouter status` lists (the rest: bacrouter call routes '{"offset": N, "limit": M}')
STATUS_ROUTES = 50


def format_status(status: dict[str, Any], ports: list[dict[str, Any]], routes: dict[str, Any]) -> str:
    device = status["device"]
    out = [f"bacrouter {status['version']}: device {device['instance']} '{device['name']}', up {duration(status['uptime_s'])}"]
    out.append("Ports:")
    rows = []
    for port in ports:
        detail = port.get("reason") or port.get("mode") or ""
        link = port.get("link") or {}
        if port["kind"] == "mstp" and link:
            detail = _mstp_detail(port, link)
        if link.get("registration"):
            reg = link["registration"]
            detail += f", {reg['state']} with BBMD {reg['bbmd']}"
        if "fdt" in link:
            detail += f", {len(link['fdt'])} foreign device(s)"
        rows.append([port["name"], port["kind"], port["network"], port["state"], port.get("address") or "-", detail])
    out.append(_table(["NAME", "KIND", "NETWORK", "STATE", "ADDRESS", "DETAIL"], rows))
    out.append(f"Routes: {routes['total']} ({routes['direct']} direct, {routes['learned']} learned of at most "
               f"{routes['max_learned']})")
    out.append(_table(["NETWORK", "PORT", "NEXT HOP", "STATUS"],
                      [[r["network"], r["port"], _hop(r["next_hop"]), r["status"]] for r in routes["routes"]]))
    more = routes["total"] - routes["offset"] - len(routes["routes"])
    if more > 0:
        out.append(f"  ... and {more} more: bacrouter call routes '{{\"offset\": {len(routes['routes'])}, \"limit\": 500}}'")
    modbus = status.get("modbus")
    if modbus:
        out.append(f"Modbus: {modbus['slaves']} slave(s) on {modbus['masters']} master(s), {modbus['online']} online, "
                   f"{modbus['points']} point(s) (details: bacrouter modbus status)")
    freeclient = status.get("freeclient")
    if freeclient:
        out.append(f"Free Client: {freeclient['buses']} bus(es), {freeclient['devices']} device(s), "
                   f"{freeclient['online']} online (details: bacrouter freeclient status)")
    counters = status.get("counters") or {}
    if counters:
        out.append("Counters: " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))
    if status.get("conflicts"):
        out.append("Network number conflicts: " + ", ".join(f"network {k} is called {v} by a neighbour"
                                                           for k, v in status["conflicts"].items()))
    return "\n".join(out)


def _mstp_detail(port: dict[str, Any], link: dict[str, Any]) -> str:
    baud = link["baud"]
    parts = [f"next {link['next_station']}" if not link["sole_master"] else "sole master"]
    if link.get("token_rotation_ms") is not None:
        parts.append(f"rotation {link['token_rotation_ms']} ms")
    parts.append(f"{len(link['sniffer']['active_devices'])} device(s)")
    if link["sniffer"].get("max_master_polled") is not None:
        parts.append(f"max master seen {link['sniffer']['max_master_polled']}")
    parts.append(f"{baud['current']} baud {baud['mode']}" + (" detecting" if baud["state"] == "detecting" else ""))
    dropped = link["node"].get("dropped_message_delay", 0)
    if dropped:
        parts.append(f"{dropped} dropped after 6 s")
    if link.get("capture"):
        parts.append(f"capturing to {link['capture']['path']}")
    return ", ".join(parts)


def _hop(hexmac: str | None) -> str:
    return bvll.text(bytes.fromhex(hexmac)) if hexmac else "direct"


def _json_flag(parser: argparse.ArgumentParser, what: str = "an object") -> None:
    parser.add_argument("--json", action="store_true", help=f"machine-readable output: {what}")


def _command_word(argv: list[str] | None) -> str | None:
    """The subcommand named on the command line (the first word that is no option nor its value)."""
    words = list(sys.argv[1:] if argv is None else argv)
    while words:
        word = words.pop(0)
        if word == "--config-dir":
            words = words[1:]
        elif not word.startswith("-"):
            return word
    return None


def build_parser(argv: list[str] | None = None, everything: bool = True) -> argparse.ArgumentParser:
    """The command line; with ``everything`` False, the other modules' command groups are added only when
    the command line names none of the commands here (the panel and the daemon run for years: what a
    module imports stays in their memory)."""
    parser = argparse.ArgumentParser(
        prog="bacrouter", description="BACnet router and gateway",
        epilog="exit codes: 0 done, 1 failed, 2 bad command line, 3 the router is not running, "
               "130 interrupted, 141 output closed (see docs/commands.md)")
    parser.add_argument("--version", action="version", version=f"bacrouter {__version__}",
                        help="print the version and exit")
    config_dir_help = "use DIR instead of /etc (DIR/config/bacrouter, DIR/bacrouter/resource.conf, DIR/run)"
    parser.add_argument("--config-dir", metavar="DIR", help=config_dir_help)
    # after the subcommand too; SUPPRESS: given only before it, it is not reset there
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config-dir", metavar="DIR", default=argparse.SUPPRESS, help=config_dir_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do")

    sub.add_parser("run", parents=[common], help="run the router in the foreground").set_defaults(func=cmd_run)
    panel = sub.add_parser("panel", parents=[common], help="serve the web panel in the foreground (docs/panel.md)")
    panel.add_argument("--listen", metavar="ADDRESS", help="address to listen on (default: UCI panel.listen)")
    panel.add_argument("--port", type=int, metavar="PORT", help="TCP port (default: UCI panel.port; 0: any free one)")
    panel.add_argument("--cert", default="/etc/uhttpd.crt", metavar="FILE",
                       help="TLS certificate; with --key, the panel serves HTTPS when both exist (default: uhttpd's)")
    panel.add_argument("--key", default="/etc/uhttpd.key", metavar="FILE", help="TLS key (default: uhttpd's)")
    panel.add_argument("--idle-timeout", type=float, default=900.0, metavar="SECONDS",
                       help="log a session out after this long without a request (default: 900)")
    panel.add_argument("--luci-css", metavar="FILE",
                       help="LuCI's bootstrap stylesheet to use when it exists (default: "
                            "/www/luci-static/bootstrap/cascade.css)")
    panel.set_defaults(func=cmd_panel)
    check = sub.add_parser("check", parents=[common], help="validate the configuration")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    _json_flag(check, '{"ok", "errors", "warnings", "problems": [...]}')
    check.set_defaults(func=cmd_check)
    sub.add_parser("init", parents=[common], help="create missing default configuration").set_defaults(func=cmd_init)
    status = sub.add_parser("status", parents=[common], help="show the running router's state")
    _json_flag(status, '{"status", "ports", "routes"}')
    status.set_defaults(func=cmd_status)
    reload = sub.add_parser("reload", parents=[common], help="apply configuration changes to the running router")
    _json_flag(reload, '{"ok", "summary" or "problems"}')
    reload.set_defaults(func=cmd_reload)
    caller = sub.add_parser("call", parents=[common], help="call a control method, print its JSON answer")
    caller.add_argument("method", help="the method's name (bacrouter call methods lists them)")
    caller.add_argument("params", nargs="?", help="parameters as a JSON object")
    caller.set_defaults(func=cmd_call)
    capture = sub.add_parser("capture", parents=[common], help="capture an MS/TP port to a pcap file")
    capture.add_argument("port", help="the MS/TP port (its section name)")
    capture.add_argument("action", choices=["start", "stop"], help="start or stop capturing")
    capture.add_argument("-o", "--output", metavar="FILE",
                         help="where to write (default: a file in the run directory)")
    capture.add_argument("--file", dest="output", help=argparse.SUPPRESS)  # the old spelling, still understood
    _json_flag(capture, '{"path", "frames"}')
    capture.set_defaults(func=cmd_capture)
    version = sub.add_parser("version", parents=[common], help="print the version")
    _json_flag(version, '{"version"}')
    version.set_defaults(func=cmd_version)
    helper = sub.add_parser("help", help="print reference documentation")
    helper.set_defaults(func=lambda args: parser.print_help() or 0)
    topics = helper.add_subparsers(dest="topic", metavar="TOPIC", help="what to print")
    config = topics.add_parser("config", help="the configuration reference (docs/configuration.md)")
    config.add_argument("section", nargs="?", help="one section type (bip, mstp, modbus_slave, ...)")
    config.set_defaults(func=cmd_help_config)
    if not everything and _command_word(argv) in sub.choices:
        return parser
    from .bacnet_cli import add_commands as add_bacnet_commands
    from .configfile_cli import add_commands as add_configfile_commands
    from .mbus.tool import add_commands as add_mbus_commands
    from .modbus_cli import add_commands as add_modbus_commands

    add_configfile_commands(sub, common)
    add_bacnet_commands(sub, common)
    add_modbus_commands(sub, common)
    add_mbus_commands(sub, common)
    return parser


def _closed_output() -> int:
    """The reader of standard output went away (``| head``): stop quietly.

    Standard output now goes to /dev/null, so the interpreter's last flush
    does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass
    return EXIT_CLOSED_OUTPUT


def _os_message(err: OSError) -> str:
    where = err.filename if err.filename is not None else ""
    reason = err.strerror or str(err)
    return f"{where}: {reason}" if where else reason


def main(argv: list[str] | None = None) -> int:
    """The ``bacrouter`` command; returns its exit code (docs/commands.md lists them)."""
    args: argparse.Namespace | None = None
    try:
        args = build_parser(argv, everything=False).parse_args(argv)
        code = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is still ours to handle
        return code
    except CliError as err:
        return fail(args, err.message, err.code, **err.details)
    except BrokenPipeError:
        return _closed_output()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OSError as err:  # a file named on the command line: missing, a directory, not allowed, ...
        return fail(args, _os_message(err), EXIT_FAILED)
