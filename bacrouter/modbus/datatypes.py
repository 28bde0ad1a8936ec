"""From Modbus registers and bits to numbers, and back: data types, register order, bit fields.

Register order follows the slave's flags in the device-config JSON, as codes:
4 = ``4321`` (most significant register and octet first, the default),
3 = ``3412`` (octets swapped in each register), 2 = ``2143`` (least
significant register first), 1 = ``1234`` (fully little-endian). Integers and
floats have their own order (``integer_*`` and ``float_*`` flags);
``byte_reverse`` swaps the octets of single registers too.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ..lua import conversions

__all__ = ["DataTypeError", "ByteOrder", "ValueCodec", "REGISTERS", "order_code"]

REGISTERS = {"u16": 1, "s16": 1, "u32": 2, "s32": 2, "float": 2, "u64": 4, "s64": 4, "double": 4}
_FLOAT = {"float": ">f", "double": ">d"}
_SIGNED = {"s16", "s32", "s64"}


class DataTypeError(ValueError):
    pass


@dataclass(frozen=True)
class ByteOrder:
    """Word order and octet swap of multi-register values."""

    little_words: bool = False
    swap_octets: bool = False

    @property
    def code(self) -> int:
        return {(False, False): 4, (False, True): 3, (True, False): 2, (True, True): 1}[(self.little_words,
                                                                                            self.swap_octets)]

    def to_big(self, registers: Sequence[int]) -> list[int]:
        """The registers as most significant first, octets in order."""
        words = list(registers)
        if self.swap_octets:
            words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
        if self.little_words:
            words.reverse()
        return words

    def from_big(self, registers: Sequence[int]) -> list[int]:
        words = list(registers)
        if self.little_words:
            words.reverse()
        if self.swap_octets:
            words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
        return words


def order_code(code: int) -> ByteOrder:
    return {4: ByteOrder(), 3: ByteOrder(False, True), 2: ByteOrder(True, False), 1: ByteOrder(True, True)}[code]


@dataclass(frozen=True)
class ValueCodec:
    """How one point's registers or bit become a raw number (before scale and offset), and back."""

    data_type: str
    registers: int  # 0 for coils and discrete inputs
    order: ByteOrder = ByteOrder()
    single_swap: bool = False  # byte_reverse on one-register values
    bit_offset: int = 0
    bit_len: int = 0  # 0: the whole value

    @classmethod
    def build(cls, data_type: str, address_type: str, reg_num: int = 0, integer_order: ByteOrder = ByteOrder(),
              float_order: ByteOrder = ByteOrder(), byte_reverse: bool = False, bit_offset: int = 0,
              bit_len: int = 0) -> ValueCodec:
        if address_type in ("coil", "discrete"):
            return cls("bit", 0)
        if data_type.startswith("o"):
            conversion = conversions.get(data_type[1:])
            count = reg_num or conversion.registers or 1
            return cls(data_type, count, integer_order, byte_reverse)
        if data_type not in REGISTERS:
            raise DataTypeError(f"unknown data type {data_type!r}")
        order = float_order if data_type in _FLOAT else integer_order
        return cls(data_type, REGISTERS[data_type], order, byte_reverse, bit_offset, bit_len)

    def decode(self, words: Sequence[int]) -> tuple[float, bool]:
        """(raw value, reliable). Bits arrive as one word 0/1."""
        if self.registers == 0:
            return float(words[0] & 1), True
        if self.registers == 1:
            word = words[0]
            if self.single_swap:
                word = ((word & 0xFF) << 8) | (word >> 8)
            big = [word]
        else:
            big = self.order.to_big(words[: self.registers])
        if self.data_type.startswith("o"):
            return conversions.get(self.data_type[1:]).decode(big)
        raw = b"".join(w.to_bytes(2, "big") for w in big)
        if self.data_type in _FLOAT:
            (value,) = struct.unpack(_FLOAT[self.data_type], raw)
            return value, not math.isnan(value)
        number = int.from_bytes(raw, "big", signed=self.data_type in _SIGNED and not self.bit_len)
        if self.bit_len:
            number = (number >> self.bit_offset) & ((1 << self.bit_len) - 1)
        return float(number), True

    def encode(self, value: float, current: Sequence[int] | None = None) -> list[int]:
        """Registers (or the bit) that carry ``value``; ``current`` is needed to write into a bit field."""
        if self.registers == 0:
            return [1 if value else 0]
        if self.data_type.startswith("o"):
            conversion = conversions.get(self.data_type[1:])
            if conversion.encode is None:
                raise DataTypeError(f"conversion {conversion.name} cannot be written")
            return self.order.from_big(conversion.encode(value, self.registers))
        if self.data_type in _FLOAT:
            raw = struct.pack(_FLOAT[self.data_type], value)
        else:
            number = int(round(value))
            bits = 16 * self.registers
            if self.bit_len:
                if current is None:
                    raise DataTypeError("writing a bit field needs the register's present value")
                old = int.from_bytes(b"".join(w.to_bytes(2, "big") for w in self._big(current)), "big")
                mask = ((1 << self.bit_len) - 1) << self.bit_offset
                if not 0 <= number < (1 << self.bit_len):
                    raise DataTypeError(f"{value} does not fit {self.bit_len} bit(s)")
                number = (old & ~mask) | (number << self.bit_offset)
            elif self.data_type in _SIGNED:
                if not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
                    raise DataTypeError(f"{value} does not fit a {self.data_type}")
                number &= (1 << bits) - 1
            elif not 0 <= number < (1 << bits):
                raise DataTypeError(f"{value} does not fit a {self.data_type}")
            raw = number.to_bytes(2 * self.registers, "big")
        big = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
        if self.registers == 1:
            return [((big[0] & 0xFF) << 8) | (big[0] >> 8)] if self.single_swap else big
        return self.order.from_big(big)

    def _big(self, words: Sequence[int]) -> list[int]:
        if self.registers == 1:
            word = words[0]
            return [((word & 0xFF) << 8) | (word >> 8)] if self.single_swap else [word]
        return self.order.to_big(words[: self.registers])
