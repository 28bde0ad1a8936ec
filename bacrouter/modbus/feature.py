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
    from ..jobs import reporter

    tell = reporter()  # as a job: each request is shown as it completes (the master's poller runs them)
    done: list[dict[str, Any]] = []

    def report(entry: dict[str, Any], count: int, total: int) -> None:
        done.append({k: v for k, v in entry.items() if k != "values"})  # the values come with the result
        tell(done=count, total=total, text=f"request {count} of {total}", requests=list(done))

    try:
        return await _running(gateway).read_group(str(params.get("slave", "")), report)
    except KeyError as err:
        raise ControlError("bad_params", err.args[0]) from None
    except RuntimeError as err:  # the gateway was stopped or restarted meanwhile
        raise ControlError("failed", str(err)) from None


#: most points one modbus_points answer holds
POINTS_PAGE = 1000


def _int(params: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    from ..control import ControlError

    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError("bad_params", f"{key} is a whole number from {low} to {high}")
    return value


def _points(gateway: Any, params: dict[str, Any]) -> dict[str, Any]:
    """One running slave's points as they are now, a page at a time, with its status objects."""
    from ..control import ControlError

    offset = _int(params, "offset", 0, 0, 10**7)
    limit = _int(params, "limit", 100, 1, POINTS_PAGE)
    try:
        slave = _running(gateway).running_slave(str(params.get("slave", "")))
    except KeyError as err:
        raise ControlError("not_found", err.args[0]) from None
    return slave.live(offset, limit)


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
        MethodSpec("modbus_points", _points,
                   "one running slave's points now: raw words, BACnet value, reliability, age (a page: offset, limit "
                   f"up to {POINTS_PAGE}) and its status objects: {{slave, offset?, limit?}}",
                   params={"slave": "string", "offset": "int", "limit": "int"}),
        MethodSpec("read_group", _read_group, "run a Modbus slave's read plan once and report every request: {slave}",
                   params={"slave": "string"}),
    ]


KIND = FeatureKind(name="modbus", sections=lambda: [ModbusMaster, ModbusSlave], configured=_configured,
                   load=_load, check=_check, build=_build, methods=_methods)
