"""Placing the Free Client's devices and points, and its configuration rules for ``bacrouter check``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config.model import Config, Problem
from ..lua import lua_missing
from ..modbus.mapping import map_gateway, place_points
from .definition import BusDefinition, DevicePlan, PointDef
from .schema import FreeClientBus

__all__ = ["FcDevicePlan", "plan_freeclient", "check_freeclient", "check_scripts"]

#: Modbus function codes that read what cannot be written: 2 discrete inputs, 4 input registers
READ_ONLY_FUNCTIONS = {2: "discrete input", 4: "input register"}
#: what loading a script may cost in check (its top level only defines functions; init is not run)
CHECK_INSTRUCTIONS, CHECK_SECONDS = 5_000_000, 2.0

# a point's tag (Lua table-constructor text) to the function code it names, in the shipped script's
# style (fc=4) or the original product's (func_code=4); load and pcall taken before any script runs
_TAG_FUNCTION = b"""
local load, pcall, type, tointeger = load, pcall, type, math.tointeger
return function(text)
  local chunk = load("return {" .. text .. "}", "=tag", "t", {})
  if not chunk then return nil end
  local ok, tag = pcall(chunk)
  if not ok or type(tag) ~= "table" then return nil end
  local code = tag.func_code or tag.fc
  return type(code) == "number" and tointeger(code) or nil
end
"""


@dataclass
class FcDevicePlan:
    bus: BusDefinition
    device: DevicePlan
    block: int
    points: list[tuple[PointDef, str, int, str]] = field(default_factory=list)  # (point, type, instance, name)
    prefix: str = ""
    delimiter: str = "|"
    device_instance: int | None = None
    mac: int | None = None

    @property
    def base(self) -> int:
        return self.block * 1000


def plan_freeclient(config: Config) -> tuple[list[FcDevicePlan], list[tuple[str, DevicePlan, str]]]:
    """The devices of every enabled bus, after the Modbus slaves; notes are (bus, device, message)."""
    modbus = map_gateway(config)
    virtual = modbus.virtual
    delimiter = config.app.delimiter
    taken = {s.block for s in modbus.slaves}
    block, mac = 1, len(modbus.slaves) + 1
    plans, notes = [], []
    for bus in config.sections_of(FreeClientBus):
        if not bus.enabled or bus.bus is None:
            continue
        for device in bus.bus.devices:
            if not device.enabled:
                continue
            while block in taken:
                block += 1
            taken.add(block)
            prefix = f"{bus.name}{delimiter}{device.name}"
            plan = FcDevicePlan(bus.bus, device, block, prefix=prefix, delimiter=delimiter)
            if virtual:
                plan.device_instance, plan.mac = device.instance, mac
                mac += 1
            wanted = [(p, p.object_type, p.instance, p.name) for p in device.points if p.enabled]
            plan.points, placed_notes = place_points(wanted, plan.base, virtual, prefix + delimiter)
            notes += [(bus.name, device, f"point '{point.name}': {message}") for point, message in placed_notes]
            plans.append(plan)
    return plans, notes


def check_freeclient(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    buses = {b.name: b for b in config.sections_of(FreeClientBus)}
    plans, notes = plan_freeclient(config)
    for bus_name, device, message in notes:
        bus = buses[bus_name]
        problems.append(Problem(f"device '{device.name}' {message}", bus.definition_file, 0, bus.label, severity="warning"))
    for plan in plans:
        bus = buses[plan.bus.name]
        for point, *_ in plan.points:
            if point.kind == "analog" and point.unit not in (None, ""):
                from ..modbus.objects import units_code  # bacpypes3 knows the unit names

                try:
                    units_code(point.unit)
                except ValueError:
                    problems.append(Problem(f"device '{plan.device.name}' point '{point.name}' key 'unit': "
                                            f"{point.unit!r} is not a BACnet engineering unit", bus.definition_file,
                                            0, bus.label))
    if not lua_missing():  # without lupa the buses do not run: the feature says so once
        problems += check_scripts(config)
    if config.vbus is not None:
        modbus = map_gateway(config)
        seen = {s.slave.instance: f"modbus_slave '{s.slave.name}'" for s in modbus.slaves if s.slave.instance}
        seen[config.app.device_instance] = "the router's own"
        for plan in plans:
            bus = buses[plan.bus.name]
            where = f"device '{plan.device.name}'"
            if plan.device_instance is None:
                problems.append(Problem(f"{where}: virtual-device mode (a vbus port is enabled) needs a device "
                                        f"instance (key 'instance')", bus.definition_file, 0, bus.label))
                continue
            other = seen.get(plan.device_instance)
            if other is not None:
                problems.append(Problem(f"{where}: device instance {plan.device_instance} is already {other}",
                                        bus.definition_file, 0, bus.label))
            seen[plan.device_instance] = f"{bus.label} device '{plan.device.name}'"
        if len(modbus.slaves) + len(plans) > 254:
            problems.append(Problem(f"{len(modbus.slaves) + len(plans)} virtual devices: the virtual network holds "
                                    f"at most 254", config.uci.path if config.uci else ""))
    return problems


def check_scripts(config: Config) -> list[Problem]:
    """Load every enabled bus's script in its sandbox, as the bus does (without a line, without running init):
    it must load and return ``interface_mask, init`` for the bus's interface. And no writable object may sit
    on a read-only address (a point's tag naming function 2 or 4) unless value_type 1 makes it read-only."""
    from ..lua.sandbox import Sandbox, ScriptError  # lupa only for a configuration with buses
    from .bus import BusRuntime

    problems: list[Problem] = []
    for bus in config.sections_of(FreeClientBus):
        definition = bus.bus
        if not bus.enabled or definition is None or not definition.script:
            continue  # a missing script is reported where the definition is read

        def problem(message: str, severity: str = "error", bus: FreeClientBus = bus) -> None:
            problems.append(Problem(message, bus.definition_file, 0, bus.label, severity=severity))

        sandbox = Sandbox(f"check of bus {bus.name}", instruction_limit=CHECK_INSTRUCTIONS, time_limit=CHECK_SECONDS)
        tag_function = sandbox.lua.execute(_TAG_FUNCTION)
        runtime = BusRuntime(definition, _NoSink(), open_line=lambda path: None)
        script = f"script '{definition.script_name}'"
        try:
            runtime.load(sandbox)
        except ScriptError as err:
            if err.kind in ("instructions", "stopped"):  # check's budget is smaller than the bus's
                problem(f"{script}: loading it did not finish within check's limits: {err}", "warning")
            else:
                problem(f"{script}: {err}")
        for device in definition.devices:
            if not device.enabled:
                continue
            for point in device.points:
                if not point.enabled or not point.writable or not point.tag:
                    continue
                try:
                    found = sandbox.call(tag_function, point.tag.encode())
                except ScriptError:
                    continue  # a tag the script cannot read either: the script's to say
                code = found[0] if found else None
                if code in READ_ONLY_FUNCTIONS:
                    problem(f"device '{device.name}' point '{point.name}': a writable {point.object_type} on a "
                            f"read-only address (function {code}, {READ_ONLY_FUNCTIONS[code]}): make it an input "
                            f"object ({point.object_type[0]}i) or mark it read-only (value_type 1)")
    return problems


class _NoSink:
    """What a script reports while check loads it goes nowhere."""

    def report(self, events: list[object]) -> None:
        pass

    def failed(self, reason: str) -> None:
        pass
