"""The Free Client as a feature of the daemon: its registry entry.

Only the schema is imported with this module; the bus definitions, checks and
the runtime (with bacpypes3 and lupa) load when a configuration has buses.

Without lupa (python3-lupa is optional on OpenWrt) the buses cannot run: ``check``
warns for each enabled bus, and the feature that runs in its place starts none,
logs why, and answers status and ``freeclient`` with the reason.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..config.model import Config, Problem
from ..feature import Feature, FeatureKind, MethodSpec, Summary, new_summary
from ..lua import lua_missing
from ..net.host import DeviceHost
from .schema import FreeClientBus

__all__ = ["KIND", "WithoutLua"]

log = logging.getLogger("bacrouter.freeclient")


def _configured(config: Config) -> bool:
    return bool(config.sections_of(FreeClientBus))


def _load(config: Config, data_dir: Path) -> list[Problem]:
    from .definition import load_buses

    return load_buses(config, data_dir)


def _check(config: Config) -> list[Problem]:
    from .configcheck import check_freeclient

    problems = check_freeclient(config)
    if lua_missing():
        problems += [bus.problem(f"a Free Client bus runs a Lua script and {lua_missing()}: the bus does not run",
                                 severity="warning") for bus in config.sections_of(FreeClientBus) if bus.enabled]
    return problems


class WithoutLua:
    """The Free Client where lupa cannot be imported: runs no bus, and says why in the log and in status."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def _buses(self, config: Config) -> list[FreeClientBus]:
        return [bus for bus in config.sections_of(FreeClientBus) if bus.enabled]

    async def start(self) -> Summary:
        for bus in self._buses(self.config):
            log.warning("%s not started: %s", bus.label, lua_missing())
        return new_summary()

    async def apply(self, config: Config) -> Summary:
        before = {bus.name for bus in self._buses(self.config)}
        self.config = config
        for bus in self._buses(config):
            if bus.name not in before:
                log.warning("%s not started: %s", bus.label, lua_missing())
        return new_summary()

    def stop(self) -> None:
        pass

    def summary(self) -> dict[str, Any]:
        return {"buses": 0, "devices": 0, "online": 0, "not_running": len(self._buses(self.config)),
                "reason": lua_missing()}

    def snapshot(self) -> list[dict[str, Any]]:
        return [{"name": bus.name, "state": "unavailable", "reason": lua_missing()} for bus in self._buses(self.config)]


def _build(config: Config, host: DeviceHost) -> Feature:
    if lua_missing():
        return WithoutLua(config)
    from .gateway import FreeClientGateway

    return FreeClientGateway(config, host)


def _point_rows(gateway: Any, bus: str | None = None) -> list[dict[str, Any]]:
    from ..net.client import jsonable

    rows = []
    for parts_bus, runtime in gateway.buses.items():
        if bus is not None and parts_bus != bus:
            continue
        for device in gateway.devices:
            if device.bus is not runtime:
                continue
            virtual = getattr(device, "virtual", None)
            for point in device.points.values():
                obj = point.obj
                rows.append({"object": str(obj.objectIdentifier), "name": obj.objectName,
                             "value": jsonable(obj.value), "reliability": int(getattr(obj, "_reliability", 0)),
                             "device": device.plan.device_instance if virtual is not None else None,
                             "bus": parts_bus, "bus_device": device.index, "online": device.online,
                             "point": point.point.name, "source": f"device {device.index} point {point.point.index}"})
    return rows


def _objects(gateway: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Free Client object with the bus, device and point it comes from."""
    return [] if gateway is None else _point_rows(gateway)


def _test(gateway: Any, params: dict[str, Any]) -> dict[str, Any]:
    """One bus as it runs now: its state and each device online or not, with its points' values."""
    from ..control import ControlError

    name = str(params.get("bus", ""))
    if gateway is None or name not in gateway.buses:
        known = ", ".join(gateway.buses) if gateway is not None and gateway.buses else "none running"
        raise ControlError("bad_params", f"no Free Client bus '{name}' is running (running: {known})")
    status = gateway.buses[name].status()
    devices = [{"index": d.index, "online": d.online, "points": len(d.points)}
               for d in gateway.devices if d.bus is gateway.buses[name]]
    return {**status, "device_list": devices, "objects": _point_rows(gateway, name)}


def _methods() -> list[MethodSpec]:
    return [MethodSpec("freeclient", lambda gateway, params: gateway.snapshot() if gateway is not None else [],
                       "Free Client buses: state, script, counters"),
            MethodSpec("freeclient_test", _test, "one Free Client bus now: state, devices online, points: {bus}"),
            MethodSpec("freeclient_objects", _objects,
                       "the Free Client's objects with the bus, device and point each comes from")]


KIND = FeatureKind(name="freeclient", sections=lambda: [FreeClientBus], configured=_configured,
                   load=_load, check=_check, build=_build, methods=_methods)
