"""An MS/TP port on a real tty (a socat pty pair) against an MS/TP device in another process: what the
line does to the port's capture and to its open/retry loop (issue 10 items 9 and 10)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from bacrouter.mstp.capture import PcapWriter
from bacrouter.mstp.link import MstpLink
from bacrouter.mstp.port import MstpWorker

from .netns import ROOT, wait_for

pytestmark = pytest.mark.skipif(
    (shutil.which("socat") is None or shutil.which("tshark") is None) and not os.environ.get("BACROUTER_REQUIRE_ALL"),
    reason="needs socat and tshark")

DEVICE_MAC = 5
# ReadProperty analog-value,2 description: the device's answer is 700 characters, an extended frame
READ_BIG = bytes.fromhex("0104" "0005010C" "0C00800002" "191C")
READ_SMALL = bytes.fromhex("0104" "0005020C" "0C00800001" "1955")  # analog-value,1 present-value


class PtyPair:
    def __init__(self, directory) -> None:
        self.a, self.b = str(directory / "tty-a"), str(directory / "tty-b")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["socat", "-d", "-d", f"pty,raw,echo=0,link={self.a}",
                                      f"pty,raw,echo=0,link={self.b}"], stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.a) and os.path.exists(self.b), 10, "socat ptys")

    def unplug(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(5)
        wait_for(lambda: not os.path.exists(self.a), 5, "socat to remove its links")


class Device:
    """tests/peers/mstp_device.py: a bacpypes3 device on our MS/TP code, in a process of its own."""

    def __init__(self, directory, tty: str) -> None:
        ready = directory / "device-ready"
        ready.unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "peers" / "mstp_device.py"), "--tty", tty,
                                      "--mac", str(DEVICE_MAC), "--ready", str(ready)],
                                     env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.PIPE)
        wait_for(lambda: ready.exists() or self.proc.poll() is not None, 20, "the MS/TP device")
        assert self.proc.poll() is None, self.proc.stderr.read().decode()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Router:
    """Our side: an MstpWorker (MAC 1) as the router runs it, its deliveries and states recorded."""

    def __init__(self, tty: str) -> None:
        self.delivered: list[tuple[int, bytes]] = []
        self.states: list[tuple[str, str]] = []
        self.worker = MstpWorker("field", tty, lambda: MstpLink(1, max_master=10),
                                 lambda source, npdu, broadcast: self.delivered.append((source, npdu)),
                                 lambda state, reason: self.states.append((state, reason)), realtime=False)
        self.worker.start()

    def state(self) -> str:
        return self.states[-1][0] if self.states else "starting"

    def next_station(self) -> int | None:
        snapshot = self.worker.snapshot
        return snapshot.get("next_station") if snapshot else None


def pcap_times(path) -> list[float]:
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch"],
                         capture_output=True, text=True, check=True).stdout
    return [float(line) for line in out.split()]


def test_a_capture_on_a_pty_only_goes_forward(tmp_path):
    """Every frame is stamped when its last octet was received (or sent), so a reply never appears
    before the request it answers: the capture's timestamps never decrease."""
    ptys = PtyPair(tmp_path)
    device = Device(tmp_path, ptys.b)
    router = Router(ptys.a)
    try:
        wait_for(lambda: router.next_station() == DEVICE_MAC, 20, "the device in the token ring")
        path = tmp_path / "field.pcap"

        def begin(link: MstpLink) -> None:
            link.capture = PcapWriter(path)

        router.worker.call(begin)
        for _ in range(20):  # requests and their (long and short) replies, between tokens
            count = len(router.delivered)
            router.worker.send(DEVICE_MAC, READ_BIG, True)
            router.worker.send(DEVICE_MAC, READ_SMALL, True)
            wait_for(lambda count=count: len(router.delivered) >= count + 2, 10, "the device's answers")
        time.sleep(0.5)

        def end(link: MstpLink) -> int:
            writer, link.capture = link.capture, None
            writer.close()
            return writer.frames

        frames = router.worker.call(end)
    finally:
        router.worker.stop()
        device.stop()
        ptys.unplug()
    times = pcap_times(path)
    assert len(times) == frames and frames > 100
    backwards = [(i, round((b - a) * 1e6)) for i, (a, b) in enumerate(zip(times, times[1:], strict=False)) if b < a]
    assert not backwards, f"{len(backwards)} of {frames} frames go back in time (index, us): {backwards[:10]}"


class Host:
    """What an MS/TP port runtime needs of the router's node: its loop, and ports going up and down
    (logged as the node logs them, so the count below is what the daemon's log would show)."""

    def __init__(self, loop) -> None:
        self.loop = loop
        self.ups = 0
        self.downs = 0

    def port_up(self, runtime, info) -> None:
        self.ups += 1
        logging.getLogger("bacrouter.net.node").info("port %s up: network %d", runtime.name, info.network)

    def port_down(self, runtime) -> None:
        self.downs += 1
        logging.getLogger("bacrouter.net.node").info("port %s down", runtime.name)

    def receive(self, *args) -> None:
        pass


def test_a_vanished_line_is_retried_quietly_and_comes_back(tmp_path, monkeypatch, caplog):
    """Issue 10 item 10: the tty vanishes (socat killed) for a while and comes back. The port logs one
    line per change of state, not lines per try; its status shows the retry schedule; it comes back up."""
    import bacrouter.mstp.port as port
    from bacrouter.config.model import MstpPort
    from bacrouter.config.resources import Resource, ResourceType
    from bacrouter.mstp.runtime import MstpPortRuntime

    monkeypatch.setattr(port, "RETRY_FIRST", 0.05, raising=False)
    monkeypatch.setattr(port, "RETRY_MAX", 0.4, raising=False)
    monkeypatch.setattr(port, "PROBATION", 0.5, raising=False)
    caplog.set_level(logging.INFO, logger="bacrouter")
    ptys = PtyPair(tmp_path)

    async def scenario() -> tuple[Host, MstpPortRuntime, dict, int]:
        host = Host(asyncio.get_running_loop())
        config = MstpPort(name="field", resource="RS485-1", network=5, mac=1, max_master=10)
        runtime = MstpPortRuntime(host, config, 2, Resource("RS485-1", ResourceType.USB, ptys.a))
        await runtime.start()

        async def until(condition, what: str, timeout: float = 10.0) -> None:
            deadline = time.monotonic() + timeout
            while not condition():
                assert time.monotonic() < deadline, what
                await asyncio.sleep(0.02)

        try:
            await until(lambda: runtime.state == "up", "the port up")
            ptys.unplug()
            await until(lambda: runtime.state == "fault", "the port to notice")
            await asyncio.sleep(4.0)  # 0.05 + 0.1 + 0.2 + 0.4 + 0.4 ...: about 10 tries
            status = runtime.status(time.monotonic())
            tries = runtime.worker.failures
            ptys.start()
            await until(lambda: runtime.state == "up", "the port back up")
            back = runtime.status(time.monotonic())
            assert back["state"] == "up"
        finally:
            runtime.stop()
        return host, runtime, status, tries

    try:
        host, runtime, status, tries = asyncio.run(scenario())
    finally:
        ptys.unplug()
    assert tries >= 8, tries
    assert status["state"] == "fault" and status["retry"]["failures"] == tries
    assert status["retry"]["every_s"] == 0.4 and status["retry"]["next_in_s"] is not None
    assert (host.ups, host.downs) == (2, 2)  # the last down: the test stops the port
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("bacrouter")]
    # up; down and the fault (its reason and the schedule); up again; down (stopped): the same lines
    # whatever the number of tries (before: a warning per try, and per reason change)
    assert len(lines) == 5, lines
    assert sum("retrying after 0.05 s" in line and "at most every 0.4 s" in line for line in lines) == 1
