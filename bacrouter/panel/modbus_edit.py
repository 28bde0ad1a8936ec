"""The Modbus configuration pages (``/modbus``): masters, slaves and points as tables and editors.

Masters and slaves are UCI sections: their editors are generated from
:class:`~bacrouter.modbus.schema.ModbusMaster` / ``ModbusSlave`` like the port
editors (:func:`.ports_edit.form_fields`), the option docs as help. A slave's
points are its points file in the original's device-config format: a table
(a page of up to 1,000 rows, plain HTML, a filter) and an editor per point
with every key of :data:`bacrouter.modbus.pointschema.POINT_SCHEMA`.

Every edit is staged (:mod:`.staging`: the UCI file with ``save``, the points
file with ``save_data``); Save & Apply checks everything with the loader and
links each problem here: a slave option to its field, a point's key to the
point's editor at that key. A copy of a slave copies its points file and
gets a free name (:func:`bacrouter.modbus_files.free_name`) and, when the
original has its own, a free instance block or device instance (what
:mod:`bacrouter.modbus.collisions` counts as taken). The runtime half of
Modbus (live values, Read Group, import / export) is on ``/modbus/live`` and
``/modbus/files``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import bottle

from ..config import load_core, uci
from ..config.files import FileProblem, parse_json
from ..config.model import Problem, Section
from ..freeclient.collisions import device_instances
from ..modbus.collisions import MAX_BLOCK, MAX_INSTANCE, lowest_free, taken_blocks
from ..modbus.configcheck import points_path
from ..modbus.devconfig import flag
from ..modbus.devicefile import dumps
from ..modbus.pointschema import POINT_SCHEMA, copy_point, edit_point, form_text, new_point, point_location
from ..modbus.schema import ModbusMaster, ModbusSlave
from ..modbus_files import free_name
from .editors import option_link
from .ports_edit import apply_form, form_fields
from .responses import redirect, staged_package
from .staging import BadPath, Staging

if TYPE_CHECKING:
    from .auth import Session

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register", "PAGE"]

#: points shown on one page of a slave's table
PAGE = 1000
MASTER, SLAVE = ModbusMaster.uci_type, ModbusSlave.uci_type
PROTOCOLS = ModbusMaster.__dataclass_fields__["protocol"].metadata["choices"]
#: options shown only for some protocols of the master (the page's script hides the others)
SHOWN_WHEN = {"resource": "protocol=rtu|ascii", "host": "protocol=tcp|rtu-over-tcp",
              "port": "protocol=tcp|rtu-over-tcp"}
SERIAL_ONLY = ("baudrate", "parity", "stop_bits", "ascii")


def register(panel: Panel) -> None:
    panel.menu.append(("modbus", "Modbus", "/modbus"))
    routes = Routes(panel)
    panel.editors[MASTER] = option_link("/modbus/masters")
    panel.editors[SLAVE] = routes.slave_link
    routes.add(panel.app)


def _enabled(section: uci.UciSection) -> bool:
    return str(section.options.get("enabled", "1")).strip().lower() not in ("0", "no", "off", "false", "disabled")


def _digest(data: bytes | None) -> str:
    return hashlib.sha1(data or b"").hexdigest()[:16]


@dataclass
class PointsFile:
    """A slave's points file as the staged configuration has it."""

    path: Path  # where it is (or will be)
    rel: str | None  # its path in the data directory; None: outside it (the panel does not edit it)
    raw: bytes | None
    data: Any = None  # the whole JSON (an object with "points", or the list)
    items: list[Any] = field(default_factory=list)
    error: str = ""  # why it cannot be read as a points file
    missing: bool = False  # it does not exist (yet): the first point added makes it

    @property
    def digest(self) -> str:
        return _digest(self.raw)

    def dumped(self, items: list[Any]) -> bytes:
        if isinstance(self.data, dict):
            data = dict(self.data)
            data["points"] = items
            return dumps(data).encode()
        if isinstance(self.data, list):
            return (json.dumps(items, indent=2, ensure_ascii=False) + "\n").encode()
        return dumps({"points": items}).encode()


def _where(section: uci.UciSection) -> str:
    options = section.options
    if options.get("protocol", "rtu") in ("rtu", "ascii"):
        return str(options.get("resource") or "-")
    return f"{options.get('host') or '-'}:{options.get('port') or 502}"


class Routes:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    def add(self, app: bottle.Bottle) -> None:
        p = self.panel
        get = [("/modbus", self.list_page), ("/modbus/masters/<name>", self.master_page),
               ("/modbus/slaves/<name>", self.slave_page), ("/modbus/slaves/<name>/points", self.points_page),
               ("/modbus/slaves/<name>/points/<number:int>", self.point_page)]
        post = [("/modbus/masters/add", self.add_master), ("/modbus/masters/<name>", self.save_master),
                ("/modbus/masters/<name>/copy", self.copy_master), ("/modbus/masters/<name>/delete", self.delete_master),
                ("/modbus/slaves/add", self.add_slave), ("/modbus/slaves/<name>", self.save_slave),
                ("/modbus/slaves/<name>/copy", self.copy_slave), ("/modbus/slaves/<name>/delete", self.delete_slave),
                ("/modbus/slaves/<name>/points/add", self.add_point),
                ("/modbus/slaves/<name>/points/selected", self.selected_points),
                ("/modbus/slaves/<name>/points/<number:int>", self.save_point),
                ("/modbus/slaves/<name>/points/<number:int>/copy", self.copy_one_point),
                ("/modbus/slaves/<name>/points/<number:int>/delete", self.delete_one_point)]
        for path, handler in get:
            app.route(path, callback=p.logged_in(handler))
        for path, handler in post:
            app.route(path, method="POST", callback=p.logged_in(handler, post=True))

    # -------------------------------------------------------------- where a problem is edited

    def slave_link(self, name: str, problem: Problem) -> str:
        """A point's problem: its editor at the key; another of the points file: the table; else the option."""
        at = point_location(problem.message)
        if at is not None:
            return f"/modbus/slaves/{name}/points/{at[0] + 1}" + (f"#field-{at[1]}" if at[1] else "")
        if problem.file and problem.file != str(self.panel.paths.uci_file) and not problem.option:
            return f"/modbus/slaves/{name}/points"
        return f"/modbus/slaves/{name}" + (f"#field-{problem.option}" if problem.option else "")

    # -------------------------------------------------------------- reading

    def staging(self) -> Staging:
        return Staging(self.panel.paths)

    def _package(self) -> uci.UciPackage:
        return staged_package(self.staging())

    @staticmethod
    def _section(package: uci.UciPackage, type_: str, name: str) -> uci.UciSection:
        section = package.section(name) if uci.validate_name(name) else None
        if section is None or section.type != type_:
            bottle.abort(404, f"no {type_} '{name}'")
        return section

    def _points(self, section: uci.UciSection) -> PointsFile:
        data_dir = self.panel.paths.data_dir
        option = section.options.get("points")
        path = points_path(ModbusSlave(name=section.name, master="", points=option if isinstance(option, str) else ""),
                           data_dir)
        try:
            rel: str | None = str(path.relative_to(data_dir))
        except ValueError:
            rel = None
        problem = ""
        try:
            raw = self.staging().read_data(rel) if rel is not None else path.read_bytes()
        except BadPath as err:
            rel, raw, problem = None, None, str(err)
        except OSError as err:
            raw, problem = None, f"{path}: {err.strerror or err}"
        points = PointsFile(path, rel, raw, error=problem)
        if raw is None:
            points.missing = not problem
            points.error = problem or f"the points file {path} does not exist yet: adding a point makes it"
            return points
        try:
            points.data = parse_json(raw)
        except FileProblem as err:
            points.error = f"{path} line {err.line}: {err.message}"
            return points
        items = points.data.get("points", []) if isinstance(points.data, dict) else points.data
        if not isinstance(items, list):
            points.error = f"{path}: 'points' is not a list"
            return points
        points.items = items
        return points

    def _editable(self, points: PointsFile, digest: str | None = None) -> None:
        if points.rel is None:
            bottle.abort(409, f"the points file {points.path} is outside the data directory "
                              f"({self.panel.paths.data_dir}): the panel edits the files in it only")
        if points.error and not points.missing:
            bottle.abort(409, f"{points.error}: the panel edits a points file it can read (fix it, or Revert)")
        if digest is not None and digest != points.digest:
            bottle.abort(409, "the points file changed since this page was loaded (another tab, or Revert): "
                              "reload the page and do it again")

    def _stage_points(self, points: PointsFile, items: list[Any]) -> None:
        assert points.rel is not None
        self.staging().save_data(points.rel, points.dumped(items))

    def _resources(self) -> list[str]:
        config, _ = load_core(self.panel.paths)
        if config is None:
            return []
        return [n for n, r in config.resources.items() if r.type in ModbusMaster.resource_types]

    @staticmethod
    def _form(cls: type[Section], section: uci.UciSection, checked: Any, label: str, **choices: list[str]
              ) -> tuple[list[dict[str, Any]], list[Problem]]:
        """The fields of a section editor with their problems, and the section's problems of no field."""
        fields = form_fields(cls, section, choices.pop("resource", None))
        for f in fields:
            own = choices.get(f["option"])
            if own is not None:
                f["kind"], f["choices"] = "select", list(own)
                if f["set"] and f["value"] not in f["choices"]:
                    f["choices"].insert(0, f["value"])
            default = cls.__dataclass_fields__[f["option"]].default
            if f["kind"] == "bool" and default is None:  # yes, no, or what the master's protocol says
                raw = section.options.get(f["option"])
                f["kind"], f["choices"] = "select", ["1", "0"]
                f["labels"] = {"1": "yes", "0": "no"}
                f["value"] = ("1" if str(raw).strip().lower() in ("1", "yes", "on", "true", "enabled") else "0") \
                    if raw is not None else ""
                f["default"] = "as the master's protocol"
            f["shown_when"] = SHOWN_WHEN.get(f["option"], "") if cls is ModbusMaster else ""
            f["problems"] = checked.at(label, f["option"])
        shown = {f["option"] for f in fields}
        own_problems = [p for p in checked.problems if p.section == label and p.option not in shown
                        and point_location(p.message) is None]
        return fields, own_problems

    @staticmethod
    def _apply(cls: type[Section], section: uci.UciSection, form: Any) -> None:
        apply_form(cls, section, form)
        for f in cls.options():
            if _kind_tristate(cls, f.name):
                value = (form.getunicode("o." + f.name) or "").strip()
                if value in ("1", "0"):
                    section.options[f.name] = value
                else:
                    section.options.pop(f.name, None)

    # -------------------------------------------------------------- the list

    def list_page(self, session: Session) -> str:
        package = self._package()
        checked = self.staging().validate()

        def errors(section: uci.UciSection) -> int:
            label = f"{section.type} '{section.name}'"
            return sum(p.severity == "error" for p in checked.problems if p.section == label)

        masters = [s for s in package if s.type == MASTER]
        protocols = {m.name: str(m.options.get("protocol", "rtu")) for m in masters}
        rows = []
        for m in masters:
            rows.append({"name": m.name, "protocol": protocols[m.name], "where": _where(m), "enabled": _enabled(m),
                         "slaves": sum(1 for s in package if s.type == SLAVE and s.options.get("master") == m.name),
                         "errors": errors(m)})
        slaves = []
        for s in package:
            if s.type != SLAVE:
                continue
            master = package.section(str(s.options.get("master") or ""))
            points = self._points(s)
            slaves.append({"name": s.name, "master": s.options.get("master", "-"),
                           "protocol": protocols.get(str(s.options.get("master")), "-"),
                           "where": _where(master) if master is not None and master.type == MASTER else "-",
                           "enabled": _enabled(s), "station": s.options.get("station", "1"),
                           "points": len(points.items), "description": s.options.get("description", ""),
                           "errors": errors(s)})
        return self.panel.render("modbus_list.tpl", session, title="Modbus", active="modbus", masters=rows,
                                 slaves=slaves, protocols=PROTOCOLS)

    # -------------------------------------------------------------- masters

    def master_page(self, session: Session, name: str) -> str:
        package = self._package()
        section = self._section(package, MASTER, name)
        checked = self.staging().validate()
        fields, problems = self._form(ModbusMaster, section, checked, f"{MASTER} '{name}'",
                                      resource=self._resources())
        slaves = [s.name for s in package if s.type == SLAVE and s.options.get("master") == name]
        return self.panel.render("modbus_section.tpl", session, title=f"Modbus master {name}", active="modbus",
                                 kind="master", section_name=name, fields=fields, section_problems=problems,
                                 doc=_doc(ModbusMaster), action=f"/modbus/masters/{name}", slaves=slaves)

    def save_master(self, session: Session, name: str) -> None:
        package = self._package()
        section = self._section(package, MASTER, name)
        self._apply(ModbusMaster, section, bottle.request.forms)
        self.staging().save(package)
        redirect(f"/modbus/masters/{name}")

    def _new_name(self, package: uci.UciPackage) -> str:
        name = (bottle.request.forms.getunicode("name") or "").strip()
        if not uci.validate_name(name):
            bottle.abort(400, "a name is letters, digits and _ (like line1)")
        if package.section(name) is not None:
            bottle.abort(409, f"a section '{name}' exists already: choose another name")
        return name

    def add_master(self, session: Session) -> None:
        package = self._package()
        name = self._new_name(package)
        protocol = bottle.request.forms.getunicode("protocol") or "tcp"
        if protocol not in PROTOCOLS:
            bottle.abort(400, f"the protocol is one of {', '.join(PROTOCOLS)}")
        section = package.add(MASTER, name)
        section.options["protocol"] = protocol
        if protocol in ("rtu", "ascii"):
            used = {str(s.options.get("resource")) for s in package if s.name != name}
            free = [r for r in self._resources() if r not in used]
            if free:
                section.options["resource"] = free[0]
        self.staging().save(package)
        redirect(f"/modbus/masters/{name}")

    def copy_master(self, session: Session, name: str) -> None:
        """The master with a copy of each of its slaves (their points files too)."""
        package = self._package()
        source = self._section(package, MASTER, name)
        copy = package.add(MASTER, free_name(package, name, set()))
        copy.options.update({k: (list(v) if isinstance(v, list) else v) for k, v in source.options.items()})
        staged: dict[str, bytes] = {}
        taken: tuple[set[int], set[int]] | None = None
        for slave in [s for s in package if s.type == SLAVE and s.options.get("master") == name]:
            _, taken = self._copy_slave(package, slave, copy.name, staged, taken)
        self._save_all(package, staged)
        redirect(f"/modbus/masters/{copy.name}")

    def delete_master(self, session: Session, name: str) -> None:
        """The master and its slaves (and their points files)."""
        package = self._package()
        self._section(package, MASTER, name)
        files: dict[str, None] = {}
        for slave in [s for s in package if s.type == SLAVE and s.options.get("master") == name]:
            files.update(self._remove_slave(package, slave))
        package.remove(name)
        self._save_all(package, files)
        redirect("/modbus")

    # -------------------------------------------------------------- slaves

    def slave_page(self, session: Session, name: str) -> str:
        package = self._package()
        section = self._section(package, SLAVE, name)
        checked = self.staging().validate()
        masters = [s.name for s in package if s.type == MASTER]
        fields, problems = self._form(ModbusSlave, section, checked, f"{SLAVE} '{name}'", master=masters)
        master = package.section(str(section.options.get("master") or ""))
        serial = master is not None and master.options.get("protocol", "rtu") in ("rtu", "ascii")
        for f in fields:
            f["note"] = "" if serial or f["option"] not in SERIAL_ONLY else "(RTU and ASCII masters only)"
        points = self._points(section)
        label = f"{SLAVE} '{name}'"
        point_problems = [p for p in checked.problems if p.section == label and point_location(p.message) is not None]
        return self.panel.render("modbus_section.tpl", session, title=f"Modbus slave {name}", active="modbus",
                                 kind="slave", section_name=name, fields=fields, section_problems=problems,
                                 doc=_doc(ModbusSlave), action=f"/modbus/slaves/{name}", points=points,
                                 point_errors=sum(p.severity == "error" for p in point_problems))

    def save_slave(self, session: Session, name: str) -> None:
        package = self._package()
        section = self._section(package, SLAVE, name)
        self._apply(ModbusSlave, section, bottle.request.forms)
        self.staging().save(package)
        redirect(f"/modbus/slaves/{name}")

    def add_slave(self, session: Session) -> None:
        package = self._package()
        name = self._new_name(package)
        master = bottle.request.forms.getunicode("master") or ""
        self._section(package, MASTER, master)
        rel = f"modbus/{name}.json"
        if self.staging().read_data(rel) is not None:
            bottle.abort(409, f"{self.panel.paths.data_dir / rel} exists already (no slave uses it): choose another "
                              f"name, or delete the file")
        used = {str(s.options.get("station", "1")) for s in package if s.type == SLAVE
                and s.options.get("master") == master}
        section = package.add(SLAVE, name)
        section.options["master"] = master
        section.options["station"] = str(next(n for n in range(1, 248) if str(n) not in used) if len(used) < 247 else 1)
        self._save_all(package, {rel: dumps({"points": []}).encode()})
        redirect(f"/modbus/slaves/{name}")

    def _taken(self) -> tuple[set[int], set[int]]:
        """Instance blocks and device instances a copy must not take, in the staged configuration."""
        config, _ = self.staging().load()
        if config is None:
            return set(), set()
        return taken_blocks(config), device_instances(config)

    def _copy_slave(self, package: uci.UciPackage, source: uci.UciSection, master: str, staged: dict[str, bytes],
                    taken: tuple[set[int], set[int]] | None) -> tuple[str, tuple[set[int], set[int]] | None]:
        """Add a copy of ``source`` on ``master`` to ``package`` and its points file to ``staged``: its name, and
        the blocks and instances taken now (read once for the copies of a master)."""
        points = self._points(source)
        names = set()
        while True:
            name = free_name(package, source.name, names)
            if self.staging().read_data(f"modbus/{name}.json") is None and f"modbus/{name}.json" not in staged:
                break
            names.add(name)  # an orphaned points file: not this copy's
        copy = package.add(SLAVE, name)
        copy.options.update({k: (list(v) if isinstance(v, list) else v) for k, v in source.options.items()})
        copy.options["master"] = master
        copy.options.pop("points", None)  # its own file: modbus/NAME.json
        staged[f"modbus/{name}.json"] = points.raw if points.raw is not None else dumps({"points": []}).encode()
        if "block" in copy.options or "instance" in copy.options:
            taken = taken or self._taken()
            if "block" in copy.options:
                block = lowest_free(taken[0], 1, MAX_BLOCK)
                if block is not None:
                    copy.options["block"] = str(block)
                    taken[0].add(block)
            if "instance" in copy.options:
                try:
                    start = int(str(copy.options["instance"])) + 1
                except ValueError:
                    start = 1
                instance = lowest_free(taken[1], start, MAX_INSTANCE) or lowest_free(taken[1], 1, MAX_INSTANCE)
                if instance is not None:
                    copy.options["instance"] = str(instance)
                    taken[1].add(instance)
        return name, taken

    def copy_slave(self, session: Session, name: str) -> None:
        package = self._package()
        source = self._section(package, SLAVE, name)
        staged: dict[str, bytes] = {}
        copy, _ = self._copy_slave(package, source, str(source.options.get("master") or ""), staged, None)
        self._save_all(package, staged)
        redirect(f"/modbus/slaves/{copy}")

    def _remove_slave(self, package: uci.UciPackage, section: uci.UciSection) -> dict[str, None]:
        """Take ``section`` out of ``package``; its points file goes too unless another slave uses it."""
        points = self._points(section)
        package.remove(section.name)
        if points.rel is None or points.raw is None:
            return {}
        for other in package:
            if other.type == SLAVE and self._points_rel(other) == points.rel:
                return {}
        return {points.rel: None}

    def _points_rel(self, section: uci.UciSection) -> str | None:
        option = section.options.get("points")
        path = points_path(ModbusSlave(name=section.name, master="", points=option if isinstance(option, str) else ""),
                           self.panel.paths.data_dir)
        try:
            return str(path.relative_to(self.panel.paths.data_dir))
        except ValueError:
            return None

    def delete_slave(self, session: Session, name: str) -> None:
        package = self._package()
        section = self._section(package, SLAVE, name)
        self._save_all(package, self._remove_slave(package, section))
        redirect("/modbus")

    def _save_all(self, package: uci.UciPackage, files: dict[str, bytes | None]) -> None:
        """Stage the data files first: an edit stopped halfway leaves a file no section uses, never a section
        without its file."""
        staging = self.staging()
        for rel, data in files.items():
            staging.save_data(rel, data)
        staging.save(package)

    # -------------------------------------------------------------- points

    def _point_problems(self, name: str) -> tuple[dict[int, list[Problem]], list[Problem]]:
        """The slave's problems by point (0-based), and those of its points file about no point."""
        label = f"{SLAVE} '{name}'"
        by_point: dict[int, list[Problem]] = {}
        other: list[Problem] = []
        uci_file = str(self.panel.paths.uci_file)
        for problem in self.staging().validate().problems:
            if problem.section != label:
                continue
            at = point_location(problem.message)
            if at is not None:
                by_point.setdefault(at[0], []).append(problem)
            elif problem.file and problem.file != uci_file and not problem.option:
                other.append(problem)
        return by_point, other

    def points_page(self, session: Session, name: str) -> str:
        package = self._package()
        section = self._section(package, SLAVE, name)
        points = self._points(section)
        query = (bottle.request.query.getunicode("q") or "").strip()
        try:
            offset = max(0, int(bottle.request.query.get("offset") or 0))
        except ValueError:
            bottle.abort(400, "offset is a number")
        by_point, other = self._point_problems(name)
        rows = []
        needle = query.lower()
        for index, raw in enumerate(points.items):
            row = _row(index, raw, by_point.get(index, []))
            if needle and needle not in row["text"]:
                continue
            rows.append(row)
        shown = rows[offset:offset + PAGE]
        return self.panel.render("modbus_points.tpl", session, title=f"Points of {name}", active="modbus",
                                 slave=name, points=points, rows=shown, matching=len(rows), offset=offset, page=PAGE,
                                 query=query, quote=quote, file_problems=other,
                                 editable=points.rel is not None and (points.missing or not points.error))

    def add_point(self, session: Session, name: str) -> None:
        package = self._package()
        points = self._points(self._section(package, SLAVE, name))
        self._editable(points)
        form = bottle.request.forms
        object_type = form.getunicode("object_type") or "ai"
        address_type = form.getunicode("address_type") or ("coil" if object_type[0] == "b" else "holding")
        items = [*points.items, new_point(points.items, object_type, address_type)]
        self._stage_points(points, items)
        redirect(f"/modbus/slaves/{name}/points/{len(items)}")

    def _selection(self, points: PointsFile) -> list[int]:
        numbers = []
        for text in bottle.request.forms.getall("sel"):
            if not str(text).isdigit() or not 1 <= int(text) <= len(points.items):
                bottle.abort(400, f"no point {text!r}")
            numbers.append(int(text) - 1)
        return sorted(set(numbers))

    def selected_points(self, session: Session, name: str) -> None:
        package = self._package()
        points = self._points(self._section(package, SLAVE, name))
        self._editable(points, bottle.request.forms.get("digest") or "")
        action = bottle.request.forms.get("action")
        chosen = self._selection(points)
        if not chosen:
            bottle.abort(400, "no point selected: tick the points first")
        items = list(points.items)
        if action == "delete":
            items = [p for i, p in enumerate(items) if i not in set(chosen)]
        elif action == "copy":
            for index in chosen:
                items.append(copy_point(items, index))
        else:
            bottle.abort(400, "the action is copy or delete")
        self._stage_points(points, items)
        redirect(f"/modbus/slaves/{name}/points")

    def _point(self, name: str, number: int) -> tuple[PointsFile, dict[str, Any]]:
        points = self._points(self._section(self._package(), SLAVE, name))
        if not 1 <= number <= len(points.items):
            bottle.abort(404, f"slave '{name}' has no point {number} (it has {len(points.items)})")
        raw = points.items[number - 1]
        return points, raw if isinstance(raw, dict) else {}

    def point_page(self, session: Session, name: str, number: int) -> str:
        points, raw = self._point(name, number)
        by_point, _ = self._point_problems(name)
        problems = by_point.get(number - 1, [])
        fields = []
        for spec in POINT_SCHEMA:
            value = raw.get(spec.key)
            fields.append({"key": spec.key, "kind": spec.kind, "doc": spec.doc, "choices": spec.choices,
                           "suggestions": spec.suggestions, "min": spec.min, "max": spec.max,
                           "required": spec.required, "set": spec.key in raw,
                           "value": (flag(value) if spec.key in raw else bool(spec.default)) if spec.kind == "bool"
                           else form_text(spec.key, value),
                           "default": form_text(spec.key, spec.default),
                           "problems": [p for p in problems if point_location(p.message) == (number - 1, spec.key)]})
        own = [p for p in problems if point_location(p.message) == (number - 1, "")]
        known = {spec.key for spec in POINT_SCHEMA}
        others = {k: form_text(k, v) for k, v in raw.items() if k not in known}
        return self.panel.render("modbus_point.tpl", session, title=f"Point {number} of {name}", active="modbus",
                                 slave=name, number=number, count=len(points.items), fields=fields,
                                 point_problems=own, others=others, digest=points.digest,
                                 editable=points.rel is not None, point_name=str(raw.get("name") or ""))

    def save_point(self, session: Session, name: str, number: int) -> None:
        points, raw = self._point(name, number)
        form = bottle.request.forms
        self._editable(points, form.get("digest") or "")
        texts: dict[str, str | bool | None] = {}
        for spec in POINT_SCHEMA:
            if spec.kind == "bool":
                texts[spec.key] = form.get("k." + spec.key) is not None if form.get("has." + spec.key) else None
            else:
                texts[spec.key] = form.getunicode("k." + spec.key)
        items = list(points.items)
        items[number - 1] = edit_point(raw, texts)
        if items[number - 1] != raw:
            self._stage_points(points, items)
        redirect(f"/modbus/slaves/{name}/points/{number}")

    def copy_one_point(self, session: Session, name: str, number: int) -> None:
        points, _ = self._point(name, number)
        self._editable(points, bottle.request.forms.get("digest") or "")
        items = [*points.items, copy_point(points.items, number - 1)]
        self._stage_points(points, items)
        redirect(f"/modbus/slaves/{name}/points/{len(items)}")

    def delete_one_point(self, session: Session, name: str, number: int) -> None:
        points, _ = self._point(name, number)
        self._editable(points, bottle.request.forms.get("digest") or "")
        self._stage_points(points, [p for i, p in enumerate(points.items) if i != number - 1])
        redirect(f"/modbus/slaves/{name}/points")


def _kind_tristate(cls: type[Section], option: str) -> bool:
    """A bool option whose default is None: yes, no, or decided elsewhere (a slave's ``ascii``)."""
    f = cls.__dataclass_fields__.get(option)
    return f is not None and "doc" in f.metadata and str(f.type) == "bool" and f.default is None


def _doc(cls: type[Section]) -> str:
    return (cls.__doc__ or "").strip().replace("``", "")


def _row(index: int, raw: Any, problems: list[Problem]) -> dict[str, Any]:
    """What the points table shows of one point (and the text the filter looks in)."""
    if not isinstance(raw, dict):
        raw = {}
    enabled = str(raw.get("enable", True)).strip().lower() not in ("0", "false", "no", "off")
    row = {"number": index + 1, "name": str(raw.get("name") or ""), "object": f"{raw.get('object_type', '?')} "
           f"{raw.get('instance', 0)}", "register": f"{raw.get('address_type', '?')} {raw.get('address', 0)}",
           "data_type": str(raw.get("data_type") or "u16"), "enabled": enabled,
           "scale": form_text("scale", raw.get("scale", 1)), "unit": form_text("unit", raw.get("unit")),
           "description": str(raw.get("description") or ""),
           "errors": [p.message for p in problems if p.severity == "error"],
           "warnings": [p.message for p in problems if p.severity != "error"]}
    row["text"] = " ".join(str(row[k]) for k in ("name", "object", "register", "data_type", "description")).lower()
    return row
