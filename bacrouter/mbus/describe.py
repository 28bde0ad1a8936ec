"""What a record means, in libmbus's words: unit and value text, and the normalized (SI) reading.

Two views, both as libmbus's ``mbus-parse-hex`` prints them: the plain one (``Energy (10 Wh)`` and
the raw value) and the normalized one (``Wh``, quantity ``Energy``, value scaled to the unit).
Text coming from a meter is kept byte-exact via :func:`.datatypes.meter_text`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .datatypes import (
    bcd_hex,
    bcd_value,
    float_text,
    hex_reversed,
    meter_text,
    real32,
    signed_int,
    text_reversed,
    time_point,
)
from .records import Record
from .tables import NORMALIZED, unit_prefix, vif_text, vife_fb_text, vife_fd_text

__all__ = ["Normalized", "normalized", "unit_text", "value_text"]

_UNIT_BUFFER = 127  # libmbus formats the unit into 128 bytes


def _is_date_time(record: Record) -> bool:
    """Time point (date & time), start of tariff or battery change: data type F / I instead of integer."""
    vif = record.vif or 0
    vife = record.vife[0] & 0x7F if record.vife else 0
    return vif & 0x7F == 0x6D or (vif == 0xFD and vife in (0x30, 0x70))


def _is_date(record: Record) -> bool:
    return (record.vif or 0) & 0x7F == 0x6C


def _lvar_kind(record: Record) -> str:
    lvar = record.lvar or 0
    return "text" if lvar <= 0xBF else "bcd" if lvar <= 0xDF else "binary"


def _lvar_bcd(record: Record) -> int:
    value = bcd_value(record.data)
    return -abs(value) if (record.lvar or 0) >= 0xD0 else value


def unit_text(record: Record) -> str:
    """The ``<Unit>`` of libmbus's plain XML."""
    vif = record.vif
    if vif is None:
        return ""
    first = record.vife[0] if record.vife else None
    if vif in (0xFB, 0xFD):
        if first is None:
            return "Missing VIF extension"
        text = vife_fb_text(first) if vif == 0xFB else vife_fd_text(first)
    elif vif == 0x7C:
        text = meter_text(record.custom_vif)
    elif vif == 0xFC and first is not None and first & 0x78 == 0x70:
        text = f"{unit_prefix((first & 0x07) - 6)} {meter_text(record.custom_vif)}"
    else:
        text = vif_text(vif)
    encoded = text.encode("utf-8", "surrogateescape")
    return text if len(encoded) <= _UNIT_BUFFER else encoded[:_UNIT_BUFFER].decode("utf-8", "surrogateescape")


def value_text(record: Record) -> str:
    """The ``<Value>`` of libmbus's plain XML: integers and BCD decimal, binary as hex."""
    if record.manufacturer_specific:
        return hex_reversed(record.data)
    kind, data = record.data_field, record.data
    if kind == 0x00:
        return ""
    if kind in (0x01, 0x03, 0x07) or (kind == 0x02 and not _is_date(record)):
        return str(signed_int(data))
    if kind == 0x02:
        return time_point(data).date_text()
    if kind in (0x04, 0x06):
        return time_point(data).datetime_text() if _is_date_time(record) else str(signed_int(data))
    if kind == 0x05:
        return float_text(real32(data))
    if kind in (0x09, 0x0A, 0x0B, 0x0C, 0x0E):
        # libmbus (since 2021): decimal with its sign (an F as most significant digit is a minus), but
        # a value during error state (function 0x30) as its hex digits, which may hold an error code
        return f"{bcd_hex(data):X}" if record.dif & 0x30 == 0x30 else str(bcd_value(data))
    if kind == 0x0F:
        return hex_reversed(data)
    if kind == 0x0D:
        lvar = _lvar_kind(record)
        if lvar == "text":
            return meter_text(text_reversed(data))
        return str(_lvar_bcd(record)) if lvar == "bcd" else hex_reversed(data)
    return f"Unknown DIF (0x{record.dif:02x})"  # 0x08: selection for readout


@dataclass(frozen=True)
class Normalized:
    """libmbus's normalized reading: ``value`` scaled to ``unit`` when numeric, else ``text``."""

    unit: str
    quantity: str
    value: float | None
    text: str | None

    @property
    def value_text(self) -> str:
        return self.text if self.text is not None else float_text(self.value or 0.0)


def _raw(record: Record) -> tuple[float, str | None] | None:
    """The value before scaling, as a number or a text; None where libmbus gives up (DIF data 0x08)."""
    kind, data = record.data_field, record.data
    if kind == 0x00:
        return 0.0, ""
    if kind in (0x01, 0x03, 0x07) or (kind == 0x02 and not _is_date(record)):
        return float(signed_int(data)), None
    if kind == 0x02:
        return 0.0, time_point(data).date_text()
    if kind in (0x04, 0x06):
        if _is_date_time(record):
            return 0.0, time_point(data).datetime_text(zulu=True)
        return float(signed_int(data)), None
    if kind == 0x05:
        return real32(data), None
    if kind in (0x09, 0x0A, 0x0B, 0x0C, 0x0E):
        return float(bcd_value(data)), None
    if kind == 0x0F:
        return 0.0, hex_reversed(data)
    if kind == 0x0D:
        lvar = _lvar_kind(record)
        if lvar == "text":
            return 0.0, meter_text(text_reversed(data))
        return (float(_lvar_bcd(record)), None) if lvar == "bcd" else (0.0, hex_reversed(data))
    return None


def _scale(record: Record, value: float) -> tuple[str, str, float] | None:
    """Unit, quantity and scaled value from the VIB; None for a VIF libmbus has no entry for."""
    vif = record.vif or 0
    first = record.vife[0] if record.vife else 0
    if vif in (0x7C, 0xFC):
        unit, quantity = "-", meter_text(record.custom_vif)
    else:
        code = (0x100 | first & 0x7F) if vif == 0xFD else (0x200 | first & 0x7F) if vif == 0xFB else vif & 0x7F
        if vif in (0xFB, 0xFD) and not record.vife:
            return None
        scale = NORMALIZED.get(code)
        if scale is None:
            return None
        unit, quantity, value = scale.unit, scale.quantity, value * scale.factor
    if vif & 0x80 and vif not in (0xFB, 0xFD):  # the first VIFE may correct the value (table 15)
        code = first & 0x7F
        if 0x70 <= code <= 0x77:
            value *= 10.0 ** ((first & 0x07) - 6)
        elif 0x78 <= code <= 0x7B:
            value += 10.0 ** ((first & 0x03) - 3)
        elif code == 0x7D:
            value *= 1000.0
    return unit, quantity, value


def normalized(record: Record) -> Normalized | None:
    """The normalized reading, or None where libmbus prints an empty ``<DataRecord>``."""
    if record.manufacturer_specific:
        return Normalized("", "", None, hex_reversed(record.data))
    raw = _raw(record)
    if raw is None:
        return None
    scaled = _scale(record, raw[0])
    if scaled is None:
        return None
    unit, quantity, value = scaled
    return Normalized(unit, quantity, None if raw[1] is not None else value, raw[1])
