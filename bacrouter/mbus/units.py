"""BACnet engineering units of an M-Bus record, from its VIF (sans-IO).

One rule: each quantity (and unit system) has one BACnet unit, whatever the VIF's decimal exponent,
and the exponent is folded into the value. Energy is always kilowatt-hours (VIF "Energy (10 Wh)"
with raw value 12345 gives 123.45 kWh, "Energy (MWh)" 7 gives 7000 kWh), heat energy in joules
megajoules, volume cubic metres, power kilowatts (J/h too), volume flow cubic metres per hour (also
from m^3/min and m^3/s), mass flow kilograms per hour, temperatures degrees Celsius, a temperature
difference delta kelvin, pressure bars, durations hours. The meter's unit never depends on its
resolution, so a meter replaced by one with another resolution keeps its points' units.

:data:`VIF_UNITS` maps the VIF code (the keys of :data:`.tables.NORMALIZED`: primary VIF 0x00-0x7F
with its exponent bits, 0x100 + the VIFE of VIF 0xFD, 0x200 + the VIFE of VIF 0xFB) to the BACnet
unit's name and the factor from the raw record value to that unit. :func:`bacnet_reading` applies it
to a record, with any multiplicative VIFE correction, via libmbus's normalized reading.
"""

from __future__ import annotations

from typing import NamedTuple

from .describe import normalized
from .records import Record
from .tables import NORMALIZED

__all__ = ["BacnetUnit", "VIF_UNITS", "bacnet_reading", "vif_code"]


class BacnetUnit(NamedTuple):
    """A BACnet EngineeringUnits name and the factor from a record's raw value to it."""

    name: str
    scale: float


# libmbus's normalized unit -> BACnet unit and the factor from the normalized value to it
_FROM_NORMALIZED: dict[str, tuple[str, float]] = {
    "Wh": ("kilowatt-hours", 1e-3),
    "J": ("megajoules", 1e-6),
    "m^3": ("cubic-meters", 1.0),
    "kg": ("kilograms", 1.0),
    "s": ("hours", 1 / 3600),
    "W": ("kilowatts", 1e-3),
    "J/h": ("kilowatts", 1 / 3.6e6),
    "m^3/h": ("cubic-meters-per-hour", 1.0),
    "m^3/min": ("cubic-meters-per-hour", 60.0),
    "m^3/s": ("cubic-meters-per-hour", 3600.0),
    "kg/h": ("kilograms-per-hour", 1.0),
    "°C": ("degrees-celsius", 1.0),
    "K": ("delta-degrees-kelvin", 1.0),
    "bar": ("bars", 1.0),
    "V": ("volts", 1.0),
    "A": ("amperes", 1.0),
    "feet^3": ("cubic-feet", 1.0),
    "American gallon": ("us-gallons", 1.0),
    "American gallon/min": ("us-gallons-per-minute", 1.0),
    "American gallon/h": ("us-gallons-per-hour", 1.0),
    "°F": ("degrees-fahrenheit", 1.0),
}

# where libmbus's normalized unit text is not the VIF's unit (EN 13757-3 table 14)
_UNIT_OF_CODE = {
    0x208: "J", 0x209: "J",  # VIF FB 08/09: energy 10^(n-1) GJ (libmbus: "Reserved", scaled to J)
    0x230: "J/h", 0x231: "J/h",  # VIF FB 30/31: power 10^(n-1) GJ/h (libmbus says "J")
    0x260: "delta-°F", 0x261: "delta-°F", 0x262: "delta-°F", 0x263: "delta-°F",  # temperature difference
}
_FROM_NORMALIZED["delta-°F"] = ("delta-degrees-fahrenheit", 1.0)

#: VIF code -> BACnet unit name and the factor from the raw value to it; VIFs without a BACnet unit
#: (dates, identifications, counts, currencies, reserved codes) have no entry
VIF_UNITS: dict[int, BacnetUnit] = {}
for _code, _scale in NORMALIZED.items():
    _target = _FROM_NORMALIZED.get(_UNIT_OF_CODE.get(_code, _scale.unit))
    if _target is not None and _scale.factor:
        VIF_UNITS[_code] = BacnetUnit(_target[0], _scale.factor * _target[1])
del _code, _scale, _target


def vif_code(record: Record) -> int | None:
    """The record's key in :data:`VIF_UNITS` and :data:`.tables.NORMALIZED`; None without a VIF."""
    vif = record.vif
    if vif is None or record.manufacturer_specific:
        return None
    if vif in (0xFB, 0xFD):
        if not record.vife:
            return None
        return (0x100 if vif == 0xFD else 0x200) | record.vife[0] & 0x7F
    if vif in (0x7C, 0xFC):
        return None  # a unit in plain text
    return vif & 0x7F


def bacnet_reading(record: Record) -> tuple[str, float] | None:
    """The record's value in its BACnet unit, as (unit name, value); None when not a number with a unit.

    The value is libmbus's normalized one (VIF exponent and multiplicative VIFE applied) converted to
    the unit of :data:`VIF_UNITS`, so ``raw * VIF_UNITS[code].scale`` for a record without VIFE.
    """
    code = vif_code(record)
    if code is None or code not in VIF_UNITS:
        return None
    reading = normalized(record)
    if reading is None or reading.value is None:
        return None
    name, factor = _FROM_NORMALIZED[_UNIT_OF_CODE.get(code, NORMALIZED[code].unit)]
    return name, reading.value * factor
