"""Our router between BACnet/IP and MS/TP (a socat pty pair), with a bacpypes3 client and an MS/TP device.

    client 10.72.1.2 ── s1 (network 1) ── 10.72.1.1 router ── /tmp/...a ══ pty ══ ...b ── MS/TP device MAC 5 (network 5)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bacrouter.net import bvll
from bacrouter.net.bvll import Function
from bacrouter.net.npdu import NetMsg, Npdu, RejectReason, decode, decode_reject, encode

from .netns import ROOT, Network, needs_netns, tshark_fields, wait_for

pytestmark = needs_netns()

DEVICE = 5005
ROUTER = 4050
CONFIG = """
config bacrouter 'main'
	option device_instance '4050'

config bip 'lan'
	option resource 'eth0'
	option network '1'

config mstp 'field'
	option resource 'RS485-1'
	option network '5'
	option mac '1'
	option max_master '10'
	option extended_frames '{extended}'
"""


class PtyPair:
    def __init__(self, directory) -> None:
        self.a, self.b = str(directory / "tty-a"), str(directory / "tty-b")
        self.proc = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["socat", "-d", "-d", f"pty,raw,echo=0,link={self.a}",
                                      f"pty,raw,echo=0,link={self.b}"], stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.a) and os.path.exists(self.b), 10, "socat ptys")

    def unplug(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.unplug()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mstp")
    network = Network(tmp, "t")
    ptys = PtyPair(tmp)
    device = None
    try:
        network.segment("s1")
        network.host("c1", {"s1": "10.72.1.2"})
        router = network.host("rt", {"s1": "10.72.1.1"})
        network.daemon = network.bacrouter(router, "router", CONFIG.format(extended=1), {"eth0": "s1"},
                                           serial={"RS485-1": ptys.a})
        ready = tmp / "device-ready"
        device = subprocess.Popen([sys.executable, str(ROOT / "tests" / "peers" / "mstp_device.py"), "--tty", ptys.b,
                                   "--mac", "5", "--instance", str(DEVICE), "--ready", str(ready)],
                                  env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.PIPE)
        wait_for(lambda: ready.exists() or device.poll() is not None, 20, "the MS/TP device")
        assert device.poll() is None, device.stderr.read().decode()
        wait_for(lambda: field(network.daemon).get("link", {}).get("token_rotation_ms") is not None, 20,
                 "the token to go round")
        network.ptys, network.tmp = ptys, tmp
        yield network
    finally:
        if device is not None:
            device.kill()
        ptys.close()
        network.close()


def field(daemon) -> dict:
    try:
        return {p["name"]: p for p in daemon.call("ports")}["field"]
    except Exception:  # noqa: BLE001 - not up yet
        return {}


def raw(host, datagram: bytes, wait: float = 3.0) -> list[bytes]:
    result = host.run([sys.executable, str(ROOT / "tests" / "peers" / "rawbip.py"), "--bind", "10.72.1.2:47999",
                       "--to", "10.72.1.1:47808", "--hex", datagram.hex(), "--wait", str(wait)])
    return [bytes.fromhex(r["hex"]) for r in json.loads(result.stdout)]


def test_client_on_ip_discovers_and_reads_the_mstp_device(net):
    found = {d["device"]: d["source"] for d in net.hosts["c1"].peer("whois", "s1", 1001)}
    assert found[DEVICE] == "5:5"
    assert found[ROUTER] == "10.72.1.1"
    value = net.hosts["c1"].peer("read", "s1", 1001, "--target", "5:5", "--object", "analog-value,1")
    assert value == pytest.approx(21.5)


def test_long_answer_crosses_as_an_extended_frame(net):
    capture = net.daemon.call("capture", {"port": "field", "action": "start", "path": str(net.tmp / "field.pcap")})
    assert capture["frames"] == 0
    description = net.hosts["c1"].peer("read", "s1", 1001, "--target", "5:5", "--object", "analog-value,2",
                                       "--property", "description")
    assert description == "x" * 700
    stopped = net.daemon.call("capture", {"port": "field", "action": "stop"})
    pcap = stopped["path"]
    assert stopped["frames"] > 10
    # tshark reads every frame, with correct CRCs, and finds the extended one from the device
    problems = subprocess.run(["tshark", "-r", pcap, "-Y", "_ws.malformed || _ws.expert.severity >= warning"],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert problems == ""
    extended = tshark_fields(pcap, "mstp.frame_type == 33", ["mstp.src", "mstp.dst", "mstp.len"])
    assert extended and extended[0][:2] == ["5", "1"] and int(extended[0][2]) > 501
    tokens = tshark_fields(pcap, "mstp.frame_type == 0", ["mstp.src", "mstp.dst"])
    assert ["1", "5"] in tokens and ["5", "1"] in tokens


def test_status_shows_the_bus(net):
    status = field(net.daemon)
    link = status["link"]
    assert status["state"] == "up" and link["next_station"] == 5
    assert {d["mac"] for d in link["sniffer"]["active_devices"]} == {1, 5}
    assert link["baud"] == {"mode": "fixed", "configured": 38400, "current": 38400, "state": "locked", "switches": 0}
    assert status["turnaround_ms"]["samples"] > 10 and status["turnaround_ms"]["p99"] < 15.0


def test_without_extended_frames_long_npdus_are_rejected_as_too_long(net):
    (net.daemon.config_dir / "config" / "bacrouter").write_text(CONFIG.format(extended=0))
    assert net.daemon.call("reload")["summary"]["restarted"] == ["mstp 'field'"]
    wait_for(lambda: field(net.daemon).get("link", {}).get("token_rotation_ms") is not None, 20, "the port back up")
    big = encode(Npdu(control=0x04, dnet=5, dadr=b"\x05", payload=bytes.fromhex("0005070f") + bytes(600)))
    answers = [decode(bvll.split(d)[1]) for d in raw(net.hosts["c1"], bvll.pack(Function.ORIGINAL_UNICAST_NPDU, big))]
    rejects = [decode_reject(n.payload) for n in answers if n.message_type == NetMsg.REJECT_MESSAGE_TO_NETWORK]
    assert rejects == [(RejectReason.MESSAGE_TOO_LONG, 5)]
    # the device may still send extended frames: the router always accepts them
    assert net.hosts["c1"].peer("read", "s1", 1001, "--target", "5:5", "--object", "analog-value,2",
                                "--property", "description") == "x" * 700


def test_unplugged_adapter_is_a_fault_and_comes_back(net):
    lan_before = {p["name"]: p for p in net.daemon.call("ports")}["lan"]["up_since"]
    net.ptys.unplug()
    wait_for(lambda: field(net.daemon).get("state") == "fault", 10, "the port to notice")
    assert {r["network"] for r in net.daemon.call("routes")} == {1}
    net.ptys.start()
    wait_for(lambda: field(net.daemon).get("state") == "up", 15, "the port to come back")
    # the device's end went away too; its MS/TP thread reopens the tty by itself
    wait_for(lambda: field(net.daemon).get("link", {}).get("next_station") == 5, 20, "the device to rejoin")
    assert net.hosts["c1"].peer("read", "s1", 1001, "--target", "5:5",
                                "--object", "analog-value,1") == pytest.approx(21.5)
    assert {p["name"]: p for p in net.daemon.call("ports")}["lan"]["up_since"] == lan_before


def test_command_line_status_and_capture(net):
    def bacrouter(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bacrouter", *args, "--config-dir", str(net.daemon.config_dir)],
                              capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))

    status = bacrouter("status")
    assert status.returncode == 0
    line = next(line for line in status.stdout.splitlines() if line.strip().startswith("field"))
    assert "next 5" in line and "38400 baud fixed" in line and "device(s)" in line
    target = net.tmp / "cli.pcap"
    started = bacrouter("capture", "field", "start", "--file", str(target))
    assert started.returncode == 0 and str(target) in started.stdout
    time.sleep(0.5)
    stopped = bacrouter("capture", "field", "stop")
    assert stopped.returncode == 0 and "captured" in stopped.stdout
    frames = tshark_fields(str(target), "mstp", ["mstp.frame_type"])
    assert len(frames) > 20
    assert bacrouter("capture", "lan", "start").returncode == 1  # not an MS/TP port
