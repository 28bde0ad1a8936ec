"""``bacrouter mbus ...``: the M-Bus tools, after libmbus's.

``parse`` decodes a hex dump (``mbus-parse-hex``); on a serial line, ``scan``
(``mbus-serial-scan``), ``scan-secondary`` (``mbus-serial-scan-secondary``,
with hex digits), ``read`` (``mbus-serial-request-data-multi-reply``),
``set-address`` and ``switch-baudrate``. The line is a tty path or a USB
resource of resource.conf; timeouts, retries, parity and echo handling are
options, scans show their progress.

Output formats are options only where they mean something: ``--xml`` (libmbus's
XML) and ``--json`` on parse, scan, scan-secondary and read; ``--json`` on
set-address and switch-baudrate (an object saying what was done). With
``--json`` a failure is a JSON object too: ``{"error": ..., "exit": 1}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..cliutil import CliError, print_json
from .frame import MBusError, bytes_from_hex, parse_frame
from .jsonout import records_json
from .records import ErrorReport, parse_payload
from .tables import application_error_text
from .xml import frame_xml, frame_xml_normalized, scan_xml, xml_bytes

__all__ = ["add_commands", "cmd_parse", "cmd_scan", "cmd_scan_secondary", "cmd_read", "cmd_set_address",
           "cmd_switch_baudrate"]


def _write(data: bytes) -> None:
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:  # a text-only stdout (some test harnesses)
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        sys.stdout.flush()
        stream.write(data)
        stream.flush()


def cmd_parse(args: argparse.Namespace) -> int:
    """Decode a hex dump of one reply frame and print libmbus's XML (or JSON).

    Exit 1 with the reason on standard error when the frame or its data cannot be decoded, and also
    when the slave sent an application error report (its XML is still printed, as libmbus does).
    """
    path = Path(args.file) if args.file != "-" else Path("<stdin>")
    try:
        raw = bytes_from_hex(sys.stdin.buffer.read() if args.file == "-" else path.read_bytes())
    except OSError as err:
        raise CliError(f"{path}: {err.strerror or err}") from None
    if not raw:
        raise CliError(f"{path}: no hex bytes found")
    try:
        frame = parse_frame(raw)
        payload = parse_payload(frame)
        if args.json:
            output = (json.dumps(records_json(frame), indent=2, ensure_ascii=False) + "\n").encode()
        elif args.normalized:
            output = xml_bytes(frame_xml_normalized(frame))
        else:
            output = xml_bytes(frame_xml(frame))
    except MBusError as err:
        raise CliError(f"{path}: {err}") from None
    _write(output)
    if isinstance(payload, ErrorReport):
        # the frame's view is on standard output already (for --json it says the error too): the reason on stderr
        print(f"{path}: the slave reports an application error: {application_error_text(payload.code)} "
              f"(code 0x{payload.code:02X})", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- on a serial line


def _master(args: argparse.Namespace) -> Any:
    from ..paths import Paths
    from .master import MBusMaster

    device = args.device
    if not Path(device).exists():  # a resource name?
        from ..config.resources import ResourceError, load_resources

        try:
            resources = load_resources(Paths.from_arg(args.config_dir).resource_file)
        except (OSError, ResourceError):
            resources = {}
        resource = resources.get(device)
        if resource is None:
            raise CliError(f"{device}: neither a serial device nor a resource of resource.conf")
        device = resource.ifname
    try:
        return MBusMaster(device, args.baud, timeout=args.timeout / 1000 if args.timeout else None,
                          retries=args.retries, parity=args.parity)
    except OSError as err:
        raise CliError(f"cannot open {device}: {err}") from None


def _progress(args: argparse.Namespace, text: str) -> None:
    if args.progress or (args.progress is None and sys.stderr.isatty()):
        sys.stderr.write(f"\r{text}\033[K")
        sys.stderr.flush()


def _done_progress(args: argparse.Namespace) -> None:
    if args.progress or (args.progress is None and sys.stderr.isatty()):
        sys.stderr.write("\r\033[K")


def cmd_scan(args: argparse.Namespace) -> int:
    """Primary scan: SND_NKE to every address; an ACK is a meter, garbage a collision."""
    from .scan import primary_scan

    def found(meter: dict[str, Any]) -> None:
        if not (args.json or args.xml):
            _done_progress(args)
            print(f"Collision at address {meter['address']}" if meter["collision"]
                  else f"Found a M-Bus device at address {meter['address']}", flush=True)

    master = _master(args)
    try:
        meters = primary_scan(master, args.first, args.last, args.retries, found=found, step=lambda address: _progress(
            args, f"scanning primary address {address} of {args.first}..{args.last}"))
    finally:
        _done_progress(args)
        master.close()
    if args.json:
        print(json.dumps({"found": meters, "frames_sent": master.sent}, indent=2))
    elif args.xml:
        _write(xml_bytes(scan_xml([(f"{d['address']}", d["collision"]) for d in meters], "PrimaryAddress")))
    return 0


def cmd_scan_secondary(args: argparse.Namespace) -> int:
    """Secondary scan: select masks, refined digit by digit where meters collide."""
    from .scan import secondary_scan

    def found(address: str, mask: str) -> None:
        if not (args.json or args.xml):
            _done_progress(args)
            print(f"Found a device on secondary address {address} [using address mask {mask}]", flush=True)

    master = _master(args)
    started = time.monotonic()
    try:
        search = secondary_scan(master, args.mask, args.decimal, found=found,
                                step=lambda search, mask: _progress(
                                    args, f"select {search.selects}: {mask}, {len(search.found)} found"),
                                problem=lambda text: print(text, file=sys.stderr))
    except ValueError as err:  # a mask that is not 16 digits
        raise CliError(str(err)) from None
    finally:
        _done_progress(args)
        master.close()
    if args.json:
        print(json.dumps({"found": search.found, "selects": search.selects, "collisions": search.collisions,
                          "seconds": round(time.monotonic() - started, 3)}, indent=2))
    elif args.xml:
        _write(xml_bytes(scan_xml([(address, False) for address in search.found], "SecondaryAddress")))
    return 0


def _address(text: str) -> int | str:
    from .master import parse_address

    try:
        return parse_address(text)
    except ValueError as err:
        raise CliError(str(err)) from None


def cmd_read(args: argparse.Namespace) -> int:
    """Every telegram of one meter (multi-telegram reads follow 'more records follow')."""
    from .master import Collision, NoAnswer
    from .xml import frames_xml

    address = _address(args.address)
    master = _master(args)
    try:
        frames = master.read(address, reset=not args.no_reset)
    except (NoAnswer, Collision, MBusError, OSError) as err:
        raise CliError(f"{args.address}: {err}") from None
    finally:
        master.close()
    if args.json:
        print_json({"address": args.address, "frames": [records_json(f) for f in frames]})
    elif args.hex:
        for frame in frames:
            print(frame.encode().hex(" ").upper())
    else:
        _write(xml_bytes(frames_xml(frames) if len(frames) > 1 else frame_xml(frames[0])))
    return 0


def _command_meter(args: argparse.Namespace, action: Any, done: str) -> int:
    """Run ``action(master, address)`` on one meter; say ``done``, or why it failed (exit 1)."""
    from .master import Collision, NoAnswer

    address = _address(args.address)
    master = _master(args)
    try:
        action(master, address)
    except (NoAnswer, Collision, MBusError, OSError) as err:
        raise CliError(f"{args.address}: {err}") from None
    finally:
        master.close()
    if args.json:
        print_json({"address": args.address, "ok": True, "done": done})
    else:
        print(done)
    return 0


def cmd_set_address(args: argparse.Namespace) -> int:
    return _command_meter(args, lambda master, address: master.set_address(address, args.new_address),
                          f"Set primary address of device to {args.new_address}")


def cmd_switch_baudrate(args: argparse.Namespace) -> int:
    return _command_meter(args, lambda master, address: master.switch_baudrate(address, args.new_baud),
                          f"Switched the device to {args.new_baud} baud (talk to it at that rate from now on)")


def _formats(parser: argparse.ArgumentParser, xml: str, json_: str, *more: tuple[tuple[str, ...], str]) -> None:
    """The output formats a subcommand has, one at a time (argparse refuses the others)."""
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--xml", action="store_true", help=xml)
    form.add_argument("--json", action="store_true", help=json_)
    for flags, text in more:
        form.add_argument(*flags, action="store_true", help=text)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("mbus", parents=[common], help="M-Bus tools")
    mbus = group.add_subparsers(dest="mbus_command", required=True, metavar="COMMAND", help="which tool")
    parse = mbus.add_parser("parse", parents=[common],
                            help="decode a hex dump of a reply frame to libmbus XML (like mbus-parse-hex)")
    parse.add_argument("file", metavar="FILE.hex",
                       help="whitespace-separated hex bytes of one frame (- reads standard input)")
    _formats(parse, "libmbus's XML (the default)", "header and records as JSON (an object)",
             (("-n", "--normalized"), "normalized units and values (like mbus-parse-hex -n)"))
    parse.set_defaults(func=cmd_parse)

    line = argparse.ArgumentParser(add_help=False, parents=[common])
    line.add_argument("device", help="serial device (/dev/ttyUSB0) or a USB resource of resource.conf (RS485-1)")
    line.add_argument("-b", "--baud", type=int, default=2400, help="baud rate [2400]")
    line.add_argument("--parity", choices=("even", "none", "odd"), default="even",
                      help="parity [even: M-Bus is 8E1; some converters want none]")
    line.add_argument("--timeout", type=int, metavar="MS",
                      help="answer timeout in ms [330 bit times + 50 ms, as EN 13757-2]")
    line.add_argument("--retries", type=int, default=1, help="repeat an unanswered request this often [1]")
    line.add_argument("--progress", action="store_true", default=None,
                      help="show scan progress on standard error (default: when it is a terminal)")

    scan = mbus.add_parser("scan", parents=[line], help="find meters by primary address (like mbus-serial-scan)")
    scan.add_argument("--first", type=int, default=0, help="first primary address to try [0]")
    scan.add_argument("--last", type=int, default=250, help="last primary address to try [250]")
    _formats(scan, "the meters found as XML", 'the meters found as JSON: {"found": [...], "frames_sent"}')
    scan.set_defaults(func=cmd_scan)
    secondary = mbus.add_parser("scan-secondary", parents=[line],
                                help="find meters by secondary address, hex digits included")
    secondary.add_argument("--mask", default="FFFFFFFFFFFFFFFF", help="start from this mask (F: any digit)")
    secondary.add_argument("--decimal", action="store_true",
                           help="try only the digits 0-9 of the identification, as libmbus does")
    _formats(secondary, "the meters found as XML", 'the meters found as JSON: {"found": [...], "selects", ...}')
    secondary.set_defaults(func=cmd_scan_secondary)
    read = mbus.add_parser("read", parents=[line],
                           help="read every telegram of a meter (like mbus-serial-request-data-multi-reply)")
    read.add_argument("address", help="primary address (0..250) or secondary address (16 hex digits)")
    read.add_argument("--no-reset", action="store_true", help="no SND_NKE before reading by primary address")
    _formats(read, "libmbus's XML (the default)", 'JSON: {"address", "frames": [{"header", "records"}, ...]}',
             (("--hex",), "the frames as hex, one a line (for mbus parse)"))
    read.set_defaults(func=cmd_read)
    set_address = mbus.add_parser("set-address", parents=[line], help="give a meter a new primary address")
    set_address.add_argument("address", help="the meter: primary address (0..250) or secondary address")
    set_address.add_argument("new_address", type=int, help="its new primary address (1..250)")
    set_address.add_argument("--json", action="store_true", help='machine-readable output: {"address", "ok", "done"}')
    set_address.set_defaults(func=cmd_set_address)
    switch = mbus.add_parser("switch-baudrate", parents=[line], help="switch a meter to another baud rate")
    switch.add_argument("address", help="the meter: primary address (0..250) or secondary address")
    switch.add_argument("new_baud", type=int, choices=(300, 600, 1200, 2400, 4800, 9600, 19200, 38400),
                        help="the meter's new baud rate")
    switch.add_argument("--json", action="store_true", help='machine-readable output: {"address", "ok", "done"}')
    switch.set_defaults(func=cmd_switch_baudrate)
