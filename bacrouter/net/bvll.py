"""BACnet Virtual Link Layer for BACnet/IP (ASHRAE 135 Annex J), codec only.

A B/IP address (the "MAC" of a BACnet/IP station) is 6 octets: the IPv4
address and the UDP port, both big-endian.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from enum import IntEnum

from .npdu import DecodeError

__all__ = [
    "BVLC_TYPE",
    "Function",
    "Result",
    "BdtEntry",
    "FdtEntry",
    "split",
    "pack",
    "mac",
    "ip_port",
    "decode_bdt",
    "encode_bdt",
    "decode_fdt",
    "encode_fdt",
]

BVLC_TYPE = 0x81


class Function(IntEnum):
    RESULT = 0x00
    WRITE_BDT = 0x01
    READ_BDT = 0x02
    READ_BDT_ACK = 0x03
    FORWARDED_NPDU = 0x04
    REGISTER_FOREIGN_DEVICE = 0x05
    READ_FDT = 0x06
    READ_FDT_ACK = 0x07
    DELETE_FDT_ENTRY = 0x08
    DISTRIBUTE_BROADCAST_TO_NETWORK = 0x09
    ORIGINAL_UNICAST_NPDU = 0x0A
    ORIGINAL_BROADCAST_NPDU = 0x0B
    SECURE_BVLL = 0x0C


class Result(IntEnum):
    SUCCESS = 0x0000
    WRITE_BDT_NAK = 0x0010
    READ_BDT_NAK = 0x0020
    REGISTER_FOREIGN_DEVICE_NAK = 0x0030
    READ_FDT_NAK = 0x0040
    DELETE_FDT_ENTRY_NAK = 0x0050
    DISTRIBUTE_BROADCAST_TO_NETWORK_NAK = 0x0060


def split(data: bytes | memoryview) -> tuple[int, bytes]:
    """A datagram → (function, body after the 4-octet header)."""
    if len(data) < 4:
        raise DecodeError("BVLL shorter than its 4-octet header")
    if data[0] != BVLC_TYPE:
        raise DecodeError(f"BVLC type 0x{data[0]:02x} is not BACnet/IP (0x81)")
    length = (data[2] << 8) | data[3]
    if length != len(data):
        raise DecodeError(f"BVLL length field {length} but {len(data)} octets received")
    return data[1], bytes(data[4:])


def pack(function: int, body: bytes = b"") -> bytes:
    length = 4 + len(body)
    return bytes((BVLC_TYPE, function, length >> 8, length & 0xFF)) + body


def mac(ip: str, port: int) -> bytes:
    """(ip, port) → 6-octet B/IP address."""
    return socket.inet_aton(ip) + port.to_bytes(2, "big")


def ip_port(address: bytes) -> tuple[str, int]:
    """6-octet B/IP address → (ip, port)."""
    return socket.inet_ntoa(address[:4]), (address[4] << 8) | address[5]


def text(address: bytes | None) -> str:
    if not address or len(address) != 6:
        return address.hex() if address else "-"
    ip, port = ip_port(address)
    return f"{ip}:{port}"


@dataclass(frozen=True, slots=True)
class BdtEntry:
    address: bytes  # 6 octets
    mask: bytes = b"\xff\xff\xff\xff"

    @property
    def forward_to(self) -> bytes:
        """Where broadcasts for this peer go: the peer itself, or its subnet's directed broadcast."""
        if self.mask == b"\xff\xff\xff\xff":
            return self.address
        ip = bytes(a | (~m & 0xFF) for a, m in zip(self.address[:4], self.mask, strict=True))
        return ip + self.address[4:6]


@dataclass(frozen=True, slots=True)
class FdtEntry:
    address: bytes
    ttl: int
    remaining: int


def decode_bdt(body: bytes) -> list[BdtEntry]:
    if len(body) % 10:
        raise DecodeError("broadcast distribution table length is not a multiple of 10")
    return [BdtEntry(body[i : i + 6], body[i + 6 : i + 10]) for i in range(0, len(body), 10)]


def encode_bdt(entries: list[BdtEntry]) -> bytes:
    return b"".join(e.address + e.mask for e in entries)


def decode_fdt(body: bytes) -> list[FdtEntry]:
    if len(body) % 10:
        raise DecodeError("foreign device table length is not a multiple of 10")
    return [
        FdtEntry(body[i : i + 6], int.from_bytes(body[i + 6 : i + 8], "big"), int.from_bytes(body[i + 8 : i + 10], "big"))
        for i in range(0, len(body), 10)
    ]


def encode_fdt(entries: list[FdtEntry]) -> bytes:
    return b"".join(e.address + e.ttl.to_bytes(2, "big") + min(e.remaining, 0xFFFF).to_bytes(2, "big") for e in entries)
