"""The port editors and Save & Apply (``/config/ports``, ``/changes``).

The form of a port is generated from its section model: every ``opt(...)``
field of :class:`bacrouter.config.model.BipPort` is one input, its doc the help
text, choices a select, a bool a checkbox, min/max the number's bounds, a list
a textarea (one entry a line). Saving a form stages the edit (see
:mod:`.staging`); nothing reaches /etc/config until Save & Apply, which shows
each problem the loader finds at its field.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import bottle

from ..config import load_core, uci
from ..config.model import BipPort, Section
from .responses import redirect
from .staging import Staging, StaleBase

if TYPE_CHECKING:
    from .auth import Session

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register", "form_fields", "apply_form", "staged_count", "EDITOR_LINKS"]

#: the port types the panel edits (MS/TP and the others come later)
EDITABLE: dict[str, type[Section]] = {BipPort.uci_type: BipPort}


def staged_count(panel: Panel) -> int:
    return len(Staging(panel.paths).changes())


def _kind(f: dataclasses.Field[Any]) -> str:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind.startswith("list"):
        return "list"
    if f.metadata.get("choices") is not None:
        return "select"
    return {"bool": "bool", "int": "int"}.get(kind, "str")


def form_fields(cls: type[Section], section: uci.UciSection | None,
                resources: list[str] | None = None) -> list[dict[str, Any]]:
    """One dict per option of ``cls``: what the template needs to draw its input."""
    out = []
    for f in cls.options():
        meta, option = f.metadata, f.metadata["option"] or f.name
        raw = section.options.get(option) if section is not None else None
        kind = _kind(f)
        default = [] if kind == "list" else f.default
        choices = [str(c) for c in meta["choices"]] if meta["choices"] is not None else None
        if option == "resource" and resources:
            kind, choices = "select", list(resources)
            if isinstance(raw, str) and raw not in choices:
                choices.insert(0, raw)
        if kind == "list":
            value: Any = "\n".join(raw if isinstance(raw, list) else [raw]) if raw is not None else ""
        elif kind == "bool":
            value = (str(raw).strip().lower() in ("1", "yes", "on", "true", "enabled")) if raw is not None \
                else bool(default)
        else:
            value = raw if isinstance(raw, str) else ("" if default is None else str(default) if raw is None else "")
        out.append({"option": option, "kind": kind, "doc": meta["doc"], "min": meta["min"], "max": meta["max"],
                    "required": meta["required"], "choices": choices, "value": value,
                    "default": "" if default is None else default, "set": raw is not None})
    return out


def apply_form(cls: type[Section], section: uci.UciSection, form: Any) -> None:
    """Write the submitted values into ``section``: an empty field removes its option (the default applies)."""
    for f in cls.options():
        option, kind = f.metadata["option"] or f.name, _kind(f)
        if kind == "bool":
            checked = form.get("o." + option) is not None
            if checked == bool(f.default) and option not in section.options:
                continue
            section.options[option] = "1" if checked else "0"
            continue
        raw = form.getunicode("o." + option) if hasattr(form, "getunicode") else form.get("o." + option)
        if raw is None:
            continue
        if kind == "list":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if items:
                section.options[option] = items
            else:
                section.options.pop(option, None)
            continue
        text = raw.strip()
        if text == "" and not f.metadata["required"]:
            section.options.pop(option, None)
        elif text != "" or option in section.options:
            section.options[option] = text


def register(panel: Panel) -> None:
    panel.menu.append(("config", "Configure", "/config/ports"))
    Routes(panel).add(panel.app)


class Routes:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    def add(self, app: bottle.Bottle) -> None:
        p = self.panel
        app.route("/config/ports", callback=p.logged_in(self.list_page))
        app.route("/config/ports/add", method="POST", callback=p.logged_in(self.add_port, post=True))
        app.route("/config/ports/<name>", callback=p.logged_in(self.edit_page))
        app.route("/config/ports/<name>", method="POST", callback=p.logged_in(self.save_port, post=True))
        app.route("/config/ports/<name>/delete", method="POST", callback=p.logged_in(self.delete_port, post=True))
        app.route("/changes", callback=p.logged_in(self.changes_page))
        app.route("/changes/apply", method="POST", callback=p.logged_in(self.apply, post=True))
        app.route("/changes/revert", method="POST", callback=p.logged_in(self.revert, post=True))

    def staging(self) -> Staging:
        return Staging(self.panel.paths)

    def _package(self) -> uci.UciPackage:
        try:
            return self.staging().package()
        except uci.UciError as err:
            bottle.abort(409, f"the configuration file cannot be read: {err}")
            raise

    def _section(self, package: uci.UciPackage, name: str) -> tuple[uci.UciSection, type[Section]]:
        section = package.section(name) if uci.validate_name(name) else None
        if section is None or section.type not in EDITABLE:
            bottle.abort(404, f"no port '{name}' the panel can edit")
        return section, EDITABLE[section.type]

    def _resources(self, cls: type[Section]) -> list[str]:
        config, _ = load_core(self.panel.paths)
        if config is None:
            return []
        return [n for n, r in config.resources.items() if not cls.resource_types or r.type in cls.resource_types]

    # -------------------------------------------------------------- pages

    def list_page(self, session: Session) -> str:
        package = self._package()
        ports = [{"name": s.name, "type": s.type, "network": s.options.get("network", "-"),
                  "resource": s.options.get("resource", "-"), "editable": s.type in EDITABLE, "anonymous": s.anonymous}
                 for s in package if s.type in ("bip", "mstp", "ethernet", "vbus")]
        checked = self.staging().validate()
        return self.panel.render("port_edit.tpl", session, title="Configure ports", active="config", view="list",
                                 ports=ports, problems=checked.problems)

    def edit_page(self, session: Session, name: str, problems: list[Any] | None = None) -> str:
        package = self._package()
        section, cls = self._section(package, name)
        checked = self.staging().validate()
        label = f"{section.type} '{section.name}'"
        fields = form_fields(cls, section, self._resources(cls))
        for field_ in fields:
            field_["problems"] = checked.at(label, field_["option"])
        shown = {(label, f["option"]) for f in fields}
        own = [p for p in checked.problems if p.section == label and (p.section, p.option) not in shown]
        return self.panel.render("port_edit.tpl", session, title=f"Port {name}", active="config", view="edit",
                                 port=name, type=section.type, doc=(cls.__doc__ or "").strip().replace("``", ""), fields=fields,
                                 section_problems=own)

    def changes_page(self, session: Session, problems: list[Any] | None = None, result: dict[str, Any] | None = None,
                     message: str | None = None) -> str:
        staging = self.staging()
        checked = staging.validate() if problems is None else None
        return self.panel.render("changes.tpl", session, title="Changes", active="changes", message=message,
                                 changes=staging.changes(), diff=staging.diff(),
                                 problems=problems if problems is not None else checked.problems, result=result,
                                 link=_field_link)

    # -------------------------------------------------------------- edits (staged)

    def add_port(self, session: Session) -> None:

        form = bottle.request.forms
        type_, name = form.getunicode("type") or "bip", (form.getunicode("name") or "").strip()
        if type_ not in EDITABLE:
            bottle.abort(400, f"the panel adds {', '.join(EDITABLE)} ports")
        if not uci.validate_name(name):
            bottle.abort(400, "a port name is letters, digits and _ (like bip1)")
        package = self._package()
        if package.section(name) is not None:
            bottle.abort(409, f"a section '{name}' exists already")
        used = {s.options.get("network") for s in package if s.options.get("network")}
        network = next(n for n in range(1, 65535) if str(n) not in used)
        section = package.add(type_, name)
        section.options["network"] = str(network)
        resources = self._resources(EDITABLE[type_])
        if resources:
            section.options["resource"] = resources[0]
        self.staging().save(package)
        redirect(f"/config/ports/{name}")

    def save_port(self, session: Session, name: str) -> None:

        package = self._package()
        section, cls = self._section(package, name)
        apply_form(cls, section, bottle.request.forms)
        self.staging().save(package)
        redirect(f"/config/ports/{name}")

    def delete_port(self, session: Session, name: str) -> None:

        package = self._package()
        self._section(package, name)
        package.remove(name)
        self.staging().save(package)
        redirect("/config/ports")

    # -------------------------------------------------------------- Save & Apply, Revert

    def apply(self, session: Session) -> str:
        staging = self.staging()
        try:
            result = staging.apply()
        except StaleBase as err:
            bottle.response.status = 409
            return self.changes_page(session, message=str(err))
        except OSError as err:
            bottle.response.status = 500
            return self.changes_page(session, message=f"the configuration could not be written: {err}")
        if not result.ok:
            bottle.response.status = 409
            return self.changes_page(session, problems=result.problems,
                                     message="Not applied: the staged configuration has errors (below, each at its "
                                             "field). Nothing was written.")
        return self.changes_page(session, problems=result.problems, result=result.reload)

    def revert(self, session: Session) -> None:

        self.staging().revert()
        redirect("/changes")


#: where a problem shown in /changes is edited: by its section's type (``bip``), or, for a problem of no section,
#: by the folder of its file in the data directory (``conversions/``); a function of (name, problem) gives the
#: editor's URL (or None). Each page module adds its own when it registers.
EDITOR_LINKS: dict[str, Callable[[str, Any], str | None]] = {}


def _port_link(name: str, problem: Any) -> str:
    return f"/config/ports/{name}" + (f"#field-{problem.option}" if problem.option else "")


EDITOR_LINKS.update(dict.fromkeys(EDITABLE, _port_link))


def _field_link(problem: Any) -> str | None:
    """The editor (and field anchor) a problem belongs to, when the panel has one."""
    found = re.fullmatch(r"(\w+) '([A-Za-z0-9_]+)'", problem.section or "")
    if found:
        key, name = found.group(1), found.group(2)
    elif problem.file:
        key, name = PurePosixPath(problem.file).parent.name + "/", PurePosixPath(problem.file).name
    else:
        return None
    link = EDITOR_LINKS.get(key)
    return link(name, problem) if link is not None else None
