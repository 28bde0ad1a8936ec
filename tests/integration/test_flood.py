"""Floods against our router, as raw datagrams on the wire (issue 10, items 18 and 19).

    client 10.74.1.2 (and an attacker on it) ── s1 (network 1) ── 10.74.1.1 router 10.74.2.1 ── s2 (network 2) ── device 10.74.2.2

The router is configured with ``max_routes 300``. Each test checks what the flood leaves behind
(routes, counters, the answers' size, the traffic the router puts on the other network) and that a
client still reads the device through the router.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from bacrouter.net import bvll
from bacrouter.net.bvll import Function
from bacrouter.net.npdu import GLOBAL_NETWORK, NetMsg, Npdu, encode, encode_network_list

from .netns import ROOT, Network, needs_netns, tshark_fields

pytestmark = needs_netns()

RAW = str(ROOT / "tests" / "peers" / "rawbip.py")
ROUTER = "10.74.1.1:47808"
ROUTER_INSTANCE = 4011
DEVICE_INSTANCE = 2012
CLIENT_INSTANCE = 1011
MAX_ROUTES = 300

CONFIG = f"""
config bacrouter 'main'
	option device_instance '{ROUTER_INSTANCE}'
	option device_name 'router-under-flood'
	option max_routes '{MAX_ROUTES}'

config bip 'lan'
	option resource 'eth0'
	option network '1'

config bip 'plant'
	option resource 'eth1'
	option network '2'
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flood")
    network = Network(tmp, "f")
    try:
        network.segment("s1")
        network.segment("s2")
        client = network.host("c1", {"s1": "10.74.1.2"})
        router = network.host("rt", {"s1": "10.74.1.1", "s2": "10.74.2.1"})
        device = network.host("d2", {"s2": "10.74.2.2"})
        network.capture_handle = network.capture(["s2"], tmp / "flood.pcapng")
        network.daemon = network.bacrouter(router, "router", CONFIG, {"eth0": "s1", "eth1": "s2"})
        device.device("s2", DEVICE_INSTANCE)
        network.client = client
        yield network
    finally:
        network.close()


def raw_args(datagrams: list[bytes], to: str, bind_port: int) -> list[str]:
    return ["--bind", f"10.74.1.2:{bind_port}", "--to", to, *[a for d in datagrams for a in ("--hex", d.hex())]]


def raw(host, datagrams: list[bytes], to: str = ROUTER, wait: float = 2.0, bind_port: int = 47990) -> list[bytes]:
    result = host.run([sys.executable, RAW, *raw_args(datagrams, to, bind_port), "--wait", str(wait)], timeout=60)
    assert result.returncode == 0, result.stderr
    return [bytes.fromhex(r["hex"]) for r in json.loads(result.stdout) if r["from"] == ROUTER]


def read_through_the_router(net) -> float:
    return net.client.peer("read", "s1", CLIENT_INSTANCE, "--target", "2:10.74.2.2",
                           "--object", "analog-value,1", "--property", "present-value", timeout=30)


def test_i_am_router_flood_is_bounded_and_not_re_announced(net):
    # 94 datagrams of 700 made-up networks each: once 65,534 routes that never expired, re-announced on s2
    flood = []
    for i in range(94):
        networks = [n for n in range(3 + i * 700, 3 + (i + 1) * 700) if n < GLOBAL_NETWORK]
        npdu = encode(Npdu(message_type=NetMsg.I_AM_ROUTER_TO_NETWORK, payload=encode_network_list(networks)))
        flood.append(bvll.pack(Function.ORIGINAL_UNICAST_NPDU, npdu))
    raw(net.client, flood, wait=1.0)
    assert net.daemon.call("status")["networks"] <= MAX_ROUTES + 2
    page = net.daemon.call("routes", {"limit": 5})
    assert page["learned"] <= MAX_ROUTES and page["max_learned"] == MAX_ROUTES
    assert len(page["routes"]) == 5 and page["total"] == page["direct"] + page["learned"]
    counters = net.daemon.call("status")["counters"]
    assert counters.get("dropped_announce_rate", 0) > 0 or counters.get("dropped_route_table_full", 0) > 0
    # an 8-octet query is no amplifier
    query = bvll.pack(Function.ORIGINAL_UNICAST_NPDU, encode(Npdu(message_type=NetMsg.INITIALIZE_ROUTING_TABLE,
                                                                  payload=b"\x00")))
    answer = raw(net.client, [query], wait=1.0, bind_port=47991)
    assert 0 < sum(len(d) for d in answer) <= 4096 + 4 * len(answer)
    # routing goes on
    assert read_through_the_router(net) == pytest.approx(21.5)
    # the router's own I-Am-Router-To-Network on network 2: a handful, not one per flood datagram
    pcap = net.capture_handle.stop()
    relayed = tshark_fields(pcap, "ip.src == 10.74.2.1 && bacnet.mesgtyp == 0x01", ["frame.number"])
    assert len(relayed) <= 10, len(relayed)


def test_who_is_storm_is_rate_limited_and_routing_goes_on(net):
    before = net.daemon.call("status")["counters"]
    # a global Who-Is at 2,000 a second, for the router's instance (so the device on s2 stays quiet)
    who_is = bytes.fromhex("1008") + bytes([0x0A, ROUTER_INSTANCE >> 8, ROUTER_INSTANCE & 0xFF] * 1)
    who_is += bytes([0x1A, ROUTER_INSTANCE >> 8, ROUTER_INSTANCE & 0xFF])
    datagram = bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, encode(Npdu(dnet=GLOBAL_NETWORK, hop_count=255,
                                                                       payload=who_is)))
    storm = net.client.popen([sys.executable, RAW, *raw_args([datagram], "10.74.1.255:47808", 47992),
                              "--rate", "2000", "--seconds", "4", "--wait", "0.1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        assert read_through_the_router(net) == pytest.approx(21.5)
    finally:
        assert storm.wait(30) == 0, storm.stderr.read().decode()
    after = net.daemon.call("status")["counters"]
    dropped = sum(after.get(k, 0) - before.get(k, 0) for k in ("dropped_local_rate_source", "dropped_local_rate_total"))
    reached = after.get("to_local", 0) - before.get("to_local", 0)
    forwarded = after.get("forwarded", 0) - before.get("forwarded", 0)
    assert dropped > 4000, (dropped, reached)
    assert reached < 1000
    assert forwarded > 4000  # the storm still goes where it was sent
