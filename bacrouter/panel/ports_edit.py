"""The port editors and Save & Apply (``/config/ports``, ``/changes``).

The form of a port is generated from its section model (every kind of
:data:`bacrouter.config.model.PORT_TYPES`: BACnet/IP, MS/TP, BACnet Ethernet,
VBUS): every ``opt(...)`` field is one input, its doc the help text, choices a
select, a bool a checkbox, min/max the number's bounds, a list one input per
entry (rows added and removed in the page; without JavaScript a blank row
takes a new one). The resource is a select of resource.conf's resources of the
types the kind accepts. Options the model marks ``used_when`` another option
has some value (a BBMD's table in bbmd mode) are hidden by the page's script
otherwise. Saving a form stages the edit (see :mod:`.staging`); nothing
reaches /etc/config until Save & Apply, which shows each problem the loader
finds at its field (and a list entry's problem at its row).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

import bottle

from ..config import load_core, uci
from ..config.model import PORT_TYPES, Section
from .editors import field_link, option_link
from .responses import redirect, staged_package
from .staging import Staging, StaleBase

if TYPE_CHECKING:
    from .auth import Session

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register", "form_fields", "apply_form", "staged_count"]

#: the port types the panel edits: every kind the router has
EDITABLE: dict[str, type[Section]] = dict(PORT_TYPES)
#: what the add form calls each kind
KIND_LABELS = {"bip": "BACnet/IP", "mstp": "MS/TP (RS485)", "ethernet": "BACnet Ethernet (802.2)",
               "vbus": "Virtual network (VBUS)"}
#: the browser's check of a list entry as it is typed (the loader's check is the one that counts):
#: option -> (pattern, what it says when the entry does not match)
_ENTRY_PATTERNS = {
    "bdt": (r"(\d{1,3}\.){3}\d{1,3}(:\d{1,5})?(/(\d{1,2}|(\d{1,3}\.){3}\d{1,3}))?",
            "an IPv4 address, :port and /mask optional: 10.8.0.1, 10.8.0.1:47808/255.255.255.255"),
}


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
                resources: list[str] | None = None, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One dict per option of ``cls``: what the template needs to draw its input.

    ``resources`` (when the kind has a resource) are the names to offer, ``labels`` what to show for each.
    """
    out = []
    for f in cls.options():
        meta, option = f.metadata, f.metadata["option"] or f.name
        raw = section.options.get(option) if section is not None else None
        kind = _kind(f)
        default = [] if kind == "list" else f.default
        choices = [str(c) for c in meta["choices"]] if meta["choices"] is not None else None
        note = ""
        if option == "resource" and resources is not None and cls.resource_types:
            kind, choices = "select", list(resources)
            if isinstance(raw, str) and raw not in choices:
                choices.insert(0, raw)
            if not resources:
                note = f"resource.conf has no {' or '.join(t.value for t in cls.resource_types)} resource: add one first"
        if kind == "list":
            value: Any = (raw if isinstance(raw, list) else [raw]) if raw is not None else []
        elif kind == "bool":
            value = (str(raw).strip().lower() in ("1", "yes", "on", "true", "enabled")) if raw is not None \
                else bool(default)
        else:
            value = raw if isinstance(raw, str) else ("" if default is None else str(default) if raw is None else "")
        when = cls.used_when.get(option)
        pattern = _ENTRY_PATTERNS.get(option) if kind == "list" else None
        out.append({"option": option, "kind": kind, "doc": meta["doc"], "min": meta["min"], "max": meta["max"],
                    "required": meta["required"], "choices": choices, "value": value, "note": note,
                    "labels": labels or {}, "default": "" if default is None else default, "set": raw is not None,
                    "shown_when": f"{when[0]}={'|'.join(when[1])}" if when else "",
                    "pattern": pattern[0] if pattern else "", "pattern_title": pattern[1] if pattern else ""})
    return out


def list_rows(entries: list[str], problems: list[Any]) -> tuple[list[dict[str, Any]], list[Any]]:
    """A list option's entries, each with the problems the loader names it in (``'10.0.0.300': ...``);
    and the problems of no one entry."""
    rows, placed = [], set()
    for entry in entries:
        prefix = f"{entry.strip()!r}: "
        own = [p for p in problems if p.message.startswith(prefix) or p.message.startswith(repr(entry.strip()) + " ")]
        placed.update(id(p) for p in own)
        # at its row the entry need not be named again
        rows.append({"value": entry, "problems": [dataclasses.replace(p, message=p.message.removeprefix(prefix))
                                                  for p in own]})
    return rows, [p for p in problems if id(p) not in placed]


def apply_form(cls: type[Section], section: uci.UciSection, form: Any) -> None:
    """Write the submitted values into ``section``: an empty field removes its option (the default applies, and
    a required option is reported missing at its field)."""
    for f in cls.options():
        option, kind = f.metadata["option"] or f.name, _kind(f)
        if kind == "bool":
            checked = form.get("o." + option) is not None
            if checked == bool(f.default) and option not in section.options:
                continue
            section.options[option] = "1" if checked else "0"
            continue
        if kind == "list":
            # one input per entry (several of one name), a textarea's lines, or none left at all: the
            # hidden "l.OPTION" says the form had the list, so removing every row empties it
            values = form.decode().getall("o." + option) if hasattr(form, "decode") else \
                [v for v in [form.get("o." + option)] if v is not None]
            if not values and form.get("l." + option) is None:
                continue
            items = [line.strip() for value in values for line in value.splitlines() if line.strip()]
            if items:
                section.options[option] = items
            else:
                section.options.pop(option, None)
            continue
        raw = form.getunicode("o." + option) if hasattr(form, "getunicode") else form.get("o." + option)
        if raw is None:
            continue
        text = raw.strip()
        if text == "":
            section.options.pop(option, None)  # the default; a required one: the loader says it is missing
        else:
            section.options[option] = text


def register(panel: Panel) -> None:
    panel.menu.append(("config", "Configure", "/config/ports"))
    panel.editors.update(dict.fromkeys(EDITABLE, option_link("/config/ports")))
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
        return staged_package(self.staging())

    def _section(self, package: uci.UciPackage, name: str) -> tuple[uci.UciSection, type[Section]]:
        section = package.section(name) if uci.validate_name(name) else None
        if section is None or section.type not in EDITABLE:
            bottle.abort(404, f"no port '{name}' the panel can edit")
        return section, EDITABLE[section.type]

    def _resources(self, cls: type[Section], package: uci.UciPackage | None = None,
                   own: str = "") -> tuple[list[str], dict[str, str]]:
        """resource.conf's resources of the types ``cls`` takes (the unused first), and a label for each
        (its interface or tty, and the ports of ``package`` besides ``own`` that use it)."""
        config, _ = load_core(self.panel.paths)
        if config is None or not cls.resource_types:
            return [], {}
        users: dict[str, list[str]] = {}
        for section in package or []:
            if section.name != own and section.type in EDITABLE and isinstance(section.options.get("resource"), str):
                users.setdefault(section.options["resource"], []).append(f"{section.type} '{section.name}'")
        names = [n for n, r in config.resources.items() if r.type in cls.resource_types]
        names.sort(key=lambda n: n in users)  # stable: file order, the free ones first
        labels = {n: f"{n} ({config.resources[n].ifname}"
                     + (f"; used by {', '.join(users[n])})" if n in users else ")") for n in names}
        return names, labels

    # -------------------------------------------------------------- pages

    def list_page(self, session: Session) -> str:
        package = self._package()
        checked = self.staging().validate()
        ports = [{"name": s.name, "type": s.type, "kind": KIND_LABELS.get(s.type, s.type),
                  "network": s.options.get("network", "-"), "resource": s.options.get("resource", "-"),
                  "enabled": str(s.options.get("enabled", "1")).lower() not in ("0", "no", "off", "false", "disabled"),
                  "errors": sum(p.severity == "error" for p in checked.problems if p.section == f"{s.type} '{s.name}'"),
                  "editable": s.type in EDITABLE, "anonymous": s.anonymous}
                 for s in package if s.type in PORT_TYPES]
        return self.panel.render("port_edit.tpl", session, title="Configure ports", active="config", view="list",
                                 ports=ports, problems=checked.problems, kinds=KIND_LABELS)

    def edit_page(self, session: Session, name: str, problems: list[Any] | None = None) -> str:
        package = self._package()
        section, cls = self._section(package, name)
        checked = self.staging().validate()
        label = f"{section.type} '{section.name}'"
        fields = form_fields(cls, section, *self._resources(cls, package, name))
        placed: set[int] = set()
        for field_ in fields:
            field_["problems"] = checked.at(label, field_["option"])
            placed.update(id(p) for p in field_["problems"])
            if field_["kind"] == "list":
                field_["rows"], field_["problems"] = list_rows(field_["value"], field_["problems"])
        own = [p for p in checked.problems if p.section == label and id(p) not in placed]
        return self.panel.render("port_edit.tpl", session, title=f"Port {name}", active="config", view="edit",
                                 port=name, type=section.type, kind=KIND_LABELS.get(section.type, section.type),
                                 doc=(cls.__doc__ or "").strip().replace("``", ""), fields=fields,
                                 section_problems=own)

    def changes_page(self, session: Session, problems: list[Any] | None = None, result: dict[str, Any] | None = None,
                     message: str | None = None) -> str:
        staging = self.staging()
        checked = staging.validate() if problems is None else None
        return self.panel.render("changes.tpl", session, title="Changes", active="changes", message=message,
                                 changes=staging.changes(), diff=staging.diff(),
                                 problems=problems if problems is not None else checked.problems, result=result,
                                 link=functools.partial(field_link, self.panel.editors))

    # -------------------------------------------------------------- edits (staged)

    def add_port(self, session: Session) -> None:

        form = bottle.request.forms
        type_, name = form.getunicode("type") or "bip", (form.getunicode("name") or "").strip()
        if type_ not in EDITABLE:
            bottle.abort(400, f"the kind of port is one of {', '.join(EDITABLE)}")
        if not uci.validate_name(name):
            bottle.abort(400, "a port name is letters, digits and _ (like bip1)")
        package = self._package()
        if package.section(name) is not None:
            bottle.abort(409, f"a section '{name}' exists already")
        used = {s.options.get("network") for s in package if s.options.get("network")}
        network = next(n for n in range(1, 65535) if str(n) not in used)
        section = package.add(type_, name)
        section.options["network"] = str(network)
        resources, _ = self._resources(EDITABLE[type_], package, name)
        if resources:
            section.options["resource"] = resources[0]  # an unused one when there is one
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

