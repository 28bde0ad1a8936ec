"""The UCI sections of the Free Client: their options, defaults and docs.

Light on purpose: ``bacrouter check`` and the configuration reference import
this module without the gateway's runtime or its protocol libraries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config.model import Section, opt
from ..config.resources import ResourceType

__all__ = ["FreeClientBus"]


@dataclass
class FreeClientBus(Section):
    """``config freeclient_bus``: a Lua script speaking a protocol on an RS485 line or to a TCP server.

    Its devices and points (and, unless options here say otherwise, its script,
    tag and line settings) come from a JSON file in the original product's bus
    export format."""

    uci_type: ClassVar[str] = "freeclient_bus"
    resource_types: ClassVar[tuple[ResourceType, ...]] = (ResourceType.USB,)
    shares_line: ClassVar[bool] = True  # buses take turns on a line, one transaction at a time

    enabled: bool = opt(True, doc="run this bus")
    definition: str = opt("", doc="the bus in the original's export format (default: freeclient/NAME.json in the "
                                  "data directory)")
    script: str = opt("", doc="Lua script file, instead of the one in the definition (relative paths: the data "
                              "directory, then the shipped scripts)")
    resource: str = opt("", doc="USB (RS485) resource of an RS485 bus")
    server: str = opt("", doc="host:port of a TCP bus")
    baudrate: int = opt(None, choices=(1200, 2400, 4800, 9600, 19200, 38400, 57600, 76800, 115200),
                        doc="serial baud rate (default: the definition's, else 9600)")
    parity: str = opt(None, choices=("none", "even", "odd"), doc="serial parity (default: the definition's)")
    bit7: bool = opt(None, doc="7 data bits instead of 8 (default: the definition's)")
    frame_ms: int = opt(None, min=1, max=60000, doc="silence that ends an answer (default: the definition's, "
                                                  "else 3.5 characters)")
    tag: str = opt(None, doc="the bus tag handed to the script (default: the definition's)")

    #: filled in when the configuration is loaded
    bus: Any = field(default=None, compare=False, repr=False, metadata={"option": None})

    @property
    def claimed_resource(self) -> str | None:
        """The line it uses: its option, else (once loaded) the one its definition file names."""
        if not self.enabled:
            return None
        return self.resource or (getattr(self.bus, "resource", "") if self.bus is not None else "") or None
    definition_file: str = field(default="", compare=False, metadata={"option": None})
    definition_signature: str = field(default="", metadata={"option": None})
