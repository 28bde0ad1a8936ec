"""MS/TP codec against every vector of ../shared/testdata/mstp/vectors.md."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bacrouter.mstp.frame import (
    Frame,
    FrameError,
    FrameType,
    cobs_decode,
    cobs_encode,
    crc8,
    crc16,
    crc32k,
    decode_extended_data,
    encode_extended_data,
    encode_frame,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_header_crc_running_values_and_remainder():
    running, crc = [], 0xFF
    for octet in h("00 10 05 00 00"):
        crc = crc8(bytes([octet]), crc)
        running.append(crc)
    assert running == [0x55, 0xC2, 0xBC, 0x95, 0x73]
    assert (~crc) & 0xFF == 0x8C
    assert crc8(h("00 10 05 00 00 8C")) == 0x55
    assert encode_frame(Frame(FrameType.TOKEN, 16, 5)) == h("55 FF 00 10 05 00 00 8C")


@pytest.mark.parametrize("header, sent", [("00 00 07 00 00", 0x37), ("00 07 00 00 00", 0x40),
                                          ("01 00 07 00 00", 0xB1), ("01 07 00 00 00", 0xC6)])
def test_header_crc_vectors(header, sent):
    assert (~crc8(h(header))) & 0xFF == sent


def test_data_crc():
    running, crc = [], 0xFFFF
    for octet in h("01 22 30"):
        crc = crc16(bytes([octet]), crc)
        running.append(crc)
    assert running == [0x1E0E, 0xEB70, 0x42EF]
    assert ((~crc) & 0xFFFF).to_bytes(2, "little") == h("10 BD")
    assert crc16(h("01 22 30 10 BD")) == 0xF0B8
    assert encode_frame(Frame(FrameType.DATA_NOT_EXPECTING_REPLY, 0, 7, h("01 00"))) == \
        h("55 FF 06 00 07 00 02 D9 01 00 9F 16")


def test_crc32k():
    assert crc32k(b"123456789") == 0xD2C22F51
    sent = ((~0xD2C22F51) & 0xFFFFFFFF).to_bytes(4, "little")
    assert sent == h("AE D0 3D 2D")
    assert crc32k(b"123456789" + sent) == 0x0843323B


@pytest.mark.parametrize("data, encoded", [
    ("00", "54 54"), ("01", "57 54"), ("55", "57 00"), ("00 00", "54 54 54"),
    ("11 22 00 33 00 55", "56 44 77 57 66 57 00"),
    ("01 20 FF FF 00 FF 10 08", "50 54 75 AA AA 51 AA 45 5D"),
])
def test_cobs(data, encoded):
    assert cobs_encode(h(data)) == h(encoded)
    assert cobs_decode(h(encoded)) == h(data)


@pytest.mark.parametrize("data, field", [
    ("00", "54 54 50 DB 82 0F 0F"), ("01", "57 54 50 25 A2 BF 62"), ("55", "57 00 50 C1 82 1B B4"),
    ("00 00", "54 54 54 50 A2 A6 94 CD"),
    ("11 22 00 33 00 55", "56 44 77 57 66 57 00 50 88 76 6C F2"),
    ("01 20 FF FF 00 FF 10 08", "50 54 75 AA AA 51 AA 45 5D 50 AA 28 CC 04"),
])
def test_extended_data_field(data, field):
    assert encode_extended_data(h(data)) == h(field)
    assert decode_extended_data(h(field)) == h(data)
    frame = encode_frame(Frame(FrameType.EXTENDED_DATA_NOT_EXPECTING_REPLY, 1, 2, h(data)))
    assert int.from_bytes(frame[5:7], "big") == len(h(field)) - 2


def test_cobs_block_boundaries():
    full = cobs_encode(bytes([1]) * 254)
    assert len(full) == 255 and full[0] ^ 0x55 == 0xFF
    over = cobs_encode(bytes([1]) * 255)
    assert len(over) == 257 and over[0] ^ 0x55 == 0xFF and over[255] ^ 0x55 == 0x02
    for size in (253, 254, 255, 508, 509, 1497):
        assert cobs_decode(cobs_encode(bytes([7]) * size)) == bytes([7]) * size


@pytest.mark.parametrize("frame, wire", [
    (Frame(FrameType.TOKEN, 2, 1), "55 FF 00 02 01 00 00 73"),
    (Frame(FrameType.POLL_FOR_MASTER, 2, 1), "55 FF 01 02 01 00 00 F5"),
    (Frame(FrameType.REPLY_TO_POLL_FOR_MASTER, 1, 2), "55 FF 02 01 02 00 00 4F"),
    (Frame(FrameType.DATA_NOT_EXPECTING_REPLY, 0xFF, 3, h("01 20 FF FF 00 FF 10 08")),
     "55 FF 06 FF 03 00 08 B6 01 20 FF FF 00 FF 10 08 15 B6"),
])
def test_frame_vectors(frame, wire):
    assert encode_frame(frame) == h(wire)


def test_attack_frames_are_valid_proprietary_frames():
    for wire in ("55 ff 80 ff 01 00 1d a3 02 2b 72 fe 55 ff 03 08 01 00 11 a0 ff 55 ff 21 01 08 00 09 ce d4 f3 55 ff 00 01 08 00 00 bf",
                 "55 ff 80 ff 01 00 1d a3 02 2b fe dc 55 ff 03 0a 01 00 11 b1 ff 55 ff 21 01 0a 00 09 fd 8a 51 55 ff 00 01 0a 00 00 8c"):
        octets = h(wire)
        length = int.from_bytes(octets[5:7], "big")
        assert len(octets) == 8 + length + 2 and crc8(octets[2:8]) == 0x55 and crc16(octets[8:]) == 0xF0B8
        assert encode_frame(Frame(0x80, 0xFF, 1, octets[8:8 + length])) == octets


def test_standard_frames_are_limited_to_501_octets():
    with pytest.raises(FrameError):
        encode_frame(Frame(FrameType.DATA_EXPECTING_REPLY, 1, 2, bytes(502)))


@given(st.binary(max_size=1600))
def test_extended_round_trip(data):
    field = encode_extended_data(data)
    assert 0x55 not in field  # COBS leaves no zero octet, and the 0x55 mask turns zero into the preamble octet
    assert decode_extended_data(field) == data


@given(st.binary(min_size=1, max_size=64), st.integers(0, 63), st.integers(1, 255))
def test_corrupted_extended_data_is_detected(data, position, flip):
    field = bytearray(encode_extended_data(data))
    field[position % len(field)] ^= flip
    with pytest.raises(FrameError):
        decode_extended_data(bytes(field))
