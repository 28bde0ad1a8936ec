"""Modbus files in the browser (``/modbus/files``): export master files, slave files and points as CSV; import
them with the collision report shown before anything changes, then staged for Save & Apply.

Exports and imports work on the **staged** configuration (the live one while nothing is staged: see
:meth:`.staging.Staging.scratch`), as the editors do. An import is computed by the same functions as
``bacrouter modbus import`` and ``bacrouter modbus points --import`` (:mod:`bacrouter.modbus_files`,
:mod:`bacrouter.pointscsv`) in a scratch copy: the whole file is read and checked, and the report (what is
added, changed, and disabled and why) is shown. Only when the user stages it do its files go into the staging
directory, where Save & Apply (``/changes``) checks and applies them with the other edits. A file that is not
one, or whose result ``check`` refuses, is refused with its located message (HTTP 400) and nothing is staged.

The report waits for its confirmation in the session (like a restore on the System page), with the staged
configuration's fingerprint: when that changed meanwhile, the file must be uploaded again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bottle

from .. import modbus_files, pointscsv
from ..config import uci
from ..modbus.devicefile import ImportError_, dumps
from ..paths import Paths
from .child import ChildFailed, in_child
from .responses import redirect
from .staging import BadPath, Staging, check_relpath

if TYPE_CHECKING:
    from .auth import Session

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register", "PendingImport", "PLAN_TTL"]

log = logging.getLogger("bacrouter.panel")

#: an import's report waits this long for its confirmation
PLAN_TTL = 900.0
SESSION_KEY = "modbus_import"
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


@dataclass
class PendingImport:
    """An import whose report was shown: the files it stages once confirmed."""

    token: str
    kind: str  # master, slave, csv
    source: str  # the uploaded file's name
    target: str  # the master (slave file) or the slave (CSV) it goes into
    report: dict[str, Any]
    lines: list[str]
    uci: bytes | None  # the next UCI file, or None when the import does not change it
    data: dict[str, bytes]  # data files by path in the data directory
    fingerprint: str
    created: float

    @property
    def ok(self) -> bool:
        return bool(self.report.get("ok"))


class _Fields(dict[str, Any]):
    """The form's fields as plain values (they go to a child process), read the way bottle's forms are."""

    def getunicode(self, key: str) -> Any:
        return self.get(key)


def register(panel: Panel) -> None:
    Files(panel).routes()


def fingerprint(staging: Staging) -> str:
    """What an import was computed from: the staged (or live) UCI file and the staged data files."""
    digest = hashlib.sha256()
    digest.update(uci.dumps(staging.package()).encode())
    for rel, data in sorted(staging.data_changes().items()):
        digest.update(rel.encode() + b"\0" + (hashlib.sha256(data).digest() if data is not None else b"-"))
    return digest.hexdigest()


class Files:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self.paths: Paths = panel.paths

    def routes(self) -> None:
        app, logged_in = self.panel.app, self.panel.logged_in
        app.route("/modbus/files", callback=logged_in(self.page))
        app.route("/modbus/files/masters/<name>.json", callback=logged_in(self.export_master))
        app.route("/modbus/files/slaves/<name>.json", callback=logged_in(self.export_slave))
        app.route("/modbus/files/slaves/<name>.csv", callback=logged_in(self.export_csv))
        app.route("/modbus/files/import", method="POST", callback=logged_in(self.upload, post=True))
        app.route("/modbus/files/stage", method="POST", callback=logged_in(self.stage, post=True))
        app.route("/modbus/files/discard", method="POST", callback=logged_in(self.discard, post=True))

    def staging(self) -> Staging:
        return Staging(self.paths)

    # -------------------------------------------------------------- the page

    def _sections(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        try:
            package = self.staging().package()
        except uci.UciError:
            return [], []
        masters = [{"name": s.name, "protocol": s.options.get("protocol", "rtu")} for s in package.of_type("modbus_master")]
        slaves = [{"name": s.name, "master": s.options.get("master", "")} for s in package.of_type("modbus_slave")]
        return masters, slaves

    def page(self, session: Session, status: int = 200, problem: str | None = None, notice: str | None = None,
             pending: PendingImport | None = None) -> str:
        pending = pending or self._pending(session, bottle.request.query.get("import") or "")
        masters, slaves = self._sections()
        bottle.response.status = status
        return self.panel.render("modbus_files.tpl", session, title="Modbus: files", active="modbus",
                                 masters=masters, slaves=slaves, pending=pending, problem=problem, notice=notice,
                                 staged_edits=self.staging().active)

    def _pending(self, session: Session, token: str) -> PendingImport | None:
        pending: PendingImport | None = session.data.get(SESSION_KEY)
        if pending is None or not token or not secrets.compare_digest(token, pending.token):
            return None
        if time.monotonic() - pending.created > PLAN_TTL:
            session.data.pop(SESSION_KEY, None)
            return None
        return pending

    # -------------------------------------------------------------- export

    @staticmethod
    def _name(name: str) -> str:
        if not _NAME.fullmatch(name):
            bottle.abort(404, "no such section")
        return name

    def _download(self, data: bytes | str, filename: str, mimetype: str) -> bytes | str:
        bottle.response.content_type = mimetype
        bottle.response.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        return data

    def _export(self, build: Any) -> Any:
        """``build(paths, config)`` (the file's text) on the staged configuration; an unknown section or
        unreadable file: 404/409.

        In a child process (:mod:`.child`): the whole configuration is loaded for it, and a panel that
        exported once would otherwise keep that memory."""
        staging, data_dir = self.staging(), str(self.paths.data_dir)

        def work() -> tuple[int, Any]:
            from ..loader import load_config

            with staging.scratch() as paths:
                config, problems = load_config(paths)
                if config is None:
                    return 409, "the configuration cannot be read: " + "; ".join(
                        str(staging.unscratch(paths, p)) for p in problems[:3])
                try:
                    return 200, build(paths, config)
                except (ImportError_, ValueError) as err:
                    return 404, str(err).replace(str(paths.data_dir), data_dir)

        try:
            status, data = in_child(work)
        except ChildFailed as err:
            bottle.abort(500, f"the export could not be made: {err}")
        if status != 200:
            bottle.abort(status, data)
        return data

    def export_master(self, session: Session, name: str) -> Any:
        name = self._name(name)
        data = self._export(lambda paths, config: dumps(modbus_files.export_master(config, name)))
        return self._download(data, f"{name}.master.json", "application/json; charset=utf-8")

    def export_slave(self, session: Session, name: str) -> Any:
        name = self._name(name)
        data = self._export(lambda paths, config: dumps(modbus_files.export_slave(config, name)))
        return self._download(data, f"{name}.json", "application/json; charset=utf-8")

    def export_csv(self, session: Session, name: str) -> Any:
        name = self._name(name)
        data = self._export(lambda paths, config: pointscsv.modbus_points_csv(paths, name))
        return self._download(data, f"{name}.csv", "text/csv; charset=utf-8")

    # -------------------------------------------------------------- import: the report

    def upload(self, session: Session) -> str:
        forms = bottle.request.forms
        kind = forms.get("kind") or ""
        upload = bottle.request.files.get("file")
        if kind not in ("device", "csv"):
            return self.page(session, 400, problem="Choose what to import: a master or slave file, or points as CSV.")
        if upload is None or not upload.raw_filename:
            return self.page(session, 400, problem="Choose the file to import.")
        raw = upload.file.read()
        source = Path(upload.raw_filename.replace("\\", "/")).name[:120] or "upload"
        if not raw.strip():
            return self.page(session, 400, problem=f"{source}: the file is empty.")
        staging = self.staging()
        before = fingerprint(staging)
        fields = _Fields({key: forms.getunicode(key) for key in ("name", "master", "slave", "merge")})

        def work() -> tuple[PendingImport | None, str | None]:
            # in a child process (.child): the import loads the whole configuration, memory the panel would keep
            with staging.scratch() as scratch:
                if kind == "csv":
                    return self._import_csv(scratch, raw, source, fields)
                return self._import_device(scratch, raw, source, fields)

        try:
            pending, problem = in_child(work)
        except ChildFailed as err:
            return self.page(session, 500, problem=f"{source}: the import could not be checked: {err}")
        if pending is None:
            return self.page(session, 400, problem=problem)
        pending.fingerprint = before
        session.data[SESSION_KEY] = pending
        log.info("panel: %s checked the import of %s (%s): %s", session.user, source, pending.kind,
                 "ok" if pending.ok else "refused")
        if not pending.ok:  # the report says why, at 400: nothing can be staged from it
            return self.page(session, 400, pending=pending)
        redirect(f"/modbus/files?import={pending.token}#report")
        return ""

    def _import_device(self, scratch: Paths, raw: bytes, source: str, forms: Any
                       ) -> tuple[PendingImport | None, str | None]:
        name = (forms.getunicode("name") or "").strip() or None
        if name is not None and not _NAME.fullmatch(name):
            return None, "A section name is letters, digits and _ (like meter_2)."
        try:
            data = modbus_files.read_file_data(raw, source)
        except ImportError_ as err:
            return None, f"Not imported: {err}"
        if isinstance(data, dict) and data.get("format") == modbus_files.MASTER_FORMAT:
            report = modbus_files.import_master(scratch, raw, name, source)
            kind, target = "master", ""
        else:
            target = forms.getunicode("master") or ""
            if not target:
                return None, f"{source} is a slave file: choose the master it goes on."
            report = modbus_files.import_slave(scratch, raw, target, name, source)
            kind = "slave"
        return self._pending_of(scratch, kind, source, target, report.as_dict(), report.lines(), report.changes,
                                report.errors)

    def _import_csv(self, scratch: Paths, raw: bytes, source: str, forms: Any) -> tuple[PendingImport | None, str | None]:
        slave = forms.getunicode("slave") or ""
        if not _NAME.fullmatch(slave):
            return None, "Choose the slave whose points the CSV holds."
        merge = forms.get("merge") is not None
        try:
            report = pointscsv.import_modbus_points(scratch, slave, raw, merge)
        except ValueError as err:
            return None, f"Not imported: {str(err).replace(str(scratch.data_dir), str(self.paths.data_dir))}"
        lines = [f"points added: {', '.join(report.added) or 'none'}", f"points changed: {', '.join(report.changed) or 'none'}",
                 f"points removed: {', '.join(report.removed) or 'none'}", f"points unchanged: {report.unchanged}"]
        lines += [f"warning: {w}" for w in report.warnings]
        errors = [f"{source}: {p}" for p in report.problems]
        return self._pending_of(scratch, "csv", source, slave, report.as_dict(), lines, report.changes, errors)

    def _pending_of(self, scratch: Paths, kind: str, source: str, target: str, report: dict[str, Any],
                    lines: list[str], changes: dict[Path, bytes | None], errors: list[str]
                    ) -> tuple[PendingImport | None, str | None]:
        """The report with its changes as staging wants them (the UCI file; data files by their relative path)."""
        def real(text: str) -> str:
            return text.replace(str(scratch.data_dir), str(self.paths.data_dir)).replace(
                str(scratch.uci_file), str(self.paths.uci_file))

        report = dict(report, errors=[real(e) for e in report.get("errors", [])],
                      warnings=[real(w) for w in report.get("warnings", [])], files=[])
        uci_bytes: bytes | None = None
        data: dict[str, bytes] = {}
        for path, content in changes.items():
            if content is None:
                continue  # imports only add or change files
            if Path(path) == scratch.uci_file:
                uci_bytes = content
                report["files"].append(str(self.paths.uci_file))
                continue
            try:
                rel = check_relpath(str(Path(path).relative_to(scratch.data_dir)))
            except (ValueError, BadPath):
                return None, (f"Not imported: {real(str(path))} is outside the data directory "
                              f"({self.paths.data_dir}): the panel stages files there only")
            data[rel] = content
            report["files"].append(str(self.paths.data_dir / rel))
        if errors:
            report["errors"] = [real(e) for e in errors]
            report["ok"] = False
        return PendingImport(secrets.token_urlsafe(18), kind, source, target, report, [real(x) for x in lines],
                             uci_bytes, data, "", time.monotonic()), None

    # -------------------------------------------------------------- import: staged

    def stage(self, session: Session) -> str:
        pending = self._pending(session, bottle.request.forms.get("token") or "")
        if pending is None or not pending.ok:
            return self.page(session, 409, problem="This import is no longer pending: upload the file again.")
        staging = self.staging()
        if fingerprint(staging) != pending.fingerprint:
            session.data.pop(SESSION_KEY, None)
            return self.page(session, 409, problem="The staged configuration changed since this report was made: "
                                                   "upload the file again to see what it does now.")
        session.data.pop(SESSION_KEY, None)
        for rel, content in pending.data.items():  # the points files first: the UCI file names them
            staging.save_data(rel, content)
        if pending.uci is not None:
            package = uci.parse(pending.uci, "bacrouter", str(self.paths.uci_file))
            staging.save(package)
        log.info("panel: %s staged the import of %s (%s)", session.user, pending.source, pending.kind)
        return self.page(session, notice=f"The import of {pending.source} is staged ({len(pending.data)} file(s)"
                                         f"{' and the configuration' if pending.uci is not None else ''}): "
                                         "Save & Apply on the Changes page applies it with the other edits.")

    def discard(self, session: Session) -> None:
        session.data.pop(SESSION_KEY, None)
        redirect("/modbus/files")
