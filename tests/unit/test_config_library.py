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
