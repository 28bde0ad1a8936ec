"""A bacpypes3 client on BACnet/IP reads, writes and subscribes to Modbus points through the daemon,
in both mapping modes. The Modbus slave is a pymodbus server on the router host.

    client c1 10.73.1.2 ── s1 (network 1) ── 10.73.1.1 router ── TCP 127.0.0.1:1502 ── pymodbus unit 1
                                                        └── VBUS network 9 (virtual-device mode)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from .netns import ROOT, Network, needs_netns, wait_for

pytestmark = needs_netns()

ROUTER = 4060
VIRTUAL = 7001
POINTS = {"points": [
    {"name": "temp", "object_type": "ai", "address_type": "holding", "address": 0, "data_type": "s16",
     "scale": 0.1, "unit": "degrees-celsius", "instance": 1},
    {"name": "level", "object_type": "ao", "address_type": "holding", "address": 5, "instance": 5},
    {"name": "mode", "object_type": "mv", "address_type": "holding", "address": 6, "instance": 1,
     "state_texts": ["off", "heat", "cool"]},
    {"name": "relay", "object_type": "bv", "address_type": "coil", "address": 2, "instance": 1},
]}
CONFIG = """
config bacrouter 'main'
	option device_instance '{router}'

config bip 'lan'
	option resource 'eth0'
	option network '1'

config modbus_master 'plc'
	option protocol 'tcp'
	option host '127.0.0.1'
	option port '1502'

config modbus_slave 'meter'
	option master 'plc'
	option station '1'
	option instance '{virtual}'
	option update_ms '300'
	option offline_ms '500'
	option timeout_ms '300'
{vbus}"""
VBUS = """
config vbus 'virtual'
	option network '9'
"""


def start_peer(network: Network, host) -> subprocess.Popen:
    ready = network.tmp / "modbus-ready"
    ready.unlink(missing_ok=True)
    proc = host.popen([sys.executable, str(ROOT / "tests" / "peers" / "modbus_peer.py"), "--tcp", "127.0.0.1:1502",
                       "--unit", "1", "--ready", str(ready)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: ready.exists() or proc.poll() is not None, 20, "the Modbus peer")
    assert proc.poll() is None
    return proc


def start(tmp_path_factory, name: str, virtual: bool):
    tmp = tmp_path_factory.mktemp(name)
    network = Network(tmp, name[0] + name[-1])
    network.segment("s1")
    network.host("c1", {"s1": "10.73.1.2"})
    router = network.host("rt", {"s1": "10.73.1.1"})
    network.peer_proc = start_peer(network, router)
    network.daemon = network.bacrouter(
        router, "router", CONFIG.format(router=ROUTER, virtual=VIRTUAL, vbus=VBUS if virtual else ""),
        {"eth0": "s1"}, files={"modbus/meter.json": json.dumps(POINTS)})
    wait_for(lambda: (network.daemon.call("modbus") or [{}])[0].get("slaves", [{}])[0].get("online"), 20,
             "the slave online")
    return network


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    network = start(tmp_path_factory, "mbsingle", virtual=False)
    try:
        yield network
    finally:
        network.peer_proc.kill()
        network.close()


@pytest.fixture(scope="module")
def virtual(tmp_path_factory):
    network = start(tmp_path_factory, "mbvirtual", virtual=True)
    try:
        yield network
    finally:
        network.peer_proc.kill()
        network.close()


def client(network, command, *extra, timeout=30.0):
    return network.hosts["c1"].peer(command, "s1", 1001, *extra, timeout=timeout)


def registers(network) -> dict[int, list[int]]:
    """What the slave holds now, read through the daemon's Read Group method."""
    result = network.daemon.call("read_group", {"slave": "meter"})
    return {r["address"]: r.get("values") for r in result["requests"] if r["function"] == 3}


def test_single_device_read_write_and_names(single):
    router = "10.73.1.1"
    value = client(single, "read", "--target", router, "--object", "analog-input,1001")
    assert value == pytest.approx(0.0)
    name = client(single, "read", "--target", router, "--object", "analog-input,1001", "--property", "object-name")
    assert name == "plc|meter|temp"
    everything = client(single, "rpm", "--target", router, "--object", "multi-state-value,1001", "--property", "all")
    assert everything.get("state-text") == ["off", "heat", "cool"] and everything.get("present-value") == 1, everything
    assert client(single, "write", "--target", router, "--object", "analog-output,1005", "--value", "42",
                  "--priority", "8") == "ok"
    wait_for(lambda: registers(single)[5][0] == 42, 10, "the write to reach the slave")
    assert client(single, "write", "--target", router, "--object", "multi-state-value,1001", "--value", "3") == "ok"
    wait_for(lambda: registers(single)[5] == [42, 2], 10, "the multistate write")
    refused = client(single, "write", "--target", router, "--object", "multi-state-value,1001", "--value", "9")
    assert "value-out-of-range" in json.dumps(refused)
    assert client(single, "read", "--target", router, "--object", "binary-input,1999") == 1
    view = client(single, "read", "--target", router, "--object", "structured-view,1000",
                  "--property", "subordinate-list")
    assert len(view) == 4 + 3


def test_single_device_cov_over_the_network(single):
    host = single.hosts["c1"]
    ready = single.tmp / "cov-ready"
    # its own UDP port: the writing client below binds 47808 on the same host, and a notification for
    # 47808 could reach either process
    proc = host.popen([sys.executable, str(ROOT / "tests" / "peers" / "bp3peer.py"), "cov", "--address",
                       "10.73.1.2/24:47809", "--instance", "1002", "--target", "10.73.1.1", "--object",
                       "analog-output,1005", "--wait", "30", "--count", "2", "--ready", str(ready), "--confirmed"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: ready.exists() or proc.poll() is not None, 15, "the subscription")
    # priority 7 beats the 8 written before: the present value changes and is notified
    assert client(single, "write", "--target", "10.73.1.1", "--object", "analog-output,1005", "--value", "17",
                  "--priority", "7") == "ok"
    out, err = proc.communicate(timeout=30)
    seen = json.loads(out.decode().strip().splitlines()[-1])
    values = [v for p, v in seen if p == "present-value"]
    assert values[0] == 42.0 and values[-1] == 17.0, (seen, err)
    assert client(single, "write", "--target", "10.73.1.1", "--object", "analog-output,1005", "--value", "null",
                  "--priority", "7") == "ok"


def test_single_device_offline_gives_communication_failure(single):
    router = "10.73.1.1"
    single.peer_proc.kill()
    single.peer_proc.wait()
    wait_for(lambda: client(single, "read", "--target", router, "--object", "binary-input,1999") == 0, 15,
             "the online status to drop")
    reliability = client(single, "read", "--target", router, "--object", "analog-input,1001",
                         "--property", "reliability")
    assert reliability == 12  # communication-failure
    single.peer_proc = start_peer(single, single.hosts["rt"])
    wait_for(lambda: client(single, "read", "--target", router, "--object", "binary-input,1999") == 1, 15,
             "back online")


def test_virtual_device_is_found_read_and_falls_silent_while_offline(virtual):
    found = {d["device"]: d["source"] for d in client(virtual, "whois")}
    assert found[VIRTUAL] == "9:1" and found[ROUTER] == "10.73.1.1"
    assert client(virtual, "read", "--target", "9:1", "--object", "device,7001", "--property", "object-name") == \
        "plc|meter"
    assert client(virtual, "read", "--target", "9:1", "--object", "analog-input,1", "--property", "object-name") == \
        "temp"
    assert client(virtual, "write", "--target", "9:1", "--object", "analog-output,5", "--value", "12",
                  "--priority", "8") == "ok"
    wait_for(lambda: registers(virtual)[5][0] == 12, 10, "the write through the virtual device")
    # the router's device keeps the status objects
    assert client(virtual, "read", "--target", "10.73.1.1", "--object", "binary-input,1999") == 1
    virtual.peer_proc.kill()
    virtual.peer_proc.wait()
    wait_for(lambda: client(virtual, "read", "--target", "10.73.1.1", "--object", "binary-input,1999") == 0,
             15, "offline")
    assert VIRTUAL not in {d["device"] for d in client(virtual, "whois")}
    silent = client(virtual, "read", "--target", "9:1", "--object", "analog-input,1", "--timeout", "8")
    assert "error" in silent
    virtual.peer_proc = start_peer(virtual, virtual.hosts["rt"])
    start = time.monotonic()
    wait_for(lambda: VIRTUAL in {d["device"] for d in client(virtual, "whois")}, 20, "the device back")
    assert time.monotonic() - start < 20
