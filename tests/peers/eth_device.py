"""A BACnet device on BACnet Ethernet (802.2 LLC) for integration tests: a bacpypes3 device on a raw socket.

    eth_device.py --ifname e0 --instance 6006 [--ready FILE]

bacpypes3 has no Ethernet data link, so frames go through a small one of
ours. Its codec is written here from clause 7 of the standard, apart from
bacrouter's, so the two check each other. Objects: analog-value,1 "temp"
(21.5) and analog-value,2 "big" with a 1,200-character description (a read
of it is an NPDU longer than MS/TP's 501 octets but within Ethernet's 1497).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import struct
from pathlib import Path

from bacpypes3.comm import Server
from bacpypes3.pdu import PDU, Address, LocalBroadcast, LocalStation

from tests.peers.demo_device import demo_application

ETH_P_802_2 = 0x0004
BROADCAST = b"\xff" * 6


class EthernetAppLink(Server[PDU]):
    def __init__(self, ifname: str) -> None:
        super().__init__()
        self.mac = bytes.fromhex(Path(f"/sys/class/net/{ifname}/address").read_text().strip().replace(":", ""))
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_802_2))
        self.sock.bind((ifname, ETH_P_802_2))
        self.sock.setblocking(False)
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data, address = self.sock.recvfrom(2048)
        except BlockingIOError:
            return
        if address[2] == 4 or len(data) < 17:  # PACKET_OUTGOING: our own
            return
        length = struct.unpack_from(">H", data, 12)[0]
        if length >= 0x600 or data[14:17] != b"\x82\x82\x03":
            return
        destination, source, npdu = data[:6], data[6:12], data[17:14 + length]
        if destination not in (BROADCAST, self.mac):
            return
        target = LocalBroadcast() if destination == BROADCAST else LocalStation(self.mac)
        self.loop.create_task(self._up(PDU(npdu, source=LocalStation(source), destination=target)))

    async def _up(self, pdu: PDU) -> None:
        try:
            await self.response(pdu)
        except BaseException as err:  # noqa: BLE001 - keep serving
            logging.debug("dropped: %r", err)

    async def indication(self, pdu: PDU) -> None:
        destination = pdu.pduDestination
        dst = BROADCAST if destination.addrType == Address.localBroadcastAddr else bytes(destination.addrAddr)
        npdu = bytes(pdu.pduData)
        frame = dst + self.mac + struct.pack(">H", 3 + len(npdu)) + b"\x82\x82\x03" + npdu
        self.sock.send(frame + bytes(max(0, 60 - len(frame))))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ifname", required=True)
    parser.add_argument("--instance", type=int, default=6006)
    parser.add_argument("--ready")
    args = parser.parse_args()
    app = demo_application(args.instance, f"eth-{args.instance}", "y" * 1200)
    link = EthernetAppLink(args.ifname)
    app.nsap.bind(link, address=LocalStation(link.mac))
    if args.ready:
        Path(args.ready).write_text("ready\n")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
