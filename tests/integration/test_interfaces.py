"""Ports on interface aliases, limited broadcasts, and interfaces whose address comes and goes."""

from __future__ import annotations

import json
import sys

import pytest

from bacrouter.control import ControlError
from bacrouter.net import bvll
from bacrouter.net.bvll import Function
from bacrouter.net.npdu import Npdu, decode, encode

from .netns import ROOT, Network, needs_netns, wait_for

pytestmark = needs_netns()

RAW = str(ROOT / "tests" / "peers" / "rawbip.py")
WHO_IS = bytes.fromhex("1008")

ALIASES = """
config bacrouter 'main'
	option device_instance '4020'

config bip 'a'
	option resource 'eth0'
	option network '1'

config bip 'b'
	option resource 'eth1'
	option network '2'
"""


@pytest.fixture(scope="module")
def alias_net(tmp_path_factory):
    network = Network(tmp_path_factory.mktemp("alias"), "a")
    try:
        network.segment("s8")
        router = network.host("rt", {"s8": "10.71.8.1"})
        router.address("add", "s8", "10.71.9.1/24", label="e0:1")  # a second subnet on the same wire
        network.host("c8", {"s8": "10.71.8.2"})
        d9 = network.host("d9", {"s8": "10.71.9.2"})
        network.daemon = network.bacrouter(router, "router", ALIASES, {"eth0": "e0", "eth1": "e0:1"})
        d9.device("s8", 9009)
        yield network
    finally:
        network.close()


def limited_broadcast_answers(host, segment: str) -> list[str]:
    """Send Who-Is to 255.255.255.255 and return who answered with an I-Am."""
    datagram = bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, encode(Npdu(payload=WHO_IS)))
    result = host.run([sys.executable, RAW, "--bind", f"{host.ip(segment)}:47810", "--to", "255.255.255.255:47808",
                       "--hex", datagram.hex(), "--wait", "1.5"])
    answers = []
    for reply in json.loads(result.stdout):
        function, body = bvll.split(bytes.fromhex(reply["hex"]))
        if decode(body).payload[:2] == b"\x10\x00":  # I-Am
            answers.append(reply["from"])
    return answers


def test_two_networks_on_one_wire_by_subnet(alias_net):
    found = {d["device"]: d["source"] for d in alias_net.hosts["c8"].peer("whois", "s8", 1008)}
    assert found[9009] == "2:10.71.9.2"
    assert found[4020] == "10.71.8.1"


def test_limited_broadcast_reaches_the_port_of_the_senders_subnet(alias_net):
    assert limited_broadcast_answers(alias_net.hosts["c8"], "s8") == ["10.71.8.1:47808"]
    assert limited_broadcast_answers(alias_net.hosts["d9"], "s8") == ["10.71.9.1:47808"]


TWO_PORTS = """
config bacrouter 'main'
	option device_instance '4030'

config bip 'lan'
	option resource 'eth0'
	option network '1'

config bip 'late'
	option resource 'wan'
	option network '2'
"""


def test_port_binds_when_its_address_appears_and_follows_changes(tmp_path):
    network = Network(tmp_path, "l")
    try:
        network.segment("s10")
        network.segment("s11")
        router = network.host("rt", {"s10": "10.71.10.1", "s11": None})
        daemon = network.bacrouter(router, "router", TWO_PORTS, {"eth0": "s10", "wan": "s11"}, wait=False)

        def late_port():
            try:
                return {p["name"]: p for p in daemon.call("ports")}.get("late", {})
            except (OSError, ControlError):
                return {}

        wait_for(lambda: late_port().get("state") == "waiting", 20, "the late port to wait")
        assert {r["network"] for r in daemon.call("routes")} == {1}
        router.address("add", "s11", "10.71.11.1/24")
        wait_for(lambda: late_port().get("address") == "10.71.11.1:47808", 10, "the port to bind")
        assert {r["network"] for r in daemon.call("routes")} == {1, 2}
        router.address("add", "s11", "10.71.12.1/24")  # a second address: the port stays on the first
        router.address("del", "s11", "10.71.11.1/24")
        wait_for(lambda: late_port().get("address") == "10.71.12.1:47808", 10, "the port to re-bind")
        router.address("del", "s11", "10.71.12.1/24")
        wait_for(lambda: late_port().get("state") == "waiting", 10, "the port to notice its address went")
        assert {r["network"] for r in daemon.call("routes")} == {1}
        assert daemon.proc.poll() is None
    finally:
        network.close()
