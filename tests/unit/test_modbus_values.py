"""Data types, register orders and the conversions of the seeds."""

from __future__ import annotations

import math

import pytest

from bacrouter.lua import conversions
from bacrouter.modbus.datatypes import DataTypeError, ValueCodec, order_code


@pytest.mark.parametrize("data_type, words, value", [
    ("u16", [0xFFFE], 65534), ("s16", [0xFFFE], -2), ("u32", [0x0001, 0x0000], 65536),
    ("s32", [0xFFFF, 0xFFFF], -1), ("u64", [0, 0, 1, 0], 65536), ("s64", [0xFFFF] * 4, -1),
    ("float", [0x4048, 0xF5C3], 3.14), ("double", [0x4009, 0x21FB, 0x5444, 0x2D18], math.pi),
])
def test_plain_types(data_type, words, value):
    codec = ValueCodec.build(data_type, "holding")
    decoded, reliable = codec.decode(words)
    assert reliable and decoded == pytest.approx(value, rel=1e-6)
    assert codec.decode(codec.encode(value))[0] == pytest.approx(value, rel=1e-6)


@pytest.mark.parametrize("code, words", [(4, [0x1234, 0x5678]), (3, [0x3412, 0x7856]), (2, [0x5678, 0x1234]),
                                         (1, [0x7856, 0x3412])])
def test_the_four_register_orders(code, words):
    codec = ValueCodec.build("u32", "holding", integer_order=order_code(code))
    assert codec.decode(words)[0] == 0x12345678
    assert codec.encode(0x12345678) == words
    assert order_code(code).code == code


def test_floats_have_their_own_order_and_byte_reverse_swaps_single_registers():
    codec = ValueCodec.build("float", "holding", integer_order=order_code(4), float_order=order_code(2))
    assert codec.decode([0xF5C3, 0x4048])[0] == pytest.approx(3.14, rel=1e-6)
    assert ValueCodec.build("u16", "input", byte_reverse=True).decode([0x3412])[0] == 0x1234


def test_nan_is_unreliable_infinity_is_not():
    codec = ValueCodec.build("float", "input")
    assert codec.decode([0x7FC0, 0x0000])[1] is False
    value, reliable = codec.decode([0x7F80, 0x0000])
    assert reliable and value == math.inf


def test_bit_fields_read_and_write_into_the_register():
    codec = ValueCodec.build("u16", "holding", bit_offset=4, bit_len=3)
    assert codec.decode([0b0000_0000_0101_1111])[0] == 0b101
    assert codec.encode(0b010, current=[0b0000_0000_0101_1111]) == [0b0000_0000_0010_1111]
    with pytest.raises(DataTypeError):
        codec.encode(1)  # needs the present register value
    with pytest.raises(DataTypeError):
        codec.encode(8, current=[0])


def test_out_of_range_writes_are_refused():
    with pytest.raises(DataTypeError):
        ValueCodec.build("u16", "holding").encode(70000)
    with pytest.raises(DataTypeError):
        ValueCodec.build("s16", "holding").encode(-40000)


def test_bits():
    codec = ValueCodec.build("u16", "coil")
    assert codec.registers == 0 and codec.decode([1]) == (1.0, True) and codec.encode(1) == [1]


@pytest.mark.parametrize("name, registers, value", [
    ("bcd", [0x0509, 0x0702], 5972), ("compat_bcd", [0x7869, 0x5231], 78695231),
    ("m10k", [0x1F74, 0x0A69], 80522665), ("low10th", [0x0503], 5.3),
])
def test_the_seeds_conversions(name, registers, value):
    codec = ValueCodec.build("o" + name, "holding", reg_num=len(registers))
    decoded, reliable = codec.decode(registers)
    assert reliable and decoded == pytest.approx(value)
    assert codec.encode(value) == registers


def test_conversions_flag_impossible_values():
    assert ValueCodec.build("obcd", "holding", reg_num=1).decode([0x0A01])[1] is False
    assert ValueCodec.build("ocompat_bcd", "holding", reg_num=1).decode([0x1A00])[1] is False
    assert ValueCodec.build("olow10th", "holding").decode([0x050A])[1] is False
    assert ValueCodec.build("om10k", "holding", reg_num=2).decode([0x2710, 0])[1] is False  # 10000
    assert ValueCodec.build("om10k", "holding", reg_num=2).decode([0xFFFF, 0xFFFF])[0] == -10001


def test_user_conversions_plug_in_through_the_same_interface(monkeypatch):
    monkeypatch.setitem(conversions._registry(), "half", conversions.Conversion(
        "half", 1, lambda regs: (regs[0] / 2, True), lambda value, count: [int(value * 2)]))
    codec = ValueCodec.build("ohalf", "holding")
    assert codec.decode([7]) == (3.5, True) and codec.encode(3.5) == [7]
    with pytest.raises(conversions.ConversionError):
        ValueCodec.build("onone", "holding")
