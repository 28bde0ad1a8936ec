"""Modbus gateway: requests per poll, RTU poll-cycle time against the wire, memory and CPU at scale.

    python bench/modbus_bench.py [--cycle-seconds 8] [--scale-seconds 10]

1. Read planning on a realistic 200-point profile (an air-handler controller:
   coils, discrete inputs, input and holding registers in clusters with gaps,
   single and multi-register values, bit fields): our plan against one
   request per point, and against the true minimum, computed here by an
   exhaustive search of its own (dynamic programming over every way to cut
   the sorted addresses into requests, checked against the limits).
2. A full poll of 100 points over RTU at 19200 baud: the gateway polls a
   pymodbus RTU slave through a bus process that paces every octet at ten
   bit times (bench/mstp_bench.py's bus, with its pty latency taken out).
   The lower bound is the wire itself: each request's and answer's frame
   time plus the t3.5 silence after each.
3. Scale over Modbus TCP with 1 s updates: 20 slaves x 50 points and 100
   slaves x 100 points in a bacrouter daemon: RSS, CPU % of one core, and
   memory per point (the RSS growth from 1,000 to 10,000 points over the
   9,000 points added). The peer: the same objects as bacpypes3 objects in a
   bare bacpypes3 application, measured the same way.

Ends with: BENCH modbus requests=… naive_requests=… minimum_requests=… cycle_ratio_to_bound=…
rss_mb_1000_points=… bytes_per_point=… bacpypes3_bytes_per_point=…
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bacrouter.modbus.devconfig import parse_points  # noqa: E402
from bacrouter.modbus.gateway import slave_planner  # noqa: E402
from bacrouter.modbus.transport import silent_interval  # noqa: E402
from bench.router_bench import rss_mb  # noqa: E402

PEER = ROOT / "tests" / "peers" / "modbus_peer.py"
BAUD = 19200
LIMITS = {"group_bit": 2000, "unused_bit": 16, "group_reg": 64, "unused_reg": 6}


# ----------------------------------------------------------------------------- 1. requests per poll


def ahu_profile(seed: int = 7) -> list[dict]:
    """200 points laid out the way controller vendors do: clusters, gaps, mixed sizes."""
    rng = random.Random(seed)
    points: list[dict] = []

    def add(object_type: str, address_type: str, address: int, **extra) -> None:
        points.append({"name": f"p{len(points)}", "object_type": object_type, "address_type": address_type,
                       "address": address, "instance": len(points) + 1, **extra})

    address = 0
    for _ in range(40):  # commands and relays: coils in groups of 8 with spare addresses
        add("bo", "coil", address)
        address += 1 if rng.random() < 0.8 else rng.randint(2, 40)
    address = 100
    for _ in range(30):  # alarms and states
        add("bi", "discrete", address)
        address += 1 if rng.random() < 0.7 else rng.randint(2, 30)
    address = 0
    for _ in range(60):  # measured values: 16 and 32-bit, floats, blocks per sensor board
        kind = rng.choice(["u16", "s16", "float", "u32"])
        add("ai", "input", address, data_type=kind)
        address += {"u16": 1, "s16": 1, "float": 2, "u32": 2}[kind]
        if rng.random() < 0.15:
            address += rng.randint(3, 120)
    address = 1000
    for index in range(70):  # setpoints and parameters; some status words as bit fields
        if index % 10 < 3:
            add("bi", "holding", address, bit_offset=index % 10, bit_len=1)
            if index % 10 == 2:
                address += 1
            continue
        kind = rng.choice(["u16", "u16", "float"])
        add("av", "holding", address, data_type=kind)
        address += {"u16": 1, "float": 2}[kind]
        if rng.random() < 0.2:
            address += rng.randint(2, 60)
    return points


def exhaustive_minimum(points: list, limits: dict) -> int:
    """Fewest requests, by trying every way to cut each function's sorted points into consecutive requests."""
    from bacrouter.modbus.plan import read_function

    total = 0
    by_function: dict[int, list[tuple[int, int]]] = {}
    for point in points:
        function = read_function(point.address_type)
        by_function.setdefault(function, []).append((point.address, point.address + point.registers))
    for function, spans in by_function.items():
        bits = function in (1, 2)
        group, skip = (limits["group_bit"], limits["unused_bit"]) if bits else (limits["group_reg"], limits["unused_reg"])
        spans.sort()
        group = max(group, max(end - start for start, end in spans))

        def valid(run: list[tuple[int, int]], group: int = group, skip: int = skip) -> bool:
            start, end = run[0][0], max(e for _, e in run)
            if end - start > group:
                return False
            covered = set()
            for s, e in run:
                covered.update(range(s, e))
            gap = 0
            for address in range(start, end):
                gap = 0 if address in covered else gap + 1
                if gap > skip:
                    return False
            return True

        best = [0] + [10**9] * len(spans)
        for stop in range(1, len(spans) + 1):
            for first in range(stop):
                # a request may not cut through overlapping points (a bit field and its register)
                if first and spans[first][0] < max(e for _, e in spans[:first]):
                    continue
                if valid(spans[first:stop]):
                    best[stop] = min(best[stop], best[first] + 1)
        total += best[-1]
    return total


def bench_requests() -> tuple[int, int, int]:
    from bacrouter.modbus.schema import ModbusSlave

    points, problems = parse_points({"points": ahu_profile()}, "profile")
    assert not problems, problems
    slave = ModbusSlave(master="m", name="ahu", **LIMITS)
    slave.point_list = points
    ours = len(slave_planner(slave).plan())
    minimum = exhaustive_minimum(points, LIMITS)
    return ours, len(points), minimum


# ----------------------------------------------------------------------------- 2. RTU poll cycle


def rtu_profile() -> list[dict]:
    """100 points of an energy meter: registers in three blocks, 16/32-bit and floats."""
    points, address = [], 0
    for index in range(100):
        kind = ("u16", "float", "s16", "u32")[index % 4]
        points.append({"name": f"m{index}", "object_type": "ai", "address_type": "holding", "address": address,
                       "data_type": kind, "instance": index + 1})
        address += {"u16": 1, "s16": 1, "float": 2, "u32": 2}[kind]
        if index in (39, 79):
            address += 50  # the next block of the register map
    return points


def wire_bound(plan, baud: int) -> float:
    octet = 10 / baud
    gap = silent_interval(baud, 10)
    total = 0.0
    for request in plan:
        answer = 5 + (2 * request.count if request.function in (3, 4) else (request.count + 7) // 8)
        total += (8 + answer) * octet + 2 * gap
    return total


def write_tree(root: Path, uci: str, points: dict[str, list[dict]], resources: dict) -> None:
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "bacrouter" / "modbus").mkdir(parents=True, exist_ok=True)
    (root / "config" / "bacrouter").write_text("config bacrouter 'main'\n\toption device_instance '4001'\n" + uci)
    (root / "bacrouter" / "resource.conf").write_text(json.dumps(resources))
    for name, items in points.items():
        (root / "bacrouter" / "modbus" / f"{name}.json").write_text(json.dumps({"points": items}))


async def _poll_cycles(root: Path, seconds: float) -> tuple[float, int]:
    from bacrouter.config import Paths
    from bacrouter.loader import load_config
    from bacrouter.runtime import Runtime

    config, _ = load_config(Paths(root))
    node = Runtime(config, root / "run")
    await node.start()
    try:
        slave = node.feature("modbus").slaves[0]
        deadline = time.monotonic() + 10
        while not slave.schedule.refreshed and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        start_requests, start = slave.schedule.requests, time.monotonic()
        await asyncio.sleep(seconds)
        requests, elapsed = slave.schedule.requests - start_requests, time.monotonic() - start
        per_cycle = len(slave.schedule.planner.plan())
        if slave.schedule.failed:
            print(f"  ({slave.schedule.failed} failed requests)")
        return elapsed / (requests / per_cycle), per_cycle
    finally:
        node.stop()


def bench_cycle(seconds: float) -> tuple[float, float, int]:
    from bench.mstp_bench import start_bus

    bus, (line, device) = start_bus(BAUD, 2, seconds + 15, spin=False)
    peer = subprocess.Popen([sys.executable, str(PEER), "--serial", device, "--framer", "rtu", "--baud", str(BAUD),
                             "--unit", "1"], env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        bus.stdin.write("go\n")
        bus.stdin.flush()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            uci = (f"config modbus_master 'line'\n\toption protocol 'rtu'\n\toption resource 'RS485-1'\n"
                   f"config modbus_slave 'meter'\n\toption master 'line'\n\toption station '1'\n"
                   f"\toption baudrate '{BAUD}'\n\toption update_ms '0'\n\toption timeout_ms '500'\n"
                   f"\toption unused_reg '0'\n")
            write_tree(root, uci, {"meter": rtu_profile()}, {"RS485-1": {"type": "USB", "ifname": line}})
            cycle, per_cycle = asyncio.run(_poll_cycles(root, seconds))
        points, _ = parse_points({"points": rtu_profile()})
        from bacrouter.modbus.schema import ModbusSlave

        slave = ModbusSlave(master="m", name="meter", unused_reg=0)
        slave.point_list = points
        bound = wire_bound(slave_planner(slave).plan(), BAUD)
        return cycle, bound, per_cycle
    finally:
        peer.terminate()
        bus.terminate()
        peer.wait(10)
        bus.wait(10)


# ----------------------------------------------------------------------------- 3. scale


def scale_points(count: int) -> list[dict]:
    kinds = [("ai", "input", "u16"), ("ai", "input", "float"), ("av", "holding", "u16"), ("ao", "holding", "u16"),
             ("bi", "discrete", None), ("bo", "coil", None), ("mv", "holding", "u16")]
    points, next_address = [], {"input": 0, "holding": 0, "discrete": 0, "coil": 0}
    for index in range(count):
        object_type, address_type, data_type = kinds[index % len(kinds)]
        point = {"name": f"point_{index}", "object_type": object_type, "address_type": address_type,
                 "address": next_address[address_type], "instance": index + 1, "description": f"point {index}"}
        if data_type:
            point["data_type"] = data_type
        if object_type == "mv":
            point["state_texts"] = ["off", "low", "high"]
        next_address[address_type] += 2 if data_type == "float" else 1
        points.append(point)
    return points


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_at_scale(slaves: int, points: int, seconds: float) -> dict:
    from bacrouter.control import call

    port = free_port()
    units = list(range(1, slaves + 1))
    peer = subprocess.Popen([sys.executable, str(PEER), "--tcp", f"127.0.0.1:{port}",
                             *[a for u in units for a in ("--unit", str(u))]],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        masters = (slaves + 9) // 10
        uci = "".join(f"config modbus_master 'tcp{m}'\n\toption protocol 'tcp'\n\toption host '127.0.0.1'\n"
                      f"\toption port '{port}'\n" for m in range(masters))
        uci += "".join(f"config modbus_slave 's{u}'\n\toption master 'tcp{(u - 1) // 10}'\n\toption station '{u}'\n"
                       f"\toption update_ms '1000'\n\toption block '{u}'\n" for u in units)
        write_tree(root, uci, {f"s{u}": scale_points(points) for u in units}, {})
        time.sleep(1.0)
        daemon = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(root)],
                                  cwd=ROOT, stderr=subprocess.DEVNULL)
        try:
            socket_path = root / "run" / "control.sock"
            deadline = time.monotonic() + 60
            online = 0
            while time.monotonic() < deadline:
                try:
                    online = sum(s["online"] for m in call(socket_path, "modbus") for s in m["slaves"])
                except OSError:
                    online = 0
                if online == slaves:
                    break
                time.sleep(0.5)
            time.sleep(2.0)
            cpu_start, wall_start = cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(seconds)
            cpu = 100 * (cpu_seconds(daemon.pid) - cpu_start) / (time.monotonic() - wall_start)
            rss = rss_mb(daemon.pid)
            status = call(socket_path, "modbus")
            delays = [s["update_delay_s"] for m in status for s in m["slaves"]]
            return {"rss_mb": rss, "cpu_pct": cpu, "online": online, "max_update_delay_s": max(delays)}
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(20)
            peer.kill()
            peer.wait()


def bacpypes3_objects(count: int) -> None:
    """The peer: a bare bacpypes3 application holding ``count`` objects like ours; prints its RSS in MB."""
    import bacpypes3.local.analog as analog
    import bacpypes3.local.binary as binary
    import bacpypes3.local.multistate as multistate
    from bacpypes3.app import Application
    from bacpypes3.local.device import DeviceObject

    async def build() -> float:
        device = DeviceObject(objectIdentifier=("device", 1), objectName="peer", vendorIdentifier=999)
        app = Application.from_object_list([device])
        classes = [(analog.AnalogInputObject, {"units": "noUnits", "covIncrement": 0.0}),
                   (analog.AnalogInputObject, {"units": "noUnits", "covIncrement": 0.0}),
                   (analog.AnalogValueObject, {"units": "noUnits", "covIncrement": 0.0}),
                   (analog.AnalogOutputObject, {"units": "noUnits", "covIncrement": 0.0, "relinquishDefault": 0.0}),
                   (binary.BinaryInputObject, {"polarity": "normal"}),
                   (binary.BinaryOutputObject, {"polarity": "normal", "relinquishDefault": "inactive"}),
                   (multistate.MultiStateValueObject, {"numberOfStates": 3, "stateText": ["off", "low", "high"]})]
        for index in range(count):
            cls, extra = classes[index % len(classes)]
            app.add_object(cls(objectIdentifier=(cls.objectType, index + 1), objectName=f"point_{index}",
                               description=f"point {index}", statusFlags=[0, 0, 0, 0], eventState="normal",
                               outOfService=False, reliability="noFaultDetected", **extra))
        return rss_mb(os.getpid())

    print(asyncio.run(build()))


def bacpypes3_rss(count: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--bacpypes3-objects", str(count)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--bacpypes3-objects":
        bacpypes3_objects(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycle-seconds", type=float, default=8.0)
    parser.add_argument("--scale-seconds", type=float, default=10.0)
    args = parser.parse_args()

    ours, naive, minimum = bench_requests()
    print(f"200-point profile: {ours} requests per poll; one per point: {naive}; exhaustive minimum: {minimum}",
          flush=True)

    cycle, bound, per_cycle = bench_cycle(args.cycle_seconds)
    print(f"100 points over RTU at {BAUD}: {per_cycle} requests, poll cycle {cycle * 1000:.1f} ms; wire bound "
          f"{bound * 1000:.1f} ms; ratio {cycle / bound:.3f}", flush=True)

    small = daemon_at_scale(20, 50, args.scale_seconds)
    print(f"20 slaves x 50 points over TCP, 1 s updates: RSS {small['rss_mb']:.1f} MB, CPU {small['cpu_pct']:.1f} %, "
          f"slowest slave {small['max_update_delay_s']} s late", flush=True)
    large = daemon_at_scale(100, 100, args.scale_seconds)
    print(f"100 slaves x 100 points over TCP, 1 s updates: RSS {large['rss_mb']:.1f} MB, CPU {large['cpu_pct']:.1f} %, "
          f"slowest slave {large['max_update_delay_s']} s late", flush=True)
    ours_per_point = (large["rss_mb"] - small["rss_mb"]) * 2**20 / 9000
    bp3_small, bp3_large = bacpypes3_rss(1000), bacpypes3_rss(10000)
    bp3_per_point = (bp3_large - bp3_small) * 2**20 / 9000
    print(f"memory per point (1,000 -> 10,000 points): ours {ours_per_point:.0f} B, bare bacpypes3 objects "
          f"{bp3_per_point:.0f} B (RSS {bp3_small:.1f} -> {bp3_large:.1f} MB)", flush=True)
    print(f"BENCH modbus requests={ours} naive_requests={naive} minimum_requests={minimum} "
          f"cycle_ratio_to_bound={cycle / bound:.3f} rss_mb_1000_points={small['rss_mb']:.1f} "
          f"bytes_per_point={ours_per_point:.0f} bacpypes3_bytes_per_point={bp3_per_point:.0f} "
          f"rss_mb_10000_points={large['rss_mb']:.1f} cpu_pct_1000_points={small['cpu_pct']:.1f} "
          f"cpu_pct_10000_points={large['cpu_pct']:.1f}")


if __name__ == "__main__":
    main()
