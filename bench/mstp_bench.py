"""MS/TP on a real-time, bit-paced bus: token hops against the wire floor, and turnaround under load.

    python bench/mstp_bench.py [--seconds 8] [--load-seconds 10]

A bus process owns one pty per node and plays the line: what a node writes
occupies the bus for ten bit times per octet and reaches the other nodes when
its last octet has ended, as from a UART. Every node is our MS/TP code in its
own process, on its own pty, at the bus's baud. The bus busy-polls its ptys
and takes the ptys' transfer time back out (measured at start), so the rig
adds as little as it can; the nodes pay their own wake-up latency, as on a
real port. An ideal responder (no state machine: answer a token exactly
Tturnaround after reading it) is measured in the same rig as the ceiling.

1. Three masters (MACs 0, 1, 2, max_master 2) at 38400, 76800 and 115200:
   token hops per second over the floor of 120 bit times per hop (80 for the
   token, 40 of turnaround): 320, 640 and 960 hops/s.
2. Turnaround of a full bacrouter daemon as one of the masters (38400 baud),
   from the end of the last octet of a token or Poll-For-Master addressed to
   it to the first octet it sends, measured by the bus, while a generator
   keeps its event loop busy routing BACnet/IP traffic between two ports.
   Tusage_delay allows 15 ms; Tturnaround itself is 1.04 ms at 38400.

Ends with: BENCH mstp floor_ratio_38400=… floor_ratio_76800=… floor_ratio_115200=… turnaround_p50_ms=… turnaround_p99_ms=…
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BITS = 10


# ----------------------------------------------------------------------------- the bus process


def pty_latency(samples: int = 200) -> float:
    """Median time an octet takes through a pty: written on one side, polled for on the other."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(slave, False)
    delays = []
    for _ in range(samples):
        start = time.monotonic()
        os.write(master, b"U")
        while True:
            try:
                os.read(slave, 16)
                break
            except BlockingIOError:
                pass
        delays.append(time.monotonic() - start)
        time.sleep(0.0005)
    os.close(master)
    os.close(slave)
    return sorted(delays)[len(delays) // 2]


def run_bus(baud: int, count: int, seconds: float, watch: int | None, calibrate: bool = True,
            spin: bool = True, bits: int = BITS, chunk: int = 0) -> None:
    """Create ``count`` ptys, print their paths, play the line for ``seconds``, print statistics as JSON.

    A pty adds latency a wire does not have, once into the bus and once out of
    it. With ``calibrate`` the bus measures it and takes it back out: a frame
    read at r started on the wire at r - L and is handed over L before its
    last octet ends, so its listeners have it exactly then.
    """
    from bacrouter.mstp.port import low_timer_slack
    from bacrouter.mstp.receiver import Receiver

    low_timer_slack()
    masters, paths = [], []
    for _ in range(count):
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        masters.append(master)
        paths.append(os.ttyname(slave))
    latency = pty_latency() if calibrate else 0.0
    print(json.dumps(paths), flush=True)
    sys.stdin.readline()  # "go": the nodes are up
    octet = bits / baud
    free_at = 0.0
    pending: list[tuple[float, int, bytes]] = []  # (delivery time, sender index, octets)
    decoder = Receiver(baud)
    hops = 0
    collisions = 0
    turnaround: list[float] = []
    wait_for: tuple[int, float] | None = None  # (mac that should answer, since)
    start = time.monotonic()
    measure_from = start + 1.0  # let the ring form
    end = start + seconds
    # the bus polls its ptys without sleeping: it plays a wire, which has no wake-up latency
    # (without ``spin`` it sleeps in select, to leave the CPU to a loaded router)
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if not spin:
            timeout = max(0.0, min([p[0] - latency for p in pending] + [end]) - now)
            select.select(masters, [], [], timeout)
        arrivals = []
        for index, fd in enumerate(masters):
            try:
                arrivals.append((index, os.read(fd, 4096)))
            except BlockingIOError:
                pass
        now = time.monotonic()
        for sender, data in arrivals:
            started = now - latency  # when its first octet went onto the wire
            if wait_for is not None and wait_for[0] == sender and now >= measure_from:
                turnaround.append(started - wait_for[1])
                wait_for = None
            if started < free_at:
                # two drivers on the line at once: nobody gets either frame
                collisions += 1
                data = bytes(len(data))
                pending = [(at, who, bytes(len(octets))) for at, who, octets in pending]
            begin = max(started, free_at)
            free_at = begin + len(data) * octet
            if chunk:  # hand long writes over piece by piece, as a UART's receiver would
                for offset in range(0, len(data), chunk):
                    piece = data[offset:offset + chunk]
                    pending.append((begin + (offset + len(piece)) * octet, sender, piece))
            else:
                pending.append((free_at, sender, data))
        pending.sort()
        while pending and pending[0][0] - latency <= time.monotonic():
            at, sender, data = pending.pop(0)
            for index, fd in enumerate(masters):
                if index != sender:
                    try:
                        os.write(fd, data)
                    except OSError:
                        pass
            for event in decoder.feed(data, at):
                frame = getattr(event, "frame", None)
                if frame is None:
                    continue
                if frame.type == 0 and at >= measure_from:
                    hops += 1
                if watch is not None and frame.type in (0, 1) and frame.destination == watch:
                    wait_for = (watch, at)  # the last octet ends at ``at`` on the wire
    elapsed = end - measure_from
    print(json.dumps({"hops_per_s": hops / elapsed, "turnaround": turnaround, "invalid": dict(decoder.counters),
                      "collisions": collisions, "pty_latency_us": round(latency * 1e6, 1)}), flush=True)


# ----------------------------------------------------------------------------- a plain MS/TP node process


def run_node(mac: int, path: str, baud: int, max_master: int) -> None:
    from bacrouter.mstp.link import MstpLink
    from bacrouter.mstp.port import MstpWorker

    sys.setswitchinterval(0.0005)
    # at normal priority: a real-time node thread would compete for the CPU with the simulated wire,
    # which a copper wire never does (the daemon in the load test keeps its real-time thread)
    worker = MstpWorker(f"node{mac}", path,
                        lambda: MstpLink(mac, baud=baud, max_master=max_master),
                        lambda source, npdu, broadcast: None, lambda state, reason: None, realtime=False)
    worker.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    worker.stop()


def run_ideal(mac: int, path: str, baud: int) -> None:
    """The rig's ceiling: pass a token on exactly Tturnaround after reading one, with no state machine at all."""
    from bacrouter.mstp.frame import Frame, encode_frame
    from bacrouter.mstp.port import low_timer_slack, sleep_until

    low_timer_slack()
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    token = encode_frame(Frame(0, (mac + 1) % 3, mac))
    for_me = bytes([0x55, 0xFF, 0x00, mac])
    seen = b""
    if mac == 0:
        os.write(fd, token)
    while True:
        select.select([fd], [], [])
        data = os.read(fd, 4096)
        heard = time.monotonic()
        seen = (seen + data)[-8:]
        if seen[:4] == for_me:
            sleep_until(heard + 40 / baud)
            os.write(fd, token)
            seen = b""


# ----------------------------------------------------------------------------- orchestration


def start_bus(baud: int, count: int, seconds: float, watch: int | None = None, calibrate: bool = True,
              spin: bool = True, bits: int = BITS, chunk: int = 0) -> tuple[subprocess.Popen, list[str]]:
    """A bit-paced line between ``count`` ptys (also used by the Modbus and M-Bus benchmarks); ``bits``
    per octet: 10 for 8N1, 11 for 8E1; ``chunk``: deliver writes in pieces of this many octets (0: whole)."""
    args = [sys.executable, __file__, "--bus", str(baud), str(count), str(seconds), str(int(calibrate)),
            str(-1 if watch is None else watch), str(int(spin)), str(bits), str(chunk)]
    bus = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    paths = json.loads(bus.stdout.readline())
    return bus, paths


def start_node(mac: int, path: str, baud: int, ideal: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--ideal" if ideal else "--node", str(mac), path, str(baud), "2"])


def token_ring(baud: int, seconds: float, calibrate: bool = True, ideal: bool = False) -> float:
    bus, paths = start_bus(baud, 3, seconds, calibrate=calibrate)
    nodes = [start_node(mac, path, baud, ideal) for mac, path in enumerate(paths)]
    time.sleep(0.5)
    bus.stdin.write("go\n")
    bus.stdin.flush()
    result = json.loads(bus.stdout.readline())
    for node in nodes:
        node.send_signal(signal.SIGTERM)
    for node in nodes:
        node.wait(10)
    bus.wait(10)
    if result["collisions"] or result["invalid"]:
        print(f"  ({baud} baud{'' if calibrate else ', uncalibrated'}: {result['collisions']} collisions, "
              f"receiver {result['invalid']}, pty latency {result['pty_latency_us']} us)", flush=True)
    return result["hops_per_s"] / (baud / 120)


def loaded_turnaround(seconds: float) -> tuple[list[float], float]:
    """A bacrouter daemon as MAC 0 on a 38400 bus while BACnet/IP traffic keeps its loop busy."""
    from bench.router_bench import Traffic, free_udp_ports, wait_control

    baud = 38400
    bus, paths = start_bus(baud, 3, seconds, watch=0, spin=False)
    tmp = Path(tempfile.mkdtemp(prefix="bacrouter-mstp-bench-"))
    (tmp / "config").mkdir()
    (tmp / "bacrouter").mkdir()
    (tmp / "bacrouter" / "resource.conf").write_text(json.dumps(
        {"loop": {"type": "ETH", "ifname": "lo"}, "RS485-1": {"type": "USB", "ifname": paths[0]}}))
    udp1, udp2 = free_udp_ports(2)
    (tmp / "config" / "bacrouter").write_text(
        "config bacrouter 'main'\n\toption device_instance '4998'\n\toption log_level 'warning'\n"
        f"config bip 'one'\n\toption resource 'loop'\n\toption network '1'\n\toption udp_port '{udp1}'\n"
        f"config bip 'two'\n\toption resource 'loop'\n\toption network '2'\n\toption udp_port '{udp2}'\n"
        "config mstp 'field'\n\toption resource 'RS485-1'\n\toption network '5'\n\toption mac '0'\n"
        "\toption max_master '2'\n")
    daemon = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(tmp)], cwd=ROOT,
                              stderr=subprocess.DEVNULL)
    nodes = [start_node(mac, path, baud) for mac, path in enumerate(paths) if mac != 0]
    try:
        wait_control(tmp / "run" / "control.sock", daemon)
        bus.stdin.write("go\n")
        bus.stdin.flush()
        traffic = Traffic()
        routed = traffic.throughput(udp1, seconds - 1.0, 64)  # keeps the event loop saturated meanwhile
        result = json.loads(bus.stdout.readline())
        return result["turnaround"], routed
    finally:
        for node in nodes:
            node.send_signal(signal.SIGTERM)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        for node in nodes:
            node.wait(10)
        bus.wait(10)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(pct / 100 * len(ordered)))]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--bus":
        watch = int(sys.argv[6])
        run_bus(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), None if watch < 0 else watch,
                calibrate=sys.argv[5] == "1", spin=sys.argv[7] == "1",
                bits=int(sys.argv[8]) if len(sys.argv) > 8 else BITS, chunk=int(sys.argv[9]) if len(sys.argv) > 9 else 0)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--node":
        run_node(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--ideal":
        run_ideal(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--load-seconds", type=float, default=10.0)
    args = parser.parse_args()
    ratios = {}
    for baud in (38400, 76800, 115200):
        ratios[baud] = token_ring(baud, args.seconds)
        ceiling = token_ring(baud, args.seconds, ideal=True)
        print(f"{baud:6d} baud, three masters: {ratios[baud] * baud / 120:6.0f} token hops/s, "
              f"{ratios[baud]:.2f} of the floor ({baud / 120:.0f}/s); an ideal responder in this rig: {ceiling:.2f}",
              flush=True)
    samples, routed = loaded_turnaround(args.load_seconds)
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    print(f"bacrouter as a master at 38400 while routing {routed:.0f} BACnet/IP NPDU/s: turnaround "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms over {len(samples)} tokens/polls (Tturnaround is 1.04 ms)")
    print(f"BENCH mstp floor_ratio_38400={ratios[38400]:.2f} floor_ratio_76800={ratios[76800]:.2f} "
          f"floor_ratio_115200={ratios[115200]:.2f} turnaround_p50_ms={p50:.2f} turnaround_p99_ms={p99:.2f}")


if __name__ == "__main__":
    main()
