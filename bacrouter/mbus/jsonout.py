"""A plain, JSON-able view of a reply, for ``--json`` output and the Lua host helper.

Keeps both worlds: libmbus's texts (``unit``, ``function``) for people, and the normalized SI reading
(``value`` in ``si_unit``) plus the raw bytes for programs.
"""

from __future__ import annotations

import math
from typing import Any

from .datatypes import bcd_hex, bcd_value
from .describe import normalized, unit_text, value_text
from .frame import Frame
from .records import ErrorReport, FixedData, Header, Record, parse_payload
from .tables import (
    FIXED_MEDIUM,
    FIXED_UNIT,
    application_error_text,
    combinable_vife_text,
    medium_text,
    product_name,
)
from .units import bacnet_reading

__all__ = ["records_json"]


def _clean(text: str) -> str:
    """Meter text may hold bytes that are not UTF-8 (kept via surrogateescape); JSON wants real text."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _header(header: Header) -> dict[str, Any]:
    out: dict[str, Any] = {"access_number": header.access_number, "status": header.status,
                           "signature": header.signature}
    if header.ident is not None:
        out.update(id=f"{header.ident:08X}", manufacturer=header.manufacturer_id, version=header.version,
                   medium=header.medium, medium_text=medium_text(header.medium),
                   product_name=product_name(header.manufacturer, header.version, header.medium, header.ident),
                   secondary_address=header.secondary_address)
    return out


def _combinable(record: Record) -> list[str]:
    """Texts of the VIFEs that qualify the value (after the FB/FD table code, which is the unit)."""
    if record.vif is None or record.vif & 0x7F == 0x7F:
        return []
    vifes = record.vife[1:] if record.vif in (0xFB, 0xFD) else record.vife
    return [combinable_vife_text(vife) for vife in vifes]


def _record(record: Record, index: int) -> dict[str, Any]:
    reading = normalized(record)
    bacnet = bacnet_reading(record)
    if bacnet is not None and not math.isfinite(bacnet[1]):
        bacnet = None
    out: dict[str, Any] = {
        "id": index,
        "function": record.function,
        "storage_number": record.storage_number,
        "tariff": record.tariff,
        "device": record.device,
        "unit": _clean(unit_text(record)) if not record.manufacturer_specific else "",
        "quantity": _clean(reading.quantity) if reading else None,
        "si_unit": _clean(reading.unit) if reading else None,
        "value": reading.value if reading and reading.value is not None and math.isfinite(reading.value) else None,
        "text": _clean(value_text(record)),
        "raw": record.data.hex(),
        "dif": record.dif,
        "dife": list(record.dife),
        "vif": record.vif,
        "vife": list(record.vife),
        "vife_text": _combinable(record),
        "bacnet_unit": bacnet[0] if bacnet else None,
        "bacnet_value": bacnet[1] if bacnet else None,
    }
    if record.custom_vif:
        out["custom_vif"] = _clean(record.custom_vif.decode("utf-8", "surrogateescape"))
    return out


def _fixed(data: FixedData) -> dict[str, Any]:
    def counter(index: int, unit: int, raw: bytes) -> dict[str, Any]:
        if data.counters_bcd:
            # signed as libmbus decodes it (an F as most significant digit is a minus); None when other
            # digits are A-F
            digits = f"{bcd_hex(raw):0{2 * len(raw)}X}"
            value = bcd_value(raw) if digits[1:].isdigit() and digits[0] in "0123456789F" else None
        else:
            value = int.from_bytes(raw, "little", signed=True)
        return {"id": index, "function": "Stored value" if data.stored else "Actual value",
                "unit": FIXED_UNIT[unit & 0x3F], "value": value, "raw": raw.hex()}

    return {
        "type": "fixed",
        "header": {"id": f"{data.ident:08X}", "medium_text": FIXED_MEDIUM[data.medium_index],
                   "access_number": data.access_number, "status": data.status},
        "more_records_follow": False,
        "records": [counter(0, data.type1, data.counter1), counter(1, data.type2, data.counter2)],
    }


def records_json(frame: Frame) -> dict[str, Any]:
    """Header and records of a slave's reply as plain dicts, lists, numbers and strings.

    ``type`` is "variable", "fixed" or "error" (then ``error`` holds the slave's application error).
    Per record: libmbus's ``function`` and ``unit`` text, the normalized ``value`` (a float in
    ``si_unit``, None when not numeric or not finite) or ``text`` (dates, strings, hex), ``raw`` data bytes in hex,
    storage number, tariff and device (None without DIFE), the DIF/VIF codes, and the BACnet engineering
    unit the VIF gives with the value in it (``bacnet_unit``, ``bacnet_value``; None without one, see
    :mod:`.units`).
    """
    payload = parse_payload(frame)
    base: dict[str, Any] = {"frame": {"control": frame.control, "address": frame.address, "ci": frame.ci}}
    if isinstance(payload, ErrorReport):
        return {**base, "type": "error", "error": {"code": payload.code, "text": application_error_text(payload.code)},
                "more_records_follow": False, "records": []}
    if isinstance(payload, FixedData):
        return {**base, **_fixed(payload)}
    return {**base, "type": "variable", "header": _header(payload.header),
            "more_records_follow": payload.more_records_follow,
            "records": [_record(record, index) for index, record in enumerate(payload.records)]}
