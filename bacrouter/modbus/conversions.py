"""Data conversions for Modbus values that are not plain numbers (data types starting with ``o``).

A point with ``data_type`` ``obcd`` uses the conversion ``bcd``, and so on.
A conversion turns the point's registers (in the slave's integer register
order, most significant first) into a number and a verdict on its
reliability, and back for writes. The four the original product ships are
built in; the Free Client's Lua runtime registers user conversions through
:func:`register` with the same interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Conversion", "ConversionError", "register", "get", "names"]


class ConversionError(ValueError):
    pass


@dataclass(frozen=True)
class Conversion:
    name: str
    registers: int  # registers the conversion reads (0: the point's reg_num decides)
    decode: Callable[[Sequence[int]], tuple[float, bool]]  # registers -> (value, reliable)
    encode: Callable[[float, int], list[int]] | None = None  # (value, register count) -> registers
    doc: str = ""


_REGISTRY: dict[str, Conversion] = {}


def register(conversion: Conversion) -> None:
    _REGISTRY[conversion.name] = conversion


def get(name: str) -> Conversion:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConversionError(f"no conversion {name!r} (known: {', '.join(sorted(_REGISTRY))})") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


def _octets(registers: Sequence[int]) -> bytes:
    return b"".join((r & 0xFFFF).to_bytes(2, "big") for r in registers)


def _bcd_decode(registers: Sequence[int]) -> tuple[float, bool]:
    value, reliable = 0, True
    for octet in _octets(registers):
        if octet > 9:
            reliable = False
        value = value * 10 + octet
    return float(value), reliable


def _bcd_encode(value: float, count: int) -> list[int]:
    digits = _digits(value, count * 2)
    return [digits[i] << 8 | digits[i + 1] for i in range(0, len(digits), 2)]


def _compat_bcd_decode(registers: Sequence[int]) -> tuple[float, bool]:
    value, reliable = 0, True
    for octet in _octets(registers):
        for nibble in (octet >> 4, octet & 0x0F):
            if nibble > 9:
                reliable = False
            value = value * 10 + nibble
    return float(value), reliable


def _compat_bcd_encode(value: float, count: int) -> list[int]:
    digits = _digits(value, count * 4)
    return [(digits[i] << 12) | (digits[i + 1] << 8) | (digits[i + 2] << 4) | digits[i + 3]
            for i in range(0, len(digits), 4)]


def _digits(value: float, count: int) -> list[int]:
    number = int(round(value))
    if number < 0 or number >= 10 ** count:
        raise ConversionError(f"{value} does not fit {count} decimal digits")
    return [int(d) for d in str(number).zfill(count)]


def _m10k_decode(registers: Sequence[int]) -> tuple[float, bool]:
    value, reliable = 0, True
    for register in registers:
        signed = register - 0x10000 if register & 0x8000 else register
        if not -9999 <= signed <= 9999:
            reliable = False
        value = value * 10000 + signed
    return float(value), reliable


def _m10k_encode(value: float, count: int) -> list[int]:
    number = int(round(value))
    negative = number < 0
    number = abs(number)
    parts = []
    for _ in range(count):
        parts.append(number % 10000)
        number //= 10000
    if number:
        raise ConversionError(f"{value} does not fit {count} registers of 0..9999")
    parts.reverse()
    return [(-p) & 0xFFFF if negative else p for p in parts]


def _low10th_decode(registers: Sequence[int]) -> tuple[float, bool]:
    register = registers[0]
    whole, tenths = register >> 8, register & 0xFF
    return whole + tenths / 10, tenths <= 9


def _low10th_encode(value: float, count: int) -> list[int]:
    tenths = int(round(value * 10))
    if not 0 <= tenths <= 2559:
        raise ConversionError(f"{value} is outside 0.0..255.9")
    return [(tenths // 10) << 8 | tenths % 10]


for _conversion in (
    Conversion("bcd", 0, _bcd_decode, _bcd_encode, "each octet one decimal digit: 0x05090702 = 5972"),
    Conversion("compat_bcd", 0, _compat_bcd_decode, _compat_bcd_encode,
               "each half octet one decimal digit: 0x78695231 = 78695231"),
    Conversion("m10k", 0, _m10k_decode, _m10k_encode,
               "each register -9999..9999, most significant first: 0x1f74 0x0a69 = 80522665"),
    Conversion("low10th", 1, _low10th_decode, _low10th_encode,
               "one register: high octet the whole part, low octet tenths: 0x0503 = 5.3"),
):
    register(_conversion)

