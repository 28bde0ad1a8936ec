"""The running router: the sans-IO router core wired to port shells and the device.

This is the thin shell around :class:`~bacrouter.net.router.Router`: it feeds
the core what the sockets receive, carries out the core's ``Send`` actions,
runs the timers, follows interface address changes, and applies a new
configuration by restarting only the ports that changed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from ..config import uci
from ..config.model import AppSettings, BipPort, Config, EthernetPort, MstpPort, Port, VbusPort
from ..config.resources import Resource, ResourceType
from ..config.validate import parse_bdt_entry, parse_host_port
from . import bvll, ifaddr
from .app import PortDescription, RouterApplication
from .bip import BipLink
from .bvll import BdtEntry
from .router import LOCAL, PortInfo, Router, Send
from .udp import BroadcastListener, BroadcastListeners, UdpEndpoint

__all__ = ["RouterNode"]

log = logging.getLogger("bacrouter.node")

TICK = 0.2  # seconds between timer runs of the router and the ports
RECHECK = 10.0  # seconds between address re-checks when netlink events are unavailable


class PortRuntime(Protocol):
    name: str
    port_id: int
    config: Port
    state: str
    reason: str

    async def start(self) -> None: ...
    def stop(self) -> None: ...
    def send(self, dest: bytes | None, npdu: bytes) -> None: ...
    def poll(self, now: float) -> None: ...
    def status(self, now: float) -> dict[str, Any]: ...
    async def recheck(self, addresses: list[ifaddr.IfAddr]) -> None: ...


class RouterNode:
    def __init__(self, config: Config, run_dir: Path | None = None) -> None:
        self.config = config
        self.capture_dir = (run_dir or Path("/tmp")) / "captures"
        self.loop = asyncio.get_running_loop()
        self.router = Router()
        self.app: RouterApplication | None = None
        self.ports: dict[str, PortRuntime] = {}
        self.by_id: dict[int, PortRuntime] = {}
        self.listeners = BroadcastListeners(self.loop)
        self.started = time.time()
        self._ids: dict[str, int] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._watcher = ifaddr.AddressWatcher(self.loop, self._addresses_changed)
        self._recheck_soon: asyncio.TimerHandle | None = None
        self._ports_lock = asyncio.Lock()
        self.gateway: Any = None  # the Modbus gateway (bacrouter.modbus.gateway), when slaves are configured
        self._carried_cov: dict[str, list[Any]] = {}
        self.freeclient: Any = None  # the Free Client buses (bacrouter.freeclient.gateway)

    @staticmethod
    def now() -> float:
        return time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if any(isinstance(p, MstpPort) for p in self.config.enabled_ports):
            # MS/TP threads must get the interpreter within a millisecond or so of their octets
            sys.setswitchinterval(0.0005)
        self._build_app(self.config.app)
        async with self._ports_lock:
            for port in self.config.enabled_ports:
                await self._start_port(port)
        self._watcher.start()
        self._tasks.append(self.loop.create_task(self._timers(), name="router-timers"))
        await self._start_gateway()
        if self.app is not None:
            self.app.announce()

    def stop(self) -> None:
        self._stop_gateway()
        for task in self._tasks:
            task.cancel()
        self._watcher.close()
        if self._recheck_soon is not None:
            self._recheck_soon.cancel()
        for runtime in list(self.ports.values()):
            runtime.stop()
        self.ports.clear()
        self.by_id.clear()
        self.listeners.close()
        if self.app is not None:
            self.app.close()

    async def apply(self, new: Config) -> dict[str, list[str]]:
        """Switch to ``new``: restart only what differs. Returns what happened, by port name."""
        async with self._ports_lock:  # not while ports are starting or re-checking their addresses
            return await self._apply(new)

    async def _apply(self, new: Config) -> dict[str, list[str]]:
        old = self.config
        summary: dict[str, list[str]] = {"stopped": [], "started": [], "restarted": [], "unchanged": []}
        gateway_changed = _gateway_settings(old) != _gateway_settings(new)
        if gateway_changed or _device_settings(old.app) != _device_settings(new.app):
            self._stop_gateway()  # its objects live in the device and on the vbus port
            gateway_changed = True
        if _device_settings(old.app) != _device_settings(new.app):
            log.info("device settings changed: restarting the router's device object")
            self._build_app(new.app)
            for runtime in self.ports.values():
                if runtime.state == "up":
                    self._publish(runtime)
        old_ports = {p.name: p for p in old.enabled_ports}
        new_ports = {p.name: p for p in new.enabled_ports}
        for name, runtime in list(self.ports.items()):
            if name in new_ports and not _port_changed(old, new, old_ports[name], new_ports[name]):
                runtime.config = new_ports[name]  # equal, but the running model must hold the same objects
                summary["unchanged"].append(name)
                continue
            runtime.stop()
            del self.ports[name]
            self.by_id.pop(runtime.port_id, None)
            summary["restarted" if name in new_ports else "stopped"].append(name)
        self.config = new
        for name, port in new_ports.items():
            if name not in self.ports:
                await self._start_port(port)
                if name not in summary["restarted"]:
                    summary["started"].append(name)
        if gateway_changed:
            await self._start_gateway()
            summary["modbus"] = ["restarted"]
        if self.app is not None and (summary["started"] or summary["restarted"]):
            self.app.announce()
        return summary

    def _build_app(self, settings: AppSettings) -> None:
        if self.app is not None:
            self.app.close()
        self.app = RouterApplication(instance=settings.device_instance, name=settings.device_name,
                                     description=settings.description, location=settings.location,
                                     to_router=self._from_app)

    async def _start_port(self, port: Port) -> None:
        port_id = self._port_id(port.name)
        resource = self.config.resources.get(getattr(port, "resource", "") or "")
        runtime: PortRuntime
        if isinstance(port, (BipPort, MstpPort, EthernetPort)) and resource is None:
            runtime = UnavailablePort(port, port_id, f"resource '{port.resource}' is not in resource.conf")
        elif isinstance(port, BipPort):
            runtime = BipPortRuntime(self, port, port_id, resource)
        elif isinstance(port, MstpPort):
            from ..mstp.runtime import MstpPortRuntime

            runtime = MstpPortRuntime(self, port, port_id, resource)
        elif isinstance(port, EthernetPort):
            from .ethernet import EthernetPortRuntime

            runtime = EthernetPortRuntime(self, port, port_id, resource)
        elif isinstance(port, VbusPort):
            from .vbus import VbusPortRuntime

            runtime = VbusPortRuntime(self, port, port_id)
        else:
            runtime = UnavailablePort(port, port_id, f"{port.kind} ports are not supported by this version")
        self.ports[port.name] = runtime
        self.by_id[port_id] = runtime
        await runtime.start()

    async def _start_gateway(self) -> None:
        """The Modbus gateway and the Free Client, when configured (each loaded only then)."""
        if any(s.enabled for s in self.config.modbus_slaves):
            from ..modbus.gateway import ModbusGateway

            self.gateway = ModbusGateway(self, self._carried_cov)
            self._carried_cov = {}
            try:
                await self.gateway.start()
            except Exception:  # a gateway that cannot start must not take routing down with it
                log.exception("the Modbus gateway could not start")
                self._stop_gateway()
        if any(b.enabled and b.bus is not None for b in self.config.freeclient_buses):
            from ..freeclient.gateway import FreeClientGateway

            self.freeclient = FreeClientGateway(self)
            try:
                await self.freeclient.start()
            except Exception:
                log.exception("the Free Client could not start")
                self.freeclient.stop()
                self.freeclient = None

    def _stop_gateway(self) -> None:
        if self.gateway is not None:
            gateway, self.gateway = self.gateway, None
            self._carried_cov = gateway.stop()  # COV subscribers stay subscribed across a reload
        if self.freeclient is not None:
            freeclient, self.freeclient = self.freeclient, None
            freeclient.stop()

    def vbus_runtime(self) -> Any:
        """The running VBUS port (virtual-device mode), if any."""
        return next((r for r in self.ports.values() if r.config.kind == "vbus" and r.state == "up"), None)

    def _port_id(self, name: str) -> int:
        """A stable port id (1..255) per port name, reused across reloads."""
        if name not in self._ids:
            used = set(self._ids.values())
            self._ids[name] = next(i for i in range(1, 256) if i not in used)
        return self._ids[name]

    # ------------------------------------------------------------------ ports going up and down

    def port_up(self, runtime: PortRuntime, info: PortInfo) -> None:
        self.dispatch(self.router.add_port(info, self.now()))
        self._publish(runtime)
        log.info("port %s up: network %d", runtime.name, info.network)

    def port_down(self, runtime: PortRuntime) -> None:
        if runtime.port_id in self.router.ports:
            self.router.remove_port(runtime.port_id)
            log.info("port %s down", runtime.name)
        if self.app is not None:
            self.app.remove_port(runtime.port_id)

    def _publish(self, runtime: PortRuntime) -> None:
        """Describe the port in the device's Network Port object."""
        if self.app is None or runtime.port_id not in self.router.ports:
            return
        info = self.router.ports[runtime.port_id]
        port_id = runtime.port_id

        def routes() -> list[tuple[int, bytes, bool]]:
            now = self.now()
            return [(n, r.next_hop or b"", r.busy(now)) for n, r in sorted(self.router.routes.items())
                    if r.port_id == port_id and r.next_hop is not None]

        description = PortDescription(port_id, runtime.name, info.network, info.mac, info.max_npdu,
                                      runtime.config.kind, routes, **getattr(runtime, "ip_description", {}))
        self.app.add_port(description, getattr(runtime, "fdt_rows", None))

    def persist_bdt(self, runtime: BipPortRuntime, entries: list[BdtEntry]) -> None:
        """Keep a BDT written over the network (Write-BDT) in the port's ``bdt`` list.

        The file is re-read first so edits made meanwhile survive, and the
        running model is updated so the next reload sees no change.
        """
        texts = [f"{bvll.text(e.address)}/{'.'.join(str(b) for b in e.mask)}" for e in entries]
        new_port = dataclasses.replace(runtime.config, bdt=texts)
        self.config.ports = [new_port if p.name == runtime.name else p for p in self.config.ports]
        runtime.config = new_port
        path = self.config.uci.path if self.config.uci else ""
        try:
            package = uci.load(path)
            section = package.section(runtime.name)
            if section is None:
                raise uci.UciError(f"section '{runtime.name}' is gone", path=path)
            if texts:
                section.options["bdt"] = texts
            else:
                section.options.pop("bdt", None)
            uci.save(package)
        except (OSError, uci.UciError) as err:
            log.error("port %s: the written BDT is in use but could not be saved to %s: %s", runtime.name, path, err)
        self._publish(runtime)

    # ------------------------------------------------------------------ traffic

    def from_port(self, port_id: int, src: bytes, npdu: bytes, broadcast: bool) -> None:
        self.dispatch(self.router.receive(port_id, src, npdu, self.now(), broadcast))

    def _from_app(self, npdu: bytes, broadcast: bool) -> None:
        self.dispatch(self.router.receive(LOCAL, None, npdu, self.now(), broadcast))

    def dispatch(self, sends: list[Send]) -> None:
        for port_id, dest, data in sends:
            if port_id == LOCAL:
                if self.app is not None:
                    self.app.deliver(data, dest is None)
                continue
            runtime = self.by_id.get(port_id)
            if runtime is not None:
                runtime.send(dest, data)

    # ------------------------------------------------------------------ timers and addresses

    async def _timers(self) -> None:
        last_recheck = self.now()
        while True:
            await asyncio.sleep(TICK)
            now = self.now()
            try:
                self.dispatch(self.router.poll(now))
                for runtime in list(self.ports.values()):
                    runtime.poll(now)
                if now - last_recheck >= RECHECK and not self._ports_lock.locked():
                    last_recheck = now  # in a task: a slow lookup must not hold up the timers
                    self._tasks.append(self.loop.create_task(self._recheck_addresses()))
                    self._tasks = [t for t in self._tasks if not t.done()]
            except Exception:  # a timer bug must not stop routing
                log.exception("timer run failed")

    def _addresses_changed(self) -> None:
        # netlink sends bursts (link, address, route): look once they settle
        if self._recheck_soon is not None:
            self._recheck_soon.cancel()
        self._recheck_soon = self.loop.call_later(0.5, self._recheck_task)

    def _recheck_task(self) -> None:
        self._tasks.append(self.loop.create_task(self._recheck_addresses()))
        self._tasks = [t for t in self._tasks if not t.done()]

    async def _recheck_addresses(self) -> None:
        async with self._ports_lock:  # one at a time: two could bind one port twice
            try:
                addresses = ifaddr.list_addresses()
            except OSError as err:
                log.warning("cannot read interface addresses: %s", err)
                return
            for runtime in list(self.ports.values()):
                if self.ports.get(runtime.name) is runtime:
                    await runtime.recheck(addresses)

    # ------------------------------------------------------------------ status

    def port_status(self) -> list[dict[str, Any]]:
        now = self.now()
        return [runtime.status(now) for runtime in self.ports.values()]

    def status(self) -> dict[str, Any]:
        app = self.config.app
        ports = self.port_status()
        return {
            "device": {"instance": app.device_instance, "name": app.device_name},
            "uptime_s": round(time.time() - self.started, 1),
            "ports": [{k: p.get(k) for k in ("name", "kind", "network", "state", "reason", "address")} for p in ports],
            "networks": len(self.router.routes),
            "counters": dict(self.router.counters),
            "conflicts": {str(k): v for k, v in self.router.conflicts.items()},
            "application_queue_dropped": self.app.link.dropped if self.app else 0,
            "modbus": self._modbus_summary(),
            "freeclient": self.freeclient.snapshot() if self.freeclient is not None else None,
        }

    def _modbus_summary(self) -> dict[str, Any] | None:
        if self.gateway is None:
            return None
        slaves = self.gateway.slaves
        return {"masters": len(self.gateway.masters), "slaves": len(slaves),
                "online": sum(1 for s in slaves if s.answered and s.schedule.online),
                "points": sum(len(s.points) for s in slaves)}

    def routes(self) -> list[dict[str, Any]]:
        return self.router.route_list(self.now())


def _device_settings(app: AppSettings) -> tuple[Any, ...]:
    return (app.device_instance, app.device_name, app.description, app.location)


def _gateway_settings(config: Config) -> tuple[Any, ...]:
    """What the gateways are built from: any change restarts them."""
    masters = [(m, config.resources.get(m.resource) if m.serial else None) for m in config.modbus_masters]
    buses = [(b, config.resources.get(b.resource) if b.resource else None) for b in config.freeclient_buses]
    return (masters, config.modbus_slaves, buses, config.vbus, config.app.delimiter)


def _port_changed(old: Config, new: Config, before: Port, after: Port) -> bool:
    if before != after or type(before) is not type(after):
        return True
    name = getattr(before, "resource", None)
    return bool(name) and old.resources.get(name) != new.resources.get(name)


class UnavailablePort:
    """A configured port that cannot run (a kind this build lacks); shown in status, never routed."""

    def __init__(self, config: Port, port_id: int, reason: str) -> None:
        self.name, self.port_id, self.config = config.name, port_id, config
        self.state, self.reason = "unavailable", reason

    async def start(self) -> None:
        log.warning("port %s: %s", self.name, self.reason)

    def stop(self) -> None:
        pass

    def send(self, dest: bytes | None, npdu: bytes) -> None:
        pass

    def poll(self, now: float) -> None:
        pass

    async def recheck(self, addresses: list[ifaddr.IfAddr]) -> None:
        pass

    def status(self, now: float) -> dict[str, Any]:
        return {"name": self.name, "kind": self.config.kind, "port_id": self.port_id, "network": self.config.network,
                "state": self.state, "reason": self.reason, "address": None}


class BipPortRuntime:
    """A BACnet/IP port: the sans-IO :class:`BipLink` on a UDP socket of one interface address."""

    def __init__(self, node: RouterNode, config: BipPort, port_id: int, resource: Resource) -> None:
        self.node, self.config, self.port_id, self.resource = node, config, port_id, resource
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
                            bdt=bdt, fdt_size=cfg.fdt_size, write_bdt=cfg.write_bdt, bbmd=bbmd, ttl=cfg.ttl,
                            on_bdt_written=lambda entries: self.node.persist_bdt(self, entries),
                            on_registered=self._registered)
        try:
            self.endpoint = UdpEndpoint(self.node.loop, local.address, cfg.udp_port, self._datagram)
            if broadcast_ip:
                self._listener = self.node.listeners.register(cfg.udp_port, local.ifindex, local.address,
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
        self.node.port_up(self, info)

    @property
    def ip_description(self) -> dict[str, Any]:
        """The port as its Network Port object shows it."""
        if self.local is None or self.link is None:
            return {}
        cfg = self.config
        return {"address": self.local.address, "netmask": str(self.local.network.netmask), "udp_port": cfg.udp_port,
                "mode": cfg.mode, "interface": self.local.label, "bbmd": cfg.bbmd, "ttl": cfg.ttl,
                "fdt_size": cfg.fdt_size, "bdt": [(bvll.text(e.address), e.mask) for e in self.link.bdt]}

    def _registered(self) -> None:
        node = self.node
        node.dispatch(node.router.announce(self.port_id))
        if node.app is not None:
            node.app.announce()

    def _wait(self, reason: str) -> None:
        self._set_state("waiting", reason)

    def _set_state(self, state: str, reason: str) -> None:
        """Enter a not-running state; say so once, not on every retry."""
        if (self.state, self.reason) != (state, reason):
            log.log(logging.ERROR if state == "fault" else logging.WARNING, "port %s: %s; retrying as the interfaces change",
                    self.name, reason)
        self.state, self.reason = state, reason

    def _datagram(self, src: bytes, data: bytes, via_broadcast: bool) -> None:
        link = self.link
        if link is None:
            return
        up, out = link.receive(src, data, self.node.now(), via_broadcast)
        if out:
            sendto = self.endpoint.sendto  # type: ignore[union-attr]
            for dest, datagram in out:
                sendto(dest, datagram)
        if up is not None:
            self.node.from_port(self.port_id, up[0], up[1], up[2])

    def send(self, dest: bytes | None, npdu: bytes) -> None:
        if self.link is None or self.endpoint is None:
            return
        sendto = self.endpoint.sendto
        for target, datagram in self.link.send(dest, npdu):
            sendto(target, datagram)

    def poll(self, now: float) -> None:
        if self.link is not None and self.endpoint is not None:
            for target, datagram in self.link.poll(now):
                self.endpoint.sendto(target, datagram)

    def fdt_rows(self) -> list[tuple[bytes, int, int]]:
        if self.link is None:
            return []
        return [(e.address, e.ttl, e.remaining) for e in self.link.fdt_entries(self.node.now())]

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
            self.node.listeners.unregister(*self._listener)
            self._listener = None
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None

    def stop(self) -> None:
        self._generation += 1
        self.node.port_down(self)
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
    except asyncio.TimeoutError:
        raise OSError(f"no answer from DNS for {host} within {timeout:g} s") from None
