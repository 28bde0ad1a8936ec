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


def _object_row(obj: Any, where: dict[str, Any]) -> dict[str, Any]:
    from ..net.client import jsonable

    reliability = getattr(obj, "_reliability", 0)
    return {"object": str(obj.objectIdentifier), "name": obj.objectName, "value": jsonable(obj.value),
            "reliability": int(reliability), **where}


def _objects(gateway: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Modbus object with the point it comes from: slave, station, register kind, address, data type."""
    if gateway is None:
        return []
    rows = []
    for slave in gateway.slaves:
        device = slave.plan.device_instance if slave.device is not None else None
        for runtime in slave.points:
            point = runtime.point
            rows.append(_object_row(runtime.obj, {
                "device": device, "slave": slave.name, "station": slave.config.station, "point": point.name,
                "source": f"{point.address_type} {point.address} {point.data_type}"}))
        for name, obj in slave.status.items():
            rows.append(_object_row(obj, {"device": device, "slave": slave.name, "station": slave.config.station,
                                          "point": None, "source": f"status: {name}"}))
    return rows


def _methods() -> list[MethodSpec]:
    return [
        MethodSpec("modbus_objects", _objects, "the Modbus gateway's objects with the point each comes from"),
        MethodSpec("modbus", lambda gateway, params: gateway.snapshot() if gateway is not None else [],
                   "Modbus masters and slaves with their statistics"),
        MethodSpec("read_group", _read_group, "run a Modbus slave's read plan once and report every request: {slave}",
                   params={"slave": "string"}),
    ]


KIND = FeatureKind(name="modbus", sections=lambda: [ModbusMaster, ModbusSlave], configured=_configured,
                   load=_load, check=_check, build=_build, methods=_methods)
