"""M-Bus codec against libmbus: every corpus frame byte-identical, error frames, requests, receiver, fuzzing.

The corpus (``../shared/testdata/mbus``) is libmbus's test set (rSCADA / Raditex AB, BSD-3-Clause):
``NAME.xml`` is ``mbus-parse-hex NAME.hex``, ``NAME.norm.xml`` is ``mbus-parse-hex -n NAME.hex``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bacrouter.mbus import (
    Frame,
    FrameKind,
    FrameReceiver,
    MBusError,
    application_reset,
    bytes_from_hex,
    frame_xml,
    frame_xml_normalized,
    frames_xml,
    parse_frame,
    parse_payload,
    parse_secondary_mask,
    records_json,
    req_ud2,
    select_secondary,
    set_primary_address,
    snd_nke,
    switch_baudrate,
    xml_bytes,
)
from bacrouter.mbus.datatypes import bcd_value, time_point
from bacrouter.mbus.records import ErrorReport, VariableData

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "mbus"
FRAMES = sorted((CORPUS / "frames").glob("*.hex"))
ERROR_FRAMES = sorted((CORPUS / "error-frames").glob("*.hex"))


def load(path: Path) -> Frame:
    return parse_frame(bytes_from_hex(path.read_bytes()))


def test_the_corpus_is_there():
    assert len(FRAMES) >= 49, f"libmbus corpus not found under {CORPUS}"
    assert ERROR_FRAMES


# --------------------------------------------------------------------------- corpus: XML byte for byte


@pytest.mark.parametrize("path", FRAMES, ids=lambda p: p.stem)
def test_xml_is_identical_to_libmbus(path):
    assert xml_bytes(frame_xml(load(path))) == path.with_suffix(".xml").read_bytes()


@pytest.mark.parametrize("path", FRAMES, ids=lambda p: p.stem)
def test_normalized_xml_is_identical_to_libmbus(path):
    expected = path.with_name(path.stem + ".norm.xml").read_bytes()
    assert xml_bytes(frame_xml_normalized(load(path))) == expected


@pytest.mark.parametrize("path", FRAMES, ids=lambda p: p.stem)
def test_json_view_covers_every_record(path):
    frame = load(path)
    view = records_json(frame)
    payload = parse_payload(frame)
    assert view["type"] in ("variable", "fixed")
    if isinstance(payload, VariableData):
        assert len(view["records"]) == len(payload.records)
        assert view["more_records_follow"] == any(r.dif == 0x1F for r in payload.records)
        for record in view["records"]:
            assert record["value"] is None or isinstance(record["value"], float)


# --------------------------------------------------------------------------- error frames

# libmbus's mbus-parse-hex fails on these; the reason must say what and where
REJECTED = {
    "premature_end_of_data1": "premature end of record in the data: 3 bytes needed, 0 left",
    "premature_end_of_dif1": "premature end of record: DIFE announced by the extension bit",
    "too_long_var_vif": "plain-text VIF too long: 243 characters, at most 128",
    "too_many_dife": "more than 10 DIFE",
    "too_short_header": "variable data header too short: 12 bytes needed, 5 given",
}


@pytest.mark.parametrize("path", ERROR_FRAMES, ids=lambda p: p.stem)
def test_error_frames(path):
    expected_xml = path.with_suffix(".xml")
    if expected_xml.exists():  # an application error report (CI 0x70): libmbus prints it as XML
        frame = load(path)
        assert xml_bytes(frame_xml(frame)) == expected_xml.read_bytes()
        assert isinstance(parse_payload(frame), ErrorReport)
        with pytest.raises(MBusError, match="application error"):
            frame_xml_normalized(frame)
        assert records_json(frame)["type"] == "error"
        return
    with pytest.raises(MBusError) as caught:
        frame_xml(load(path))
    message = str(caught.value)
    assert REJECTED.get(path.stem, "") in message
    if path.stem != "too_short_header":
        assert "record " in message and "frame byte" in message  # located


def test_application_error_text():
    frame = load(CORPUS / "error-frames" / "application_busy.hex")
    assert records_json(frame)["error"] == {"code": 8, "text": "Application busy"}


# --------------------------------------------------------------------------- link layer


def test_requests_encode_as_on_the_wire():
    assert snd_nke(1) == bytes.fromhex("1040014116")
    assert req_ud2(5) == bytes.fromhex("107B058016")  # FCB set: first telegram
    assert req_ud2(5, fcb=False) == bytes.fromhex("105B056016")
    assert set_primary_address(1, 5) == bytes.fromhex("6806066853015101 7A05 2516".replace(" ", ""))
    assert switch_baudrate(1, 2400) == bytes.fromhex("680303685301BB0F16")
    assert switch_baudrate(0xFE, 300)[6] == 0xB8 and switch_baudrate(0xFE, 38400)[6] == 0xBF
    assert application_reset(1) == bytes.fromhex("680303685301 50A416".replace(" ", ""))
    assert application_reset(1, 0x10) == bytes.fromhex("6804046853015010B416")


def test_select_secondary_address_with_wildcards():
    assert select_secondary("14491001FFFFFFFF") == bytes.fromhex("680B0B6873FD52011049 14FFFFFFFF2C16".replace(" ", ""))
    assert select_secondary("14491001FFFFFFFF", fcb=False)[4] == 0x53
    assert parse_secondary_mask("1234FFFF2D2C0102") == bytes.fromhex("FFFF34122D2C0102")


def test_select_mask_takes_every_hex_digit():
    # manufacturer, version and medium are hex fields: a scan must be able to try A-F there
    assert parse_secondary_mask("12345678A1B2C3D4") == bytes.fromhex("78563412A1B2C3D4")
    assert parse_secondary_mask("abcdef01abcdef01") == bytes.fromhex("01efcdababcdef01")


@pytest.mark.parametrize("mask", ["1449100FFFFFFFF", "14491001FFFFFFFFF", "14491001FFFFFFFG", ""])
def test_bad_select_masks_are_refused(mask):
    with pytest.raises(MBusError, match="16 hex digits"):
        select_secondary(mask)


def test_bad_request_arguments_are_refused():
    with pytest.raises(MBusError, match="baud rate 1000"):
        switch_baudrate(1, 1000)
    with pytest.raises(MBusError, match="reserved"):
        set_primary_address(1, 0xFD)
    with pytest.raises(MBusError, match="outside 0..255"):
        snd_nke(256)


def test_requests_parse_back():
    frame = parse_frame(select_secondary("14491001FFFFFFFF"))
    assert frame == Frame(FrameKind.LONG, 0x73, 0xFD, 0x52, bytes.fromhex("01104914FFFFFFFF"))
    assert frame.from_master
    assert parse_frame(snd_nke(7)) == Frame(FrameKind.SHORT, 0x40, 7)
    assert parse_frame(switch_baudrate(3, 9600)).kind is FrameKind.CONTROL
    assert parse_frame(b"\xe5") == Frame(FrameKind.ACK)
    assert not parse_frame(b"\xe5").from_master


@pytest.mark.parametrize("raw, message", [
    ("", "no data"),
    ("104001 4216", "checksum (byte 3): expected 0x41, got 0x42"),
    ("1040014117", "stop byte (byte 4): expected 0x16, got 0x17"),
    ("1041014216", "control field (byte 1): 0x41"),
    ("10400141", "frame truncated: 5 bytes needed, 4 given"),
    ("104001411600", "1 byte(s) after the end of the frame"),
    ("680304685301BB0F16", "length fields differ: L=0x03 (byte 1) but L=0x04 (byte 2)"),
    ("680202685301BB0F16", "length field (byte 1): 0x02 is below 3"),
    ("680303675301BB0F16", "second start byte (byte 3): expected 0x68, got 0x67"),
    ("680303685301BB1016", "checksum (byte 7): expected 0x0F, got 0x10"),
    ("12", "start byte (byte 0): 0x12"),
    ("E500", "1 byte(s) after the end"),
])
def test_link_layer_errors_name_the_field(raw, message):
    with pytest.raises(MBusError) as caught:
        parse_frame(bytes.fromhex(raw.replace(" ", "")))
    assert message in str(caught.value)


def test_payload_errors():
    with pytest.raises(MBusError, match="master-to-slave"):
        parse_payload(parse_frame(select_secondary("FFFFFFFFFFFFFFFF")))
    with pytest.raises(MBusError, match="CI field .*0x51 is not implemented"):
        parse_payload(Frame(FrameKind.LONG, 0x08, 1, 0x51, b"\x01"))
    with pytest.raises(MBusError, match="ack frame"):
        frame_xml(Frame(FrameKind.ACK))
    with pytest.raises(MBusError, match="16 bytes expected, 3 given"):
        parse_payload(Frame(FrameKind.LONG, 0x08, 1, 0x73, b"\x01\x02\x03"))


def test_hex_files_are_read_like_mbus_hex2bin():
    assert bytes_from_hex("68 03\n03\t68  ") == bytes.fromhex("68030368")
    assert bytes_from_hex("E5") == b"\xe5"
    assert bytes_from_hex("10 4 01") == bytes.fromhex("100401")  # a lone digit is a byte
    assert bytes_from_hex("10 40 xx 01") == bytes.fromhex("1040")  # a non-hex character ends the input
    assert bytes_from_hex(b"104001") == bytes.fromhex("104001")  # pairs need no separator


def test_data_types():
    assert bcd_value(bytes.fromhex("785634F1")) == -1345678  # F in the top nibble: negative
    assert time_point(bytes.fromhex("100905C5")).datetime_text() == "1996-05-05T09:16:00"
    assert time_point(bytes.fromhex("0C15A822")).datetime_text(zulu=True) == "2021-02-08T21:12:00Z"
    assert time_point(bytes.fromhex("A115E917")).datetime_text() == "1900-01-00T00:00:00"  # invalid
    assert time_point(bytes.fromhex("FF0C")).date_text() == "2007-12-31"


# --------------------------------------------------------------------------- receiver

# libmbus corpus frame2: a variable data reply with DIFEs
REPLY = bytes.fromhex("681F1F68080272785634122440010755000000031315310 0DA023B13018B6004371802 1816".replace(" ", ""))


def frames_of(events):
    return [e for e in events if isinstance(e, Frame)]


def errors_of(events):
    return [e for e in events if isinstance(e, MBusError)]


def test_receiver_skips_garbage_and_reports_it():
    events = FrameReceiver().feed(b"\x00\xff\x33" + REPLY + b"\xe5")
    assert isinstance(events[0], MBusError) and "skipped 3 byte(s)" in str(events[0])
    assert frames_of(events) == [parse_frame(REPLY), Frame(FrameKind.ACK)]


def test_receiver_handles_split_delivery():
    receiver = FrameReceiver()
    events = []
    for octet in REPLY:
        events += receiver.feed(bytes((octet,)))
        if len(events) == 0:
            assert receiver.pending > 0
    assert events == [parse_frame(REPLY)]
    assert receiver.pending == 0


def test_receiver_drops_the_echo_of_our_request_when_asked():
    stream = req_ud2(2) + REPLY
    both = FrameReceiver().feed(stream)
    assert [f.from_master for f in frames_of(both)] == [True, False]
    assert FrameReceiver(drop_master_frames=True).feed(stream) == [parse_frame(REPLY)]


def test_receiver_reports_a_garbled_frame_and_resyncs():
    garbled = bytearray(REPLY)
    garbled[10] ^= 0x40  # a collision: the checksum no longer fits
    events = FrameReceiver().feed(bytes(garbled) + b"\xe5")
    assert "checksum" in str(errors_of(events)[0]) and "stream offset 0" in str(errors_of(events)[0])
    assert frames_of(events) == [Frame(FrameKind.ACK)]


def test_receiver_resyncs_inside_an_impossible_header():
    events = FrameReceiver().feed(b"\x68\x05\x07" + snd_nke(1))
    assert "length fields differ" in str(events[0])
    assert frames_of(events) == [parse_frame(snd_nke(1))]


def test_receiver_flush_reports_an_incomplete_frame():
    receiver = FrameReceiver()
    assert receiver.feed(REPLY[:10]) == []
    (error,) = receiver.flush()
    assert "incomplete frame at stream offset 0: 10 byte(s)" in str(error)
    assert receiver.pending == 0 and receiver.flush() == []


def test_receiver_finds_every_corpus_frame_in_one_stream():
    stream = b"".join(b"\x00" + bytes_from_hex(path.read_bytes()) for path in FRAMES)
    events = FrameReceiver().feed(stream)
    assert frames_of(events) == [load(path) for path in FRAMES]
    assert len(errors_of(events)) == len(FRAMES)  # one garbage byte before each


# --------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CORPUS_DATA = [load(path) for path in FRAMES]


def decode_all(frame: Frame) -> None:
    """Every decoder on a frame: MBusError is the only acceptable failure."""
    for render in (frame_xml, frame_xml_normalized, records_json):
        try:
            render(frame)
        except MBusError:
            pass


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_mbus_error(raw):
    try:
        frame = parse_frame(raw)
    except MBusError:
        return
    decode_all(frame)


@FUZZ
@given(st.sampled_from(CORPUS_DATA) if CORPUS_DATA else st.nothing(), st.data())
def test_mutated_corpus_frames_raise_only_mbus_error(frame, data):
    body = bytearray(frame.data)
    for _ in range(data.draw(st.integers(1, 6))):
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        where = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if action == "flip" and body:
            body[where] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert" and len(body) < 252:
            body.insert(where, data.draw(st.integers(0, 255)))
        elif action == "delete" and body:
            del body[where]
        elif action == "truncate":
            del body[where:]
    ci = data.draw(st.sampled_from([frame.ci, 0x70, 0x72, 0x73, 0x76, 0x77, 0x7A]))
    mutated = Frame(FrameKind.LONG, 0x08, frame.address, ci, bytes(body))
    decode_all(parse_frame(mutated.encode()))  # a valid link layer: the application layer is under test


@FUZZ
@given(st.binary(max_size=200), st.lists(st.integers(1, 40), max_size=20))
def test_receiver_never_raises_and_ignores_how_bytes_are_split(stream, cuts):
    whole = FrameReceiver().feed(stream)
    receiver, pieces, start = FrameReceiver(), [], 0
    for cut in cuts:
        pieces += receiver.feed(stream[start:start + cut])
        start += cut
    pieces += receiver.feed(stream[start:])
    assert frames_of(pieces) == frames_of(whole)  # garbage may be reported in more pieces, frames never change


@FUZZ
@given(st.sampled_from([0x53, 0x73, 0x08, 0x18, 0x28, 0x38]), st.integers(0, 255), st.integers(0, 255),
       st.binary(max_size=252))
def test_long_frames_round_trip(control, address, ci, data):
    frame = Frame(FrameKind.LONG if data else FrameKind.CONTROL, control, address, ci, data)
    assert parse_frame(frame.encode()) == frame


# --------------------------------------------------------------------------- application layer details

HEADER = bytes.fromhex("78563412 2D2C 01 07 2A 00 0000".replace(" ", ""))  # KAM, water, access 42


def reply(records: bytes, ci: int = 0x72, header: bytes = HEADER) -> Frame:
    return Frame(FrameKind.LONG, 0x08, 1, ci, header + records)


def test_text_from_the_meter_is_escaped_like_libmbus():
    # plain-text VIF "<a&b>" (sent reversed), string value "x\x01y" (sent reversed)
    frame = reply(b"\x0d\x7c\x05" + b">b&a<" + b"\x03" + b"y\x01x")
    xml = frame_xml(frame)
    assert "<Unit>&lt;a&amp;b&gt;</Unit>" in xml
    assert "<Value>x y</Value>" in xml


def test_multi_telegram_xml_numbers_records_across_frames():
    first = reply(bytes.fromhex("0413E8030000") + b"\x1f")
    second = reply(bytes.fromhex("0413D0070000"))
    xml = frames_xml([first, second], timestamp=86400)
    assert '<DataRecord id="0" frame="0">' in xml and '<DataRecord id="1" frame="0">' in xml
    assert '<DataRecord id="2" frame="1">' in xml
    assert xml.count("<SlaveInformation>") == 1
    assert "<Timestamp>1970-01-02T00:00:00Z</Timestamp>" in xml
    assert parse_payload(first).more_records_follow and not parse_payload(second).more_records_follow


def test_short_header_and_msb_first_variants():
    short_frame = Frame(FrameKind.LONG, 0x08, 1, 0x7A, bytes.fromhex("2A000000" "0413E8030000"))
    short = parse_payload(short_frame)
    assert short.header.ident is None and short.header.access_number == 42
    assert records_json(short_frame)["records"][0]["value"] == 1.0  # 1000 l in m^3
    msb = parse_payload(reply(bytes.fromhex("04130000 03E8".replace(" ", "")), ci=0x76,
                              header=bytes.fromhex("12345678 2C2D 01 07 2A 00 0000".replace(" ", ""))))
    assert msb.header.ident == 0x12345678 and msb.header.manufacturer_id == "KAM"
    assert msb.records[0].data == bytes.fromhex("E8030000")


def test_record_fields():
    # DIF 0xC4: storage bit, DIFE 0x9A: tariff 1, storage 10 -> 21, ext; DIFE 0x41: device 1, storage 1 -> +32
    (record,) = parse_payload(reply(bytes.fromhex("C49A4113E8030000"))).records
    assert (record.storage_number, record.tariff, record.device) == (1 | 10 << 1 | 1 << 5, 1, 2)
    assert record.function == "Instantaneous value"


def test_reserved_lvar_is_refused():
    with pytest.raises(MBusError, match="LVAR 0xFB is reserved"):
        parse_payload(reply(bytes.fromhex("0D13FB")))


# --------------------------------------------------------------------------- negative BCD (issue 10 item 7)


def long_reply(ci: int, data: bytes, address: int = 1) -> Frame:
    body = bytes((0x08, address, ci)) + data
    return parse_frame(bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16)))


VARIABLE_HEADER = bytes.fromhex("78563412 2440 01 07 55 00 0000")  # id 12345678, ABB, water

# one record per BCD width (DIF 09/0A/0B/0C/0E), each -18 with F as its most significant digit;
# VIF 0x13 is volume in litres (10^-3 m^3); the last: function "value during error state" (DIF 0x3B)
NEGATIVE_BCD = [
    (bytes.fromhex("0913 F8"), "-8"),
    (bytes.fromhex("0A13 18F0"), "-18"),
    (bytes.fromhex("0B13 1800F0"), "-18"),
    (bytes.fromhex("0C13 180000F0"), "-18"),
    (bytes.fromhex("0E13 18000000 00F0"), "-18"),
    (bytes.fromhex("0C13 785634F1"), "-1345678"),
]


def _negative_bcd_frame() -> Frame:
    data = VARIABLE_HEADER + b"".join(r for r, _ in NEGATIVE_BCD) + bytes.fromhex("3B13 1800F0")
    return long_reply(0x72, data)


def _values(xml: str) -> list[str]:
    return [line.strip()[len("<Value>"):-len("</Value>")] for line in xml.splitlines() if "<Value>" in line]


def test_negative_bcd_in_records_prints_like_libmbus():
    """libmbus (mbus_data_record_decode since 2021) prints BCD in decimal with its sign, except a
    "value during error state" (function 0x30), which it prints as hex digits."""
    frame = _negative_bcd_frame()
    assert _values(frame_xml(frame)) == [text for _, text in NEGATIVE_BCD] + ["F00018"]
    normalized_values = _values(frame_xml_normalized(frame))
    assert normalized_values == ["-0.008000", "-0.018000", "-0.018000", "-0.018000", "-0.018000", "-1345.678000",
                                 "-0.018000"]
    view = records_json(frame)
    assert [r["text"] for r in view["records"]] == [text for _, text in NEGATIVE_BCD] + ["F00018"]
    assert [r["value"] for r in view["records"]] == pytest.approx([-0.008, -0.018, -0.018, -0.018, -0.018,
                                                                   -1345.678, -0.018])


def test_positive_bcd_is_unchanged():
    frame = long_reply(0x72, VARIABLE_HEADER + bytes.fromhex("0C13 78563412 0A13 0900"))
    assert _values(frame_xml(frame)) == ["12345678", "9"]


def test_negative_bcd_counters_of_the_fixed_data_structure():
    """libmbus prints the fixed structure's counters as hex digits in its XML (kept, byte for byte), but
    decodes them as signed BCD (mbus_parse_fixed_record): the JSON view gives the number."""
    fixed = bytes.fromhex("93929190 10 00 05 69") + bytes.fromhex("180000F0") + bytes.fromhex("69000000")
    frame = long_reply(0x73, fixed)
    assert _values(frame_xml(frame)) == ["F0000018", "69"]
    assert [r["value"] for r in records_json(frame)["records"]] == [-18, 69]


@pytest.mark.parametrize("width", [1, 2, 3, 4, 6])
def test_bcd_value_every_width(width):
    digits = "0" * (2 * width - 2) + "18"
    assert bcd_value(bytes.fromhex(digits)[::-1]) == 18
    negative = "F" + digits[1:]  # one octet: "F8" is -8
    assert bcd_value(bytes.fromhex(negative)[::-1]) == -int(digits[1:])
