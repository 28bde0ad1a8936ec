"""`bacrouter check` loads every Free Client bus script in its sandbox before the daemon starts, and refuses a
writable object on a read-only address (issue 10, item 6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bacrouter.config import Paths
from bacrouter.loader import load_config

ROOT = Path(__file__).resolve().parents[2]

HEADER = "\nconfig bacrouter 'main'\n\toption device_instance '4001'\n"
GOOD = "return swg.interface_rs485, function(ctx) end"


def configure(root: Path, scripts: dict[str, str], points: dict[str, list[dict]] | None = None) -> Paths:
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "bacrouter" / "freeclient").mkdir(parents=True, exist_ok=True)
    uci = HEADER
    for name, text in scripts.items():
        uci += f"\nconfig freeclient_bus '{name}'\n\toption resource 'RS485-1'\n\toption script '{name}.lua'\n"
        (root / "bacrouter" / "freeclient" / f"{name}.lua").write_text(text)
        fcpoints = (points or {}).get(name) or [{"name": "p", "object_type": "av", "instance": 1}]
        (root / "bacrouter" / "freeclient" / f"{name}.json").write_text(json.dumps(
            {"fcdevices": [{"name": "d", "instance": 1, "tag": "slave=1", "fcpoints": fcpoints}]}))
    (root / "config" / "bacrouter").write_text(uci)
    (root / "bacrouter" / "resource.conf").write_text(json.dumps({"RS485-1": {"type": "USB", "ifname": "/dev/null"}}))
    return Paths(root)


def errors(paths: Paths) -> list[str]:
    _, problems = load_config(paths)
    return [f"{p.section}: {p.message}" for p in problems if p.severity == "error"]


def test_every_bus_script_must_load_and_return_a_mask_and_init(tmp_path):
    paths = configure(tmp_path, {
        "good": GOOD,
        "syntax": "return swg.interface_rs485, function(ctx) end end",
        "noinit": "return swg.interface_rs485",
        "raises": "local t = nil; t.x = 1; return swg.interface_rs485, function() end",
        "tcp": "return swg.interface_tcp, function(ctx) end",
        "original": "local e = swg.rs485error_noreply; return swg.interface_rs485, function(ctx) print(e) end",
    })
    found = errors(paths)
    assert not [e for e in found if "'good'" in e or "'original'" in e], found
    assert any("'syntax'" in e and "syntax.lua" in e for e in found), found
    assert any("'noinit'" in e and "must return interface_mask, init" in e for e in found), found
    assert any("'raises'" in e and "attempt to index" in e for e in found), found
    assert any("'tcp'" in e and "does not speak RS485" in e for e in found), found


def test_a_writable_object_on_a_read_only_address_is_refused(tmp_path):
    points = {"meter": [
        {"name": "energy", "object_type": "av", "instance": 1, "tag": "func_code=4, addr=0, datatype=\"f32\""},
        {"name": "energy_ro", "object_type": "av", "instance": 2, "value_type": 1, "tag": "func_code=4, addr=2"},
        {"name": "alarm", "object_type": "bo", "instance": 1, "tag": "fc=2, reg=0"},
        {"name": "alarm_in", "object_type": "bi", "instance": 2, "tag": "fc=2, reg=1"},
        {"name": "setpoint", "object_type": "ao", "instance": 3, "tag": "func_code=3, addr=4"},
        {"name": "odd", "object_type": "av", "instance": 4, "tag": "this is not lua"},
    ]}
    found = errors(configure(tmp_path, {"meter": GOOD}, points))
    assert len(found) == 2, found
    assert "point 'energy': a writable av on a read-only address (function 4, input register)" in found[0]
    assert "value_type 1" in found[0]
    assert "point 'alarm': a writable bo on a read-only address (function 2, discrete input)" in found[1]


def test_bacrouter_check_reports_a_broken_script_before_the_daemon_starts(tmp_path):
    configure(tmp_path, {"broken": "return swg.interface_rs485"})
    out = subprocess.run([sys.executable, "-m", "bacrouter", "check", "--config-dir", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 1 and "must return interface_mask, init" in out.stdout, out
    # (a plain router's check loads no lupa: test_architecture::test_check_of_a_plain_router_loads_neither...)


def test_a_line_named_only_in_the_definition_file_is_checked_like_the_option(tmp_path):
    """A bus file (the original's export format) may name its RS485 line itself: that line is the bus's too,
    so a Modbus master on it is refused, and an unknown one is said."""
    root = tmp_path
    (root / "config").mkdir()
    (root / "bacrouter" / "freeclient").mkdir(parents=True)
    (root / "bacrouter" / "resource.conf").write_text(json.dumps({"RS485-1": {"type": "USB", "ifname": "/dev/null"},
                                                                  "RS485-2": {"type": "USB", "ifname": "/dev/zero"}}))
    (root / "config" / "bacrouter").write_text(
        "config bacrouter 'main'\n\toption device_instance '10'\n\n"
        "config freeclient_bus 'heat'\n\toption script 'mbus.lua'\n\n"
        "config freeclient_bus 'lost'\n\toption script 'mbus.lua'\n\n"
        "config modbus_master 'm'\n\toption protocol 'rtu'\n\toption resource 'RS485-1'\n")
    for name, line in (("heat", "RS485-1"), ("lost", "RS485-9")):
        (root / "bacrouter" / "freeclient" / f"{name}.json").write_text(json.dumps(
            {"name": name, "interface": 0, "resource": line, "devices": []}))
    found = errors(Paths(root))
    assert any("freeclient_bus 'heat'" in e and "RS485-1" in e and "already used by modbus_master 'm'" in e
               for e in found) or any("modbus_master 'm'" in e and "already used by freeclient_bus 'heat'" in e
                                      for e in found), found
    assert any("freeclient_bus 'lost'" in e and "unknown resource 'RS485-9'" in e for e in found), found
