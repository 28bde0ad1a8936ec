"""BBMDs and foreign devices across IP subnets, with bacpypes3 peers.

    s3 10.71.3.0/24: BBMD X (bacrouter, .1), device 3003 (.2)
    s4 10.71.4.0/24: BBMD Y (bacrouter, .1), client (.2)
    s5 10.71.5.0/24: bacpypes3 foreign device (.2), bacrouter Z (.3) as a foreign device of X
    s6 10.71.6.0/24: Z's own site network 20 (.1), device 6006 (.2)
    gw routes between s3, s4 and s5. X and Y share BACnet network 10 through their BDT.
"""

from __future__ import annotations

import json
import sys

import pytest

from bacrouter.net import bvll
from bacrouter.net.bvll import Function

from .netns import ROOT, Network, needs_netns, tshark_fields, tshark_problems

pytestmark = needs_netns()

RAW = str(ROOT / "tests" / "peers" / "rawbip.py")
X, Y, Z = 4010, 4011, 4012

BBMD = """
config bacrouter 'main'
	option device_instance '{instance}'
	option device_name 'bbmd-{instance}'

config bip 'site'
	option resource 'eth0'
	option network '10'
	option mode 'bbmd'
	option fdt_size '4'
	list bdt '10.71.3.1'
	list bdt '10.71.4.1:47808/255.255.255.255'
"""

FOREIGN_ROUTER = f"""
config bacrouter 'main'
	option device_instance '{Z}'
	option device_name 'remote-site'

config bip 'uplink'
	option resource 'wan'
	option network '10'
	option mode 'foreign'
	option bbmd '10.71.3.1'
	option ttl '30'

config bip 'local'
	option resource 'lan'
	option network '20'
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bbmd")
    network = Network(tmp, "b")
    try:
        for segment in ("s3", "s4", "s5", "s6"):
            network.segment(segment)
        network.host("gw", {"s3": "10.71.3.254", "s4": "10.71.4.254", "s5": "10.71.5.254"}, forward=True)
        x = network.host("x", {"s3": "10.71.3.1"}, gateway="10.71.3.254")
        y = network.host("y", {"s4": "10.71.4.1"}, gateway="10.71.4.254")
        z = network.host("z", {"s5": "10.71.5.3", "s6": "10.71.6.1"}, gateway="10.71.5.254")
        d3 = network.host("d3", {"s3": "10.71.3.2"}, gateway="10.71.3.254")
        network.host("c4", {"s4": "10.71.4.2"}, gateway="10.71.4.254")
        network.host("f5", {"s5": "10.71.5.2"}, gateway="10.71.5.254")
        d6 = network.host("d6", {"s6": "10.71.6.2"})
        network.capture_handle = network.capture(["s3", "s4", "s5", "s6"], tmp / "bbmd.pcapng")
        network.x = network.bacrouter(x, "x", BBMD.format(instance=X), {"eth0": "s3"})
        network.y = network.bacrouter(y, "y", BBMD.format(instance=Y), {"eth0": "s4"})
        network.z = network.bacrouter(z, "z", FOREIGN_ROUTER, {"wan": "s5", "lan": "s6"})
        d3.device("s3", 3003)
        d6.device("s6", 6006)
        _wait_registered(network.z)
        yield network
    finally:
        network.close()


def _wait_registered(daemon, timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        uplink = next(p for p in daemon.call("ports") if p["name"] == "uplink")
        if uplink.get("link", {}).get("registration", {}).get("state") == "registered":
            return
        time.sleep(0.2)
    raise AssertionError(f"bacrouter Z never registered: {uplink}")


def test_two_bbmds_forward_broadcasts(net):
    found = {d["device"]: d["source"] for d in net.hosts["c4"].peer("whois", "s4", 1004, "--wait", "3")}
    assert found[3003] == "10.71.3.2"  # a device behind the other BBMD, answering directly
    assert found[X] == "10.71.3.1" and found[Y] == "10.71.4.1"


def test_foreign_device_registered_with_our_bbmd_discovers_devices(net):
    found = {d["device"]: d["source"] for d in
             net.hosts["f5"].peer("whois", "s5", 1005, "--foreign", "10.71.3.1", "--wait", "3")}
    assert found[3003] == "10.71.3.2"
    assert found[X] == "10.71.3.1" and found[Y] == "10.71.4.1"
    # and the router that joined as a foreign device brings its own network along
    assert found[Z] == "10.71.5.3"
    assert found[6006] == "20:10.71.6.2"


def test_foreign_device_table_is_kept_and_readable(net):
    site = next(p for p in net.x.call("ports") if p["name"] == "site")
    fdt = {entry["address"]: entry for entry in site["link"]["fdt"]}
    assert fdt["10.71.5.3:47808"]["ttl"] == 30
    assert 0 < fdt["10.71.5.3:47808"]["remaining"] <= 60
    # Read-FDT over the wire, as a BACnet tool would
    client = net.hosts["c4"]
    result = client.run([sys.executable, RAW, "--bind", "10.71.4.2:47999", "--to", "10.71.3.1:47808",
                         "--hex", bvll.pack(Function.READ_FDT).hex(), "--hex", bvll.pack(Function.READ_BDT).hex(),
                         "--wait", "2", "--until-count", "2"])
    answers = {bvll.split(bytes.fromhex(r["hex"]))[0]: bvll.split(bytes.fromhex(r["hex"]))[1]
               for r in json.loads(result.stdout)}
    entries = bvll.decode_fdt(answers[Function.READ_FDT_ACK])
    assert bvll.mac("10.71.5.3", 47808) in [e.address for e in entries]
    assert [bvll.text(e.address) for e in bvll.decode_bdt(answers[Function.READ_BDT_ACK])] == \
        ["10.71.3.1:47808", "10.71.4.1:47808"]


def test_routing_through_a_foreign_device_uplink(net):
    value = net.hosts["c4"].peer("read", "s4", 1004, "--target", "20:10.71.6.2", "--object", "analog-value,1")
    assert value == pytest.approx(21.5)
    routes = {r["network"]: r for r in net.y.call("routes")}
    assert routes[20]["next_hop"] == bvll.mac("10.71.5.3", 47808).hex()


def test_bbmd_traffic_dissects_cleanly(net):
    pcap = net.capture_handle.stop()
    ours = ["10.71.3.1", "10.71.4.1", "10.71.5.3", "10.71.6.1"]
    assert tshark_problems(pcap, ours) == []
    functions = {row[0] for row in tshark_fields(pcap, " || ".join(f"ip.src == {ip}" for ip in ours) + " && bvlc",
                                                 ["bvlc.function"])}
    # Forwarded-NPDU, Register-FD result, Distribute-Broadcast, Read-FDT-Ack, Read-BDT-Ack
    assert {"0x04", "0x00", "0x09", "0x07", "0x03", "0x05"} <= functions, functions


def test_network_port_object_shows_the_live_fdt_and_routes(net):
    values = net.hosts["c4"].peer("rpm", "s4", 1004, "--target", "10.71.3.1", "--object", "network-port,1",
                                  "--property", "all")
    assert values["bacnet-ip-mode"] == 2 and values["network-number"] == 10  # bbmd
    fdt = {entry["bacnetIPAddress"]: entry for entry in values["bbmd-foreign-device-table"]}
    z = bvll.mac("10.71.5.3", 47808).hex()
    assert fdt[z]["timeToLive"] == 30 and 0 < fdt[z]["remainingTimeToLive"] <= 60
    assert len(values["bbmd-broadcast-distribution-table"]) == 2
    # network 20 is behind the router Z, learned when Z registered and announced it
    assert values["routing-table"] == [{"networkNumber": 20, "macAddress": z, "status": 0, "performanceIndex": None}]
