"""The panel's System page: device settings, the password, backup and restore, and the daemon's recent log.

Kept apart from app.py (which :func:`register` is called from) so the pages
that edit ports can grow there without touching this. Every state-changing
request goes through ``Panel.logged_in(..., post=True)``: the session's CSRF
token and the Origin check. Every configuration write is one
:func:`bacrouter.config.transaction.commit`; device settings are checked with
the real loader in a scratch copy before anything is written, and a restore
changes nothing until its plan is confirmed with the token it was shown with.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import bottle

from ..config import transaction, uci
from ..config.files import read_if_present
from ..config.model import Problem
from ..control_client import ControlError
from .auth import Session, hash_password, new_password_problem, verify_password
from .daemon import Offline

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register", "DEVICE_OPTIONS", "LOG_LEVELS"]

log = logging.getLogger("bacrouter.panel")

#: the options of the UCI ``bacrouter`` section the form edits, with their labels
DEVICE_OPTIONS = (("device_name", "Device name"), ("device_instance", "Device instance"),
                  ("description", "Description"), ("location", "Location"), ("log_level", "Log level"))
LOG_LEVELS = ("info", "warning", "error")
#: a restore plan waits this long for its confirmation
PLAN_TTL = 600.0


def register(panel: Panel) -> None:
    """Add the System page's routes to the panel's app."""
    panel.menu.append(("system", "System", "/system"))
    System(panel).routes()


class System:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self.paths = panel.paths

    def routes(self) -> None:
        app, logged_in = self.panel.app, self.panel.logged_in
        app.route("/system", callback=logged_in(self.page))
        app.route("/system/password", method="POST", callback=logged_in(self.password, post=True))
        app.route("/system/device", method="POST", callback=logged_in(self.device, post=True))
        app.route("/system/backup", callback=logged_in(self.backup))
        app.route("/system/restore", method="POST", callback=logged_in(self.restore, post=True))
        app.route("/system/restore/apply", method="POST", callback=logged_in(self.restore_apply, post=True))
        app.route("/system/log.txt", callback=logged_in(self.log_download))

    # -------------------------------------------------------------- the page

    def _device_values(self) -> dict[str, str]:
        try:
            package = uci.load(self.paths.uci_file)
        except (FileNotFoundError, uci.UciError):
            return {}
        section = next(iter(package.of_type("bacrouter")), None)
        if section is None:
            return {}
        return {key: str(section.get(key) or "") for key, _ in DEVICE_OPTIONS}

    def _level(self) -> str:
        level = bottle.request.query.get("level") or "info"
        if level not in LOG_LEVELS:
            bottle.abort(400, f"level is one of {', '.join(LOG_LEVELS)}")
        return level

    def _log_lines(self, level: str, limit: int = 200) -> tuple[list[dict[str, Any]], str | None]:
        try:
            answer = self.panel.daemon.call("log", {"level": level, "limit": limit})
        except Offline as err:
            return [], f"The router is not running ({err}): its log is not available."
        except ControlError as err:
            return [], err.message
        return list(answer.get("lines") or []), None

    def page(self, session: Session, status: int = 200, **values: Any) -> str:
        level = values.pop("level", None) or self._level()
        lines, offline = self._log_lines(level)
        values.setdefault("device", self._device_values())
        values.setdefault("device_problems", {})
        values.setdefault("device_other", [])
        values.setdefault("notice", None)
        values.setdefault("password_problem", None)
        values.setdefault("plan", None)
        values.setdefault("plan_token", None)
        values.setdefault("restore_problem", None)
        values.setdefault("result", None)
        values.setdefault("reload", None)
        bottle.response.status = status
        return self.panel.render("system.tpl", session, title="System", active="system", offline=offline,
                                 lines=lines, level=level, levels=LOG_LEVELS, options=DEVICE_OPTIONS,
                                 stamp=_stamp, **values)

    # -------------------------------------------------------------- password

    def password(self, session: Session) -> str:
        forms = bottle.request.forms
        old = forms.getunicode("old") or ""
        new = forms.getunicode("password") or ""
        again = forms.getunicode("again") or ""
        settings = self.panel.settings()
        client = self.panel.client()
        wait = self.panel.throttle.wait(client)  # the login's brake: a stolen session cannot guess the password
        if wait > 0:
            bottle.response.set_header("Retry-After", str(int(wait) + 1))
            return self.page(session, 429, password_problem=f"Too many wrong passwords: try again in {int(wait) + 1} s.")
        if not verify_password(old, settings.password_hash):
            problem: str | None = "The current password is wrong."
            self.panel.throttle.failed(client)
        else:
            problem = new_password_problem(new, again, "new password")
            if problem is None:
                self.panel.throttle.succeeded(client)
        if problem:
            return self.page(session, 400, password_problem=problem)
        with self.panel._password_lock:
            package = uci.load(self.paths.uci_file)
            section = package.section("@panel[0]") or package.add("panel", "panel")
            section.options["password_hash"] = hash_password(new)
            transaction.commit(self.paths, {self.paths.uci_file: uci.dump_bytes(package)})
        user = session.user or settings.username
        self.panel.sessions.drop_user(user)  # every session of the user ends, this one too ...
        fresh = self.panel.sessions.new(user)  # ... which goes on with a new id
        self.panel._set_cookie(fresh)
        log.warning("panel: %s changed the password from %s; the other sessions were ended", user,
                    self.panel.client())
        return self.page(fresh, notice="The password was changed; every other session was logged out.")

    # -------------------------------------------------------------- device settings

    def device(self, session: Session) -> str:
        from .. import configfile  # here: the panel at rest does not need it in memory

        forms = bottle.request.forms
        wanted = {key: (forms.getunicode(key) or "").strip() for key, _ in DEVICE_OPTIONS}
        try:
            package = uci.load(self.paths.uci_file)
        except (FileNotFoundError, uci.UciError) as err:
            return self.page(session, 409, device=wanted, device_other=[f"the configuration cannot be read: {err}"])
        section = next(iter(package.of_type("bacrouter")), None) or package.add("bacrouter", "main")
        for key, value in wanted.items():
            if value:
                section.options[key] = value
            else:
                section.options.pop(key, None)
        data = uci.dump_bytes(package)
        new = {}
        for path in configfile._current_files(self.paths):
            current = read_if_present(path)
            if current is not None:
                new[path] = current
        new[self.paths.uci_file] = data
        problems, _ = configfile._check_in_scratch(self.paths, new)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            by_field, other = _by_field(errors, section.name)
            return self.page(session, 400, device=wanted, device_problems=by_field, device_other=other)
        transaction.commit(self.paths, {self.paths.uci_file: data})
        log.info("panel: %s changed the device settings", session.user)
        return self.page(session, device=wanted, reload=configfile.reload_daemon(self.paths),
                         notice="The device settings were saved.")

    # -------------------------------------------------------------- backup and restore

    def backup(self, session: Session) -> str:
        from .. import configfile  # here: the panel at rest does not need it in memory

        try:
            document = configfile.export_router(self.paths)  # without secrets
        except configfile.ConfigFileError as err:
            bottle.abort(409, str(err))
        name = f"bacrouter-{time.strftime('%Y%m%d-%H%M%S')}.json"
        bottle.response.content_type = "application/json; charset=utf-8"
        bottle.response.set_header("Content-Disposition", f'attachment; filename="{name}"')
        return configfile.dumps_document(document)

    def restore(self, session: Session) -> str:
        from .. import configfile  # here: the panel at rest does not need it in memory

        upload = bottle.request.files.get("file")
        if upload is None:
            return self.page(session, 400, restore_problem="Choose a router file to restore.")
        raw = upload.file.read()
        try:
            document, migrated = configfile.read_document(raw, upload.raw_filename or "router file")
            plan = configfile.plan_import(self.paths, document, migrated)
        except configfile.ConfigFileError as err:
            return self.page(session, 400, restore_problem=str(err))
        token = secrets.token_urlsafe(24)
        session.data["restore"] = (token, plan, time.monotonic())
        return self.page(session, plan=plan, plan_token=token if plan.ok else None)

    def restore_apply(self, session: Session) -> str:
        from .. import configfile  # here: the panel at rest does not need it in memory

        token = bottle.request.forms.get("plan") or ""
        pending = session.data.get("restore")
        if not pending or not secrets.compare_digest(str(token), pending[0]) \
                or time.monotonic() - pending[2] > PLAN_TTL:
            return self.page(session, 409, restore_problem="This restore is no longer pending: upload the file again.")
        session.data.pop("restore", None)
        try:
            result = configfile.apply_import(self.paths, pending[1])
        except configfile.ConfigFileError as err:
            return self.page(session, 409, restore_problem=str(err))
        log.warning("panel: %s restored a router file (%d file(s))", session.user, len(result.files))
        return self.page(session, result=result, reload=result.reload,
                         notice=f"Restored: {len(result.files)} file(s) written.")

    # -------------------------------------------------------------- log

    def log_download(self, session: Session) -> str:
        level = self._level()
        lines, offline = self._log_lines(level, 1000)
        if offline:
            bottle.abort(503, offline)
        bottle.response.content_type = "text/plain; charset=utf-8"
        bottle.response.set_header("Content-Disposition",
                                   f'attachment; filename="bacrouter-log-{time.strftime("%Y%m%d-%H%M%S")}.txt"')
        return "".join(f"{_stamp(e.get('t'))} {str(e.get('level', '')).upper()} {e.get('logger', '')}: "
                       f"{e.get('message', '')}\n" for e in lines)


def _stamp(t: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(t)))
    except (TypeError, ValueError):
        return "-"


def _by_field(problems: list[Problem], section: str) -> tuple[dict[str, list[str]], list[str]]:
    """Problems of the form's options by option name; the rest (other sections, no option) as lines."""
    fields = {key for key, _ in DEVICE_OPTIONS}
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for problem in problems:
        if problem.option in fields and (not problem.section or section in problem.section
                                         or problem.section.startswith("bacrouter")):
            by_field.setdefault(problem.option, []).append(problem.message)
        else:
            other.append(str(problem))
    return by_field, other
