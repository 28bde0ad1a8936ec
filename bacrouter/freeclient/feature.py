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


def _methods() -> list[MethodSpec]:
    return [MethodSpec("freeclient", lambda gateway, params: gateway.snapshot() if gateway is not None else [],
                       "Free Client buses: state, script, counters")]


KIND = FeatureKind(name="freeclient", sections=lambda: [FreeClientBus], configured=_configured,
                   load=_load, check=_check, build=_build, methods=_methods)
