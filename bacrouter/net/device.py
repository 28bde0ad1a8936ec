"""The router's own BACnet device, light until it is asked more than Who-Is.

The device is a bacpypes3 application (:mod:`.app`), and bacpypes3 costs
about 11 MB of a router's memory. Most of a router's life its device is only
announced and found: I-Am at start and Who-Is answers. Those two are encoded
here; the first other request for the device (a ReadProperty from a
workstation, a gateway that puts its objects in the device) loads the full
application, which then answers everything, that request included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .. import VENDOR_ID
from .npdu import GLOBAL_NETWORK, DecodeError, Npdu, decode, encode

__all__ = ["RouterDevice", "PortDescription", "encode_i_am", "decode_who_is"]

log = logging.getLogger("bacrouter.app")

UNCONFIRMED_REQUEST = 0x10
I_AM, WHO_IS = 0, 8
MAX_INSTANCE = 4194303
DEFAULT_MAX_APDU = 1476
SEGMENTED_BOTH = 0  # what the full application's device object says too


def _unsigned(tag: int, value: int) -> bytes:
    """An application-tagged unsigned (tag 2) or enumerated (tag 9) value."""
    octets = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return bytes([(tag << 4) | len(octets)]) + octets


def encode_i_am(instance: int, max_apdu: int, vendor_id: int = VENDOR_ID) -> bytes:
    """The I-Am APDU of device ``instance`` (clause 16.10)."""
    object_id = (8 << 22) | instance  # object type 8: device
    return (bytes([UNCONFIRMED_REQUEST, I_AM, 0xC4]) + object_id.to_bytes(4, "big") + _unsigned(2, max_apdu)
            + _unsigned(9, SEGMENTED_BOTH) + _unsigned(2, vendor_id))


def decode_who_is(apdu: bytes) -> tuple[int | None, int | None] | None:
    """The range of a Who-Is APDU ((None, None): every device); None when ``apdu`` is not a valid Who-Is."""
    if len(apdu) < 2 or apdu[0] != UNCONFIRMED_REQUEST or apdu[1] != WHO_IS:
        return None
    body = apdu[2:]
    if not body:
        return None, None
    limits: list[int] = []
    for context in (0, 1):  # context tags 0 and 1, each an unsigned of 1 to 4 octets
        if not body or body[0] >> 4 != context or body[0] & 0x08 == 0:
            return None
        length = body[0] & 0x07
        if not 1 <= length <= 4 or len(body) < 1 + length:
            return None
        limits.append(int.from_bytes(body[1:1 + length], "big"))
        body = body[1 + length:]
    if body or limits[0] > MAX_INSTANCE or limits[1] > MAX_INSTANCE:
        return None
    return limits[0], limits[1]


class PortDescription:
    """What the device publishes about one port in its Network Port object."""

    def __init__(self, port_id: int, name: str, network: int, mac: bytes, max_npdu: int, kind: str,
                 routes: Callable[[], list[tuple[int, bytes, bool]]], **ip: Any) -> None:
        self.port_id, self.name, self.network, self.mac, self.max_npdu, self.kind = port_id, name, network, mac, max_npdu, kind
        self.routes = routes
        self.ip = ip


class RouterDevice:
    """The router's device as the node sees it; owns the full application once it is loaded."""

    def __init__(self, *, instance: int, name: str, description: str, location: str,
                 to_router: Callable[[bytes, bool], None], load: Callable[..., Any]) -> None:
        self.instance = instance
        self._settings = {"instance": instance, "name": name, "description": description, "location": location}
        self._to_router, self._load = to_router, load
        self._full: Any = None  # the RouterApplication of .app, once loaded
        self._ports: dict[int, tuple[PortDescription, Any]] = {}
        self.answered_who_is = 0  # answered here, without the full application

    # ------------------------------------------------------------------ the full application, on demand

    @property
    def loaded(self) -> bool:
        return self._full is not None

    def full(self) -> Any:
        if self._full is None:
            log.debug("loading the device application")
            self._full = self._load(to_router=self._to_router, **self._settings)
            for description, fdt in self._ports.values():
                self._full.add_port(description, fdt)
        return self._full

    @property
    def app(self) -> Any:
        """The bacpypes3 application (loads it): gateways add their objects here."""
        return self.full().app

    @property
    def dropped(self) -> int:
        """NPDUs the application could not keep up with."""
        return self._full.link.dropped if self._full is not None else 0

    # ------------------------------------------------------------------ traffic

    def deliver(self, data: bytes, broadcast: bool) -> None:
        """An NPDU from the router for the device."""
        if self._full is not None:
            self._full.deliver(data, broadcast)
            return
        try:
            npdu = decode(data)
        except DecodeError:
            return
        if npdu.is_network_message:
            return
        who_is = decode_who_is(npdu.payload)
        if who_is is None:
            self.full().deliver(data, broadcast)
            return
        low, high = who_is
        if low is None or high is None or low <= self.instance <= high:
            self.answered_who_is += 1
            # to the asker, like bacpypes3 does (it sees every station as remote: SNET/SADR)
            self._send(Npdu(dnet=npdu.snet, dadr=npdu.sadr, payload=self._i_am()))

    def announce(self) -> None:
        """I-Am to everyone, so the router's device is found without a Who-Is."""
        if self._full is not None:
            self._full.announce()
        else:
            self._send(Npdu(dnet=GLOBAL_NETWORK, payload=self._i_am()))

    def _i_am(self) -> bytes:
        sizes = [d.max_npdu - 21 for d, _ in self._ports.values()]
        return encode_i_am(self.instance, min(sizes) if sizes else DEFAULT_MAX_APDU)

    def _send(self, npdu: Npdu) -> None:
        self._to_router(encode(npdu), False)

    # ------------------------------------------------------------------ ports

    def add_port(self, description: PortDescription, fdt: Any = None) -> None:
        self._ports[description.port_id] = (description, fdt)
        if self._full is not None:
            self._full.add_port(description, fdt)

    def remove_port(self, port_id: int) -> None:
        self._ports.pop(port_id, None)
        if self._full is not None:
            self._full.remove_port(port_id)

    def close(self) -> None:
        if self._full is not None:
            self._full.close()
