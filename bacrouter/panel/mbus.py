"""The panel's M-Bus page: scan a line, read a meter, make Free Client points from its records.

Scans and reads are the daemon's ``mbus_scan`` and ``mbus_read`` run as jobs
(``static/mbus.js`` starts them through ``/api/jobs`` with the progress bar and
Cancel of ``job.tpl``); a browser names a line only as a USB resource of
resource.conf, never a tty path (the socket's alone). "Make points" turns the
records picked into points of a Free Client bus running the shipped
``mbus.lua``: the bus definition (``freeclient/BUS.json`` in the data
directory) is extended, or a new bus made on the line, as a **staged** edit:
nothing reaches /etc until Save & Apply in ``/changes`` has checked it.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import bottle

from ..config import uci
from ..config.resources import ResourceError, ResourceType, load_resources
from .staging import BadPath, Staging

if TYPE_CHECKING:
    from .auth import Session

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register", "BAUDS"]

BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400)
PARITIES = ("even", "none", "odd")
LINE_PARAMS = {"resource", "baud", "parity", "timeout_ms", "retries"}
#: the point types a record may become (a record is a number: analog; read-only or a value)
POINT_TYPES = ("ai", "av")
MAX_POINTS = 500
SCRIPT = "mbus.lua"
#: a new bus reads its meters this often (ms), as the script's default
NEW_BUS_TAG = "update_interval=5000"
_ADDR_TAG = re.compile(r"""\baddr\s*=\s*(?:"([0-9A-Fa-f]{16})"|'([0-9A-Fa-f]{16})'|(\d+))""")
_ID_TAG = re.compile(r"\bid\s*=\s*(\d+)")


def register(panel: Panel) -> None:
    panel.menu.append(("mbus", "M-Bus", "/mbus"))
    panel.job_methods.update(("mbus_scan", "mbus_read"))
    # never "tty": a file path is for root on the control socket
    panel.job_params["mbus_scan"] = LINE_PARAMS | {"mode", "first", "last", "mask", "decimal", "identify"}
    panel.job_params["mbus_read"] = LINE_PARAMS | {"address", "reset"}
    page = MBusPage(panel)
    panel.app.route("/mbus", callback=panel.logged_in(page.page))
    panel.app.route("/api/mbus/points", method="POST", callback=panel.logged_in(page.points, api=True, post=True))


class MBusPage:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    def staging(self) -> Staging:
        return Staging(self.panel.paths)

    # -------------------------------------------------------------- the page

    def _lines(self, package: uci.UciPackage) -> list[dict[str, str]]:
        """resource.conf's USB resources, each with what the configuration runs on it."""
        try:
            resources = load_resources(self.panel.paths.resource_file)
        except (OSError, ResourceError):
            return []
        users: dict[str, list[str]] = {}
        for section in package:
            resource = section.options.get("resource")
            if isinstance(resource, str) and _enabled(section):
                users.setdefault(resource, []).append(f"{section.type} '{section.name}'")
        return [{"name": name, "ifname": r.ifname, "users": ", ".join(users.get(name, []))}
                for name, r in resources.items() if r.type == ResourceType.USB]

    def _buses(self, staging: Staging, package: uci.UciPackage) -> list[dict[str, str]]:
        """The Free Client buses running the M-Bus script, as the staged configuration has them."""
        out = []
        for section in package.of_type("freeclient_bus"):
            script = str(section.options.get("script") or "")
            if not script:
                try:
                    definition = _load_json(staging, _definition_relpath(section))
                except bottle.HTTPError:  # a file that is not JSON: Save & Apply says where
                    definition = None
                scripts = definition.get("script") if isinstance(definition, dict) else None
                script = next(iter(scripts), "") if isinstance(scripts, dict) else ""
            if "mbus" in script.lower():
                out.append({"name": section.name, "resource": str(section.options.get("resource") or "")})
        return out

    def page(self, session: Session) -> str:
        staging = self.staging()
        package = staging.package()
        (status,), offline = self.panel._runtime(("version", None))
        return self.panel.render("mbus.tpl", session, title="M-Bus", active="mbus", offline=offline,
                                 lines=self._lines(package), buses=self._buses(staging, package), bauds=BAUDS,
                                 parities=PARITIES)

    # -------------------------------------------------------------- make points

    def points(self, session: Session) -> dict[str, Any]:
        body = bottle.request.json
        if not isinstance(body, dict):
            bottle.abort(400, "send a JSON object: {bus, new_bus?, resource?, baud?, parity?, device, points}")
        staging = self.staging()
        package = staging.package()
        name = str(body.get("bus") or "").strip()
        if not uci.validate_name(name):
            bottle.abort(400, f"bus: {name!r} is not a section name (letters, digits and _)")
        section = package.section(name)
        new_bus = bool(body.get("new_bus"))
        if new_bus and section is not None:
            bottle.abort(400, f"bus: a section '{name}' exists already ({section.type}); choose another name")
        if not new_bus and (section is None or section.type != "freeclient_bus"):
            bottle.abort(400, f"bus: no Free Client bus '{name}'")
        device = self._device(body.get("device"))
        points = self._points(body.get("points"))
        relpath = _definition_relpath(section) if section is not None else f"freeclient/{name}.json"
        if relpath is None:
            bottle.abort(409, f"bus '{name}': its definition is outside the data directory; edit it there")
        definition = _load_json(staging, relpath) if not new_bus else None
        if new_bus:
            resource = str(body.get("resource") or "")
            if resource not in {line["name"] for line in self._lines(package)}:
                bottle.abort(400, f"resource: {resource!r} is not a USB resource of resource.conf")
            baud, parity = body.get("baud", 2400), body.get("parity", "even")
            if baud not in BAUDS or parity not in PARITIES:
                bottle.abort(400, "baud and parity: one of the M-Bus rates, and even, none or odd")
            definition = {"name": name, "type": 1, "resource": resource, "baudrate": baud, "parity": parity,
                          "tag": NEW_BUS_TAG, "fcdevices": []}
        elif definition is None:
            definition = {"fcdevices": []}  # the section exists, its file not yet
        if not isinstance(definition, dict) or not isinstance(definition.setdefault("fcdevices", []), list):
            bottle.abort(409, f"{relpath}: not a bus definition (an object with a list of fcdevices); fix it first")
        added, skipped, target = _merge(definition, device, points)
        try:
            staging.save_data(relpath, (json.dumps(definition, indent=2, ensure_ascii=False) + "\n").encode())
        except BadPath as err:
            bottle.abort(409, str(err))
        if new_bus:
            bus = package.add("freeclient_bus", name)
            bus.options["resource"] = definition["resource"]  # in UCI too: the line's other users are checked
            bus.options["script"] = SCRIPT
            staging.save(package)
        return {"bus": name, "new_bus": new_bus, "file": relpath, "device": target, "added": added,
                "skipped": skipped, "staged": len(staging.changes())}

    @staticmethod
    def _device(raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            bottle.abort(400, "device: {name, address, instance?}")
        name = str(raw.get("name") or "").strip()
        if not name or len(name) > 64 or "|" in name or not name.isprintable():
            bottle.abort(400, f"device name: {name[:70]!r} is not a name (1 to 64 characters, no |)")
        address = str(raw.get("address") or "").strip()
        if address.isdigit() and int(address) <= 250:
            tag = f"addr={int(address)}"
        elif re.fullmatch(r"[0-9A-Fa-f]{16}", address):
            address = address.upper()
            tag = f'addr="{address}"'
        else:
            bottle.abort(400, f"device address: {address[:40]!r} is neither a primary address (0..250) nor a "
                              "secondary address (16 hex digits)")
        instance = raw.get("instance")
        if instance in (None, ""):
            instance = None
        else:
            try:
                instance = int(instance)
            except (TypeError, ValueError):
                bottle.abort(400, "device instance: a number from 0 to 4194302, or empty")
            if not 0 <= instance <= 4194302:
                bottle.abort(400, "device instance: a number from 0 to 4194302, or empty")
        return {"name": name, "address": address, "tag": tag, "instance": instance}

    @staticmethod
    def _points(raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or not raw:
            bottle.abort(400, "points: pick at least one record")
        if len(raw) > MAX_POINTS:
            bottle.abort(400, f"points: at most {MAX_POINTS} at once")
        out, names = [], set()
        for index, point in enumerate(raw, 1):
            where = f"point {index}"
            if not isinstance(point, dict):
                bottle.abort(400, f"{where}: an object {{id, name, object_type?}}")
            record = point.get("id")
            if isinstance(record, bool) or not isinstance(record, int) or record < 0:
                bottle.abort(400, f"{where}: id is the record's number (from 0)")
            name = str(point.get("name") or "").strip()
            if not name or len(name) > 64 or "|" in name or not name.isprintable():
                bottle.abort(400, f"{where}: name {name[:70]!r} is not a name (1 to 64 characters, no |)")
            if name in names:
                bottle.abort(400, f"{where}: the name '{name}' is given twice")
            names.add(name)
            kind = point.get("object_type") or "ai"
            if kind not in POINT_TYPES:
                bottle.abort(400, f"{where}: object_type is {' or '.join(POINT_TYPES)}")
            description = str(point.get("description") or "")[:200]
            out.append({"id": record, "name": name, "object_type": kind, "description": description})
        return out


def _merge(definition: dict[str, Any], device: dict[str, Any],
           points: list[dict[str, Any]]) -> tuple[list[str], list[str], str]:
    """Add the points to the device of that address (made when the bus has none); records that have a point
    there already, and names taken, are skipped. The names added, those skipped (with why), the device's name."""
    devices = definition["fcdevices"]
    target = next((d for d in devices if isinstance(d, dict) and _address_of(d.get("tag")) == device["address"]), None)
    if target is None:
        if any(isinstance(d, dict) and str(d.get("name", "")).strip() == device["name"] for d in devices):
            bottle.abort(400, f"device name: the bus has a device '{device['name']}' with another address")
        target = {"name": device["name"], "tag": device["tag"], "enable": True, "fcpoints": []}
        if device["instance"] is not None:
            target["instance"] = device["instance"]
        devices.append(target)
    existing = target.setdefault("fcpoints", [])
    if not isinstance(existing, list):
        bottle.abort(409, f"device '{target.get('name')}': fcpoints is not a list; fix the file first")
    ids = {int(m.group(1)) for p in existing if isinstance(p, dict) and (m := _ID_TAG.search(str(p.get("tag"))))}
    names = {str(p.get("name")) for p in existing if isinstance(p, dict)}
    instances = [p.get("instance") for p in existing if isinstance(p, dict)]
    instance = max([i for i in instances if isinstance(i, int)] + [0]) + 1
    added, skipped = [], []
    for point in points:
        if point["id"] in ids:
            skipped.append(f"{point['name']}: record {point['id']} has a point already")
            continue
        if point["name"] in names:
            skipped.append(f"{point['name']}: the device has a point of that name")
            continue
        # no unit and no scale: the script takes the units from the record's VIF (kWh, m3, degC, ...)
        existing.append({"name": point["name"], "description": point["description"], "instance": instance,
                         "enable": True, "object_type": point["object_type"], "value_type": 1,
                         "tag": f"id={point['id']}"})
        added.append(point["name"])
        ids.add(point["id"])
        names.add(point["name"])
        instance += 1
    return added, skipped, str(target.get("name"))


def _address_of(tag: Any) -> str | None:
    match = _ADDR_TAG.search(str(tag or ""))
    if match is None:
        return None
    secondary = match.group(1) or match.group(2)
    return secondary.upper() if secondary else str(int(match.group(3)))


def _definition_relpath(section: uci.UciSection) -> str | None:
    """Where a bus's definition is in the data directory (None: outside it)."""
    option = str(section.options.get("definition") or "")
    if not option:
        return f"freeclient/{section.name}.json"
    return None if option.startswith("/") else option


def _load_json(staging: Staging, relpath: str | None) -> Any:
    if relpath is None:
        return None
    try:
        raw = staging.read_data(relpath)
    except BadPath:
        return None
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        bottle.abort(409, f"{relpath}: not JSON; fix the file first")


def _enabled(section: uci.UciSection) -> bool:
    return str(section.options.get("enabled", "1")).strip().lower() not in ("0", "no", "off", "false", "disabled")
