"""``bacrouter freeclient points|import|export|new-bus``: the Free Client's configuration files."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_commands"]


def cmd_points(args: argparse.Namespace) -> int:
    from . import pointscsv
    from .modbus_cli import points_command

    return points_command(
        args, lambda paths: pointscsv.freeclient_points_csv(paths, args.bus, args.device),
        lambda paths, data, merge: pointscsv.import_freeclient_points(paths, args.bus, args.device, data, merge),
        f"freeclient_bus '{args.bus}' device '{args.device}'")


def add_commands(freeclient: Any, common: argparse.ArgumentParser) -> None:
    from .modbus_cli import add_points_arguments

    points = freeclient.add_parser("points", parents=[common],
                                   help="a device's points as CSV for a spreadsheet, or imported from one")
    points.add_argument("bus", help="the freeclient_bus section")
    points.add_argument("device", help="the device's name in the bus definition")
    add_points_arguments(points)
    points.set_defaults(func=cmd_points)
