"""BACnet Ethernet (ISO 8802-2 LLC over 802.3, clause 7): the frame codec and the router's port on a raw socket.

A BACnet frame on Ethernet is an 802.3 frame with a *length* field (not an
EtherType) and an LLC header DSAP 0x82, SSAP 0x82, control 0x03 (UI); the
NPDU follows, at most 1497 octets. Frames shorter than 60 octets are padded,
so the length field, not the frame size, says where the NPDU ends. MAC
addresses are the 6-octet station addresses; the global broadcast is
FF:FF:FF:FF:FF:FF.

The codec is sans-IO; :class:`EthernetPortRuntime` puts it on an AF_PACKET
socket bound to the resource's interface (root or CAP_NET_RAW, as the
daemon has on OpenWrt).
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .npdu import DecodeError
from .router import PortInfo

if TYPE_CHECKING:
    from ..config.model import EthernetPort
    from ..config.resources import Resource
    from ..ifaddr import IfAddr
    from .host import PortHost

__all__ = ["BROADCAST", "MAX_NPDU", "EthernetFrame", "decode_frame", "encode_frame", "EthernetPortRuntime"]

log = logging.getLogger("bacrouter.ethernet")

BROADCAST = b"\xff" * 6
LLC = b"\x82\x82\x03"  # DSAP, SSAP: BACnet; control: UI
MAX_NPDU = 1497  # 1500 octets of 802.3 payload less the LLC header
MIN_FRAME = 60  # without the FCS, which the interface adds
ETH_P_802_2 = 0x0004  # Linux: deliver 802.3 frames that carry 802.2 LLC
PACKET_OUTGOING = 4
RETRY = 5.0  # seconds between tries to open a missing interface


@dataclass(frozen=True, slots=True)
class EthernetFrame:
    destination: bytes
    source: bytes
    npdu: bytes

    @property
    def broadcast(self) -> bool:
        return self.destination == BROADCAST


def encode_frame(destination: bytes, source: bytes, npdu: bytes) -> bytes:
    """An 802.3 frame carrying ``npdu`` (padded to the 60-octet minimum)."""
    if len(destination) != 6 or len(source) != 6:
        raise ValueError("Ethernet MAC addresses have 6 octets")
    if len(npdu) > MAX_NPDU:
        raise ValueError(f"an NPDU of {len(npdu)} octets does not fit an Ethernet frame (at most {MAX_NPDU})")
    frame = destination + source + struct.pack(">H", len(LLC) + len(npdu)) + LLC + npdu
    return frame + bytes(max(0, MIN_FRAME - len(frame)))


def decode_frame(data: bytes) -> EthernetFrame:
    """The BACnet content of a received frame; DecodeError for anything else (an EtherType, another SAP)."""
    if len(data) < 17:
        raise DecodeError(f"an Ethernet frame of {len(data)} octets is too short for BACnet")
    (length,) = struct.unpack_from(">H", data, 12)
    if length >= 0x0600:
        raise DecodeError(f"EtherType 0x{length:04X}, not an 802.3 length")
    if length < len(LLC) or 14 + length > len(data):
        raise DecodeError(f"length field {length} does not fit the frame of {len(data)} octets")
    if data[14:17] != LLC:
        raise DecodeError(f"LLC {data[14:17].hex()} is not BACnet's 82 82 03")
    return EthernetFrame(bytes(data[0:6]), bytes(data[6:12]), bytes(data[17:14 + length]))


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def interface_mac(ifname: str) -> bytes:
    """The station address of an interface that is up (OSError: missing, down, or no Ethernet address)."""
    base = Path("/sys/class/net") / ifname
    try:
        text = (base / "address").read_text().strip()
        flags = int((base / "flags").read_text(), 16)
    except FileNotFoundError:
        raise OSError(f"there is no interface {ifname}") from None
    except ValueError:
        raise OSError(f"cannot read the flags of {ifname}") from None
    if not flags & 0x1:  # IFF_UP
        raise OSError(f"interface {ifname} is down")
    try:
        mac = bytes.fromhex(text.replace(":", ""))
    except ValueError:
        mac = b""
    if len(mac) != 6:
        raise OSError(f"{ifname} has no Ethernet address ({text!r})")
    return mac


class EthernetPortRuntime:
    """A BACnet Ethernet port of the router on one interface."""

    def __init__(self, host: PortHost, config: EthernetPort, port_id: int, resource: Resource) -> None:
        self.host, self.config, self.port_id, self.resource = host, config, port_id, resource
        self.name = config.name
        self.state, self.reason = "stopped", ""
        self.mac: bytes | None = None
        self.up_since: float | None = None
        self._sock: socket.socket | None = None
        self._next_try = 0.0
        self.counters = {"frames_in": 0, "frames_out": 0, "not_bacnet": 0, "not_for_us": 0, "send_errors": 0,
                         "too_long": 0}

    async def start(self) -> None:
        self._open()

    def _open(self) -> None:
        ifname = self.resource.ifname
        try:
            mac = interface_mac(ifname)
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_802_2))
        except OSError as err:
            self._fault(f"cannot open {ifname}: {err.strerror or err}")
            return
        try:
            sock.bind((ifname, ETH_P_802_2))
            sock.setblocking(False)
            self.host.loop.add_reader(sock.fileno(), self._readable)
        except OSError as err:
            sock.close()
            self._fault(f"cannot open {ifname}: {err.strerror or err}")
            return
        self._sock, self.mac = sock, mac
        self.state, self.reason, self.up_since = "up", "", time.time()
        self.host.port_up(self, PortInfo(self.port_id, self.config.network, max_npdu=min(self.config.max_npdu, MAX_NPDU),
                                         mac_len=6, mac=mac, name=self.name))

    def _fault(self, reason: str) -> None:
        if reason != self.reason:
            log.warning("port %s: %s (retrying every %g s)", self.name, reason, RETRY)
        self.state, self.reason = "fault", reason
        self._next_try = self.host.now() + RETRY

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):  # a burst, then let the loop breathe
            try:
                data, address = sock.recvfrom(2048)
            except BlockingIOError:
                return
            except OSError as err:  # the interface went away
                self._close()
                self.host.port_down(self)
                self._fault(f"{self.resource.ifname}: {err.strerror or err}")
                return
            if address[2] == PACKET_OUTGOING:
                continue  # our own frames, seen on the way out
            try:
                frame = decode_frame(data)
            except DecodeError:
                self.counters["not_bacnet"] += 1
                continue
            if not (frame.broadcast or frame.destination == self.mac) or frame.source == self.mac:
                self.counters["not_for_us"] += 1
                continue
            self.counters["frames_in"] += 1
            self.host.receive(self.port_id, frame.source, frame.npdu, frame.broadcast)

    def send(self, dest: bytes | None, npdu: bytes) -> None:
        if self._sock is None or self.mac is None:
            return
        if len(npdu) > MAX_NPDU:
            self.counters["too_long"] += 1  # the router checked against max_npdu; never a crash
            return
        try:
            self._sock.send(encode_frame(dest if dest is not None else BROADCAST, self.mac, npdu))
            self.counters["frames_out"] += 1
        except ValueError:
            self.counters["too_long"] += 1
        except OSError:
            self.counters["send_errors"] += 1

    def poll(self, now: float) -> None:
        """Timers, on the router's clock: reopen a faulted interface every RETRY seconds."""
        if self.state == "fault" and now >= self._next_try:
            self._open()

    async def recheck(self, addresses: list[IfAddr]) -> None:
        if self.state == "fault":
            self._open()

    def _close(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            try:
                self.host.loop.remove_reader(sock.fileno())
            except (ValueError, OSError):
                pass
            sock.close()

    def stop(self) -> None:
        if self.state == "up":
            self.host.port_down(self)
        self._close()
        self.up_since = None
        self.state, self.reason = "stopped", ""

    def status(self, now: float) -> dict[str, Any]:
        return {"name": self.name, "kind": "ethernet", "port_id": self.port_id, "network": self.config.network,
                "state": self.state, "reason": self.reason, "resource": self.resource.name,
                "interface": self.resource.ifname, "address": format_mac(self.mac) if self.mac else None,
                "up_since": self.up_since, "counters": dict(self.counters)}
