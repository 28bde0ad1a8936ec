"""The Free Client pages (``/freeclient``): buses, their devices and points, bus scripts and conversion scripts.

A bus is a ``freeclient_bus`` section (its form generated from
:class:`bacrouter.freeclient.schema.FreeClientBus` by ``form_fields``) and a
definition file in the original's export format (``freeclient/NAME.json`` in
the data directory): its bus keys, devices and points are edited through
forms made from the format's keys and docs
(:data:`bacrouter.freeclient.definition.BUS_FORMAT` and the others). A script
is compiled in the sandbox (never run) before it is staged
(:mod:`bacrouter.lua.syntax`); a syntax error is shown with its line and
nothing is staged. Every edit is staged (:mod:`.staging`): the section with
``Staging.save``, the definition and script files with ``Staging.save_data``;
Save & Apply (``/changes``) checks them with the real loader, its problems
linking back here (``panel.editors``, :mod:`.editors`). The live state of each bus comes from
the control method ``freeclient``; "Test bus" runs ``freeclient_test`` as a job.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bottle

from ..config import load_core, uci
from ..config.files import FileProblem, parse_json
from ..freeclient.definition import (
    BUS_FORMAT,
    DEVICE_FORMAT,
    INTERFACE_RS485,
    INTERFACE_TCP,
    OBJECT_TYPE_NAMES,
    POINT_FORMAT,
    SHIPPED_SCRIPTS,
    FormatKey,
)
from ..freeclient.schema import FreeClientBus
from ..humanize import duration
from ..lua.conversions import SCRIPTS as SHIPPED_CONVERSIONS
from ..lua.syntax import MAX_SCRIPT, check_syntax
from .ports_edit import apply_form, form_fields
from .responses import redirect, staged_package
from .staging import BadPath, Staging, check_relpath

if TYPE_CHECKING:
    from .auth import Session

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register", "format_fields", "apply_format", "bus_live"]

NAME = re.compile(r"[A-Za-z0-9_]+")
#: an import waits this long for its confirmation
IMPORT_TTL = 600.0


def register(panel: Panel) -> None:
    panel.menu.append(("freeclient", "Free Client", "/freeclient"))
    panel.job_methods.add("freeclient_test")
    panel.editors[FreeClientBus.uci_type] = _bus_link
    panel.editors["conversions/"] = _conversion_link
    Pages(panel).add(panel.app)


# ----------------------------------------------------------------------------- problems link back here


def _bus_link(name: str, problem: Any) -> str:
    base = f"/freeclient/bus/{name}"
    if problem.option:
        return f"{base}#field-{problem.option}"
    if problem.message.startswith("script "):
        return f"{base}/script"
    found = re.match(r"device (\d+)(?: '[^']*')? point (\d+)", problem.message)
    if found:
        return f"{base}/device/{found.group(1)}/point/{found.group(2)}"
    found = re.match(r"device (\d+)", problem.message)
    if found:
        return f"{base}/device/{found.group(1)}"
    return f"{base}#definition"


def _conversion_link(name: str, problem: Any) -> str | None:
    return f"/freeclient/conversion/{name[:-4]}" if name.endswith(".lua") and NAME.fullmatch(name[:-4]) else None


# ----------------------------------------------------------------------------- forms of the export format


def _choice_value(key: FormatKey, text: str) -> tuple[bool, Any]:
    for value, _ in key.choices or ():
        if str(value) == text:
            return True, value
    return False, None


def format_fields(keys: tuple[FormatKey, ...], raw: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per editable key of the export format (the shape ``form_fields`` gives, for the same template)."""
    out = []
    for key in keys:
        if key.kind in ("list", "script"):
            continue
        value = raw.get(key.name)
        is_set = key.name in raw and value not in (None, "")
        choices = labels = None
        if key.kind == "bool":
            kind, shown = "bool", (_flag(value) if is_set else bool(key.default))
        elif key.kind == "choice":
            kind, shown = "select", str(value) if is_set else ""
            choices = [str(v) for v, _ in key.choices or ()]
            labels = {str(v): label for v, label in key.choices or ()}
            if is_set and shown not in choices:  # the file's own spelling stays selectable (parity "E")
                choices.insert(0, shown)
        elif key.kind == "texts":
            kind = "list"
            shown = "\n".join(str(t) for t in value) if isinstance(value, list) else str(value or "")
        else:
            kind, shown = ("int" if key.kind == "int" else "str"), str(value) if is_set else ""
        out.append({"option": key.name, "kind": kind, "doc": key.doc, "min": key.min, "max": key.max,
                    "required": key.required, "choices": choices, "labels": labels, "value": shown,
                    "default": "" if key.default is None else key.default, "set": is_set, "problems": []})
    return out


def _flag(value: Any) -> bool:
    from ..modbus.devconfig import flag

    return flag(value)


def apply_format(keys: tuple[FormatKey, ...], raw: dict[str, Any], form: Any,
                 text_sets: Any = None) -> dict[str, str]:
    """Write the submitted values into ``raw`` (a bus, device or point of the export format); an empty field
    removes its key (the default applies). Problems by key: nothing should be staged when there are any."""
    problems: dict[str, str] = {}
    for key in keys:
        if key.kind in ("list", "script"):
            continue
        field = "o." + key.name
        if key.kind == "bool":
            checked = form.get(field) is not None
            if key.name not in raw and checked == bool(key.default):
                continue
            old = raw.get(key.name)
            raw[key.name] = (1 if checked else 0) if isinstance(old, int) and not isinstance(old, bool) else checked
            continue
        text = form.getunicode(field) if hasattr(form, "getunicode") else form.get(field)
        if text is None:
            continue
        if key.kind == "texts":
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if not lines:
                raw.pop(key.name, None)
            elif len(lines) == 1 and text_sets is not None and text_sets(lines[0]) is not None:
                raw[key.name] = lines[0]  # the name of a set in the user library
            else:
                raw[key.name] = lines
            continue
        text = text.strip()
        if text == "":
            if key.required:
                problems[key.name] = "required"
            raw.pop(key.name, None)
            continue
        if key.kind == "int":
            try:
                number = int(text)
            except ValueError:
                problems[key.name] = f"{text!r} is not a whole number"
                continue
            if (key.min is not None and number < key.min) or (key.max is not None and number > key.max):
                problems[key.name] = f"{number} is not within {key.min}..{key.max}"
                continue
            raw[key.name] = number
        elif key.kind == "number":
            try:
                value = float(text)
            except ValueError:
                problems[key.name] = f"{text!r} is not a number"
                continue
            raw[key.name] = int(value) if value.is_integer() and "." not in text else value
        elif key.kind == "choice":
            found, value = _choice_value(key, text)
            if found:
                raw[key.name] = value
            elif text != str(raw.get(key.name)):  # (the file's own spelling, left as it was)
                problems[key.name] = f"{text!r} is not one of {', '.join(str(v) for v, _ in key.choices or ())}"
        elif key.name == "unit" and text.isdigit():
            raw[key.name] = int(text)
        else:
            raw[key.name] = text
    return problems


def _with_problems(fields: list[dict[str, Any]], problems: dict[str, str]) -> list[dict[str, Any]]:
    for field in fields:
        if field["option"] in problems:
            field["problems"] = [_Note(problems[field["option"]])]
    return fields


class _Note:
    """A problem of a submitted form, shown at its field like the loader's."""

    severity = "error"

    def __init__(self, message: str) -> None:
        self.message = message


# ----------------------------------------------------------------------------- live state


def bus_live(snapshot: list[dict[str, Any]] | None, names: list[str]) -> dict[str, str]:
    """The values of the bus list that change, by ``data-live`` key, from the ``freeclient`` method's answer."""
    live: dict[str, str] = {}
    running = {str(b.get("name")): b for b in snapshot or []}
    for name in names:
        bus = running.get(name)
        if bus is None:
            live.update({f"fc.{name}.state": "not running", f"fc.{name}.online": "-", f"fc.{name}.error": "-",
                         f"fc.{name}.failures": "-", f"fc.{name}.restart": "-"})
            continue
        error = bus.get("reason") or bus.get("last_error") or ""
        if error and bus.get("last_error_ago") is not None and not bus.get("reason"):
            error += f" ({duration(bus['last_error_ago'])} ago)"
        restart = bus.get("next_restart_in")
        live.update({
            f"fc.{name}.state": str(bus.get("state", "-")),
            f"fc.{name}.online": f"{bus.get('online', 0)} of {bus.get('devices', 0)}" if "devices" in bus else "-",
            f"fc.{name}.error": error or "-",
            f"fc.{name}.failures": str(bus.get("failures", 0)),
            f"fc.{name}.restart": f"in {restart:.0f} s" if isinstance(restart, (int, float)) else "-",
        })
    return live


# ----------------------------------------------------------------------------- the pages


class Pages:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self.paths = panel.paths

    def add(self, app: bottle.Bottle) -> None:
        p = self.panel
        page, post = p.logged_in, (lambda handler: p.logged_in(handler, post=True))
        bus = "/freeclient/bus/<name>"
        device, point = bus + "/device/<d:int>", bus + "/device/<d:int>/point/<n:int>"
        routes = [
            ("GET", "/freeclient", page(self.list_page)),
            ("GET", "/api/freeclient", p.logged_in(self.api, api=True)),
            ("POST", "/freeclient/add", post(self.add_bus)),
            ("POST", "/freeclient/import", post(self.import_bus)),
            ("POST", "/freeclient/import/stage", post(self.import_stage)),
            ("GET", bus, page(self.bus_page)),
            ("POST", bus, post(self.save_bus)),
            ("POST", bus + "/definition", post(self.save_bus_keys)),
            ("POST", bus + "/copy", post(self.copy_bus)),
            ("POST", bus + "/delete", post(self.delete_bus)),
            ("GET", bus + "/export", page(self.export_bus)),
            ("GET", bus + "/script", page(self.script_page)),
            ("POST", bus + "/script", post(self.save_script)),
            ("POST", bus + "/devices/add", post(self.add_device)),
            ("GET", device, page(self.device_page)),
            ("POST", device, post(self.save_device)),
            ("POST", device + "/copy", post(self.copy_device)),
            ("POST", device + "/delete", post(self.delete_device)),
            ("POST", device + "/points/add", post(self.add_point)),
            ("GET", point, page(self.point_page)),
            ("POST", point, post(self.save_point)),
            ("POST", point + "/copy", post(self.copy_point)),
            ("POST", point + "/delete", post(self.delete_point)),
            ("POST", "/freeclient/conversions/add", post(self.add_conversion)),
            ("GET", "/freeclient/conversion/<conv>", page(self.conversion_page)),
            ("POST", "/freeclient/conversion/<conv>", post(self.save_conversion)),
            ("POST", "/freeclient/conversion/<conv>/delete", post(self.delete_conversion)),
        ]
        for method, path, callback in routes:
            app.route(path, method=method, callback=callback)

    def staging(self) -> Staging:
        return Staging(self.paths)

    # -------------------------------------------------------------- reading the staged configuration

    def _package(self) -> uci.UciPackage:
        return staged_package(self.staging())

    def _section(self, package: uci.UciPackage, name: str) -> uci.UciSection:
        section = package.section(name) if uci.validate_name(name) else None
        if section is None or section.type != FreeClientBus.uci_type:
            bottle.abort(404, f"no Free Client bus '{name}'")
        return section  # type: ignore[return-value]

    def _buses(self, package: uci.UciPackage) -> list[uci.UciSection]:
        return [s for s in package if s.type == FreeClientBus.uci_type and not s.anonymous]

    def _rel(self, option: str, default: str) -> tuple[str | None, str]:
        """A file an option names as a path in the data directory; or None and why the panel cannot edit it."""
        text = option or default
        path = Path(text)
        if path.is_absolute():
            try:
                text = str(path.relative_to(self.paths.data_dir))
            except ValueError:
                return None, f"{option} is outside the data directory ({self.paths.data_dir}): the panel edits " \
                             "files there only"
        try:
            return check_relpath(text), ""
        except BadPath as err:
            return None, str(err)

    def _definition_rel(self, section: uci.UciSection) -> str:
        rel, why = self._rel(str(section.options.get("definition") or ""), f"freeclient/{section.name}.json")
        if rel is None:
            bottle.abort(409, why)
        return rel  # type: ignore[return-value]

    def _definition(self, section: uci.UciSection) -> tuple[str, dict[str, Any] | None, str | None]:
        """(relpath, the staged definition or None, why it cannot be read or edited)."""
        rel, why = self._rel(str(section.options.get("definition") or ""), f"freeclient/{section.name}.json")
        if rel is None:
            return str(section.options.get("definition")), None, why
        raw = self.staging().read_data(rel)
        if raw is None:
            return rel, {"name": section.name, "fcdevices": []}, None  # saving any part creates it
        try:
            data = parse_json(raw)
        except FileProblem as err:
            return rel, None, f"{rel} line {err.line}: {err.message}"
        if not isinstance(data, dict):
            return rel, None, f"{rel}: not a bus definition (expected a JSON object)"
        if not isinstance(data.get("fcdevices", []), list):
            return rel, None, f"{rel}: key 'fcdevices' is not a list"
        data.setdefault("fcdevices", [])
        return rel, data, None

    def _editable_definition(self, section: uci.UciSection) -> tuple[str, dict[str, Any]]:
        rel, data, problem = self._definition(section)
        if data is None:
            bottle.abort(409, f"the bus definition cannot be edited: {problem}")
        return rel, data  # type: ignore[return-value]

    def _save_definition(self, rel: str, data: dict[str, Any]) -> None:
        self.staging().save_data(rel, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    @staticmethod
    def _device(data: dict[str, Any], d: int) -> dict[str, Any]:
        devices = data["fcdevices"]
        if not 1 <= d <= len(devices) or not isinstance(devices[d - 1], dict):
            bottle.abort(404, f"no device {d} on this bus")
        device = devices[d - 1]
        if not isinstance(device.setdefault("fcpoints", []), list):
            bottle.abort(409, f"device {d}: key 'fcpoints' is not a list")
        return device

    @staticmethod
    def _point(device: dict[str, Any], d: int, n: int) -> dict[str, Any]:
        points = device["fcpoints"]
        if not 1 <= n <= len(points) or not isinstance(points[n - 1], dict):
            bottle.abort(404, f"no point {n} on device {d}")
        return points[n - 1]

    def _resources(self) -> list[str]:
        config, _ = load_core(self.paths)
        if config is None:
            return []
        return [n for n, r in config.resources.items() if r.type in FreeClientBus.resource_types]

    def _text_sets(self) -> Any:
        from ..config.library import load_library

        return load_library(self.paths.data_dir).state_texts

    def _script_of(self, section: uci.UciSection, data: dict[str, Any] | None) -> dict[str, Any]:
        """Where the bus's script is and what it says: a file (option ``script``), inline in the definition, or
        none yet; ``rel`` is where saving puts it."""
        option = str(section.options.get("script") or "")
        staging = self.staging()
        if option:
            if not Path(option).is_absolute():
                for rel in (option, f"freeclient/{option}"):
                    try:
                        text = staging.read_data(check_relpath(rel))
                    except BadPath:
                        continue
                    if text is not None:
                        return {"where": "file", "name": Path(option).name, "rel": rel, "text": text, "note": ""}
                shipped = SHIPPED_SCRIPTS / option
                if "/" not in option and shipped.is_file():
                    return {"where": "file", "name": option, "rel": f"freeclient/{option}",
                            "text": shipped.read_bytes(),
                            "note": f"shipped with bacrouter: saving puts your copy in freeclient/{option} of the "
                                    "data directory, where it takes the shipped one's place for this bus and every "
                                    "other bus that names it"}
            rel, why = self._rel(option, option)
            if rel is None:
                return {"where": "elsewhere", "name": Path(option).name, "rel": None, "text": b"", "note": why}
            return {"where": "file", "name": Path(option).name, "rel": rel, "text": staging.read_data(rel) or b"",
                    "note": "the file does not exist yet: saving creates it"}
        scripts = (data or {}).get("script")
        if isinstance(scripts, dict) and scripts:
            name, text = next(iter(scripts.items()))
            return {"where": "inline", "name": str(name), "rel": None, "text": str(text).encode(),
                    "note": "kept inside the bus definition (key 'script'), as the original exports it"}
        return {"where": "new", "name": f"{section.name}.lua", "rel": f"freeclient/{section.name}.lua", "text": b"",
                "note": "the bus has no script yet: saving creates the file and names it in option 'script'"}

    # -------------------------------------------------------------- the bus list

    def _rows(self, package: uci.UciPackage) -> list[dict[str, Any]]:
        rows = []
        for section in self._buses(package):
            _, data, problem = self._definition(section)
            data = data or {}
            options = section.options
            server = str(options.get("server") or data.get("server") or "")
            kind = "tcp" if options.get("server") or (data.get("type") == INTERFACE_TCP and not options.get("resource")) \
                else "rs485"
            line = server if kind == "tcp" else str(options.get("resource") or data.get("resource") or "-")
            script = str(options.get("script") or "")
            if not script and isinstance(data.get("script"), dict) and data["script"]:
                script = f"{next(iter(data['script']))} (in the definition)"
            enabled = str(options.get("enabled", "1")).lower() not in ("0", "no", "off", "false", "disabled")
            if "enabled" not in options and "enable" in data:
                enabled = _flag(data["enable"])
            devices = [d for d in data.get("fcdevices") or [] if isinstance(d, dict)]
            rows.append({"name": section.name, "kind": kind, "line": line, "script": script or "-",
                         "enabled": enabled, "devices": len(devices),
                         "points": sum(len(d.get("fcpoints") or []) for d in devices), "problem": problem})
        return rows

    def _snapshot(self) -> tuple[list[dict[str, Any]] | None, str | None]:
        (snapshot,), offline = self.panel._runtime(("freeclient", None))
        return snapshot, offline

    def _conversions(self) -> list[dict[str, Any]]:
        """The user's conversion scripts as staged, and the shipped ones."""
        staging = self.staging()
        names = {p.stem for p in (self.paths.data_dir / "conversions").glob("*.lua")}
        for rel, data in staging.data_changes().items():
            folder, _, file = rel.partition("/")
            if folder == "conversions" and file.endswith(".lua") and "/" not in file:
                (names.add if data is not None else names.discard)(file[:-4])
        mine = [{"name": n, "shipped": (SHIPPED_CONVERSIONS / f"{n}.lua").is_file(), "user": True}
                for n in sorted(names) if NAME.fullmatch(n)]
        shipped = [{"name": p.stem, "shipped": True, "user": False} for p in sorted(SHIPPED_CONVERSIONS.glob("*.lua"))
                   if p.stem not in names]
        return mine + shipped

    def list_page(self, session: Session, status: int = 200, **values: Any) -> str:
        package = self._package()
        rows = self._rows(package)
        snapshot, offline = self._snapshot()
        values.setdefault("notice", None)
        values.setdefault("add_problem", None)
        values.setdefault("import_problem", None)
        bottle.response.status = status
        return self.panel.render("freeclient.tpl", session, title="Free Client", active="freeclient", offline=offline,
                                 buses=rows, live=bus_live(snapshot, [r["name"] for r in rows]),
                                 resources=self._resources(), scripts=_shipped_scripts(),
                                 conversions=self._conversions(), **values)

    def api(self, session: Session) -> dict[str, Any]:
        names = [s.name for s in self._buses(self._package())]
        snapshot, offline = self._snapshot()
        return {"online": offline is None, "offline": offline, "live": bus_live(snapshot, names)}

    # -------------------------------------------------------------- buses: add, copy, delete

    def add_bus(self, session: Session) -> Any:
        form = bottle.request.forms
        name = (form.getunicode("name") or "").strip()
        kind = form.getunicode("kind") or "rs485"
        package = self._package()
        problem = None
        if not uci.validate_name(name):
            problem = "a bus name is letters, digits and _ (like meters)"
        elif package.section(name) is not None:
            problem = f"a section '{name}' exists already"
        elif kind not in ("rs485", "tcp"):
            problem = "the bus is rs485 or tcp"
        line = (form.getunicode("server" if kind == "tcp" else "resource") or "").strip()
        if problem is None and not line:
            problem = "a TCP bus needs its server (host:port)" if kind == "tcp" else "an RS485 bus needs its resource"
        rel = f"freeclient/{name}.json"
        if problem is None and self.staging().read_data(rel) is not None:
            problem = f"{rel} exists already in the data directory: choose another name or import that file"
        if problem:
            return self.list_page(session, 400, add_problem=problem)
        section = package.add(FreeClientBus.uci_type, name)
        section.options["server" if kind == "tcp" else "resource"] = line
        script = (form.getunicode("script") or "").strip()
        if script:
            section.options["script"] = script
        self.staging().save(package)
        self._save_definition(rel, {"name": name, "type": INTERFACE_TCP if kind == "tcp" else INTERFACE_RS485,
                                    "tag": "", "fcdevices": []})
        redirect(f"/freeclient/bus/{name}")

    def copy_bus(self, session: Session, name: str) -> Any:
        package = self._package()
        section = self._section(package, name)
        new = (bottle.request.forms.getunicode("new") or "").strip()
        problem = None
        if not uci.validate_name(new):
            problem = "the copy's name is letters, digits and _"
        elif package.section(new) is not None:
            problem = f"a section '{new}' exists already"
        rel = f"freeclient/{new}.json"
        if problem is None and self.staging().read_data(rel) is not None:
            problem = f"{rel} exists already in the data directory"
        if problem:
            return self.bus_page(session, name, status=400, copy_problem=problem)
        _, data = self._editable_definition(section)
        data = copy.deepcopy(data)
        data["name"] = new
        copied = package.add(FreeClientBus.uci_type, new)
        copied.options.update({k: copy.copy(v) for k, v in section.options.items() if k != "definition"})
        copied.options["enabled"] = "0"  # its devices would take the same instances and names until edited
        self.staging().save(package)
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{new}")

    def delete_bus(self, session: Session, name: str) -> None:
        package = self._package()
        section = self._section(package, name)
        rel = f"freeclient/{name}.json"
        own = self._definition(section)[0] == rel  # a file the section names elsewhere may be shared: kept
        package.remove(name)
        self.staging().save(package)
        if own and self.staging().read_data(rel) is not None:
            self.staging().save_data(rel, None)
        redirect("/freeclient")

    # -------------------------------------------------------------- one bus

    def bus_page(self, session: Session, name: str, status: int = 200, fields: list[dict[str, Any]] | None = None,
                 keys: list[dict[str, Any]] | None = None, **values: Any) -> str:
        package = self._package()
        section = self._section(package, name)
        rel, data, unreadable = self._definition(section)
        checked = self.staging().validate()
        label = f"{FreeClientBus.uci_type} '{name}'"
        if fields is None:
            fields = form_fields(FreeClientBus, section, self._resources())
            for field in fields:
                field["problems"] = checked.at(label, field["option"])
        shown = {(label, f["option"]) for f in fields}
        own = [p for p in checked.problems if p.section == label and (p.section, p.option) not in shown]
        if keys is None:
            keys = format_fields(BUS_FORMAT, data or {})
        devices = []
        for index, device in enumerate((data or {}).get("fcdevices") or [], 1):
            if isinstance(device, dict):
                devices.append({"index": index, "name": str(device.get("name") or ""),
                                "instance": device.get("instance", ""), "enabled": _flag(device.get("enable", True)),
                                "description": str(device.get("description") or ""),
                                "tag": str(device.get("tag") or ""), "points": len(device.get("fcpoints") or [])})
        snapshot, offline = self._snapshot()
        values.setdefault("copy_problem", None)
        values.setdefault("notice", None)
        bottle.response.status = status
        return self.panel.render("freeclient_bus.tpl", session, title=f"Free Client bus {name}", active="freeclient",
                                 offline=offline, bus=name, doc=_doc(FreeClientBus), fields=fields, keys=keys,
                                 definition=rel, unreadable=unreadable, devices=devices, problems=own,
                                 script=self._script_of(section, data), live=bus_live(snapshot, [name]),
                                 link=_bus_link, **values)

    def save_bus(self, session: Session, name: str) -> None:
        package = self._package()
        section = self._section(package, name)
        apply_form(FreeClientBus, section, bottle.request.forms)
        self.staging().save(package)
        redirect(f"/freeclient/bus/{name}")

    def save_bus_keys(self, session: Session, name: str) -> Any:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        problems = apply_format(BUS_FORMAT, data, bottle.request.forms)
        if problems:
            return self.bus_page(session, name, status=400,
                                 keys=_with_problems(format_fields(BUS_FORMAT, data), problems))
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{name}#definition")

    def export_bus(self, session: Session, name: str) -> str:
        from ..freeclient_files import export_bus
        from ..loader import load_config
        from ..modbus.devicefile import ImportError_

        self._section(self._package(), name)
        with self.staging().scratch() as scratch:
            config, problems = load_config(scratch)
            if config is None:
                bottle.abort(409, "the staged configuration does not load: " + "; ".join(str(p) for p in problems[:3]))
            try:
                document = export_bus(config, name)
            except ImportError_ as err:
                bottle.abort(409, str(err).replace(str(scratch.data_dir), str(self.paths.data_dir)))
        bottle.response.content_type = "application/json; charset=utf-8"
        bottle.response.set_header("Content-Disposition", f'attachment; filename="{name}.json"')
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    # -------------------------------------------------------------- devices

    def add_device(self, session: Session, name: str) -> Any:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        wanted = (bottle.request.forms.getunicode("device") or "").strip()
        devices = [d for d in data["fcdevices"] if isinstance(d, dict)]
        if not wanted or any(str(d.get("name")) == wanted for d in devices):
            return self.bus_page(session, name, status=400,
                                 notice=f"a device needs a name no other device of the bus has ({wanted!r})")
        device: dict[str, Any] = {"enable": True, "name": wanted, "tag": "", "fcpoints": []}
        instances = [d["instance"] for d in devices if isinstance(d.get("instance"), int)]
        if instances:
            device["instance"] = max(instances) + 1
        data["fcdevices"].append(device)
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{name}/device/{len(data['fcdevices'])}")

    def device_page(self, session: Session, name: str, d: int, status: int = 200,
                    fields: list[dict[str, Any]] | None = None, **values: Any) -> str:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        device = self._device(data, d)
        if fields is None:
            fields = format_fields(DEVICE_FORMAT, device)
        points = []
        for index, point in enumerate(device["fcpoints"], 1):
            if isinstance(point, dict):
                points.append({"index": index, "name": str(point.get("name") or ""),
                               "object_type": str(point.get("object_type") or ""),
                               "instance": point.get("instance", ""), "enabled": _flag(point.get("enable", True)),
                               "read_only": str(point.get("value_type", 0)) == "1", "unit": point.get("unit", ""),
                               "tag": str(point.get("tag") or "")})
        values.setdefault("notice", None)
        bottle.response.status = status
        return self.panel.render("freeclient_device.tpl", session, title=f"{name}: device {d}", active="freeclient",
                                 bus=name, d=d, device_name=str(device.get("name") or ""), fields=fields,
                                 points=points, definition=rel, object_types=OBJECT_TYPE_NAMES,
                                 problems=self._problems_of(rel, d, device), **values)

    def _problems_of(self, rel: str, d: int, device: dict[str, Any], n: int | None = None,
                     point: dict[str, Any] | None = None) -> list[Any]:
        """What the loader says about one device (its own keys, not its points') or one point of the definition:
        the loader names them by number ("device 1 'plc' point 2 'temp'") or by name ("device 'plc'")."""
        path = str(self.paths.data_dir / rel)
        device_name = re.escape(str(device.get("name") or "\0"))
        out = []
        for problem in self.staging().validate().problems:
            if problem.file != path:
                continue
            found = re.match(rf"device (?:{d}(?!\d)(?: '[^']*')?|'{device_name}')", problem.message)
            if not found:
                continue
            rest = problem.message[found.end():]
            if n is None:
                if not rest.startswith(" point "):
                    out.append(problem)
                continue
            point_name = re.escape(str((point or {}).get("name") or "\0"))
            if re.match(rf" point (?:{n}(?!\d)(?: '[^']*')?|'{point_name}'(?=[ :]))", rest):
                out.append(problem)
        return out

    def save_device(self, session: Session, name: str, d: int) -> Any:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        device = self._device(data, d)
        problems = apply_format(DEVICE_FORMAT, device, bottle.request.forms)
        if problems:
            return self.device_page(session, name, d, status=400,
                                    fields=_with_problems(format_fields(DEVICE_FORMAT, device), problems))
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{name}/device/{d}")

    def copy_device(self, session: Session, name: str, d: int) -> None:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        device = copy.deepcopy(self._device(data, d))
        taken = {str(x.get("name")) for x in data["fcdevices"] if isinstance(x, dict)}
        device["name"] = _free_name(str(device.get("name") or "device"), taken)
        instances = [x["instance"] for x in data["fcdevices"] if isinstance(x, dict) and isinstance(x.get("instance"), int)]
        if isinstance(device.get("instance"), int):
            device["instance"] = max(instances) + 1
        data["fcdevices"].insert(d, device)
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{name}/device/{d + 1}")

    def delete_device(self, session: Session, name: str, d: int) -> None:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        self._device(data, d)
        del data["fcdevices"][d - 1]
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{name}#devices")

    # -------------------------------------------------------------- points

    def add_point(self, session: Session, name: str, d: int) -> Any:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        device = self._device(data, d)
        form = bottle.request.forms
        wanted, kind = (form.getunicode("point") or "").strip(), form.getunicode("object_type") or "av"
        points = [p for p in device["fcpoints"] if isinstance(p, dict)]
        if not wanted or any(str(p.get("name")) == wanted for p in points) or kind not in OBJECT_TYPE_NAMES:
            return self.device_page(session, name, d, status=400,
                                    notice=f"a point needs a name no other point of the device has ({wanted!r}) and "
                                           "an object type")
        point: dict[str, Any] = {"name": wanted, "object_type": kind, "instance": _next_instance(points, kind),
                                 "enable": True, "tag": ""}
        if kind[0] == "m":
            point["state_texts"] = ["1", "2"]
        device["fcpoints"].append(point)
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{name}/device/{d}/point/{len(device['fcpoints'])}")

    def point_page(self, session: Session, name: str, d: int, n: int, status: int = 200,
                   fields: list[dict[str, Any]] | None = None) -> str:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        device = self._device(data, d)
        point = self._point(device, d, n)
        if fields is None:
            fields = format_fields(POINT_FORMAT, point)
        bottle.response.status = status
        return self.panel.render("freeclient_point.tpl", session, title=f"{name}: point {point.get('name')}",
                                 active="freeclient", bus=name, d=d, n=n, device_name=str(device.get("name") or ""),
                                 point_name=str(point.get("name") or ""), fields=fields, definition=rel,
                                 problems=self._problems_of(rel, d, device, n, point))

    def save_point(self, session: Session, name: str, d: int, n: int) -> Any:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        device = self._device(data, d)
        point = self._point(device, d, n)
        problems = apply_format(POINT_FORMAT, point, bottle.request.forms, self._text_sets())
        if problems:
            return self.point_page(session, name, d, n, status=400,
                                   fields=_with_problems(format_fields(POINT_FORMAT, point), problems))
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{name}/device/{d}#points")

    def copy_point(self, session: Session, name: str, d: int, n: int) -> None:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        device = self._device(data, d)
        point = copy.deepcopy(self._point(device, d, n))
        points = [p for p in device["fcpoints"] if isinstance(p, dict)]
        point["name"] = _free_name(str(point.get("name") or "point"), {str(p.get("name")) for p in points})
        point["instance"] = _next_instance(points, str(point.get("object_type") or ""))
        device["fcpoints"].insert(n, point)
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{name}/device/{d}/point/{n + 1}")

    def delete_point(self, session: Session, name: str, d: int, n: int) -> None:
        section = self._section(self._package(), name)
        rel, data = self._editable_definition(section)
        device = self._device(data, d)
        self._point(device, d, n)
        del device["fcpoints"][n - 1]
        self._save_definition(rel, data)
        redirect(f"/freeclient/bus/{name}/device/{d}#points")

    # -------------------------------------------------------------- scripts

    def _submitted_script(self) -> bytes:
        """The script of the form: an uploaded file, else the text box (its CR LF as LF, as the file had it)."""
        upload = bottle.request.files.get("upload")
        if upload is not None and upload.raw_filename:
            data = upload.file.read(MAX_SCRIPT + 1)
        else:
            data = (bottle.request.forms.getunicode("text") or "").replace("\r\n", "\n").encode()
        return data

    @staticmethod
    def _check(data: bytes, chunk: str) -> tuple[Any, str | None]:
        """(the syntax problem or None, a notice when the check could not be made)."""
        try:
            return check_syntax(data, chunk), None
        except RuntimeError as err:  # no lupa here: staged unchecked, check says more at Save & Apply
            return None, f"Staged without a syntax check: {err}."

    def script_page(self, session: Session, name: str, status: int = 200, text: bytes | None = None,
                    problem: Any = None, notice: str | None = None) -> str:
        package = self._package()
        section = self._section(package, name)
        _, data, _ = self._definition(section)
        script = self._script_of(section, data)
        path = str(self.paths.data_dir / script["rel"]) if script["rel"] else None
        checked = [p for p in self.staging().validate().problems
                   if p.section == f"{FreeClientBus.uci_type} '{name}'" and p.message.startswith("script ")]
        bottle.response.status = status
        return self.panel.render("freeclient_script.tpl", session, title=f"Script of bus {name}",
                                 active="freeclient", what=f"bus {name}", back=f"/freeclient/bus/{name}",
                                 action=f"/freeclient/bus/{name}/script", script_name=script["name"], where=script["where"],
                                 path=path, note=script["note"], problem=problem, notice=notice,
                                 text=(script["text"] if text is None else text).decode("utf-8", "replace"),
                                 checked=checked, max_script=MAX_SCRIPT, test_bus=name, deletable=False,
                                 file_field=script["where"] == "new")

    def save_script(self, session: Session, name: str) -> Any:
        package = self._package()
        section = self._section(package, name)
        rel, data, unreadable = self._definition(section)
        script = self._script_of(section, data)
        if script["where"] == "elsewhere":
            bottle.abort(409, script["note"])
        text = self._submitted_script()
        if script["where"] == "new":
            wanted = (bottle.request.forms.getunicode("file") or script["name"]).strip()
            if not re.fullmatch(r"[A-Za-z0-9_.-]+\.lua", wanted):
                return self.script_page(session, name, 400, text, "the file name is letters, digits, _ . - and ends "
                                                                  "in .lua")
            script.update(name=wanted, rel=f"freeclient/{wanted}")
        problem, notice = self._check(text, script["name"])
        if problem is not None:
            return self.script_page(session, name, 400, text, problem)
        if script["where"] == "inline":
            if data is None:
                bottle.abort(409, f"the bus definition cannot be edited: {unreadable}")
            data["script"] = {script["name"]: text.decode("utf-8", "replace")}
            self._save_definition(rel, data)
        else:
            self.staging().save_data(script["rel"], text)
            if script["where"] == "new":
                section.options["script"] = script["name"]
                self.staging().save(package)
        return self.script_page(session, name, notice=notice or "The script compiles: the change is staged "
                                                                "(Save & Apply puts it into service).")

    # -------------------------------------------------------------- conversion scripts

    @staticmethod
    def _conversion_name(conv: str) -> str:
        if not NAME.fullmatch(conv):
            bottle.abort(404, "a conversion's name is letters, digits and _")
        return conv

    def conversion_page(self, session: Session, conv: str, status: int = 200, text: bytes | None = None,
                        problem: Any = None, notice: str | None = None) -> str:
        conv = self._conversion_name(conv)
        rel = f"conversions/{conv}.lua"
        staged = self.staging().read_data(rel)
        shipped = SHIPPED_CONVERSIONS / f"{conv}.lua"
        if staged is None and not shipped.is_file() and text is None:
            bottle.abort(404, f"no conversion script '{conv}'")
        note = ("a conversion of your own: points use it with data type o" + conv) if staged is not None else \
            (f"shipped with bacrouter: saving puts your copy in {rel} of the data directory, where it replaces the "
             "shipped one") if shipped.is_file() else "new: saving creates it"
        path = str(self.paths.data_dir / rel)
        checked = [p for p in self.staging().validate().problems if p.file == path]
        current = staged if staged is not None else shipped.read_bytes() if shipped.is_file() else b""
        bottle.response.status = status
        return self.panel.render("freeclient_script.tpl", session, title=f"Conversion {conv}", active="freeclient",
                                 what=f"conversion {conv}", back="/freeclient#conversions",
                                 action=f"/freeclient/conversion/{conv}", script_name=f"{conv}.lua", where="file",
                                 path=path, note=note, problem=problem, notice=notice, checked=checked,
                                 text=(current if text is None else text).decode("utf-8", "replace"),
                                 max_script=MAX_SCRIPT, test_bus=None, deletable=staged is not None,
                                 file_field=False)

    def save_conversion(self, session: Session, conv: str) -> Any:
        conv = self._conversion_name(conv)
        text = self._submitted_script()
        problem, notice = self._check(text, f"{conv}.lua")
        if problem is not None:
            return self.conversion_page(session, conv, 400, text, problem)
        self.staging().save_data(f"conversions/{conv}.lua", text)
        return self.conversion_page(session, conv, notice=notice or "The script compiles: the change is staged "
                                                                    "(Save & Apply loads it).")

    def add_conversion(self, session: Session) -> Any:
        conv = (bottle.request.forms.getunicode("name") or "").strip()
        if not NAME.fullmatch(conv):
            return self.list_page(session, 400, notice="A conversion's name is letters, digits and _ (points use it "
                                                       "as data type oNAME).")
        if self.staging().read_data(f"conversions/{conv}.lua") is not None:
            redirect(f"/freeclient/conversion/{conv}")
        template = (b"-- conversion " + conv.encode() + b": registers (most significant first) to a value and back\n"
                    b"return {\n  registers = 1,\n  decode = function(regs) return regs[1], true end,\n"
                    b"  encode = function(value, count) return { math.floor(value) & 0xFFFF } end,\n}\n")
        return self.conversion_page(session, conv, text=template,
                                    notice="A new conversion script: Save checks and stages it.")

    def delete_conversion(self, session: Session, conv: str) -> None:
        conv = self._conversion_name(conv)
        self.staging().save_data(f"conversions/{conv}.lua", None)
        redirect("/freeclient#conversions")

    # -------------------------------------------------------------- import

    def _import(self, raw: bytes, source: str, params: dict[str, str]) -> tuple[Any, dict[str, bytes | None]]:
        """The import of a bus file into the staged configuration: (report, the staged files it changes by
        relpath, "" for the UCI file). Worked out in a scratch copy; nothing is staged here."""
        from ..freeclient_files import import_bus

        with self.staging().scratch() as scratch:
            report = import_bus(scratch, raw, params.get("name") or None, source=source,
                                resource=params.get("resource", ""), server=params.get("server", ""))
            changes: dict[str, bytes | None] = {}
            for path, data in report.changes.items():
                if Path(path) == scratch.uci_file:
                    changes[""] = data
                else:
                    changes[str(Path(path).relative_to(scratch.data_dir))] = data
            real = {str(scratch.data_dir): str(self.paths.data_dir), str(scratch.uci_file): str(self.paths.uci_file)}
            for entries in (report.errors, report.warnings):
                for i, line in enumerate(entries):
                    for old, new in real.items():
                        line = line.replace(old, new)
                    entries[i] = line
        return report, changes

    def import_bus(self, session: Session) -> str:
        upload = bottle.request.files.get("file")
        if upload is None or not upload.raw_filename:
            return self.list_page(session, 400, import_problem="Choose a bus file (JSON, the original's export).")
        raw = upload.file.read()
        form = bottle.request.forms
        params = {k: (form.getunicode(k) or "").strip() for k in ("name", "resource", "server")}
        if params["name"] and not uci.validate_name(params["name"]):
            return self.list_page(session, 400, import_problem="A bus name is letters, digits and _.")
        report, _ = self._import(raw, upload.raw_filename, params)
        token = secrets.token_urlsafe(24) if report.ok else None
        if token:
            session.data["freeclient_import"] = (token, raw, upload.raw_filename, params, time.monotonic())
        bottle.response.status = 200 if report.ok else 400
        return self.panel.render("freeclient_import.tpl", session, title="Import a bus", active="freeclient",
                                 report=report, token=token, source=upload.raw_filename)

    def import_stage(self, session: Session) -> Any:
        pending = session.data.get("freeclient_import")
        token = bottle.request.forms.get("token") or ""
        if not pending or not secrets.compare_digest(str(token), pending[0]) \
                or time.monotonic() - pending[4] > IMPORT_TTL:
            return self.list_page(session, 409, import_problem="This import is no longer pending: upload the file "
                                                               "again.")
        session.data.pop("freeclient_import", None)
        _, raw, source, params, _ = pending
        report, changes = self._import(raw, source, params)  # again: the staged configuration may have moved on
        if not report.ok:
            bottle.response.status = 409
            return self.panel.render("freeclient_import.tpl", session, title="Import a bus", active="freeclient",
                                     report=report, token=None, source=source)
        staging = self.staging()
        for rel, data in changes.items():
            if rel:
                staging.save_data(rel, data)
        if "" in changes and changes[""] is not None:
            package = uci.parse(changes[""], "bacrouter", str(self.paths.uci_file))
            staging.save(package)
        redirect(f"/freeclient/bus/{report.added[0]['name']}" if report.added else "/freeclient")


# ----------------------------------------------------------------------------- small helpers


def _doc(cls: type) -> str:
    return " ".join((cls.__doc__ or "").replace("``", "").split())


def _shipped_scripts() -> list[str]:
    return sorted(p.name for p in SHIPPED_SCRIPTS.glob("*.lua"))


def _free_name(name: str, taken: set[str]) -> str:
    number = 2
    while f"{name}_{number}" in taken:
        number += 1
    return f"{name}_{number}"


def _next_instance(points: list[dict[str, Any]], object_type: str) -> int:
    used = [p.get("instance") for p in points if str(p.get("object_type") or "") == object_type]
    return max([u for u in used if isinstance(u, int)] or [0]) + 1
