"""The UCI sections of the Modbus gateway: their options, defaults and docs.

Light on purpose: ``bacrouter check`` and the configuration reference import
this module without the gateway's runtime or its protocol libraries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config.model import Section, opt
from ..config.resources import ResourceType

__all__ = ["ModbusMaster", "ModbusSlave"]


@dataclass
class ModbusMaster(Section):
    """``config modbus_master``: one Modbus line (an RS485 resource) or one TCP server."""

    uci_type: ClassVar[str] = "modbus_master"
    resource_types: ClassVar[tuple[ResourceType, ...]] = (ResourceType.USB,)

    enabled: bool = opt(True, doc="poll this master's slaves")
    protocol: str = opt("rtu", choices=("rtu", "ascii", "tcp", "rtu-over-tcp"),
                        doc="rtu or ascii on RS485; tcp or rtu-over-tcp to host:port")
    resource: str = opt("", doc="USB (RS485) resource for rtu and ascii")
    host: str = opt("", doc="Modbus TCP server (tcp, rtu-over-tcp)")
    port: int = opt(502, min=1, max=65535, doc="TCP port of the server")
    request_gap_ms: int = opt(0, min=0, max=10000, doc="extra silence between requests, for slow devices")

    @property
    def serial(self) -> bool:
        return self.protocol in ("rtu", "ascii")

    @property
    def claimed_resource(self) -> str | None:
        return self.resource or None if self.enabled and self.serial else None


@dataclass
class ModbusSlave(Section):
    """``config modbus_slave``: one Modbus device; its points are in a device-config JSON file."""

    uci_type: ClassVar[str] = "modbus_slave"

    enabled: bool = opt(True, doc="poll this slave")
    master: str = opt(None, required=True, doc="the modbus_master section it is on")
    points: str = opt("", doc="device-config JSON with the points (default: modbus/NAME.json in the data directory)")
    station: int = opt(1, min=0, max=255, doc="Modbus station (unit) address")
    description: str = opt("", max=255, doc="description")
    instance: int = opt(None, min=0, max=4194302, doc="device instance in virtual-device mode (vbus)")
    block: int = opt(None, min=1, max=4193, doc="instance block (block*1000 ..+999) in single-device mode")
    timeout_ms: int = opt(1000, min=10, max=60000, doc="answer timeout")
    update_ms: int = opt(1000, min=0, max=86400000, doc="refresh values older than this")
    offline_ms: int = opt(10000, min=100, max=86400000, doc="retry interval while offline")
    baudrate: int = opt(9600, choices=(1200, 2400, 4800, 9600, 19200, 38400, 57600, 76800, 115200),
                        doc="serial baud rate (rtu, ascii)")
    parity: str = opt("none", choices=("none", "even", "odd"), doc="serial parity")
    stop_bits: int = opt(1, choices=(1, 2), doc="serial stop bits")
    ascii: bool = opt(None, doc="ASCII framing on a serial line (default: the master's protocol)")
    group_bit: int = opt(2000, min=1, max=2000, doc="most bits read in one request (multiply read bits)")
    unused_bit: int = opt(0, min=0, max=2000, doc="unused bits a request may read across (bits skipped)")
    group_reg: int = opt(125, min=1, max=125, doc="most registers read in one request (multiply read registers)")
    unused_reg: int = opt(0, min=0, max=125, doc="unused registers a request may read across (registers skipped)")
    single_write_coil: bool = opt(False, doc="write one coil with function 5 instead of 15")
    single_write_reg: bool = opt(False, doc="write one register with function 6 instead of 16")
    coil_fr_discrete: bool = opt(False, doc="read coils with function 2 (discrete inputs)")
    holding_fr_input: bool = opt(False, doc="read holding registers with function 4 (input registers)")
    byte_reverse: bool = opt(False, doc="swap the octets of one-register values")
    integer_byte_reverse: bool = opt(False, doc="swap octets in each register of long integers")
    float_byte_reverse: bool = opt(False, doc="swap octets in each register of floats")
    integer_little_endian: bool = opt(False, doc="least significant register first in long integers")
    float_little_endian: bool = opt(False, doc="least significant register first in floats")

    #: the parsed points, filled in when the configuration is loaded
    point_list: list[Any] = field(default_factory=list, compare=False, repr=False, metadata={"option": None})
    points_file: str = field(default="", compare=False, metadata={"option": None})
    points_signature: str = field(default="", metadata={"option": None})  # changes when the file changes
