"""libmbus-compatible XML: ``mbus-parse-hex`` output (plain and ``-n`` normalized), byte for byte.

The returned text mixes libmbus's own strings (UTF-8, e.g. ``°C``, although the XML declaration says
ISO-8859-1, exactly as libmbus does) with meter bytes kept raw; :func:`xml_bytes` gives the exact
bytes libmbus would write.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .datatypes import bcd_hex
from .describe import normalized, unit_text, value_text
from .frame import Frame, MBusError
from .records import ErrorReport, FixedData, Header, Record, VariableData, parse_payload
from .tables import FIXED_MEDIUM, FIXED_UNIT, application_error_text, medium_text, product_name

__all__ = ["frame_xml", "frame_xml_normalized", "frames_xml", "xml_bytes", "xml_escape"]

PROLOGUE = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<MBusData>\n\n'
EPILOGUE = "</MBusData>\n"
_FIELD_BUFFER = 768  # libmbus escapes into 768-byte buffers
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def xml_bytes(text: str) -> bytes:
    """The exact bytes libmbus writes for ``text`` from this module."""
    return text.encode("utf-8", "surrogateescape")


def xml_escape(text: str) -> str:
    """libmbus's ``mbus_str_xml_encode``: escape & < > ", turn ASCII control characters into spaces."""
    out: list[str] = []
    length = 0
    for char in text:
        if char == "\0":
            break
        if length + 6 >= _FIELD_BUFFER:  # libmbus truncates rather than overflow
            break
        piece = " " if ord(char) < 0x20 or char == "\x7f" else _ENTITIES.get(char, char)
        out.append(piece)
        length += len(xml_bytes(piece))
    return "".join(out)


def _element(name: str, value: object, indent: int = 8) -> str:
    return f"{' ' * indent}<{name}>{value}</{name}>\n"


def _header_xml(header: Header) -> str:
    lines = ["    <SlaveInformation>\n"]
    if header.ident is not None:
        lines += [
            _element("Id", f"{header.ident:X}"),
            _element("Manufacturer", header.manufacturer_id),
            _element("Version", header.version),
            _element("ProductName", xml_escape(product_name(header.manufacturer, header.version, header.medium,
                                                            header.ident))),
            _element("Medium", xml_escape(medium_text(header.medium))),
        ]
    lines += [
        _element("AccessNumber", header.access_number),
        _element("Status", f"{header.status:02X}"),
        _element("Signature", f"{header.signature:04X}"),
        "    </SlaveInformation>\n\n",
    ]
    return "".join(lines)


def _record_xml(record: Record, index: int, frame_index: int | None, timestamp: float | None) -> str:
    attributes = f'id="{index}"' + (f' frame="{frame_index}"' if frame_index is not None else "")
    lines = [f"    <DataRecord {attributes}>\n", _element("Function", record.function)]
    if not record.manufacturer_specific:
        lines.append(_element("StorageNumber", record.storage_number))
        if record.tariff is not None:
            lines += [_element("Tariff", record.tariff), _element("Device", record.device)]
        lines.append(_element("Unit", xml_escape(unit_text(record))))
    lines.append(_element("Value", xml_escape(value_text(record))))
    if timestamp is not None and timestamp > 0:
        lines.append(_element("Timestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))))
    lines.append("    </DataRecord>\n\n")
    return "".join(lines)


def _fixed_xml(data: FixedData) -> str:
    def counter(raw: bytes) -> str:
        return f"{bcd_hex(raw):X}" if data.counters_bcd else str(int.from_bytes(raw, "little", signed=True))

    function = "Stored value" if data.stored else "Actual value"
    lines = [PROLOGUE, "    <SlaveInformation>\n", _element("Id", f"{data.ident:X}"),
             _element("Medium", FIXED_MEDIUM[data.medium_index]), _element("AccessNumber", data.access_number),
             _element("Status", f"{data.status:02X}"), "    </SlaveInformation>\n\n"]
    for index, (unit, raw) in enumerate(((data.type1, data.counter1), (data.type2, data.counter2))):
        lines += [f'    <DataRecord id="{index}">\n', _element("Function", function),
                  _element("Unit", xml_escape(FIXED_UNIT[unit & 0x3F])), _element("Value", counter(raw)),
                  "    </DataRecord>\n\n"]
    lines.append(EPILOGUE)
    return "".join(lines)


def _error_xml(report: ErrorReport) -> str:
    return (PROLOGUE + "    <SlaveInformation>\n" + _element("Error", xml_escape(application_error_text(report.code)))
            + "    </SlaveInformation>\n\n" + EPILOGUE)


def frames_xml(frames: Sequence[Frame], timestamp: float | None = None) -> str:
    """XML of one reply or a multi-telegram reply (libmbus ``mbus_frame_xml``).

    With several frames the header comes from the first and every record carries ``frame="n"``; record
    ids count on across frames.  ``timestamp`` (Unix time of reception) adds libmbus's ``<Timestamp>``.
    """
    if not frames:
        raise MBusError("no frames to describe")
    first = parse_payload(frames[0])
    if isinstance(first, ErrorReport):
        return _error_xml(first)
    if isinstance(first, FixedData):
        return _fixed_xml(first)
    multi = len(frames) > 1
    parts = [PROLOGUE, _header_xml(first.header)]
    index = 0
    for number, frame in enumerate(frames):
        payload = first if number == 0 else parse_payload(frame)
        if not isinstance(payload, VariableData):
            raise MBusError(f"telegram {number} of a multi-telegram reply has no variable data")
        for record in payload.records:
            parts.append(_record_xml(record, index, number if multi else None, timestamp))
            index += 1
    parts.append(EPILOGUE)
    return "".join(parts)


def frame_xml(frame: Frame) -> str:
    """``mbus-parse-hex FILE``: the plain XML of one reply."""
    return frames_xml([frame])


def frame_xml_normalized(frame: Frame) -> str:
    """``mbus-parse-hex -n FILE``: units normalized to SI with a ``<Quantity>``; values scaled.

    libmbus has no normalized form of an application error report (CI 0x70): that raises MBusError.
    """
    payload = parse_payload(frame)
    if isinstance(payload, ErrorReport):
        raise MBusError(f"the slave reports an application error ({application_error_text(payload.code)}, "
                        f"code 0x{payload.code:02X}): there are no values to normalize")
    if isinstance(payload, FixedData):
        return _fixed_xml(payload)
    parts = [PROLOGUE, _header_xml(payload.header)]
    for index, record in enumerate(payload.records):
        parts.append(f'    <DataRecord id="{index}">\n')
        reading = normalized(record)
        if reading is not None:
            parts.append(_element("Function", record.function))
            parts.append(_element("StorageNumber", record.storage_number))
            if record.tariff is not None:
                parts += [_element("Tariff", record.tariff), _element("Device", record.device)]
            parts += [_element("Unit", xml_escape(reading.unit)), _element("Quantity", xml_escape(reading.quantity)),
                      _element("Value", xml_escape(reading.value_text))]
        parts.append("    </DataRecord>\n\n")
    parts.append(EPILOGUE)
    return "".join(parts)


def scan_xml(found: Sequence[tuple[str, bool]], element: str) -> str:
    """A scan's result as XML (libmbus's scanners print text only): one ``<Device>`` per address."""
    parts = ['<?xml version="1.0" encoding="ISO-8859-1"?>\n<MBusScan>\n']
    for address, collision in found:
        parts.append(f"    <Device>\n        <{element}>{xml_escape(address)}</{element}>\n")
        if collision:
            parts.append("        <Collision>true</Collision>\n")
        parts.append("    </Device>\n")
    parts.append("</MBusScan>\n")
    return "".join(parts)
