"""The panel's staged edits: edited copies of the configuration in ``RUN_DIR/panel-staging/``.

Edits go to the copies, never to /etc: the UCI file (``panel-staging/bacrouter``)
and files of the data directory (points files, bus definitions, scripts:
``panel-staging/data/RELPATH``, a deletion listed in ``deleted.json``). Save &
Apply checks the whole staged configuration with the same loader as
``bacrouter check`` (in a scratch directory: the live configuration with the
staged files over it), commits every file as one change with
:func:`bacrouter.config.transaction.commit` and asks the daemon to reload.
Revert deletes the copies. The panel keeps nothing of its own: a panel restart
finds the staged files where they were, and every session sees the same ones
(they are the router's next configuration, not a user's draft).

``base.json`` holds the digest of each live file when its first edit was
staged: when one changed since (``uci set``, ``bacrouter config import``,
another panel), applying would throw that change away, so Apply refuses and
the edits are reverted or redone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import transaction, uci
from ..config.files import read_if_present
from ..config.model import Config, Problem
from ..paths import Paths
from .child import ChildFailed, in_child

__all__ = ["Staging", "Validation", "ApplyResult", "StaleBase", "BadPath"]

#: seconds a check's answer is reused while no file changed
MEMO_SECONDS = 30.0
#: seconds a check may take before it is given up
CHECK_TIMEOUT = 120.0
_MEMO_LOCK = threading.Lock()
#: the last check: (fingerprint of the files, when, the answer)
_memo: tuple[tuple[Any, ...], float, Validation] | None = None

#: the key of the UCI file in base.json (data files are keyed by their path in the data directory)
UCI_KEY = "uci"

#: one apply or edit at a time per panel process (the files are the state; this only orders writers)
_LOCK = threading.Lock()


class StaleBase(Exception):
    """The live configuration changed since the staged edits began."""


class BadPath(ValueError):
    """A data file's path that is not a plain relative path inside the data directory."""


def _digest(data: bytes | None) -> str:
    return hashlib.sha256(data).hexdigest() if data is not None else "absent"


def check_relpath(relpath: str) -> str:
    """``relpath`` as a plain path inside the data directory (``modbus/b.json``), or BadPath."""
    parts = relpath.split("/")
    if (not relpath or relpath.startswith("/") or "\\" in relpath or "\0" in relpath
            or any(p in ("", ".", "..") or p.startswith(".") for p in parts)):
        raise BadPath(f"{relpath!r} is not a file name inside the data directory")
    return relpath


@dataclass
class Validation:
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def at(self, section: str, option: str = "") -> list[Problem]:
        """The problems of one section label (``bip 'one'``) and option ("" for the section's own)."""
        own = [p for p in self.problems if p.section == section and (
            p.option == option
            # the loader says a missing option on the section ("missing required option 'resource' (...)")
            or (option and not p.option and p.message.startswith(f"missing required option '{option}'")))]
        # a clash is reported on one side ("network number 2 is already used by bip 'one'", "interface eth1
        # already carries ethernet 'a'"): show it on both
        other = [Problem(f"{p.section}: {p.message}", p.file, p.line, section, option, p.severity)
                 for p in self.problems if option and p.option == option and p.section != section
                 and (f"by {section}" in p.message or f"carries {section}" in p.message)]
        return own + other

    def elsewhere(self, labels: set[tuple[str, str]]) -> list[Problem]:
        """The problems not shown at one of ``labels`` (section, option)."""
        return [p for p in self.problems if (p.section, p.option) not in labels]


@dataclass
class ApplyResult:
    ok: bool
    problems: list[Problem] = field(default_factory=list)
    #: what reload_daemon said: state "reloaded" with a summary, "refused", "not running" or "failed"
    reload: dict[str, Any] = field(default_factory=dict)


class Staging:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.dir = paths.run_dir / "panel-staging"
        self.file = self.dir / "bacrouter"
        self.data = self.dir / "data"
        self.deleted_file = self.dir / "deleted.json"
        self.base = self.dir / "base.json"

    # -------------------------------------------------------------- reading

    @property
    def active(self) -> bool:
        return self.file.is_file() or bool(self.data_changes())

    def _deleted(self) -> set[str]:
        try:
            value = json.loads(self.deleted_file.read_text())
        except (FileNotFoundError, ValueError):
            return set()
        return {str(v) for v in value} if isinstance(value, list) else set()

    def _staged_data(self) -> list[str]:
        if not self.data.is_dir():
            return []
        return sorted(str(p.relative_to(self.data)) for p in self.data.rglob("*") if p.is_file())

    def data_changes(self) -> dict[str, bytes | None]:
        """The staged data files by path in the data directory: new contents, or None to delete."""
        out: dict[str, bytes | None] = {rel: (self.data / rel).read_bytes() for rel in self._staged_data()}
        out.update({rel: None for rel in self._deleted()})
        return out

    def read_data(self, relpath: str) -> bytes | None:
        """A data file as the staged configuration has it (None: it does not exist there)."""
        relpath = check_relpath(relpath)
        if relpath in self._deleted():
            return None
        staged = self.data / relpath
        if staged.is_file():
            return staged.read_bytes()
        return read_if_present(self.paths.data_dir / relpath)

    def _live_bytes(self) -> bytes:
        try:
            return self.paths.uci_file.read_bytes()
        except FileNotFoundError:
            return b""

    def package(self) -> uci.UciPackage:
        """The staged package (the live one while nothing is staged)."""
        source = self.file if self.file.is_file() else self.paths.uci_file
        try:
            package = uci.load(source)
        except FileNotFoundError:
            package = uci.UciPackage(name="bacrouter")
        package.name, package.path = "bacrouter", str(self.paths.uci_file)
        return package

    def live(self) -> uci.UciPackage:
        try:
            return uci.load(self.paths.uci_file)
        except FileNotFoundError:
            return uci.UciPackage(name="bacrouter")

    def changes(self) -> list[str]:
        """One line per staged difference: a section added, removed or with options changed."""
        if not self.active:
            return []
        try:
            staged, live = self.package(), self.live()
        except uci.UciError as err:
            return [f"the configuration cannot be read: {err}"]
        before = {s.name: s for s in live}
        after = {s.name: s for s in staged}
        out = []
        for rel, data in self.data_changes().items():
            existed = (self.paths.data_dir / rel).is_file()
            if data is None:
                out += [f"deleted file {rel}"] if existed else []
            elif not existed:
                out.append(f"added file {rel}")
            elif read_if_present(self.paths.data_dir / rel) != data:
                out.append(f"changed file {rel}")
        if not self.file.is_file():
            return out
        out += [f"added {s.type} '{n}'" for n, s in after.items() if n not in before]
        out += [f"deleted {s.type} '{n}'" for n, s in before.items() if n not in after]
        for name, section in after.items():
            old = before.get(name)
            if old is None or old.options == section.options:
                continue
            keys = sorted(set(old.options) | set(section.options))
            changed = [k for k in keys if old.options.get(k) != section.options.get(k)]
            out.append(f"changed {section.type} '{name}': {', '.join(changed)}")
        return out

    def diff(self) -> str:
        import difflib

        def lines(data: bytes | None) -> list[str]:
            return (data or b"").decode(errors="replace").splitlines(True)

        out = []
        if self.file.is_file():
            out += difflib.unified_diff(lines(self._live_bytes()), lines(self.file.read_bytes()), "live", "staged")
        for rel, data in self.data_changes().items():
            out += difflib.unified_diff(lines(read_if_present(self.paths.data_dir / rel)), lines(data), f"live/{rel}",
                                        f"staged/{rel}")
        return "".join(out)

    # -------------------------------------------------------------- writing

    def _bases(self) -> dict[str, str]:
        try:
            value = json.loads(self.base.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _record_base(self, key: str, live: bytes | None) -> None:
        """The first edit of a file records the live file it started from (for :meth:`stale`)."""
        bases = self._bases()
        if key not in bases:
            bases[key] = _digest(live)
            uci.write_atomic(self.base, json.dumps(bases, indent=1, sort_keys=True) + "\n", 0o600)

    def save(self, package: uci.UciPackage) -> None:
        """Stage ``package`` as the next UCI file."""
        with _LOCK:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._record_base(UCI_KEY, read_if_present(self.paths.uci_file))
            uci.write_atomic(self.file, uci.dumps(package), 0o600)  # holds the password hash: the admin's only

    def save_data(self, relpath: str, data: bytes | str | None) -> None:
        """Stage a data file's next contents (None: delete it), by its path in the data directory."""
        relpath = check_relpath(relpath)
        if isinstance(data, str):
            data = data.encode()
        with _LOCK:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._record_base(relpath, read_if_present(self.paths.data_dir / relpath))
            staged, deleted = self.data / relpath, self._deleted()
            if data is None:
                staged.unlink(missing_ok=True)
                deleted.add(relpath)
            else:
                staged.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                uci.write_atomic(staged, data, 0o600)
                deleted.discard(relpath)
            uci.write_atomic(self.deleted_file, json.dumps(sorted(deleted)) + "\n", 0o600)

    def revert(self) -> None:
        with _LOCK:
            shutil.rmtree(self.dir, ignore_errors=True)

    def stale(self) -> list[str]:
        """The files changed underneath the staged edits since they began (empty: none)."""
        out = []
        for key, digest in self._bases().items():
            path = self.paths.uci_file if key == UCI_KEY else self.paths.data_dir / key
            if _digest(read_if_present(path)) != digest:
                out.append(str(path))
        return out

    # -------------------------------------------------------------- checking and applying

    def fingerprint(self) -> tuple[Any, ...]:
        """What a check's answer depends on: every configuration file's and staged file's identity and size."""
        entries: list[tuple[str, int, int, int]] = []
        for top in (self.paths.uci_file, self.paths.data_dir, self.dir):
            for path in ([top] if not top.is_dir() else sorted(top.rglob("*"))):
                try:
                    st = path.stat()
                except OSError:
                    continue
                if not path.is_dir() and ".previous" not in path.name and ".transaction" not in path.name:
                    entries.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(entries)

    def validate(self) -> Validation:
        """``bacrouter check`` on the staged configuration: the live directory with the staged files over it.

        Every editor page shows its problems, so the answer is kept while no file changes (and at most
        ``MEMO_SECONDS``: the check also looks at the machine, its interfaces and serial ports). The check
        itself runs in a child process: loading 10,000 points takes memory that a long-running panel would
        otherwise keep.
        """
        global _memo
        key = self.fingerprint()
        with _MEMO_LOCK:
            if _memo is not None and _memo[0] == key and time.monotonic() - _memo[1] < MEMO_SECONDS:
                return _memo[2]
        try:
            checked = Validation(in_child(self._validate, CHECK_TIMEOUT))
        except ChildFailed as err:
            checked = Validation([Problem(f"the check could not be made: {err}", "", 0, "", "", "error")])
        with _MEMO_LOCK:
            _memo = (key, time.monotonic(), checked)
        return checked

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Paths]:
        """The staged configuration as a directory of its own (the live one with the staged files in it), for
        as long as the ``with`` lasts: the loader and the importers read it as they would the real one."""
        with tempfile.TemporaryDirectory(prefix="bacrouter-staging-") as scratch:
            paths = Paths(Path(scratch))
            paths.uci_dir.mkdir()
            if self.file.is_file():
                shutil.copyfile(self.file, paths.uci_file)
            elif self.paths.uci_file.is_file():
                shutil.copyfile(self.paths.uci_file, paths.uci_file)
            if self.paths.data_dir.is_dir():
                shutil.copytree(self.paths.data_dir, paths.data_dir, symlinks=True,
                                ignore=shutil.ignore_patterns("*.previous*", ".transaction*"))
            else:
                paths.data_dir.mkdir()
            for rel, data in self.data_changes().items():
                target = paths.data_dir / rel
                if data is None:
                    target.unlink(missing_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.unlink(missing_ok=True)  # a symlink in the copy must not lead the write elsewhere
                    target.write_bytes(data)
            yield paths

    def unscratch(self, scratch: Paths, problem: Problem) -> Problem:
        """A problem found in :meth:`scratch` as it is in the real files."""
        prefix, real = str(scratch.root), str(self.paths.root) if self.paths.root else ""
        return Problem(problem.message, _unscratch(problem.file, scratch, self.paths, prefix, real), problem.line,
                       problem.section, problem.option, problem.severity)

    def _validate(self) -> list[Problem]:
        return self.load()[1]

    def load(self) -> tuple[Config | None, list[Problem]]:
        """The staged configuration as the loader reads it, and its problems (with the real files' paths; the
        paths inside the configuration, such as a slave's ``points_file``, name scratch copies gone by now)."""
        from ..loader import load_config

        with self.scratch() as paths:
            config, problems = load_config(paths)
            return config, [self.unscratch(paths, p) for p in problems]  # the real files, not the scratch copies

    def apply(self, reload: bool = True) -> ApplyResult:
        """Check, commit and reload; nothing is written when the check finds an error."""
        from ..configfile import reload_daemon

        if not self.active:
            return ApplyResult(True, reload={"state": "nothing staged"})
        stale = self.stale()
        if stale:
            raise StaleBase(f"{', '.join(stale)} changed since these edits began (by uci, a configuration import "
                            "or another panel): revert them and edit again")
        checked = self.validate()
        if checked.errors:
            return ApplyResult(False, checked.problems)
        with _LOCK:
            changes: dict[Path, bytes | None] = {self.paths.data_dir / rel: data
                                                 for rel, data in self.data_changes().items()}
            if self.file.is_file():
                changes[self.paths.uci_file] = self.file.read_bytes()
            transaction.commit(self.paths, changes)
            shutil.rmtree(self.dir, ignore_errors=True)
        return ApplyResult(True, checked.problems, reload_daemon(self.paths) if reload else {"state": "not asked"})


def _unscratch(file: str, scratch: Paths, live: Paths, prefix: str, real: str) -> str:
    if not file:
        return file
    if file == str(scratch.uci_file):
        return str(live.uci_file)
    if file.startswith(str(scratch.data_dir)):
        return str(live.data_dir) + file[len(str(scratch.data_dir)):]
    return file.replace(prefix, real, 1) if real else file
