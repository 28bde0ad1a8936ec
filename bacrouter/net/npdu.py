"""BACnet NPDU codec (ASHRAE 135 clause 6.2) and network-layer message bodies.

Pure functions over bytes. ``decode`` accepts anything and raises only
:class:`DecodeError`; ``encode`` writes the control octet from the fields
present, so a decoded-then-encoded NPDU is canonical.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "DecodeError",
    "Npdu",
    "NetMsg",
    "RejectReason",
    "GLOBAL_NETWORK",
    "decode",
    "encode",
    "network_list",
    "encode_network_list",
    "RoutingEntry",
    "decode_routing_table",
    "encode_routing_table",
]

VERSION = 0x01
GLOBAL_NETWORK = 0xFFFF

CTRL_NETWORK_MESSAGE = 0x80
CTRL_DNET = 0x20
CTRL_SNET = 0x08
CTRL_EXPECTING_REPLY = 0x04
CTRL_PRIORITY = 0x03
#: the bits a router carries through unchanged
CTRL_KEEP = CTRL_EXPECTING_REPLY | CTRL_PRIORITY


class DecodeError(ValueError):
    """The octets are not a well-formed NPDU (or message body)."""


class NetMsg(IntEnum):
    WHO_IS_ROUTER_TO_NETWORK = 0x00
    I_AM_ROUTER_TO_NETWORK = 0x01
    I_COULD_BE_ROUTER_TO_NETWORK = 0x02
    REJECT_MESSAGE_TO_NETWORK = 0x03
    ROUTER_BUSY_TO_NETWORK = 0x04
    ROUTER_AVAILABLE_TO_NETWORK = 0x05
    INITIALIZE_ROUTING_TABLE = 0x06
    INITIALIZE_ROUTING_TABLE_ACK = 0x07
    ESTABLISH_CONNECTION_TO_NETWORK = 0x08
    DISCONNECT_CONNECTION_TO_NETWORK = 0x09
    CHALLENGE_REQUEST = 0x0A
    SECURITY_PAYLOAD = 0x0B
    SECURITY_RESPONSE = 0x0C
    REQUEST_KEY_UPDATE = 0x0D
    UPDATE_KEY_SET = 0x0E
    UPDATE_DISTRIBUTION_KEY = 0x0F
    REQUEST_MASTER_KEY = 0x10
    SET_MASTER_KEY = 0x11
    WHAT_IS_NETWORK_NUMBER = 0x12
    NETWORK_NUMBER_IS = 0x13


class RejectReason(IntEnum):
    OTHER = 0
    UNKNOWN_NETWORK = 1  # not directly connected and no router found
    ROUTER_BUSY = 2
    UNKNOWN_MESSAGE_TYPE = 3
    MESSAGE_TOO_LONG = 4
    SECURITY_ERROR = 5
    ADDRESSING_ERROR = 6  # DLEN/SLEN invalid for the network


@dataclass(slots=True)
class Npdu:
    """An NPDU. ``dadr == b""`` with a DNET is a broadcast on DNET."""

    control: int = 0  # only expecting-reply and priority are kept; the rest follow the fields
    dnet: int | None = None
    dadr: bytes = b""
    snet: int | None = None
    sadr: bytes = b""
    hop_count: int = 255
    message_type: int | None = None  # set for network-layer messages
    vendor_id: int | None = None  # proprietary messages (type >= 0x80)
    payload: bytes = b""  # the APDU, or the network message body

    @property
    def is_network_message(self) -> bool:
        return self.message_type is not None

    @property
    def expecting_reply(self) -> bool:
        return bool(self.control & CTRL_EXPECTING_REPLY)

    @property
    def priority(self) -> int:
        return self.control & CTRL_PRIORITY


def _network_address(data: bytes | bytearray | memoryview, pos: int, which: str) -> tuple[int, bytes, int]:
    """DNET, DLEN, DADR (or the S ones) at ``pos``: (network, address, position after them)."""
    if len(data) < pos + 3:
        raise DecodeError(f"truncated {which}NET/{which}LEN")
    network = (data[pos] << 8) | data[pos + 1]
    end = pos + 3 + data[pos + 2]
    if len(data) < end:
        raise DecodeError(f"truncated {which}ADR")
    return network, bytes(data[pos + 3 : end]), end


def decode(data: bytes | bytearray | memoryview) -> Npdu:
    length = len(data)
    if length < 2:
        raise DecodeError("NPDU shorter than 2 octets")
    if data[0] != VERSION:
        raise DecodeError(f"protocol version {data[0]} is not 1")
    control = data[1]
    pos = 2
    npdu = Npdu(control=control & CTRL_KEEP)
    if control & CTRL_DNET:
        npdu.dnet, npdu.dadr, pos = _network_address(data, pos, "D")
    if control & CTRL_SNET:
        npdu.snet, npdu.sadr, pos = _network_address(data, pos, "S")
    if control & CTRL_DNET:
        if length < pos + 1:
            raise DecodeError("missing hop count")
        npdu.hop_count = data[pos]
        pos += 1
    if control & CTRL_NETWORK_MESSAGE:
        if length < pos + 1:
            raise DecodeError("missing network message type")
        npdu.message_type = data[pos]
        pos += 1
        if npdu.message_type >= 0x80:
            if length < pos + 2:
                raise DecodeError("missing vendor id of a proprietary network message")
            npdu.vendor_id = (data[pos] << 8) | data[pos + 1]
            pos += 2
    npdu.payload = bytes(data[pos:])
    return npdu


def encode(npdu: Npdu) -> bytes:
    control = npdu.control & CTRL_KEEP
    out = bytearray(b"\x01\x00")
    if npdu.dnet is not None:
        control |= CTRL_DNET
        out += npdu.dnet.to_bytes(2, "big")
        out.append(len(npdu.dadr))
        out += npdu.dadr
    if npdu.snet is not None:
        control |= CTRL_SNET
        out += npdu.snet.to_bytes(2, "big")
        out.append(len(npdu.sadr))
        out += npdu.sadr
    if npdu.dnet is not None:
        out.append(npdu.hop_count & 0xFF)
    if npdu.message_type is not None:
        control |= CTRL_NETWORK_MESSAGE
        out.append(npdu.message_type)
        if npdu.message_type >= 0x80:
            out += (npdu.vendor_id or 0).to_bytes(2, "big")
    out[1] = control
    out += npdu.payload
    return bytes(out)


# --------------------------------------------------------------------------- message bodies


def network_list(body: bytes) -> list[int]:
    """The DNET list of I-Am-Router, Router-Busy and Router-Available."""
    if len(body) % 2:
        raise DecodeError("network list has an odd number of octets")
    return [int.from_bytes(body[i : i + 2], "big") for i in range(0, len(body), 2)]


def encode_network_list(networks: list[int]) -> bytes:
    return b"".join(n.to_bytes(2, "big") for n in networks)


def decode_reject(body: bytes) -> tuple[int, int]:
    """Reject-Message-To-Network body → (reason, DNET)."""
    if len(body) < 3:
        raise DecodeError("Reject-Message-To-Network shorter than 3 octets")
    return body[0], int.from_bytes(body[1:3], "big")


def encode_reject(reason: int, dnet: int) -> bytes:
    return bytes([reason]) + dnet.to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class RoutingEntry:
    network: int
    port_id: int
    port_info: bytes = b""


def decode_routing_table(body: bytes) -> list[RoutingEntry]:
    """Initialize-Routing-Table(-Ack) body: count, then (DNET, port ID, info length, info)."""
    if not body:
        raise DecodeError("routing table without the number of ports")
    count = body[0]
    pos = 1
    entries = []
    for _ in range(count):
        if len(body) < pos + 4:
            raise DecodeError("truncated routing table entry")
        network = int.from_bytes(body[pos : pos + 2], "big")
        port_id = body[pos + 2]
        info_len = body[pos + 3]
        pos += 4
        if len(body) < pos + info_len:
            raise DecodeError("truncated port info")
        entries.append(RoutingEntry(network, port_id, bytes(body[pos : pos + info_len])))
        pos += info_len
    return entries


def encode_routing_table(entries: list[RoutingEntry]) -> bytes:
    out = bytearray([len(entries)])
    for entry in entries:
        out += entry.network.to_bytes(2, "big")
        out.append(entry.port_id)
        out.append(len(entry.port_info))
        out += entry.port_info
    return bytes(out)


def decode_network_number_is(body: bytes) -> tuple[int, bool]:
    """Network-Number-Is body → (network, configured).

    The flag is 1 for configured, 0 for learned; some stacks send their
    network-number-quality enumeration instead, so any non-zero means configured.
    """
    if len(body) < 3:
        raise DecodeError("Network-Number-Is shorter than 3 octets")
    return int.from_bytes(body[0:2], "big"), body[2] != 0
