"""The running router: the sans-IO router core wired to port shells and the device.

This is the thin shell around :class:`~bacrouter.net.router.Router`: it feeds
the core what the ports receive, carries out the core's ``Send`` actions,
runs the timers, follows interface address changes, and applies a new
configuration by restarting only the ports that changed. Ports reach it as
their :class:`~.host.PortHost`, gateways as their :class:`~.host.DeviceHost`;
which port kinds exist is the daemon's business (:mod:`bacrouter.registry`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import ifaddr
from ..actions import Send
from ..config import uci
from ..config.model import AppSettings, Config, MstpPort, Port
from ..events import Events
from .device import PortDescription, RouterDevice
from .host import PortFactory, PortRuntime, VirtualDeviceHandle
from .router import LOCAL, PortInfo, Router, RouterTimers
from .udp import BroadcastListeners

__all__ = ["RouterNode"]

log = logging.getLogger("bacrouter.node")

TICK = 0.2  # seconds between timer runs of the router and the ports
RECHECK = 10.0  # seconds between address re-checks when netlink events are unavailable


class RouterNode:
    """The router shell: owns the routing core, the port runtimes, the timers and the router's device.

    It is the :class:`~.host.PortHost` of every port and the
    :class:`~.host.DeviceHost` of every gateway.
    """

    def __init__(self, config: Config, port_kinds: Mapping[str, PortFactory], run_dir: Path | None = None) -> None:
        self.config = config
        self.port_kinds = port_kinds
        self.capture_dir = (run_dir or Path("/tmp")) / "captures"
        self.loop = asyncio.get_running_loop()
        self.router = Router(RouterTimers(max_routes=config.app.max_routes))
        self.app: RouterDevice | None = None
        self.ports: dict[str, PortRuntime] = {}
        self.by_id: dict[int, PortRuntime] = {}
        self.listeners = BroadcastListeners(self.loop)
        self.started = time.time()
        self._ids: dict[str, int] = {}
        #: NPDUs each port id received and was given to send (the dashboard's graphs take rates of them)
        self._npdus_in: Counter[int] = Counter()
        self._npdus_out: Counter[int] = Counter()
        self._tasks: list[asyncio.Task[Any]] = []
        self._watcher = ifaddr.AddressWatcher(self.loop, self._addresses_changed)
        self._recheck_soon: asyncio.TimerHandle | None = None
        self._ports_lock = asyncio.Lock()
        #: port events for the daemon's transports; gateways emit device events here too (DeviceHost.events)
        self.events = Events()
        self._port_states: dict[str, str] = {}  # name → "up", "down" or "fault", as last emitted

    @staticmethod
    def now() -> float:
        return time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> list[str]:
        """Build the device and start every enabled port; returns the ports started."""
        if any(isinstance(p, MstpPort) for p in self.config.enabled_ports):
            # MS/TP threads must get the interpreter within a millisecond or so of their octets
            sys.setswitchinterval(0.0005)
        self._build_app(self.config.app)
        async with self._ports_lock:
            for port in self.config.enabled_ports:
                await self._start_port(port)
        self._watcher.start()
        self._tasks.append(self.loop.create_task(self._timers(), name="router-timers"))
        return [port.label for port in self.config.enabled_ports]

    def announce(self, port_id: int | None = None) -> None:
        """I-Am-Router-To-Network (on one port, or all) and the device's I-Am."""
        if port_id is not None:
            self.dispatch(self.router.announce(port_id))
        if self.app is not None:
            self.app.announce()

    def who_is_router(self, port: str | None = None, network: int | None = None) -> list[str]:
        """Who-Is-Router-To-Network on one port (by name) or every port that is up; the ports asked.

        ValueError names a port that does not exist or is not up."""
        if port is None:
            ids = None
        else:
            runtime = self.ports.get(port)
            if runtime is None:
                raise ValueError(f"no port {port!r} (ports: {', '.join(self.ports) or 'none'})")
            if runtime.port_id not in self.router.ports:
                raise ValueError(f"port {port} is not up ({runtime.state})")
            ids = [runtime.port_id]
        sends = self.router.who_is_router(ids, network)
        self.dispatch(sends)
        return [self.by_id[s.port_id].name for s in sends if s.port_id in self.by_id]

    def stop(self) -> None:
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

    async def apply(self, new: Config) -> tuple[dict[str, list[str]], bool]:
        """Switch to ``new``: restart only the ports that differ.

        Returns what happened to each port (labels by verb), and whether the
        router's device was rebuilt (the objects gateways had put in it are gone).
        """
        async with self._ports_lock:  # not while ports are starting or re-checking their addresses
            return await self._apply(new)

    async def _apply(self, new: Config) -> tuple[dict[str, list[str]], bool]:
        old = self.config
        summary: dict[str, list[str]] = {"stopped": [], "started": [], "restarted": [], "unchanged": []}
        device_changed = _device_settings(old.app) != _device_settings(new.app)
        self.router.set_max_routes(new.app.max_routes)
        if device_changed:
            log.info("device settings changed: restarting the router's device object")
            self._build_app(new.app)
            summary["restarted"].append(f"device {new.app.device_instance} '{new.app.device_name}'")
            for runtime in self.ports.values():
                if runtime.state == "up":
                    self._publish(runtime)
        old_ports = {p.name: p for p in old.enabled_ports}
        new_ports = {p.name: p for p in new.enabled_ports}
        for name, runtime in list(self.ports.items()):
            if name in new_ports and not _port_changed(old, new, old_ports[name], new_ports[name]):
                runtime.config = new_ports[name]  # equal, but the running model must hold the same objects
                summary["unchanged"].append(new_ports[name].label)
                continue
            runtime.stop()
            del self.ports[name]
            self.by_id.pop(runtime.port_id, None)
            summary["restarted" if name in new_ports else "stopped"].append(old_ports[name].label)
        self.config = new
        for name, port in new_ports.items():
            if name not in self.ports:
                await self._start_port(port)
                if port.label not in summary["restarted"]:
                    summary["started"].append(port.label)
        if self.app is not None and (summary["started"] or summary["restarted"]):
            self.app.announce()
        return summary, device_changed

    def _build_app(self, settings: AppSettings) -> None:
        if self.app is not None:
            self.app.close()
        self.app = RouterDevice(instance=settings.device_instance, name=settings.device_name,
                                description=settings.description, location=settings.location,
                                to_router=self._from_app, load=_load_application)

    async def _start_port(self, port: Port) -> None:
        port_id = self._port_id(port.name)
        resource = self.config.resources.get(getattr(port, "resource", "") or "")
        factory = self.port_kinds.get(port.kind)
        runtime: PortRuntime
        if factory is None:
            runtime = UnavailablePort(port, port_id, f"{port.kind} ports are not supported by this version")
        elif port.resource_types and resource is None:
            runtime = UnavailablePort(port, port_id, f"resource '{getattr(port, 'resource', '')}' is not in resource.conf")
        else:
            runtime = factory(self, port, port_id, resource)
        self.ports[port.name] = runtime
        self.by_id[port_id] = runtime
        await runtime.start()

    def _port_id(self, name: str) -> int:
        """A stable port id (1..255) per port name, reused across reloads."""
        if name not in self._ids:
            used = set(self._ids.values())
            self._ids[name] = next(i for i in range(1, 256) if i not in used)
        return self._ids[name]

    # ------------------------------------------------------------------ DeviceHost: where gateways put objects

    def router_app(self) -> Any | None:
        return self.app.app if self.app is not None else None

    def virtual_device(self, mac: int, instance: int, name: str, description: str = "") -> VirtualDeviceHandle | None:
        vbus: Any = next((r for r in self.ports.values() if r.config.kind == "vbus" and r.state == "up"), None)
        return vbus.device(mac, instance, name, description) if vbus is not None else None

    # ------------------------------------------------------------------ PortHost: ports going up and down

    def port_up(self, runtime: PortRuntime, info: PortInfo) -> None:
        self.dispatch(self.router.add_port(info, self.now()))
        self._publish(runtime)
        log.info("port %s up: network %d", runtime.name, info.network)
        self._port_event(runtime, "up")

    def port_down(self, runtime: PortRuntime) -> None:
        if runtime.port_id in self.router.ports:
            self.router.remove_port(runtime.port_id)
            log.info("port %s down", runtime.name)
            self._port_event(runtime, "down")
        if self.app is not None:
            self.app.remove_port(runtime.port_id)

    def _port_event(self, runtime: Any, state: str) -> None:
        """Emit ``port`` when the port's state (up, down, fault) differs from the last one emitted."""
        if self._port_states.get(runtime.name, "down") == state:
            return
        self._port_states[runtime.name] = state
        self.events.emit("port", {"port": runtime.name, "kind": runtime.config.kind,
                                  "network": runtime.config.network, "state": state,
                                  "reason": getattr(runtime, "reason", "") or ""})

    def _watch_port_states(self) -> None:
        """Ports enter fault (or leave it) on their own: look at each one's state on every timer run."""
        for runtime in self.ports.values():
            state = runtime.state
            if state != "up":  # "up" is emitted by port_up, once the router routes through the port
                self._port_event(runtime, "fault" if state == "fault" else "down")

    def port_changed(self, runtime: PortRuntime) -> None:
        self._publish(runtime)

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

    def save_option(self, runtime: PortRuntime, option: str, values: list[str]) -> None:
        """Keep a list option the network changed (a written BDT) in the port's section.

        The file is re-read first so edits made meanwhile survive, and the
        running model is updated so the next reload sees no change.
        """
        new_port = dataclasses.replace(runtime.config, **{option: values})
        self.config.ports = [new_port if p.name == runtime.name else p for p in self.config.ports]
        runtime.config = new_port
        path = self.config.uci.path if self.config.uci else ""
        try:
            package = uci.load(path)
            section = package.section(runtime.name)
            if section is None:
                raise uci.UciError(f"section '{runtime.name}' is gone", path=path)
            if values:
                section.options[option] = values
            else:
                section.options.pop(option, None)
            uci.save(package)
        except (OSError, uci.UciError) as err:
            log.error("port %s: the %s written over the network is in use but could not be saved to %s: %s",
                      runtime.name, option, path, err)

    # ------------------------------------------------------------------ traffic

    def receive(self, port_id: int, src: bytes, npdu: bytes, broadcast: bool) -> None:
        self._npdus_in[port_id] += 1
        self.dispatch(self.router.receive(port_id, src, npdu, self.now(), broadcast))

    def _from_app(self, npdu: bytes, broadcast: bool) -> None:
        self.dispatch(self.router.receive(LOCAL, None, npdu, self.now(), broadcast))

    def dispatch(self, sends: list[Send]) -> None:
        """Carry out the router core's actions: it only ever asks for :class:`Send` (no ``match`` needed)."""
        for send in sends:
            if send.port_id == LOCAL:
                if self.app is not None:
                    self.app.deliver(send.data, send.dest is None)
                continue
            runtime = self.by_id.get(send.port_id)
            if runtime is not None:
                self._npdus_out[send.port_id] += 1
                runtime.send(send.dest, send.data)

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
                self._watch_port_states()
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
        """Each port's status, with the NPDUs it received and sent since the router started."""
        now = self.now()
        out = []
        for runtime in self.ports.values():
            status = runtime.status(now)
            port_id = self._ids.get(runtime.name, 0)
            status["npdus_in"] = self._npdus_in[port_id]
            status["npdus_out"] = self._npdus_out[port_id]
            out.append(status)
        return out

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
            "application_queue_dropped": self.app.dropped if self.app else 0,
        }

    def routes(self) -> list[dict[str, Any]]:
        return self.router.route_list(self.now())

    def route_page(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        """A page of the routing table and how full it is (a table of thousands is not one answer)."""
        summary: dict[str, Any] = self.router.route_summary()
        summary.update(offset=offset, limit=limit, routes=self.router.route_list(self.now(), offset, limit))
        return summary


def _load_application(**settings: Any) -> Any:
    """The full device application (bacpypes3), when the device is first asked more than Who-Is."""
    from .app import RouterApplication

    return RouterApplication(**settings)


def _device_settings(app: AppSettings) -> tuple[Any, ...]:
    return (app.device_instance, app.device_name, app.description, app.location)


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
