"""Free Client overhead: a Lua-scripted Modbus RTU poll of 100 points against the native poller.

    python bench/freeclient_bench.py [--seconds 8]

The same pymodbus RTU slave (its own process, on a socat pty pair) is polled
as fast as it answers, first by the native Modbus gateway, then by the
shipped example script ``modbus_rtu.lua`` on a Free Client bus: 100 holding
registers, one read per poll either way, each value becoming a BACnet
object. The figure is the CPU time of the router process (all its threads)
per full poll; the ratio is scripted over native. The slave's own CPU is in
its process and not counted.

Ends with: BENCH freeclient cpu_ratio_to_native=… native_cpu_ms_per_poll=… script_cpu_ms_per_poll=…
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.modbus_bench import write_tree  # noqa: E402

PEER = ROOT / "tests" / "peers" / "modbus_peer.py"
POINTS = 100
BAUD = 38400


def native_config(root: Path, tty: str) -> None:
    points = [{"name": f"r{i}", "object_type": "ai", "address_type": "holding", "address": i, "instance": i + 1}
              for i in range(POINTS)]
    uci = ("config modbus_master 'line'\n\toption protocol 'rtu'\n\toption resource 'RS485-1'\n"
           "config modbus_slave 's'\n\toption master 'line'\n\toption station '1'\n"
           f"\toption baudrate '{BAUD}'\n\toption update_ms '0'\n\toption timeout_ms '500'\n")
    write_tree(root, uci, {"s": points}, {"RS485-1": {"type": "USB", "ifname": tty}})


def script_config(root: Path, tty: str) -> None:
    uci = ("config freeclient_bus 'fc'\n\toption resource 'RS485-1'\n\toption script 'modbus_rtu.lua'\n"
           f"\toption baudrate '{BAUD}'\n")
    write_tree(root, uci, {}, {"RS485-1": {"type": "USB", "ifname": tty}})
    (root / "bacrouter" / "freeclient").mkdir(parents=True, exist_ok=True)
    definition = {"tag": "update_interval=0, timeout=500, before_idle=0", "fcdevices": [
        {"name": "s", "tag": "unit=1", "fcpoints": [{"name": f"r{i}", "object_type": "ai", "instance": i + 1,
                                                      "tag": f"reg={i}"} for i in range(POINTS)]}]}
    (root / "bacrouter" / "freeclient" / "fc.json").write_text(json.dumps(definition))


async def measure(root: Path, seconds: float, scripted: bool) -> tuple[float, int]:
    """(CPU seconds, polls) over ``seconds`` once the first poll is in."""
    from bacrouter.config import Paths
    from bacrouter.loader import load_config
    from bacrouter.runtime import Runtime

    config, _ = load_config(Paths(root))
    node = Runtime(config, root / "run")
    await node.start()
    try:
        if scripted:
            bus = node.feature("freeclient").buses["fc"]

            def polls() -> int:
                return bus.counters["transactions"]  # one read per poll
        else:
            schedule = node.feature("modbus").slaves[0].schedule

            def polls() -> int:
                return schedule.requests // max(1, len(schedule.planner.plan()))
        deadline = time.monotonic() + 10
        while polls() < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        start_polls, start_cpu = polls(), time.process_time()
        await asyncio.sleep(seconds)
        return time.process_time() - start_cpu, polls() - start_polls
    finally:
        node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scripted in (False, True):
            root = Path(tmp) / ("script" if scripted else "native")
            link_a, link_b = str(root / "tty-a"), str(root / "tty-b")
            root.mkdir()
            socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={link_a}", f"pty,raw,echo=0,link={link_b}"],
                                     stderr=subprocess.DEVNULL)
            while not (os.path.exists(link_a) and os.path.exists(link_b)):
                time.sleep(0.05)
            peer = subprocess.Popen([sys.executable, str(PEER), "--serial", link_b, "--framer", "rtu", "--baud",
                                     str(BAUD), "--unit", "1"], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                    stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.0)
                (script_config if scripted else native_config)(root, link_a)
                cpu, polls = asyncio.run(measure(root, args.seconds, scripted))
                results[scripted] = (cpu, polls)
                label = "Lua script (modbus_rtu.lua)" if scripted else "native Modbus gateway"
                print(f"{label}: {polls} polls of {POINTS} points in {args.seconds:.0f} s, "
                      f"{1000 * cpu / max(polls, 1):.2f} ms CPU per poll", flush=True)
            finally:
                peer.terminate()
                socat.terminate()
                peer.wait(10)
                socat.wait(10)
    native = 1000 * results[False][0] / max(results[False][1], 1)
    script = 1000 * results[True][0] / max(results[True][1], 1)
    print(f"BENCH freeclient cpu_ratio_to_native={script / native:.2f} native_cpu_ms_per_poll={native:.2f} "
          f"script_cpu_ms_per_poll={script:.2f}")


if __name__ == "__main__":
    main()
