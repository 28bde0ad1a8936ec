"""Description tables of EN 13757-3 codes, worded exactly as libmbus words them.

The XML output must match libmbus byte for byte, so every string here (spelling, spacing, the
``°`` sign) is libmbus's.  Plain data plus small lookup functions; no parsing.
"""

from __future__ import annotations

from typing import NamedTuple

# --------------------------------------------------------------------------- header

MEDIUM: dict[int, str] = {
    0x00: "Other", 0x01: "Oil", 0x02: "Electricity", 0x03: "Gas", 0x04: "Heat: Outlet", 0x05: "Steam",
    0x06: "Warm water (30-90°C)", 0x07: "Water", 0x08: "Heat Cost Allocator", 0x09: "Compressed Air",
    0x0A: "Cooling load meter: Outlet", 0x0B: "Cooling load meter: Inlet", 0x0C: "Heat: Inlet",
    0x0D: "Heat / Cooling load meter", 0x0E: "Bus/System", 0x0F: "Unknown Medium", 0x10: "Irrigation Water",
    0x11: "Water Logger", 0x12: "Gas Logger", 0x13: "Gas Converter", 0x14: "Calorific value",
    0x15: "Hot water (>90°C)", 0x16: "Cold water", 0x17: "Dual water", 0x18: "Pressure", 0x19: "A/D Converter",
    0x1A: "Smoke Detector", 0x1B: "Ambient Sensor", 0x1C: "Gas Detector", 0x20: "Breaker: Electricity",
    0x21: "Valve: Gas or Water", 0x25: "Customer Unit: Display Device", 0x28: "Waste Water", 0x29: "Garbage",
    0x30: "Service Unit", 0x36: "Radio Converter: System", 0x37: "Radio Converter: Meter",
}
_MEDIUM_RESERVED = frozenset((0x22, 0x23, 0x24, 0x26, 0x27, *range(0x2A, 0x30), *range(0x31, 0x35), *range(0x38, 0x40)))


def medium_text(code: int) -> str:
    """Medium of a variable data header (libmbus ``mbus_data_variable_medium_lookup``)."""
    if code in MEDIUM:
        return MEDIUM[code]
    return "Reserved" if code in _MEDIUM_RESERVED else f"Unknown medium (0x{code:02x})"


FIXED_MEDIUM = ("Other", "Oil", "Electricity", "Gas", "Heat", "Steam", "Hot Water", "Water", "H.C.A.", "Reserved",
                "Gas Mode 2", "Heat Mode 2", "Hot Water Mode 2", "Water Mode 2", "H.C.A. Mode 2", "Reserved")

# counter units of the fixed data structure, indexed by the 6 low bits (note libmbus's order of 0x0D/0x0E)
FIXED_UNIT = (
    "h,m,s", "D,M,Y", "Wh", "10 Wh", "100 Wh", "kWh", "10 kWh", "100 kWh", "MWh", "10 MWh", "100 MWh",
    "kJ", "10 kJ", "MJ", "100 kJ", "10 MJ", "100 MJ", "GJ", "10 GJ", "100 GJ",
    "W", "10 W", "100 W", "kW", "10 kW", "100 kW", "MW", "10 MW", "100 MW",
    "kJ/h", "10 kJ/h", "100 kJ/h", "MJ/h", "10 MJ/h", "100 MJ/h", "GJ/h", "10 GJ/h", "100 GJ/h",
    "ml", "10 ml", "100 ml", "l", "10 l", "100 l", "m^3", "10 m^3", "100 m^3",
    "ml/h", "10 ml/h", "100 ml/h", "l/h", "10 l/h", "100 l/h", "m^3/h", "10 m^3/h", "100 m^3/h",
    "1e-3 °C", "units for HCA", "reserved", "reserved", "reserved", "reserved", "reserved but historic",
    "without units",
)

APPLICATION_ERRORS = {
    0x00: "Unspecified error", 0x01: "Unimplemented CI-Field", 0x02: "Buffer too long, truncated",
    0x03: "Too many records", 0x04: "Premature end of record", 0x05: "More than 10 DIFE´s",
    0x06: "More than 10 VIFE´s", 0x07: "Reserved", 0x08: "Application busy", 0x09: "Too many readouts",
}


def application_error_text(code: int) -> str:
    return APPLICATION_ERRORS.get(code, f"Unknown error (0x{code:02X})")


def manufacturer_code(name: str) -> int:
    """The 16-bit code of a three-letter FLAG manufacturer id."""
    a, b, c = (ord(ch) - 64 for ch in name.upper())
    return (a << 10) | (b << 5) | c


def manufacturer_text(code: int) -> str:
    return "".join(chr(((code >> shift) & 0x1F) + 64) for shift in (10, 5, 0))


# --------------------------------------------------------------------------- product names

_BY_VERSION: dict[str, dict[int, str]] = {
    "ABB": {0x02: "ABB Delta-Meter", 0x20: "ABB B21 113-100"},
    "ACW": {0x09: "Itron CF Echo 2", 0x0A: "Itron CF 51", 0x0B: "Itron CF 55", 0x0E: "Itron BM +m",
            0x0F: "Itron CF 800", 0x14: "Itron CYBLE M-Bus 1.4"},
    "EFE": {0x01: "Engelmann SensoStar 2C"},
    "ELS": {0x02: "Elster TMP-A", 0x0A: "Elster Falcon", 0x2F: "Elster F96 Plus"},
    "ELV": {**dict.fromkeys(range(0x14, 0x1E), "Elvaco CMa10"), **dict.fromkeys(range(0x32, 0x3C), "Elvaco CMa11")},
    "EMH": {0x00: "EMH DIZ"},
    "GMC": {0xE6: "GMC-I A230 EMMOD 206"},
    "KAM": {0x01: "Kamstrup 382 (6850-005)", 0x08: "Kamstrup Multical 601"},
    "SLB": {0x02: "Allmess Megacontrol CF-50", 0x06: "CF Compact / Integral MK MaXX"},
    "HYD": {0x28: "ABB F95 Typ US770", 0x2F: "Hydrometer Sharky 775"},
    "LUG": {0x02: "Landis & Gyr Ultraheat 2WR5", 0x03: "Landis & Gyr Ultraheat 2WR6",
            0x04: "Landis & Gyr Ultraheat UH50", 0x07: "Landis & Gyr Ultraheat T230"},
    "LSE": {0x99: "Siemens WFH21"},
    "NZR": {0x01: "NZR DHZ 5/63", 0x50: "NZR IC-M2"},
    "RAM": {0x03: "Rossweiner ETK/ETW Modularis"},
    "REL": {0x08: "Relay PadPuls M1", 0x12: "Relay PadPuls M4", 0x20: "Relay Padin 4", 0x30: "Relay AnDi 4",
            0x40: "Relay PadPuls M2"},
    "RKE": {0x69: "Ista sensonic II mbus"},
    "SEN": {0x08: "Sensus PolluCom E", 0x19: "Sensus PolluCom E", 0x0B: "Sensus PolluTherm",
            0x0E: "Sensus PolluStat E"},
    "SON": {0x0D: "Sontex Supercal 531"},
    "SPX": {0x31: "Sensus PolluTherm", 0x34: "Sensus PolluTherm"},
    "SVM": {0x08: "Elster F2 / Deltamess F2", 0x09: "Elster F4 / Kamstrup SVM F22"},
    "TCH": {0x26: "Techem m-bus S", 0x40: "Techem ultra S3"},
    "WZG": {0x03: "Modularis ETW-EAX"},
    "ZRM": {0x81: "Minol Minocal C2", 0x82: "Minol Minocal WR3"},
}
# (medium, version) -> name, for makers whose version numbers repeat across media
_BY_MEDIUM_VERSION: dict[str, dict[tuple[int, int], str]] = {
    "BEC": {(0x02, 0x00): "Berg DCMi", (0x02, 0x07): "Berg BLMi", (0x0F, 0x71): "Berg BMB-10S0"},
    "EMU": {(0x02, 0x10): "EMU Professional 3/75 M-Bus"},
    "GAV": {**{(0x02, v): "Carlo Gavazzi EM24" for v in (0x2D, 0x2E, 0x2F, 0x30)},
            (0x02, 0x39): "Carlo Gavazzi EM21", (0x02, 0x3A): "Carlo Gavazzi EM21", (0x02, 0x40): "Carlo Gavazzi EM33"},
    "JAN": {(0x02, 0x09): "Janitza UMG 96S"},
}
# most significant byte of the identification number -> name
_SENSOCO = {0x30: "Sensoco PT100", 0x41: "Sensoco 2-NTC", 0x45: "Sensoco Laser Light", 0x48: "Sensoco ADIO",
            0x51: "Sensoco THU", 0x61: "Sensoco THU", 0x80: "Sensoco PulseCounter for E-Meter"}
_BY_ID_BYTE: dict[str, dict[int, str]] = {
    "SBC": {0x10: "Saia-Burgess ALE3", 0x19: "Saia-Burgess ALE3", 0x11: "Saia-Burgess AWD3"},
    "SEO": _SENSOCO,
    "GTE": _SENSOCO,
}
_CODES = {manufacturer_code(name): name for name in (*_BY_VERSION, *_BY_MEDIUM_VERSION, *_BY_ID_BYTE, "AMT")}


def product_name(manufacturer: int, version: int, medium: int, ident: int) -> str:
    """libmbus's product name for a variable data header, "" when unknown."""
    name = _CODES.get(manufacturer)
    if name is None:
        return ""
    if name == "AMT":
        return ("Aquametro CALEC ST" if version >= 0xC0 else "Aquametro CALEC MB" if version >= 0x80
                else "Aquametro SAPHIR" if version >= 0x40 else "Aquametro AMTRON")
    if name == "EFE" and version == 0x00:
        return "Engelmann WaterStar" if medium == 0x06 else "Engelmann / Elster SensoStar 2"
    if name in _BY_MEDIUM_VERSION:
        return _BY_MEDIUM_VERSION[name].get((medium, version), "")
    if name in _BY_ID_BYTE:
        return _BY_ID_BYTE[name].get(ident >> 24, "")
    return _BY_VERSION[name].get(version, "")


# --------------------------------------------------------------------------- unit texts (plain XML)


def unit_prefix(exponent: int) -> str:
    """libmbus's decimal prefix for 10^exponent (note the trailing space on some)."""
    named = {0: "", -3: "m", -6: "my", 1: "10 ", 2: "100 ", 3: "k", 4: "10 k", 5: "100 k", 6: "M", 9: "G"}
    return named.get(exponent, f"1e{exponent} ")


_DURATION = ("(seconds)", "(minutes)", "(hours)", "(days)")
_NN = ("second(s)", "minute(s)", "hour(s)", "day(s)")
_PP = ("hour(s)", "day(s)", "month(s)", "year(s)")


def vif_text(vif: int) -> str:
    """Unit text of a primary VIF (the extension bit is ignored)."""
    code = vif & 0x7F
    n = code & 0x07
    group = code & 0x78
    if group == 0x00:
        return f"Energy ({unit_prefix(n - 3)}Wh)"
    if group == 0x08:
        return f"Energy ({unit_prefix(n)}J)"
    if group == 0x10:
        return f"Volume ({unit_prefix(n - 6)} m^3)"
    if group == 0x18:
        return f"Mass ({unit_prefix(n - 3)}kg)"
    if group == 0x28:
        return f"Power ({unit_prefix(n - 3)}W)"
    if group == 0x30:
        return f"Power ({unit_prefix(n)}J/h)"
    if group == 0x38:
        return f"Volume flow ({unit_prefix(n - 6)} m^3/h)"
    if group == 0x40:
        return f"Volume flow ({unit_prefix(n - 7)} m^3/min)"
    if group == 0x48:
        return f"Volume flow ({unit_prefix(n - 9)} m^3/s)"
    if group == 0x50:
        return f"Mass flow ({unit_prefix(n - 3)} kg/h)"
    nn = code & 0x03
    quad = code & 0x7C
    if quad in (0x20, 0x24, 0x70, 0x74):
        name = {0x20: "On time", 0x24: "Operating time", 0x70: "Averaging Duration", 0x74: "Actuality Duration"}[quad]
        return f"{name} {_DURATION[nn]}"
    temperatures = {0x58: "Flow temperature (%sdeg C)", 0x5C: "Return temperature (%sdeg C)",
                    0x60: "Temperature Difference (%s deg C)", 0x64: "External temperature (%s deg C)",
                    0x68: "Pressure (%s bar)"}
    if quad in temperatures:
        return temperatures[quad] % unit_prefix(nn - 3)
    singles = {0x6C: "Time Point (date)", 0x6D: "Time Point (time & date)", 0x6E: "Units for H.C.A.",
               0x6F: "Reserved", 0x7C: "Custom VIF", 0x78: "Fabrication number", 0x7A: "Bus Address",
               0x7F: "Manufacturer specific"}
    return singles.get(code, f"Unknown (VIF=0x{vif:02X})")


def _fb_reserved(vife: int) -> str:
    return f"Reserved (0x{vife:02x})"


def vife_fb_text(vife: int) -> str:
    """Unit text of VIF 0xFB's first extension (EN 13757-3 table 14)."""
    code = vife & 0x7F
    n = code & 0x01
    tenth = "0.1 " if n == 0 else ""
    pairs = {0x00: f"Energy ({tenth}MWh)", 0x08: f"Energy ({tenth}GJ)", 0x10: f"Volume ({unit_prefix(n + 2)}m3)",
             0x18: f"Mass ({unit_prefix(n + 2)}t)", 0x22: f"Volume ({tenth}american gallon)",
             0x28: f"Power ({tenth}MW)", 0x30: f"Power ({tenth}GJ/h)"}
    if code & 0x7E in pairs:
        return pairs[code & 0x7E]
    singles = {0x21: "Volume (0.1 feet^3)", 0x24: "Volume flow (0.001 american gallon/min)",
               0x25: "Volume flow (american gallon/min)", 0x26: "Volume flow (american gallon/h)"}
    if code in singles:
        return singles[code]
    nn = code & 0x03
    quads = {0x58: "Flow Temperature (%s degree F)", 0x5C: "Return Temperature (%s degree F)",
             0x60: "Temperature Difference (%s degree F)", 0x64: "External Temperature (%s degree F)",
             0x70: "Cold / Warm Temperature Limit (%s degree F)", 0x74: "Cold / Warm Temperature Limit (%s degree C)"}
    if code & 0x7C in quads:
        return quads[code & 0x7C] % unit_prefix(nn - 3)
    if code & 0x78 == 0x78:
        return f"cumul. count max power ({unit_prefix((code & 0x07) - 3)} W)"
    if code in (0x50, 0x51):  # a gap in libmbus's table
        return f"Unrecognized VIF 0xFB extension: 0x{vife:02x}"
    return _fb_reserved(vife)


_FD_SINGLES = {
    0x08: "Access Number (transmission count)", 0x09: "Medium (as in fixed header)",
    0x0A: "Manufacturer (as in fixed header)", 0x0B: "Parameter set identification", 0x0C: "Model / Version",
    0x0D: "Hardware version", 0x0E: "Firmware version", 0x0F: "Software version", 0x10: "Customer location",
    0x11: "Customer", 0x12: "Access Code User", 0x13: "Access Code Operator", 0x14: "Access Code System Operator",
    0x15: "Access Code Developer", 0x16: "Password", 0x17: "Error flags", 0x18: "Error mask", 0x19: "Reserved",
    0x1A: "Digital output (binary)", 0x1B: "Digital input (binary)", 0x1C: "Baudrate", 0x1D: "response delay time",
    0x1E: "Retry", 0x1F: "Reserved", 0x20: "First storage # for cyclic storage",
    0x21: "Last storage # for cyclic storage", 0x22: "Size of storage block", 0x23: "Reserved",
    0x28: "Storage interval month(s)", 0x29: "Storage interval year(s)", 0x2A: "Reserved", 0x2B: "Reserved",
    0x30: "Start (date/time) of tariff", 0x38: "Period of tariff months(s)", 0x39: "Period of tariff year(s)",
    0x3A: "dimensionless / no VIF", 0x3B: "Reserved", 0x60: "Reset counter", 0x61: "Cumulation counter",
    0x62: "Control signal", 0x63: "Day of week", 0x64: "Week number", 0x65: "Time point of day change",
    0x66: "State of parameter activation", 0x67: "Special supplier information",
    0x70: "Date and time of battery change",
}


def vife_fd_text(vife: int) -> str:
    """Unit text of VIF 0xFD's first extension (EN 13757-3 table 12)."""
    code = vife & 0x7F
    if code in _FD_SINGLES:
        return _FD_SINGLES[code]
    nn = code & 0x03
    quad = code & 0x7C
    if quad == 0x00:
        return f"Credit of {unit_prefix(nn - 3)} of the nominal local legal currency units"
    if quad == 0x04:
        return f"Debit of {unit_prefix(nn - 3)} of the nominal local legal currency units"
    if quad in (0x24, 0x2C, 0x30, 0x34):
        name = {0x24: "Storage interval", 0x2C: "Duration since last readout", 0x30: "Duration of tariff",
                0x34: "Period of tariff"}[quad]
        return f"{name} {_NN[nn]}"
    if quad == 0x3C:
        return "Reserved"
    if code & 0x70 == 0x40:
        return f"{unit_prefix((code & 0x0F) - 9)} V"
    if code & 0x70 == 0x50:
        return f"{unit_prefix((code & 0x0F) - 12)} A"
    if quad == 0x68:
        return f"Duration since last cumulation {_PP[nn]}"
    if quad == 0x6C:
        return f"Operating time battery {_PP[nn]}"
    return "Reserved VIF extension"  # E111 nnnn


# --------------------------------------------------------------------------- normalized units


class Scale(NamedTuple):
    """Normalized meaning of a VIF code: multiply the raw value by ``factor`` to get ``unit``."""

    factor: float
    unit: str
    quantity: str


def _decades(first: int, count: int, exponent0: int, unit: str, quantity: str) -> dict[int, Scale]:
    # float("1e-3") is the same double as C's literal 1.0e-3 (10.0 ** -3 need not be)
    return {first + n: Scale(float(f"1e{exponent0 + n}"), unit, quantity) for n in range(count)}


def _times(first: int, factors: tuple[float, ...], quantity: str) -> dict[int, Scale]:
    return {first + n: Scale(factor, "s", quantity) for n, factor in enumerate(factors)}


def _named(first: int, names: tuple[str, ...], unit: str = "") -> dict[int, Scale]:
    return {first + n: Scale(1.0, unit, name) for n, name in enumerate(names)}


def _reserved(codes: range | tuple[int, ...], factor: float = 1.0) -> dict[int, Scale]:
    return {code: Scale(factor, "Reserved", "Reserved") for code in codes}


_SMHD = (1.0, 60.0, 3600.0, 86400.0)
_MONTH, _YEAR = 2629743.83, 31556926.0

# keys: primary VIF 0x00-0x7F, VIF 0xFD extension 0x100 + code, VIF 0xFB extension 0x200 + code
NORMALIZED: dict[int, Scale] = {
    **_decades(0x00, 8, -3, "Wh", "Energy"),
    **_decades(0x08, 8, 0, "J", "Energy"),
    **_decades(0x10, 8, -6, "m^3", "Volume"),
    **_decades(0x18, 8, -3, "kg", "Mass"),
    **_times(0x20, _SMHD, "On time"),
    **_times(0x24, _SMHD, "Operating time"),
    **_decades(0x28, 8, -3, "W", "Power"),
    **_decades(0x30, 8, 0, "J/h", "Power"),
    **_decades(0x38, 8, -6, "m^3/h", "Volume flow"),
    **_decades(0x40, 8, -7, "m^3/min", "Volume flow"),
    **_decades(0x48, 8, -9, "m^3/s", "Volume flow"),
    **_decades(0x50, 8, -3, "kg/h", "Mass flow"),
    **_decades(0x58, 4, -3, "°C", "Flow temperature"),
    **_decades(0x5C, 4, -3, "°C", "Return temperature"),
    **_decades(0x60, 4, -3, "K", "Temperature difference"),
    **_decades(0x64, 4, -3, "°C", "External temperature"),
    **_decades(0x68, 4, -3, "bar", "Pressure"),
    0x6C: Scale(1.0, "-", "Time point (date)"),
    0x6D: Scale(1.0, "-", "Time point (date & time)"),
    0x6E: Scale(1.0, "Units for H.C.A.", "H.C.A."),
    0x6F: Scale(0.0, "Reserved", "Reserved"),
    **_times(0x70, _SMHD, "Averaging Duration"),
    **_times(0x74, _SMHD, "Actuality Duration"),
    0x78: Scale(1.0, "", "Fabrication No"),
    0x79: Scale(1.0, "", "(Enhanced) Identification"),
    0x7A: Scale(1.0, "", "Bus Address"),
    0x7E: Scale(1.0, "", "Any VIF"),
    0x7F: Scale(1.0, "", "Manufacturer specific"),
    # VIF 0xFD: main extension table
    **_decades(0x100, 4, -3, "Currency units", "Credit"),
    **_decades(0x104, 4, -3, "Currency units", "Debit"),
    **_named(0x108, ("Access Number (transmission count)", "Medium", "Manufacturer", "Parameter set identification",
                     "Model / Version", "Hardware version", "Firmware version", "Software version",
                     "Customer location", "Customer", "Access Code User", "Access Code Operator",
                     "Access Code System Operator", "Access Code Developer", "Password", "Error flags",
                     "Error mask")),
    **_reserved((0x119,)),
    **_named(0x11A, ("Digital Output", "Digital Input")),
    0x11C: Scale(1.0, "Baud", "Baudrate"),
    0x11D: Scale(1.0, "Bittimes", "Response delay time"),
    0x11E: Scale(1.0, "", "Retry"),
    **_reserved((0x11F,)),
    **_named(0x120, ("First storage # for cyclic storage", "Last storage # for cyclic storage",
                     "Size of storage block")),
    **_reserved((0x123,)),
    **_times(0x124, (*_SMHD, _MONTH, _YEAR), "Storage interval"),
    **_reserved((0x12A, 0x12B)),
    **_times(0x12C, _SMHD, "Duration since last readout"),
    **_reserved((0x130,)),
    **_times(0x131, _SMHD[1:], "Duration of tariff"),
    **_times(0x134, (*_SMHD, _MONTH, _YEAR), "Period of tariff"),
    0x13A: Scale(1.0, "", "Dimensionless"),
    **_reserved(range(0x13B, 0x140)),
    **_decades(0x140, 16, -9, "V", "Voltage"),
    **_decades(0x150, 16, -12, "A", "Current"),
    **_named(0x160, ("Reset counter", "Cumulation counter", "Control signal", "Day of week", "Week number",
                     "Time point of day change", "State of parameter activation", "Special supplier information")),
    **_times(0x168, (3600.0, 86400.0, _MONTH, _YEAR), "Duration since last cumulation"),
    **_times(0x16C, (3600.0, 86400.0, _MONTH, _YEAR), "Operating time battery"),
    0x170: Scale(1.0, "", "Date and time of battery change"),
    **_reserved(range(0x171, 0x180)),
    # VIF 0xFB: alternate extension table (libmbus's entries, including its odd units)
    **_reserved(range(0x200, 0x280)),
    **_decades(0x200, 2, 5, "Wh", "Energy"),
    **_decades(0x208, 2, 8, "Reserved", "Energy"),
    **_decades(0x210, 2, 2, "m^3", "Volume"),
    **_decades(0x218, 2, 5, "kg", "Mass"),
    0x221: Scale(1.0e-1, "feet^3", "Volume"),
    **_decades(0x222, 2, -1, "American gallon", "Volume"),
    0x224: Scale(1.0e-3, "American gallon/min", "Volume flow"),
    0x225: Scale(1.0, "American gallon/min", "Volume flow"),
    0x226: Scale(1.0, "American gallon/h", "Volume flow"),
    **_decades(0x228, 2, 5, "W", "Power"),
    **_decades(0x230, 2, 8, "J", "Power"),
    **_decades(0x258, 4, -3, "°F", "Flow temperature"),
    **_decades(0x25C, 4, -3, "°F", "Return temperature"),
    **_decades(0x260, 4, -3, "°F", "Temperature difference"),
    **_decades(0x264, 4, -3, "°F", "External temperature"),
    **_decades(0x270, 4, -3, "°F", "Cold / Warm Temperature Limit"),
    **_decades(0x274, 4, -3, "°C", "Cold / Warm Temperature Limit"),
    **_decades(0x278, 8, -3, "W", "Cumul count max power"),
    0x279: Scale(1.0e-3, "W", "Cumul count max power"),  # sic in libmbus (10^-2 expected)
}


# --------------------------------------------------------------------------- combinable VIFE (JSON only)

_COMBINABLE = {
    0x20: "per second", 0x21: "per minute", 0x22: "per hour", 0x23: "per day", 0x24: "per week",
    0x25: "per month", 0x26: "per year", 0x27: "per revolution / measurement",
    0x28: "increment per input pulse on input channel 0", 0x29: "increment per input pulse on input channel 1",
    0x2A: "increment per output pulse on output channel 0", 0x2B: "increment per output pulse on output channel 1",
    0x2C: "per litre", 0x2D: "per m^3", 0x2E: "per kg", 0x2F: "per K", 0x30: "per kWh", 0x31: "per GJ",
    0x32: "per kW", 0x33: "per (K*l)", 0x34: "per V", 0x35: "per A", 0x36: "multiplied by s",
    0x37: "multiplied by s/V", 0x38: "multiplied by s/A", 0x39: "start date(/time) of",
    0x3A: "VIF contains uncorrected unit", 0x3B: "accumulation only if positive contributions",
    0x3C: "accumulation of abs value only if negative contributions",
    0x40: "lower limit value", 0x48: "upper limit value", 0x41: "number of exceeds of lower limit",
    0x49: "number of exceeds of upper limit", 0x7D: "multiplicative correction factor 10^3",
    0x7E: "future value", 0x7F: "next VIFE's and data of this block are manufacturer specific",
}


def combinable_vife_text(vife: int) -> str:
    """Meaning of an orthogonal (combinable) VIFE, EN 13757-3 table 15; for the JSON view."""
    code = vife & 0x7F
    if code in _COMBINABLE:
        return _COMBINABLE[code]
    if code < 0x20:
        return f"record error code 0x{code:02X}"
    if code & 0x78 == 0x70:
        return f"multiplicative correction factor 10^{(code & 0x07) - 6}"
    if code & 0x7C == 0x78:
        return f"additive correction constant 10^{(code & 0x03) - 3} (unit of VIF)"
    if 0x42 <= code <= 0x4F:
        return f"limit exceed information 0x{code:02X}"
    if 0x50 <= code <= 0x6F:
        return f"duration / date of limit exceed 0x{code:02X}"
    return f"reserved VIFE 0x{code:02X}"
