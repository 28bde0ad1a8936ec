"""The shipped M-Bus Free Client script (mbus.lua) against simulated meters on a pty: records to BACnet
values (primary and secondary addressing, a two-telegram meter, scale), offline and back, and a
bacpypes3 client reading the values through a running daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bacrouter.modbus.objects import Reliability

from ..peers.mbus_meters import corpus_telegram
from .modbus_harness import PtyPair, in_loop, obj, running, until, write_config
from .netns import ROOT, Network, needs_netns, wait_for

pytestmark = pytest.mark.skipif(shutil.which("socat") is None and not os.environ.get("BACROUTER_REQUIRE_ALL"),
                                reason="needs socat")

OK, COMM = Reliability.NO_FAULT, Reliability.COMMUNICATION_FAILURE


METERS = [
    {"primary": 1, "secondary": "12345678A5B10102", "telegrams": [corpus_telegram("els_falcon.hex")]},
    {"primary": 2, "secondary": "1234AB78A5B10102",
     "telegrams": [corpus_telegram("abb_delta.hex"), corpus_telegram("SEN_Sensus-PolluTherm.hex")]},
]
BUS = {"tag": "update_interval=300, force_reset=true, offline_interval=500", "baudrate": 2400, "fcdevices": [
    {"name": "water", "tag": "addr=1", "instance": 8001, "fcpoints": [
        # record 0 of the Elster Falcon: Volume (m m^3) 1234567 -> m3 with scale 0.001
        {"name": "volume", "object_type": "ai", "instance": 1, "tag": "id=0, scale=0.001", "unit": "cubic-meters"},
        # record 5: Volume flow (m m^3/h) 5945, no unit or scale set: the VIF gives m3/h and 5.945
        {"name": "flow", "object_type": "ai", "instance": 2, "tag": "id=5"}]},
    {"name": "heat", "tag": 'addr="1234AB78A5B10102"', "instance": 8002, "fcpoints": [
        # record 7 of the second telegram (ids count on after the ABB's 15): fabrication number 24351689
        {"name": "fabrication", "object_type": "ai", "instance": 1, "tag": "id=22"},
        {"name": "missing", "object_type": "ai", "instance": 2, "tag": "id=99"}]},
]}


class Meters:
    def __init__(self, directory: Path, tty: str, echo: bool = False) -> None:
        self.directory, self.tty, self.echo = directory, tty, echo
        (directory / "meters.json").write_text(json.dumps(METERS))
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        ready = self.directory / "meters-ready"
        ready.unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "peers" / "mbus_meters.py"), "--tty",
                                      self.tty, "--meters", str(self.directory / "meters.json"), "--ready", str(ready)]
                                     + (["--echo"] if self.echo else []))
        wait_for(ready.exists, 10, "the meters")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def bus_config(root: Path, tty: str, uci_extra: str = "") -> object:
    uci = ("\nconfig freeclient_bus 'mbus'\n\toption resource 'RS485-1'\n\toption script 'mbus.lua'\n"
           "\toption parity 'none'\n")  # ptys refuse even parity; a real M-Bus line keeps the default 8E1
    paths = write_config(root, uci + uci_extra, {}, {"RS485-1": {"type": "USB", "ifname": tty}})
    (root / "bacrouter" / "freeclient").mkdir(parents=True, exist_ok=True)
    (root / "bacrouter" / "freeclient" / "mbus.json").write_text(json.dumps(BUS))
    return paths


@pytest.mark.parametrize("echo", [False, True], ids=["plain", "echoing converter"])
@in_loop
async def test_meters_become_bacnet_values(tmp_path, echo):
    ptys = PtyPair(tmp_path)
    meters = Meters(tmp_path, ptys.b, echo)
    try:
        async with running(bus_config(tmp_path, ptys.a)) as node:
            volume, fabrication, missing = (obj(node, n) for n in ("mbus|water|volume", "mbus|heat|fabrication",
                                                                   "mbus|heat|missing"))
            await until(lambda: volume.reliability == OK and fabrication.reliability == OK, timeout=15)
            assert volume.value == pytest.approx(1234.567)
            assert fabrication.value == 24351689.0  # from the second telegram
            flow = obj(node, "mbus|water|flow")
            await until(lambda: flow.reliability == OK, timeout=15)
            assert (flow.units, flow.value) == (135, pytest.approx(5.945))  # cubic-meters-per-hour, from the VIF
            assert volume.units == 80  # its own unit (cubic-meters) stays
            assert fabrication.units == 95  # a fabrication number has no unit
            assert missing.reliability == Reliability.UNRELIABLE_OTHER  # the meter has no record 99
            meters.stop()
            await until(lambda: volume.reliability == COMM and fabrication.reliability == COMM, timeout=15,
                        what="both meters offline after three failed reads")
            assert obj(node, "mbus|water|comm|online").value == 0
            meters.start()
            await until(lambda: volume.reliability == OK, timeout=15, what="back after the offline interval")
    finally:
        meters.stop()
        ptys.close()


ROUTER_CONFIG = """
config bacrouter 'main'
	option device_instance '4070'

config bip 'lan'
	option resource 'eth0'
	option network '1'

config freeclient_bus 'mbus'
	option resource 'RS485-1'
	option script 'mbus.lua'
	option parity 'none'
"""


NETNS = needs_netns()


@NETNS[0]
@NETNS[1]
def test_a_bacnet_client_reads_a_meter_through_the_daemon(tmp_path):
    network = Network(tmp_path, "mb")
    ptys = PtyPair(tmp_path)
    meters = Meters(tmp_path, ptys.b)
    try:
        network.segment("s1")
        network.host("c1", {"s1": "10.74.1.2"})
        router = network.host("rt", {"s1": "10.74.1.1"})
        daemon = network.bacrouter(router, "router", ROUTER_CONFIG, {"eth0": "s1"}, serial={"RS485-1": ptys.a},
                                   files={"freeclient/mbus.json": json.dumps(BUS)})

        def volume():
            return network.hosts["c1"].peer("read", "s1", 1001, "--target", "10.74.1.1", "--object",
                                            "analog-input,1001")

        wait_for(lambda: volume() == pytest.approx(1234.567), 20, "the meter's volume over BACnet")
        name = network.hosts["c1"].peer("read", "s1", 1001, "--target", "10.74.1.1", "--object",
                                        "analog-input,1001", "--property", "object-name")
        assert name == "mbus|water|volume"
        assert daemon.call("freeclient")[0]["state"] == "running"
    finally:
        meters.stop()
        ptys.close()
        network.close()
