"""Our router between two BACnet/IP networks, with bacpypes3 peers and tshark watching the wire.

    client 10.71.1.2 ── segment s1 (network 1) ── 10.71.1.1 router 10.71.2.1 ── segment s2 (network 2) ── device 10.71.2.2
                                                                                                         client 10.71.2.3
"""

from __future__ import annotations

import json
import sys

import pytest

from bacrouter.net import bvll
from bacrouter.net.bvll import Function
from bacrouter.net.npdu import NetMsg, Npdu, RejectReason, decode, decode_reject, encode

from .netns import ROOT, Network, needs_netns, tshark_fields, tshark_problems

pytestmark = needs_netns()

RAW = str(ROOT / "tests" / "peers" / "rawbip.py")
ROUTER_INSTANCE = 4001
DEVICE_INSTANCE = 2002
CLIENT_INSTANCE = 1001

CONFIG = f"""
config bacrouter 'main'
	option device_instance '{ROUTER_INSTANCE}'
	option device_name 'router-under-test'

config bip 'lan'
	option resource 'eth0'
	option network '1'

config bip 'plant'
	option resource 'eth1'
	option network '2'
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("routing")
    network = Network(tmp, "r")
    try:
        network.segment("s1")
        network.segment("s2")
        client = network.host("c1", {"s1": "10.71.1.2"})
        router = network.host("rt", {"s1": "10.71.1.1", "s2": "10.71.2.1"})
        device = network.host("d2", {"s2": "10.71.2.2"})
        network.host("w2", {"s2": "10.71.2.3"})  # a client on network 2
        capture = network.capture(["s1", "s2"], tmp / "routing.pcapng")
        daemon = network.bacrouter(router, "router", CONFIG, {"eth0": "s1", "eth1": "s2"})
        device.device("s2", DEVICE_INSTANCE)
        network.client, network.router, network.daemon, network.capture_handle = client, router, daemon, capture
        yield network
    finally:
        network.close()


def raw(host, *datagrams: bytes, to: str, wait: float = 3.0, bind_port: int = 47999) -> list[tuple[str, bytes]]:
    result = host.run([sys.executable, RAW, "--bind", f"{host.ip('s1')}:{bind_port}", "--to", to,
                       *[arg for d in datagrams for arg in ("--hex", d.hex())], "--wait", str(wait)])
    assert result.returncode == 0, result.stderr
    return [(r["from"], bytes.fromhex(r["hex"])) for r in json.loads(result.stdout)]


def test_who_is_through_the_router_finds_the_device_on_the_other_network(net):
    found = net.client.peer("whois", "s1", CLIENT_INSTANCE)
    by_instance = {d["device"]: d["source"] for d in found}
    assert by_instance[DEVICE_INSTANCE] == "2:10.71.2.2"
    assert by_instance[ROUTER_INSTANCE] == "10.71.1.1"  # the router's own device, local on network 1


def test_who_is_to_a_remote_network_only(net):
    found = net.client.peer("whois", "s1", CLIENT_INSTANCE, "--network", "2")
    assert [d["device"] for d in found] == sorted([DEVICE_INSTANCE, ROUTER_INSTANCE])


def test_read_property_through_the_router(net):
    value = net.client.peer("read", "s1", CLIENT_INSTANCE, "--target", "2:10.71.2.2",
                            "--object", "analog-value,1", "--property", "present-value")
    assert value == pytest.approx(21.5)


def test_routers_device_answers_from_every_port(net):
    values = net.client.peer("rpm", "s1", CLIENT_INSTANCE, "--target", "10.71.1.1",
                             "--object", f"device,{ROUTER_INSTANCE}", "--property", "all")
    assert values["object-name"] == "router-under-test"
    assert [56, 1] in values["object-list"] and [56, 2] in values["object-list"]  # network-port objects
    ports = net.client.peer("rpm", "s1", CLIENT_INSTANCE, "--target", "10.71.1.1",
                            "--object", "network-port,2", "--property", "all")
    assert ports["network-number"] == 2 and ports["object-name"] == "plant"
    # from the other network the same device is found at the router's address there
    device_side = net.hosts["w2"]
    found = device_side.peer("whois", "s2", 3003, "--low", str(ROUTER_INSTANCE), "--high", str(ROUTER_INSTANCE))
    assert found == [{"device": ROUTER_INSTANCE, "source": "10.71.2.1"}]
    name = device_side.peer("read", "s2", 3003, "--target", "10.71.2.1", "--object", f"device,{ROUTER_INSTANCE}",
                            "--property", "object-name")
    assert name == "router-under-test"


def test_who_is_router_to_network_lists_the_networks(net):
    assert net.client.peer("whois-router", "s1", CLIENT_INSTANCE) == [2]
    assert net.client.peer("whois-router", "s1", CLIENT_INSTANCE, "--network", "2") == [2]


def test_unknown_network_is_rejected_on_the_wire(net):
    request = encode(Npdu(control=0x04, dnet=99, dadr=b"\x07", payload=bytes.fromhex("0005010c0c020000011955")))
    answers = raw(net.client, bvll.pack(Function.ORIGINAL_UNICAST_NPDU, request), to="10.71.1.1:47808", wait=4.0)
    rejects = []
    for source, datagram in answers:
        function, body = bvll.split(datagram)
        npdu = decode(body)
        if npdu.message_type == NetMsg.REJECT_MESSAGE_TO_NETWORK:
            rejects.append((source, function, decode_reject(npdu.payload)))
    assert rejects == [("10.71.1.1:47808", Function.ORIGINAL_UNICAST_NPDU, (RejectReason.UNKNOWN_NETWORK, 99))]


def test_garbage_does_not_stop_the_router(net):
    junk = [b"", b"\x81", b"\x81\x0a\x00\x05\x01", b"\x81\x0a\x00\x06\x01\x20", b"\xff" * 40,
            bvll.pack(Function.ORIGINAL_UNICAST_NPDU, b"\x01\x28\x00"),  # DNET and SNET announced, not there
            bvll.pack(Function.FORWARDED_NPDU, b"\x01\x02")]
    raw(net.client, *junk, to="10.71.1.1:47808", wait=0.5)
    counters = net.daemon.call("status")["counters"]
    assert counters.get("dropped_malformed", 0) >= 1
    ports = {p["name"]: p for p in net.daemon.call("ports")}
    assert ports["lan"]["link"]["counters"]["malformed"] >= 4
    assert net.client.peer("read", "s1", CLIENT_INSTANCE, "--target", "2:10.71.2.2",
                           "--object", "analog-value,1") == pytest.approx(21.5)


def test_status_shows_ports_and_routes(net):
    status = net.daemon.call("status")
    assert status["device"] == {"instance": ROUTER_INSTANCE, "name": "router-under-test"}
    assert {p["name"]: p["state"] for p in status["ports"]} == {"lan": "up", "plant": "up"}
    routes = {r["network"]: r for r in net.daemon.call("routes")}
    assert routes[1]["port"] == "lan" and routes[2]["port"] == "plant"
    result = net.router.run([sys.executable, "-m", "bacrouter", "status", "--config-dir", str(net.daemon.config_dir)])
    assert result.returncode == 0 and "plant" in result.stdout and "10.71.2.1:47808" in result.stdout


def test_wire_traffic_dissects_cleanly(net):
    # every kind of message the router sends, so tshark sees them all
    raw(net.client, bvll.pack(Function.ORIGINAL_UNICAST_NPDU, encode(Npdu(message_type=NetMsg.INITIALIZE_ROUTING_TABLE,
                                                                           payload=b"\x00"))),
        bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, encode(Npdu(message_type=NetMsg.WHAT_IS_NETWORK_NUMBER))),
        bvll.pack(Function.READ_BDT), to="10.71.1.1:47808", wait=1.0, bind_port=47998)
    pcap = net.capture_handle.stop()
    assert tshark_problems(pcap, ["10.71.1.1", "10.71.2.1"]) == []
    router_frames = tshark_fields(pcap, "ip.src == 10.71.1.1 || ip.src == 10.71.2.1", ["frame.number"])
    assert len(router_frames) > 20
    # I-Am-Router-To-Network, Reject, Routing-Table-Ack and Network-Number-Is from the router, as tshark reads them
    types = {row[0] for row in tshark_fields(pcap, "ip.src==10.71.1.1 && bacnet.mesgtyp", ["bacnet.mesgtyp"])}
    assert {"0x01", "0x03", "0x07", "0x13"} <= types, types
    rejects = tshark_fields(pcap, "bacnet.mesgtyp == 0x03", ["bacnet.rejectreason", "bacnet.dnet"])
    assert ["1", "99"] in rejects
    acks = tshark_fields(pcap, "bacnet.mesgtyp == 0x07", ["bacnet.rportnum", "bacnet.dnet", "bacnet.portid"])
    assert acks and acks[0][0] == "2"
    # the routed read: request on network 2 carries SNET 1, the answer on network 1 carries SNET 2
    routed = tshark_fields(pcap, "bacapp.confirmed_service == 12 || bacapp.type == 3",
                           ["ip.src", "ip.dst", "bacnet.snet", "bacnet.dnet"])
    assert ["10.71.2.1", "10.71.2.2", "1", ""] in routed
    assert ["10.71.1.1", "10.71.1.2", "2", ""] in routed


def _bacrouter(net, *argv: str):
    result = net.router.run([sys.executable, "-m", "bacrouter", *argv, "--config-dir", str(net.daemon.config_dir)],
                            timeout=90)
    return result


def test_discover_from_the_routers_shell_finds_the_device_behind_it(net):
    result = _bacrouter(net, "discover", "--json")
    assert result.returncode == 0, result.stderr
    devices = {d["instance"]: d for d in json.loads(result.stdout)["devices"]}
    peer = devices[DEVICE_INSTANCE]
    assert (peer["network"], peer["mac"], peer["name"]) == (2, "10.71.2.2", f"peer-{DEVICE_INSTANCE}")
    assert isinstance(peer["vendor"], int)
    assert devices[ROUTER_INSTANCE]["name"] == "router-under-test"
    only = json.loads(_bacrouter(net, "discover", "--network", "1", "--json").stdout)["devices"]
    assert DEVICE_INSTANCE not in {d["instance"] for d in only}  # network 1 has no such device
    human = _bacrouter(net, "discover")
    assert human.returncode == 0 and "10.71.2.2" in human.stdout and f"peer-{DEVICE_INSTANCE}" in human.stdout


def test_read_and_write_from_the_routers_shell(net):
    result = _bacrouter(net, "read", str(DEVICE_INSTANCE), "analog-value,1", "present-value", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["value"] == pytest.approx(21.5) and answer["address"] == "2:10.71.2.2"
    by_address = _bacrouter(net, "read", "2:10.71.2.2", "analog-value,1", "units")
    assert by_address.returncode == 0 and by_address.stdout.strip() == "degrees-celsius"
    written = _bacrouter(net, "write", str(DEVICE_INSTANCE), "analog-value,1", "present-value", "23.25")
    assert written.returncode == 0, written.stderr
    assert net.client.peer("read", "s1", CLIENT_INSTANCE, "--target", "2:10.71.2.2",
                           "--object", "analog-value,1") == pytest.approx(23.25)  # seen by a workstation too
    assert _bacrouter(net, "write", "2:10.71.2.2", "analog-value,1", "present-value", "21.5").returncode == 0
    # the device's refusal, said in one line
    missing = _bacrouter(net, "read", str(DEVICE_INSTANCE), "analog-value,99", "present-value")
    assert missing.returncode == 1 and "unknown-object" in missing.stderr.replace("unknownObject", "unknown-object")
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    nobody = _bacrouter(net, "read", "777", "analog-value,1", "present-value")
    assert nobody.returncode == 1 and "did not answer" in nobody.stderr
