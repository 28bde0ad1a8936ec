"""IPv4 interface addresses from the kernel (rtnetlink), and notice of their changes.

OpenWrt's busybox ``ip`` has no JSON output and ``ifconfig`` cannot show
secondary addresses, so the addresses are read straight from rtnetlink
(RTM_GETADDR). The same socket family delivers change notifications, so a
port on a VPN interface that comes up late, or whose address changes, is
re-bound without a restart.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["IfAddr", "list_addresses", "resolve", "AddressWatcher", "default_route_interface"]

log = logging.getLogger("bacrouter.ifaddr")

NETLINK_ROUTE = 0
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST = 1, 2, 3, 4
IFA_F_SECONDARY = 0x01
RTMGRP_LINK, RTMGRP_IPV4_IFADDR = 0x1, 0x10
IFF_UP, IFF_POINTOPOINT, IFF_LOOPBACK = 0x1, 0x10, 0x8

_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")


@dataclass(frozen=True)
class IfAddr:
    """One IPv4 address of an interface."""

    ifindex: int
    device: str  # kernel device name, e.g. br-lan
    label: str  # address label: the device name or an alias such as br-lan:1
    address: str
    prefixlen: int
    broadcast: str | None  # None on point-to-point links and /31, /32
    peer: str | None = None
    secondary: bool = False

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.address}/{self.prefixlen}", strict=False)

    @property
    def point_to_point(self) -> bool:
        return self.peer is not None


def _attrs(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    attrs = {}
    while offset + 4 <= end:
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < 4:
            break
        attrs[kind] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return attrs


def _parse_addr(data: bytes, offset: int, end: int) -> IfAddr | None:
    family, prefixlen, flags, _scope, index = _IFADDRMSG.unpack_from(data, offset)
    if family != socket.AF_INET:
        return None
    attrs = _attrs(data, offset + _IFADDRMSG.size, end)
    local = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if not local:
        return None
    address = socket.inet_ntoa(local[:4])
    peer = None
    if IFA_LOCAL in attrs and IFA_ADDRESS in attrs and attrs[IFA_ADDRESS] != attrs[IFA_LOCAL]:
        peer = socket.inet_ntoa(attrs[IFA_ADDRESS][:4])
    try:
        device = socket.if_indextoname(index)
    except OSError:
        device = str(index)
    label = attrs[IFA_LABEL].rstrip(b"\0").decode(errors="replace") if IFA_LABEL in attrs else device
    if IFA_BROADCAST in attrs:
        broadcast: str | None = socket.inet_ntoa(attrs[IFA_BROADCAST][:4])
    elif peer is None and prefixlen < 31:
        broadcast = str(ipaddress.IPv4Network(f"{address}/{prefixlen}", strict=False).broadcast_address)
    else:
        broadcast = None
    return IfAddr(index, device, label, address, prefixlen, broadcast, peer, bool(flags & IFA_F_SECONDARY))


def list_addresses() -> list[IfAddr]:
    """Every IPv4 address the kernel has, in its order (primary addresses first per device)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        request = _NLMSGHDR.pack(_NLMSGHDR.size + _IFADDRMSG.size, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        sock.send(request + _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0))
        found: list[IfAddr] = []
        while True:
            data = sock.recv(65536)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    return found
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR:
                    (errno,) = struct.unpack_from("=i", data, offset + _NLMSGHDR.size)
                    raise OSError(-errno, os.strerror(-errno))
                if kind == RTM_NEWADDR:
                    addr = _parse_addr(data, offset + _NLMSGHDR.size, offset + length)
                    if addr is not None:
                        found.append(addr)
                offset += (length + 3) & ~3


def resolve(ifname: str, ip: str = "", addresses: list[IfAddr] | None = None) -> IfAddr | None:
    """The address a port on resource interface ``ifname`` should use.

    ``ifname`` is matched against address labels first (so the alias
    ``br-lan:1`` selects its own address), then device names. ``ip`` picks
    one address among several; otherwise the primary one wins.
    """
    addresses = list_addresses() if addresses is None else addresses
    candidates = [a for a in addresses if a.label == ifname] or [a for a in addresses if a.device == ifname]
    if ip:
        candidates = [a for a in candidates if a.address == ip] or [
            a for a in addresses if a.address == ip and (a.device == ifname.split(":")[0])]
    if not candidates:
        return None
    primary = [a for a in candidates if not a.secondary]
    return (primary or candidates)[0]


def default_route_interface() -> str | None:
    """The device of the IPv4 default route, read from /proc/net/route."""
    try:
        with open("/proc/net/route") as handle:
            next(handle)
            best: tuple[int, str] | None = None
            for line in handle:
                fields = line.split()
                if len(fields) > 6 and fields[1] == "00000000" and fields[7] == "00000000":
                    metric = int(fields[6])
                    if best is None or metric < best[0]:
                        best = (metric, fields[0])
            return best[1] if best else None
    except (OSError, StopIteration, ValueError):
        return None


class AddressWatcher:
    """Calls ``on_change`` (debounced by the caller) when IPv4 addresses or links change."""

    def __init__(self, loop, on_change: Callable[[], None]) -> None:
        self._loop = loop
        self._on_change = on_change
        self._sock: socket.socket | None = None

    def start(self) -> bool:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR))
            sock.setblocking(False)
        except OSError as err:
            log.warning("cannot watch interface addresses (%s): changes are only seen by polling", err)
            return False
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._readable)
        return True

    def _readable(self) -> None:
        assert self._sock is not None
        changed = False
        while True:
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                break
            except OSError:
                changed = True  # ENOBUFS: we missed messages, so re-read everything
                break
            changed = changed or bool(data)
        if changed:
            self._on_change()

    def close(self) -> None:
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
