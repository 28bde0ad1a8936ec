"""Routed forwarding between two BACnet/IP ports: our router against bacpypes3's, same traffic.

    python bench/router_bench.py [--seconds 3] [--window 64] [--rate 1000] [--count 3000]

Both routers run as their own process with network 1 and network 2 on
127.0.0.1 (different UDP ports). One generator sends Original-Unicast NPDUs
for DNET 2 to the router's network-1 port and a sink on network 2 receives
them. It measures:

- throughput: a closed loop that keeps ``window`` NPDUs in flight, for a few
  seconds: forwarded NPDUs per second;
- added latency: ``count`` NPDUs paced at ``rate`` per second, one-way
  generator-to-sink time through the router minus the same without a router
  (sent straight to the sink), at p50 and p99;
- the idle RSS of the daemon on its default configuration;
- under a flood (ours only): 94 I-Am-Router-To-Network datagrams of 700 made-up
  networks each, then a global Who-Is storm at ``--storm-rate`` a second while
  the throughput is measured again; the routes the router learned and the
  Who-Is that reached its device.

Ends with: BENCH router pps=… bacpypes3_pps=… throughput_ratio=… p50_us=… p99_us=… idle_rss_mb=…
flood_pps=… flood_routes=… storm_to_device=…
"""

from __future__ import annotations

import argparse
import json
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bacrouter.control import ControlError, call  # noqa: E402
from bacrouter.net import bvll  # noqa: E402
from bacrouter.net.bvll import Function  # noqa: E402
from bacrouter.net.npdu import GLOBAL_NETWORK, NetMsg, Npdu, encode, encode_network_list  # noqa: E402

HOST = "127.0.0.1"
# a ReadProperty request, as most routed traffic is
APDU = bytes.fromhex("0005010c0c020000011955")


def free_udp_ports(count: int) -> list[int]:
    socks, ports = [], []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        socks.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in socks:
        sock.close()
    return ports


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class OurRouter:
    name = "bacrouter"

    def __init__(self, port1: int, port2: int, tmp: Path) -> None:
        self.control = tmp / "run" / "control.sock"
        (tmp / "config").mkdir(parents=True)
        (tmp / "bacrouter").mkdir()
        (tmp / "bacrouter" / "resource.conf").write_text(json.dumps({"loop": {"type": "ETH", "ifname": "lo"}}))
        (tmp / "config" / "bacrouter").write_text(
            "config bacrouter 'main'\n\toption device_instance '4999'\n\toption log_level 'warning'\n"
            f"config bip 'one'\n\toption resource 'loop'\n\toption network '1'\n\toption udp_port '{port1}'\n"
            f"config bip 'two'\n\toption resource 'loop'\n\toption network '2'\n\toption udp_port '{port2}'\n")
        self.proc = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(tmp)],
                                     cwd=ROOT, stderr=subprocess.DEVNULL)
        wait_control(tmp / "run" / "control.sock", self.proc)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


class Bacpypes3Router:
    name = "bacpypes3"

    def __init__(self, port1: int, port2: int) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bacpypes3_router.py"), str(port1), str(port2)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("bacpypes3 router did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def wait_control(path: Path, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("bacrouter exited")
        try:
            if all(p["state"] == "up" for p in call(path, "ports")):
                return
        except (OSError, ControlError):
            pass
        time.sleep(0.1)
    raise RuntimeError("bacrouter did not come up")


class Traffic:
    """A generator socket on network 1 and a sink socket on network 2."""

    def __init__(self) -> None:
        self.gen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.gen.bind((HOST, 0))
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sink.bind((HOST, 0))
        self.sink_mac = bvll.mac(HOST, self.sink.getsockname()[1])

    def datagram(self, seq: int, routed: bool = True) -> bytes:
        payload = APDU + seq.to_bytes(4, "big")
        if routed:
            npdu = Npdu(control=0x04, dnet=2, dadr=self.sink_mac, payload=payload)
        else:
            npdu = Npdu(control=0x04, payload=payload)
        return bvll.pack(Function.ORIGINAL_UNICAST_NPDU, encode(npdu))

    def drain(self) -> None:
        self.sink.setblocking(False)
        try:
            while True:
                self.sink.recv(65535)
        except BlockingIOError:
            pass

    def throughput(self, router_port: int, seconds: float, window: int) -> float:
        """Forwarded NPDUs per second with ``window`` in flight (re-primed if some are lost)."""
        target = (HOST, router_port)
        self.drain()
        self.sink.setblocking(True)
        packets = [self.datagram(i) for i in range(window)]
        send = self.gen.sendto
        for packet in packets:
            send(packet, target)
        received = 0
        self.sink.settimeout(0.05)
        start = time.perf_counter()
        warmup_end = start + 0.5
        end = warmup_end + seconds
        counted_from = None
        recv = self.sink.recv
        while True:
            try:
                recv(65535)
            except TimeoutError:
                for packet in packets:  # some were lost: put the window back in flight
                    send(packet, target)
                continue
            now = time.perf_counter()
            if now >= warmup_end:
                if counted_from is None:
                    counted_from = now
                received += 1
                if now >= end:
                    break
            send(packets[0], target)
        return received / (time.perf_counter() - counted_from)

    def latencies(self, target: tuple[str, int], routed: bool, rate: float, count: int) -> list[float]:
        """One-way microseconds generator → sink, paced at ``rate`` per second."""
        self.drain()
        sent: dict[int, int] = {}
        arrived: dict[int, int] = {}
        interval = 1.0 / rate
        next_send = time.perf_counter()
        seq = 0
        self.sink.setblocking(False)
        last_send = None
        while True:
            now = time.perf_counter()
            if seq < count and now >= next_send:
                sent[seq] = time.perf_counter_ns()
                self.gen.sendto(self.datagram(seq, routed), target)
                seq += 1
                next_send += interval
                last_send = now
                continue
            if seq >= count and (len(arrived) >= count or now - last_send > 1.0):
                break
            timeout = max(0.0, (next_send - now) if seq < count else 0.05)
            readable, _, _ = select.select([self.sink], [], [], timeout)
            if readable:
                while True:
                    try:
                        data = self.sink.recv(65535)
                    except BlockingIOError:
                        break
                    stamp = time.perf_counter_ns()
                    arrived[int.from_bytes(data[-4:], "big")] = stamp
        return [(arrived[i] - sent[i]) / 1000 for i in sent if i in arrived]


class Storm:
    """Route announcements, then global Who-Is at ``rate`` a second, from another socket, in a thread."""

    def __init__(self, target: tuple[str, int], rate: float) -> None:
        import threading

        self.target, self.rate = target, rate
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.stopping = threading.Event()
        self.sent = 0
        for i in range(94):
            networks = [n for n in range(3 + i * 700, 3 + (i + 1) * 700) if n < GLOBAL_NETWORK]
            npdu = Npdu(message_type=NetMsg.I_AM_ROUTER_TO_NETWORK, payload=encode_network_list(networks))
            self.sock.sendto(bvll.pack(Function.ORIGINAL_UNICAST_NPDU, encode(npdu)), target)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        who_is = bvll.pack(Function.ORIGINAL_BROADCAST_NPDU,
                           encode(Npdu(dnet=GLOBAL_NETWORK, hop_count=255, payload=b"\x10\x08")))
        start = time.monotonic()
        while not self.stopping.is_set():
            due = int((time.monotonic() - start) * self.rate)
            while self.sent < due:
                self.sock.sendto(who_is, self.target)
                self.sent += 1
            time.sleep(0.001)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.sock.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def idle_rss() -> float:
    """RSS of the daemon on its built-in default configuration, a few seconds after start."""
    tmp = Path(tempfile.mkdtemp(prefix="bacrouter-idle-"))
    try:
        subprocess.run([sys.executable, "-m", "bacrouter", "init", "--config-dir", str(tmp)], cwd=ROOT, check=True,
                       capture_output=True)
        # a private UDP port, so an already running router does not collide
        uci = (tmp / "config" / "bacrouter").read_text()
        (tmp / "config" / "bacrouter").write_text(uci + f"\toption udp_port '{free_udp_ports(1)[0]}'\n")
        proc = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(tmp)], cwd=ROOT,
                                stderr=subprocess.DEVNULL)
        try:
            wait_control(tmp / "run" / "control.sock", proc)
            time.sleep(3)
            return rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--storm-rate", type=float, default=2000.0, help="global Who-Is a second in the flood")
    args = parser.parse_args()

    traffic = Traffic()
    sink_port = traffic.sink.getsockname()[1]
    direct = traffic.latencies((HOST, sink_port), routed=False, rate=args.rate, count=args.count)
    results = {}
    tmp = Path(tempfile.mkdtemp(prefix="bacrouter-bench-"))
    try:
        for make in (lambda p: OurRouter(p[0], p[1], tmp), lambda p: Bacpypes3Router(p[0], p[1])):
            ports = free_udp_ports(2)
            router = make(ports)
            try:
                pps = traffic.throughput(ports[0], args.seconds, args.window)
                lat = traffic.latencies((HOST, ports[0]), routed=True, rate=args.rate, count=args.count)
                rss = rss_mb(router.proc.pid)
                if router.name == "bacrouter":
                    before = call(router.control, "status")["counters"]
                    storm = Storm((HOST, ports[0]), args.storm_rate)
                    try:
                        flood_pps = traffic.throughput(ports[0], args.seconds, args.window)
                    finally:
                        storm.stop()
                    status = call(router.control, "status")
                    flood = {"pps": flood_pps, "routes": status["networks"], "storm": storm.sent,
                             "to_device": status["counters"].get("to_local", 0) - before.get("to_local", 0)}
            finally:
                router.stop()
            results[router.name] = {"pps": pps, "latency": lat, "rss": rss}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base50, base99 = percentile(direct, 50), percentile(direct, 99)
    print(f"direct (no router): p50 {base50:.1f} us, p99 {base99:.1f} us, {len(direct)}/{args.count} received")
    for name, r in results.items():
        lat = r["latency"]
        print(f"{name:10s} throughput {r['pps']:9.0f} NPDU/s | at {args.rate:.0f}/s: added p50 "
              f"{percentile(lat, 50) - base50:7.1f} us, p99 {percentile(lat, 99) - base99:7.1f} us, "
              f"{len(lat)}/{args.count} received | RSS {r['rss']:.1f} MB")
    ours, peer = results["bacrouter"], results["bacpypes3"]
    idle = idle_rss()
    print(f"idle daemon on the default configuration: RSS {idle:.1f} MB")
    print(f"bacrouter under a flood (94 I-Am-Router of 700 networks, Who-Is at {args.storm_rate:.0f}/s): "
          f"throughput {flood['pps']:.0f} NPDU/s, {flood['routes']} routes, "
          f"{flood['to_device']} of {flood['storm']} Who-Is reached the device")
    p50 = percentile(ours["latency"], 50) - base50
    p99 = percentile(ours["latency"], 99) - base99
    print(f"BENCH router pps={ours['pps']:.0f} bacpypes3_pps={peer['pps']:.0f} "
          f"throughput_ratio={ours['pps'] / peer['pps']:.1f} p50_us={p50:.0f} p99_us={p99:.0f} idle_rss_mb={idle:.1f} "
          f"flood_pps={flood['pps']:.0f} flood_routes={flood['routes']} storm_to_device={flood['to_device']}")


if __name__ == "__main__":
    main()
