"""MS/TP frames (ASHRAE 135 clause 9, Addendum 135-2012an): CRCs, COBS, encoding.

A frame is ``55 FF type dest src len_hi len_lo hcrc`` followed, when the
length is not zero, by the data and its CRC-16 (least significant octet
first). Extended frames (types 32 and 33) carry the data COBS-encoded and
followed by a COBS-encoded CRC-32K of those encoded octets, every encoded
octet XOR 0x55, so the preamble can never appear inside them; their length
field is the encoded length minus two.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "FrameType",
    "Frame",
    "FrameError",
    "BROADCAST",
    "MAX_DATA",
    "MAX_EXTENDED_DATA",
    "crc8",
    "crc16",
    "crc32k",
    "cobs_encode",
    "cobs_decode",
    "encode_frame",
    "encode_extended_data",
    "decode_extended_data",
]

PREAMBLE = b"\x55\xff"
BROADCAST = 0xFF
#: largest data field of a standard frame, and largest NPDU an extended frame carries
MAX_DATA = 501
MAX_EXTENDED_DATA = 1497
HEADER_CRC_REMAINDER = 0x55
DATA_CRC_REMAINDER = 0xF0B8
CRC32K_REMAINDER = 0x0843323B
COBS_MASK = 0x55


class FrameError(ValueError):
    """Octets that are not a valid frame or frame field."""


class FrameType(IntEnum):
    TOKEN = 0
    POLL_FOR_MASTER = 1
    REPLY_TO_POLL_FOR_MASTER = 2
    TEST_REQUEST = 3
    TEST_RESPONSE = 4
    DATA_EXPECTING_REPLY = 5
    DATA_NOT_EXPECTING_REPLY = 6
    REPLY_POSTPONED = 7
    EXTENDED_DATA_EXPECTING_REPLY = 32
    EXTENDED_DATA_NOT_EXPECTING_REPLY = 33

    @classmethod
    def name_of(cls, value: int) -> str:
        try:
            return cls(value).name
        except ValueError:
            return f"PROPRIETARY_{value}" if value >= 128 else f"TYPE_{value}"


EXTENDED = frozenset({FrameType.EXTENDED_DATA_EXPECTING_REPLY, FrameType.EXTENDED_DATA_NOT_EXPECTING_REPLY})
EXPECTING_REPLY = frozenset({FrameType.DATA_EXPECTING_REPLY, FrameType.EXTENDED_DATA_EXPECTING_REPLY})


@dataclass(frozen=True, slots=True)
class Frame:
    """A received or to-be-sent frame; ``data`` is decoded (no COBS) for extended frames."""

    type: int
    destination: int
    source: int
    data: bytes = b""

    @property
    def expecting_reply(self) -> bool:
        return self.type in EXPECTING_REPLY

    def __repr__(self) -> str:
        extra = f" {len(self.data)} octets" if self.data else ""
        return f"<{FrameType.name_of(self.type)} {self.source}->{self.destination}{extra}>"


# --------------------------------------------------------------------------- CRCs (Annex G)


def _crc8_table() -> bytes:
    table = bytearray(256)
    for value in range(256):
        crc = value
        crc ^= (crc << 1) ^ (crc << 2) ^ (crc << 3) ^ (crc << 4) ^ (crc << 5) ^ (crc << 6) ^ (crc << 7)
        table[value] = ((crc & 0xFE) ^ ((crc >> 8) & 1)) & 0xFF
    return bytes(table)


_CRC8 = _crc8_table()


def crc8(data: bytes | bytearray | memoryview, crc: int = 0xFF) -> int:
    """The running header CRC (the octet sent is its ones' complement)."""
    table = _CRC8
    for octet in data:
        crc = table[crc ^ octet]
    return crc


def _crc16_table() -> list[int]:
    table = []
    for low in range(256):
        table.append((low << 8) ^ (low << 3) ^ (low << 12) ^ (low >> 4) ^ (low & 0x0F) ^ ((low & 0x0F) << 7))
    return [value & 0xFFFF for value in table]


_CRC16 = _crc16_table()


def crc16(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """The running data CRC (sent complemented, least significant octet first)."""
    table = _CRC16
    for octet in data:
        crc = (crc >> 8) ^ table[(crc ^ octet) & 0xFF]
    return crc


def _crc32k_table() -> list[int]:
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEB31D82E if crc & 1 else 0)
        table.append(crc)
    return table


_CRC32K = _crc32k_table()


def crc32k(data: bytes | bytearray | memoryview, crc: int = 0xFFFFFFFF) -> int:
    """CRC-32K (Koopman; CRC-32/MEF register), running value."""
    table = _CRC32K
    for octet in data:
        crc = (crc >> 8) ^ table[(crc ^ octet) & 0xFF]
    return crc


# --------------------------------------------------------------------------- COBS (XOR 0x55)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` and mask every octet with 0x55 (no trailing zero is appended)."""
    out = bytearray(1)  # room for the first code octet
    code_at, code, last_code = 0, 1, 0
    for octet in data:
        if octet:
            out.append(octet)
            code += 1
            if code != 0xFF:
                continue
        # a zero, or a full block of 254: close the block
        last_code = code
        out[code_at] = code
        code_at = len(out)
        out.append(0)
        code = 1
    if last_code == 0xFF and code == 1:
        del out[code_at]  # data ending with a full block needs no empty block after it
    else:
        out[code_at] = code
    return bytes(b ^ COBS_MASK for b in out)


def cobs_decode(encoded: bytes | bytearray | memoryview) -> bytes:
    """Undo :func:`cobs_encode`; raise FrameError on a broken code."""
    data = bytes(b ^ COBS_MASK for b in encoded)
    out = bytearray()
    position = 0
    length = len(data)
    while position < length:
        code = data[position]
        if code == 0:
            raise FrameError("COBS code octet of zero")
        end = position + code
        if end > length:
            raise FrameError("COBS block runs past the end of the data")
        out += data[position + 1 : end]
        position = end
        if code < 0xFF and position < length:
            out.append(0)
    return bytes(out)


def encode_extended_data(data: bytes) -> bytes:
    """The data field of an extended frame: COBS(data), then COBS of the CRC-32K of those encoded octets."""
    encoded = cobs_encode(data)
    crc = (~crc32k(encoded)) & 0xFFFFFFFF
    return encoded + cobs_encode(crc.to_bytes(4, "little"))


def decode_extended_data(field: bytes | bytearray | memoryview) -> bytes:
    """The NPDU inside an extended frame's data field; FrameError if it or its CRC-32K is bad."""
    field = bytes(field)
    # the CRC block is the last one: find where the data blocks end by walking the codes
    position, boundaries = 0, []
    while position < len(field):
        code = field[position] ^ COBS_MASK
        if code == 0:
            raise FrameError("COBS code octet of zero")
        boundaries.append(position)
        position += code
    if position != len(field) or not boundaries:
        raise FrameError("COBS blocks do not fill the data field")
    # the CRC-32K encodes to one block of 5 octets, or two when it contains a zero octet
    for split in reversed(boundaries):
        crc_bytes = cobs_decode(field[split:])
        if len(crc_bytes) == 4:
            if crc32k(field[:split] + crc_bytes) != CRC32K_REMAINDER:
                raise FrameError("CRC-32K mismatch")
            return cobs_decode(field[:split])
        if len(crc_bytes) > 4:
            break
    raise FrameError("no CRC-32K at the end of the extended frame")


# --------------------------------------------------------------------------- frames


def encode_header(frame_type: int, destination: int, source: int, length: int) -> bytes:
    header = bytes((frame_type, destination, source, length >> 8, length & 0xFF))
    return PREAMBLE + header + bytes(((~crc8(header)) & 0xFF,))


def encode_frame(frame: Frame) -> bytes:
    """The octets of ``frame`` on the wire (types 32 to 127 get a COBS data field, clause 9.3)."""
    if 32 <= frame.type <= 127:
        field = encode_extended_data(frame.data)
        return encode_header(frame.type, frame.destination, frame.source, len(field) - 2) + field
    if len(frame.data) > MAX_DATA:
        raise FrameError(f"{len(frame.data)} octets do not fit a standard frame (at most {MAX_DATA})")
    header = encode_header(frame.type, frame.destination, frame.source, len(frame.data))
    if not frame.data:
        return header
    crc = (~crc16(frame.data)) & 0xFFFF
    return header + frame.data + crc.to_bytes(2, "little")
