"""The panel's staging of data files (points files, bus definitions, scripts) beside the UCI file."""

from __future__ import annotations

import json

import pytest

from bacrouter.panel.staging import BadPath, Staging, StaleBase
from bacrouter.paths import Paths

CONFIG = ("config bacrouter 'main'\n\toption device_instance '4100'\n\n"
          "config modbus_master 'm'\n\toption protocol 'tcp'\n\toption host '127.0.0.1'\n\toption port '1502'\n\n"
          "config modbus_slave 's'\n\toption master 'm'\n\toption block '1'\n")
POINT = {"name": "T1", "object_type": "AI", "address_type": "holding", "address": 0, "instance": 1}


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "bacrouter" / "modbus").mkdir(parents=True)
    (tmp_path / "bacrouter" / "resource.conf").write_text("{}")
    (tmp_path / "config" / "bacrouter").write_text(CONFIG)
    (tmp_path / "bacrouter" / "modbus" / "s.json").write_text(json.dumps({"points": [POINT]}))
    return Paths(tmp_path)


def points(paths_or_bytes) -> list:
    return json.loads(paths_or_bytes)["points"]


def test_a_staged_points_file_is_checked_with_the_rest_and_applied_as_one_change(paths):
    staging = Staging(paths)
    live = (paths.data_dir / "modbus" / "s.json").read_bytes()
    broken = {"points": [POINT, dict(POINT, name="T2", instance=2, address_type="nonsense")]}
    staging.save_data("modbus/s.json", json.dumps(broken))
    assert staging.active and staging.changes() == ["changed file modbus/s.json"]
    assert (paths.data_dir / "modbus" / "s.json").read_bytes() == live  # staged only
    assert points(staging.read_data("modbus/s.json"))[1]["name"] == "T2"
    assert "+++ staged/modbus/s.json" in staging.diff()
    checked = staging.validate()
    assert checked.errors and all(str(paths.data_dir / "modbus" / "s.json") == p.file for p in checked.errors), \
        [str(p) for p in checked.problems]
    result = staging.apply(reload=False)
    assert not result.ok and (paths.data_dir / "modbus" / "s.json").read_bytes() == live
    # fixed, together with a UCI edit: both land in one commit
    staging.save_data("modbus/s.json", json.dumps({"points": [POINT, dict(POINT, name="T2", instance=2)]}))
    package = staging.package()
    package.section("s").options["description"] = "boiler"
    staging.save(package)
    assert sorted(staging.changes()) == ["changed file modbus/s.json", "changed modbus_slave 's': description"]
    result = staging.apply(reload=False)
    assert result.ok, [str(p) for p in result.problems]
    assert [p["name"] for p in points((paths.data_dir / "modbus" / "s.json").read_bytes())] == ["T1", "T2"]
    assert "boiler" in paths.uci_file.read_text() and not staging.active and not staging.dir.exists()


def test_new_and_deleted_files(paths):
    staging = Staging(paths)
    staging.save_data("modbus/new.json", b'{"points": []}')
    assert staging.changes() == ["added file modbus/new.json"]
    staging.save_data("modbus/new.json", None)  # added then deleted: nothing to do
    assert staging.changes() == [] and staging.read_data("modbus/new.json") is None
    staging.save_data("modbus/s.json", None)
    assert staging.changes() == ["deleted file modbus/s.json"] and staging.read_data("modbus/s.json") is None
    # the slave's points file is gone: check says so, and nothing is deleted
    result = staging.apply(reload=False)
    assert not result.ok and (paths.data_dir / "modbus" / "s.json").is_file()
    package = staging.package()
    package.remove("s")
    staging.save(package)
    assert staging.apply(reload=False).ok
    assert not (paths.data_dir / "modbus" / "s.json").exists() and "modbus_slave" not in paths.uci_file.read_text()


def test_a_data_file_changed_underneath_refuses_the_apply(paths):
    staging = Staging(paths)
    staging.save_data("modbus/s.json", json.dumps({"points": [dict(POINT, name="Mine")]}))
    (paths.data_dir / "modbus" / "s.json").write_text(json.dumps({"points": [dict(POINT, name="Theirs")]}))
    with pytest.raises(StaleBase, match="s.json changed"):
        staging.apply(reload=False)
    assert points((paths.data_dir / "modbus" / "s.json").read_bytes())[0]["name"] == "Theirs"
    # a file that did not exist and appeared meanwhile counts too
    staging.revert()
    staging.save_data("modbus/other.json", b"{}")
    (paths.data_dir / "modbus" / "other.json").write_text("{}")
    assert staging.stale() == [str(paths.data_dir / "modbus" / "other.json")]


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../config/bacrouter", "modbus/../../x", "modbus//x", ".hidden",
                                 "modbus/./x", "a\\b", "a\0b"])
def test_only_plain_paths_inside_the_data_directory(paths, bad):
    staging = Staging(paths)
    with pytest.raises(BadPath):
        staging.save_data(bad, b"x")
    with pytest.raises(BadPath):
        staging.read_data(bad)
    assert not staging.active


def test_a_check_is_reused_until_a_file_changes(paths):
    staging = Staging(paths)
    first = staging.validate()
    assert staging.validate() is first  # nothing changed: the same answer, no second load
    staging.save_data("modbus/s.json", json.dumps({"points": [dict(POINT, address_type="nonsense")]}))
    second = staging.validate()
    assert second is not first and second.errors
    staging.revert()
    (paths.data_dir / "modbus" / "s.json").write_text(json.dumps({"points": [POINT, dict(POINT, name="T9",
                                                                                              instance=9)]}))
    assert not Staging(paths).validate().errors


def test_the_check_runs_in_a_child_that_cannot_take_the_panel_down():
    import os
    import time

    from bacrouter.panel.child import ChildFailed, in_child

    assert in_child(lambda: [os.getpid()]) != [os.getpid()]

    def broken():
        raise RuntimeError("boom")

    with pytest.raises(ChildFailed, match="failed"):
        in_child(broken)
    started = time.monotonic()
    with pytest.raises(ChildFailed, match="did not finish in 1 s"):
        in_child(lambda: time.sleep(30), timeout=1)
    assert time.monotonic() - started < 10
