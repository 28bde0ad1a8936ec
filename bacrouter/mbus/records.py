"""M-Bus application layer (EN 13757-3): what a slave's RSP_UD carries.

:func:`parse_payload` turns a frame into an :class:`ErrorReport` (CI 0x70), :class:`FixedData`
(CI 0x73/0x77) or :class:`VariableData` (CI 0x72/0x76 long header, 0x7A short header) made of
:class:`Record` s that keep the raw DIF/DIFE/VIF/VIFE/data.  Interpretation for humans lives in
:mod:`.describe`; this module only splits the bytes and says precisely where they stop making sense.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .datatypes import text_reversed
from .frame import Frame, FrameKind, MBusError
from .tables import manufacturer_text

__all__ = [
    "ErrorReport", "FixedData", "Header", "Payload", "Record", "VariableData", "parse_payload",
]

CI_ERROR = 0x70
CI_VARIABLE = 0x72
CI_FIXED = 0x73
CI_VARIABLE_MSB = 0x76
CI_FIXED_MSB = 0x77
CI_SHORT_HEADER = 0x7A

DIF_MANUFACTURER = 0x0F
DIF_MORE_RECORDS = 0x1F
DIF_FILLER = 0x2F
MAX_EXTENSIONS = 10  # DIFE and VIFE each, as libmbus
MAX_CUSTOM_VIF = 128

_DATA_LENGTH = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, 0, 6, 8)  # by the DIF's data field; 0x0D is variable
_FRAME_OFFSET = 7  # data field byte 0 is frame byte 7 (68 L L 68 C A CI)


@dataclass(frozen=True)
class Header:
    """The variable data header.  ``ident`` is None for the short header (CI 0x7A)."""

    ident: int | None  # the 4 BCD bytes as a little-endian integer: f"{ident:X}" shows the digits
    manufacturer: int | None
    version: int | None
    medium: int | None
    access_number: int
    status: int
    signature: int

    @property
    def manufacturer_id(self) -> str:
        return manufacturer_text(self.manufacturer) if self.manufacturer is not None else ""

    @property
    def secondary_address(self) -> str:
        """libmbus's 16-hex-digit form: ID, manufacturer bytes in frame order, version, medium."""
        if self.ident is None or self.manufacturer is None:
            return ""
        maker = self.manufacturer.to_bytes(2, "little").hex().upper()
        return f"{self.ident:08X}{maker}{self.version:02X}{self.medium:02X}"


@dataclass(frozen=True)
class Record:
    """One data record; ``vif`` is None for manufacturer-specific data (DIF 0x0F / 0x1F)."""

    dif: int
    dife: tuple[int, ...] = ()
    vif: int | None = None
    vife: tuple[int, ...] = ()
    custom_vif: bytes = b""  # plain-text VIF (0x7C / 0xFC), already in reading order
    data: bytes = b""
    lvar: int | None = None  # the length byte of variable-length data (DIF data field 0x0D)

    @property
    def manufacturer_specific(self) -> bool:
        return self.dif in (DIF_MANUFACTURER, DIF_MORE_RECORDS)

    @property
    def data_field(self) -> int:
        return self.dif & 0x0F

    @property
    def function(self) -> str:
        if self.dif == DIF_MANUFACTURER:
            return "Manufacturer specific"
        if self.dif == DIF_MORE_RECORDS:
            return "More records follow"
        return ("Instantaneous value", "Maximum value", "Minimum value", "Value during error state")[(self.dif >> 4) & 3]

    @property
    def storage_number(self) -> int:
        number = (self.dif & 0x40) >> 6
        for index, dife in enumerate(self.dife):
            number |= (dife & 0x0F) << (1 + 4 * index)
        return number

    @property
    def tariff(self) -> int | None:
        """None without DIFE (libmbus then prints no Tariff/Device)."""
        if not self.dife:
            return None
        return sum(((dife & 0x30) >> 4) << (2 * index) for index, dife in enumerate(self.dife))

    @property
    def device(self) -> int | None:
        """The subunit; None without DIFE."""
        if not self.dife:
            return None
        return sum(((dife & 0x40) >> 6) << index for index, dife in enumerate(self.dife))


@dataclass(frozen=True)
class VariableData:
    ci: int
    header: Header
    records: tuple[Record, ...]

    @property
    def more_records_follow(self) -> bool:
        """DIF 0x1F seen: request the next telegram (REQ_UD2 with the FCB toggled)."""
        return any(r.dif == DIF_MORE_RECORDS for r in self.records)


@dataclass(frozen=True)
class FixedData:
    ident: int  # BCD bytes as a little-endian integer
    access_number: int
    status: int
    type1: int  # medium/unit bytes
    type2: int
    counter1: bytes
    counter2: bytes

    @property
    def counters_bcd(self) -> bool:
        return not self.status & 0x80

    @property
    def stored(self) -> bool:
        return bool(self.status & 0x40)

    @property
    def medium_index(self) -> int:
        return ((self.type1 & 0xC0) >> 6) | ((self.type2 & 0xC0) >> 4)


@dataclass(frozen=True)
class ErrorReport:
    """CI 0x70: the slave reports a general application error instead of data."""

    code: int


Payload = VariableData | FixedData | ErrorReport


def parse_payload(frame: Frame) -> Payload:
    """Decode the application data of a slave's reply; MBusError says what is wrong and where."""
    if frame.kind in (FrameKind.ACK, FrameKind.SHORT):
        raise MBusError(f"{frame.kind.value} frame: carries no application data")
    if frame.from_master:
        raise MBusError(f"control field 0x{frame.control:02X}: a master-to-slave frame, not a slave's reply")
    ci, data = frame.ci, frame.data
    if ci == CI_ERROR:
        return ErrorReport(data[0] if data else 0)
    if ci in (CI_FIXED, CI_FIXED_MSB):
        return _fixed(data, msb_first=ci == CI_FIXED_MSB)
    if ci in (CI_VARIABLE, CI_VARIABLE_MSB):
        if not data:
            raise MBusError(f"CI 0x{ci:02X} variable data: the data field is empty")
        if len(data) < 12:
            raise MBusError(f"variable data header too short: 12 bytes needed, {len(data)} given "
                            f"(frame bytes {_FRAME_OFFSET}..{_FRAME_OFFSET + len(data) - 1})")
        msb = ci == CI_VARIABLE_MSB
        header = Header(ident=_number(data[0:4], msb), manufacturer=_number(data[4:6], msb), version=data[6],
                        medium=data[7], access_number=data[8], status=data[9], signature=_number(data[10:12], msb))
        return VariableData(ci, header, _records(data, 12, msb))
    if ci == CI_SHORT_HEADER:
        if len(data) < 4:
            raise MBusError(f"short header (CI 0x7A) too short: 4 bytes needed, {len(data)} given")
        header = Header(None, None, None, None, data[0], data[1], _number(data[2:4], False))
        return VariableData(ci, header, _records(data, 4, False))
    raise MBusError(f"CI field (byte 6): 0x{ci:02X} is not implemented "
                    "(known: 70 error, 72/76 variable data, 73/77 fixed data, 7A short header)")


def _number(data: bytes, msb_first: bool) -> int:
    return int.from_bytes(data, "big" if msb_first else "little")


def _fixed(data: bytes, msb_first: bool) -> FixedData:
    if not data:
        raise MBusError("fixed data (CI 0x73): the data field is empty")
    if len(data) != 16:
        raise MBusError(f"fixed data structure: 16 bytes expected, {len(data)} given")
    counter1, counter2 = (data[8:12][::-1], data[12:16][::-1]) if msb_first else (data[8:12], data[12:16])
    return FixedData(_number(data[0:4], msb_first), data[4], data[5], data[6], data[7], counter1, counter2)


def _records(data: bytes, start: int, msb_first: bool) -> tuple[Record, ...]:
    records: list[Record] = []
    i = start
    while i < len(data):
        if data[i] == DIF_FILLER:
            i += 1
            continue
        record, i = _record(data, i, len(records))
        if msb_first and record.lvar is None and not record.manufacturer_specific:
            record = replace(record, data=record.data[::-1])  # mode 2: multi-byte values MSB first
        records.append(record)
    return tuple(records)


def _record(data: bytes, at: int, index: int) -> tuple[Record, int]:
    """Parse the record whose DIF is at ``data[at]``; return it and the index after it."""
    dif = data[at]

    def fail(problem: str, where: int) -> MBusError:
        return MBusError(f"record {index} (DIF 0x{dif:02X} at data byte {at}, frame byte {at + _FRAME_OFFSET}): "
                         f"{problem} (at data byte {where}, frame byte {where + _FRAME_OFFSET}; "
                         f"the data field has {len(data)} bytes)")

    if dif in (DIF_MANUFACTURER, DIF_MORE_RECORDS):  # the rest is the manufacturer's
        return Record(dif, data=data[at + 1:]), len(data)
    i, dife = _extensions(data, at, "DIFE", fail)
    if i >= len(data):
        raise fail("premature end of record: VIF missing", i)
    vif = data[i]
    i += 1
    custom = b""
    if vif & 0x7F == 0x7C:  # plain-text VIF: length byte, then ASCII last character first
        if i >= len(data):
            raise fail("premature end of record: length of the plain-text VIF missing", i)
        size = data[i]
        if size > MAX_CUSTOM_VIF:
            raise fail(f"plain-text VIF too long: {size} characters, at most {MAX_CUSTOM_VIF}", i)
        if i + 1 + size > len(data):
            raise fail(f"premature end of record in the plain-text VIF: {size} characters announced, "
                       f"{len(data) - i - 1} left", i)
        custom = text_reversed(data[i + 1:i + 1 + size])
        i += 1 + size
    i, vife = _extensions(data, i - 1, "VIFE", fail, first=vif)
    size = _DATA_LENGTH[dif & 0x0F]
    lvar = None
    if dif & 0x0F == 0x0D:
        if i >= len(data):
            raise fail("premature end of record: LVAR (length of variable data) missing", i)
        lvar = data[i]
        size = _lvar_size(lvar)
        if size is None:
            raise fail(f"LVAR 0x{lvar:02X} is reserved", i)
        i += 1
    if i + size > len(data):
        raise fail(f"premature end of record in the data: {size} bytes needed, {len(data) - i} left", i)
    return Record(dif, dife, vif, vife, custom, data[i:i + size], lvar), i + size


def _extensions(data: bytes, at: int, name: str, fail: Callable[[str, int], MBusError],
                first: int | None = None) -> tuple[int, tuple[int, ...]]:
    """Collect the extension bytes following ``data[at]`` (or ``first``) while the extension bit is set."""
    previous = data[at] if first is None else first
    found: list[int] = []
    i = at + 1
    while previous & 0x80:
        if len(found) >= MAX_EXTENSIONS:
            raise fail(f"more than {MAX_EXTENSIONS} {name}", i)
        if i >= len(data):
            raise fail(f"premature end of record: {name} announced by the extension bit", i)
        previous = data[i]
        found.append(previous)
        i += 1
    return i, tuple(found)


def _lvar_size(lvar: int) -> int | None:
    """Data bytes after an LVAR byte (EN 13757-3 table 5); None for the reserved 0xFB-0xFF."""
    if lvar <= 0xBF:
        return lvar  # ISO 8859-1 text
    if lvar <= 0xDF:
        return lvar & 0x0F  # positive (C_) or negative (D_) BCD of 2·n digits
    if lvar <= 0xEF:
        return lvar - 0xE0  # binary
    if lvar <= 0xFA:
        return 4 * (lvar - 0xEC)  # binary of 16 ... 56 bytes
    return None
