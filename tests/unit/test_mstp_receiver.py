"""The revised MS/TP receive machine (and the standard one it improves on), on simulated time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bacrouter.mstp.frame import Frame, FrameType, encode_frame
from bacrouter.mstp.receiver import Invalid, Received, Receiver, StandardReceiver

BAUD = 38400
BIT = 1 / BAUD
OCTET = 10 * BIT

ATTACK_A = bytes.fromhex("55ff80ff01001da3022b72fe55ff03080100 11a0ff55ff2101080009ced4f355ff00010800 00bf".replace(" ", ""))
ATTACK_B = bytes.fromhex("55ff80ff01001da3022bfedc55ff030a0100 11b1ff55ff21010a0009fd8a5155ff00010a00 008c".replace(" ", ""))


def feed(receiver, octets: bytes, start: float, gaps: dict[int, float] | None = None) -> tuple[list, float]:
    """Octets back-to-back from ``start`` (time the first begins), with extra idle before chosen indexes."""
    events, t = [], start
    for index, octet in enumerate(octets):
        t += (gaps or {}).get(index, 0.0) + OCTET
        event = receiver.feed_octet(octet, t)
        if event is not None:
            events.append(event)
    return events, t


def frames(events) -> list[Frame]:
    return [e.frame for e in events if isinstance(e, Received)]


TOKEN = encode_frame(Frame(FrameType.TOKEN, 2, 1))
DATA = encode_frame(Frame(FrameType.DATA_NOT_EXPECTING_REPLY, 0xFF, 3, bytes.fromhex("0120ffff00ff1008")))


def test_frames_back_to_back_are_all_received():
    receiver = Receiver(BAUD)
    events, _ = feed(receiver, TOKEN + DATA + TOKEN, 0.0)
    assert frames(events) == [Frame(0, 2, 1), Frame(6, 0xFF, 3, bytes.fromhex("0120ffff00ff1008")), Frame(0, 2, 1)]
    assert receiver.counters["valid_frames"] == 3


def test_burst_feeding_spreads_octets_back_to_back():
    receiver = Receiver(BAUD)
    events = receiver.feed(TOKEN + DATA, end=1.0)
    assert len(frames(events)) == 2
    assert events[0].end == pytest.approx(1.0 - len(DATA) * OCTET)


def test_one_pad_octet_after_a_frame_is_allowed():
    # clause 9.3: a frame may be followed by one X'FF'; the next frame may then start without idle
    receiver = Receiver(BAUD)
    events, _ = feed(receiver, DATA + b"\xff" + TOKEN, 0.0, gaps={len(DATA) + 1: 30 * BIT})
    assert frames(events) == [Frame(FrameType.DATA_NOT_EXPECTING_REPLY, 0xFF, 3, bytes.fromhex("0120ffff00ff1008")),
                              Frame(FrameType.TOKEN, 2, 1)]
    assert not [e for e in events if isinstance(e, Invalid)] and receiver.counters["pad"] == 1
    # ... but only one: a second FF is noise, and what follows needs idle first
    events, _ = feed(Receiver(BAUD), DATA + b"\xff\xff" + TOKEN, 0.0)
    assert len(frames(events)) == 1 and any(isinstance(e, Invalid) for e in events)


def test_frame_types_up_to_127_are_cobs_encoded_both_ways():
    # RFC 8163 (IPv6 over MS/TP) uses type 34: what we capture or send must be what the wire carries
    frame = Frame(34, 5, 3, bytes(range(256)) * 3)
    octets = encode_frame(frame)
    assert len(octets) < 8 + 3 * 256 + 4 + 8  # a COBS field and CRC-32K, not a CRC-16 frame
    events, _ = feed(Receiver(BAUD), octets, 0.0)
    assert frames(events) == [frame]


def test_a_gap_over_20_bit_times_aborts_the_frame():
    receiver = Receiver(BAUD)
    events, _ = feed(receiver, DATA, 0.0, gaps={9: 20 * BIT})  # exactly 20: still one frame
    assert len(frames(events)) == 1
    events, _ = feed(receiver, DATA, 1.0, gaps={9: 21 * BIT})
    assert frames(events) == [] and [e.reason for e in events if isinstance(e, Invalid)] == ["abort"]


def test_after_an_error_the_rest_of_the_traffic_is_ignored_until_the_line_is_idle():
    receiver = Receiver(BAUD)
    broken = bytearray(DATA)
    broken[4] ^= 0x01  # header CRC error
    # a token hidden right behind it, with less than 33 bit times of idle, is not believed ...
    events, t = feed(receiver, bytes(broken) + TOKEN, 0.0, gaps={len(broken): 30 * BIT})
    assert frames(events) == [] and receiver.counters["header_crc_errors"] == 1
    # ... after 33 bit times of idle the next frame is
    events, _ = feed(receiver, TOKEN, t, gaps={0: 33 * BIT})
    assert frames(events) == [Frame(0, 2, 1)]


def test_noise_between_frames_needs_idle_before_a_frame():
    receiver = Receiver(BAUD)
    events, t = feed(receiver, b"\x00\x13" + TOKEN, 0.0)
    assert frames(events) == []
    events, _ = feed(receiver, TOKEN, t, gaps={0: 40 * BIT})
    assert frames(events) == [Frame(0, 2, 1)]


def test_truncated_frame_is_aborted_by_poll():
    receiver = Receiver(BAUD)
    _, t = feed(receiver, DATA[:10], 0.0)
    assert receiver.poll(t + 20 * BIT) == []
    [event] = receiver.poll(t + 21 * BIT)
    assert isinstance(event, Invalid) and event.reason == "abort"


def test_data_crc_error():
    broken = bytearray(DATA)
    broken[10] ^= 0x40
    events, _ = feed(Receiver(BAUD), bytes(broken), 0.0)
    assert [e.reason for e in events] == ["data_crc"]


def test_extended_frames_are_decoded_and_short_extended_headers_rejected():
    npdu = bytes(range(256)) * 3
    wire = encode_frame(Frame(FrameType.EXTENDED_DATA_NOT_EXPECTING_REPLY, 0xFF, 9, npdu))
    events, _ = feed(Receiver(BAUD), wire, 0.0)
    assert frames(events) == [Frame(33, 0xFF, 9, npdu)]
    # the attack's hidden header: type 33 with a length no extended frame can have
    events, _ = feed(Receiver(BAUD), bytes.fromhex("55ff2101080009ce"), 0.0)
    assert [e.reason for e in events] == ["bad_length"]


def test_standard_frames_longer_than_501_are_invalid():
    header = bytes.fromhex("55ff06ff03") + (502).to_bytes(2, "big")
    from bacrouter.mstp.frame import crc8

    header += bytes([(~crc8(header[2:])) & 0xFF])
    events, _ = feed(Receiver(BAUD), header, 0.0)
    assert [e.reason for e in events] == ["bad_length"]


def lose_sync_in(frame: bytes) -> bytes:
    """The frame as a receiver sees it when noise corrupts its header."""
    corrupted = bytearray(frame)
    corrupted[3] ^= 0x20
    return bytes(corrupted)


def test_attack_frame_cannot_lead_the_revised_machine_astray():
    receiver = Receiver(BAUD)
    events, _ = feed(receiver, lose_sync_in(ATTACK_A), 0.0)
    hidden = [f for f in frames(events)]
    assert hidden == [], hidden
    assert receiver.counters["header_crc_errors"] == 1


def test_attack_frame_leads_the_standard_machine_astray():
    legacy = StandardReceiver(BAUD, this_station=8)
    events, _ = feed(legacy, lose_sync_in(ATTACK_A), 0.0)
    # it finds the Test-Request hidden in the data, addressed to node 8
    assert Frame(FrameType.TEST_REQUEST, 8, 1, ATTACK_A[20:37]) in frames(events)


def test_both_machines_receive_the_attack_frames_when_in_sync():
    for receiver in (Receiver(BAUD), StandardReceiver(BAUD, this_station=10)):
        events, t = feed(receiver, ATTACK_A, 0.0)
        events2, _ = feed(receiver, ATTACK_B, t, gaps={0: 40 * BIT})
        assert [f.type for f in frames(events + events2)] == [0x80, 0x80]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.lists(st.floats(0, 60), max_size=200))
def test_random_octets_never_raise_and_a_clean_frame_after_idle_is_received(noise, gaps):
    receiver = Receiver(BAUD)
    _, t = feed(receiver, noise, 0.0, gaps={i: g * BIT for i, g in enumerate(gaps)})
    receiver.poll(t + 100 * BIT)
    events, _ = feed(receiver, TOKEN, t, gaps={0: 100 * BIT})
    assert frames(events) == [Frame(0, 2, 1)]
