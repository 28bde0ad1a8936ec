"""A pymodbus server as the Modbus slave(s) of tests: TCP, or RTU / ASCII on a serial port (a socat pty).

The slave holds 0..SIZE-1 of every table (coils, discrete inputs, holding and
input registers); ``invalid`` ranges answer exception 02 like a device with
gaps in its register map. Tests change values with :meth:`SlavePeer.set` and
read what the master wrote with :meth:`SlavePeer.get`; ``stuck`` addresses
ignore writes (an actuator that does not follow its command).

Runs in the test's event loop (``await peer.start()``), or as a process:

    modbus_peer.py --tcp 127.0.0.1:5020 --unit 1 [--unit 2 ...] [--ready FILE]
    modbus_peer.py --serial /dev/pts/N --framer rtu|ascii --baud 19200 --unit 1 [--ready FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Iterable

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

SIZE = 2100
TABLES = {"coil": 0, "discrete": 1, "holding": 2, "input": 3}
FUNCTION_TABLE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 3: "holding", 6: "holding", 16: "holding",
                  4: "input"}


class SlavePeer:
    """One simulated slave (unit)."""

    def __init__(self, unit: int, invalid: dict[str, Iterable[int]] | None = None) -> None:
        self.unit = unit
        self.invalid = {table: set(addresses) for table, addresses in (invalid or {}).items()}
        self.stuck: set[tuple[str, int]] = set()
        self.requests: list[tuple[int, int, int]] = []  # (function, address, count) as served
        self._memory: dict[str, list[int]] = {}
        self._shadow: dict[tuple[str, int], int] = {}  # every value set, for a restarted server's fresh memory
        self.delay = 0.0  # seconds before answering: longer than the master's timeout is a slave gone quiet
        blocks = []
        for table in TABLES:
            bits = table in ("coil", "discrete")
            kind = DataType.BITS if bits else DataType.REGISTERS
            bad = sorted(self.invalid.get(table, ()))
            entries, start = [], 0
            for address in bad + [SIZE]:
                if address > start:
                    entries.append(SimData(start, count=address - start, values=False if bits else 0, datatype=kind))
                if address < SIZE:
                    entries.append(SimData(address, count=1, datatype=DataType.INVALID))
                start = address + 1
            blocks.append(entries)
        self.device = SimDevice(unit, simdata=tuple(blocks), action=self._action)

    async def _action(self, function: int, start: int, address: int, count: int, registers: list,
                      values: list | None) -> ExcCodes | None:
        table = FUNCTION_TABLE[function]
        if self._memory.get(table) is not registers:  # the simulator's own list: later edits go straight in
            self._memory[table] = registers
            for (shadow_table, at), value in self._shadow.items():
                if shadow_table == table:
                    self._poke(table, at, value)
        if function in (1, 2, 3, 4) or values is not None:  # a write also reads its echo back: one request
            self.requests.append((function, address, count))
        if self.delay and (function in (1, 2, 3, 4) or values is not None):
            await asyncio.sleep(self.delay)
        if values is not None:
            for index in range(len(values)):
                if (table, address + index) in self.stuck:
                    values[index] = self._peek(table, address + index)
        return None

    def _poke(self, table: str, address: int, value: int) -> None:
        memory = self._memory[table]
        if table in ("coil", "discrete"):  # 16 bits to a register, the lowest first
            word, bit = divmod(address, 16)
            memory[word] = (memory[word] & ~(1 << bit)) | ((1 if value else 0) << bit)
        else:
            memory[address] = value & 0xFFFF

    def _peek(self, table: str, address: int) -> int:
        memory = self._memory[table]
        if table in ("coil", "discrete"):
            word, bit = divmod(address, 16)
            return (memory[word] >> bit) & 1
        return int(memory[address])

    def set(self, table: str, address: int, *values: int) -> None:
        for index, value in enumerate(values):
            self._shadow[(table, address + index)] = int(value)
            if table in self._memory:  # else the simulator shows its memory on the first request
                self._poke(table, address + index, int(value))

    def get(self, table: str, address: int, count: int = 1) -> list[int]:
        if table not in self._memory:
            return [self._shadow.get((table, address + i), 0) for i in range(count)]
        return [self._peek(table, address + i) for i in range(count)]


def _silencer(units: set[int], quiet: set[int], unit_of: Callable[[bytes], int]) -> Callable[[bool, bytes], bytes]:
    """pymodbus answers a unit it does not have with exception 4, where a real bus stays silent: answers
    to units that are not ``units``, or are in ``quiet`` (the test may change it later), are not sent."""

    def trace(sending: bool, packet: bytes) -> bytes:
        if sending and packet:
            unit = unit_of(packet)
            if unit not in units or unit in quiet:
                return b""
        return packet

    return trace


def _serial_unit(packet: bytes) -> int:
    return int(packet[1:3], 16) if packet[:1] == b":" else packet[0]


async def tcp_server(slaves: list[SlavePeer], host: str, port: int, quiet: set[int] | None = None) -> ModbusTcpServer:
    trace = _silencer({s.unit for s in slaves}, quiet if quiet is not None else set(), lambda p: p[6])
    server = ModbusTcpServer([s.device for s in slaves], address=(host, port), trace_packet=trace)
    await server.serve_forever(background=True)
    return server


async def serial_server(slaves: list[SlavePeer], path: str, framer: str = "rtu", baud: int = 19200,
                        quiet: set[int] | None = None) -> ModbusSerialServer:
    trace = _silencer({s.unit for s in slaves}, quiet if quiet is not None else set(), _serial_unit)
    server = ModbusSerialServer([s.device for s in slaves], framer=FramerType.RTU if framer == "rtu" else FramerType.ASCII,
                                port=path, baudrate=baud, parity="N", trace_packet=trace)
    await server.serve_forever(background=True)
    return server


async def main(args: argparse.Namespace) -> None:
    slaves = [SlavePeer(unit) for unit in args.unit or [1]]
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        await tcp_server(slaves, host, int(port))
    else:
        await serial_server(slaves, args.serial, args.framer, args.baud)
    if args.ready:
        with open(args.ready, "w") as handle:
            handle.write("ready\n")
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--tcp")
    parser.add_argument("--serial")
    parser.add_argument("--framer", default="rtu")
    parser.add_argument("--baud", type=int, default=19200)
    parser.add_argument("--unit", type=int, action="append")
    parser.add_argument("--ready")
    asyncio.run(main(parser.parse_args()))
