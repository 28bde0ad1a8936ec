"""``bacrouter mbus parse``: libmbus's mbus-parse-hex, same bytes out, clear reasons and exit 1 on bad frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bacrouter.cli import main

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "mbus"


def run(*argv: str) -> int:
    return main(["mbus", *argv])


@pytest.mark.parametrize("name", ["abb_delta", "siemens_water", "sen_pollusonic_2", "example_binary16_lvar"])
def test_parse_prints_libmbus_xml(name, capsysbinary):
    hexfile = CORPUS / "frames" / f"{name}.hex"
    assert run("parse", str(hexfile)) == 0
    assert capsysbinary.readouterr().out == hexfile.with_suffix(".xml").read_bytes()
    assert run("parse", "-n", str(hexfile)) == 0
    assert capsysbinary.readouterr().out == (CORPUS / "frames" / f"{name}.norm.xml").read_bytes()


def test_parse_json(capsysbinary):
    assert run("parse", "--json", str(CORPUS / "frames" / "abb_delta.hex")) == 0
    view = json.loads(capsysbinary.readouterr().out)
    assert view["header"]["manufacturer"] == "ABB" and view["header"]["id"] == "78563412"
    first = view["records"][0]
    assert (first["unit"], first["si_unit"], first["quantity"], first["value"]) == ("Energy (10 Wh)", "Wh", "Energy", 0.0)
    assert view["more_records_follow"] is True


def test_rejected_frame_exits_1_with_a_located_reason(capsysbinary):
    assert run("parse", str(CORPUS / "error-frames" / "premature_end_of_data1.hex")) == 1
    captured = capsysbinary.readouterr()
    assert captured.out == b""
    assert b"premature end of record in the data" in captured.err and b"frame byte" in captured.err


def test_application_error_report_prints_the_xml_but_exits_1(capsysbinary):
    hexfile = CORPUS / "error-frames" / "application_busy.hex"
    assert run("parse", str(hexfile)) == 1
    captured = capsysbinary.readouterr()
    assert captured.out == hexfile.with_suffix(".xml").read_bytes()
    assert b"Application busy" in captured.err
    assert run("parse", "-n", str(hexfile)) == 1  # libmbus has no normalized error report either
    assert b"application error" in capsysbinary.readouterr().err


def test_missing_and_empty_files(tmp_path, capsysbinary):
    assert run("parse", str(tmp_path / "nope.hex")) == 1
    assert b"nope.hex" in capsysbinary.readouterr().err
    (tmp_path / "empty.hex").write_text("\n")
    assert run("parse", str(tmp_path / "empty.hex")) == 1
    assert b"no hex bytes" in capsysbinary.readouterr().err


def test_a_bad_checksum_is_named(tmp_path, capsysbinary):
    (tmp_path / "bad.hex").write_text("10 40 01 42 16\n")
    assert run("parse", str(tmp_path / "bad.hex")) == 1
    assert b"checksum (byte 3): expected 0x41, got 0x42" in capsysbinary.readouterr().err
