"""The router configuration file: export, import (checked, as one change, undoable), versions, secrets, offline
(issue 12, items 1 and 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bacrouter import configfile
from bacrouter.cli import main
from bacrouter.config import Paths, transaction, uci
from bacrouter.configfile import (
    ConfigFileError,
    apply_import,
    export_router,
    plan_import,
    read_document,
    undo_import,
)
from bacrouter.loader import load_config

ROOT = Path(__file__).resolve().parents[2]
BOM = b"\xef\xbb\xbf"

UCI = """
config bacrouter 'main'
\toption device_instance '4001'
\toption device_name 'Site-A'

config panel 'panel'
\toption password_hash '$6$salt$secrethash'

config bip 'lan'
\toption resource 'eth0'
\toption network '1'
\tlist bdt '10.0.0.1'
\tlist bdt '10.0.0.2'

config mstp
\toption resource 'RS485-2'
\toption network '2'

config modbus_master 'm1'
\toption resource 'RS485-1'

config modbus_slave 'boiler'
\toption master 'm1'
\toption station '3'
\toption block '10'

config freeclient_bus 'meters'
\toption resource 'RS485-3'
\toption script 'meters.lua'
"""
RESOURCES = {"eth0": {"type": "ETH", "ifname": "br-lan-nothere"}, "RS485-1": {"type": "USB", "ifname": "/dev/ttyNOPE1"},
             "RS485-2": {"type": "USB", "ifname": "/dev/ttyNOPE2"}, "RS485-3": {"type": "USB", "ifname": "/dev/ttyNOPE3"}}
POINTS = {"points": [{"name": "flow", "object_type": "ai", "address_type": "holding", "address": 0, "instance": 1},
                     {"name": "pump", "object_type": "bo", "address_type": "coil", "address": 0, "instance": 1}]}
BUS = {"fcdevices": [{"name": "d", "instance": 1, "tag": "slave=1",
                      "fcpoints": [{"name": "p", "object_type": "av", "instance": 1}]}]}
SCRIPT = "return swg.interface_rs485, function(ctx) end\n"
CONVERSION = "-- a conversion\n"
LIBRARY = {"state_texts": {"Off/On": ["Off", "On"]}, "units": ["percent"]}


def configure(root: Path, bom: bool = False) -> Paths:
    paths = Paths(root)
    (paths.data_dir / "modbus").mkdir(parents=True)
    (paths.data_dir / "freeclient").mkdir()
    (paths.data_dir / "conversions").mkdir()
    paths.uci_dir.mkdir(parents=True)
    paths.uci_file.write_text(UCI)
    paths.resource_file.write_text(json.dumps(RESOURCES))
    (paths.data_dir / "modbus" / "boiler.json").write_bytes((BOM if bom else b"") + json.dumps(POINTS).encode())
    (paths.data_dir / "freeclient" / "meters.json").write_bytes((BOM if bom else b"") + json.dumps(BUS).encode())
    (paths.data_dir / "freeclient" / "meters.lua").write_text(SCRIPT)
    (paths.data_dir / "library.json").write_text(json.dumps(LIBRARY))
    return paths


def canonical(paths: Paths) -> str:
    return uci.dumps(uci.load(paths.uci_file))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "previous" not in p.parts}


def imported(paths: Paths, document: dict) -> configfile.ImportResult:
    plan = plan_import(paths, document)
    assert plan.ok, [str(p) for p in plan.problems]
    return apply_import(paths, plan)


@pytest.mark.parametrize("bom", [False, True])
def test_export_then_import_on_an_empty_config_gives_the_same_configuration(tmp_path, bom):
    source = configure(tmp_path / "a", bom)
    document = export_router(source, with_secrets=True)
    target = Paths(tmp_path / "b")
    result = imported(target, json.loads(json.dumps(document)))
    assert result.reload == {"state": "not running"}
    assert canonical(target) == canonical(source)  # byte for byte in UCI canonical form
    for name in ("modbus/boiler.json", "freeclient/meters.json", "library.json", "resource.conf"):
        assert json.loads((target.data_dir / name).read_text()) == json.loads(
            (source.data_dir / name).read_bytes().decode("utf-8-sig")), name
    assert (target.data_dir / "freeclient" / "meters.lua").read_text() == SCRIPT
    # the same configuration: exporting it again gives the same document, and importing it again changes nothing
    assert export_router(target, with_secrets=True) == document
    assert plan_import(target, document).files == {}


def test_a_bom_router_file_reads_like_one_without(tmp_path):
    document = export_router(configure(tmp_path / "a"))
    raw = json.dumps(document).encode()
    assert read_document(BOM + raw)[0] == read_document(raw)[0] == document


def test_a_syntax_error_has_its_line_and_column():
    with pytest.raises(ConfigFileError, match=r"x\.json:3:5: "):
        read_document(b'{\n "format": "bacrouter-router",\n    ,\n}', "x.json")


def test_the_difference_is_reported_and_a_dry_run_changes_nothing(tmp_path, capsys):
    paths = configure(tmp_path)
    document = export_router(paths)
    document["uci"][0]["options"]["device_name"] = "Site-B"
    document["files"]["modbus/boiler.json"]["json"]["points"][0]["scale"] = 0.1
    document["files"]["modbus/boiler.json"]["json"]["points"].append(
        {"name": "temp", "object_type": "ai", "address_type": "input", "address": 5, "instance": 2})
    document["uci"] = [s for s in document["uci"] if s["type"] != "mstp"]
    before = snapshot(tmp_path)
    plan = plan_import(paths, document)
    shown = {str(c) for c in plan.changes}
    assert "changed bacrouter 'main': option device_name 'Site-A' → 'Site-B'" in shown
    assert "changed modbus_slave 'boiler': points added: temp; points changed: flow" in shown
    assert any(c.action == "removed" and c.what.startswith("mstp ") for c in plan.changes)
    assert plan.summary["points"] == {"added": 1, "changed": 1, "removed": 0}
    assert plan.summary["slave"]["changed"] == 1
    code = main(["--config-dir", str(tmp_path), "import", "--dry-run", str(_write(tmp_path / "r.json", document))])
    out = capsys.readouterr().out
    assert code == 0 and "Site-B" in out and "dry run" in out
    assert snapshot(tmp_path) == {**before, "r.json": (tmp_path / "r.json").read_bytes()}


def _write(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_import_replaces_the_whole_configuration_and_undo_restores_it(tmp_path):
    paths = configure(tmp_path / "a")
    (paths.data_dir / "conversions" / "old.lua").write_text(CONVERSION)
    before = snapshot(tmp_path / "a")
    other = Paths(tmp_path / "b")
    other.uci_dir.mkdir(parents=True)
    other.data_dir.mkdir(parents=True)
    other.uci_file.write_text("config bacrouter 'main'\n\toption device_instance '7'\n\nconfig vbus 'v'\n"
                              "\toption network '9'\n")
    other.resource_file.write_text("{}")
    result = imported(paths, export_router(other))
    assert not (paths.data_dir / "modbus" / "boiler.json").exists()  # the old configuration's files are gone
    assert not (paths.data_dir / "conversions" / "old.lua").exists()
    assert not (paths.data_dir / "library.json").exists()
    assert str(paths.uci_file) in result.files
    undone = undo_import(paths)
    assert undone.reload == {"state": "not running"}
    assert snapshot(tmp_path / "a") == before


def test_a_configuration_with_errors_is_not_imported(tmp_path):
    paths = configure(tmp_path)
    before = snapshot(tmp_path)
    document = export_router(paths)
    document["uci"].append({"type": "bip", "name": "dup", "options": {"resource": "eth0", "network": "1"}})
    plan = plan_import(paths, document)
    assert not plan.ok
    assert any("network number 1 is already used" in p.message and p.file == str(paths.uci_file)
               for p in plan.problems)
    with pytest.raises(ConfigFileError, match="has errors"):
        apply_import(paths, plan)
    assert snapshot(tmp_path) == before


def test_a_plan_is_refused_when_the_configuration_changed_since(tmp_path):
    paths = configure(tmp_path)
    document = export_router(paths)
    document["uci"][0]["options"]["device_name"] = "Site-B"
    plan = plan_import(paths, document)
    paths.uci_file.write_text(UCI + "\nconfig vbus 'v'\n\toption network '5'\n")
    with pytest.raises(ConfigFileError, match="changed since"):
        apply_import(paths, plan)


def test_a_file_from_a_newer_format_version_is_refused(tmp_path, capsys):
    paths = configure(tmp_path)
    document = export_router(paths)
    document["format_version"] = configfile.FORMAT_VERSION + 1
    document["bacrouter_version"] = "9.0"
    before = snapshot(tmp_path)
    with pytest.raises(ConfigFileError, match=r"written by bacrouter 9\.0 in router file format version 2; this "
                                              r"bacrouter \(.*\) reads versions up to 1: update bacrouter"):
        read_document(json.dumps(document).encode())
    code = main(["--config-dir", str(tmp_path), "import", str(_write(tmp_path / "new.json", document))])
    assert code == 1 and "update bacrouter" in capsys.readouterr().err
    assert snapshot(tmp_path) == {**before, "new.json": (tmp_path / "new.json").read_bytes()}


def test_an_older_format_version_is_migrated(tmp_path, monkeypatch):
    paths = configure(tmp_path)
    document = export_router(paths)
    old = dict(document, format_version=1)
    old["sections"] = old.pop("uci")  # as a (made-up) version 1 called it
    monkeypatch.setattr(configfile, "FORMAT_VERSION", 2)
    monkeypatch.setitem(configfile.MIGRATIONS, 1, lambda d: {**{k: v for k, v in d.items() if k != "sections"},
                                                             "uci": d["sections"]})
    migrated, since = read_document(json.dumps(old).encode())
    assert since == 1 and migrated["format_version"] == 2 and migrated["uci"] == document["uci"]
    assert plan_import(paths, migrated, since).migrated_from == 1


def test_secrets_are_left_out_unless_asked_for_and_an_import_keeps_the_routers_own(tmp_path):
    paths = configure(tmp_path / "a")
    plain = export_router(paths)
    panel = next(s for s in plain["uci"] if s["type"] == "panel")
    assert "password_hash" not in panel["options"] and plain["secrets"] is False
    assert "secrethash" not in json.dumps(plain)
    full = export_router(paths, with_secrets=True)
    assert next(s for s in full["uci"] if s["type"] == "panel")["options"]["password_hash"] == "$6$salt$secrethash"
    # importing a file without secrets keeps the router's password
    target = configure(tmp_path / "b")
    text = target.uci_file.read_text().replace("secrethash", "otherhash")
    target.uci_file.write_text(text)
    plan = plan_import(target, plain)
    assert any("kept this router's panel password_hash" in n for n in plan.notes)
    apply_import(target, plan)
    assert "otherhash" in target.uci_file.read_text()


def test_export_and_import_on_the_command_line(tmp_path, capsys):
    paths = configure(tmp_path / "a")
    out = tmp_path / "router.json"
    assert main(["--config-dir", str(paths.root), "export", "-o", str(out)]) == 0
    assert "secrethash" not in out.read_text()
    assert main(["--config-dir", str(paths.root), "export", "-o", str(tmp_path / "s.json"), "--with-secrets"]) == 0
    assert os.stat(tmp_path / "s.json").st_mode & 0o777 == 0o600  # it holds a password hash
    capsys.readouterr()
    assert main(["--config-dir", str(tmp_path / "b"), "import", str(out), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["imported"] and answer["ok"] and answer["reload"] == {"state": "not running"}
    assert answer["summary"]["slave"]["added"] == 1
    assert main(["--config-dir", str(tmp_path / "b"), "import", "--undo"]) == 0
    assert not (tmp_path / "b" / "config" / "bacrouter").exists()
    assert main(["--config-dir", str(tmp_path / "c"), "import", "--undo"]) == 1
    assert "no previous configuration" in capsys.readouterr().err


def test_unsafe_file_names_are_refused(tmp_path):
    paths = configure(tmp_path)
    for name in ("../escape.json", "/etc/passwd", "previous/manifest.json", "a//b", "resource.conf"):
        document = export_router(paths)
        document["files"][name] = {"text": "x"}
        with pytest.raises(ConfigFileError, match="not a file of the data directory"):
            plan_import(paths, document)


def test_a_file_outside_the_data_directory_is_carried_inside_it(tmp_path):
    paths = configure(tmp_path / "a")
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(POINTS))
    paths.uci_file.write_text(UCI.replace("\toption block '10'", f"\toption block '10'\n\toption points '{outside}'"))
    notes: list[str] = []
    document = export_router(paths, notes=notes)
    assert any("outside" in n for n in notes)
    slave = next(s for s in document["uci"] if s["type"] == "modbus_slave")
    assert slave["options"]["points"] == "external/boiler-points-elsewhere.json"
    target = Paths(tmp_path / "b")
    imported(target, document)
    assert json.loads((target.data_dir / "external" / "boiler-points-elsewhere.json").read_text()) == POINTS


def test_offline_check_with_missing_hardware_gives_warnings_not_errors(tmp_path, capsys):
    paths = configure(tmp_path)
    code = main(["--config-dir", str(tmp_path), "check", "--json"])
    answer = json.loads(capsys.readouterr().out)
    missing = [p for p in answer["problems"] if "is not on this machine" in p["message"]]
    assert {p["severity"] for p in missing} == {"warning"}
    assert any("/dev/ttyNOPE1" in p["message"] for p in missing)
    assert any("br-lan-nothere" in p["message"] for p in missing)
    assert any("ttyNOPE2" in p["message"] for p in missing)  # the MS/TP port's
    assert code == 0, answer
    # the import's check says the same
    plan = plan_import(paths, export_router(paths))
    assert plan.ok and any("is not on this machine" in p.message for p in plan.problems)
    _, problems = load_config(paths)  # the daemon's loader does not care: the port waits for its hardware
    assert not any("is not on this machine" in p.message for p in problems)


KILLER = """
import json, os, sys
from pathlib import Path
from bacrouter.config import Paths, transaction
from bacrouter.configfile import apply_import, plan_import
root, where, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seen = {"n": 0}
def hook(step):
    if step == where:
        seen["n"] += 1
        if seen["n"] == count:
            os.kill(os.getpid(), 9)
document = json.loads(Path(sys.argv[4]).read_text())
plan = plan_import(Paths(root), document)
assert plan.ok
transaction.step_hook = hook
apply_import(Paths(root), plan)
os._exit(3)
"""


def _killed_import(tmp_path: Path, where: str, count: int) -> tuple[dict, dict, dict]:
    paths = configure(tmp_path / "cfg")
    old = snapshot(paths.root)
    document = export_router(paths)
    document["uci"][0]["options"]["device_name"] = "Site-B"
    document["files"]["modbus/boiler.json"]["json"]["points"][0]["scale"] = 2
    document["files"]["freeclient/meters.lua"] = {"text": SCRIPT + "-- v2\n"}
    del document["library"]
    new_root = tmp_path / "expected"
    imported(configure(new_root), document)
    new = snapshot(new_root)
    (tmp_path / "doc.json").write_text(json.dumps(document))
    done = subprocess.run([sys.executable, "-c", KILLER, str(paths.root), where, str(count), str(tmp_path / "doc.json")],
                          cwd=ROOT, timeout=120)
    transaction.recover(paths)  # what every reader does first
    return old, new, {"code": done.returncode, "after": snapshot(paths.root)}


@pytest.mark.parametrize("where, count", [("staged", 1), ("staged", 3), ("journal written", 1), ("committed", 1),
                                          ("renamed", 1), ("renamed", 2), ("renamed", 4)])
def test_a_killed_import_leaves_the_old_or_the_new_configuration(tmp_path, where, count):
    old, new, run = _killed_import(tmp_path, where, count)
    assert run["code"] == -9
    expected = old if where in ("staged", "journal written") else new
    assert run["after"] == expected
    assert not list((tmp_path / "cfg").rglob("*" + transaction.STAGING + "*"))


# --------------------------------------------------------------------------- the original's JSON files (item 3)


def _problems(paths: Paths) -> list:
    return load_config(paths)[1]


@pytest.mark.parametrize("bom", [False, True])
def test_the_originals_files_read_with_or_without_a_bom(tmp_path, bom):
    paths = configure(tmp_path, bom)
    paths.resource_file.write_bytes((BOM if bom else b"") + json.dumps(RESOURCES).encode())
    config, problems = load_config(paths)
    assert not [p for p in problems if p.severity == "error"], [str(p) for p in problems]
    slave = config.components["modbus_slave"][0]
    assert [p.name for p in slave.point_list] == ["flow", "pump"]
    assert [d.name for d in config.components["freeclient_bus"][0].bus.devices] == ["d"]


def test_unknown_keys_are_warned_with_the_file_and_the_path_to_the_key(tmp_path):
    paths = configure(tmp_path)
    points = json.loads(json.dumps(POINTS))
    points["colour"] = "red"
    points["points"][1]["scael"] = 2
    (paths.data_dir / "modbus" / "boiler.json").write_text(json.dumps(points))
    bus = json.loads(json.dumps(BUS))
    bus["fcdevices"][0]["fcpoints"][0]["unti"] = "percent"
    bus["fcdevices"][0]["speed"] = 1
    (paths.data_dir / "freeclient" / "meters.json").write_text(json.dumps(bus))
    warnings = {(Path(p.file).name, p.message) for p in _problems(paths) if p.severity == "warning"}
    assert ("boiler.json", "unknown key 'colour'") in warnings
    assert ("boiler.json", "points[1] 'pump': unknown key 'scael'") in warnings
    assert ("meters.json", "fcdevices[0] 'd': unknown key 'speed'") in warnings
    assert ("meters.json", "fcdevices[0] 'd'.fcpoints[0] 'p': unknown key 'unti'") in warnings


def test_enable_false_is_honoured_at_every_level(tmp_path):
    paths = configure(tmp_path)
    points = json.loads(json.dumps(POINTS))
    points["points"][0]["enable"] = False
    points["points"][1]["enable"] = "0"
    (paths.data_dir / "modbus" / "boiler.json").write_text(json.dumps(points))
    bus = {"enable": False, **json.loads(json.dumps(BUS))}
    bus["fcdevices"].append({"name": "e", "enable": 0, "fcpoints": [{"name": "q", "object_type": "av",
                                                                     "enable": False}]})
    (paths.data_dir / "freeclient" / "meters.json").write_text(json.dumps(bus))
    config, problems = load_config(paths)
    assert [p.enabled for p in config.components["modbus_slave"][0].point_list] == [False, False]
    meters = config.components["freeclient_bus"][0]
    assert meters.enabled is False  # the bus file's own "enable": false
    assert [d.enabled for d in meters.bus.devices] == [True, False]
    assert meters.bus.devices[1].points[0].enabled is False
    # the section's option, where set, wins
    paths.uci_file.write_text(UCI.replace("\toption script 'meters.lua'", "\toption script 'meters.lua'\n"
                                                                           "\toption enabled '1'"))
    assert load_config(paths)[0].components["freeclient_bus"][0].enabled is True


def test_json_syntax_errors_have_a_line_and_a_column(tmp_path, capsys):
    paths = configure(tmp_path)
    (paths.data_dir / "modbus" / "boiler.json").write_bytes(BOM + b'{"points": [\n  {"name": "a",,}\n]}')
    problem = next(p for p in _problems(paths) if p.file.endswith("boiler.json"))
    assert problem.line == 2 and "(column 16)" in problem.message
    device = tmp_path / "device.json"
    device.write_bytes(b'{\n  "name": "x"\n  "points": []\n}')
    assert main(["--config-dir", str(tmp_path), "modbus", "import", str(device), "--master", "m1"]) == 1
    assert "device.json:3:3: Expecting ',' delimiter" in capsys.readouterr().err  # file:line:column
    device.write_bytes(BOM + json.dumps({"name": "bom_dev", **POINTS}).encode())
    assert main(["--config-dir", str(tmp_path), "modbus", "plan", str(device)]) == 0


def test_an_import_reloads_a_running_daemon(tmp_path):
    import socket
    import threading

    paths = configure(tmp_path / "a")
    document = export_router(paths)
    document["uci"][0]["options"]["device_name"] = "Site-B"
    paths.run_dir.mkdir(parents=True)
    asked = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(paths.control_socket))
        server.listen(1)

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                request = json.loads(conn.makefile().readline())
                asked.append(request["method"])
                conn.sendall(json.dumps({"id": request["id"], "result": {"ok": True, "summary": {"started": []}}})
                             .encode() + b"\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        result = imported(paths, document)
        thread.join(10)
    assert asked == ["reload"] and result.reload["state"] == "reloaded"
