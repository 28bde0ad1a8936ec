"""The daemon's life: start, refuse bad config, SIGHUP reload by difference, SIGTERM within a second."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bacrouter.control import ControlError, call

ROOT = Path(__file__).resolve().parents[2]


def config_text(udp1: int, udp2: int, network2: int = 2, extra: str = "") -> str:
    return (
        "config bacrouter 'main'\n\toption device_instance '4100'\n\n"
        f"config bip 'one'\n\toption resource 'loop'\n\toption network '1'\n\toption udp_port '{udp1}'\n\n"
        f"config bip 'two'\n\toption resource 'loop'\n\toption network '{network2}'\n\toption udp_port '{udp2}'\n"
    ) + extra


class Running:
    def __init__(self, tmp: Path, text: str, resources: dict | None = None) -> None:
        self.dir = tmp
        (tmp / "config").mkdir(exist_ok=True)
        (tmp / "bacrouter").mkdir(exist_ok=True)
        (tmp / "bacrouter" / "resource.conf").write_text(json.dumps(resources or {"loop": {"type": "ETH", "ifname": "lo"}}))
        self.write(text)
        self.log = open(tmp / "daemon.log", "w+")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(tmp)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.socket = tmp / "run" / "control.sock"

    def write(self, text: str) -> None:
        (self.dir / "config" / "bacrouter").write_text(text)

    def call(self, method: str, params: dict | None = None):
        return call(self.socket, method, params)

    def wait_up(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                if all(p["state"] == "up" for p in self.call("ports") if p["kind"] == "bip"):
                    return
            except (OSError, ControlError):
                pass
            time.sleep(0.1)
        raise AssertionError("daemon did not come up:\n" + self.output())

    def output(self) -> str:
        self.log.flush()
        return (self.dir / "daemon.log").read_text()

    def ports(self) -> dict[str, dict]:
        return {p["name"]: p for p in self.call("ports")}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def udp_ports():
    base = random.randrange(20000, 40000, 10)
    return base, base + 1


@pytest.fixture
def daemon(tmp_path, udp_ports):
    running = Running(tmp_path, config_text(*udp_ports))
    yield running
    running.close()


def test_sigterm_stops_cleanly_within_a_second(daemon):
    daemon.wait_up()
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.proc.wait(5)
    elapsed = time.monotonic() - started
    assert daemon.proc.returncode == 0, daemon.output()
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert not daemon.socket.exists()
    assert "Traceback" not in daemon.output()


def test_sighup_restarts_only_what_changed(daemon, udp_ports):
    daemon.wait_up()
    before = daemon.ports()
    daemon.write(config_text(*udp_ports, network2=3))
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        routes = {r["network"] for r in daemon.call("routes")}
        if routes == {1, 3}:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"network 3 never appeared: {daemon.call('routes')}\n{daemon.output()}")
    after = daemon.ports()
    assert after["one"]["up_since"] == before["one"]["up_since"]  # untouched, kept its socket
    assert after["two"]["up_since"] != before["two"]["up_since"]
    assert after["two"]["network"] == 3
    assert "configuration reloaded: restarted: bip 'two'; unchanged: bip 'one'" in daemon.output()


def test_reload_method_reports_the_difference_and_adds_ports(daemon, udp_ports):
    daemon.wait_up()
    extra = f"\nconfig bip 'three'\n\toption resource 'loop'\n\toption network '5'\n\toption udp_port '{udp_ports[0] + 5}'\n"
    daemon.write(config_text(*udp_ports) + extra)
    result = daemon.call("reload")
    assert result["ok"] and result["summary"] == {"stopped": [], "started": ["bip 'three'"], "restarted": [],
                                        "unchanged": ["bip 'one'", "bip 'two'"]}
    assert daemon.ports()["three"]["state"] == "up"
    daemon.write(config_text(*udp_ports))
    assert daemon.call("reload")["summary"]["stopped"] == ["bip 'three'"]
    assert "three" not in daemon.ports()


def test_broken_config_on_reload_keeps_the_running_one(daemon, udp_ports):
    daemon.wait_up()
    daemon.write(config_text(*udp_ports, network2=1))
    result = daemon.call("reload")
    assert not result["ok"]
    assert any("network number 1 is already used by bip 'one'" in p for p in result["problems"])
    assert {p["name"]: p["network"] for p in daemon.call("ports")} == {"one": 1, "two": 2}
    cli = subprocess.run([sys.executable, "-m", "bacrouter", "reload", "--config-dir", str(daemon.dir)],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert cli.returncode == 1 and "keeps running the previous one" in cli.stderr


def test_refuses_to_start_with_errors(tmp_path, udp_ports):
    running = Running(tmp_path, config_text(*udp_ports, network2=1))
    try:
        assert running.proc.wait(15) == 2
        output = running.output()
        assert "network number 1 is already used by bip 'one'" in output
        assert "not starting: fix the configuration" in output
    finally:
        running.close()


def test_port_waits_for_a_missing_interface_and_the_rest_runs(tmp_path, udp_ports):
    resources = {"loop": {"type": "ETH", "ifname": "lo"}, "vpn": {"type": "PPP", "ifname": "wgmissing0"}}
    extra = "\nconfig bip 'vpn'\n\toption resource 'vpn'\n\toption network '9'\n\toption mode 'bbmd'\n"
    running = Running(tmp_path, config_text(*udp_ports) + extra, resources)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                ports = running.ports()
                if ports["one"]["state"] == "up":
                    break
            except (OSError, ControlError, KeyError):
                pass
            time.sleep(0.1)
        assert ports["vpn"]["state"] == "waiting"
        assert ports["vpn"]["reason"] == "interface wgmissing0 has no IPv4 address yet"
        assert {r["network"] for r in running.call("routes")} == {1, 2}
    finally:
        running.close()


def test_control_errors_are_answered(daemon):
    daemon.wait_up()
    with pytest.raises(ControlError) as info:
        daemon.call("no_such_method")
    assert info.value.code == "unknown_method"
    import socket

    for garbage in (b"not json\n", b"[" * 100000 + b"\n", b'{"method": "version", "id": 1e999999}\n'):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(daemon.socket))
            sock.sendall(garbage)
            answer = json.loads(sock.makefile().readline())  # always an answer, always valid JSON
        assert answer["error"]["code"] == "bad_request"
    assert daemon.call("version")["version"]
    assert set(daemon.call("methods")) >= {"status", "ports", "routes", "reload", "version"}


def test_status_for_people_and_scripts(daemon):
    daemon.wait_up()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    human = subprocess.run([sys.executable, "-m", "bacrouter", "status", "--config-dir", str(daemon.dir)],
                           capture_output=True, text=True, env=env)
    assert human.returncode == 0
    assert "device 4100" in human.stdout and "127.0.0.1:" in human.stdout
    machine = subprocess.run([sys.executable, "-m", "bacrouter", "status", "--json", "--config-dir", str(daemon.dir)],
                             capture_output=True, text=True, env=env)
    data = json.loads(machine.stdout)
    assert {p["name"] for p in data["ports"]} == {"one", "two"}
    assert {r["network"] for r in data["routes"]} == {1, 2}


def test_status_when_not_running(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bacrouter", "status", "--config-dir", str(tmp_path)],
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 3 and "bacrouter is not running" in result.stderr


def test_written_bdt_is_kept_in_the_config_and_survives_reload(tmp_path, udp_ports):
    import socket

    from bacrouter.config import uci
    from bacrouter.net import bvll
    from bacrouter.net.bvll import BdtEntry, Function

    extra = "\toption mode 'bbmd'\n\toption write_bdt '1'\n\tlist bdt '127.0.0.1:%d'\n" % udp_ports[1]
    running = Running(tmp_path, config_text(*udp_ports, extra=extra))
    try:
        running.wait_up()
        table = [BdtEntry(bvll.mac("127.0.0.1", udp_ports[1])), BdtEntry(bvll.mac("10.0.0.9", 47808), b"\xff\xff\xff\x00")]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.bind(("127.0.0.1", 0))
            sock.sendto(bvll.pack(Function.WRITE_BDT, bvll.encode_bdt(table[:1])), ("127.0.0.1", udp_ports[1]))
            assert bvll.split(sock.recv(100)) == (Function.RESULT, b"\x00\x00")
            # after a reload that leaves the port alone, a second write must be kept as well
            assert running.call("reload")["summary"]["unchanged"] == ["bip 'one'", "bip 'two'"]
            sock.sendto(bvll.pack(Function.WRITE_BDT, bvll.encode_bdt(table)), ("127.0.0.1", udp_ports[1]))
            assert bvll.split(sock.recv(100)) == (Function.RESULT, b"\x00\x00")
        saved = uci.load(tmp_path / "config" / "bacrouter").section("two")
        assert saved.options["bdt"] == [f"127.0.0.1:{udp_ports[1]}/255.255.255.255", "10.0.0.9:47808/255.255.255.0"]
        assert running.call("reload")["summary"]["unchanged"] == ["bip 'one'", "bip 'two'"]
        assert running.ports()["two"]["link"]["bdt"] == [f"127.0.0.1:{udp_ports[1]}/255.255.255.255",
                                                        "10.0.0.9:47808/255.255.255.0"]
    finally:
        running.close()


def test_a_second_daemon_on_the_same_configuration_refuses_before_opening_any_port(daemon, udp_ports):
    daemon.wait_up()
    before = daemon.ports()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    second = subprocess.run([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(daemon.dir)],
                            capture_output=True, text=True, env=env, timeout=30)
    assert second.returncode == 1
    assert f"another bacrouter (pid {daemon.proc.pid}) is running on this configuration" in second.stderr
    assert "port" not in second.stderr.replace("bacrouter.lock", "") and "Traceback" not in second.stderr
    assert daemon.ports() == before  # the first one's sockets are untouched
    assert daemon.proc.poll() is None


def test_foreground_lines_carry_a_timestamp_and_none_under_procd(tmp_path, udp_ports):
    for under_procd, pattern in ((False, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ bacrouter"),
                                 (True, r"^[A-Z]+ bacrouter")):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("BACROUTER_UNDER_PROCD", None)
        if under_procd:
            env["BACROUTER_UNDER_PROCD"] = "1"
        directory = tmp_path / str(under_procd)
        directory.mkdir()
        (directory / "config").mkdir()
        (directory / "config" / "bacrouter").write_text("config bacrouter 'main'\n\toption device_name 'x'\n")
        done = subprocess.run([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(directory)],
                              capture_output=True, text=True, env=env, timeout=30)
        first = done.stderr.splitlines()[0]
        assert re.match(pattern, first), first


def test_the_control_socket_survives_a_thousand_idle_clients_under_a_small_descriptor_limit(tmp_path, udp_ports):
    import resource
    import socket

    (tmp_path / "config").mkdir()
    (tmp_path / "bacrouter").mkdir()
    (tmp_path / "bacrouter" / "resource.conf").write_text(json.dumps({"loop": {"type": "ETH", "ifname": "lo"}}))
    (tmp_path / "config" / "bacrouter").write_text(config_text(*udp_ports))
    log = open(tmp_path / "daemon.log", "w+")
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(tmp_path)], stdout=log,
                            stderr=subprocess.STDOUT, env=env, preexec_fn=few_descriptors)
    path = tmp_path / "run" / "control.sock"
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 15
        while not path.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()
            time.sleep(0.1)
        for _ in range(1000):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.setblocking(False)
            try:
                client.connect(str(path))
            except (BlockingIOError, OSError):
                client.close()
                continue
            clients.append(client)
        time.sleep(1.5)  # silent long enough to be the first to go
        started = time.monotonic()
        status = call(path, "status", timeout=5)
        assert time.monotonic() - started < 2
        counters = status["control"]
        assert counters["refused_busy"] + counters["evicted"] + counters["accept_failed"] > 0, counters
        for client in clients:
            client.close()
        clients.clear()
        time.sleep(0.5)
        assert call(path, "version")["version"]
        log.flush()
        lines = (tmp_path / "daemon.log").read_text().splitlines()
        assert len(lines) < 40, "\n".join(lines[:60])
        assert "Traceback" not in "\n".join(lines)
    finally:
        for client in clients:
            client.close()
        proc.kill()
        proc.wait()
        log.close()


@pytest.mark.parametrize("escape", ["xpcall(function() error('a') end, function() while true do end end)",
                                    "table.move({}, 1, 1e10, 2)"])
def test_sigterm_within_a_second_with_a_script_stuck_in_an_escape(tmp_path, udp_ports, escape):
    """Issue 10, item 20: these scripts once ran for ever, and SIGTERM took 6.6 s."""
    extra = "\nconfig freeclient_bus 'stuck'\n\toption server '127.0.0.1:1'\n\toption script 'stuck.lua'\n"
    (tmp_path / "bacrouter" / "freeclient").mkdir(parents=True)
    (tmp_path / "bacrouter" / "freeclient" / "stuck.lua").write_text(
        "return swg.interface_tcp, function(ctx) swg.timer(1, 0, function() %s end) end" % escape)
    (tmp_path / "bacrouter" / "freeclient" / "stuck.json").write_text(json.dumps(
        {"type": 2, "fcdevices": [{"name": "meter", "fcpoints": [{"name": "power", "object_type": "ai",
                                                                   "instance": 1}]}]}))
    daemon = Running(tmp_path, config_text(*udp_ports, extra=extra))
    try:
        daemon.wait_up()
        deadline = time.monotonic() + 10
        while daemon.call("freeclient")[0]["counters"]["callbacks"] < 2:  # init, then the timer: in the escape
            assert time.monotonic() < deadline, daemon.output()
            time.sleep(0.02)
        assert daemon.call("freeclient")[0]["state"] == "running"
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(10)
        elapsed = time.monotonic() - started
        assert daemon.proc.returncode == 0, daemon.output()
        assert elapsed < 1.0, f"took {elapsed:.2f} s"
        assert "Traceback" not in daemon.output()
    finally:
        daemon.close()

def test_modbus_test_of_a_slave_the_daemon_has_not_loaded_names_reload(daemon, udp_ports):
    daemon.wait_up()
    (daemon.dir / "bacrouter" / "modbus").mkdir(parents=True, exist_ok=True)
    (daemon.dir / "bacrouter" / "modbus" / "meter.json").write_text(json.dumps([
        {"name": "a", "object_type": "ai", "address_type": "holding", "address": 0, "instance": 1}]))
    daemon.write(config_text(*udp_ports) + "\nconfig modbus_master 'gw'\n\toption protocol 'tcp'\n"
                 "\toption host '127.0.0.1'\n\toption port '1502'\n\nconfig modbus_slave 'meter'\n"
                 "\toption master 'gw'\n\toption station '3'\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "bacrouter", "modbus", "test", "meter", "--config-dir",
                             str(daemon.dir)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "has not loaded it yet" in result.stderr and "bacrouter reload" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_reload_command_says_what_it_did(daemon, udp_ports):
    daemon.wait_up()
    daemon.write(config_text(*udp_ports, network2=7))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "bacrouter", "reload", "--config-dir", str(daemon.dir)],
                          capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "reloaded; restarted: bip 'two'; unchanged: bip 'one'"


def test_any_method_runs_as_a_job_watched_and_cancelled(daemon):
    daemon.wait_up()
    started = daemon.call("job_start", {"method": "routes", "params": {"limit": 5}})
    for _ in range(100):
        view = daemon.call("job", started)
        if view["state"] != "running":
            break
        time.sleep(0.05)
    assert view["state"] == "done" and view["result"] == daemon.call("routes", {"limit": 5})
    # a Who-Is waiting 20 s is stopped at once by job_cancel
    waiting = daemon.call("job_start", {"method": "discover", "params": {"wait": 20}})
    assert daemon.call("job_cancel", waiting)["id"] == waiting["id"]
    for _ in range(100):
        view = daemon.call("job", waiting)
        if view["state"] != "running":
            break
        time.sleep(0.05)
    assert view["state"] == "cancelled", view
    assert [job["id"] for job in daemon.call("jobs")] == [started["id"], waiting["id"]]
    with pytest.raises(ControlError) as info:
        daemon.call("job_start", {"method": "job_cancel"})
    assert info.value.code == "bad_params"
    assert daemon.proc.poll() is None and "Traceback" not in daemon.output()
