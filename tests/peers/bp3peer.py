"""A bacpypes3 peer for integration tests: a device that serves, or a client that asks and prints JSON.

    bp3peer.py device  --address 10.71.2.2/24 --instance 2002 [--foreign BBMD] [--ready FILE]
    bp3peer.py whois   --address ... --instance ... [--network N] [--target ADDR] [--foreign BBMD] [--wait S]
    bp3peer.py read    --address ... --instance ... --target 2:10.71.2.2 --object analog-value,1 --property present-value
    bp3peer.py rpm     --address ... --instance ... --target ADDR --object device,4000 --property all
    bp3peer.py whois-router --address ... --instance ... [--network N]
    bp3peer.py write   --address ... --instance ... --target ADDR --object analog-output,1 --value 21.5 [--priority 8]
    bp3peer.py cov     --address ... --instance ... --target ADDR --object analog-input,1 [--confirmed] --wait S

Clients print one JSON document on stdout and exit 0; failures print {"error": ...} and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bacpypes3.app import Application
from bacpypes3.argparse import SimpleArgumentParser
from bacpypes3.local.analog import AnalogValueObject
from bacpypes3.pdu import Address, GlobalBroadcast, RemoteBroadcast
from bacpypes3.primitivedata import Null, ObjectIdentifier

PRESENT_VALUE = 21.5


def make_app(args: argparse.Namespace) -> Application:
    argv = ["--address", args.address, "--instance", str(args.instance), "--name", f"peer-{args.instance}"]
    if args.foreign:
        argv += ["--foreign", args.foreign, "--ttl", "30"]
    return Application.from_args(SimpleArgumentParser().parse_args(argv))


def jsonable(value):
    """bacpypes3 values as JSON: sequences become objects, octet strings hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "_order"):
        return {name: jsonable(getattr(value, name, None)) for name in value._order}
    return str(value)


async def device(args: argparse.Namespace) -> None:
    app = make_app(args)
    app.add_object(AnalogValueObject(objectIdentifier=("analog-value", 1), objectName="temp",
                                     presentValue=PRESENT_VALUE, units="degreesCelsius"))
    # a large object for tests that need responses longer than a small data link carries
    app.add_object(AnalogValueObject(objectIdentifier=("analog-value", 2), objectName="big",
                                     presentValue=1.0, description="x" * 700))
    if args.ready:
        with open(args.ready, "w") as handle:
            handle.write("ready\n")
    await asyncio.Event().wait()


async def whois(args: argparse.Namespace, app: Application) -> object:
    if args.target:
        address = Address(args.target)
    elif args.network is not None:
        address = RemoteBroadcast(args.network)
    else:
        address = GlobalBroadcast()
    if args.foreign:
        await asyncio.sleep(1.0)  # let the foreign device registration complete
    i_ams = await app.who_is(args.low, args.high, address=address, timeout=args.wait)
    return sorted([{"device": i.iAmDeviceIdentifier[1], "source": str(i.pduSource)} for i in i_ams],
                  key=lambda d: d["device"])


async def read(args: argparse.Namespace, app: Application) -> object:
    value = await app.read_property(Address(args.target), ObjectIdentifier(args.object), args.property)
    return jsonable(value)


async def rpm(args: argparse.Namespace, app: Application) -> object:
    results = await app.read_property_multiple(Address(args.target), [ObjectIdentifier(args.object), [args.property]])
    return {str(prop): jsonable(value) for _, prop, _, value in results}


async def whois_router(args: argparse.Namespace, app: Application) -> object:
    results = await app.nse.who_is_router_to_network(network=args.network)
    return sorted({n for _, i_am in results for n in i_am.iartnNetworkList})


async def write(args: argparse.Namespace, app: Application) -> object:
    value = Null(()) if args.value == "null" else json.loads(args.value)
    error = await app.write_property(Address(args.target), ObjectIdentifier(args.object), args.property, value,
                                     priority=args.priority)
    if error is not None:
        return {"error": str(error)}
    return "ok"


async def cov(args: argparse.Namespace, app: Application) -> object:
    """Subscribe, then report every notified value for --wait seconds (or --count present values)."""
    seen: list = []
    async with app.change_of_value(Address(args.target), ObjectIdentifier(args.object), 17,
                                   args.confirmed, 120) as subscription:
        if args.ready:
            with open(args.ready, "w") as handle:
                handle.write("subscribed\n")
        loop = asyncio.get_running_loop()
        end = loop.time() + args.wait
        while (left := end - loop.time()) > 0:
            try:
                prop, value = await asyncio.wait_for(subscription.get_value(), left)
            except TimeoutError:
                break
            seen.append([str(prop), jsonable(value)])
            if args.count and sum(1 for p, _ in seen if p == "present-value") >= args.count:
                break
    return seen


CLIENTS = {"whois": whois, "read": read, "rpm": rpm, "whois-router": whois_router, "write": write, "cov": cov}


async def client(args: argparse.Namespace) -> int:
    app = make_app(args)
    try:
        result = await asyncio.wait_for(CLIENTS[args.command](args, app), args.timeout)
    except BaseException as err:  # bacpypes3 errors derive from BaseException
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        return 1
    finally:
        app.close()
    print(json.dumps(result))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["device", *CLIENTS])
    parser.add_argument("--address", required=True)
    parser.add_argument("--instance", type=int, required=True)
    parser.add_argument("--foreign")
    parser.add_argument("--ready")
    parser.add_argument("--target")
    parser.add_argument("--network", type=int)
    parser.add_argument("--low", type=int)
    parser.add_argument("--high", type=int)
    parser.add_argument("--object")
    parser.add_argument("--property", default="present-value")
    parser.add_argument("--wait", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--value", help="JSON value to write, or null to relinquish")
    parser.add_argument("--priority", type=int)
    parser.add_argument("--confirmed", action="store_true")
    parser.add_argument("--count", type=int, help="cov: stop after this many present values")
    args = parser.parse_args()
    if args.command == "device":
        asyncio.run(device(args))
        return 0
    return asyncio.run(client(args))


if __name__ == "__main__":
    sys.exit(main())
