"""Free Client bus files: export with the script inline, import with devices that collide disabled, a bus on a
taken line disabled, RS485 <-> TCP."""

from __future__ import annotations

import json

from bacrouter import modbus_files as masterfile
from bacrouter.cli import main
from bacrouter.config import has_errors
from bacrouter.freeclient.schema import FreeClientBus
from bacrouter.freeclient_files import export_bus, import_bus
from bacrouter.loader import load_config

from .test_modbus_files import VBUS, make
from .test_templates import EXAMPLES


def example(**changes):
    data = json.loads((EXAMPLES / "freeclient-bus.json").read_text())
    data.update(changes)
    return data


def test_a_bus_file_round_trip_with_the_script_inline(tmp_path, capsys):
    paths = make(tmp_path)
    source = tmp_path / "bus.json"
    source.write_text(json.dumps(example(resource="RS485-2")))
    assert main(["freeclient", "new-bus", "b1", "--resource", "RS485-2", "--config-dir", str(paths.root)]) == 0
    config, _ = load_config(paths)
    exported = export_bus(config, "b1")
    assert "modbus_rtu.lua" in exported["script"] and "crc16" in exported["script"]["modbus_rtu.lua"]
    (tmp_path / "o").mkdir()
    other = make(tmp_path / "o")
    report = import_bus(other, json.dumps(exported).encode())
    assert report.ok and report.disabled == [], report
    masterfile.apply(other, report)
    config2, problems = load_config(other)
    assert not has_errors(problems), [str(p) for p in problems]
    assert export_bus(config2, "b1") == exported


def test_colliding_devices_are_imported_disabled(tmp_path):
    paths = make(tmp_path, VBUS)
    data = example(resource="RS485-2")
    data["fcdevices"][0]["instance"] = 5003  # modbus_slave meter's device instance
    report = import_bus(paths, json.dumps(data).encode(), script="modbus_rtu.lua")
    assert report.ok, report.errors
    assert [(d["name"], d["rule"]) for d in report.disabled] == [("heatpumps/device1", "device_instance")]
    assert "already modbus_slave 'meter''s" in report.disabled[0]["reason"]
    masterfile.apply(paths, report)
    stored = json.loads((paths.data_dir / "freeclient" / "heatpumps.json").read_text())
    assert stored["fcdevices"][0]["enable"] is False


def test_a_bus_on_a_modbus_masters_line_is_imported_disabled(tmp_path):
    paths = make(tmp_path)
    report = import_bus(paths, json.dumps(example(resource="RS485-1")).encode(), script="modbus_rtu.lua")
    assert report.ok and report.disabled == [{"type": "freeclient_bus", "name": "heatpumps", "rule": "resource",
                                              "reason": "resource 'RS485-1' is already used by modbus_master 'rtu1'"}]
    masterfile.apply(paths, report)
    config, _ = load_config(paths)
    assert config.section_of(FreeClientBus, "heatpumps").enabled is False


def test_rs485_file_as_a_tcp_bus(tmp_path, capsys):
    paths = make(tmp_path)
    source = tmp_path / "bus.json"
    source.write_text(json.dumps(example(script={"both.lua": "return swg.interface_rs485 | swg.interface_tcp, "
                                                            "function(ctx) end"})))
    assert main(["freeclient", "import", str(source), "--server", "192.0.2.9:502", "--json",
                 "--config-dir", str(paths.root)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {d["option"] for d in result["defaulted"]} == {"resource", "baudrate", "parity", "bit7"}
    stored = json.loads((paths.data_dir / "freeclient" / "heatpumps.json").read_text())
    assert stored["type"] == 2 and "resource" not in stored
