"""Runtime.apply against fake port kinds and a fake feature: what restarts, what is told, what the summary says.

No sockets: the ports are fakes registered for the real section types, the
feature a fake registered for a section type of its own, and the address
watcher is kept from opening its netlink socket.
"""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from bacrouter import ifaddr
from bacrouter.config import uci
from bacrouter.config.model import Config, Section, build_config, opt
from bacrouter.config.resources import Resource, ResourceType
from bacrouter.feature import FeatureKind, Summary, new_summary
from bacrouter.runtime import Runtime

RESOURCES = {"eth0": Resource("eth0", ResourceType.ETH, "br-lan"),
             "eth1": Resource("eth1", ResourceType.ETH, "br-lan:1")}

BASE = """
config bacrouter 'main'
	option device_instance '4001'

config bip 'bip0'
	option resource 'eth0'
	option network '1'

config bip 'bip1'
	option resource 'eth1'
	option network '2'

config vbus 'virtual'
	option network '9'
"""

THINGS = """
config fake_thing 'a'
	option value '1'

config fake_thing 'b'
	option value '1'
"""


@dataclass
class FakeThing(Section):
    """A section of the fake feature."""

    uci_type: ClassVar[str] = "fake_thing"

    value: str = opt("", doc="what the part is built from")


def make_config(text: str, resources: dict[str, Resource] | None = None) -> Config:
    package = uci.parse(textwrap.dedent(text), "bacrouter", "bacrouter")
    config, problems = build_config(package, dict(resources or RESOURCES), feature_types={"fake_thing": FakeThing})
    assert not [p for p in problems if p.severity == "error"], [str(p) for p in problems]
    return config


class FakePort:
    """A port of any kind: records its life, carries nothing."""

    def __init__(self, host: Any, config: Any, port_id: int, resource: Resource | None) -> None:
        self.host, self.config, self.port_id, self.resource = host, config, port_id, resource
        self.name = config.name
        self.state, self.reason = "stopped", ""
        self.started = self.stopped = 0

    async def start(self) -> None:
        self.started += 1
        self.state = "waiting"

    def stop(self) -> None:
        self.stopped += 1
        self.state = "stopped"

    def send(self, dest: bytes | None, npdu: bytes) -> None:
        pass

    def poll(self, now: float) -> None:
        pass

    def status(self, now: float) -> dict[str, Any]:
        return {"name": self.name, "state": self.state}

    async def recheck(self, addresses: list[Any]) -> None:
        pass


class PortKinds(dict):
    """bip and vbus fakes; every runtime built, in order."""

    def __init__(self) -> None:
        super().__init__(bip=self._build, vbus=self._build)
        self.built: list[FakePort] = []

    def _build(self, host: Any, config: Any, port_id: int, resource: Resource | None) -> FakePort:
        port = FakePort(host, config, port_id, resource)
        self.built.append(port)
        return port

    def running(self, name: str) -> FakePort:
        return next(p for p in reversed(self.built) if p.name == name and p.state != "stopped")


class FakeFeature:
    """A feature whose parts are its fake_thing sections: a part restarts when its value changed."""

    def __init__(self, config: Config, host: Any, log: list[tuple[str, Any]]) -> None:
        self.config, self.host, self.log = config, host, log
        self.parts: dict[str, str] = {}

    def _wanted(self, config: Config) -> dict[str, str]:
        return {thing.name: thing.value for thing in config.sections_of(FakeThing)}

    async def start(self) -> Summary:
        self.log.append(("start", self))
        self.parts = self._wanted(self.config)
        summary = new_summary()
        summary["started"] = [f"fake_thing '{name}'" for name in self.parts]
        return summary

    async def apply(self, config: Config) -> Summary:
        self.log.append(("apply", config))
        wanted, summary = self._wanted(config), new_summary()
        for name, value in wanted.items():
            verb = "started" if name not in self.parts else "unchanged" if self.parts[name] == value else "restarted"
            summary[verb].append(f"fake_thing '{name}'")
        summary["stopped"] = [f"fake_thing '{name}'" for name in self.parts if name not in wanted]
        self.config, self.parts = config, wanted
        return summary

    def stop(self) -> None:
        self.log.append(("stop", self))

    def summary(self) -> dict[str, Any]:
        return {"parts": len(self.parts)}


def fake_kind(log: list[tuple[str, Any]]) -> FeatureKind:
    def build(config: Config, host: Any) -> FakeFeature:
        feature = FakeFeature(config, host, log)
        log.append(("build", feature))
        return feature

    return FeatureKind(name="fake", sections=lambda: [FakeThing],
                       configured=lambda config: bool(config.sections_of(FakeThing)),
                       load=lambda config, data_dir: [], check=lambda config: [], build=build)


@pytest.fixture(autouse=True)
def no_netlink(monkeypatch):
    monkeypatch.setattr(ifaddr.AddressWatcher, "start", lambda self: False)


def run(test):
    async def body():
        log: list[tuple[str, Any]] = []
        kinds = PortKinds()
        runtime = Runtime(make_config(BASE + THINGS), kinds=[fake_kind(log)], port_kinds=kinds)
        try:
            await test(runtime, kinds, log)
        finally:
            runtime.stop()

    asyncio.run(asyncio.wait_for(body(), 10))


def verbs(summary: Summary) -> dict[str, list[str]]:
    return {verb: sorted(labels) for verb, labels in summary.items() if labels}


def test_start_names_every_port_and_part():
    async def test(runtime, kinds, log):
        summary = await runtime.start()
        assert verbs(summary) == {"started": ["bip 'bip0'", "bip 'bip1'", "fake_thing 'a'", "fake_thing 'b'",
                                              "vbus 'virtual'"]}
        assert [p.name for p in kinds.built] == ["bip0", "bip1", "virtual"]
        assert kinds.running("bip0").resource == RESOURCES["eth0"]
        assert [what for what, _ in log] == ["build", "start"]
        assert runtime.status()["fake"] == {"parts": 2}

    run(test)


def test_nothing_changed_restarts_nothing_and_says_so():
    async def test(runtime, kinds, log):
        await runtime.start()
        feature = runtime.feature("fake")
        summary = await runtime.apply(make_config(BASE + THINGS))
        assert verbs(summary) == {"unchanged": ["bip 'bip0'", "bip 'bip1'", "fake_thing 'a'", "fake_thing 'b'",
                                                "vbus 'virtual'"]}
        assert len(kinds.built) == 3 and all(p.stopped == 0 for p in kinds.built)
        assert runtime.feature("fake") is feature and [what for what, _ in log] == ["build", "start", "apply"]

    run(test)


def test_only_the_ports_whose_section_or_resource_changed_restart():
    async def test(runtime, kinds, log):
        await runtime.start()
        bip0, bip1, vbus = (kinds.running(n) for n in ("bip0", "bip1", "virtual"))
        summary = await runtime.apply(make_config(BASE.replace("network '2'", "network '3'") + THINGS))
        assert summary["restarted"] == ["bip 'bip1'"]
        assert sorted(summary["unchanged"]) == ["bip 'bip0'", "fake_thing 'a'", "fake_thing 'b'", "vbus 'virtual'"]
        assert bip1.stopped == 1 and kinds.running("bip1") is not bip1 and kinds.running("bip1").config.network == 3
        assert kinds.running("bip1").port_id == bip1.port_id  # the same port id across the restart
        assert bip0.stopped == vbus.stopped == 0 and kinds.running("bip0") is bip0
        # the resource behind bip0 changes, its section does not
        moved = dict(RESOURCES, eth0=Resource("eth0", ResourceType.ETH, "eth9"))
        summary = await runtime.apply(make_config(BASE.replace("network '2'", "network '3'") + THINGS, moved))
        assert summary["restarted"] == ["bip 'bip0'"] and bip0.stopped == 1
        assert kinds.running("bip0").resource.ifname == "eth9"
        # a port removed, another added
        text = BASE.replace("config bip 'bip1'", "config bip 'bip2'") + THINGS
        summary = await runtime.apply(make_config(text, moved))
        assert summary["stopped"] == ["bip 'bip1'"] and summary["started"] == ["bip 'bip2'"]
        assert vbus.stopped == 0 and kinds.running("virtual") is vbus
        assert [what for what, _ in log].count("build") == 1  # the feature was applied to, never rebuilt

    run(test)


def test_a_feature_applies_its_own_difference():
    async def test(runtime, kinds, log):
        await runtime.start()
        feature = runtime.feature("fake")
        new = make_config(BASE + THINGS.replace("config fake_thing 'b'\n\toption value '1'", "config fake_thing "
                                                "'b'\n\toption value '2'") + "\nconfig fake_thing 'c'\n")
        summary = await runtime.apply(new)
        assert summary["restarted"] == ["fake_thing 'b'"] and summary["started"] == ["fake_thing 'c'"]
        assert "fake_thing 'a'" in summary["unchanged"]
        assert runtime.feature("fake") is feature and log[-1] == ("apply", new)
        assert all(p.stopped == 0 for p in kinds.built)

    run(test)


def test_a_rebuilt_device_restarts_the_features_on_it():
    async def test(runtime, kinds, log):
        await runtime.start()
        old, app = runtime.feature("fake"), runtime.app
        summary = await runtime.apply(make_config(BASE.replace("'4001'", "'4002'") + THINGS))
        assert runtime.app is not app and runtime.app.instance == 4002
        new = runtime.feature("fake")
        assert new is not old and ("stop", old) in log and log[-2:] == [("build", new), ("start", new)]
        assert sorted(summary["restarted"]) == ["device 4002 'BACRouter'", "fake_thing 'a'", "fake_thing 'b'"]
        assert sorted(summary["unchanged"]) == ["bip 'bip0'", "bip 'bip1'", "vbus 'virtual'"]
        assert all(p.stopped == 0 for p in kinds.built)  # the ports stay; only the device was rebuilt

    run(test)


def test_a_feature_no_longer_configured_is_stopped_and_reported_and_one_configured_anew_starts():
    async def test(runtime, kinds, log):
        await runtime.start()
        feature = runtime.feature("fake")
        summary = await runtime.apply(make_config(BASE))
        assert sorted(summary["stopped"]) == ["fake_thing 'a'", "fake_thing 'b'"]
        assert log[-1] == ("stop", feature) and runtime.feature("fake") is None
        assert runtime.status()["fake"] is None
        summary = await runtime.apply(make_config(BASE + THINGS))
        assert sorted(summary["started"]) == ["fake_thing 'a'", "fake_thing 'b'"]
        assert runtime.feature("fake") is not None and runtime.feature("fake") is not feature

    run(test)


def test_a_feature_that_fails_to_apply_leaves_the_ports_alone():
    async def test(runtime, kinds, log):
        await runtime.start()

        async def broken(config):
            raise RuntimeError("bug")

        runtime.feature("fake").apply = broken
        summary = await runtime.apply(make_config(BASE.replace("network '2'", "network '3'") + THINGS))
        assert summary["restarted"] == ["bip 'bip1'"] and runtime.feature("fake") is not None

    run(test)


def test_who_is_router_asks_on_the_ports_that_are_up():
    from bacrouter.net.npdu import NetMsg, decode
    from bacrouter.net.router import PortInfo

    async def test(runtime, kinds, log):
        await runtime.start()
        node, bip0 = runtime.node, kinds.running("bip0")
        sent: list[tuple[bytes | None, bytes]] = []
        bip0.send = lambda dest, npdu: sent.append((dest, npdu))
        node.port_up(bip0, PortInfo(bip0.port_id, 1, mac=b"\x0a\x00\x00\x01\xba\xc0", name="bip0"))
        sent.clear()
        assert node.who_is_router() == ["bip0"]  # bip1 and the vbus never came up
        assert [(dest, decode(npdu).message_type) for dest, npdu in sent] == [(None, NetMsg.WHO_IS_ROUTER_TO_NETWORK)]
        assert node.who_is_router("bip0", 7) == ["bip0"] and decode(sent[-1][1]).payload == b"\x00\x07"
        with pytest.raises(ValueError, match="not up"):
            node.who_is_router("bip1")
        with pytest.raises(ValueError, match="no port 'nope'"):
            node.who_is_router("nope")

    run(test)
