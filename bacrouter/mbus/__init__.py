"""M-Bus (EN 13757-2/-3) codec, sans-IO: frames, the application layer, libmbus-compatible XML.

The reference for every output string is libmbus (rSCADA / Raditex AB, BSD-3-Clause); its test
corpus lives in ``../shared/testdata/mbus``.
"""

from __future__ import annotations

from .frame import (
    Frame,
    FrameKind,
    MBusError,
    application_reset,
    bytes_from_hex,
    parse_frame,
    parse_secondary_mask,
    req_ud2,
    select_secondary,
    set_primary_address,
    snd_nke,
    switch_baudrate,
)
from .jsonout import records_json
from .receiver import FrameReceiver
from .records import ErrorReport, FixedData, Header, Record, VariableData, parse_payload
from .xml import frame_xml, frame_xml_normalized, frames_xml, xml_bytes

__all__ = [
    "ErrorReport", "FixedData", "Frame", "FrameKind", "FrameReceiver", "Header", "MBusError", "Record",
    "VariableData", "application_reset", "bytes_from_hex", "frame_xml", "frame_xml_normalized", "frames_xml",
    "parse_frame", "parse_payload", "parse_secondary_mask", "records_json", "req_ud2", "select_secondary",
    "set_primary_address", "snd_nke", "switch_baudrate", "xml_bytes",
]
