"""A BACnet device on MS/TP for integration tests: our MS/TP code on a tty, a bacpypes3 device on top.

    mstp_device.py --tty /tmp/mstp-b --mac 5 --instance 5005 [--baud 38400] [--ready FILE]

Objects: analog-value,1 "temp" (21.5) and analog-value,2 "big" whose
description is 700 characters, so reading it makes an NPDU longer than 501
octets (an extended frame).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from bacpypes3.comm import Server
from bacpypes3.pdu import PDU, Address, LocalBroadcast, LocalStation

from bacrouter.mstp.link import MstpLink
from bacrouter.mstp.port import MstpWorker
from tests.peers.demo_device import demo_application


class MstpAppLink(Server[PDU]):
    """bacpypes3's data link onto an MS/TP worker."""

    def __init__(self, mac: int, worker_factory) -> None:
        super().__init__()
        self.mac = mac
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.worker: MstpWorker = worker_factory(self._deliver)
        self.loop.create_task(self._pump())

    def _deliver(self, source: int, npdu: bytes, broadcast: bool) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (source, npdu, broadcast))

    async def _pump(self) -> None:
        while True:
            source, npdu, broadcast = await self.queue.get()
            destination = LocalBroadcast() if broadcast else LocalStation(bytes([self.mac]))
            try:
                await self.response(PDU(npdu, source=LocalStation(bytes([source])), destination=destination))
            except BaseException as err:  # noqa: BLE001 - keep serving
                logging.debug("dropped: %r", err)

    async def indication(self, pdu: PDU) -> None:
        destination = pdu.pduDestination
        mac = 255 if destination.addrType == Address.localBroadcastAddr else destination.addrAddr[0]
        data = bytes(pdu.pduData)
        self.worker.send(mac, data, len(data) > 1 and bool(data[1] & 0x04))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tty", required=True)
    parser.add_argument("--mac", type=int, default=5)
    parser.add_argument("--instance", type=int, default=5005)
    parser.add_argument("--baud", type=int, default=38400)
    parser.add_argument("--max-master", type=int, default=10)
    parser.add_argument("--ready")
    args = parser.parse_args()
    up = asyncio.Event()
    loop = asyncio.get_running_loop()

    def worker_factory(deliver):
        def link() -> MstpLink:
            return MstpLink(args.mac, baud=args.baud, max_master=args.max_master, max_info_frames=4)

        def on_state(state: str, reason: str) -> None:
            if state == "up":
                loop.call_soon_threadsafe(up.set)

        worker = MstpWorker("device", args.tty, link, deliver, on_state)
        worker.start()
        return worker

    app = demo_application(args.instance, f"mstp-{args.instance}", "x" * 700)
    link = MstpAppLink(args.mac, worker_factory)
    app.nsap.bind(link, address=LocalStation(bytes([args.mac])))
    await up.wait()
    if args.ready:
        with open(args.ready, "w") as handle:
            handle.write("ready\n")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
