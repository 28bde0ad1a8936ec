"""BACnet engineering units from an M-Bus record's VIF (issue 10 item 8): one unit per quantity, the
VIF's exponent folded into the value."""

from __future__ import annotations

import pytest

from bacrouter.mbus import parse_frame, records_json
from bacrouter.mbus.records import VariableData, parse_payload
from bacrouter.mbus.units import VIF_UNITS, bacnet_reading
from bacrouter.modbus.objects import units_code

HEADER = bytes.fromhex("78563412 2440 01 04 55 00 0000")


def reply(records: bytes):
    body = bytes((0x08, 1, 0x72)) + HEADER + records
    frame = parse_frame(bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16)))
    payload = parse_payload(frame)
    assert isinstance(payload, VariableData)
    return frame, payload.records


# (record bytes: DIF 0x04 = 32-bit integer, VIF, value 1234 = 0x04D2), BACnet unit, value in it
CASES = [
    ("04 03 D2040000", "kilowatt-hours", 1.234),  # Energy (Wh)
    ("04 01 D2040000", "kilowatt-hours", 0.01234),  # Energy (10 Wh)
    ("04 06 D2040000", "kilowatt-hours", 1234.0),  # Energy (kWh)
    ("04 FB00 D2040000", "kilowatt-hours", 123400.0),  # Energy (0.1 MWh), VIF FB 00
    ("04 0E D2040000", "megajoules", 1234.0),  # Energy (MJ)
    ("04 13 D2040000", "cubic-meters", 1.234),  # Volume (l)
    ("04 16 D2040000", "cubic-meters", 1234.0),  # Volume (m^3)
    ("04 2B D2040000", "kilowatts", 1.234),  # Power (W)
    ("04 2E D2040000", "kilowatts", 1234.0),  # Power (kW)
    ("04 3B D2040000", "cubic-meters-per-hour", 1.234),  # Volume flow (l/h)
    ("04 42 D2040000", "cubic-meters-per-hour", 0.7404),  # Volume flow (0.01 l/min): 12.34 l/min
    ("04 5A D2040000", "degrees-celsius", 123.4),  # Flow temperature (0.1 degC)
    ("04 5E D2040000", "degrees-celsius", 123.4),  # Return temperature (0.1 degC)
    ("04 61 D2040000", "delta-degrees-kelvin", 12.34),  # Temperature difference (10 mK)
    ("04 22 D2040000", "hours", 1234.0),  # On time (hours)
    ("04 24 D2040000", "hours", 1234 / 3600),  # Operating time (seconds)
    ("04 FD46 D2040000", "volts", 1.234),  # Voltage (mV)
    ("04 FD59 D2040000", "amperes", 1.234),  # Current (mA)
    ("04 68 D2040000", "bars", 1.234),  # Pressure (mbar)
    ("04 83 7D D2040000", "kilowatt-hours", 1234.0),  # Energy (Wh) with VIFE x10^3
]


@pytest.mark.parametrize(("data", "unit", "value"), CASES, ids=[c[0] for c in CASES])
def test_vif_gives_the_bacnet_unit_and_the_value_in_it(data, unit, value):
    frame, (record,) = reply(bytes.fromhex(data))
    assert bacnet_reading(record) == (unit, pytest.approx(value))
    (view,) = records_json(frame)["records"]
    assert (view["bacnet_unit"], view["bacnet_value"]) == (unit, pytest.approx(value))


def test_vifs_without_a_unit_give_none():
    # date & time, fabrication number, error flags, manufacturer specific data
    frame, records = reply(bytes.fromhex("04 6D 0C15A822  04 78 D2040000  02 FD17 0000  0F 0102"))
    assert [bacnet_reading(r) for r in records] == [None, None, None, None]
    assert [r["bacnet_unit"] for r in records_json(frame)["records"]] == [None, None, None, None]


def test_every_unit_in_the_table_is_a_bacnet_engineering_unit():
    assert VIF_UNITS
    for code, unit in VIF_UNITS.items():
        assert units_code(unit.name) != 95, hex(code)
        assert unit.scale > 0


def test_one_unit_per_quantity_whatever_the_exponent():
    assert {VIF_UNITS[code].name for code in range(0x00, 0x08)} == {"kilowatt-hours"}
    assert [VIF_UNITS[code].scale for code in range(0x00, 0x08)] == pytest.approx([10.0 ** (n - 6) for n in range(8)])
    assert {VIF_UNITS[code].name for code in range(0x38, 0x50)} == {"cubic-meters-per-hour"}
