"""The seams between the router and what plugs into it.

Port runtimes talk to the router through a :class:`PortHost`; gateways put
their objects into BACnet devices through a :class:`DeviceHost`. Neither
sees the node itself: a port kind or a gateway can be written, and tested,
against a fake host of a few lines.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .router import PortInfo

if TYPE_CHECKING:
    from ..config.model import Port
    from ..config.resources import Resource
    from ..events import Events
    from ..ifaddr import IfAddr
    from .udp import BroadcastListeners

__all__ = ["PortHost", "PortRuntime", "PortFactory", "DeviceHost", "VirtualDeviceHandle"]


class PortRuntime(Protocol):
    """A running port of one kind: what the node asks of every port."""

    name: str
    port_id: int
    config: Port
    state: str  # "up", "waiting", "fault", "stopped", "starting", "unavailable"
    reason: str

    async def start(self) -> None: ...
    def stop(self) -> None: ...
    def send(self, dest: bytes | None, npdu: bytes) -> None: ...
    def poll(self, now: float) -> None: ...
    def status(self, now: float) -> dict[str, Any]: ...
    async def recheck(self, addresses: list[IfAddr]) -> None: ...


class PortHost(Protocol):
    """What a port may ask of the router it is a port of."""

    loop: asyncio.AbstractEventLoop
    #: shared broadcast sockets (several BACnet/IP ports may listen on one UDP port)
    listeners: BroadcastListeners
    #: where captures go unless the caller names a file
    capture_dir: Path

    def now(self) -> float:
        """The monotonic clock the router core runs on."""
        ...

    def port_up(self, port: PortRuntime, info: PortInfo) -> None:
        """The port carries traffic now: route through it, publish it in the device."""
        ...

    def port_down(self, port: PortRuntime) -> None:
        """The port stopped carrying traffic."""
        ...

    def port_changed(self, port: PortRuntime) -> None:
        """What the port's Network Port object shows changed (a written BDT, a registration)."""
        ...

    def receive(self, port_id: int, source: bytes, npdu: bytes, broadcast: bool) -> None:
        """An NPDU the port received from ``source`` (its data link's MAC)."""
        ...

    def announce(self, port_id: int) -> None:
        """Tell the port's network again which networks we reach (after a foreign registration)."""
        ...

    def save_option(self, port: PortRuntime, option: str, values: list[str]) -> None:
        """Keep a setting the network changed (a written BDT) in the port's configuration section."""
        ...


class PortFactory(Protocol):
    """Builds the runtime of one port kind; registered in :mod:`bacrouter.registry`."""

    def __call__(self, host: PortHost, config: Any, port_id: int, resource: Resource | None) -> PortRuntime: ...


class VirtualDeviceHandle(Protocol):
    """A BACnet device of a gateway's own on the virtual network (virtual-device mode)."""

    app: Any  # the bacpypes3 application holding its objects
    present: bool

    def appear(self) -> None: ...
    def vanish(self) -> None: ...
    def close(self) -> None: ...


class DeviceHost(Protocol):
    """Where a gateway's objects live: the router's own device, or devices on the virtual network."""

    #: where a gateway says a device went online or offline (``emit("device", {...})``, see bacrouter.events)
    events: Events

    def router_app(self) -> Any | None:
        """The router's device application (bacpypes3), or None while it has none."""
        ...

    def virtual_device(self, mac: int, instance: int, name: str, description: str = "") -> VirtualDeviceHandle | None:
        """A new device on the running virtual network; None when no vbus port is up."""
        ...
