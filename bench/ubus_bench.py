"""The round trip of ``status`` over ubus against the unix control socket, in the same run.

    python bench/ubus_bench.py [--calls 500]

Starts the platform kit's ubusd on a private socket and the daemon (one
BACnet/IP port on loopback, python3-ubus importable, ``ubus_socket`` set),
then calls ``status`` ``calls`` times each way, interleaved, from this
process: over ubus with the python3-ubus client (``ubus.call``, one
connection), and over the control socket with one connection, a JSON line per
request. Both clients are persistent, so the figures compare the transports,
not connection set-up. The ubus path is caller → ubusd → the daemon's ubus
thread → the asyncio loop and back, the socket path caller → asyncio loop.

Ends with: BENCH ubus status_p50_ms=… socket_p50_ms=… ratio=…
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.openwrt.platform import platform_prefix, tool  # noqa: E402


def free_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    prefix = platform_prefix()
    sys.path.insert(0, str(prefix / "lib" / "python"))
    import ubus  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory(prefix="bacrouter-ubus-bench-") as tmp:
        root = Path(tmp)
        bus_socket = root / "ubus.sock"
        ubusd = subprocess.Popen([tool("ubusd"), "-s", str(bus_socket)])
        (root / "config").mkdir()
        (root / "bacrouter").mkdir()
        (root / "bacrouter" / "resource.conf").write_text(json.dumps({"loop": {"type": "ETH", "ifname": "lo"}}))
        (root / "config" / "bacrouter").write_text(
            f"config bacrouter 'main'\n\toption device_instance '4100'\n\toption ubus_socket '{bus_socket}'\n\n"
            f"config bip 'one'\n\toption resource 'loop'\n\toption network '1'\n\toption udp_port '{free_udp()}'\n")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(prefix / "lib" / "python")]))
        daemon = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(root)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    ubus.connect(socket_path=str(bus_socket))
                    if ubus.objects("bacrouter"):
                        break
                    ubus.disconnect()
                except Exception:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the daemon never registered ubus object 'bacrouter'")
                time.sleep(0.1)
            control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            control.connect(str(root / "run" / "control.sock"))
            reader = control.makefile("rb")

            def over_socket() -> None:
                control.sendall(b'{"id": 1, "method": "status", "params": {}}\n')
                answer = json.loads(reader.readline())
                assert "result" in answer, answer

            def over_ubus() -> None:
                answer = ubus.call("bacrouter", "status", {})
                assert answer and "device" in answer[0], answer

            for _ in range(20):  # warm both paths (imports, caches)
                over_socket()
                over_ubus()
            timings: dict[str, list[float]] = {"ubus": [], "socket": []}
            for _ in range(args.calls):
                for name, once in (("ubus", over_ubus), ("socket", over_socket)):
                    started = time.perf_counter()
                    once()
                    timings[name].append((time.perf_counter() - started) * 1000)
            control.close()
            ubus.disconnect()
        finally:
            daemon.terminate()
            daemon.wait(10)
            ubusd.kill()
            ubusd.wait()
    p50 = {name: statistics.median(values) for name, values in timings.items()}
    p90 = {name: sorted(values)[int(len(values) * 0.9)] for name, values in timings.items()}
    for name in ("ubus", "socket"):
        print(f"{name:6s} status round trip: p50 {p50[name]:.3f} ms, p90 {p90[name]:.3f} ms ({args.calls} calls)")
    print(f"BENCH ubus status_p50_ms={p50['ubus']:.3f} socket_p50_ms={p50['socket']:.3f} "
          f"ratio={p50['ubus'] / p50['socket']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
