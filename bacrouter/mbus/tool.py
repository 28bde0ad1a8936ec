"""``bacrouter mbus ...``: offline M-Bus tools (``parse`` = libmbus's ``mbus-parse-hex``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .frame import MBusError, bytes_from_hex, parse_frame
from .jsonout import records_json
from .records import ErrorReport, parse_payload
from .tables import application_error_text
from .xml import frame_xml, frame_xml_normalized, xml_bytes

__all__ = ["add_commands", "cmd_parse"]


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
    path = Path(args.file)
    try:
        raw = bytes_from_hex(path.read_bytes())
    except OSError as err:
        print(f"{path}: {err.strerror or err}", file=sys.stderr)
        return 1
    if not raw:
        print(f"{path}: no hex bytes found", file=sys.stderr)
        return 1
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
        print(f"{path}: {err}", file=sys.stderr)
        return 1
    _write(output)
    if isinstance(payload, ErrorReport):
        print(f"{path}: the slave reports an application error: {application_error_text(payload.code)} "
              f"(code 0x{payload.code:02X})", file=sys.stderr)
        return 1
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    mbus = sub.add_parser("mbus", help="M-Bus tools").add_subparsers(dest="mbus_command", required=True)
    parse = mbus.add_parser("parse", parents=[common],
                            help="decode a hex dump of a reply frame to libmbus XML (like mbus-parse-hex)")
    parse.add_argument("file", metavar="FILE.hex", help="whitespace-separated hex bytes of one frame")
    form = parse.add_mutually_exclusive_group()
    form.add_argument("-n", "--normalized", action="store_true",
                      help="normalized units and values (like mbus-parse-hex -n)")
    form.add_argument("--json", action="store_true", help="header and records as JSON")
    parse.set_defaults(func=cmd_parse)
