"""BACnet from the router's shell: ``discover``, ``read``, ``write``, ``objects``; ``freeclient status|test``.

Each is a control method of the running router (one table serves every
transport); these commands only ask it and print the answer.
"""

from __future__ import annotations

import argparse
from typing import Any

from .cliutil import control, print_json
from .cliutil import table as _table

__all__ = ["add_commands"]

#: a BACnet request through the router: Who-Is waits, a read may be retried by bacpypes3
CLIENT_TIMEOUT = 60.0


def cmd_discover(args: argparse.Namespace) -> int:
    params = {"network": args.network, "low": args.low, "high": args.high, "wait": args.wait}
    result = control(args, "discover", {k: v for k, v in params.items() if v is not None}, timeout=CLIENT_TIMEOUT)
    if args.json:
        print_json(result)
        return 0
    devices = result["devices"]
    where = f"network {args.network}" if args.network is not None else "every network"
    print(f"{len(devices)} device(s) on {where}:")
    print(_table(["INSTANCE", "NETWORK", "MAC", "VENDOR", "NAME"],
                 [[d["instance"], "-" if d["network"] is None else d["network"], d["mac"] or d["address"],
                   d["vendor"], d["name"] if d["name"] is not None else "?"] for d in devices]))
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    result = control(args, "read", {"device": args.device, "object": args.object, "property": args.property},
                     timeout=CLIENT_TIMEOUT)
    if args.json:
        print_json(result)
    else:
        value = result["value"]
        print(value if not isinstance(value, list | dict) else __import__("json").dumps(value))
    return 0


def cmd_write(args: argparse.Namespace) -> int:
    params = {"device": args.device, "object": args.object, "property": args.property, "value": args.value}
    if args.priority is not None:
        params["priority"] = args.priority
    result = control(args, "write", params, timeout=CLIENT_TIMEOUT)
    if args.json:
        print_json(result)
    else:
        at = f" at priority {args.priority}" if args.priority is not None else ""
        print(f"wrote {args.value} to {args.object} {args.property} of {result['address']}{at}")
    return 0


def cmd_objects(args: argparse.Namespace) -> int:
    result = control(args, "objects")
    if args.json:
        print_json(result)
        return 0
    if not any(result["gateways"].values()):
        print("no gateway objects (no Modbus slaves or Free Client buses running)")
    for name, rows in result["gateways"].items():
        if not rows:
            continue
        origin = "SLAVE" if name == "modbus" else "BUS"
        print(f"{name}: {len(rows)} object(s)")
        print(_table(["OBJECT", "NAME", "VALUE", "DEVICE", origin, "POINT", "FROM"],
                     [[r["object"], r["name"], r["value"], "-" if r["device"] is None else r["device"],
                       r.get("slave", r.get("bus")), r["point"] or "-", r["source"]] for r in rows]))
    return 0


def cmd_freeclient_status(args: argparse.Namespace) -> int:
    buses = control(args, "freeclient")
    if args.json:
        print_json({"buses": buses})
        return 0
    if not buses:
        print("no Free Client bus is running")
    for bus in buses:
        reason = f": {bus['reason']}" if bus.get("reason") else ""
        print(f"bus {bus['name']} ({bus['interface']}, script {bus['script']}): {bus['state']}{reason}, "
              f"{bus['online']}/{bus['devices']} device(s) online, {bus['pending_writes']} write(s) queued")
        counters = bus.get("counters") or {}
        if counters:
            print("  " + ", ".join(f"{k} {v}" for k, v in counters.items()))
    return 0


def cmd_freeclient_test(args: argparse.Namespace) -> int:
    result = control(args, "freeclient_test", {"bus": args.bus})
    healthy = result["state"] == "running" and all(d["online"] for d in result["device_list"])
    if args.json:
        print_json(dict(result, ok=healthy))
        return 0 if healthy else 1
    reason = f": {result['reason']}" if result.get("reason") else ""
    print(f"bus {result['name']}: {result['state']}{reason}")
    for device in result["device_list"]:
        print(f"  device {device['index']}: {'online' if device['online'] else 'OFFLINE'}, "
              f"{device['points']} point(s)")
        for row in (r for r in result["objects"] if r["bus_device"] == device["index"]):
            print(f"    {row['point']:16} {row['object']:22} {row['value']}"
                  + ("" if row["reliability"] == 0 else f"  (reliability {row['reliability']})"))
    return 0 if healthy else 1


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    discover = sub.add_parser("discover", parents=[common],
                              help="Who-Is through the router: instance, network, MAC, vendor and name of each device")
    discover.add_argument("--network", type=int, metavar="N", help="only network N (default: every network)")
    discover.add_argument("--low", type=int, metavar="INSTANCE", help="lowest device instance to ask for")
    discover.add_argument("--high", type=int, metavar="INSTANCE", help="highest device instance to ask for")
    discover.add_argument("--wait", type=float, metavar="S", help="how long to collect I-Am answers [3]")
    discover.add_argument("--json", action="store_true", help='machine-readable output: {"network", "devices": [...]}')
    discover.set_defaults(func=cmd_discover)
    device_help = "device instance (found with Who-Is) or BACnet address network:mac (2:10.71.2.2, 3:5)"
    read = sub.add_parser("read", parents=[common], help="read a property of an object of a device (ReadProperty)")
    read.add_argument("device", help=device_help)
    read.add_argument("object", help="the object: type,instance (analog-value,1 or av,1)")
    read.add_argument("property", nargs="?", default="present-value", help="the property [present-value]")
    read.add_argument("--json", action="store_true", help='machine-readable output: {"address", "value", ...}')
    read.set_defaults(func=cmd_read)
    write = sub.add_parser("write", parents=[common], help="write a property of an object of a device (WriteProperty)")
    write.add_argument("device", help=device_help)
    write.add_argument("object", help="the object: type,instance (analog-output,1 or ao,1)")
    write.add_argument("property", help="the property (present-value)")
    write.add_argument("value", help="the value: a number, true/false, an enumeration's name (active), or null "
                                     "to relinquish the priority")
    write.add_argument("--priority", "-p", type=int, metavar="P", help="command priority 1..16 (commandable objects)")
    write.add_argument("--json", action="store_true", help='machine-readable output: {"address", "ok", ...}')
    write.set_defaults(func=cmd_write)
    objects = sub.add_parser("objects", parents=[common],
                             help="the gateways' BACnet objects with the point each comes from")
    objects.add_argument("--json", action="store_true", help='machine-readable output: {"gateways": {...}}')
    objects.set_defaults(func=cmd_objects)

    group = sub.add_parser("freeclient", parents=[common], help="Free Client tools")
    freeclient = group.add_subparsers(dest="freeclient_command", required=True, metavar="COMMAND", help="which tool")
    status = freeclient.add_parser("status", parents=[common], help="the running Free Client's buses")
    status.add_argument("--json", action="store_true", help='machine-readable output: {"buses": [...]}')
    status.set_defaults(func=cmd_freeclient_status)
    test = freeclient.add_parser("test", parents=[common],
                                 help="one bus now: its state, each device online or not, its points' values; "
                                      "exit 1 unless it runs with every device online")
    test.add_argument("bus", help="the bus (its freeclient_bus section's bus name)")
    test.add_argument("--json", action="store_true", help='machine-readable output: {"state", "device_list", ...}')
    test.set_defaults(func=cmd_freeclient_test)
    from .freeclient_cli import add_commands as add_freeclient_file_commands

    add_freeclient_file_commands(freeclient, common)
