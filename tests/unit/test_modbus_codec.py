"""Our Modbus codec against pymodbus's framers and PDUs (the reference), and against garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.framer import FramerAscii, FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU
from pymodbus.pdu import bit_message as bits
from pymodbus.pdu import register_message as regs

from bacrouter.modbus.codec import (
    AsciiReceiver,
    DecodeError,
    ModbusException,
    Request,
    RtuReceiver,
    TcpReceiver,
    ascii_frame,
    decode_response,
    encode_request,
    rtu_frame,
    tcp_frame,
)

CASES = [
    (Request(1, 19, 37), bits.ReadCoilsRequest(address=19, count=37, dev_id=7)),
    (Request(2, 0, 2000), bits.ReadDiscreteInputsRequest(address=0, count=2000, dev_id=7)),
    (Request(3, 40, 125), regs.ReadHoldingRegistersRequest(address=40, count=125, dev_id=7)),
    (Request(4, 65534, 2), regs.ReadInputRegistersRequest(address=65534, count=2, dev_id=7)),
    (Request(5, 9, 1, (1,)), bits.WriteSingleCoilRequest(address=9, bits=[True], dev_id=7)),
    (Request(6, 9, 1, (0xBEEF,)), regs.WriteSingleRegisterRequest(address=9, registers=[0xBEEF], dev_id=7)),
    (Request(15, 20, 10, (1, 0, 1, 1, 0, 0, 1, 0, 1, 1)),
     bits.WriteMultipleCoilsRequest(address=20, bits=[True, False, True, True, False, False, True, False, True, True],
                                    dev_id=7)),
    (Request(16, 100, 3, (1, 2, 0xFFFF)), regs.WriteMultipleRegistersRequest(address=100, registers=[1, 2, 0xFFFF],
                                                                            dev_id=7)),
]


@pytest.mark.parametrize("ours, theirs", CASES, ids=[str(c[0].function) for c in CASES])
def test_requests_match_pymodbus_in_every_framing(ours, theirs):
    pdu = encode_request(ours)
    assert rtu_frame(7, pdu) == FramerRTU(DecodePDU(False)).buildFrame(theirs)
    assert ascii_frame(7, pdu) == FramerAscii(DecodePDU(False)).buildFrame(theirs)
    theirs.transaction_id = 4660
    assert tcp_frame(4660, 7, pdu) == FramerSocket(DecodePDU(False)).buildFrame(theirs)


def pymodbus_answer(response, framer=FramerRTU) -> bytes:
    response.dev_id = 7
    return framer(DecodePDU(True)).buildFrame(response)


def test_pymodbus_answers_decode():
    request = Request(3, 40, 3)
    frame = pymodbus_answer(regs.ReadHoldingRegistersResponse(registers=[1, 2, 0xFFFF]))
    receiver = RtuReceiver(7, request)
    assert receiver.feed(frame[:4]) is None
    pdu = receiver.feed(frame[4:])
    assert decode_response(request, pdu).values == (1, 2, 0xFFFF)
    coils = Request(1, 0, 10)
    answer = bits.ReadCoilsResponse(bits=[True, False, True] + [False] * 5 + [True, True])
    pdu = RtuReceiver(7, coils).feed(pymodbus_answer(answer))
    assert decode_response(coils, pdu).values == (1, 0, 1, 0, 0, 0, 0, 0, 1, 1)
    ascii_pdu = AsciiReceiver(7, request).feed(pymodbus_answer(regs.ReadHoldingRegistersResponse(registers=[5, 6, 7]),
                                                               FramerAscii))
    assert decode_response(request, ascii_pdu).values == (5, 6, 7)
    [(tid, unit, tcp_pdu)] = TcpReceiver().feed(pymodbus_answer(regs.ReadHoldingRegistersResponse(
        registers=[8, 9, 10], transaction_id=33), FramerSocket))
    assert (tid, unit, decode_response(request, tcp_pdu).values) == (33, 7, (8, 9, 10))


def test_exception_responses():
    request = Request(3, 40, 3)
    with pytest.raises(ModbusException) as info:
        decode_response(request, bytes([0x83, 0x02]))
    assert info.value.code == 2 and "illegal data address" in str(info.value)
    pdu = RtuReceiver(7, request).feed(rtu_frame(7, bytes([0x83, 0x02])))
    assert pdu == bytes([0x83, 0x02])


def test_noise_before_the_answer_is_skipped_and_wrong_answers_refused():
    request = Request(4, 0, 1)
    good = rtu_frame(7, bytes([4, 2, 0x12, 0x34]))
    assert RtuReceiver(7, request).feed(b"\x00\xff" + good) == bytes([4, 2, 0x12, 0x34])
    with pytest.raises(DecodeError):
        RtuReceiver(7, request).feed(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(DecodeError):
        RtuReceiver(7, request).feed(rtu_frame(8, bytes([4, 2, 0, 0])))
    with pytest.raises(DecodeError):
        decode_response(request, bytes([3, 2, 0, 0]))  # another function
    with pytest.raises(DecodeError):
        decode_response(request, bytes([4, 4, 0, 0, 0, 0]))  # two registers for one
    with pytest.raises(DecodeError):
        decode_response(Request(6, 9, 1, (1,)), bytes([6, 0, 8, 0, 1]))  # echo of another address


def test_request_limits():
    for bad in (dict(function=3, address=0, count=126), dict(function=1, address=0, count=0),
                dict(function=3, address=65535, count=2), dict(function=3, address=70000, count=1)):
        with pytest.raises(ValueError):
            Request(**bad)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([Request(1, 0, 16), Request(3, 0, 4), Request(6, 3, 1, (7,)), Request(16, 0, 2, (1, 2))]),
       st.binary(max_size=40), st.integers(1, 8))
def test_garbage_answers_raise_only_decode_errors(request, junk, chunk):
    for receiver in (RtuReceiver(7, request), AsciiReceiver(7, request)):
        try:
            for i in range(0, len(junk), chunk):
                pdu = receiver.feed(junk[i : i + chunk])
                if pdu is not None:
                    decode_response(request, pdu)
                    break
        except (DecodeError, ModbusException):
            pass
    try:
        for _, _, pdu in TcpReceiver().feed(junk):
            decode_response(request, pdu)
    except (DecodeError, ModbusException):
        pass
