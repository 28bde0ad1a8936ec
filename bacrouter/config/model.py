"""The typed model of /etc/config/bacrouter.

Each section type is a dataclass whose fields declare their UCI option: the
same declaration converts the text, checks ranges and choices, supplies
defaults and documents the option, so the schema cannot drift from the model.
Conversion problems are collected with their location instead of raised, so
``bacrouter check`` reports every one of them at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .files import FileProblem, parse_json, read_file
from .resources import Resource, ResourceType
from .uci import UciPackage, UciSection

__all__ = [
    "Problem",
    "AppSettings",
    "PanelSettings",
    "Port",
    "BipPort",
    "MstpPort",
    "EthernetPort",
    "VbusPort",
    "Config",
    "build_config",
    "CORE_TYPES",
    "opt",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, and where it is."""

    message: str
    file: str = ""
    line: int = 0
    section: str = ""  # e.g. "bip 'bip0'"
    option: str = ""
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line:
            where += f":{self.line}"
        parts = [where]
        if self.section:
            parts.append(f"{self.section}" + (f" option '{self.option}'" if self.option else ""))
        prefix = ": ".join(parts)
        tag = "warning: " if self.severity == "warning" else ""
        return f"{prefix}: {tag}{self.message}"


def opt(default: Any = None, *, doc: str, min: int | None = None, max: int | None = None,
        choices: Iterable[Any] | None = None, required: bool = False, option: str | None = None) -> Any:
    """Declare a field that comes from a UCI option."""
    meta = {"doc": doc, "min": min, "max": max, "required": required, "option": option,
            "choices": tuple(choices) if choices is not None else None}
    if isinstance(default, list):
        return field(default_factory=list, metadata=meta)
    return field(default=default, metadata=meta)


_TRUE = {"1", "yes", "on", "true", "enabled"}
_FALSE = {"0", "no", "off", "false", "disabled"}


@dataclass
class Section:
    """Fields shared by every section model: where it came from."""

    uci_type: ClassVar[str] = ""

    name: str = field(default="", metadata={"option": None})
    source: UciSection | None = field(default=None, compare=False, repr=False, metadata={"option": None})
    file: str = field(default="", compare=False, repr=False, metadata={"option": None})

    #: the resource.conf types a section of this type may use
    resource_types: ClassVar[tuple[ResourceType, ...]] = ()
    #: sections of this type take turns on one serial line (a transaction at a time)
    shares_line: ClassVar[bool] = False
    #: options that only matter when another option has one of some values: option -> (other, values);
    #: an editor hides them otherwise (the loader warns when one is set in vain)
    used_when: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}

    @property
    def label(self) -> str:
        return f"{self.uci_type} '{self.name}'"

    @property
    def claimed_resource(self) -> str | None:
        """The resource this section uses while enabled, if any."""
        if not getattr(self, "enabled", True):
            return None
        return getattr(self, "resource", None) or None

    def problem(self, message: str, option: str = "", severity: str = "error") -> Problem:
        line = 0
        if self.source is not None:
            line = self.source.option_lines.get(option, self.source.line) if option else self.source.line
        return Problem(message, self.file, line, self.label, option, severity)

    def read_json(self, path: Path, option: str, what: str, problems: list[Problem]) -> tuple[Any, bytes] | None:
        """The JSON file this section refers to (by ``option``), and its bytes; None after a located problem."""
        try:
            raw = read_file(path)
        except FileNotFoundError:
            problems.append(self.problem(f"{what} {path} not found", option if getattr(self, option, "") else ""))
            return None
        except FileProblem as err:
            problems.append(self.problem(f"{what} {path} {err.message}", option))
            return None
        try:
            return parse_json(raw), raw
        except FileProblem as err:
            message = f"{err.message} (column {err.column})" if err.column else err.message
            problems.append(Problem(message, str(path), err.line, self.label))
        return None

    @classmethod
    def options(cls) -> list[dataclasses.Field[Any]]:
        return [f for f in dataclasses.fields(cls) if "doc" in f.metadata]

    @classmethod
    def from_section(cls, section: UciSection, file: str, problems: list[Problem]) -> Section:
        values: dict[str, Any] = {"name": section.name, "source": section, "file": file}
        known = set()
        shell = cls(name=section.name, source=section, file=file)
        for f in cls.options():
            option = f.metadata["option"] or f.name
            known.add(option)
            raw = section.options.get(option)
            if raw is None:
                if f.metadata["required"]:
                    problems.append(shell.problem(f"missing required option '{option}' ({f.metadata['doc']})"))
                continue
            try:
                values[f.name] = _convert(f, raw)
            except ValueError as err:
                problems.append(shell.problem(str(err), option))
        for option in section.options:
            if option not in known:
                problems.append(shell.problem(f"unknown option '{option}' for a {cls.uci_type} section", option, "warning"))
        return cls(**values)


def _convert(f: dataclasses.Field[Any], raw: str | list[str]) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    meta = f.metadata
    if kind.startswith("list"):
        items = raw if isinstance(raw, list) else [raw]
        return [item.strip() for item in items if item.strip()]
    if isinstance(raw, list):
        raise ValueError("expected a single value, found a list")
    text = raw.strip()
    value: Any
    if kind == "bool":
        lowered = text.lower()
        if lowered in _TRUE:
            value = True
        elif lowered in _FALSE:
            value = False
        else:
            raise ValueError(f"{raw!r} is not a boolean (use 1 or 0)")
    elif kind == "int":
        try:
            value = int(text, 10)
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number") from None
        low, high = meta["min"], meta["max"]
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{value} is out of range {low}..{high}")
    else:
        value = raw
        if meta["max"] is not None and len(value.encode()) > meta["max"]:
            raise ValueError(f"longer than {meta['max']} bytes")
        if meta["min"] is not None and len(value) < meta["min"]:
            raise ValueError("must not be empty" if meta["min"] == 1 else f"shorter than {meta['min']} characters")
    choices = meta["choices"]
    if choices is not None and value not in choices:
        raise ValueError(f"{raw!r} is not one of {', '.join(str(c) for c in choices)}")
    return value


# --------------------------------------------------------------------------- sections


@dataclass
class AppSettings(Section):
    """``config bacrouter 'main'``: the router's own BACnet device and the daemon."""

    uci_type: ClassVar[str] = "bacrouter"

    device_instance: int = opt(4000, min=0, max=4194302, doc="device object instance of the router")
    device_name: str = opt("BACRouter", min=1, max=64, doc="device object name, unique in the internetwork")
    description: str = opt("", max=255, doc="device description")
    location: str = opt("", max=255, doc="device location")
    delimiter: str = opt("|", min=1, max=1, doc="separator in gateway object names (master|slave|object)")
    log_level: str = opt("info", choices=("debug", "info", "warning", "error"), doc="daemon log level")
    max_routes: int = opt(2000, min=16, max=65534,
                          doc="routes to remote networks the router learns at most (more are refused until "
                              "unused ones age out after an hour); bounds what a flood of announcements can take")
    ubus_socket: str = opt("", doc="ubus socket the daemon serves its 'bacrouter' object and events on, when "
                                   "python3-ubus is installed (default: libubus's, /var/run/ubus/ubus.sock)")
    respawn_threshold: int = opt(None, min=1, doc="procd respawn: seconds a run must last to count as good "
                                                  "(default: the system's, system.@service[0], 3600)")
    respawn_timeout: int = opt(None, min=0, doc="procd respawn: seconds to wait before a restart "
                                                "(default: the system's, 5)")
    respawn_retry: int = opt(None, min=0, doc="procd respawn: crashes within the threshold before procd gives up, "
                                              "0 never (default: the system's, 5)")


@dataclass
class PanelSettings(Section):
    """``config panel 'panel'``: the web panel (served by a separate process)."""

    uci_type: ClassVar[str] = "panel"

    enabled: bool = opt(True, doc="serve the web panel")
    listen: str = opt("0.0.0.0", min=1, doc="address the panel listens on")
    port: int = opt(8000, min=1, max=65535, doc="TCP port of the panel")
    username: str = opt("admin", min=1, max=64, doc="panel login name")
    password_hash: str = opt("", doc="hash of the panel password (set by the first-boot script)")
    hostnames: list[str] = opt([], doc="other names the panel is reached by (besides IP addresses, localhost and "
                                       "the router's host name): its first-password and login pages refuse any "
                                       "other name (DNS rebinding)")


@dataclass
class Port(Section):
    """Fields every router port has."""

    kind: ClassVar[str] = ""
    #: largest NPDU the port's data link carries
    max_npdu: ClassVar[int] = 1497

    enabled: bool = opt(True, doc="run this port")
    network: int = opt(None, min=1, max=65534, required=True, doc="BACnet network number of the port")



@dataclass
class BipPort(Port):
    """``config bip``: a BACnet/IP port on one interface address and UDP port."""

    uci_type: ClassVar[str] = "bip"
    kind: ClassVar[str] = "bip"
    resource_types: ClassVar[tuple[ResourceType, ...]] = (ResourceType.ETH, ResourceType.PPP)

    resource: str = opt(None, required=True, doc="ETH or PPP resource from resource.conf")
    ip: str = opt("", doc="which IPv4 address of the interface to use (default: its first)")
    udp_port: int = opt(47808, min=1, max=65535, doc="UDP port")
    mode: str = opt("normal", choices=("normal", "foreign", "bbmd"), doc="normal, foreign device or BBMD")
    bbmd: str = opt("", doc="BBMD to register with as a foreign device, host[:port]")
    ttl: int = opt(300, min=1, max=65535, doc="foreign device registration time-to-live, seconds")
    bdt: list[str] = opt([], doc="broadcast distribution table entries, ip[:port][/mask]")
    fdt_size: int = opt(64, min=0, max=4096, doc="foreign device table size (0: refuse registrations)")
    write_bdt: bool = opt(False, doc="accept Write-Broadcast-Distribution-Table from the network")

    used_when: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "bbmd": ("mode", ("foreign",)), "ttl": ("mode", ("foreign",)),
        "bdt": ("mode", ("bbmd",)), "fdt_size": ("mode", ("bbmd",)), "write_bdt": ("mode", ("bbmd",)),
    }


@dataclass
class MstpPort(Port):
    """``config mstp``: an MS/TP port on an RS485 resource."""

    uci_type: ClassVar[str] = "mstp"
    kind: ClassVar[str] = "mstp"
    resource_types: ClassVar[tuple[ResourceType, ...]] = (ResourceType.USB,)
    max_npdu: ClassVar[int] = 1497  # 501 without extended frames, see effective_max_npdu

    resource: str = opt(None, required=True, doc="USB (RS485) resource from resource.conf")
    mac: int = opt(0, min=0, max=127, doc="MS/TP master MAC address")
    max_master: int = opt(127, min=1, max=127, doc="highest master MAC polled")
    max_info_frames: int = opt(10, min=1, max=255, doc="frames sent per token")
    baud: int = opt(38400, choices=(9600, 19200, 38400, 57600, 76800, 115200), doc="baud rate")
    baud_mode: str = opt("fixed", choices=("fixed", "auto", "forced"), doc="fixed, auto-detect or force the bus rate")
    extended_frames: bool = opt(True, doc="send extended (COBS) frames for NPDUs over 501 octets")

    @property
    def effective_max_npdu(self) -> int:
        return 1497 if self.extended_frames else 501


@dataclass
class EthernetPort(Port):
    """``config ethernet``: BACnet over 802.2 LLC on an Ethernet interface."""

    uci_type: ClassVar[str] = "ethernet"
    kind: ClassVar[str] = "ethernet"
    resource_types: ClassVar[tuple[ResourceType, ...]] = (ResourceType.ETH,)

    resource: str = opt(None, required=True, doc="ETH resource from resource.conf")


@dataclass
class VbusPort(Port):
    """``config vbus``: the virtual network hosting gateway devices in virtual-device mode."""

    uci_type: ClassVar[str] = "vbus"
    kind: ClassVar[str] = "vbus"


PORT_TYPES: dict[str, type[Port]] = {cls.uci_type: cls for cls in (BipPort, MstpPort, EthernetPort, VbusPort)}
#: the sections of the router itself; features add theirs (see bacrouter.registry)
CORE_TYPES: dict[str, type[Section]] = {
    AppSettings.uci_type: AppSettings,
    PanelSettings.uci_type: PanelSettings,
    **PORT_TYPES,
}

S = TypeVar("S", bound="Section")


@dataclass
class Config:
    app: AppSettings
    panel: PanelSettings
    ports: list[Port]
    resources: dict[str, Resource]
    #: the sections features own, by section type, in file order
    components: dict[str, list[Any]] = field(default_factory=dict)
    uci: UciPackage | None = field(default=None, compare=False, repr=False)
    resource_file: str = field(default="", compare=False)
    #: False when resource.conf could not be read (its error is reported on its own)
    resources_loaded: bool = field(default=True, compare=False)

    @property
    def enabled_ports(self) -> list[Port]:
        return [p for p in self.ports if p.enabled]

    def port(self, name: str) -> Port | None:
        return next((p for p in self.ports if p.name == name), None)

    @property
    def vbus(self) -> Port | None:
        """The enabled virtual network, if any: gateways then map slaves to virtual devices."""
        return next((p for p in self.enabled_ports if p.uci_type == "vbus"), None)

    def sections_of(self, cls: type[S]) -> list[S]:
        """The sections of one feature's type (``cls.uci_type``), in file order."""
        return self.components.get(cls.uci_type, [])

    def section_of(self, cls: type[S], name: str) -> S | None:
        return next((s for s in self.sections_of(cls) if s.name == name), None)

    def claimed_resources(self) -> list[Any]:
        """Every enabled port and section that uses a resource of resource.conf."""
        users: list[Any] = [p for p in self.enabled_ports if p.claimed_resource]
        users += [s for sections in self.components.values() for s in sections if s.claimed_resource]
        return users


def build_config(package: UciPackage, resources: dict[str, Resource] | None,
                 resource_file: str = "", feature_types: Mapping[str, type[Section]] | None = None,
                 ) -> tuple[Config, list[Problem]]:
    """Convert a parsed UCI package into the typed model, collecting every problem.

    ``resources`` is None when resource.conf could not be read; ``feature_types``
    are the section types the registered features own.
    """
    types = {**CORE_TYPES, **(feature_types or {})}
    problems: list[Problem] = []
    file = package.path
    singletons: dict[str, Section] = {}
    ports: list[Port] = []
    components: dict[str, list[Any]] = {t: [] for t in feature_types or {}}
    for section in package.sections:
        cls = types.get(section.type)
        if cls is None:
            problems.append(Problem(f"unknown section type '{section.type}'", file, section.line,
                                    f"{section.type} '{section.name}'", severity="warning"))
            continue
        model = cls.from_section(section, file, problems)
        if isinstance(model, Port):
            ports.append(model)
        elif section.type in components:
            components[section.type].append(model)
        elif section.type in singletons:
            first = singletons[section.type]
            problems.append(model.problem(f"only one {section.type} section is allowed (the first is at line {first.source.line if first.source else 0})"))
        else:
            singletons[section.type] = model
    app = singletons.get(AppSettings.uci_type) or AppSettings(name="main", file=file)
    panel = singletons.get(PanelSettings.uci_type) or PanelSettings(name="panel", file=file)
    config = Config(app=app, panel=panel, ports=ports,  # type: ignore[arg-type]
                    resources=resources or {}, uci=package, resource_file=resource_file,
                    resources_loaded=resources is not None, components=components)
    return config, problems
