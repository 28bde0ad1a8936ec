"""The ``bacrouter`` command as a new user meets it: no tracebacks, one spelling, help on everything."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bacrouter.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
ABB = ROOT.parent / "shared" / "testdata" / "mbus" / "frames" / "abb_delta.hex"


def bacrouter(*argv: str, stdin: str | None = None, cwd: Path | None = None, close_stdout: bool = False,
              pythonpath: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "bacrouter", *argv]
    if close_stdout:  # the reader is gone before the first byte: `bacrouter ... | head -0`
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, text=True)
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(30)
        return subprocess.CompletedProcess(command, proc.returncode, "", err)
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# --------------------------------------------------------------------------- item 11: no tracebacks


def test_bad_json_params_is_a_usage_error_not_a_traceback(tmp_path, capsys):
    code, out, err = run(capsys, "call", "routes", "{not json", "--config-dir", str(tmp_path))
    assert code == 2 and "PARAMS is not JSON" in err and out == ""
    code, _, err = run(capsys, "call", "routes", "[1, 2]", "--config-dir", str(tmp_path))
    assert code == 2 and "must be a JSON object" in err
    result = bacrouter("call", "routes", "{not json", "--config-dir", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("argv", [["help", "config"], ["version"], ["check", "--json"],
                                  ["mbus", "parse", "--json", str(ABB)]])
def test_a_closed_pipe_ends_quietly(argv, tmp_path):
    if "check" in argv:
        argv = [*argv, "--config-dir", str(tmp_path)]
    result = bacrouter(*argv, close_stdout=True)
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert result.stderr == ""
    assert result.returncode == 141


def test_missing_files_are_one_line_each(tmp_path):
    """A file named on the command line that is not there: one line naming it, exit 1 (3: no router to ask)."""
    for argv in (["mbus", "parse", str(tmp_path / "nope.hex")],
                 ["modbus", "plan", str(tmp_path / "nope.json")],
                 ["modbus", "import", str(tmp_path / "nope.json"), "--master", "gw", "--config-dir", str(tmp_path)],
                 ["capture", "ms1", "start", "--config-dir", str(tmp_path)]):
        result = bacrouter(*argv)
        assert result.returncode in (1, 3), (argv, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, (argv, result.stderr)


def test_mbus_parse_reads_standard_input():
    result = bacrouter("mbus", "parse", "--json", "-", stdin=ABB.read_text())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["header"]["manufacturer"] == "ABB"
    empty = bacrouter("mbus", "parse", "-", stdin="")
    assert empty.returncode == 1 and "<stdin>: no hex bytes found" in empty.stderr


def test_exit_codes_are_documented():
    text = (ROOT / "docs" / "commands.md").read_text()
    for code in ("0", "1", "2", "3", "130", "141"):
        assert f"| {code} |" in text, code
    assert "exit codes" in build_parser().format_help()


# --------------------------------------------------------------------------- item 12: one spelling


def _parsers(parser: argparse.ArgumentParser, path: str = "bacrouter"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_argument_of_every_command_has_help():
    missing = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:  # deliberately hidden (an old spelling)
                continue
            if not action.help:
                missing.append(f"{path}: {'/'.join(action.option_strings) or action.dest}")
        if isinstance(parser._subparsers, argparse._ArgumentGroup):
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    missing += [f"{path} {c.dest}" for c in action._choices_actions if not c.help]
    assert missing == []


def test_every_command_that_writes_a_file_spells_it_dash_o_output():
    for path, parser in _parsers(build_parser()):
        options = {o for action in parser._actions for o in action.option_strings}
        writes = {"--file", "--out", "--output", "-o"} & options
        if writes:
            assert {"-o", "--output"} <= options, path
            hidden = [a for a in parser._actions if "--file" in a.option_strings]
            assert all(a.help == argparse.SUPPRESS and a.dest == "output" for a in hidden), path


def test_capture_understands_the_old_file_spelling():
    args = build_parser().parse_args(["capture", "ms1", "start", "--file", "x.pcap"])
    assert args.output == "x.pcap"
    assert build_parser().parse_args(["capture", "ms1", "start", "-o", "y.pcap"]).output == "y.pcap"


def test_config_dir_before_or_after_the_subcommand(tmp_path):
    parser = build_parser()
    for argv in (["--config-dir", "A", "status"], ["status", "--config-dir", "A"],
                 ["--config-dir", "A", "modbus", "status"], ["modbus", "--config-dir", "A", "status"],
                 ["modbus", "status", "--config-dir", "A"], ["mbus", "parse", "x.hex", "--config-dir", "A"]):
        assert parser.parse_args(argv).config_dir == "A", argv
    assert parser.parse_args(["status"]).config_dir is None
    result = bacrouter("--config-dir", str(tmp_path), "status")
    assert result.returncode == 3 and str(tmp_path) in result.stderr


def test_every_json_output_is_an_object(tmp_path, capsys):
    device = tmp_path / "d.json"
    device.write_text(json.dumps({"points": [{"name": "a", "object_type": "ai", "address_type": "holding",
                                              "address": 0, "instance": 1}]}))
    for argv in (["modbus", "plan", str(device), "--json"], ["version", "--json"],
                 ["check", "--json", "--config-dir", str(tmp_path)], ["mbus", "parse", str(ABB), "--json"]):
        code, out, _ = run(capsys, *argv)
        assert isinstance(json.loads(out), dict), argv
    # and failures too, with --json: an error object on standard output
    for argv in (["modbus", "status", "--json", "--config-dir", str(tmp_path)],
                 ["status", "--json", "--config-dir", str(tmp_path)],
                 ["mbus", "parse", "--json", str(tmp_path / "nope.hex")],
                 ["mbus", "read", "/dev/nonexistent-tty", "1", "--json"]):
        code, out, err = run(capsys, *argv)
        error = json.loads(out)
        assert code == error["exit"] and code in (1, 3) and error["error"] in err, argv


def test_python_dash_m_works_from_any_directory(tmp_path):
    (tmp_path / "bacrouter").mkdir()  # like /etc, which has /etc/bacrouter
    for cwd, pythonpath in ((tmp_path, False), (tmp_path, True), (Path("/"), False)):
        result = bacrouter("version", cwd=cwd, pythonpath=pythonpath)
        assert result.returncode == 0 and result.stdout.startswith("bacrouter "), (cwd, pythonpath, result.stderr)


# --------------------------------------------------------------------------- item 17: M-Bus formats


@pytest.mark.parametrize("argv", [["set-address", "/dev/null", "1", "5", "--xml"],
                                  ["switch-baudrate", "/dev/null", "1", "9600", "--xml"],
                                  ["read", "/dev/null", "1", "--hex", "--json"],
                                  ["read", "/dev/null", "1", "--xml", "--json"],
                                  ["parse", "x.hex", "--xml", "-n"]])
def test_mbus_formats_that_mean_nothing_are_refused_before_the_line_is_touched(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["mbus", *argv])
    assert info.value.code == 2


@pytest.mark.parametrize("command", ["parse", "scan", "scan-secondary", "read", "set-address", "switch-baudrate"])
def test_every_mbus_subcommand_has_json(command):
    parser = dict(_parsers(build_parser()))[f"bacrouter mbus {command}"]
    assert "--json" in {o for a in parser._actions for o in a.option_strings}


# --------------------------------------------------------------------------- item 13: the Free Client's commands


def test_status_summary_names_the_free_client():
    from bacrouter.cli import format_status

    status = {"version": "x", "uptime_s": 5, "device": {"instance": 1, "name": "r"},
              "modbus": None, "freeclient": {"buses": 2, "devices": 3, "online": 1}}
    routes = {"routes": [], "total": 0, "offset": 0, "direct": 0, "learned": 0, "max_learned": 2000}
    text = format_status(status, [], routes)
    assert "Free Client: 2 bus(es), 3 device(s), 1 online (details: bacrouter freeclient status)" in text


def test_freeclient_test_method_and_command(monkeypatch, capsys):
    from types import SimpleNamespace

    from bacrouter.control import ControlError
    from bacrouter.freeclient.feature import KIND

    class Obj:
        objectIdentifier, objectName, value, _reliability = "analog-input,1", "fc1|meter|t", 21.5, 0

    bus = SimpleNamespace(status=lambda: {"name": "fc1", "state": "running", "reason": "", "interface": "rs485",
                                          "script": "m.lua", "devices": 1, "online": 1, "pending_writes": 0,
                                          "counters": {}})
    device = SimpleNamespace(bus=bus, index=1, online=True, virtual=None, plan=SimpleNamespace(device_instance=None),
                             points={1: SimpleNamespace(obj=Obj(), point=SimpleNamespace(name="t", index=1))})
    gateway = SimpleNamespace(buses={"fc1": bus}, devices=[device])
    methods = {m.name: m.handler for m in KIND.methods()}
    result = methods["freeclient_test"](gateway, {"bus": "fc1"})
    assert result["device_list"] == [{"index": 1, "online": True, "points": 1}]
    assert result["objects"][0]["value"] == 21.5 and result["objects"][0]["point"] == "t"
    with pytest.raises(ControlError, match="no Free Client bus 'x' is running"):
        methods["freeclient_test"](gateway, {"bus": "x"})
    assert methods["freeclient_objects"](gateway, {})[0]["bus"] == "fc1"
    # the command prints it, exit 0 while every device is online, 1 when one is not
    monkeypatch.setattr("bacrouter.bacnet_cli.control", lambda args, method, params=None, **k:
                        methods["freeclient_test"](gateway, params))
    code, out, _ = run(capsys, "freeclient", "test", "fc1")
    assert code == 0 and "device 1: online" in out and "21.5" in out
    device.online = False
    code, out, _ = run(capsys, "freeclient", "test", "fc1", "--json")
    assert code == 1 and json.loads(out)["ok"] is False
