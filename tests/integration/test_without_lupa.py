"""A router without python3-lupa (the optional C extension): it routes, serves Modbus and answers its tools;
Free Client buses and ``o...`` conversions say that python3-lupa is needed, in check, status and the log.

lupa is made unimportable for the daemon and the CLI by a ``lupa.py`` first on PYTHONPATH that raises
ImportError, as a router without the package behaves.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bacrouter.control import ControlError, call

from ..peers.modbus_peer import SlavePeer, tcp_server
from .modbus_harness import free_port, point, slave, tcp_master

ROOT = Path(__file__).resolve().parents[2]
NEEDED = "python3-lupa (Lua 5.4 for Python) is not installed"


@pytest.fixture
def no_lupa_env(tmp_path):
    shadow = tmp_path / "no-lupa"
    shadow.mkdir()
    (shadow / "lupa.py").write_text('raise ImportError("no module named lupa (python3-lupa is not installed)")\n')
    return dict(os.environ, PYTHONPATH=f"{shadow}{os.pathsep}{ROOT}")


@pytest.fixture
def modbus_slave():
    """A pymodbus TCP slave (unit 1) in a thread of its own: the daemon under test is another process."""
    peer, port = SlavePeer(1), free_port()
    peer.set("holding", 0, 1234, 0x0105)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    servers = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        servers.append(loop.run_until_complete(tcp_server([peer], "127.0.0.1", port)))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    yield port
    asyncio.run_coroutine_threadsafe(servers[0].shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def layout(root: Path, modbus_port: int, udp: int) -> None:
    (root / "config").mkdir(parents=True)
    (root / "bacrouter" / "modbus").mkdir(parents=True)
    (root / "bacrouter" / "freeclient").mkdir()
    (root / "bacrouter" / "conversions").mkdir()
    (root / "bacrouter" / "resource.conf").write_text(json.dumps({
        "loop": {"type": "ETH", "ifname": "lo"}, "RS485-1": {"type": "USB", "ifname": str(root / "no-tty")}}))
    (root / "config" / "bacrouter").write_text(
        "config bacrouter 'main'\n\toption device_instance '4200'\n\n"
        f"config bip 'one'\n\toption resource 'loop'\n\toption network '1'\n\toption udp_port '{udp}'\n"
        + tcp_master("plc", modbus_port) + slave("meter", "plc")
        + "\nconfig freeclient_bus 'fc1'\n\toption resource 'RS485-1'\n\toption script 'modbus_rtu.lua'\n")
    (root / "bacrouter" / "modbus" / "meter.json").write_text(json.dumps({"points": [
        point("energy", "ai", "holding", 0, 1),
        point("flow", "ai", "holding", 1, 2, data_type="obcd"),
    ]}))
    (root / "bacrouter" / "freeclient" / "fc1.json").write_text(json.dumps({
        "name": "fc1", "tag": "update_interval=200", "type": 1, "baudrate": 9600, "fcdevices": [
            {"name": "plc", "tag": "unit=3", "instance": 9001,
             "fcpoints": [{"name": "temp", "object_type": "ai", "instance": 1, "tag": "reg=10"}]}]}))
    (root / "bacrouter" / "conversions" / "mine.lua").write_text(
        "return {registers = 1, decode = function(r) return r[1] end}\n")


def bacrouter(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bacrouter", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_lupa_really_is_missing_in_the_subprocesses(no_lupa_env):
    probe = subprocess.run([sys.executable, "-c", "import bacrouter.lua as l; print(l.lua_missing())"],
                           env=no_lupa_env, capture_output=True, text=True, timeout=30)
    assert NEEDED in probe.stdout, probe.stderr


def test_check_warns_for_each_lua_part_and_passes(tmp_path, no_lupa_env, modbus_slave):
    layout(tmp_path, modbus_slave, free_port())
    done = bacrouter(no_lupa_env, "check", "--config-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "error(s)" not in out or "0 error(s)" in out, out
    lines = [line for line in out.splitlines() if NEEDED in line]
    assert any("freeclient_bus 'fc1'" in line and "does not run" in line for line in lines), out
    assert any("'flow'" in line and "obcd" in line and "not polled" in line for line in lines), out
    assert any("mine.lua" in line for line in lines), out
    assert all("warning" in line for line in lines), out
    # --strict turns the warnings into a failure, as for any warning
    assert bacrouter(no_lupa_env, "check", "--strict", "--config-dir", str(tmp_path)).returncode != 0


def test_the_daemon_routes_and_serves_modbus_and_says_what_needs_lupa(tmp_path, no_lupa_env, modbus_slave):
    layout(tmp_path, modbus_slave, free_port())
    log = open(tmp_path / "daemon.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(tmp_path)],
                            stdout=log, stderr=subprocess.STDOUT, env=no_lupa_env)
    sock = tmp_path / "run" / "control.sock"
    try:
        deadline = time.monotonic() + 30
        meter = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
            try:
                ports = call(sock, "ports")
                masters = call(sock, "modbus")
                meter = masters[0]["slaves"][0]
                if all(p["state"] == "up" for p in ports) and meter["online"]:
                    break
            except (OSError, ControlError, IndexError, KeyError):
                pass
            time.sleep(0.2)
        assert meter is not None and meter["online"], (tmp_path / "daemon.log").read_text()
        assert meter["points"] == 1  # 'energy' polled, 'flow' (obcd) left out
        status = call(sock, "status")
        assert status["freeclient"]["not_running"] == 1 and NEEDED in status["freeclient"]["reason"]
        (bus,) = call(sock, "freeclient")
        assert bus["name"] == "fc1" and bus["state"] == "unavailable" and NEEDED in bus["reason"]
        human = bacrouter(no_lupa_env, "status", "--config-dir", str(tmp_path))
        assert human.returncode == 0, human.stderr
        reloaded = call(sock, "reload")
        assert reloaded["ok"], reloaded
        assert any(NEEDED in w for w in reloaded["warnings"])
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        log.close()
    text = (tmp_path / "daemon.log").read_text()
    assert "Traceback" not in text, text
    assert "freeclient_bus 'fc1' not started" in text and NEEDED in text, text
