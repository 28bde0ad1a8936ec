"""``bacrouter modbus``: plan, Read Group test, import and export of the original device files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bacrouter.cli import main

from .modbus_harness import free_port, tcp_master, write_config
from .netns import ROOT, wait_for

ORIGINAL = {
    "name": "Siemens RDF302",
    "description": "room thermostat",
    "enable": 1,
    "station": 12,
    "timeout_ms": 800,
    "update_ms": 2000,
    "baudrate": 9600,
    "parity": "N",
    "ascii": False,
    "group_reg": 32,
    "unused_reg": 4,
    "single_write_reg": True,
    "float_little_endian": 0,
    "vendor_note": "kept as it was",
    "points": [
        {"name": "room_temp", "object_type": "ai", "address_type": "input", "address": 0, "data_type": "s16",
         "scale": 0.1, "unit": 62, "instance": 1, "cov_increment": 0.2, "x-ui": {"col": 3}},
        {"name": "setpoint", "object_type": "av", "address_type": "holding", "address": 10, "scale": 0.5,
         "instance": 2},
        {"name": "fan", "object_type": "mv", "address_type": "holding", "address": 11, "instance": 1,
         "state_texts": ["auto", "low", "high"], "state_values": [0, 1, 3]},
    ],
}


@pytest.fixture
def paths(tmp_path):
    return write_config(tmp_path, tcp_master("gw", 1502), {})


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_plan_of_a_device_file_follows_the_seeds_coil_example(tmp_path, capsys):
    for skipped, requests in ((1998, 1), (1997, 2)):
        device = {"unused_bit": skipped, "points": [
            {"name": "c1", "object_type": "bi", "address_type": "coil", "address": 1},
            {"name": "c2000", "object_type": "bi", "address_type": "coil", "address": 2000}]}
        path = tmp_path / f"coils-{skipped}.json"
        path.write_text(json.dumps(device))
        code, out, _ = run(capsys, "modbus", "plan", str(path), "--json")
        assert code == 0
        plan = json.loads(out)["requests"]
        assert len(plan) == requests
        assert plan[0] == ({"function": 1, "address": 1, "count": 2000} if requests == 1
                           else {"function": 1, "address": 1, "count": 1})


def test_import_then_export_gives_the_file_back(paths, tmp_path, capsys):
    source = tmp_path / "rdf302.json"
    source.write_text(json.dumps(ORIGINAL, indent=4))
    code, out, err = run(capsys, "modbus", "import", str(source), "--master", "gw", "--config-dir", str(paths.root))
    assert code == 0, err
    assert "imported modbus_slave 'Siemens_RDF302'" in out and "3 point(s)" in out
    uci_text = paths.uci_file.read_text()
    assert "config modbus_slave 'Siemens_RDF302'" in uci_text and "option single_write_reg '1'" in uci_text
    # a TCP master: the serial settings do not apply, they are left out and the report says so
    assert "option parity" not in uci_text and "option 'parity' dropped: a TCP master has no serial settings" in out
    code, out, _ = run(capsys, "modbus", "export", "Siemens_RDF302", "--config-dir", str(paths.root))
    assert code == 0
    assert json.loads(out) == ORIGINAL
    # a change made in UCI comes out in the file's own spelling
    paths.uci_file.write_text(uci_text.replace("option station '12'", "option station '14'")
                              .replace("option single_write_reg '1'", "option single_write_reg '0'"))
    code, out, _ = run(capsys, "modbus", "export", "Siemens_RDF302", "--config-dir", str(paths.root))
    exported = json.loads(out)
    assert exported["station"] == 14 and exported["single_write_reg"] is False
    assert exported["points"] == ORIGINAL["points"] and exported["vendor_note"] == "kept as it was"


def test_a_broken_file_is_not_imported_and_nothing_changes(paths, tmp_path, capsys):
    before = paths.uci_file.read_bytes()
    broken = dict(ORIGINAL, points=[dict(ORIGINAL["points"][0], data_type="float", address_type="coil")])
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(broken))
    code, out, err = run(capsys, "modbus", "import", str(source), "--master", "gw", "--config-dir", str(paths.root))
    assert code == 1
    assert "needs registers, not a coil" in out and "not imported" in err
    assert paths.uci_file.read_bytes() == before
    assert not (paths.data_dir / "modbus" / "Siemens_RDF302.json").exists()
    code, _, err = run(capsys, "modbus", "import", str(tmp_path / "missing.json"), "--master", "gw",
                       "--config-dir", str(paths.root))
    assert code == 1 and "missing.json" in err


def test_read_group_test_without_the_daemon(tmp_path, capsys):
    port = free_port()
    ready = tmp_path / "ready"
    peer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "peers" / "modbus_peer.py"), "--tcp",
                             f"127.0.0.1:{port}", "--unit", "3", "--ready", str(ready)],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.DEVNULL)
    try:
        wait_for(ready.exists, 20, "the Modbus peer")
        points = [{"name": "a", "object_type": "ai", "address_type": "holding", "address": 0, "instance": 1},
                  {"name": "b", "object_type": "ai", "address_type": "holding", "address": 1, "instance": 2},
                  {"name": "c", "object_type": "bi", "address_type": "coil", "address": 4, "instance": 1}]
        paths = write_config(tmp_path, tcp_master("gw", port) +
                             "\nconfig modbus_slave 'meter'\n\toption master 'gw'\n\toption station '3'\n",
                             {"meter": points})
        code, out, _ = run(capsys, "modbus", "plan", "meter", "--config-dir", str(paths.root))
        assert code == 0 and "2 request(s) per poll" in out and "a, b" in out
        code, out, err = run(capsys, "modbus", "test", "meter", "--json", "--config-dir", str(paths.root))
        assert code == 0, err
        result = json.loads(out)
        assert [(r["function"], r["address"], r["count"], r["result"]) for r in result["requests"]] == [
            (1, 4, 1, "ok"), (3, 0, 2, "ok")]
    finally:
        peer.kill()
        peer.wait()
    # the device gone: every request reported as failed, and the command says so
    code, out, _ = run(capsys, "modbus", "test", "meter", "--config-dir", str(paths.root))
    assert code == 1 and "failed" in out


def test_unknown_slave(paths, capsys):
    assert main(["modbus", "plan", "nobody", "--config-dir", str(paths.root)]) == 1
    assert "no modbus_slave 'nobody'" in capsys.readouterr().err


KILL_AT_STEP = """
import os, sys
from bacrouter.cli import main
from bacrouter.config import transaction
kill_at, calls = int(sys.argv[1]), [0]
def step(name):
    calls[0] += 1
    if calls[0] == kill_at:
        os._exit(9)  # the power cut: no cleanup, no finally
transaction.step_hook = step
raise SystemExit(main(sys.argv[2:]))
"""


def test_import_survives_a_kill_at_any_point(paths, tmp_path, capsys):
    """Killed at each step of the change in turn, the configuration loads old or new, never a mix, and the
    import can be redone (the import is one config.transaction change)."""
    from bacrouter.loader import load_config
    from bacrouter.modbus.schema import ModbusSlave

    source = tmp_path / "rdf302.json"
    source.write_text(json.dumps(ORIGINAL, indent=4))
    argv = ["modbus", "import", str(source), "--master", "gw", "--config-dir", str(paths.root)]
    clean_uci = paths.uci_file.read_bytes()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    completed = False
    for kill_at in range(1, 20):
        paths.uci_file.write_bytes(clean_uci)
        (paths.data_dir / "modbus" / "Siemens_RDF302.json").unlink(missing_ok=True)
        killed = subprocess.run([sys.executable, "-c", KILL_AT_STEP, str(kill_at), *argv],
                                capture_output=True, text=True, env=env)
        config, problems = load_config(paths)
        assert config is not None and not [p for p in problems if p.severity == "error"], (kill_at, problems)
        slaves = {s.name: s for s in config.sections_of(ModbusSlave)}
        if killed.returncode == 0:  # it got through every step: the kill point is past the end
            assert len(slaves["Siemens_RDF302"].point_list) == 3
            completed = True
            break
        assert killed.returncode == 9, killed.stderr
        if "Siemens_RDF302" in slaves:  # killed after the commit point: rolled forward, complete
            assert len(slaves["Siemens_RDF302"].point_list) == 3, f"killed at step {kill_at}: half imported"
            continue
        assert not (paths.data_dir / "modbus" / "Siemens_RDF302.json").exists(), f"killed at step {kill_at}: a mix"
        # and the same import, redone, goes through
        code, out, err = run(capsys, *argv)
        assert code == 0, (kill_at, err)
        config, problems = load_config(paths)
        assert len(next(s for s in config.sections_of(ModbusSlave) if s.name == "Siemens_RDF302").point_list) == 3
    assert completed


def test_import_validates_before_it_writes_anything(paths, tmp_path, capsys, monkeypatch):
    """A file with errors never reaches the configuration: not even for a moment (no write, no rename)."""
    writes = []
    monkeypatch.setattr("bacrouter.config.uci.write_atomic", lambda path, *a, **k: writes.append(path))
    monkeypatch.setattr("bacrouter.config.transaction.commit", lambda paths, changes, **k: writes.append(changes))
    broken = dict(ORIGINAL, points=[dict(ORIGINAL["points"][0], data_type="float", address_type="coil")])
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(broken))
    code, out, err = run(capsys, "modbus", "import", str(source), "--master", "gw", "--config-dir", str(paths.root))
    assert code == 1 and "needs registers, not a coil" in out
    assert str(paths.data_dir / "modbus" / "Siemens_RDF302.json") in out  # located in the file as it would be named
    assert writes == []
