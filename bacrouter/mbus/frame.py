"""M-Bus link layer (EN 13757-2): the four frame formats, their checks, and the requests a master sends.

Frames are plain values; :func:`parse_frame` validates one complete frame and :meth:`Frame.encode`
builds the bytes (length fields and checksum are computed, never stored).  The request builders
return ready-to-send bytes for the tools (scan, read, select, set address, switch baud rate).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "ACK_BYTE", "ADDRESS_NETWORK", "BAUD_RATES", "Frame", "FrameKind", "MBusError",
    "application_reset", "bytes_from_hex", "checksum", "decode_frame", "frame_length", "parse_frame",
    "parse_secondary_mask",
    "req_ud2", "select_secondary", "set_primary_address", "snd_nke", "switch_baudrate",
]

ACK_BYTE = 0xE5
SHORT_START = 0x10
LONG_START = 0x68
STOP = 0x16
START_BYTES = frozenset((ACK_BYTE, SHORT_START, LONG_START))

# control field (C)
C_SND_NKE = 0x40
C_SND_UD = 0x53
C_REQ_UD1 = 0x5A
C_REQ_UD2 = 0x5B
C_RSP_UD = 0x08
FCB = 0x20  # frame count bit (master to slave)
DIR_MASTER = 0x40  # direction bit: set in every master-to-slave frame

# address field (A)
ADDRESS_NETWORK = 0xFD  # the slave selected by secondary address
ADDRESS_BROADCAST_REPLY = 0xFE
ADDRESS_BROADCAST = 0xFF

# control information (CI) of master requests
CI_APPLICATION_RESET = 0x50
CI_DATA_SEND = 0x51
CI_SELECT = 0x52
CI_BAUD_300 = 0xB8

BAUD_RATES = tuple(300 << k for k in range(8))  # 300 ... 38400, CI 0xB8 ... 0xBF

# the control codes libmbus accepts: a frame with any other is treated as garbled
SHORT_CONTROLS = frozenset((C_SND_NKE, C_REQ_UD1, C_REQ_UD1 | FCB, C_REQ_UD2, C_REQ_UD2 | FCB))
LONG_CONTROLS = frozenset((C_SND_UD, C_SND_UD | FCB, C_RSP_UD, C_RSP_UD | 0x10, C_RSP_UD | 0x20, C_RSP_UD | 0x30))


class MBusError(ValueError):
    """A frame or payload that cannot be decoded; the message names the field, where, and expected vs got."""


class FrameKind(enum.Enum):
    ACK = "ack"
    SHORT = "short"
    CONTROL = "control"
    LONG = "long"


@dataclass(frozen=True)
class Frame:
    """One link-layer frame.  ``data`` is the user data after CI (long frames only)."""

    kind: FrameKind
    control: int = 0
    address: int = 0
    ci: int = 0
    data: bytes = b""

    @property
    def from_master(self) -> bool:
        """True for requests (an echo of our own transmission on a line that echoes)."""
        return self.kind is not FrameKind.ACK and bool(self.control & DIR_MASTER)

    def encode(self) -> bytes:
        if self.kind is FrameKind.ACK:
            return bytes((ACK_BYTE,))
        if self.kind is FrameKind.SHORT:
            return bytes((SHORT_START, self.control, self.address, checksum((self.control, self.address)), STOP))
        if self.kind is FrameKind.CONTROL and self.data:
            raise MBusError("a control frame carries no data; use FrameKind.LONG")
        body = bytes((self.control, self.address, self.ci)) + self.data
        if len(body) > 255:
            raise MBusError(f"long frame data of {len(self.data)} bytes exceeds the maximum of 252")
        return bytes((LONG_START, len(body), len(body), LONG_START)) + body + bytes((checksum(body), STOP))


def checksum(octets: bytes | tuple[int, ...]) -> int:
    """Arithmetic sum without carry over C, A, CI and data."""
    return sum(octets) & 0xFF


# --------------------------------------------------------------------------- parsing


def frame_length(buf: bytes | bytearray) -> int | None:
    """Total length of the frame starting at ``buf[0]``; None while the header is incomplete.

    Raises MBusError when the header already shows it is no frame (a receiver then resyncs one byte later).
    """
    start = buf[0]
    if start == ACK_BYTE:
        return 1
    if start == SHORT_START:
        return 5
    if start != LONG_START:
        raise MBusError(f"start byte (byte 0): 0x{start:02X} is none of E5 (ACK), 10 (short), 68 (long)")
    if len(buf) < 4:
        return None
    l1, l2 = buf[1], buf[2]
    if l1 != l2:
        raise MBusError(f"length fields differ: L=0x{l1:02X} (byte 1) but L=0x{l2:02X} (byte 2)")
    if l1 < 3:
        raise MBusError(f"length field (byte 1): 0x{l1:02X} is below 3 (C, A and CI are always present)")
    if buf[3] != LONG_START:
        raise MBusError(f"second start byte (byte 3): expected 0x68, got 0x{buf[3]:02X}")
    return l1 + 6


def decode_frame(raw: bytes) -> Frame:
    """Check a buffer holding exactly one frame (as sized by :func:`frame_length`) and decode it."""
    if raw[0] == ACK_BYTE:
        return Frame(FrameKind.ACK)
    last = len(raw) - 1
    if raw[last] != STOP:
        raise MBusError(f"stop byte (byte {last}): expected 0x16, got 0x{raw[last]:02X}")
    body = raw[1:3] if raw[0] == SHORT_START else raw[4:-2]
    expected = checksum(body)
    if raw[-2] != expected:
        raise MBusError(f"checksum (byte {last - 1}): expected 0x{expected:02X}, got 0x{raw[-2]:02X}")
    if raw[0] == SHORT_START:
        if body[0] not in SHORT_CONTROLS:
            raise MBusError(f"control field (byte 1): 0x{body[0]:02X} is not a short-frame control code "
                            "(SND_NKE 40, REQ_UD1 5A/7A, REQ_UD2 5B/7B)")
        return Frame(FrameKind.SHORT, body[0], body[1])
    if body[0] not in LONG_CONTROLS:
        raise MBusError(f"control field (byte 4): 0x{body[0]:02X} is not a long-frame control code "
                        "(SND_UD 53/73, RSP_UD 08/18/28/38)")
    kind = FrameKind.CONTROL if len(body) == 3 else FrameKind.LONG
    return Frame(kind, body[0], body[1], body[2], bytes(body[3:]))


def parse_frame(raw: bytes) -> Frame:
    """Decode a buffer that holds exactly one frame (a file, a captured reply)."""
    if not raw:
        raise MBusError("no data: a frame needs at least one byte")
    total = frame_length(raw)
    if total is None or len(raw) < total:
        needed = 4 if total is None else total
        raise MBusError(f"frame truncated: {needed} bytes needed, {len(raw)} given")
    if len(raw) > total:
        raise MBusError(f"{len(raw) - total} byte(s) after the end of the frame (byte {total} on)")
    return decode_frame(bytes(raw))


_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_C_SPACE = frozenset(b" \t\n\v\f\r")


def bytes_from_hex(text: str | bytes) -> bytes:
    """Hex text to bytes the way libmbus's ``mbus_hex2bin`` reads a ``.hex`` file.

    Whitespace between byte pairs is skipped; a pair is read as two characters (a lone digit before
    whitespace counts as one byte); the first character that is no hex digit ends the input.
    """
    src = text.encode("latin-1", "replace") if isinstance(text, str) else bytes(text)
    out = bytearray()
    i = 0
    while i < len(src):
        if src[i] in _C_SPACE:
            i += 1
            continue
        pair = src[i:i + 2]
        i += 2
        digits = 0
        while digits < len(pair) and pair[digits] in _HEX_DIGITS:
            digits += 1
        if not digits:
            break
        out.append(int(pair[:digits], 16))
    return bytes(out)


# --------------------------------------------------------------------------- requests


def _check_address(address: int, what: str = "primary address") -> None:
    if not 0 <= address <= 0xFF:
        raise MBusError(f"{what} {address} is outside 0..255")


def snd_nke(address: int) -> bytes:
    """SND_NKE (link reset): the primary-scan probe, answered by a single ACK; also resets the FCB."""
    _check_address(address)
    return Frame(FrameKind.SHORT, C_SND_NKE, address).encode()


def req_ud2(address: int, fcb: bool = True) -> bytes:
    """REQ_UD2 (request class 2 data).  Toggle ``fcb`` between telegrams of a multi-telegram read."""
    _check_address(address)
    return Frame(FrameKind.SHORT, C_REQ_UD2 | (FCB if fcb else 0), address).encode()


def parse_secondary_mask(mask: str) -> bytes:
    """The 8 select bytes for a 16-hex-digit secondary address mask (libmbus's string form).

    Digits 0-7: identification number, most significant digit first (sent as BCD, LSB first); an F
    digit is a wildcard nibble.  Digits 8-11: manufacturer, 12-13: version, 14-15: medium, each as
    the bytes appear in the frame (libmbus order); FF there is a wildcard byte.
    """
    if len(mask) != 16 or any(c not in "0123456789abcdefABCDEF" for c in mask):
        raise MBusError(f"secondary address mask {mask!r}: need exactly 16 hex digits "
                        "(8 ID, 4 manufacturer, 2 version, 2 medium; F = wildcard)")
    return bytes.fromhex(mask[:8])[::-1] + bytes.fromhex(mask[8:16])


def select_secondary(mask: str, fcb: bool = True) -> bytes:
    """SND_UD to address 253 with CI 0x52: select the slave(s) matching ``mask``.

    libmbus sends C=0x73 (FCB set); ``fcb=False`` gives 0x53.  Matching slaves answer with an ACK
    (several at once collide into a garbled reply).
    """
    data = parse_secondary_mask(mask)
    return Frame(FrameKind.LONG, C_SND_UD | (FCB if fcb else 0), ADDRESS_NETWORK, CI_SELECT, data).encode()


def set_primary_address(address: int, new_address: int) -> bytes:
    """SND_UD CI 0x51 with the record ``01 7A nn``: give the slave at ``address`` a new primary address."""
    _check_address(address)
    _check_address(new_address, "new primary address")
    if new_address >= ADDRESS_NETWORK:
        raise MBusError(f"new primary address {new_address} is reserved (253 select, 254/255 broadcast)")
    return Frame(FrameKind.LONG, C_SND_UD, address, CI_DATA_SEND, bytes((0x01, 0x7A, new_address))).encode()


def switch_baudrate(address: int, baud: int) -> bytes:
    """Control frame with CI 0xB8+k asking the slave to switch to 300·2^k baud (it ACKs at the old rate)."""
    _check_address(address)
    if baud not in BAUD_RATES:
        raise MBusError(f"baud rate {baud} is not one of {', '.join(map(str, BAUD_RATES))}")
    return Frame(FrameKind.CONTROL, C_SND_UD, address, CI_BAUD_300 + BAUD_RATES.index(baud)).encode()


def application_reset(address: int, subcode: int | None = None) -> bytes:
    """SND_UD CI 0x50 (application reset), optionally with a one-byte subcode."""
    _check_address(address)
    if subcode is None:
        return Frame(FrameKind.CONTROL, C_SND_UD, address, CI_APPLICATION_RESET).encode()
    if not 0 <= subcode <= 0xFF:
        raise MBusError(f"application reset subcode {subcode} is outside 0..255")
    return Frame(FrameKind.LONG, C_SND_UD, address, CI_APPLICATION_RESET, bytes((subcode,))).encode()
