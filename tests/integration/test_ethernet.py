"""A BACnet Ethernet port: a device on 802.2 LLC is found and read from BACnet/IP through the router.

    client 10.72.1.2 ── segment s1, BACnet/IP (network 1) ── 10.72.1.1 router e1 ── segment s2, BACnet Ethernet
                                                                                      (network 5) ── device (no IP)
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from .netns import ROOT, Network, needs_netns, tshark_fields, wait_for

pytestmark = needs_netns()

DEVICE = str(ROOT / "tests" / "peers" / "eth_device.py")
ROUTER_INSTANCE, DEVICE_INSTANCE, CLIENT_INSTANCE = 4005, 6006, 1005

CONFIG = f"""
config bacrouter 'main'
	option device_instance '{ROUTER_INSTANCE}'

config bip 'lan'
	option resource 'eth0'
	option network '1'

config ethernet 'plant'
	option resource 'eth1'
	option network '5'

config ethernet 'spare'
	option resource 'eth2'
	option network '6'
"""

GARBAGE = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
mac = open(f"/sys/class/net/{sys.argv[1]}/address").read().strip().replace(":", "")
source = bytes.fromhex(mac)
for body in (b"\\x82\\x82\\x03\\x01", b"\\x82\\x82\\x03\\x01\\xff\\xff\\xff", b"\\x82\\x82\\x03" + bytes(range(200)),
             b"\\xaa\\xaa\\x03\\x00\\x00\\x00\\x08\\x00", b"\\x82\\x82"):
    frame = b"\\xff" * 6 + source + len(body).to_bytes(2, "big") + body
    s.send(frame + bytes(max(0, 60 - len(frame))))
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ethernet")
    network = Network(tmp, "e")
    try:
        network.segment("s1")
        network.segment("s2")
        client = network.host("c1", {"s1": "10.72.1.2"})
        router = network.host("rt", {"s1": "10.72.1.1", "s2": None})
        device = network.host("d5", {"s2": None})
        capture = network.capture(["s2"], tmp / "ethernet.pcapng")
        daemon = network.bacrouter(router, "router", CONFIG, {"eth0": "s1", "eth1": "s2", "eth2": "e9"})
        wait_for(lambda: {p["name"]: p["state"] for p in daemon.call("ports")}.get("plant") == "up", 10,
                 "the Ethernet port")
        ready = tmp / "device-ready"
        proc = device.popen([sys.executable, DEVICE, "--ifname", device.ifnames["s2"], "--instance",
                             str(DEVICE_INSTANCE), "--ready", str(ready)])
        wait_for(lambda: ready.exists() or proc.poll() is not None, 20, "the Ethernet device")
        network.client, network.router, network.device, network.daemon = client, router, device, daemon
        network.capture_handle = capture
        yield network
    finally:
        network.close()


def found_device(net) -> str:
    found = net.client.peer("whois", "s1", CLIENT_INSTANCE, "--low", str(DEVICE_INSTANCE),
                            "--high", str(DEVICE_INSTANCE))
    assert [d["device"] for d in found] == [DEVICE_INSTANCE]
    return found[0]["source"]


def test_who_is_from_bacnet_ip_finds_the_device_on_ethernet(net):
    source = found_device(net)
    assert source.startswith("5:")  # behind the router, on network 5


def test_read_and_a_long_answer_cross_the_router(net):
    target = found_device(net)
    value = net.client.peer("read", "s1", CLIENT_INSTANCE, "--target", target, "--object", "analog-value,1",
                            "--property", "present-value")
    assert value == pytest.approx(21.5)
    text = net.client.peer("read", "s1", CLIENT_INSTANCE, "--target", target, "--object", "analog-value,2",
                           "--property", "description")
    assert text == "y" * 1200  # an NPDU of over 1,200 octets in one Ethernet frame


def test_garbage_on_the_segment_is_counted_and_routing_goes_on(net):
    result = net.device.run([sys.executable, "-c", GARBAGE, net.device.ifnames["s2"]])
    assert result.returncode == 0, result.stderr
    assert found_device(net).startswith("5:")
    plant = next(p for p in net.daemon.call("ports") if p["name"] == "plant")
    assert plant["state"] == "up" and plant["counters"]["not_bacnet"] >= 2
    assert plant["counters"]["frames_in"] > 0 and plant["counters"]["frames_out"] > 0
    assert len(plant["address"]) == 17  # the interface's MAC, aa:bb:cc:dd:ee:ff
    shown = net.router.run([sys.executable, "-m", "bacrouter", "status", "--config-dir", str(net.daemon.config_dir)])
    assert shown.returncode == 0 and "plant" in shown.stdout and plant["address"] in shown.stdout


def test_routers_device_describes_the_ethernet_port(net):
    values = net.client.peer("rpm", "s1", CLIENT_INSTANCE, "--target", "10.72.1.1",
                             "--object", "network-port,2", "--property", "all")
    assert values["network-number"] == 5 and values["network-type"] == 0  # NetworkType ethernet


def test_tshark_reads_our_frames_as_bacnet(net):
    found_device(net)
    pcap = net.capture_handle.stop()
    router_mac = next(p for p in net.daemon.call("ports") if p["name"] == "plant")["address"]
    rows = tshark_fields(pcap, f"eth.src == {router_mac} && llc.dsap == 0x82", ["llc.dsap", "bacnet.snet", "eth.len"])
    assert rows and all(row[0] == "0x82" for row in rows)
    assert any(row[1] == "1" for row in rows)  # routed from network 1
    problems = tshark_fields(pcap, f"eth.src == {router_mac} && (_ws.malformed || _ws.expert.severity >= warning)",
                             ["frame.number"])
    assert problems == []


def spare_port(net) -> dict:
    return next(p for p in net.daemon.call("ports") if p["name"] == "spare")


def test_an_interface_that_appears_later_brings_its_port_up(net):
    spare = spare_port(net)
    assert spare["state"] == "fault" and "no interface e9" in spare["reason"]
    subprocess.run(["ip", "-n", net.router.ns, "link", "add", "e9", "type", "veth", "peer", "name", "e9p"], check=True)
    wait_for(lambda: "is down" in spare_port(net)["reason"], 10, "the port to see the new interface")
    time.sleep(1.0)
    assert spare_port(net)["state"] == "fault"  # there, but not up: the port waits, it does not flap
    subprocess.run(["ip", "-n", net.router.ns, "link", "set", "e9", "up"], check=True)
    wait_for(lambda: spare_port(net)["state"] == "up", 15, "the port on the new interface")
    assert 6 in net.client.peer("whois-router", "s1", CLIENT_INSTANCE)  # and it is announced
