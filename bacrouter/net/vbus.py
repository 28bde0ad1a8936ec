"""The virtual network (VBUS): a router port whose stations are devices living inside bacrouter.

In virtual-device mode every Modbus slave (and later every Free Client
device) is a BACnet device of its own on this network, with a one-octet MAC
from 1; the router is station 0. A device that is not *present* (its slave
is offline) neither hears nor says anything: to the rest of the internetwork
it has gone silent, as a real device would.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from bacpypes3.basetypes import NetworkNumberQuality, NetworkType, ProtocolLevel
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.pdu import LocalStation

from .. import VENDOR_ID, VENDOR_NAME, __version__
from ..config.model import VbusPort
from .app import DeviceApplication, RouterLink
from .router import PortInfo

if TYPE_CHECKING:
    from ..ifaddr import IfAddr
    from .host import PortHost

__all__ = ["VbusPortRuntime", "VirtualDevice", "ROUTER_STATION"]

log = logging.getLogger("bacrouter.vbus")

ROUTER_STATION = b"\x00"
MAX_NPDU = 1497


class VirtualDevice:
    """One bacpypes3 device on the virtual network; objects are added by its owner."""

    def __init__(self, vbus: VbusPortRuntime, mac: int, instance: int, name: str, description: str = "") -> None:
        self.vbus, self.mac = vbus, bytes([mac])
        self.present = False
        self.device = DeviceObject(
            objectIdentifier=("device", instance), objectName=name, description=description,
            vendorIdentifier=VENDOR_ID, vendorName=VENDOR_NAME, modelName="bacrouter virtual device",
            firmwareRevision=__version__, applicationSoftwareVersion=__version__, maxApduLengthAccepted=1476,
        )
        self.app = DeviceApplication.from_object_list([self.device])
        self.link = RouterLink(self._send, mac=self.mac, router_mac=ROUTER_STATION)
        self.app.nsap.bind(self.link, address=LocalStation(self.mac))
        port = NetworkPortObject(
            objectIdentifier=("network-port", 1), objectName="vbus", statusFlags=[0, 0, 0, 0],
            reliability="no-fault-detected", outOfService=False, protocolLevel=ProtocolLevel.protocol,
            changesPending=False, networkType=NetworkType.virtual, networkNumber=vbus.config.network,
            networkNumberQuality=NetworkNumberQuality.configured, macAddress=self.mac, apduLength=1476,
            linkSpeed=0.0,
        )
        self.app.add_object(port)
        vbus.attach(self)

    def add(self, obj: Any) -> None:
        self.app.add_object(obj)

    def _send(self, npdu: bytes, broadcast: bool) -> None:
        if self.present:
            self.vbus.from_device(self, npdu, broadcast)

    def deliver(self, npdu: bytes, broadcast: bool) -> None:
        if self.present:
            self.link.deliver(npdu, broadcast)

    def appear(self) -> None:
        """Present again (its data is fresh): say so with an I-Am."""
        if self.present:
            return
        self.present = True
        try:
            self.app.i_am()
        except BaseException as err:  # noqa: BLE001 - bacpypes3 errors are BaseException
            log.debug("I-Am of %s failed: %r", self.device.objectName, err)

    def vanish(self) -> None:
        self.present = False

    def close(self) -> None:
        self.present = False
        self.link.close()
        self.vbus.detach(self)


class VbusPortRuntime:
    """The router's port on the virtual network: owns the virtual devices attached to it, by MAC."""

    def __init__(self, host: PortHost, config: VbusPort, port_id: int) -> None:
        self.host, self.config, self.port_id = host, config, port_id
        self.name = config.name
        self.state, self.reason = "stopped", ""
        self.devices: dict[bytes, VirtualDevice] = {}
        self.up_since: float | None = None

    async def start(self) -> None:
        self.state, self.up_since = "up", time.time()
        self.host.port_up(self, PortInfo(self.port_id, self.config.network, max_npdu=MAX_NPDU, mac_len=1,
                                         mac=ROUTER_STATION, name=self.name))

    def stop(self) -> None:
        if self.state == "up":
            self.host.port_down(self)
        self.state = "stopped"

    def device(self, mac: int, instance: int, name: str, description: str = "") -> VirtualDevice:
        """A new device of a gateway's on this network (it stays silent until it appears)."""
        return VirtualDevice(self, mac, instance, name, description)

    def attach(self, device: VirtualDevice) -> None:
        self.devices[device.mac] = device

    def detach(self, device: VirtualDevice) -> None:
        if self.devices.get(device.mac) is device:
            del self.devices[device.mac]

    def from_device(self, device: VirtualDevice, npdu: bytes, broadcast: bool) -> None:
        if self.state == "up":
            self.host.receive(self.port_id, device.mac, npdu, broadcast)

    def send(self, dest: bytes | None, npdu: bytes) -> None:
        if dest is None:
            for device in list(self.devices.values()):
                device.deliver(npdu, True)
            return
        device = self.devices.get(dest)
        if device is not None:
            device.deliver(npdu, False)

    def poll(self, now: float) -> None:
        pass

    async def recheck(self, addresses: list[IfAddr]) -> None:
        pass

    def status(self, now: float) -> dict[str, Any]:
        return {"name": self.name, "kind": "vbus", "network": self.config.network, "state": self.state,
                "reason": self.reason, "address": "0", "devices": len(self.devices),
                "present": sum(1 for d in self.devices.values() if d.present)}

