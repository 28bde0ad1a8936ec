"""UDP sockets for BACnet/IP ports, read by the event loop without asyncio protocols.

Each port has a socket bound to its own address (unicast in, everything out).
Broadcasts are not delivered to a socket bound to a unicast address, so one
listener per UDP port number binds the wildcard address and reads the
destination and interface of each datagram (IP_PKTINFO) to hand it to the
right port: directed broadcasts to the port whose broadcast address it is,
limited broadcasts (255.255.255.255, as YABE and many tools send) to the port
on that interface whose subnet holds the sender.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["UdpEndpoint", "BroadcastListener", "BroadcastListeners"]

log = logging.getLogger("bacrouter.udp")

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_PKTINFO = struct.Struct("=I4s4s")  # ifindex, spec_dst, addr (the header destination)
_BATCH = 64  # datagrams read per wake-up before letting other sockets run
_MAX_DATAGRAM = 65535

Deliver = Callable[[bytes, bytes, bool], None]  # (source B/IP address, datagram, via broadcast)


class _MacCache(dict):
    """(ip, port) → 6-octet B/IP address, memoised: the same peers talk all day."""

    def __missing__(self, key: tuple[str, int]) -> bytes:
        value = socket.inet_aton(key[0]) + key[1].to_bytes(2, "big")
        if len(self) > 4096:
            self.clear()
        self[key] = value
        return value


_macs = _MacCache()


def _open(bind_ip: str, port: int, *, broadcast_listener: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if broadcast_listener:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((bind_ip, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class UdpEndpoint:
    """The socket of one BACnet/IP port, bound to its address and UDP port."""

    def __init__(self, loop, ip: str, port: int, deliver: Deliver) -> None:
        self._loop = loop
        self._deliver = deliver
        self.sock = _open(ip, port)
        self.counters: Counter[str] = Counter()
        loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        recvfrom, deliver, macs = self.sock.recvfrom, self._deliver, _macs
        for _ in range(_BATCH):
            try:
                data, source = recvfrom(_MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as err:  # e.g. ICMP port unreachable reported on the socket
                self.counters["receive_errors"] += 1
                log.debug("receive error: %s", err)
                return
            deliver(macs[source], data, False)

    def sendto(self, dest: bytes, data: bytes) -> None:
        try:
            self.sock.sendto(data, (socket.inet_ntoa(dest[:4]), (dest[4] << 8) | dest[5]))
        except BlockingIOError:
            self.counters["send_dropped_full"] += 1
        except OSError as err:
            self.counters["send_errors"] += 1
            log.debug("send to %s failed: %s", dest.hex(), err)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()


@dataclass
class _Registration:
    ifindex: int
    network: ipaddress.IPv4Network
    broadcast: str
    address: str
    deliver: Deliver


class BroadcastListener:
    """Wildcard socket on one UDP port that sorts broadcasts out to the ports."""

    def __init__(self, loop, port: int) -> None:
        self._loop = loop
        self.port = port
        self.sock = _open("0.0.0.0", port, broadcast_listener=True)
        self.registrations: list[_Registration] = []
        self.counters: Counter[str] = Counter()
        self._ancillary = socket.CMSG_SPACE(_PKTINFO.size)
        loop.add_reader(self.sock.fileno(), self._readable)

    def register(self, ifindex: int, address: str, prefixlen: int, broadcast: str, deliver: Deliver) -> _Registration:
        network = ipaddress.IPv4Network(f"{address}/{prefixlen}", strict=False)
        registration = _Registration(ifindex, network, broadcast, address, deliver)
        self.registrations.append(registration)
        return registration

    def unregister(self, registration: _Registration) -> None:
        if registration in self.registrations:
            self.registrations.remove(registration)

    def _readable(self) -> None:
        for _ in range(_BATCH):
            try:
                data, ancillary, _flags, source = self.sock.recvmsg(_MAX_DATAGRAM, self._ancillary)
            except BlockingIOError:
                return
            except OSError as err:
                self.counters["receive_errors"] += 1
                log.debug("receive error: %s", err)
                return
            ifindex, destination = 0, ""
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= _PKTINFO.size:
                    ifindex, _spec, dst = _PKTINFO.unpack_from(value)
                    destination = socket.inet_ntoa(dst)
            target = self._target(ifindex, destination, source[0])
            if target is None:
                self.counters["not_for_us"] += 1
                continue
            target.deliver(_macs[source], data, True)

    def _target(self, ifindex: int, destination: str, source_ip: str) -> _Registration | None:
        if destination == "255.255.255.255":
            on_link = [r for r in self.registrations if r.ifindex == ifindex]
            if not on_link:
                return None
            source = ipaddress.IPv4Address(source_ip)
            return next((r for r in on_link if source in r.network), on_link[0])
        for registration in self.registrations:
            if registration.broadcast == destination and registration.ifindex == ifindex:
                return registration
        return None

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()


class BroadcastListeners:
    """One listener per UDP port number, shared by the ports that use it."""

    def __init__(self, loop) -> None:
        self._loop = loop
        self._listeners: dict[int, BroadcastListener] = {}

    def register(self, udp_port: int, ifindex: int, address: str, prefixlen: int, broadcast: str,
                 deliver: Deliver) -> tuple[BroadcastListener, _Registration]:
        listener = self._listeners.get(udp_port)
        if listener is None:
            listener = self._listeners[udp_port] = BroadcastListener(self._loop, udp_port)
        return listener, listener.register(ifindex, address, prefixlen, broadcast, deliver)

    def unregister(self, listener: BroadcastListener, registration: _Registration) -> None:
        listener.unregister(registration)
        if not listener.registrations:
            listener.close()
            self._listeners.pop(listener.port, None)

    def close(self) -> None:
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
