"""M-Bus: the secondary scan against libmbus's digits-only search, and a two-telegram read against the wire.

    python bench/mbus_bench.py

1. Secondary scan of a simulated segment (tests/peers/mbus_meters.py on a pty)
   of 16 meters: 12 with decimal identification numbers, some sharing their
   first digits, 2 whose numbers have hex digits, and 2 with one number from
   two manufacturers. Ours against the search libmbus's
   mbus-serial-scan-secondary makes (digits 0-9 of the identification, never
   the all-wildcard mask): select frames sent, meters found, and the time at
   2400 baud (the pty carries octets at once, but both masters wait out the
   wire time of what they send and EN 13757-2's 330 bit times + 50 ms for an
   answer that does not come, which is what a scan's time is made of).
2. A read of a meter that answers in two telegrams, at 2400 baud 8E1 on the
   bit-paced line of bench/mstp_bench.py: SND_NKE, then REQ_UD2 until the
   meter says no more records follow. The bound is the wire: every octet
   sent and received (11 bits each) plus the 11 bit times a meter waits
   before answering.

Ends with: BENCH mbus select_frames=… digits_only_select_frames=… read_ratio_to_bound=… found=…
digits_only_found=… scan_s=… digits_only_scan_s=…
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bacrouter.mbus.frame import req_ud2, snd_nke  # noqa: E402
from bacrouter.mbus.master import MBusMaster  # noqa: E402
from bacrouter.mbus.search import DECIMAL_DIGITS, HEX_DIGITS, Replies, SecondarySearch  # noqa: E402
from tests.peers.mbus_meters import corpus_telegram as telegram  # noqa: E402

SIMULATOR = ROOT / "tests" / "peers" / "mbus_meters.py"
BAUD = 2400


def segment() -> list[dict]:
    frame = telegram("els_falcon.hex")
    ids = ["10203040", "10203041", "10203042", "11112222", "23456789", "23456780", "34567890", "45678901",
           "56789012", "67890123", "78901234", "89012345"]
    meters = [{"primary": 1 + i, "secondary": f"{ident}93150A07", "telegrams": [frame]} for i, ident in enumerate(ids)]
    meters += [{"primary": 20, "secondary": "1A2B3C4D93150A07", "telegrams": [frame]},
               {"primary": 21, "secondary": "0000ABCD93150A07", "telegrams": [frame]},
               {"primary": 22, "secondary": "99990001A5B10102", "telegrams": [frame]},
               {"primary": 23, "secondary": "99990001C5B20102", "telegrams": [frame]}]
    return meters


def start_meters(directory: Path, tty: str, meters: list[dict]) -> subprocess.Popen:
    spec = directory / "meters.json"
    spec.write_text(json.dumps(meters))
    ready = directory / "ready"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(SIMULATOR), "--tty", tty, "--meters", str(spec), "--ready", str(ready)])
    deadline = time.monotonic() + 10
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def scan(path: str, search: SecondarySearch) -> tuple[SecondarySearch, float]:
    master = MBusMaster(path, BAUD, parity="none")  # ptys refuse even parity; the timing is 8E1's
    master.bits = 11
    started = time.monotonic()
    try:
        while (mask := search.next_mask()) is not None:
            outcome = master.select(mask)
            address = master.address_of_selected() if outcome == Replies.ONE else None
            search.answer(outcome, address)
    finally:
        master.close()
    return search, time.monotonic() - started


def bench_scan(tmp: Path) -> dict:
    socat_a, socat_b = str(tmp / "scan-a"), str(tmp / "scan-b")
    socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={socat_a}", f"pty,raw,echo=0,link={socat_b}"],
                             stderr=subprocess.DEVNULL)
    while not (Path(socat_a).exists() and Path(socat_b).exists()):
        time.sleep(0.05)
    meters = segment()
    simulator = start_meters(tmp, socat_b, meters)
    try:
        ours, ours_s = scan(socat_a, SecondarySearch(digits=HEX_DIGITS))
        theirs, theirs_s = scan(socat_a, SecondarySearch(digits=DECIMAL_DIGITS, probe_start=False,
                                                         positions=tuple(range(8))))
    finally:
        simulator.kill()
        socat.terminate()
        simulator.wait()
        socat.wait()
    everyone = {m["secondary"] for m in meters}
    return {"ours": (ours.selects, len(set(ours.found) & everyone), ours_s),
            "digits_only": (theirs.selects, len(set(theirs.found) & everyone), theirs_s), "meters": len(everyone)}


def bench_read(tmp: Path) -> tuple[float, float, int]:
    from bench.mstp_bench import start_bus

    first, second = telegram("abb_delta.hex"), telegram("SEN_Sensus-PolluTherm.hex")
    bus, (line, meter_side) = start_bus(BAUD, 2, 120, spin=False, bits=11, chunk=4)
    simulator = start_meters(tmp, meter_side, [{"primary": 2, "secondary": "1234AB78A5B10102",
                                                "telegrams": [first, second]}])
    try:
        bus.stdin.write("go\n")
        bus.stdin.flush()
        master = MBusMaster(line, BAUD, parity="none")
        master.bits = 11
        times = []
        frames = []
        for _ in range(3):
            started = time.monotonic()
            frames = master.read(2)
            times.append(time.monotonic() - started)
        master.close()
    finally:
        simulator.kill()
        bus.terminate()
        simulator.wait()
        bus.wait()
    octets = len(snd_nke(2)) + 1  # and its ACK
    octets += sum(len(req_ud2(2)) + len(frame.encode()) for frame in frames)
    exchanges = 1 + len(frames)
    bound = octets * 11 / BAUD + exchanges * 11 / BAUD
    return min(times), bound, len(frames)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        result = bench_scan(tmp)
        ours, theirs = result["ours"], result["digits_only"]
        print(f"secondary scan of {result['meters']} meters: ours {ours[0]} selects, found {ours[1]}, {ours[2]:.1f} s; "
              f"digits 0-9 as libmbus: {theirs[0]} selects, found {theirs[1]}, {theirs[2]:.1f} s", flush=True)
        read_s, bound_s, telegrams = bench_read(tmp)
        print(f"read of a {telegrams}-telegram meter at {BAUD} baud: {read_s * 1000:.0f} ms; wire bound "
              f"{bound_s * 1000:.0f} ms; ratio {read_s / bound_s:.2f}", flush=True)
    print(f"BENCH mbus select_frames={ours[0]} digits_only_select_frames={theirs[0]} "
          f"read_ratio_to_bound={read_s / bound_s:.2f} found={ours[1]} digits_only_found={theirs[1]} "
          f"scan_s={ours[2]:.1f} digits_only_scan_s={theirs[2]:.1f}")


if __name__ == "__main__":
    main()
