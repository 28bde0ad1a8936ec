"""BACnet/IP ports: the sans-IO :class:`~.bip.BipLink` on a UDP socket of one interface address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
import time
from typing import Any

from .. import ifaddr
from ..actions import Action, Announce, Deliver, Persist, Transmit
from ..config.model import BipPort
from ..config.resources import Resource, ResourceType
from ..config.validate import parse_bdt_entry, parse_host_port
from . import bvll
from .bip import BipLink
from .bvll import BdtEntry
from .host import PortHost
from .router import PortInfo
from .udp import BroadcastListener, UdpEndpoint

__all__ = ["BipPortRuntime", "resolve_ipv4"]

log = logging.getLogger("bacrouter.bip")


class BipPortRuntime:
    """A BACnet/IP port: the sans-IO :class:`BipLink` on a UDP socket of one interface address."""

    def __init__(self, host: PortHost, config: BipPort, port_id: int, resource: Resource) -> None:
        self.host, self.config, self.port_id, self.resource = host, config, port_id, resource
        self.name = config.name
        self.state, self.reason = "stopped", ""
        self.link: BipLink | None = None
        self.endpoint: UdpEndpoint | None = None
        self.local: ifaddr.IfAddr | None = None
        self._listener: tuple[BroadcastListener, Any] | None = None
        self.up_since: float | None = None
        self._generation = 0  # counts stops: a bind that awaited across one must not go on

    async def start(self) -> None:
        self.local = None
        try:
            addresses = ifaddr.list_addresses()
        except OSError as err:
            self._wait(f"cannot read interface addresses: {err}")
            return
        await self._bind(addresses)

    async def _bind(self, addresses: list[ifaddr.IfAddr]) -> None:
        cfg = self.config
        local = ifaddr.resolve(self.resource.ifname, cfg.ip, addresses)
        if local is None:
            wanted = f" address {cfg.ip}" if cfg.ip else " IPv4 address"
            self._wait(f"interface {self.resource.ifname} has no{wanted} yet")
            return
        bbmd = None
        if cfg.mode == "foreign":
            host, port = parse_host_port(cfg.bbmd)
            generation = self._generation
            try:
                bbmd = bvll.mac(await resolve_ipv4(host), port)
            except OSError as err:
                if generation == self._generation:
                    self._wait(f"cannot resolve BBMD {cfg.bbmd}: {err.strerror or err}")
                return
            if generation != self._generation:
                return  # stopped while the name was being looked up
        point_to_point = self.resource.type is ResourceType.PPP or local.point_to_point
        broadcast_ip = None if point_to_point else local.broadcast
        address = bvll.mac(local.address, cfg.udp_port)
        bdt = []
        for text in cfg.bdt:
            ip, port, mask = parse_bdt_entry(text)
            bdt.append(BdtEntry(bvll.mac(str(ip), port), mask.packed))
        self.link = BipLink(address, bvll.mac(broadcast_ip, cfg.udp_port) if broadcast_ip else None, cfg.mode,
                            bdt=bdt, fdt_size=cfg.fdt_size, write_bdt=cfg.write_bdt, bbmd=bbmd, ttl=cfg.ttl)
        try:
            self.endpoint = UdpEndpoint(self.host.loop, local.address, cfg.udp_port, self._datagram)
            if broadcast_ip:
                self._listener = self.host.listeners.register(cfg.udp_port, local.ifindex, local.address,
                                                              local.prefixlen, broadcast_ip, self._datagram)
        except OSError as err:
            self._close_sockets()
            self.link = None
            self._set_state("fault", f"cannot bind {local.address}:{cfg.udp_port}: {err.strerror or err}")
            return
        self.local = local
        self.state, self.reason = "up", ""
        self.up_since = time.time()
        info = PortInfo(self.port_id, cfg.network, max_npdu=cfg.max_npdu, mac_len=6, mac=address, name=self.name)
        self.host.port_up(self, info)

    @property
    def ip_description(self) -> dict[str, Any]:
        """The port as its Network Port object shows it."""
        if self.local is None or self.link is None:
            return {}
        cfg = self.config
        return {"address": self.local.address, "netmask": str(self.local.network.netmask), "udp_port": cfg.udp_port,
                "mode": cfg.mode, "interface": self.local.label, "bbmd": cfg.bbmd, "ttl": cfg.ttl,
                "fdt_size": cfg.fdt_size, "bdt": [(bvll.text(e.address), e.mask) for e in self.link.bdt]}

    def _wait(self, reason: str) -> None:
        self._set_state("waiting", reason)

    def _set_state(self, state: str, reason: str) -> None:
        """Enter a not-running state; say so once, not on every retry."""
        if (self.state, self.reason) != (state, reason):
            log.log(logging.ERROR if state == "fault" else logging.WARNING, "port %s: %s; retrying as the interfaces change",
                    self.name, reason)
        self.state, self.reason = state, reason

    def _datagram(self, src: bytes, data: bytes, via_broadcast: bool) -> None:
        if self.link is not None:
            self._carry_out(self.link.receive(src, data, self.host.now(), via_broadcast))

    def send(self, dest: bytes | None, npdu: bytes) -> None:
        if self.link is not None:
            self._carry_out(self.link.send(dest, npdu))

    def poll(self, now: float) -> None:
        if self.link is not None:
            self._carry_out(self.link.poll(now))

    def _carry_out(self, actions: list[Action]) -> None:
        """Do what the link asked, in its order."""
        for action in actions:
            match action:  # (attributes, not positional captures: those cost 100 ns each on this path)
                case Transmit():
                    if self.endpoint is not None:
                        self.endpoint.sendto(action.dest, action.data)
                case Deliver():
                    self.host.receive(self.port_id, action.source, action.npdu, action.broadcast)
                case Persist():
                    # a BDT written over the network: keep it in the port's section, show it in the device
                    self.host.save_option(self, action.option, list(action.values))
                    self.host.port_changed(self)
                case Announce():
                    # registered with the BBMD: broadcasts sent before were dropped
                    self.host.announce(self.port_id)
                case _:
                    raise AssertionError(f"BACnet/IP link asked for {action!r}")

    def fdt_rows(self) -> list[tuple[bytes, int, int]]:
        if self.link is None:
            return []
        return [(e.address, e.ttl, e.remaining) for e in self.link.fdt_entries(self.host.now())]

    async def recheck(self, addresses: list[ifaddr.IfAddr]) -> None:
        current = ifaddr.resolve(self.resource.ifname, self.config.ip, addresses)
        if self.state == "up":
            if current is not None and self.local is not None and \
                    (current.address, current.prefixlen, current.broadcast) == \
                    (self.local.address, self.local.prefixlen, self.local.broadcast):
                return
            log.info("port %s: address of %s changed (%s → %s): re-binding", self.name, self.resource.ifname,
                     self.local.address if self.local else "-", current.address if current else "none")
            self.stop()
        if self.state in ("waiting", "stopped", "fault") and current is not None:
            await self._bind(addresses)
        elif current is None and self.state != "waiting":
            self._wait(f"interface {self.resource.ifname} has no IPv4 address")

    def _close_sockets(self) -> None:
        if self._listener is not None:
            self.host.listeners.unregister(*self._listener)
            self._listener = None
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None

    def stop(self) -> None:
        self._generation += 1
        self.host.port_down(self)
        self._close_sockets()
        self.link = None
        self.up_since = None
        self.state, self.reason = "stopped", ""

    def status(self, now: float) -> dict[str, Any]:
        cfg = self.config
        info: dict[str, Any] = {
            "name": self.name, "kind": "bip", "port_id": self.port_id, "network": cfg.network,
            "state": self.state, "reason": self.reason, "resource": self.resource.name,
            "interface": self.resource.ifname, "mode": cfg.mode,
            "address": f"{self.local.address}:{cfg.udp_port}" if self.local and self.state == "up" else None,
            "up_since": self.up_since,
        }
        if self.link is not None:
            info["link"] = self.link.status(now)
        if self.endpoint is not None:
            info["socket"] = dict(self.endpoint.counters)
        return info


RESOLVE_TIMEOUT = 5.0


async def resolve_ipv4(host: str, timeout: float = RESOLVE_TIMEOUT) -> str:
    """The IPv4 address of ``host``: literal at once, a name in a daemon thread with a time limit.

    (The loop's getaddrinfo runs in the default executor, which asyncio.run waits for at exit:
    a DNS server that does not answer would hold up SIGTERM.)"""
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM)
            result: Any = str(infos[0][4][0])
        except OSError as err:
            result = err
        except Exception as err:  # noqa: BLE001 - e.g. UnicodeError for "a..b": still a name that does not resolve
            result = OSError(f"cannot resolve {host!r}: {err}")
        def settle() -> None:
            if future.done():
                return
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop closed meanwhile (the daemon stopped)
            pass

    threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True).start()
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise OSError(f"no answer from DNS for {host} within {timeout:g} s") from None
