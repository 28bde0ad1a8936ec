"""The router's own BACnet device: a bacpypes3 Application attached to our router.

The application sits alone on a private link whose other station is the
router. Everything for the device arrives with SNET/SADR naming the port's
network and the sender, so the application sees remote stations; bacpypes3
learns "network N is behind the router" from those and sends its answers back
with DNET/DADR, which the router turns into local traffic on that port. The
application's network number is unknown (None) on purpose: no network number
it could hold would be distinct from every port's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bacpypes3.apdu import (
    ConfirmedServiceChoice,
    SimpleAckPDU,
    SubscribeCOVRequest,
    UnconfirmedServiceChoice,
    confirmed_request_types,
    unconfirmed_request_types,
)
from bacpypes3.app import Application
from bacpypes3.basetypes import (
    BDTEntry,
    FDTEntry,
    HostNPort,
    IPMode,
    NetworkNumberQuality,
    NetworkType,
    ProtocolLevel,
    RouterEntry,
    RouterEntryStatus,
    ServicesSupported,
)
from bacpypes3.comm import Server
from bacpypes3.constructeddata import ListOf
from bacpypes3.errors import ExecutionError
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.pdu import PDU, Address, LocalBroadcast, LocalStation

from .. import VENDOR_ID, VENDOR_NAME, __version__
from .device import PortDescription

__all__ = ["RouterLink", "RouterApplication"]

log = logging.getLogger("bacrouter.app")

APP_MAC = b"\x01"
ROUTER_MAC = b"\x02"
#: NPDUs waiting for the application before new ones are dropped (it is slower than the router)
QUEUE_LIMIT = 1000
#: routes a Network Port's Routing_Table property lists at most; a longer table is refused with an
#: error (building and segmenting tens of thousands of entries blocked all routing for seconds)
ROUTING_TABLE_PROPERTY_MAX = 500


class RouterLink(Server[PDU]):
    """An application's data link: its only peer is the router (``router_mac`` on this link)."""

    def __init__(self, to_router: Callable[[bytes, bool], None], mac: bytes = APP_MAC,
                 router_mac: bytes = ROUTER_MAC) -> None:
        super().__init__()
        self._to_router = to_router
        self.mac, self.router_mac = mac, router_mac
        self._queue: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue(QUEUE_LIMIT)
        self._task = asyncio.get_running_loop().create_task(self._pump(), name="app-link")
        self.dropped = 0

    async def indication(self, pdu: PDU) -> None:
        """From the application, down to the router."""
        destination = pdu.pduDestination
        broadcast = destination is not None and destination.addrType == Address.localBroadcastAddr
        self._to_router(bytes(pdu.pduData), broadcast)

    def deliver(self, npdu: bytes, broadcast: bool) -> None:
        """From the router, up to the application (in order, never blocking the router)."""
        try:
            self._queue.put_nowait((npdu, broadcast))
        except asyncio.QueueFull:
            self.dropped += 1

    async def _pump(self) -> None:
        while True:
            npdu, broadcast = await self._queue.get()
            destination = LocalBroadcast() if broadcast else LocalStation(self.mac)
            try:
                await self.response(PDU(npdu, source=LocalStation(self.router_mac), destination=destination))
            except asyncio.CancelledError:
                raise
            except BaseException as err:  # bacpypes3 errors derive from BaseException
                log.debug("application could not process an NPDU: %r", err)

    def close(self) -> None:
        self._task.cancel()


class DeviceApplication(Application):
    """bacpypes3's Application with Protocol_Services_Supported computed correctly.

    bacpypes3 0.0.110 looks unconfirmed services up in the confirmed service
    table, so it claims (for example) AcknowledgeAlarm for I-Am.
    """

    def get_services_supported(self) -> ServicesSupported:
        supported = ServicesSupported([])
        for table, choices in ((confirmed_request_types, ConfirmedServiceChoice),
                               (unconfirmed_request_types, UnconfirmedServiceChoice)):
            for choice, request_class in table.items():
                if hasattr(self, "do_" + request_class.__name__):
                    supported[getattr(supported, choices(choice).attr)] = 1
        return supported

    async def do_SubscribeCOVRequest(self, apdu: SubscribeCOVRequest) -> None:
        """Gateway point objects keep their own subscriptions (see ``modbus.objects``)."""
        obj = self.get_object_id(apdu.monitoredObjectIdentifier)
        subscribe = getattr(obj, "subscribe_cov", None)
        if subscribe is None:
            await super().do_SubscribeCOVRequest(apdu)
            return
        await self.response(SimpleAckPDU(context=apdu))  # the acknowledgement goes before the first notification
        subscribe(apdu.pduSource, apdu.subscriberProcessIdentifier, apdu.issueConfirmedNotifications, apdu.lifetime)


def _live(element: type, source: str) -> property:
    """A list property computed on every read from the callable in attribute ``source``."""

    def read(self: Any) -> Any:
        produce = getattr(self, source)
        return ListOf(element)(produce() if produce else [])

    def ignore(self: Any, value: Any) -> None:
        pass  # computed, never stored

    return property(read, ignore)


class RouterPortObject(NetworkPortObject):
    """A network port of the router; its routing table is read live from the router."""

    _routes: Callable[[], list[RouterEntry]] | None = None
    routingTable = _live(RouterEntry, "_routes")


class BbmdPortObject(RouterPortObject):
    """A BACnet/IP port in BBMD mode: the foreign device table is read live too."""

    _fdt: Callable[[], list[FDTEntry]] | None = None
    bbmdForeignDeviceTable = _live(FDTEntry, "_fdt")


class RouterApplication:
    """Builds and owns the bacpypes3 Application of the router's device."""

    def __init__(self, *, instance: int, name: str, description: str, location: str,
                 to_router: Callable[[bytes, bool], None]) -> None:
        self.device = DeviceObject(
            objectIdentifier=("device", instance),
            objectName=name,
            description=description,
            location=location,
            vendorIdentifier=VENDOR_ID,
            vendorName=VENDOR_NAME,
            modelName="bacrouter",
            firmwareRevision=__version__,
            applicationSoftwareVersion=__version__,
            maxApduLengthAccepted=1476,
        )
        self.app = DeviceApplication.from_object_list([self.device])
        self.link = RouterLink(to_router)
        self.app.nsap.bind(self.link, address=LocalStation(APP_MAC))
        self.ports: dict[int, RouterPortObject] = {}

    def deliver(self, npdu: bytes, broadcast: bool) -> None:
        self.link.deliver(npdu, broadcast)

    def add_port(self, port: PortDescription, fdt: Callable[[], list[tuple[bytes, int, int]]] | None = None) -> None:
        self.remove_port(port.port_id)
        kwargs: dict[str, Any] = {
            "objectIdentifier": ("network-port", port.port_id),
            "objectName": port.name,
            "statusFlags": [0, 0, 0, 0],
            "reliability": "no-fault-detected",
            "outOfService": False,
            # created without an application link (bacpypes3 would open sockets), switched below
            "protocolLevel": ProtocolLevel.protocol,
            "changesPending": False,
            "linkSpeed": 0.0,
            "networkNumber": port.network,
            "networkNumberQuality": NetworkNumberQuality.configured,
            "macAddress": port.mac,
            "apduLength": port.max_npdu - 21,
        }
        if port.kind == "bip":
            kwargs.update(_ip_properties(port.ip))
        else:
            kwargs["networkType"] = {"mstp": NetworkType.mstp, "ethernet": NetworkType.ethernet}.get(
                port.kind, NetworkType.virtual)
        obj = (BbmdPortObject if port.ip.get("mode") == "bbmd" else RouterPortObject)(**kwargs)

        def routes() -> list[RouterEntry]:
            table = port.routes()
            if len(table) > ROUTING_TABLE_PROPERTY_MAX:
                # refused before anything is built: the answer would not fit in any segmented APDU we send
                raise ExecutionError("resources", "abortOutOfResources")
            return [RouterEntry(networkNumber=network, macAddress=mac,
                                status=RouterEntryStatus.busy if busy else RouterEntryStatus.available)
                    for network, mac, busy in table]

        obj._routes = routes
        if fdt is not None and isinstance(obj, BbmdPortObject):
            obj._fdt = lambda: [FDTEntry(bacnetIPAddress=address, timeToLive=ttl, remainingTimeToLive=remaining)
                                for address, ttl, remaining in fdt()]
        self.app.add_object(obj)
        obj.protocolLevel = ProtocolLevel.bacnetApplication
        self.ports[port.port_id] = obj
        self.device.maxApduLengthAccepted = min(p.apduLength for p in self.ports.values())

    def remove_port(self, port_id: int) -> None:
        obj = self.ports.pop(port_id, None)
        if obj is not None:
            self.app.delete_object(obj)

    def announce(self) -> None:
        """I-Am to everyone, so the router's device is found without a Who-Is."""
        try:
            self.app.i_am()
        except BaseException as err:  # noqa: BLE001 - bacpypes3 errors are BaseException
            log.debug("I-Am failed: %r", err)

    def close(self) -> None:
        self.link.close()
        for port_id in list(self.ports):
            self.remove_port(port_id)


def _ip_properties(ip: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {
        "networkType": NetworkType.ipv4,
        "networkInterfaceName": ip.get("interface", ""),
        "ipAddress": bytes(int(x) for x in ip["address"].split(".")),
        "ipSubnetMask": bytes(int(x) for x in ip["netmask"].split(".")),
        "bacnetIPUDPPort": ip["udp_port"],
        "bacnetIPMode": {"normal": IPMode.normal, "foreign": IPMode.foreign, "bbmd": IPMode.bbmd}[ip["mode"]],
    }
    if ip["mode"] == "foreign":
        props["fdBBMDAddress"] = HostNPort(ip["bbmd"])
        props["fdSubscriptionLifetime"] = ip["ttl"]
    elif ip["mode"] == "bbmd":
        props["bbmdBroadcastDistributionTable"] = [BDTEntry(bbmdAddress=HostNPort(address), broadcastMask=mask)
                                                   for address, mask in ip.get("bdt", [])]
        props["bbmdAcceptFDRegistrations"] = ip.get("fdt_size", 0) > 0
    return props
