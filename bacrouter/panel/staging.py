"""The panel's staged edits: an edited copy of the UCI file in ``RUN_DIR/panel-staging/``.

Edits go to the copy, never to /etc/config/bacrouter; Save & Apply checks the
copy with the same loader as ``bacrouter check`` (in a scratch directory that
is the configuration directory with the staged file in it), commits it with
:func:`bacrouter.config.transaction.commit` and asks the daemon to reload.
Revert deletes the copy. The panel keeps nothing of its own: a panel restart
finds the staged file where it was, and every session sees the same one (it is
the router's next configuration, not a user's draft).

Next to the copy, ``base.sha256`` is the digest of the live file the edits
started from: when the live file changed since (``uci set``, ``bacrouter
config import``, another panel), applying would throw that change away, so
Apply refuses and the edits are reverted or redone.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import transaction, uci
from ..config.model import Problem
from ..paths import Paths

__all__ = ["Staging", "Validation", "ApplyResult", "StaleBase"]

#: one apply or edit at a time per panel process (the files are the state; this only orders writers)
_LOCK = threading.Lock()


class StaleBase(Exception):
    """The live configuration changed since the staged edits began."""


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
        self.base = self.dir / "base.sha256"

    # -------------------------------------------------------------- reading

    @property
    def active(self) -> bool:
        return self.file.is_file()

    def _live_bytes(self) -> bytes:
        try:
            return self.paths.uci_file.read_bytes()
        except FileNotFoundError:
            return b""

    def package(self) -> uci.UciPackage:
        """The staged package (the live one while nothing is staged)."""
        source = self.file if self.active else self.paths.uci_file
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
        out = [f"added {s.type} '{n}'" for n, s in after.items() if n not in before]
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

        if not self.active:
            return ""
        return "".join(difflib.unified_diff(self._live_bytes().decode(errors="replace").splitlines(True),
                                            self.file.read_bytes().decode(errors="replace").splitlines(True),
                                            "live", "staged"))

    # -------------------------------------------------------------- writing

    def save(self, package: uci.UciPackage) -> None:
        """Stage ``package`` (the first edit records which live file it started from)."""
        with _LOCK:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.active:
                uci.write_atomic(self.base, hashlib.sha256(self._live_bytes()).hexdigest() + "\n", 0o600)
            uci.write_atomic(self.file, uci.dumps(package), 0o600)  # holds the password hash: the admin's only

    def revert(self) -> None:
        with _LOCK:
            shutil.rmtree(self.dir, ignore_errors=True)

    def stale(self) -> bool:
        try:
            recorded = self.base.read_text().strip()
        except FileNotFoundError:
            return False
        return recorded != hashlib.sha256(self._live_bytes()).hexdigest()

    # -------------------------------------------------------------- checking and applying

    def validate(self) -> Validation:
        """``bacrouter check`` on the staged configuration: the live directory with the staged file in it."""
        from ..loader import load_config

        with tempfile.TemporaryDirectory(prefix="bacrouter-staging-") as scratch:
            paths = Paths(Path(scratch))
            paths.uci_dir.mkdir()
            if self.active:
                shutil.copyfile(self.file, paths.uci_file)
            elif self.paths.uci_file.is_file():
                shutil.copyfile(self.paths.uci_file, paths.uci_file)
            if self.paths.data_dir.is_dir():
                shutil.copytree(self.paths.data_dir, paths.data_dir, symlinks=True,
                                ignore=shutil.ignore_patterns("*.previous*", ".transaction*"))
            else:
                paths.data_dir.mkdir()
            _, problems = load_config(paths)
            # say the real files, not the scratch copies
            prefix, real = scratch, str(self.paths.root) if self.paths.root else ""
            problems = [Problem(p.message, _unscratch(p.file, paths, self.paths, prefix, real), p.line, p.section,
                                p.option, p.severity) for p in problems]
        return Validation(problems)

    def apply(self, reload: bool = True) -> ApplyResult:
        """Check, commit and reload; nothing is written when the check finds an error."""
        from ..configfile import reload_daemon

        if not self.active:
            return ApplyResult(True, reload={"state": "nothing staged"})
        if self.stale():
            raise StaleBase("the configuration file changed since these edits began (by uci, a configuration "
                            "import or another panel): revert them and edit again")
        checked = self.validate()
        if checked.errors:
            return ApplyResult(False, checked.problems)
        with _LOCK:
            transaction.commit(self.paths, {self.paths.uci_file: self.file.read_bytes()})
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
