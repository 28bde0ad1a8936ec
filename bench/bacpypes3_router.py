"""bacpypes3 as a BACnet/IP-to-BACnet/IP router: the peer our router is measured against.

    python bench/bacpypes3_router.py UDP_PORT_NET1 UDP_PORT_NET2

Two BACnet/IP network ports on 127.0.0.1 (networks 1 and 2) in one bacpypes3
Application, which is how bacpypes3 routes. Prints "ready" when bound.
"""

import asyncio
import sys

from bacpypes3.app import Application
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject


async def main(port1: int, port2: int) -> None:
    device = DeviceObject(objectIdentifier=("device", 999100), objectName="bacpypes3-router", vendorIdentifier=999)
    ports = [
        NetworkPortObject(f"127.0.0.1/8:{udp}", objectIdentifier=("network-port", net), objectName=f"port{net}",
                          networkNumber=net, networkNumberQuality="configured")
        for net, udp in ((1, port1), (2, port2))
    ]
    Application.from_object_list([device, *ports])
    await asyncio.sleep(0.5)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
