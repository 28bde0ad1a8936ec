"""The Modbus gateway as a feature of the daemon: its registry entry.

Only the schema is imported with this module; checks and the runtime (and
with them bacpypes3) load when a configuration has Modbus sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.model import Config, Problem
from ..feature import Feature, FeatureKind, MethodSpec
from ..net.host import DeviceHost
from .schema import ModbusMaster, ModbusSlave

__all__ = ["KIND"]


def _configured(config: Config) -> bool:
    return bool(config.sections_of(ModbusMaster) or config.sections_of(ModbusSlave))


def _load(config: Config, data_dir: Path) -> list[Problem]:
    from .configcheck import attach_points, load_conversions

    return load_conversions(data_dir) + attach_points(config, data_dir)


def _check(config: Config) -> list[Problem]:
    from .configcheck import check_modbus

    return check_modbus(config)


def _build(config: Config, host: DeviceHost) -> Feature:
    from .gateway import ModbusGateway

    return ModbusGateway(config, host)


def _running(gateway: Any) -> Any:
    from ..control import ControlError

    if gateway is None:
        raise ControlError("not_running", "no Modbus slaves are configured")
    return gateway


async def _read_group(gateway: Any, params: dict[str, Any]) -> dict[str, Any]:
    from ..control import ControlError

    try:
        return await _running(gateway).read_group(str(params.get("slave", "")))
    except KeyError as err:
        raise ControlError("bad_params", err.args[0]) from None
    except RuntimeError as err:  # the gateway was stopped or restarted meanwhile
        raise ControlError("failed", str(err)) from None


def _methods() -> list[MethodSpec]:
    return [
        MethodSpec("modbus", lambda gateway, params: gateway.snapshot() if gateway is not None else [],
                   "Modbus masters and slaves with their statistics"),
        MethodSpec("read_group", _read_group, "run a Modbus slave's read plan once and report every request: {slave}",
                   params={"slave": "string"}),
    ]


KIND = FeatureKind(name="modbus", sections=lambda: [ModbusMaster, ModbusSlave], configured=_configured,
                   load=_load, check=_check, build=_build, methods=_methods)
