"""``bacrouter mbus`` tools against a segment of simulated meters on a pty (tests/peers/mbus_meters.py):
primary and secondary scans (hex digits, collisions), multi-telegram reads, new addresses and baud
rates, and a converter that echoes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from bacrouter.cli import main

from ..peers.mbus_meters import corpus_telegram
from .modbus_harness import PtyPair
from .netns import ROOT, wait_for

pytestmark = pytest.mark.skipif(shutil.which("socat") is None and not os.environ.get("BACROUTER_REQUIRE_ALL"),
                                reason="needs socat")


METERS = [
    {"primary": 1, "secondary": "12345678A5B10102", "telegrams": [corpus_telegram("els_falcon.hex")]},
    # hex digits in the identification number, and two telegrams (the first says more records follow)
    {"primary": 2, "secondary": "1234AB78A5B10102",
     "telegrams": [corpus_telegram("abb_delta.hex"), corpus_telegram("SEN_Sensus-PolluTherm.hex")]},
    # two meters on primary address 5, and the same identification from two manufacturers
    {"primary": 5, "secondary": "55555555A5B10102", "telegrams": [corpus_telegram("kamstrup_382_005.hex")]},
    {"primary": 5, "secondary": "55555555C5B20102", "telegrams": [corpus_telegram("emh_diz.hex")]},
]


class Segment:
    def __init__(self, directory: Path, echo: bool = False) -> None:
        self.ptys = PtyPair(directory)
        self.state_file = directory / "state.json"
        meters = directory / "meters.json"
        meters.write_text(json.dumps(METERS))
        ready = directory / "meters-ready"
        args = [sys.executable, str(ROOT / "tests" / "peers" / "mbus_meters.py"), "--tty", self.ptys.b, "--meters",
                str(meters), "--state", str(self.state_file), "--ready", str(ready)]
        self.proc = subprocess.Popen(args + (["--echo"] if echo else []))
        wait_for(ready.exists, 10, "the meters")

    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.ptys.close()


@pytest.fixture(params=[False, True], ids=["plain", "echoing"])
def segment(tmp_path, request):
    seg = Segment(tmp_path, echo=request.param)
    yield seg
    seg.close()


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def tool(segment, *argv):
    # ptys refuse even parity; the simulated meters answer within milliseconds, not the 190 ms EN 13757-2 allows
    # (60 ms leaves room for a loaded CI machine: one late answer hides a branch of the secondary search)
    # (and 38400 baud: the wire time of each request counts in the master's timing)
    return [*argv[:2], segment.ptys.a, "--parity", "none", "--timeout", "60", "-b", "38400", *argv[2:]]


def test_primary_scan_finds_meters_and_collisions(segment, capsys):
    code, out, _ = run(capsys, *tool(segment, "mbus", "scan", "--last", "8"))
    assert code == 0
    assert out.splitlines() == ["Found a M-Bus device at address 1", "Found a M-Bus device at address 2",
                                "Collision at address 5"]
    code, out, _ = run(capsys, *tool(segment, "mbus", "scan", "--last", "5", "--xml"))
    devices = ElementTree.fromstring(out.encode("latin-1")).findall("Device")
    assert [(d.findtext("PrimaryAddress"), d.findtext("Collision")) for d in devices] == [
        ("1", None), ("2", None), ("5", "true")]


@pytest.fixture
def plain_segment(tmp_path):
    seg = Segment(tmp_path)
    yield seg
    seg.close()


def test_secondary_scan_finds_hex_digits_that_the_decimal_search_cannot(plain_segment, capsys):
    code, out, _ = run(capsys, *tool(plain_segment, "mbus", "scan-secondary"))
    assert code == 0
    found = sorted(line.split()[6] for line in out.splitlines() if line.startswith("Found a device"))
    assert found == sorted(m["secondary"] for m in METERS)
    code, out, _ = run(capsys, *tool(plain_segment, "mbus", "scan-secondary", "--json", "--decimal"))
    decimal = json.loads(out)
    # libmbus's way never tries A or B, and cannot tell the twins apart (they differ only after the ID)
    assert decimal["found"] == ["12345678A5B10102"]


def test_multi_telegram_read_and_reads_by_secondary_address(segment, capsys):
    code, out, _ = run(capsys, *tool(segment, "mbus", "read", "2", "--json"))
    assert code == 0
    telegrams = json.loads(out)["frames"]
    assert len(telegrams) == 2 and telegrams[0]["more_records_follow"] and not telegrams[1]["more_records_follow"]
    code, out, _ = run(capsys, *tool(segment, "mbus", "read", "2"))
    assert out.count("<MBusData>") == 1 and 'frame="1"' in out  # libmbus's multi-frame XML (frames from 0)
    code, explicit, _ = run(capsys, *tool(segment, "mbus", "read", "2", "--xml"))
    data = ElementTree.fromstring(explicit.encode("latin-1"))
    assert data.findtext("SlaveInformation/Id") and len(data.findall("DataRecord")) > 1
    code, out, _ = run(capsys, *tool(segment, "mbus", "read", "55555555C5B20102", "--json"))
    assert code == 0 and json.loads(out)["frames"][0]["header"]["id"] == "55555555"
    code, _, err = run(capsys, *tool(segment, "mbus", "read", "5"))
    assert code == 1 and "5:" in err  # two meters answer: a collision, said plainly
    code, _, err = run(capsys, *tool(segment, "mbus", "read", "99"))
    assert code == 1 and "no answer" in err


def test_set_address_and_switch_baudrate(segment, capsys):
    code, out, _ = run(capsys, *tool(segment, "mbus", "set-address", "55555555C5B20102", "6"))
    assert code == 0 and "6" in out
    assert [m["primary"] for m in segment.state()["meters"]] == [1, 2, 5, 6]
    code, out, _ = run(capsys, *tool(segment, "mbus", "scan", "--last", "8"))
    assert "Collision" not in out and "address 6" in out
    code, out, _ = run(capsys, *tool(segment, "mbus", "switch-baudrate", "1", "9600"))
    assert code == 0 and segment.state()["meters"][0]["baud"] == 9600
    code, _, err = run(capsys, *tool(segment, "mbus", "set-address", "1", "253"))
    assert code == 1 and "reserved" in err


def test_bad_arguments_are_explained(tmp_path, capsys):
    assert main(["mbus", "scan", "RS485-9", "--config-dir", str(tmp_path)]) == 1
    assert "neither a serial device nor a resource" in capsys.readouterr().err
    seg = Segment(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path)
    try:
        assert main(tool(seg, "mbus", "read", "12345")) == 1
        assert "neither a primary address" in capsys.readouterr().err
        # with --json the failure is an object too
        assert main(tool(seg, "mbus", "read", "12345", "--json")) == 1
        assert "neither a primary address" in json.loads(capsys.readouterr().out)["error"]
    finally:
        seg.close()
