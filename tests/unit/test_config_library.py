"""The user library: named state-text sets and favourite units, in DATA_DIR/library.json."""

from __future__ import annotations

from bacrouter.config import Paths
from bacrouter.config.library import load_library, parse_library
from bacrouter.loader import load_config


def test_a_missing_library_is_empty(tmp_path):
    library = load_library(tmp_path)
    assert library.empty and not library.problems
    assert library.state_texts("Off/On") is None


def test_sets_and_units_are_read_with_or_without_a_bom(tmp_path):
    text = '{"state_texts": {"Off/On": ["Off", "On"], "AHO": ["Auto", "Hand", "Off"]}, "units": ["percent", 62]}'
    for raw in (text.encode(), b"\xef\xbb\xbf" + text.encode()):
        (tmp_path / "library.json").write_bytes(raw)
        library = load_library(tmp_path)
        assert not library.problems
        assert library.state_texts("AHO") == ["Auto", "Hand", "Off"]
        assert library.units == ["percent", 62]
        assert parse_library(library.to_json()).to_json() == library.to_json()


def test_problems_are_located_and_the_good_sets_kept(tmp_path):
    (tmp_path / "library.json").write_text('{"state_texts": {"bad": [], "ok": ["a", "b"]}, "colour": 1}')
    library = load_library(tmp_path)
    assert library.state_texts("ok") == ["a", "b"]
    messages = [(p.severity, p.message) for p in library.problems]
    assert ("error", "state_texts.bad: expected a list of (non-empty) texts") in messages
    assert ("warning", "unknown key 'colour' (known: state_texts, units)") in messages


def test_a_syntax_error_has_its_line_and_column(tmp_path):
    (tmp_path / "library.json").write_text('{\n  "units": [1,,]\n}')
    problem, = load_library(tmp_path).problems
    assert problem.line == 2 and "column 15" in problem.message


def test_check_reports_the_library(tmp_path):
    paths = Paths(tmp_path)
    paths.uci_dir.mkdir(parents=True)
    paths.data_dir.mkdir(parents=True)
    paths.uci_file.write_text("config bacrouter 'main'\n")
    paths.resource_file.write_text("{}")
    (paths.data_dir / "library.json").write_text('{"units": "percent"}')
    _, problems = load_config(paths)
    assert any(p.file.endswith("library.json") and p.severity == "error" for p in problems)


def _modbus_config(tmp_path, state_texts) -> Paths:
    import json

    (tmp_path / "config").mkdir()
    (tmp_path / "bacrouter" / "modbus").mkdir(parents=True)
    (tmp_path / "bacrouter" / "resource.conf").write_text("{}")
    (tmp_path / "config" / "bacrouter").write_text(
        "config modbus_master 'm'\n\toption protocol 'tcp'\n\toption host '127.0.0.1'\n\n"
        "config modbus_slave 's'\n\toption master 'm'\n\toption block '5'\n")
    point = {"name": "mode", "object_type": "mv", "address_type": "holding", "address": 1, "instance": 1,
             "state_texts": state_texts}
    (tmp_path / "bacrouter" / "modbus" / "s.json").write_text(json.dumps({"points": [point]}))
    (tmp_path / "bacrouter" / "library.json").write_text('{"state_texts": {"AHO": ["Auto", "Hand", "Off"]}}')
    return Paths(tmp_path)


def test_a_point_names_a_library_set_for_its_state_texts(tmp_path):
    from bacrouter.modbus.schema import ModbusSlave

    config, problems = load_config(_modbus_config(tmp_path, "AHO"))
    assert not [p for p in problems if p.severity == "error"], [str(p) for p in problems]
    [slave] = config.sections_of(ModbusSlave)
    assert slave.point_list[0].state_texts == ["Auto", "Hand", "Off"]
    before = slave.points_signature
    (tmp_path / "bacrouter" / "library.json").write_text('{"state_texts": {"AHO": ["Auto", "Manual", "Off"]}}')
    config, _ = load_config(Paths(tmp_path))
    assert config.sections_of(ModbusSlave)[0].points_signature != before  # the set changed: the slave restarts


def test_an_unknown_set_is_a_located_problem(tmp_path):
    _, problems = load_config(_modbus_config(tmp_path, "Nope"))
    assert any("no set of state texts named 'Nope' in the user library" in str(p) and p.severity == "error"
               for p in problems)
