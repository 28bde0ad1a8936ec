"""EN 13757-3 data types: BCD, integers, real32, strings, and the date types F, G and I.

All multi-byte values arrive least significant byte first.  Where libmbus is quirky (BCD digits
above 9, invalid dates) these functions reproduce its results, since the XML must match it.
"""

from __future__ import annotations

import math
import struct
from typing import NamedTuple

__all__ = [
    "TimePoint", "bcd_hex", "bcd_value", "float_text", "hex_reversed", "meter_text", "real32",
    "signed_int", "text_reversed", "time_point",
]


def signed_int(data: bytes) -> int:
    """Two's complement integer of 1 to 8 bytes (types B)."""
    return int.from_bytes(data, "little", signed=True)


def bcd_hex(data: bytes) -> int:
    """The BCD bytes as one little-endian integer: printed in hex it shows the digits (and any A-F)."""
    return int.from_bytes(data, "little")


def bcd_value(data: bytes) -> int:
    """Decimal value of a BCD number (type A); an F in the top nibble means negative.

    Like libmbus, a high nibble above 9 counts as 0 and a low nibble above 9 is added as is.
    """
    value = 0
    for octet in reversed(data):
        high, low = octet >> 4, octet & 0x0F
        value = (value * 10 + (high if high < 10 else 0)) * 10 + low
    if data and data[-1] >> 4 == 0xF:
        value = -value
    return value


def real32(data: bytes) -> float:
    """IEEE 754 single precision (type H)."""
    return struct.unpack("<f", data)[0]


def float_text(value: float) -> str:
    """C's ``printf("%f")`` (glibc prints the sign of a NaN)."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return "%f" % value


def text_reversed(data: bytes) -> bytes:
    """A variable-length string (sent last character first), cut at a NUL as a C string would be."""
    return bytes(reversed(data)).split(b"\0", 1)[0]


def hex_reversed(data: bytes) -> str:
    """Binary data as libmbus prints it: hex byte pairs, most significant (last sent) first."""
    return bytes(reversed(data)).hex(" ").upper()


def meter_text(data: bytes) -> str:
    """Bytes from a meter as text that encodes back to the same bytes (UTF-8 with surrogateescape)."""
    return data.decode("utf-8", "surrogateescape")


class TimePoint(NamedTuple):
    """Fields of a date/time type as libmbus's ``struct tm`` holds them (month 1-based here)."""

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0

    def date_text(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def datetime_text(self, zulu: bool = False) -> str:
        return (f"{self.date_text()}T{self.hour:02d}:{self.minute:02d}:{self.second:02d}" + ("Z" if zulu else ""))


_INVALID = TimePoint(1900, 1, 0)  # libmbus's all-zero struct tm


def _year(day_octet: int, month_octet: int) -> int:
    """The year split over a day byte (bits 7-5: low 3 bits) and a month byte (bits 7-4: high 4 bits)."""
    year = ((day_octet & 0xE0) >> 5) | ((month_octet & 0xF0) >> 1)
    return year + (1900 if year >= 69 else 2000)


def time_point(data: bytes) -> TimePoint:
    """Decode type G (2 bytes, date), F (4 bytes, date and time) or I (6 bytes, with seconds).

    An invalid F or I (its IV bit set) gives libmbus's zero date 1900-01-00T00:00:00.  The two-digit
    year is windowed like POSIX ``%y`` (69-99: 19xx, else 20xx): the corpus needs ``96`` -> 1996 and
    ``21`` -> 2021, and the hundred-year bits of type F are ignored, as libmbus does.
    """
    if len(data) == 2:
        return TimePoint(_year(data[0], data[1]), data[1] & 0x0F, data[0] & 0x1F)
    if len(data) == 4:
        if data[0] & 0x80:
            return _INVALID
        return TimePoint(_year(data[2], data[3]), data[3] & 0x0F, data[2] & 0x1F, data[1] & 0x1F, data[0] & 0x3F)
    if len(data) == 6:
        if data[1] & 0x80:
            return _INVALID
        year = _year(data[3], data[4])
        return TimePoint(year, data[4] & 0x0F, data[3] & 0x1F, data[2] & 0x1F, data[1] & 0x3F, data[0] & 0x3F)
    raise ValueError(f"a date/time has 2, 4 or 6 bytes, not {len(data)}")
