"""`make run` on a fresh machine: a router on the default configuration that a bacpypes3 client discovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bacrouter.control import ControlError, call

from .netns import ROOT, Network, needs_netns

pytestmark = needs_netns()


def test_make_run_is_discovered_by_a_bacpypes3_client(tmp_path):
    net = Network(tmp_path, "m")
    try:
        net.segment("s7")
        machine = net.host("dev", {"s7": "10.71.7.1"}, gateway="10.71.7.254")
        client = net.host("cl", {"s7": "10.71.7.2"})
        run_dir = tmp_path / "run"
        venv = Path(sys.prefix) if sys.prefix != sys.base_prefix else ROOT / ".venv"
        make = machine.popen(["make", "-C", str(ROOT), "run", f"RUN_DIR={run_dir}", f"VENV={venv}"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and status is None:
            assert make.poll() is None, make.stdout.read().decode()
            try:
                status = call(run_dir / "run" / "control.sock", "status")
            except (OSError, ControlError):
                time.sleep(0.2)
        assert status is not None, "make run never served its control socket"
        assert [(p["name"], p["state"], p["address"]) for p in status["ports"]] == [("bip0", "up", "10.71.7.1:47808")]
        found = client.peer("whois", "s7", 1007)
        assert found == [{"device": status["device"]["instance"], "source": "10.71.7.1"}]
        name = client.peer("read", "s7", 1007, "--target", "10.71.7.1",
                           "--object", f"device,{status['device']['instance']}", "--property", "object-name")
        assert name.startswith("BACRouter-") and name == status["device"]["name"]
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(10)
    finally:
        net.close()
