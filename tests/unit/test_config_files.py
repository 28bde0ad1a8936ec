"""Hostile configuration files: each gets a located problem, never a traceback or a hang."""

from __future__ import annotations

import json
import os
import time

import pytest

from bacrouter.config import Paths, has_errors
from bacrouter.config.files import MAX_FILE_BYTES
from bacrouter.config.resources import parse_resources
from bacrouter.loader import load_config

UCI = "config bacrouter 'main'\n\nconfig bip 'bip0'\n\toption resource 'lan'\n\toption network '1'\n"
SLAVE = "\nconfig modbus_master 'm'\n\toption protocol 'tcp'\n\toption host '127.0.0.1'\n\n" \
        "config modbus_slave 's'\n\toption master 'm'\n"


def tree(tmp_path, uci: str = UCI, resources: str = '{"lan": {"type": "ETH", "ifname": "lo"}}') -> Paths:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "bacrouter" / "modbus").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "bacrouter").write_text(uci)
    (tmp_path / "bacrouter" / "resource.conf").write_text(resources)
    return Paths(tmp_path)


def messages(paths: Paths) -> list[str]:
    config, problems = load_config(paths)
    assert has_errors(problems)
    return [str(p) for p in problems]


def replace_with(path, kind: str) -> None:
    path.unlink(missing_ok=True)
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        os.symlink(path.name, path)  # points at itself
    elif kind == "huge":
        with open(path, "wb") as handle:
            handle.truncate(MAX_FILE_BYTES + 1)


@pytest.mark.parametrize("kind, reason", [("directory", "is a directory"), ("fifo", "not a regular file"),
                                          ("loop", "cannot be read"), ("huge", "at most 8,388,608")])
@pytest.mark.parametrize("which", ["uci", "resources", "points"])
def test_something_other_than_a_file_is_a_located_problem(tmp_path, kind, reason, which):
    paths = tree(tmp_path, UCI + SLAVE)
    target = {"uci": paths.uci_file, "resources": paths.resource_file,
              "points": paths.data_dir / "modbus" / "s.json"}[which]
    if which == "points":
        target.write_text('{"points": []}')
    replace_with(target, kind)
    started = time.monotonic()
    found = messages(paths)
    assert time.monotonic() - started < 5  # a FIFO never blocks
    assert any(str(target) in m and reason in m for m in found), found


def test_json_nested_200000_deep_is_a_problem_not_a_recursion_error(tmp_path):
    paths = tree(tmp_path, UCI + SLAVE)
    (paths.data_dir / "modbus" / "s.json").write_text("[" * 200_000 + "]" * 200_000)
    assert any("nested too deeply" in m for m in messages(paths))
    paths = tree(tmp_path, UCI, "[" * 200_000 + "]" * 200_000)
    assert any("nested too deeply" in m for m in messages(paths))


def test_thousands_of_resources_are_read_in_one_pass(monkeypatch):
    """Each resource's key is searched from the one before (the text is scanned once, not once per resource)."""
    from bacrouter.config import resources as module

    count = 5000
    text = json.dumps({f"r{i}": {"type": "ETH", "ifname": f"eth{i}"} for i in range(count)}, indent=2)
    scanned = 0
    original = module._key_offset

    def counting(text_: str, key: str, after: int = 0) -> int:
        nonlocal scanned
        found = original(text_, key, after)
        scanned += found - after
        return found

    monkeypatch.setattr(module, "_key_offset", counting)
    resources = parse_resources(text)
    assert len(resources) == count and resources[f"r{count - 1}"].line == 4 * count - 2
    assert scanned <= len(text), f"scanned {scanned:,} characters of a {len(text):,}-character file"
