"""Changing several configuration files as one change: all of them or none, even if killed midway.

A change is a mapping of paths to their new bytes (None: remove the file). To
commit it:

1. every new file is written beside its target under a staging name and
   synced (a kill here leaves staging files that nobody reads);
2. the journal (``DATA_DIR/.transaction.json``: each target and its staging
   name) is written and renamed into place: this rename is the commit point;
3. each staging file is renamed over its target, removed files are removed;
4. the journal is removed.

:func:`recover` finishes a change whose journal exists (renaming what is
still staged) and throws away staging files of a change that never reached
its commit point. Every reader of the configuration calls it first
(:func:`bacrouter.config.load_core`), so nobody ever reads a mix of old and
new files. The files a change replaced are kept in ``DATA_DIR/previous/`` so
:func:`undo` can put them back (as a change of its own).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path

from ..paths import Paths

__all__ = ["commit", "recover", "undo", "has_previous", "TransactionError", "JOURNAL", "STAGING"]

JOURNAL = ".transaction.json"
PREVIOUS = "previous"
MANIFEST = "manifest.json"
#: staging files are named TARGET + STAGING + id
STAGING = ".staged-"


class TransactionError(Exception):
    """A change that cannot be made (nothing was changed)."""


#: a test hook: called with the name of each step, so a test can kill the process there
step_hook = None


def _step(name: str) -> None:
    if step_hook is not None:
        step_hook(name)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _journal(paths: Paths) -> Path:
    return paths.data_dir / JOURNAL


def commit(paths: Paths, changes: Mapping[Path, bytes | None], keep_previous: bool = True) -> None:
    """Make ``changes`` as one change (see the module's description). Raises TransactionError or OSError
    before the commit point, leaving everything as it was."""
    recover(paths)
    txid = secrets.token_hex(4)
    staged: list[tuple[str, str | None]] = []  # (target, staging name or None for a removal)
    directories: set[Path] = {paths.data_dir}
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        for target, data in changes.items():
            target = Path(target)
            directories.add(target.parent)
            if data is None:
                staged.append((str(target), None))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                mode = target.stat().st_mode & 0o7777
            except FileNotFoundError:
                mode = 0o644
            staging = target.with_name(target.name + STAGING + txid)
            _write_synced(staging, data, mode)
            staged.append((str(target), str(staging)))
            _step("staged")
        fresh = _stage_previous(paths, [Path(t) for t, _ in staged], txid) if keep_previous else None
        for directory in directories:
            _sync_dir(directory)
        journal = _journal(paths)
        tmp = journal.with_name(journal.name + STAGING + txid)
        _write_synced(tmp, json.dumps({"id": txid, "files": staged}).encode())
        _step("journal written")
        os.replace(tmp, journal)  # the commit point
        _sync_dir(paths.data_dir)
    except BaseException:
        for _, staging in staged:
            if staging:
                Path(staging).unlink(missing_ok=True)
        for leftover in paths.data_dir.glob("*" + STAGING + txid):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        raise
    _step("committed")
    if fresh is not None:
        _swap_previous(paths, fresh, txid)
    _finish(paths, staged)


def _finish(paths: Paths, staged: list[tuple[str, str | None]]) -> None:
    """Roll a committed change forward (again, after a kill: every step can be repeated)."""
    directories = set()
    for target, staging in staged:
        directories.add(Path(target).parent)
        if staging is None:
            Path(target).unlink(missing_ok=True)
        elif Path(staging).exists():
            os.replace(staging, target)
        _step("renamed")
    for directory in directories:
        if directory.exists():
            _sync_dir(directory)
    _journal(paths).unlink(missing_ok=True)
    _sync_dir(paths.data_dir)


def recover(paths: Paths) -> bool:
    """Finish or throw away a change a kill interrupted; True when there was one."""
    journal = _journal(paths)
    found = False
    if journal.exists():
        try:
            staged = [(str(t), s) for t, s in json.loads(journal.read_text())["files"]]
        except (ValueError, KeyError, TypeError, OSError):
            staged = None  # a journal that is not complete was never renamed into place: cannot happen
        if staged is not None:
            _finish(paths, staged)
            found = True
    leftovers: list[Path] = []
    if paths.uci_dir.is_dir():
        leftovers += paths.uci_dir.glob("*" + STAGING + "*")
    if paths.data_dir.is_dir():
        leftovers += paths.data_dir.rglob("*" + STAGING + "*")
        leftovers += paths.data_dir.glob(f"{PREVIOUS}.old-*")
    for leftover in leftovers:  # staged before a commit point that was never reached
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        found = True
    return found


def _stage_previous(paths: Paths, targets: list[Path], txid: str) -> Path:
    """Copy what the change replaces beside DATA_DIR/previous; swapped in once the change is committed."""
    fresh = paths.data_dir / f"{PREVIOUS}{STAGING}{txid}"
    fresh.mkdir(parents=True)
    manifest: dict[str, str | None] = {}
    for index, target in enumerate(targets):
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            manifest[str(target)] = None  # it did not exist: undo removes it
            continue
        name = f"{index}-{target.name}"
        _write_synced(fresh / name, data)
        manifest[str(target)] = name
    _write_synced(fresh / MANIFEST, json.dumps(manifest, indent=1).encode())
    _sync_dir(fresh)
    return fresh


def _swap_previous(paths: Paths, fresh: Path, txid: str) -> None:
    previous = paths.data_dir / PREVIOUS
    old = paths.data_dir / f"{PREVIOUS}.old-{txid}"
    if previous.exists():
        os.replace(previous, old)
    os.replace(fresh, previous)
    if old.exists():
        for entry in old.iterdir():
            entry.unlink()
        old.rmdir()


def has_previous(paths: Paths) -> bool:
    return (paths.data_dir / PREVIOUS / MANIFEST).exists()


def undo(paths: Paths) -> list[Path]:
    """Put back the files the last change replaced (as a change of its own, itself undoable); returns them."""
    recover(paths)
    previous = paths.data_dir / PREVIOUS
    try:
        manifest = json.loads((previous / MANIFEST).read_text())
    except FileNotFoundError:
        raise TransactionError("there is no previous configuration to go back to") from None
    changes: dict[Path, bytes | None] = {}
    for target, name in manifest.items():
        changes[Path(target)] = None if name is None else (previous / name).read_bytes()
    commit(paths, changes)
    return list(changes)
