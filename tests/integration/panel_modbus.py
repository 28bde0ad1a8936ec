"""A daemon and panel with a Modbus TCP master and slave, against a pymodbus server in a thread of the test.

The server runs in its own event loop (a thread), so a test changes a register
(:meth:`ModbusStack.set`) or slows the slave down (:meth:`ModbusStack.slow`)
while the daemon, a process, polls it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from bacrouter.config import uci
from bacrouter.control import call
from bacrouter.panel.auth import hash_password

from ..peers.modbus_peer import SlavePeer, tcp_server
from .modbus_harness import free_port, point
from .test_panel import PASSWORD, Stack

#: eight holding registers ten apart: a read plan of eight requests (group_reg and unused_reg keep them apart)
POINTS = [point("temp", "ai", "holding", 0, 1, data_type="s16", scale=0.1, unit="degrees-celsius")] + \
    [point(f"reg{n}", "av", "holding", 10 * n, 1 + n) for n in range(1, 8)]


class PeerThread:
    """A pymodbus TCP slave (unit 1) in a thread of its own."""

    def __init__(self, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.peer = SlavePeer(1)
        self.thread = threading.Thread(target=self.loop.run_forever, name="modbus-peer", daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(tcp_server([self.peer], "127.0.0.1", port), self.loop).result(10)

    def set(self, table: str, address: int, *values: int) -> None:
        self.loop.call_soon_threadsafe(self.peer.set, table, address, *values)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class ModbusStack(Stack):
    """:class:`Stack` with master ``tcp1`` (the peer) and slave ``meter`` (station 1, block 1), password set."""

    def __init__(self, tmp: Path) -> None:
        self.modbus_port = free_port()
        self.peer = PeerThread(self.modbus_port)
        self.peer.set("holding", 0, 215)  # temp 21.5
        for n in range(1, 8):
            self.peer.set("holding", 10 * n, 100 + n)
        super().__init__(tmp)
        (tmp / "bacrouter" / "modbus").mkdir(exist_ok=True)
        (tmp / "bacrouter" / "modbus" / "meter.json").write_text(json.dumps({"points": POINTS}, indent=1))
        package = uci.load(tmp / "config" / "bacrouter")
        package.section("panel").options["password_hash"] = hash_password(PASSWORD)
        master = package.add("modbus_master", "tcp1")
        master.options.update(protocol="tcp", host="127.0.0.1", port=str(self.modbus_port))
        slave = package.add("modbus_slave", "meter")
        slave.options.update(master="tcp1", station="1", block="1", update_ms="300", offline_ms="1000",
                             timeout_ms="1500")
        uci.write_atomic(tmp / "config" / "bacrouter", uci.dumps(package))
        answer = self.call("reload")
        assert answer, answer
        self.until(lambda: any(s["online"] for m in self.call("modbus") for s in m["slaves"]), "meter online")

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return call(self.dir / "run" / "control.sock", method, params, 10)

    @staticmethod
    def until(condition: Any, what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def slow(self, seconds: float) -> None:
        """Every answer of the slave comes this much later."""
        self.peer.peer.delay = seconds

    def close(self) -> None:
        super().close()
        self.peer.close()
