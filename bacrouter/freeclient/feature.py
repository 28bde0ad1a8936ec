"""The Free Client as a feature of the daemon: its registry entry.

Only the schema is imported with this module; the bus definitions, checks and
the runtime (with bacpypes3 and lupa) load when a configuration has buses.
"""

from __future__ import annotations

from pathlib import Path

from ..config.model import Config, Problem
from ..feature import Feature, FeatureKind, MethodSpec
from ..net.host import DeviceHost
from .schema import FreeClientBus

__all__ = ["KIND"]


def _configured(config: Config) -> bool:
    return bool(config.sections_of(FreeClientBus))


def _load(config: Config, data_dir: Path) -> list[Problem]:
    from .definition import load_buses

    return load_buses(config, data_dir)


def _check(config: Config) -> list[Problem]:
    from .configcheck import check_freeclient

    return check_freeclient(config)


def _build(config: Config, host: DeviceHost) -> Feature:
    from .gateway import FreeClientGateway

    return FreeClientGateway(config, host)


def _methods() -> list[MethodSpec]:
    return [MethodSpec("freeclient", lambda gateway, params: gateway.snapshot() if gateway is not None else [],
                       "Free Client buses: state, script, counters")]


KIND = FeatureKind(name="freeclient", sections=lambda: [FreeClientBus], configured=_configured,
                   load=_load, check=_check, build=_build, methods=_methods)
