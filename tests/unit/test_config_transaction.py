"""Several configuration files change as one: a kill at any step leaves the old or the new files, never a mix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bacrouter.config import Paths, transaction

ROOT = Path(__file__).resolve().parents[2]
OLD = {"config/bacrouter": b"old uci\n", "bacrouter/modbus/a.json": b"old a", "bacrouter/gone.json": b"gone"}
NEW = {"config/bacrouter": b"new uci\n", "bacrouter/modbus/a.json": b"new a", "bacrouter/modbus/b.json": b"new b",
       "bacrouter/gone.json": None}
STEPS = ["staged", "journal written", "committed", "renamed"]


def tree(root: Path) -> Paths:
    for name, data in OLD.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return Paths(root)


def state(root: Path) -> dict[str, bytes | None]:
    return {name: (root / name).read_bytes() if (root / name).exists() else None for name in NEW}


def old_state() -> dict[str, bytes | None]:
    return {name: OLD.get(name) for name in NEW}


def new_state() -> dict[str, bytes | None]:
    return dict(NEW)


def test_a_change_and_its_undo(tmp_path):
    paths = tree(tmp_path)
    transaction.commit(paths, {tmp_path / k: v for k, v in NEW.items()})
    assert state(tmp_path) == new_state()
    assert not list(tmp_path.rglob("*" + transaction.STAGING + "*"))
    transaction.undo(paths)
    assert state(tmp_path) == old_state()
    transaction.undo(paths)  # the undo is a change of its own
    assert state(tmp_path) == new_state()


KILLER = """
import os, sys
from pathlib import Path
from bacrouter.config import Paths, transaction
root, where, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seen = {"n": 0}
def hook(step):
    if step == where:
        seen["n"] += 1
        if seen["n"] == count:
            os.kill(os.getpid(), 9)
transaction.step_hook = hook
changes = {root / k: (None if v == "None" else v.encode()) for k, v in
           [("config/bacrouter", "new uci\\n"), ("bacrouter/modbus/a.json", "new a"),
            ("bacrouter/modbus/b.json", "new b"), ("bacrouter/gone.json", "None")]}
transaction.commit(Paths(root), changes)
"""


@pytest.mark.parametrize("where, count", [("staged", 1), ("staged", 2), ("journal written", 1), ("committed", 1),
                                          ("renamed", 1), ("renamed", 2), ("renamed", 3)])
def test_sigkill_at_every_step_leaves_the_old_or_the_new_configuration(tmp_path, where, count):
    paths = tree(tmp_path)
    done = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path), where, str(count)], cwd=ROOT, timeout=60)
    assert done.returncode == -9  # killed there
    transaction.recover(paths)  # what every reader does first
    after = state(tmp_path)
    expected = old_state() if where in ("staged", "journal written") else new_state()
    assert after == expected
    assert not list(tmp_path.rglob("*" + transaction.STAGING + "*"))
    assert not (paths.data_dir / transaction.JOURNAL).exists()


def test_a_reader_recovers_before_it_reads(tmp_path):
    from bacrouter.config import load_core

    paths = tree(tmp_path)
    (tmp_path / "config" / "bacrouter").write_text("config bacrouter 'main'\n")
    staged = tmp_path / "config" / ("bacrouter" + transaction.STAGING + "ab12")
    staged.write_text("config bacrouter 'main'\n\toption device_name 'committed'\n")
    (paths.data_dir / transaction.JOURNAL).write_text(
        '{"id": "ab12", "files": [["%s", "%s"]]}' % (tmp_path / "config" / "bacrouter", staged))
    config, _ = load_core(paths)
    assert config is not None and config.app.device_name == "committed"


def test_nothing_to_undo_is_said(tmp_path):
    with pytest.raises(transaction.TransactionError, match="no previous configuration"):
        transaction.undo(tree(tmp_path))


def test_a_failure_before_the_commit_point_changes_nothing(tmp_path, monkeypatch):
    paths = tree(tmp_path)

    def fail(step):
        if step == "journal written":
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(transaction, "step_hook", fail)
    with pytest.raises(OSError):
        transaction.commit(paths, {tmp_path / k: v for k, v in NEW.items()})
    assert state(tmp_path) == old_state()
    assert not list(tmp_path.rglob("*" + transaction.STAGING + "*"))
    assert os.listdir(paths.data_dir)
