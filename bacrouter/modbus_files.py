"""Modbus slave files and master files: export, and import with the original's collision rules.

The **slave file** is the original's device-config JSON (:mod:`bacrouter.modbus.devicefile`):
the slave's keys and its ``points``. The **master file** is a master with
its slaves::

    {"format": "bacrouter-modbus-master", "version": 1,
     "name": "line1", "enable": true, "protocol": "rtu", "resource": "RS485-1",
     "host": "", "port": 502, "request_gap_ms": 0,
     "slaves": [ <a slave file>, ... ]}

An import never refuses a file for a collision. Every enabled slave it adds
is checked under the current mapping mode (:mod:`bacrouter.modbus.collisions`); one that
collides is added **disabled**, and the report says why. A serial master
whose RS485 resource is already used (or not in resource.conf) is added
disabled. A slave file from a TCP master imports into an RTU/ASCII master
and the other way round: the settings that do not apply are left at their
defaults, and the report lists them. What is refused is a file that is not
one, or a result ``check`` would reject for another reason: then nothing is
written at all.

The functions here write nothing: they return an :class:`ImportReport`
whose ``changes`` :func:`apply` commits as one change
(:func:`bacrouter.config.transaction.commit`). A web page shows the report
(``as_dict``) before and after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import has_errors, transaction, uci
from .config.files import FileProblem, parse_json
from .config.model import Config
from .modbus.collisions import find_collisions
from .modbus.configcheck import points_path
from .modbus.devicefile import ImportError_, dumps, export_device, section_name, slave_options
from .modbus.schema import ModbusMaster, ModbusSlave
from .paths import Paths
from .preview import preview

__all__ = ["ImportReport", "import_slave", "import_master", "export_slave", "export_master", "apply", "free_name",
           "read_file_data", "MASTER_FORMAT", "MASTER_VERSION", "SERIAL_OPTIONS"]

MASTER_FORMAT = "bacrouter-modbus-master"
MASTER_VERSION = 1
#: slave options that only mean something on a serial line
SERIAL_OPTIONS = ("baudrate", "parity", "stop_bits", "ascii")
#: master keys of the master file (file key → UCI option)
MASTER_KEYS = {"enable": "enabled", "protocol": "protocol", "resource": "resource", "host": "host", "port": "port",
               "request_gap_ms": "request_gap_ms"}


@dataclass
class ImportReport:
    """What an import adds, disables, defaults, and the files it changes. ``errors``: nothing is imported."""

    added: list[dict[str, Any]] = field(default_factory=list)  # {"type", "name", "enabled", "points"?}
    disabled: list[dict[str, Any]] = field(default_factory=list)  # {"type", "name", "rule", "reason"}
    defaulted: list[dict[str, Any]] = field(default_factory=list)  # {"type", "name", "option", "value", "reason"}
    renamed: list[dict[str, Any]] = field(default_factory=list)  # {"type", "from", "to"}
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changes: dict[Path, bytes | None] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "added": self.added, "disabled": self.disabled, "defaulted": self.defaulted,
                "renamed": self.renamed, "warnings": self.warnings, "errors": self.errors,
                "files": sorted(str(p) for p in self.changes)}

    def lines(self) -> list[str]:
        """The report for a person, one line each."""
        out = []
        for entry in self.renamed:
            out.append(f"{entry['type']} '{entry['from']}' renamed '{entry['to']}': the name is taken")
        for entry in self.added:
            state = "" if entry["enabled"] else " DISABLED"
            points = f" with {entry['points']} point(s)" if "points" in entry else ""
            out.append(f"imported {entry['type']} '{entry['name']}'{points}{state}")
        for entry in self.disabled:
            out.append(f"  {entry['type']} '{entry['name']}' disabled: {entry['reason']}")
        for entry in self.defaulted:
            out.append(f"  {entry['type']} '{entry['name']}' option '{entry['option']}' "
                       f"{'left at ' + repr(entry['value']) if entry['value'] is not None else 'dropped'}: "
                       f"{entry['reason']}")
        out += [f"warning: {w}" for w in self.warnings]
        return out


def read_file_data(raw: bytes, source: str) -> Any:
    """JSON of an imported file, as the original's tools write it (a byte-order mark is fine)."""
    try:
        return parse_json(raw)
    except FileProblem as err:
        where = f"{source}:{err.line}" + (f":{err.column}" if err.column else "") if err.line else source
        raise ImportError_(f"{where}: {err.message}") from None


def apply(paths: Paths, report: ImportReport) -> None:
    """Write what ``report`` imports, as one change (``bacrouter import --undo`` style undo is kept)."""
    if not report.ok:
        raise transaction.TransactionError("the import has errors: nothing to write")
    transaction.commit(paths, report.changes)


# --------------------------------------------------------------------------- export


def _slave(config: Config, name: str) -> ModbusSlave:
    slave = config.section_of(ModbusSlave, name)
    if slave is None:
        known = ", ".join(s.name for s in config.sections_of(ModbusSlave)) or "none configured"
        raise ImportError_(f"no modbus_slave '{name}' (known: {known})")
    return slave


def export_slave(config: Config, name: str) -> dict[str, Any]:
    """The original's device file of slave ``name`` (its points file with the UCI options written back)."""
    slave = _slave(config, name)
    try:
        with open(slave.points_file, "rb") as handle:
            template = parse_json(handle.read())
    except FileNotFoundError:
        template = {"points": []}
    except (OSError, FileProblem) as err:
        raise ImportError_(f"{slave.points_file}: {getattr(err, 'strerror', None) or getattr(err, 'message', err)}") \
            from None
    if not isinstance(template, dict):
        template = {"points": template}
    out = export_device(slave, template)
    master = config.section_of(ModbusMaster, slave.master or "")
    if master is not None and master.serial:  # the line settings always travel with a serial slave
        points = out.pop("points")
        out.setdefault("baudrate", slave.baudrate)
        out.setdefault("parity", slave.parity)
        out["points"] = points
    return out


def export_master(config: Config, name: str) -> dict[str, Any]:
    """The master file of master ``name``: its options and every slave on it, each a device file."""
    master = config.section_of(ModbusMaster, name)
    if master is None:
        known = ", ".join(m.name for m in config.sections_of(ModbusMaster)) or "none configured"
        raise ImportError_(f"no modbus_master '{name}' (known: {known})")
    out: dict[str, Any] = {"format": MASTER_FORMAT, "version": MASTER_VERSION, "name": master.name}
    for key, option in MASTER_KEYS.items():
        if key in (("host", "port") if master.serial else ("resource",)):
            continue  # does not apply to this kind of master
        out[key] = getattr(master, option)
    out["slaves"] = [export_slave(config, s.name) for s in config.sections_of(ModbusSlave) if s.master == master.name]
    return out


# --------------------------------------------------------------------------- import


def _current(paths: Paths) -> tuple[uci.UciPackage, Config]:
    from .loader import load_config

    try:
        package = uci.load(paths.uci_file)
    except (OSError, uci.UciError) as err:
        raise ImportError_(f"{paths.uci_file}: {err}") from None
    config, problems = load_config(paths)
    if config is None:
        raise ImportError_("; ".join(str(p) for p in problems) or f"cannot read {paths.uci_file}")
    return package, config


def free_name(package: uci.UciPackage, wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted_2``, ``wanted_3``... the first name no section of ``package`` (nor ``taken``) has."""
    name, number = wanted, 1
    while package.section(name) is not None or name in taken:
        number += 1
        name = f"{wanted}_{number}"
    return name


@dataclass
class _NewSlave:
    name: str
    options: dict[str, str]
    raw: bytes
    target: Path


def _adapt_to_master(report: ImportReport, slave: _NewSlave, data: dict[str, Any], serial: bool) -> None:
    """A slave file from a TCP master on a serial line, or the other way round: the settings that do not apply."""
    if not serial:
        for option in SERIAL_OPTIONS:
            if option in slave.options:
                report.defaulted.append({"type": "modbus_slave", "name": slave.name, "option": option, "value": None,
                                         "reason": "a TCP master has no serial settings"})
                del slave.options[option]
        return
    missing = [key for key in ("baudrate", "parity") if key not in data]
    defaults = ModbusSlave(master="")
    for option in missing:
        report.defaulted.append({"type": "modbus_slave", "name": slave.name, "option": option,
                                 "value": getattr(defaults, option),
                                 "reason": "the file has no serial settings (from a TCP master?): check them"})


def _stage_slaves(paths: Paths, package: uci.UciPackage, report: ImportReport, master: str, serial: bool,
                  entries: list[tuple[str, dict[str, Any], bytes]]) -> list[_NewSlave]:
    """Sections and points files for ``entries`` (wanted name, device object, file bytes), into ``package``."""
    new: list[_NewSlave] = []
    taken: set[str] = set()
    for wanted, data, raw in entries:
        try:
            options = slave_options(data, master)
        except ImportError_ as err:
            report.errors.append(f"slave '{wanted}': {err}")
            continue
        name = free_name(package, wanted, taken)
        if name != wanted:
            report.renamed.append({"type": "modbus_slave", "from": wanted, "to": name})
        taken.add(name)
        target = points_path(ModbusSlave(master=master, name=name), paths.data_dir)
        if target.exists() and target.read_bytes() != raw:
            report.errors.append(f"{target} exists already and is not this slave's file: choose another name")
            continue
        slave = _NewSlave(name, options, raw, target)
        _adapt_to_master(report, slave, data, serial)
        new.append(slave)
    for slave in new:
        section = package.add("modbus_slave", slave.name)
        section.options.update(slave.options)
        report.changes[slave.target] = slave.raw
    return new


def _decide(paths: Paths, package: uci.UciPackage, report: ImportReport, new: list[_NewSlave],
            new_master: str | None = None) -> None:
    """Disable every new slave that collides, then check the result; errors in what is imported refuse it."""
    report.changes[paths.uci_file] = uci.dumps(package).encode()
    config, problems = preview(paths, report.changes)
    names = {s.name for s in new}
    if config is not None:
        reasons: dict[str, list] = {}
        for collision in find_collisions(config):
            if collision.kind == "modbus_slave" and collision.name in names:
                reasons.setdefault(collision.name, []).append(collision)
        for name, found in reasons.items():
            package.section(name).options["enabled"] = "0"
            for collision in found:
                report.disabled.append({"type": "modbus_slave", "name": name, "rule": collision.rule,
                                        "reason": collision.message})
        if reasons:
            report.changes[paths.uci_file] = uci.dumps(package).encode()
            config, problems = preview(paths, report.changes)
    files = {str(s.target) for s in new}
    labels = {f"modbus_slave '{n}'" for n in names} | ({f"modbus_master '{new_master}'"} if new_master else set())
    mine = [p for p in problems if p.section in labels or p.file in files]
    if config is None or has_errors(mine):
        report.errors += [str(p) for p in mine if p.severity == "error"] or [str(p) for p in problems]
    report.warnings += [str(p) for p in mine if p.severity == "warning"]
    if config is not None:
        for slave in new:
            section = config.section_of(ModbusSlave, slave.name)
            report.added.append({"type": "modbus_slave", "name": slave.name,
                                 "enabled": bool(section and section.enabled),
                                 "points": len(section.point_list) if section else 0})
    if report.errors:
        report.changes = {}


def import_slave(paths: Paths, raw: bytes, master: str, name: str | None = None, source: str = "-") -> ImportReport:
    """Add a slave from an original device file to ``master`` (see the module's description)."""
    report = ImportReport()
    try:
        data = read_file_data(raw, source)
        if not isinstance(data, dict):
            raise ImportError_("not a device file: expected an object with a list of 'points'")
        wanted = section_name(name or str(data.get("name") or "") or Path(source).stem)
        package, config = _current(paths)
    except ImportError_ as err:
        report.errors.append(str(err))
        return report
    owner = config.section_of(ModbusMaster, master)
    if owner is None:
        known = ", ".join(m.name for m in config.sections_of(ModbusMaster)) or "none configured"
        report.errors.append(f"no modbus_master '{master}' (known: {known})")
        return report
    if name and package.section(wanted) is not None:
        report.errors.append(f"a section '{wanted}' exists already: choose another with --name")
        return report
    new = _stage_slaves(paths, package, report, master, owner.serial, [(wanted, data, raw)])
    if report.errors:
        report.changes = {}
        return report
    _decide(paths, package, report, new)
    return report


def import_master(paths: Paths, raw: bytes, name: str | None = None, source: str = "-",
                  overrides: dict[str, str] | None = None) -> ImportReport:
    """Add a master with its slaves from a master file; ``overrides`` set master options (resource, host...)."""
    report = ImportReport()
    try:
        data = read_file_data(raw, source)
        if not isinstance(data, dict) or data.get("format") != MASTER_FORMAT:
            raise ImportError_(f"not a Modbus master file (expected \"format\": \"{MASTER_FORMAT}\")")
        version = data.get("version", MASTER_VERSION)
        if not isinstance(version, int) or version > MASTER_VERSION:
            raise ImportError_(f"format version {version!r} is newer than this bacrouter reads ({MASTER_VERSION}): "
                               f"upgrade bacrouter")
        slaves = data.get("slaves", [])
        if not isinstance(slaves, list) or not all(isinstance(s, dict) for s in slaves):
            raise ImportError_("key 'slaves': expected a list of device objects")
        wanted = section_name(name or str(data.get("name") or "") or Path(source).stem)
        package, config = _current(paths)
    except ImportError_ as err:
        report.errors.append(str(err))
        return report
    master_name = free_name(package, wanted, set())
    if master_name != wanted:
        if name:
            report.errors.append(f"a section '{wanted}' exists already: choose another with --name")
            return report
        report.renamed.append({"type": "modbus_master", "from": wanted, "to": master_name})
    options: dict[str, str] = {}
    for key, option in MASTER_KEYS.items():
        value = data.get(key)
        if value in (None, ""):
            continue
        options[option] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    options.update(overrides or {})
    probe = ModbusMaster(name=master_name, protocol=options.get("protocol", "rtu"))
    serial = probe.serial
    enabled = options.get("enabled", "1") not in ("0", "false", "no", "off")
    if serial:
        for option in ("host", "port"):
            if option in options:
                report.defaulted.append({"type": "modbus_master", "name": master_name, "option": option,
                                         "value": None, "reason": f"a {probe.protocol} master is on an RS485 line"})
                del options[option]
    elif "resource" in options:
        report.defaulted.append({"type": "modbus_master", "name": master_name, "option": "resource", "value": None,
                                 "reason": f"a {probe.protocol} master talks to a TCP server"})
        del options["resource"]
    if serial and enabled:
        reason = _resource_taken(config, options.get("resource", ""))
        if reason:
            options["enabled"] = "0"
            enabled = False
            report.disabled.append({"type": "modbus_master", "name": master_name, "rule": "resource",
                                    "reason": reason})
    section = package.add("modbus_master", master_name)
    section.options.update(options)
    entries = []
    for index, entry in enumerate(slaves, 1):
        try:
            entries.append((section_name(str(entry.get("name") or f"{master_name}_slave{index}")), entry,
                            dumps(entry).encode()))
        except ImportError_ as err:
            report.errors.append(f"slave {index}: {err}")
    new = _stage_slaves(paths, package, report, master_name, serial, entries)
    if report.errors:
        report.changes = {}
        return report
    report.added.append({"type": "modbus_master", "name": master_name, "enabled": enabled})
    _decide(paths, package, report, new, master_name)
    return report


def _resource_taken(config: Config, resource: str) -> str:
    """Why a serial master cannot have ``resource`` (empty: it can)."""
    if not resource:
        return "an RTU/ASCII master needs an RS485 resource (option 'resource')"
    if config.resources_loaded and resource not in config.resources:
        known = ", ".join(sorted(config.resources)) or "none defined"
        return f"resource '{resource}' is not in resource.conf (it has: {known})"
    wanted = config.resources.get(resource)
    for user in config.claimed_resources():
        other = config.resources.get(user.claimed_resource)
        if user.claimed_resource == resource or (wanted and other and other.ifname == wanted.ifname):
            return f"resource '{resource}' is already used by {user.label}"
    return ""

