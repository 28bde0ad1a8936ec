"""Modbus slave and master files: import with the original's collision rules (the slave disabled, the reason
reported), TCP ↔ serial, a master whose line is taken, round trips, and the one-change write."""

from __future__ import annotations

import json

import pytest

from bacrouter import modbus_files as masterfile
from bacrouter.cli import main
from bacrouter.config import Paths, has_errors, uci
from bacrouter.loader import load_config
from bacrouter.modbus.schema import ModbusMaster, ModbusSlave

RESOURCES = {"eth0": {"type": "ETH", "ifname": "br-lan"}, "RS485-1": {"type": "USB", "ifname": "/dev/ttyUSB0"},
             "RS485-2": {"type": "USB", "ifname": "/dev/ttyUSB1"}}
BASE = """
config bacrouter 'main'
	option device_instance '4001'

config bip 'lan'
	option resource 'eth0'
	option network '1'

config modbus_master 'rtu1'
	option protocol 'rtu'
	option resource 'RS485-1'

config modbus_master 'tcp1'
	option protocol 'tcp'
	option host '192.0.2.7'

config modbus_slave 'meter'
	option master 'rtu1'
	option station '3'
	option block '2'
	option instance '5003'
"""
VBUS = "\nconfig vbus 'v'\n\toption network '9'\n"
POINTS = [{"name": "temp", "object_type": "ai", "address_type": "holding", "address": 0, "instance": 1},
          {"name": "valve", "object_type": "ao", "address_type": "holding", "address": 10, "instance": 2}]


def make(tmp_path, extra=""):
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "bacrouter" / "modbus").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "bacrouter").write_text(BASE + extra)
    (tmp_path / "bacrouter" / "resource.conf").write_text(json.dumps(RESOURCES))
    (tmp_path / "bacrouter" / "modbus" / "meter.json").write_text(json.dumps({"points": POINTS}))
    paths = Paths(tmp_path)
    config, problems = load_config(paths)
    assert not has_errors(problems), [str(p) for p in problems]
    return paths


def device(name="dev", **keys):
    data = {"name": name, "station": 4, "baudrate": 9600, "parity": "none", "points": POINTS}
    data.update(keys)
    return json.dumps(data).encode()


def imported(paths, report):
    assert report.ok, report.errors
    masterfile.apply(paths, report)
    config, problems = load_config(paths)
    assert not has_errors(problems), [str(p) for p in problems]
    return config


# every rule: (extra UCI, device-file keys, master, rule, words of the reason)
RULES = {
    "single: instance block": ("", {"block": 2}, "rtu1", "block", "instance block 2 is already modbus_slave 'meter'"),
    # with '_' as the delimiter, rtu1_meter_temp is both meter's point temp and meter_temp's point... temp
    "single: object names": ("", {"name": "meter_temp", "points": [dict(POINTS[0], name="temp")]}, "rtu1",
                             "object_name", "'rtu1_meter_temp_temp' (modbus_slave 'meter')"),
    "virtual: device instance": (VBUS, {"instance": 5003}, "rtu1", "device_instance",
                                 "device instance 5003 is already modbus_slave 'meter''s"),
    "virtual: the router's instance": (VBUS, {"instance": 4001}, "rtu1", "device_instance",
                                       "device instance 4001 is the router's own"),
    "virtual: no instance": (VBUS, {}, "rtu1", "device_instance", "needs a device instance"),
    "station on the line": ("", {"station": 3}, "rtu1", "station",
                            "station 3 on resource 'RS485-1' at 9600 baud (rtu) is already modbus_slave 'meter''s"),
    "station out of range on a serial line": ("", {"station": 0}, "rtu1", "station", "must be 1..247"),
    "point names": ("", {"points": POINTS + [dict(POINTS[0], instance=5)]}, "rtu1", "point_names",
                    "point 3 'temp': the name is already point 1 'temp''s"),
    "output overlap": ("", {"points": POINTS + [dict(POINTS[1], name="valve2", instance=7, address=10)]}, "rtu1",
                       "output_overlap", "output on holding 10 overlaps output point 2 'valve'"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_a_colliding_slave_is_imported_disabled_with_the_reason(tmp_path, rule):
    extra, keys, master, code, reason = RULES[rule]
    paths = make(tmp_path, extra)
    if code == "object_name":  # names can only clash through the delimiter: make it one names use
        paths.uci_file.write_text(paths.uci_file.read_text().replace("'4001'", "'4001'\n\toption delimiter '_'"))
        (paths.data_dir / "modbus" / "meter.json").write_text(json.dumps({"points": [dict(POINTS[0], name="temp_temp")]}))
    report = masterfile.import_slave(paths, device(**keys), master)
    assert report.ok, report.errors
    assert [(d["rule"], d["name"]) for d in report.disabled] == [(code, keys.get("name", "dev"))], report.disabled
    assert reason in report.disabled[0]["reason"]
    assert report.added[-1]["enabled"] is False
    config = imported(paths, report)
    slave = config.section_of(ModbusSlave, keys.get("name", "dev"))
    assert slave is not None and slave.enabled is False and len(slave.point_list) == len(keys.get("points", POINTS))


def test_same_station_apart_by_baud_rate_or_framing_is_no_collision(tmp_path):
    paths = make(tmp_path)
    report = masterfile.import_slave(paths, device(station=3, baudrate=19200), "rtu1")
    assert report.disabled == []
    imported(paths, report)
    report = masterfile.import_slave(paths, device("dev2", station=3, ascii=True), "rtu1")
    assert report.disabled == []
    # parity alone does not keep two devices apart
    report = masterfile.import_slave(paths, device("dev3", station=3, parity="even"), "rtu1")
    assert [d["rule"] for d in report.disabled] == ["station"]


def test_a_slave_without_collisions_is_imported_enabled(tmp_path):
    paths = make(tmp_path, VBUS)
    report = masterfile.import_slave(paths, device(instance=7001), "rtu1")
    assert report.disabled == [] and report.added == [{"type": "modbus_slave", "name": "dev", "enabled": True,
                                                        "points": 2}]
    assert imported(paths, report).section_of(ModbusSlave, "dev").enabled


def test_tcp_file_on_serial_master_and_the_other_way_round(tmp_path):
    paths = make(tmp_path)
    tcp_file = json.dumps({"name": "tcpdev", "station": 1, "points": POINTS}).encode()
    report = masterfile.import_slave(paths, tcp_file, "rtu1")
    assert {(d["option"], d["value"]) for d in report.defaulted} == {("baudrate", 9600), ("parity", "none")}
    assert report.disabled == []
    imported(paths, report)
    serial_file = device("serialdev", baudrate=19200, parity="even", ascii=True)
    report = masterfile.import_slave(paths, serial_file, "tcp1")
    assert {d["option"] for d in report.defaulted} == {"baudrate", "parity", "ascii"}
    section = uci.parse(report.changes[paths.uci_file]).section("serialdev")
    assert not {"baudrate", "parity", "ascii"} & set(section.options)
    imported(paths, report)


def test_an_rtu_station_out_of_range_disables_a_tcp_file_on_a_serial_master(tmp_path):
    paths = make(tmp_path)
    report = masterfile.import_slave(paths, json.dumps({"name": "gw", "station": 255, "points": POINTS}).encode(),
                                     "rtu1")
    assert [d["rule"] for d in report.disabled] == ["station"]


def test_a_broken_file_changes_nothing(tmp_path):
    paths = make(tmp_path)
    before = paths.uci_file.read_bytes()
    report = masterfile.import_slave(paths, device(points=[dict(POINTS[0], address_type="nowhere")]), "rtu1")
    assert not report.ok and report.changes == {} and "address_type" in " ".join(report.errors)
    report = masterfile.import_slave(paths, b'{"name": "x",\n "points": [}', "rtu1", source="x.json")
    assert report.errors == ["x.json:2:13: Expecting value"]
    assert paths.uci_file.read_bytes() == before


def test_master_file_round_trip(tmp_path):
    paths = make(tmp_path)
    first = masterfile.import_slave(paths, device("dev", station=9), "rtu1")
    config = imported(paths, first)
    exported = masterfile.export_master(config, "rtu1")
    assert exported["format"] == "bacrouter-modbus-master" and [s["name"] for s in exported["slaves"]] == [
        "meter", "dev"]
    assert exported["slaves"][0]["block"] == 2  # bacrouter's own options travel too
    # into an empty router: the same configuration comes out again
    (tmp_path / "other").mkdir()
    other = make(tmp_path / "other")
    paths.uci_file.read_text()
    text = json.dumps(exported, indent=2).encode()
    other.uci_file.write_text(other.uci_file.read_text().split("config modbus_master 'rtu1'")[0])
    (other.data_dir / "modbus" / "meter.json").unlink()
    report = masterfile.import_master(other, text)
    assert report.ok and report.disabled == [] and report.defaulted == [], report
    config2 = imported(other, report)
    assert masterfile.export_master(config2, "rtu1") == exported
    for name in ("meter", "dev"):
        a, b = config.section_of(ModbusSlave, name), config2.section_of(ModbusSlave, name)
        assert (a.station, a.block, a.instance, len(a.point_list)) == (b.station, b.block, b.instance,
                                                                        len(b.point_list))


def test_master_on_a_taken_line_is_imported_disabled_and_its_slaves_renamed(tmp_path):
    paths = make(tmp_path)
    config, _ = load_config(paths)
    text = json.dumps(masterfile.export_master(config, "rtu1")).encode()
    report = masterfile.import_master(paths, text)  # the same master again: the name and the line are taken
    assert report.ok, report.errors
    assert report.renamed == [{"type": "modbus_master", "from": "rtu1", "to": "rtu1_2"},
                              {"type": "modbus_slave", "from": "meter", "to": "meter_2"}]
    assert report.disabled == [{"type": "modbus_master", "name": "rtu1_2", "rule": "resource",
                                "reason": "resource 'RS485-1' is already used by modbus_master 'rtu1'"}]
    config = imported(paths, report)
    assert config.section_of(ModbusMaster, "rtu1_2").enabled is False
    # on a free line it is enabled, and its slave collides with the one on rtu1 (block 2): disabled
    report = masterfile.import_master(paths, text, name="rtu2", overrides={"resource": "RS485-2"})
    assert report.ok and [(d["type"], d["rule"]) for d in report.disabled] == [("modbus_slave", "block")]


def test_a_newer_master_file_is_refused(tmp_path):
    paths = make(tmp_path)
    report = masterfile.import_master(paths, json.dumps({"format": "bacrouter-modbus-master", "version": 99,
                                                         "slaves": []}).encode())
    assert not report.ok and "newer" in report.errors[0]


def test_cli_import_and_export_of_a_master_file(tmp_path, capsys):
    paths = make(tmp_path)
    out_file = tmp_path / "rtu1.json"
    assert main(["modbus", "export", "rtu1", "--master-file", "-o", str(out_file), "--config-dir", str(paths.root)]) == 0
    capsys.readouterr()
    code = main(["modbus", "import", str(out_file), "--name", "copy", "--resource", "RS485-2", "--dry-run", "--json",
                 "--config-dir", str(paths.root)])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["written"] is False and result["disabled"][0]["rule"] == "block"
    before = paths.uci_file.read_bytes()
    assert paths.uci_file.read_bytes() == before
    code = main(["modbus", "import", str(out_file), "--name", "copy", "--resource", "RS485-2",
                 "--config-dir", str(paths.root)])
    out = capsys.readouterr().out
    assert code == 0 and "modbus_slave 'meter_2' disabled: instance block 2 is already modbus_slave 'meter''s" in out
