"""What the daemon costs a router at rest: idle memory and the time of ``bacrouter check``.

    python bench/footprint_bench.py [--settle 5] [--runs 7]

On the default configuration of ``bacrouter init`` (one BACnet/IP port and the
router's device), moved to free UDP ports on loopback:

- idle RSS: the daemon's resident memory after ``settle`` seconds, nobody
  talking to it; and again after one ReadProperty of its device (which loads
  the full bacpypes3 application);
- check: the CPU time (user + system) of ``bacrouter check``, the median of
  ``runs`` runs;
- the bound: issue 9's target of 28 MB idle.

Ends with: BENCH footprint idle_rss_mb=… rss_after_read_mb=… check_cpu_ms=… idle_ratio_to_bound=…
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IDLE_BOUND_MB = 28.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def write_config(root: Path, port: int) -> None:
    subprocess.run([sys.executable, "-m", "bacrouter", "init", "--config-dir", str(root)], cwd=ROOT, check=True,
                   capture_output=True)
    (root / "bacrouter" / "resource.conf").write_text('{"lo": {"type": "ETH", "ifname": "lo"}}\n')
    uci = root / "config" / "bacrouter"
    text = uci.read_text().replace("option resource 'eth0'", "option resource 'lo'")
    text = "\n".join(line for line in text.splitlines() if "option resource" not in line or "'lo'" in line)
    uci.write_text(text.replace("config bip 'bip0'", f"config bip 'bip0'\n\toption udp_port '{port}'\n"
                                "\toption resource 'lo'") + "\n")


def read_property(port: int) -> bool:
    """ReadProperty device,4194303 object-name to the router, from a plain UDP socket."""
    apdu = bytes([0x00, 0x05, 0x01, 0x0C, 0x0C, 0x02, 0x3F, 0xFF, 0xFF, 0x19, 0x4D])
    npdu = bytes([0x01, 0x04]) + apdu
    datagram = bytes([0x81, 0x0A]) + (4 + len(npdu)).to_bytes(2, "big") + npdu
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        sock.sendto(datagram, ("127.0.0.1", port))
        try:
            sock.recvfrom(2048)
            return True
        except TimeoutError:
            return False


def check_cpu_s(root: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "bacrouter", "check", "--config-dir", str(root)], cwd=ROOT,
                   capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before the idle reading")
    parser.add_argument("--runs", type=int, default=7, help="runs of bacrouter check")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        port = free_udp_port()
        write_config(root, port)
        daemon = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(root)], cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(args.settle)
            if daemon.poll() is not None:
                print(daemon.stderr.read() if daemon.stderr else "", file=sys.stderr)
                return 1
            idle = rss_mb(daemon.pid)
            answered = read_property(port)
            time.sleep(0.5)
            after_read = rss_mb(daemon.pid)
        finally:
            daemon.terminate()
            daemon.wait(10)
        checks = [check_cpu_s(root) for _ in range(args.runs)]
    check_ms = 1000 * statistics.median(checks)
    print(f"idle RSS on the default configuration: {idle:.1f} MB (bound {IDLE_BOUND_MB:g} MB)")
    print(f"after one ReadProperty of the device ({'answered' if answered else 'NOT answered'}): {after_read:.1f} MB")
    print(f"bacrouter check: {check_ms:.0f} ms CPU (median of {args.runs})")
    print(f"BENCH footprint idle_rss_mb={idle:.1f} rss_after_read_mb={after_read:.1f} check_cpu_ms={check_ms:.0f} "
          f"idle_ratio_to_bound={idle / IDLE_BOUND_MB:.2f}")
    return 0 if answered else 1


if __name__ == "__main__":
    raise SystemExit(main())
