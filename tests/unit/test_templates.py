"""Templates (modbus new-slave, freeclient new-bus) and files/examples/ are complete and pass check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bacrouter.cli import main
from bacrouter.config import has_errors
from bacrouter.loader import load_config
from bacrouter.modbus.schema import ModbusSlave

from .test_modbus_files import make

EXAMPLES = Path(__file__).resolve().parents[2] / "files" / "examples"


def errors(paths):
    config, problems = load_config(paths)
    assert config is not None
    return [str(p) for p in problems if p.severity == "error"]


def test_new_slave_is_valid_and_passes_check(tmp_path, capsys):
    paths = make(tmp_path)
    assert main(["modbus", "new-slave", "boiler", "--master", "tcp1", "--config-dir", str(paths.root)]) == 0
    out = capsys.readouterr().out
    assert "imported modbus_slave 'boiler' with 4 point(s)" in out and "bacrouter modbus points boiler --csv" in out
    assert errors(paths) == []
    config, _ = load_config(paths)
    slave = config.section_of(ModbusSlave, "boiler")
    assert slave.enabled and all(p.description for p in slave.point_list)
    assert main(["check", "--config-dir", str(paths.root)]) == 0


def test_new_slave_that_collides_is_added_disabled(tmp_path, capsys):
    paths = make(tmp_path, "\nconfig vbus 'v'\n\toption network '9'\n")
    assert main(["modbus", "new-slave", "boiler", "--master", "rtu1", "--json", "--config-dir", str(paths.root)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["disabled"][0]["rule"] == "device_instance"  # a template has no device instance: set one


def test_new_bus_is_valid_and_passes_check(tmp_path, capsys):
    paths = make(tmp_path)
    assert main(["freeclient", "new-bus", "heat", "--resource", "RS485-2", "--config-dir", str(paths.root)]) == 0
    assert "imported freeclient_bus 'heat'" in capsys.readouterr().out
    assert errors(paths) == []
    assert "# a Free Client bus" in paths.uci_file.read_text()
    assert main(["freeclient", "new-bus", "heat2", "--config-dir", str(paths.root)]) == 1


def test_templates_written_to_a_file(tmp_path, capsys):
    assert main(["modbus", "new-slave", "x", "-o", str(tmp_path / "x.json")]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["points"]


@pytest.mark.parametrize("master", ["rtu1", "tcp1"])
def test_the_modbus_example_imports_and_passes_check(tmp_path, capsys, master):
    paths = make(tmp_path)
    code = main(["modbus", "import", str(EXAMPLES / "modbus-device.json"), "--master", master, "--json",
                 "--config-dir", str(paths.root)])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["disabled"] == [] and result["errors"] == [], result
    assert errors(paths) == []


def test_the_freeclient_example_passes_check(tmp_path):
    paths = make(tmp_path)
    target = paths.data_dir / "freeclient" / "heatpumps.json"
    target.parent.mkdir()
    target.write_bytes((EXAMPLES / "freeclient-bus.json").read_bytes())
    definition = json.loads(target.read_text())
    definition["resource"] = "RS485-2"  # RS485-1 is the Modbus master's here
    target.write_text(json.dumps(definition))
    with paths.uci_file.open("a") as uci_file:
        uci_file.write("\nconfig freeclient_bus 'heatpumps'\n\toption script 'modbus_rtu.lua'\n")
    assert errors(paths) == []
    config, problems = load_config(paths)
    assert not has_errors(problems)
