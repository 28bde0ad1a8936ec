"""An M-Bus segment of simulated meters on one end of a pty, for tests and benchmarks.

    mbus_meters.py --tty PATH --meters METERS.json [--echo] [--state STATE.json] [--ready FILE]

Each meter in METERS.json: ``{"primary": 1, "secondary": "12345678A5B10102", "telegrams": [HEX, ...],
"baud": 2400}``. A telegram is a complete RSP_UD long frame (as hex); its address octet and checksum
are set to the meter's when sent. A meter with several telegrams answers them in turn, moving on
when the master toggles FCB and starting over after SND_NKE, as multi-telegram meters do.

The segment answers what real meters answer: SND_NKE and REQ_UD2 by primary address (0xFD: the
selected meter), SND_UD select (CI 0x52, wildcard nibbles F) selects every match and each
answers E5, SND_UD set address (CI 0x51, 01 7A nn), application reset (CI 0x50) and switch baud
rate (CI 0xB8..0xBF). When more than one meter answers, their octets collide: the master gets
garbage, as on a real bus. ``--echo`` plays a converter that echoes what the master sends.
``--state`` is rewritten after every change (primary addresses, baud rates) for tests to read.

Written from EN 13757-2/-3, independently of bacrouter's own codec (it is what it tests).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
import tty
from pathlib import Path

ACK = 0xE5
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "mbus" / "frames"


def corpus_telegram(name: str) -> str:
    """A reply frame of the libmbus test corpus, as hex for METERS.json."""
    return bytes.fromhex((CORPUS / name).read_text()).hex()


def checksum(octets: bytes) -> int:
    return sum(octets) & 0xFF


def long_frame(control: int, address: int, ci: int, data: bytes) -> bytes:
    body = bytes((control, address, ci)) + data
    return bytes((0x68, len(body), len(body), 0x68)) + body + bytes((checksum(body), 0x16))


def secondary_octets(secondary: str) -> bytes:
    """16 hex digits (ID, manufacturer as in the frame, version, medium) as the 8 octets of a header."""
    ident = bytes.fromhex(secondary[:8])[::-1]  # BCD, least significant octet first
    return ident + bytes.fromhex(secondary[8:16])


def mask_matches(mask: bytes, meter: bytes) -> bool:
    """``mask`` and ``meter`` as the 8 octets of a select; an F nibble matches anything."""
    for m, v in zip(mask, meter, strict=True):
        for shift in (4, 0):
            nibble = (m >> shift) & 0xF
            if nibble != 0xF and nibble != (v >> shift) & 0xF:
                return False
    return True


class Meter:
    def __init__(self, spec: dict) -> None:
        self.primary = spec["primary"]
        self.secondary = spec["secondary"].upper()
        self.telegrams = [bytes.fromhex(t) for t in spec["telegrams"]]
        self.baud = spec.get("baud", 2400)
        self.selected = False
        self.next = 0
        self.last_fcb: int | None = None

    def addressed(self, address: int) -> bool:
        return address == self.primary or (address == 0xFD and self.selected)

    def telegram(self, fcb: int) -> bytes:
        if self.last_fcb is not None and fcb != self.last_fcb:
            self.next = (self.next + 1) % len(self.telegrams)  # the master got the last one: move on
        self.last_fcb = fcb
        raw = bytearray(self.telegrams[self.next])
        raw[5] = self.primary if self.primary <= 250 else 0
        if raw[6] == 0x72:  # a variable data header: it says who the meter is
            raw[7:15] = secondary_octets(self.secondary)
        raw[-2] = checksum(bytes(raw[4:-2]))
        return bytes(raw)

    def reset(self) -> None:
        self.next, self.last_fcb = 0, None


class Segment:
    def __init__(self, meters: list[Meter], echo: bool, state: str | None) -> None:
        self.meters, self.echo, self.state_file = meters, echo, state
        self.requests = 0

    def save(self) -> None:
        if self.state_file:
            data = {"meters": [{"primary": m.primary, "secondary": m.secondary, "baud": m.baud,
                                "selected": m.selected} for m in self.meters], "requests": self.requests}
            with open(self.state_file + ".tmp", "w") as handle:
                json.dump(data, handle)
            os.replace(self.state_file + ".tmp", self.state_file)

    def handle(self, frame: bytes) -> bytes:
        """The master's frame; returns what the line carries back (b"" for silence)."""
        self.requests += 1
        if frame[0] == 0x10:
            control, address = frame[1], frame[2]
            if control == 0x40:  # SND_NKE: initialise; deselects when sent to the selected meter
                answering = [m for m in self.meters if m.addressed(address)]
                for meter in answering:
                    meter.reset()
                return self.collide([bytes((ACK,))] * len(answering))
            if control & 0xCF == 0x4B:  # REQ_UD2, FCB in bit 5
                answering = [m for m in self.meters if m.addressed(address)]
                return self.collide([m.telegram((control >> 5) & 1) for m in answering])
            return b""
        control, address, ci, data = frame[4], frame[5], frame[6], frame[7:-2]
        if control & 0xCF != 0x43:  # SND_UD only
            return b""
        if address == 0xFD and ci == 0x52 and len(data) == 8:  # select by secondary address
            answering = []
            for meter in self.meters:
                meter.selected = mask_matches(data, secondary_octets(meter.secondary))
                if meter.selected:
                    answering.append(bytes((ACK,)))
            self.save()
            return self.collide(answering)
        answering = [m for m in self.meters if m.addressed(address)]
        if ci == 0x51 and data[:2] == b"\x01\x7a" and len(data) == 3:
            for meter in answering:
                meter.primary = data[2]
        elif 0xB8 <= ci <= 0xBF:
            for meter in answering:
                meter.baud = 300 << (ci - 0xB8)
        elif ci == 0x50:
            for meter in answering:
                meter.reset()
        else:
            return b""
        self.save()
        return self.collide([bytes((ACK,))] * len(answering))

    @staticmethod
    def collide(answers: list[bytes]) -> bytes:
        """Two drivers on the M-Bus: the master reads neither. A real receiver sees framing errors and
        merged octets; here, one octet of each answer, ANDed and shifted, then the rest of the longest."""
        if len(answers) < 2:
            return answers[0] if answers else b""
        merged = bytearray(max(answers, key=len))
        for other in answers:
            for index, octet in enumerate(other):
                merged[index] &= (octet << 1) & 0xFF | 1
        return bytes(merged)


def frames_in(buffer: bytearray) -> list[bytes]:
    """Cut complete master frames off the front of ``buffer`` (garbage before them is dropped)."""
    out = []
    while buffer:
        if buffer[0] == 0x10:
            if len(buffer) < 5:
                break
            out.append(bytes(buffer[:5]))
            del buffer[:5]
        elif buffer[0] == 0x68:
            if len(buffer) < 4:
                break
            total = buffer[1] + 6
            if len(buffer) < total:
                break
            frame = bytes(buffer[:total])
            del buffer[:total]
            if frame[2] == frame[1] and frame[3] == 0x68 and frame[-1] == 0x16 and checksum(frame[4:-2]) == frame[-2]:
                out.append(frame)
        else:
            del buffer[:1]
    return out


def serve(path: str, meters: list[Meter], echo: bool, state: str | None, ready: str | None,
          delay: float = 0.003) -> None:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    segment = Segment(meters, echo, state)
    segment.save()
    if ready:
        with open(ready, "w") as handle:
            handle.write("ready\n")
    buffer = bytearray()
    while True:
        if not select.select([fd], [], [], 1.0)[0]:
            continue
        data = os.read(fd, 4096)
        if not data:
            time.sleep(0.05)
            continue
        if echo:
            os.write(fd, data)
        buffer += data
        for frame in frames_in(buffer):
            answer = segment.handle(frame)
            if answer:
                time.sleep(delay)  # a meter's turnaround
                os.write(fd, answer)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tty", required=True)
    parser.add_argument("--meters", required=True)
    parser.add_argument("--echo", action="store_true")
    parser.add_argument("--state")
    parser.add_argument("--ready")
    args = parser.parse_args()
    with open(args.meters) as handle:
        meters = [Meter(spec) for spec in json.load(handle)]
    serve(args.tty, meters, args.echo, args.state, args.ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
