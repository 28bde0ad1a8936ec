"""Our UCI reader and writer against the real ``uci`` program (libuci from the platform kit).

A corpus of tricky files is read by both and must show the same; a round of
edits made with the real CLI and committed must read back the same; what our
writer writes must be what ``uci commit`` writes for the same package, and
``uci show`` must read it as we do.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bacrouter.config import uci

from .platform import tool

CORPUS: dict[str, bytes] = {
    "plain": b"config bacrouter 'main'\n\toption device_instance '4100'\n\nconfig bip 'bip0'\n\toption network '1'\n",
    "quotes": b"config t 'x'\n\toption a \"double 'single' inside\"\n\toption b 'it'\\''s'\n\toption c it's'\n",
    "concatenation": b"config t x\n\toption a 'one'\"two\"three\n\toption b a'b c'd\n",
    "comments": b"# top\nconfig t 'x' # trailing\n\toption a 'v' # comment\n\toption b v#w\n#config t 'y'\n",
    "continuation": b"config t 'x'\n\toption a 'first \\\nsecond'\n\toption b one\\\ntwo\n",
    "multiline": b"config t 'x'\n\toption a 'line one\nline two'\n",
    "lists": b"config t 'x'\n\tlist l 'a'\n\tlist l 'b'\n\toption o 'c'\n\tlist o 'd'\n\tlist e ''\n",
    "empty option": b"config t 'x'\n\toption a ''\n\toption b 'kept'\n",
    "set again": b"config t 'x'\n\toption a 1\n\toption b 2\n\toption a 3\n",
    "bare CR": b"config t 'x'\n\toption a 'p\rq'\n\toption b 1\r\n",
    "not UTF-8": b"config t 'x'\n\toption a '\xff\xfe caf\xe9'\n",
    "anonymous": b"config t\n\toption a 1\nconfig u\nconfig t\n\toption a 2\n",
    "section reopened": b"config t 'x'\n\toption a 1\nconfig u\nconfig t 'x'\n\toption b 2\n",
    "semicolons": b"config t 'x'; option a 1; option b 2\n",
    "short keywords": b"c t 'x'\n\to a 1\n\tl l 2\n",
    "package line": b"package 'pkg'\n\nconfig t 'x'\n\toption a 1\n",
}


def real_uci(conf: Path, *args: str, input_: bytes | None = None) -> bytes:
    save = conf.parent / "save"
    save.mkdir(exist_ok=True)
    done = subprocess.run([tool("uci"), "-c", str(conf), "-t", str(save), *args], capture_output=True,
                          input=input_, timeout=30)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


@pytest.fixture
def conf(tmp_path) -> Path:
    path = tmp_path / "config"
    path.mkdir()
    return path


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_tricky_file_reads_as_libuci_reads_it(conf, name):
    (conf / "pkg").write_bytes(CORPUS[name])
    package = uci.load(conf / "pkg")
    for export in (False, True):
        flags = ["-X"] if export else []
        assert uci.show(package, export).encode("utf-8", "surrogateescape") == real_uci(conf, *flags, "show", "pkg")


@pytest.mark.parametrize("name", list(CORPUS))
def test_our_writer_writes_what_uci_commit_writes(conf, name):
    (conf / "pkg").write_bytes(CORPUS[name])
    ours = uci.dump_bytes(uci.load(conf / "pkg"))
    # an edit that changes nothing still makes uci commit rewrite the file canonically
    real_uci(conf, "add", "pkg", "scratch")
    real_uci(conf, "delete", "pkg.@scratch[-1]")
    real_uci(conf, "commit", "pkg")
    assert (conf / "pkg").read_bytes() == ours
    assert real_uci(conf, "show", "pkg") == uci.show(uci.load(conf / "pkg")).encode("utf-8", "surrogateescape")


EDITS = [
    ("set", "pkg.x.a=changed"),
    ("set", "pkg.x.new=appended"),
    ("add_list", "pkg.x.l=third"),
    ("del_list", "pkg.x.l=first"),
    ("rename", "pkg.x.b=bee"),
    ("add", "pkg", "anon"),
    ("set", "pkg.@anon[-1].v=it's"),
    ("delete", "pkg.y"),
    ("add", "pkg", "anon"),
    ("reorder", "pkg.z=0"),
    ("set", "pkg.w=named"),
    ("set", "pkg.w.q=1"),
]


def test_a_round_of_cli_edits_reads_back_identically(conf):
    (conf / "pkg").write_bytes(b"config t 'x'\n\toption a 1\n\toption b 2\n\tlist l 'first'\n\tlist l 'second'\n"
                               b"config t 'y'\n\toption a 3\nconfig t 'z'\n")
    for edit in EDITS:
        real_uci(conf, *edit)
    real_uci(conf, "commit", "pkg")
    package = uci.load(conf / "pkg")
    assert uci.show(package, True).encode() == real_uci(conf, "-X", "show", "pkg")
    assert [s.name for s in package.sections][:2] == ["z", "x"]
    assert package.section("x").options == {"a": "changed", "bee": "2", "l": ["second", "third"], "new": "appended"}


def test_the_same_edits_made_by_us_give_the_file_uci_commit_gives(conf, tmp_path):
    start = b"config t 'x'\n\toption a 1\n\toption b 2\nconfig t 'y'\n"
    (conf / "pkg").write_bytes(start)
    real_uci(conf, "set", "pkg.x.a=3")
    real_uci(conf, "add", "pkg", "anon")
    real_uci(conf, "delete", "pkg.y")
    real_uci(conf, "add", "pkg", "anon")
    real_uci(conf, "set", "pkg.@anon[-1].v=x")
    real_uci(conf, "commit", "pkg")
    ours_path = tmp_path / "ours"
    ours_path.write_bytes(start)
    package = uci.load(ours_path)
    package.section("x").options["a"] = "3"
    package.add("anon")
    package.remove("y")
    package.add("anon").options["v"] = "x"
    uci.save(package)
    assert ours_path.read_bytes() == (conf / "pkg").read_bytes()


REJECTED = {
    "CR is not a line break": b"config t 'x'\r\toption a 1\n",
    "unterminated quote": b"config t 'x'\n\toption a 'open\n",
    "invalid name": b"config t 'x-y'\n",
    "option first": b"\toption a 1\nconfig t 'x'\n",
    "type changes": b"config t 'x'\nconfig u 'x'\n",
    "too many arguments": b"config t 'x' extra\n",
}


@pytest.mark.parametrize("name", list(REJECTED))
def test_a_file_libuci_rejects_we_reject(conf, name):
    (conf / "pkg").write_bytes(REJECTED[name])
    save = conf.parent / "save"
    save.mkdir(exist_ok=True)
    done = subprocess.run([tool("uci"), "-c", str(conf), "-t", str(save), "show", "pkg"], capture_output=True,
                          timeout=30)
    assert done.returncode != 0, done.stdout
    with pytest.raises(uci.UciError):
        uci.load(conf / "pkg")
