"""The ubus object ``bacrouter`` against the real ubusd, ubus CLI and python3-ubus of the platform kit.

A private ubusd on a socket of the test's own (the ``bacrouter`` section's
``ubus_socket``), the daemon run as on a router with python3-ubus importable,
and the kit's ``ubus`` CLI as the caller: ``ubus call bacrouter status``
answers what the control socket answers, every method is listed with its
signature, a capture path cannot come from a ubus caller, the events arrive
at ``ubus listen``, and a restarted ubusd gets the object back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bacrouter.control import ControlError, call
from tests.integration.modbus_harness import free_port, point, slave, tcp_master
from tests.openwrt.platform import platform_prefix, tool

ROOT = Path(__file__).resolve().parents[2]
#: fields that change from one call to the next: the clock, and the transports' own counters
MOVING = ("uptime_s", "control", "ubus")


def normal(value: Any) -> Any:
    """As the ubus CLI prints it: a double with six decimals."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


def frozen(status: dict[str, Any]) -> dict[str, Any]:
    return normal({k: v for k, v in status.items() if k not in MOVING})


class Bus:
    """A private ubusd and the kit's ubus CLI on it."""

    def __init__(self, directory: Path) -> None:
        self.socket = directory / "ubus.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)
        self.proc = subprocess.Popen([tool("ubusd"), "-s", str(self.socket)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not self.socket.exists():
            assert time.monotonic() < deadline, "ubusd made no socket"
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def run(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool("ubus"), "-s", str(self.socket), *args], capture_output=True, text=True,
                              timeout=timeout)

    def call(self, method: str, message: dict[str, Any] | None = None) -> Any:
        done = self.run("call", "bacrouter", method, *([json.dumps(message)] if message is not None else []))
        assert done.returncode == 0, f"ubus call bacrouter {method}: rc {done.returncode} {done.stderr}"
        return json.loads(done.stdout)

    def wait_object(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run("list", "bacrouter", timeout=5).returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError("the daemon never registered ubus object 'bacrouter'")


class Daemon:
    """``bacrouter run`` with python3-ubus on its path, serving on the bus's socket."""

    def __init__(self, directory: Path, bus: Bus, uci: str, modbus_points: list[dict] | None = None) -> None:
        self.dir, self.bus = directory, bus
        (directory / "config").mkdir(exist_ok=True)
        (directory / "bacrouter" / "modbus").mkdir(parents=True, exist_ok=True)
        (directory / "bacrouter" / "resource.conf").write_text(json.dumps({"loop": {"type": "ETH", "ifname": "lo"}}))
        if modbus_points is not None:
            (directory / "bacrouter" / "modbus" / "meter.json").write_text(json.dumps({"points": modbus_points}))
        self.write(uci)
        self.log = open(directory / "daemon.log", "w+")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(platform_prefix() / "lib" / "python")]))
        self.proc = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(directory)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.socket = directory / "run" / "control.sock"

    def write(self, uci: str) -> None:
        (self.dir / "config" / "bacrouter").write_text(
            f"config bacrouter 'main'\n\toption device_instance '4100'\n\toption ubus_socket '{self.bus.socket}'\n"
            + uci)

    def call(self, method: str, params: dict | None = None) -> Any:
        return call(self.socket, method, params)

    def cli(self, *args: str) -> Any:
        done = subprocess.run([sys.executable, "-m", "bacrouter", *args, "--config-dir", str(self.dir)],
                              capture_output=True, text=True, timeout=20, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def wait_up(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                if all(p["state"] == "up" for p in self.call("ports")):
                    break
            except (OSError, ControlError):
                pass
            time.sleep(0.1)
        self.bus.wait_object()

    def output(self) -> str:
        self.log.flush()
        return (self.dir / "daemon.log").read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def bip(name: str, network: int, udp: int) -> str:
    return f"\nconfig bip '{name}'\n\toption resource 'loop'\n\toption network '{network}'\n\toption udp_port '{udp}'\n"


@pytest.fixture(scope="module")
def kit() -> Path:
    return platform_prefix()


@pytest.fixture
def bus(kit, tmp_path):
    bus = Bus(tmp_path)
    yield bus
    bus.kill()


@pytest.fixture
def daemon(bus, tmp_path):
    udp = free_port()
    running = Daemon(tmp_path, bus, bip("one", 1, udp))
    running.udp = udp
    yield running
    running.close()


def test_status_over_ubus_is_the_control_sockets_answer(daemon, bus):
    daemon.wait_up()
    over_ubus = bus.call("status")
    assert frozen(over_ubus) == frozen(daemon.call("status"))
    assert frozen(over_ubus) == frozen(daemon.cli("status", "--json")["status"])
    assert over_ubus["ubus"]["connected"] and over_ubus["ubus"]["socket"] == str(bus.socket)
    assert bus.call("version") == daemon.call("version")
    # a list is wrapped in an object named after the method (a ubus reply is always an object)
    assert [p["name"] for p in bus.call("ports")["ports"]] == [p["name"] for p in daemon.call("ports")]
    assert bus.call("routes") == {"routes": normal(daemon.call("routes"))}
    assert bus.call("methods") == daemon.call("methods")


def test_every_method_is_listed_with_its_signature(daemon, bus):
    daemon.wait_up()
    listed = bus.run("-v", "list", "bacrouter")
    assert listed.returncode == 0, listed.stderr
    lines = dict(line.strip().split(":", 1) for line in listed.stdout.splitlines()[1:])
    methods = {name.strip('"'): json.loads(signature) for name, signature in lines.items()}
    assert set(methods) == set(daemon.call("methods"))
    assert methods["status"] == {} and methods["reload"] == {}
    assert methods["capture"] == {"port": "String", "action": "String"}
    assert methods["read_group"] == {"slave": "String"}


def test_a_ubus_caller_cannot_name_the_capture_file(daemon, bus):
    daemon.wait_up()
    refused = bus.run("call", "bacrouter", "capture", json.dumps({"port": "one", "action": "start",
                                                                   "path": "/etc/shadow"}))
    assert refused.returncode != 0 and "Invalid argument" in refused.stderr
    # with the declared arguments the answer is the socket's, error and all
    answer = bus.call("capture", {"port": "one", "action": "start"})
    with pytest.raises(ControlError) as socket_error:
        daemon.call("capture", {"port": "one", "action": "start"})
    assert answer == {"error": {"code": socket_error.value.code, "message": socket_error.value.message}}


def test_events_arrive_at_ubus_listen(bus, tmp_path):
    modbus_port = free_port()
    peer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "peers" / "modbus_peer.py"), "--tcp",
                             f"127.0.0.1:{modbus_port}", "--unit", "1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    listen = subprocess.Popen([tool("ubus"), "-s", str(bus.socket), "listen", "bacrouter.port", "bacrouter.device",
                               "bacrouter.reload"], stdout=subprocess.PIPE, text=True)
    udp1, udp2 = free_port(), free_port()
    points = [point("flow", "ai", "holding", 0, 1)]
    modbus = tcp_master("tcp1", modbus_port) + slave("meter", "tcp1")
    daemon = Daemon(tmp_path, bus, bip("one", 1, udp1) + modbus, points)
    events: list[tuple[str, dict]] = []

    def until(name: str, match: dict[str, Any], timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for got, data in events:
                if got == name and all(data.get(k) == v for k, v in match.items()):
                    return data
            assert time.monotonic() < deadline, f"no {name} {match} among {events}\n{daemon.output()}"
            os.set_blocking(listen.stdout.fileno(), False)
            line = listen.stdout.readline()
            if not line:
                time.sleep(0.05)
                continue
            (got, data), = json.loads(line).items()
            events.append((got, data))

    try:
        daemon.wait_up()
        until("bacrouter.device", {"gateway": "modbus", "device": "meter", "online": True})
        daemon.write(bip("one", 1, udp1) + bip("two", 2, udp2) + modbus)
        daemon.proc.send_signal(signal.SIGHUP)
        until("bacrouter.port", {"port": "two", "state": "up", "network": 2})
        reload = until("bacrouter.reload", {"ok": True})
        assert reload["summary"]["started"] == ["bip 'two'"]
        daemon.write(bip("one", 1, udp1) + modbus)
        daemon.proc.send_signal(signal.SIGHUP)
        until("bacrouter.port", {"port": "two", "state": "down"})
        peer.kill()
        offline = until("bacrouter.device", {"gateway": "modbus", "device": "meter", "online": False})
        assert offline["reason"]
    finally:
        listen.kill()
        peer.kill()
        daemon.close()


def test_a_restarted_ubusd_gets_the_object_back(daemon, bus):
    daemon.wait_up()
    bus.kill()
    time.sleep(0.5)
    bus.start()
    deadline = time.monotonic() + 15
    while bus.run("call", "bacrouter", "version", timeout=5).returncode != 0:
        assert time.monotonic() < deadline, "no reconnect within 15 s:\n" + daemon.output()
        time.sleep(0.1)
    status = bus.call("status")
    assert status["ubus"]["connected"] and status["ubus"]["connects"] == 2
    assert frozen(status) == frozen(daemon.call("status"))
    assert "reconnected" in daemon.output()


def test_without_python3_ubus_nothing_is_served(monkeypatch):
    from bacrouter import ubus_transport
    from bacrouter.control import MethodTable

    monkeypatch.setitem(sys.modules, "ubus", None)  # import ubus raises ImportError
    assert ubus_transport.load_module() is None
    assert ubus_transport.serve(MethodTable(), "", loop=object()) is None  # type: ignore[arg-type]


def test_a_method_declares_only_types_ubus_knows():
    from bacrouter.control import MethodTable

    table = MethodTable()
    table.add("grab", lambda p: p, "one", params={"port": "string", "count": "int"})
    assert table.signatures["grab"] == {"port": "string", "count": "int"}
    with pytest.raises(ValueError, match="float"):
        table.add("bad", lambda p: p, "two", params={"x": "float"})
