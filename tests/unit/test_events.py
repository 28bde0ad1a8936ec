"""Events for the transports: ports up/down/fault from the node, gateway devices online/offline, reload reports.

The node and the gateways emit into :class:`bacrouter.events.Events`; these
tests connect a list where the daemon connects the ubus transport.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bacrouter.events import Events
from bacrouter.logs import NEVER_FOLD, RepeatFilter
from bacrouter.net.router import PortInfo
from bacrouter.runtime import Runtime
from tests.unit.test_runtime import BASE, THINGS, PortKinds, fake_kind, make_config, no_netlink  # noqa: F401


def test_a_failing_listener_does_not_stop_the_others():
    events, seen = Events(), []

    def broken(name: str, data: dict[str, Any]) -> None:
        raise RuntimeError("transport gone")

    events.connect(broken)
    events.connect(lambda name, data: seen.append((name, data)))
    events.emit("port", {"port": "a"})
    assert seen == [("port", {"port": "a"})]
    events.disconnect(broken)
    events.disconnect(broken)  # twice is harmless


def run_node(test):
    async def body():
        kinds = PortKinds()
        runtime = Runtime(make_config(BASE + THINGS), kinds=[fake_kind([])], port_kinds=kinds)
        seen: list[tuple[str, dict[str, Any]]] = []
        runtime.node.events.connect(lambda name, data: seen.append((name, data)))
        try:
            await runtime.start()
            await test(runtime, kinds, seen)
        finally:
            runtime.stop()

    asyncio.run(asyncio.wait_for(body(), 10))


def test_port_up_down_and_fault_are_emitted_once_each():
    async def test(runtime, kinds, seen):
        node, port = runtime.node, kinds.running("bip0")
        node.port_up(port, PortInfo(port.port_id, 1, mac=b"\x01" * 6))
        port.state = "up"
        node._watch_port_states()  # no second "up"
        node.port_down(port)
        port.state, port.reason = "fault", "cannot bind"
        node._watch_port_states()
        node._watch_port_states()
        states = [(d["port"], d["state"]) for name, d in seen if name == "port"]
        assert states == [("bip0", "up"), ("bip0", "down"), ("bip0", "fault")]
        fault = [d for name, d in seen if d.get("state") == "fault"][0]
        assert fault == {"port": "bip0", "kind": "bip", "network": 1, "state": "fault", "reason": "cannot bind"}

    run_node(test)


def test_a_port_that_never_came_up_emits_nothing():
    async def test(runtime, kinds, seen):
        runtime.node._watch_port_states()  # the fakes are "waiting": down, as they started
        assert seen == []

    run_node(test)


def test_a_device_settings_change_is_named_in_the_reload_summary():
    async def test(runtime, kinds, seen):
        summary = await runtime.apply(make_config(BASE.replace("4001", "4002") + THINGS))
        assert "device 4002 'BACRouter'" in summary["restarted"]

    run_node(test)


def test_reload_reports_are_never_folded():
    folded = RepeatFilter(window=60, clock=lambda: 0.0)

    def record(extra: dict[str, Any] | None = None) -> logging.LogRecord:
        rec = logging.LogRecord("bacrouter", logging.INFO, __file__, 1, "configuration reloaded: %s",
                                ("unchanged: bip 'bip0'",), None)
        for key, value in (extra or {}).items():
            setattr(rec, key, value)
        return rec

    assert folded.filter(record()) and not folded.filter(record())
    assert all(folded.filter(record(NEVER_FOLD)) for _ in range(3))
