"""A Free Client bus as the original product exports it (JSON), with bacrouter's UCI options on top.

The export format: ``enable, name, tag, type`` (1 RS485, 2 TCP), ``server,
parity, baudrate, bit7, frame_ms, resource, script`` (``{filename: text}``)
and ``fcdevices``: ``[{enable, name, description, instance, tag, fcpoints:
[{name, description, instance, enable, object_type, value_type, polarity,
state_texts, unit, cov_increment, tag}]}]``. A file exported by the product
is accepted as is; the ``freeclient_bus`` section's options, where set, win.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.files import unknown_keys
from ..config.library import load_library
from ..config.model import Config, Problem
from ..modbus.devconfig import TextSets, flag, point_header, state_texts
from .schema import FreeClientBus

__all__ = ["BusDefinition", "DevicePlan", "PointDef", "load_buses", "definition_path", "INTERFACE_RS485",
           "INTERFACE_TCP", "FormatKey", "BUS_FORMAT", "DEVICE_FORMAT", "POINT_FORMAT", "SHIPPED_SCRIPTS"]

INTERFACE_RS485, INTERFACE_TCP = 1, 2
PARITIES = {"none": "none", "n": "none", "0": "none", "even": "even", "e": "even", "2": "even",
            "odd": "odd", "o": "odd", "1": "odd"}
SHIPPED_SCRIPTS = Path(__file__).resolve().parent / "scripts"


@dataclass(slots=True)
class PointDef:
    index: int  # 1-based, as the script numbers it
    name: str
    object_type: str
    instance: int = 0
    enabled: bool = True
    description: str = ""
    tag: str = ""
    polarity: bool = False
    state_texts: list[str] = field(default_factory=list)
    unit: Any = None
    cov_increment: float | None = None
    read_only: bool = False  # value_type 1: not writable from BACnet, whatever the object type

    @property
    def writable(self) -> bool:
        """Whether BACnet may write the point's object: a value or output object not marked read-only."""
        return not self.object_type.endswith("i") and not self.read_only

    @property
    def kind(self) -> str:
        return {"a": "analog", "b": "binary", "m": "multistate"}[self.object_type[0]]


@dataclass
class DevicePlan:
    index: int  # 1-based
    name: str
    instance: int | None = None
    enabled: bool = True
    description: str = ""
    tag: str = ""
    points: list[PointDef] = field(default_factory=list)


@dataclass
class BusDefinition:
    name: str
    interface: int  # INTERFACE_RS485 or INTERFACE_TCP
    script_name: str
    script: bytes
    tag: str = ""
    resource: str = ""
    server: str = ""
    baudrate: int = 9600
    parity: str = "none"
    bit7: bool = False
    frame_ms: int | None = None
    devices: list[DevicePlan] = field(default_factory=list)


@dataclass(frozen=True)
class FormatKey:
    """One key of the export format, for editors and help: ``kind`` is bool, int, number, text, choice (one of
    ``choices``: (value, label)), texts (a list of texts), script ({file: text}) or list (of devices, points)."""

    name: str
    kind: str
    doc: str
    choices: tuple[tuple[Any, str], ...] | None = None
    required: bool = False
    default: Any = None
    min: int | None = None
    max: int | None = None


BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 76800, 115200)
OBJECT_TYPE_NAMES = {"ai": "analog input", "ao": "analog output", "av": "analog value", "bi": "binary input",
                     "bo": "binary output", "bv": "binary value", "mi": "multi-state input",
                     "mo": "multi-state output", "mv": "multi-state value"}
#: the bus's keys (the freeclient_bus section's options, where set, win over the ones they share)
BUS_FORMAT = (
    FormatKey("enable", "bool", "run this bus (option 'enabled' of the section wins where set)", default=True),
    FormatKey("name", "text", "the bus's name in the original product (bacrouter names the bus after its section)"),
    FormatKey("tag", "text", "the bus tag handed to the script as ctx.tag: Lua table-constructor text "
                             "(update_interval=1000, timeout=500)"),
    FormatKey("type", "choice", "the bus's interface", ((INTERFACE_RS485, "1: RS485"), (INTERFACE_TCP, "2: TCP")),
              default=INTERFACE_RS485),
    FormatKey("server", "text", "host:port of a TCP bus"),
    FormatKey("parity", "choice", "serial parity", (("none", "none"), ("even", "even"), ("odd", "odd")),
              default="none"),
    FormatKey("baudrate", "choice", "serial baud rate", tuple((b, str(b)) for b in BAUDRATES), default=9600),
    FormatKey("bit7", "bool", "7 data bits instead of 8", default=False),
    FormatKey("frame_ms", "int", "silence (ms) that ends an answer (default: 3.5 characters)", min=1, max=60000),
    FormatKey("resource", "text", "USB (RS485) resource of an RS485 bus"),
    FormatKey("script", "script", "the Lua script as {file name: text}, unless option 'script' of the section "
                                  "names a file"),
    FormatKey("fcdevices", "list", "the bus's devices"),
)
DEVICE_FORMAT = (
    FormatKey("enable", "bool", "poll this device and make its objects", default=True),
    FormatKey("name", "text", "the device's name: objects are named bus|device|point", required=True),
    FormatKey("description", "text", "the device's description"),
    FormatKey("instance", "int", "device instance of its virtual device (virtual-device mode, with a vbus port)",
              min=0, max=4194302),
    FormatKey("tag", "text", "the device tag handed to the script as ctx.devices[i].tag: Lua table-constructor "
                             "text (unit=1)"),
    FormatKey("fcpoints", "list", "the device's points"),
)
POINT_FORMAT = (
    FormatKey("name", "text", "the point's name, the last part of its object's name", required=True),
    FormatKey("description", "text", "the object's description"),
    FormatKey("instance", "int", "object instance (single-device mode: within the device's block of 1000)",
              min=0, max=4194302),
    FormatKey("enable", "bool", "make this point's object", default=True),
    FormatKey("object_type", "choice", "the BACnet object; outputs are commandable",
              tuple(OBJECT_TYPE_NAMES.items()), required=True),
    FormatKey("value_type", "choice", "read-only points are not writable from BACnet whatever their type (the "
                                      "script sees read_only true)", ((0, "0: read-write"), (1, "1: read-only")),
              default=0),
    FormatKey("polarity", "bool", "binary: reversed polarity", default=False),
    FormatKey("state_texts", "texts", "binary: inactive and active text; multi-state: one text per state (or the "
                                      "name of a set in the user library)"),
    FormatKey("unit", "text", "analog: the BACnet engineering unit (name like degrees-celsius, or its number)"),
    FormatKey("cov_increment", "number", "analog: the change that sends a COV notification"),
    FormatKey("tag", "text", "the point tag handed to the script as ctx.devices[i].points[j].tag: Lua "
                             "table-constructor text (reg=10, scale=0.1)"),
)
BUS_KEYS = tuple(k.name for k in BUS_FORMAT)
DEVICE_KEYS = tuple(k.name for k in DEVICE_FORMAT)
POINT_KEYS = tuple(k.name for k in POINT_FORMAT)


def key_warnings(data: Any) -> list[str]:
    """Keys of a bus file (the bus's, each device's, each point's) that the export format does not have."""
    warnings = unknown_keys(data, BUS_KEYS, "")
    devices = data.get("fcdevices") if isinstance(data, dict) else None
    for d, device in enumerate(devices if isinstance(devices, list) else []):
        where = f"fcdevices[{d}]" + (f" '{device.get('name')}'" if isinstance(device, dict) and device.get("name") else "")
        warnings += unknown_keys(device, DEVICE_KEYS, where)
        points = device.get("fcpoints") if isinstance(device, dict) else None
        for p, point in enumerate(points if isinstance(points, list) else []):
            name = point.get("name") if isinstance(point, dict) else None
            warnings += unknown_keys(point, POINT_KEYS, f"{where}.fcpoints[{p}]" + (f" '{name}'" if name else ""))
    return warnings


def definition_path(bus: FreeClientBus, data_dir: Path) -> Path:
    path = Path(bus.definition) if bus.definition else Path("freeclient") / f"{bus.name}.json"
    return path if path.is_absolute() else data_dir / path


def _int(value: Any, default: int | None, where: str, problems: list[str]) -> int | None:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        problems.append(f"{where}: {value!r} is not a whole number")
        return default
    return number


def _points(raw_points: Any, where: str, problems: list[str], sets: TextSets | None = None) -> list[PointDef]:
    points: list[PointDef] = []
    if not isinstance(raw_points, list):
        problems.append(f"{where} key 'fcpoints': expected a list")
        return points
    for index, raw in enumerate(raw_points, 1):
        header = point_header(raw, f"{where} point {index}", problems)
        if header is None:
            continue
        here, name, object_type = header
        object_type = object_type or "av"  # reported; the rest of the point is still checked
        texts = state_texts(raw, here, problems, sets)
        point = PointDef(index, name, object_type, instance=_int(raw.get("instance"), 0, here, problems) or 0,
                         enabled=flag(raw.get("enable", True)), description=str(raw.get("description") or ""),
                         tag=str(raw.get("tag") or ""), polarity=flag(raw.get("polarity", False)),
                         state_texts=[str(t) for t in texts], unit=raw.get("unit"))
        value_type = _int(raw.get("value_type"), 0, f"{here} key 'value_type'", problems)
        if value_type not in (0, 1):
            problems.append(f"{here} key 'value_type': {value_type} is not 0 (read-write) or 1 (read-only)")
        point.read_only = value_type == 1
        increment = raw.get("cov_increment")
        if increment not in (None, ""):
            try:
                point.cov_increment = float(increment)
            except (TypeError, ValueError):
                problems.append(f"{here} key 'cov_increment': {increment!r} is not a number")
        if point.kind == "multistate" and not point.state_texts:
            problems.append(f"{here} key 'state_texts': a multistate object needs its state texts")
        if point.kind == "binary" and point.state_texts and len(point.state_texts) != 2:
            problems.append(f"{here} key 'state_texts': a binary object has 2 state texts, "
                            f"not {len(point.state_texts)}")
        points.append(point)
    return points


def parse_definition(data: Any, bus: FreeClientBus, data_dir: Path,
                     sets: TextSets | None = None) -> tuple[BusDefinition | None, list[str]]:
    """The bus a definition file and the section describe together; problems as 'where: what' texts.
    ``sets`` resolves state texts given by the name of a user library set."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return None, ["expected a JSON object (the bus export format)"]
    script_name, script = _script(data, bus, data_dir, problems)
    kind = _int(data.get("type"), None, "key 'type'", problems)
    server = bus.server or str(data.get("server") or "")
    resource = bus.resource or str(data.get("resource") or "")
    interface = INTERFACE_TCP if (bus.server or (kind == INTERFACE_TCP and not bus.resource)) else INTERFACE_RS485
    parity = bus.parity or PARITIES.get(str(data.get("parity", "none")).strip().lower())
    if parity is None:
        problems.append(f"key 'parity': {data.get('parity')!r} is not none, even or odd")
        parity = "none"
    definition = BusDefinition(
        name=bus.name, interface=interface, script_name=script_name, script=script,
        tag=bus.tag if bus.tag is not None else str(data.get("tag") or ""),
        resource=resource, server=server,
        baudrate=bus.baudrate or _int(data.get("baudrate"), 9600, "key 'baudrate'", problems) or 9600,
        parity=parity, bit7=bus.bit7 if bus.bit7 is not None else flag(data.get("bit7", False)),
        frame_ms=bus.frame_ms or _int(data.get("frame_ms"), None, "key 'frame_ms'", problems) or None,
    )
    if interface == INTERFACE_TCP and not server:
        problems.append("a TCP bus needs a server (host:port): option 'server' or key 'server'")
    if interface == INTERFACE_RS485 and not resource:
        problems.append("an RS485 bus needs a resource: option 'resource' or key 'resource'")
    devices = data.get("fcdevices") or []
    if not isinstance(devices, list):
        problems.append("key 'fcdevices': expected a list")
        devices = []
    for index, raw in enumerate(devices, 1):
        where = f"device {index}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected an object")
            continue
        name = str(raw.get("name") or "").strip()
        where += f" '{name}'" if name else ""
        if not name:
            problems.append(f"{where}: no name")
        device = DevicePlan(index, name, instance=_int(raw.get("instance"), None, f"{where} key 'instance'", problems),
                            enabled=flag(raw.get("enable", True)), description=str(raw.get("description") or ""),
                            tag=str(raw.get("tag") or ""))
        device.points = _points(raw.get("fcpoints", []), where, problems, sets)
        names = [p.name for p in device.points]
        for duplicate in sorted({n for n in names if names.count(n) > 1 and n}):
            problems.append(f"{where}: point name '{duplicate}' is used twice")
        definition.devices.append(device)
    return definition, problems


def _script(data: dict[str, Any], bus: FreeClientBus, data_dir: Path, problems: list[str]) -> tuple[str, bytes]:
    if bus.script:
        candidates = [Path(bus.script)] if Path(bus.script).is_absolute() else \
            [data_dir / bus.script, data_dir / "freeclient" / bus.script, SHIPPED_SCRIPTS / bus.script]
        for path in candidates:
            if path.is_file():
                return path.name, path.read_bytes()
        problems.append(f"script '{bus.script}' not found (looked in {', '.join(str(p.parent) for p in candidates)})")
        return bus.script, b""
    scripts = data.get("script") or {}
    if isinstance(scripts, dict) and scripts:
        name, text = next(iter(scripts.items()))
        return str(name), str(text).encode()
    problems.append("no script: option 'script' or key 'script' ({filename: text})")
    return "", b""


def load_buses(config: Config, data_dir: Path) -> list[Problem]:
    """Read every bus's definition into ``bus.bus``; problems are located in the file."""
    problems: list[Problem] = []
    library = load_library(data_dir)
    for bus in config.sections_of(FreeClientBus):
        path = definition_path(bus, data_dir)
        bus.definition_file = str(path)
        loaded = bus.read_json(path, "definition", "bus definition", problems)
        if loaded is None:
            continue
        data, raw = loaded
        problems += [Problem(w, str(path), 0, bus.label, severity="warning") for w in key_warnings(data)]
        if isinstance(data, dict) and "enable" in data and not flag(data["enable"]) and bus.enabled \
                and (bus.source is None or "enabled" not in bus.source.options):
            bus.enabled = False  # the file's "enable": false, where the section does not say otherwise
            problems.append(bus.problem(f"disabled by key 'enable' in {path} (option 'enabled' overrides it)",
                                        severity="warning"))
        definition, messages = parse_definition(data, bus, data_dir, library.state_texts)
        signed = raw + library.signature(data) + (definition.script if definition else b"")
        bus.definition_signature = hashlib.sha1(signed).hexdigest()
        bus.bus = definition
        problems += [Problem(m, str(path), 0, bus.label) for m in messages]
    return problems
