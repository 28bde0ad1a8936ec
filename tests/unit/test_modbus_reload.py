"""ModbusGateway.apply against a fake device host and a fake line: what restarts, what stays, what is reported.

No sockets: the transport never answers (every poller waits on its first
request), the host's applications are dictionaries.
"""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

import pytest

from bacrouter.config import uci
from bacrouter.config.model import Config, build_config
from bacrouter.config.resources import Resource, ResourceType
from bacrouter.modbus import gateway as gateway_module
from bacrouter.modbus.devconfig import Point
from bacrouter.modbus.gateway import ModbusGateway
from bacrouter.modbus.schema import ModbusMaster, ModbusSlave

RESOURCES = {"RS485-1": Resource("RS485-1", ResourceType.USB, "/dev/ttyUSB0")}

MASTERS = """
config bacrouter 'main'
	option device_instance '4001'

config modbus_master 'm1'
	option protocol 'tcp'
	option host '127.0.0.1'

config modbus_master 'm2'
	option protocol 'rtu'
	option resource 'RS485-1'
"""


def slave(name: str, master: str, station: int = 1, **options: Any) -> str:
    lines = "".join(f"\toption {k} '{v}'\n" for k, v in options.items())
    return f"\nconfig modbus_slave '{name}'\n\toption master '{master}'\n\toption station '{station}'\n{lines}"


SLAVES = slave("a", "m1", 1, block=1) + slave("b", "m1", 2, block=2) + slave("c", "m2", 3, block=3)
POINTS = [Point(1, "level", "ao", "holding", 30, instance=1), Point(2, "temp", "ai", "holding", 10, instance=2)]


def make_config(text: str, resources: dict[str, Resource] | None = None, points: dict[str, list[Point]] | None = None,
                ) -> Config:
    package = uci.parse(textwrap.dedent(text), "bacrouter", "bacrouter")
    config, problems = build_config(package, dict(resources or RESOURCES),
                                    feature_types={"modbus_master": ModbusMaster, "modbus_slave": ModbusSlave})
    assert not [p for p in problems if p.severity == "error"], [str(p) for p in problems]
    for section in config.sections_of(ModbusSlave):
        section.point_list = list((points or {}).get(section.name, POINTS))
        section.points_signature = str(section.point_list)  # what attach_points takes from the file
    return config


class SilentLine:
    """A transport that never answers: pollers wait on it, writes stay queued."""

    def __init__(self, master: ModbusMaster, device: str | None) -> None:
        self.master, self.device, self.closed = master, device, False

    async def exchange(self, target: Any, request: Any) -> Any:
        await asyncio.Event().wait()

    def close(self) -> None:
        self.closed = True


class FakeApp:
    def __init__(self) -> None:
        self.objectIdentifier: dict[Any, Any] = {}
        self.objectName: dict[str, Any] = {}

    def add_object(self, obj: Any) -> None:
        if obj.objectName in self.objectName or obj.objectIdentifier in self.objectIdentifier:
            raise RuntimeError("taken")
        self.objectName[obj.objectName] = obj
        self.objectIdentifier[obj.objectIdentifier] = obj

    def delete_object(self, obj: Any) -> None:
        del self.objectName[obj.objectName]
        del self.objectIdentifier[obj.objectIdentifier]


class FakeDevice:
    def __init__(self, mac: int, instance: int, name: str) -> None:
        self.mac, self.instance, self.name = mac, instance, name
        self.app, self.present, self.closed = FakeApp(), False, False

    def appear(self) -> None:
        self.present = True

    def vanish(self) -> None:
        self.present = False

    def close(self) -> None:
        self.closed = True


class FakeHost:
    def __init__(self) -> None:
        self.app = FakeApp()
        self.devices: list[FakeDevice] = []

    def router_app(self) -> Any:
        return self.app

    def virtual_device(self, mac: int, instance: int, name: str, description: str = "") -> FakeDevice:
        device = FakeDevice(mac, instance, name)
        self.devices.append(device)
        return device


@pytest.fixture(autouse=True)
def silent_lines(monkeypatch):
    monkeypatch.setattr(gateway_module, "make_transport", SilentLine)


def run(config: Config, test) -> None:
    async def body():
        host = FakeHost()
        gateway = ModbusGateway(config, host)
        await gateway.start()
        try:
            await test(gateway, host)
        finally:
            gateway.stop()

    asyncio.run(asyncio.wait_for(body(), 10))


def test_only_the_changed_slave_restarts_and_the_others_keep_their_objects_and_writes():
    async def test(gateway, host):
        master, a, b, c = gateway.masters["m1"], *(gateway.find_slave(n) for n in "abc")
        level = host.app.objectName["m1|a|level"]
        await level.write_property("presentValue", 30.0, priority=8)  # waits: the line never answers
        await host.app.objectName["m1|b|level"].write_property("presentValue", 5.0, priority=8)
        assert master.schedule.pending_writes == 2

        summary = await gateway.apply(make_config(MASTERS + SLAVES.replace("station '2'", "station '7'")))
        assert summary == {"started": [], "stopped": [], "restarted": ["modbus_slave 'b'"],
                           "unchanged": ["modbus_master 'm1'", "modbus_slave 'a'", "modbus_master 'm2'",
                                         "modbus_slave 'c'"]}
        assert gateway.masters["m1"] is master and not master.transport.closed
        assert gateway.find_slave("a") is a and gateway.find_slave("c") is c
        assert host.app.objectName["m1|a|level"] is level and level.commanded_value() == (30.0, 8)
        new_b = gateway.find_slave("b")
        assert new_b is not b and new_b.target.unit == 7 and host.app.objectName["m1|b|level"] is not None
        assert host.app.objectName["m1|b|level"] is new_b.points[0].obj
        # a's write still waits for the line, b's went with the old b
        assert master.schedule.pending_writes == 1 and [s.name for s in master.slaves] == ["a", "b"]
        assert master.schedule.slaves == [a.schedule, new_b.schedule]

    run(make_config(MASTERS + SLAVES), test)


def test_a_changed_master_restarts_with_its_slaves_and_a_changed_resource_counts():
    async def test(gateway, host):
        m1, m2, c = gateway.masters["m1"], gateway.masters["m2"], gateway.find_slave("c")
        summary = await gateway.apply(make_config(MASTERS.replace("host '127.0.0.1'", "host '10.0.0.2'") + SLAVES))
        assert summary["restarted"] == ["modbus_master 'm1'", "modbus_slave 'a'", "modbus_slave 'b'"]
        assert summary["unchanged"] == ["modbus_master 'm2'", "modbus_slave 'c'"]
        assert m1.transport.closed and gateway.masters["m1"] is not m1 and gateway.masters["m2"] is m2
        moved = {"RS485-1": Resource("RS485-1", ResourceType.USB, "/dev/ttyUSB1")}
        summary = await gateway.apply(make_config(MASTERS.replace("host '127.0.0.1'", "host '10.0.0.2'") + SLAVES,
                                                  moved))
        assert summary["restarted"] == ["modbus_master 'm2'", "modbus_slave 'c'"]
        assert gateway.masters["m2"].transport.device == "/dev/ttyUSB1" and gateway.find_slave("c") is not c

    run(make_config(MASTERS + SLAVES), test)


def test_slaves_come_and_go_on_a_running_master():
    async def test(gateway, host):
        master = gateway.masters["m1"]
        task = master._task
        text = MASTERS + slave("a", "m1", 1, block=1) + slave("c", "m2", 3, block=3) + slave("d", "m1", 4, block=4)
        summary = await gateway.apply(make_config(text))
        assert summary["stopped"] == ["modbus_slave 'b'"] and summary["started"] == ["modbus_slave 'd'"]
        assert "modbus_master 'm1'" in summary["unchanged"] and master._task is task
        assert [s.name for s in master.slaves] == ["a", "d"]
        assert not [name for name in host.app.objectName if name.startswith("m1|b")]  # points, status, view
        assert "m1|d|level" in host.app.objectName and "m1|d|comm|online" in host.app.objectName
        # every slave of a master gone: the master stops too
        summary = await gateway.apply(make_config(MASTERS + slave("c", "m2", 3, block=3)))
        assert summary["stopped"] == ["modbus_master 'm1'", "modbus_slave 'a'", "modbus_slave 'd'"]
        assert master.transport.closed and list(gateway.masters) == ["m2"]

    run(make_config(MASTERS + SLAVES), test)


def test_a_slave_whose_place_in_the_mapping_moved_restarts():
    async def test(gateway, host):
        a, b = gateway.find_slave("a"), gateway.find_slave("b")
        summary = await gateway.apply(make_config(MASTERS + SLAVES.replace("block '2'", "block '5'")))
        assert summary["restarted"] == ["modbus_slave 'b'"] and gateway.find_slave("a") is a
        assert host.app.objectName["m1|b|level"].objectIdentifier[1] == 5001
        # its points file: the signature differs
        points = {"a": POINTS[:1]}
        summary = await gateway.apply(make_config(MASTERS + SLAVES.replace("block '2'", "block '5'"), points=points))
        assert summary["restarted"] == ["modbus_slave 'a'"] and "m1|a|temp" not in host.app.objectName
        assert b is not gateway.find_slave("b")

    run(make_config(MASTERS + SLAVES), test)


VBUS = "\nconfig vbus 'virtual'\n\toption network '9'\n"
VSLAVES = slave("a", "m1", 1, instance=101) + slave("b", "m1", 2, instance=102)


def test_virtual_devices_of_unchanged_slaves_stay_and_a_global_change_restarts_everything():
    async def test(gateway, host):
        a, b = gateway.find_slave("a"), gateway.find_slave("b")
        device_a, device_b = a.device, b.device
        assert "level" in device_a.app.objectName
        summary = await gateway.apply(make_config(MASTERS + VBUS + slave("a", "m1", 1, instance=101)))
        assert summary["stopped"] == ["modbus_slave 'b'"] and device_b.closed and not device_a.closed
        assert gateway.find_slave("a").device is device_a and gateway.devices == [device_a]
        # the delimiter: every name changes, everything restarts
        text = MASTERS.replace("'4001'", "'4001'\n\toption delimiter '.'") + VBUS + slave("a", "m1", 1, instance=101)
        summary = await gateway.apply(make_config(text))
        assert summary["restarted"] == ["modbus_master 'm1'", "modbus_slave 'a'"] and device_a.closed
        assert gateway.find_slave("a").device.name == "m1.a"

    run(make_config(MASTERS + VBUS + VSLAVES), test)
