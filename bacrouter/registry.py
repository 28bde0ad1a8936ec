"""Every port kind and every feature the daemon can run: one line each.

The daemon composes what this module lists. Each entry imports its code only
when it is called, so a router that uses neither Modbus nor Free Client never
loads them (nor lupa), and ``bacrouter check`` loads a feature's checks only
when the configuration has its sections.

Adding a port kind: its section class in :mod:`bacrouter.config.model` and a
factory here. Adding a gateway: one package with a ``feature.py`` that
defines ``KIND`` (a :class:`~bacrouter.feature.FeatureKind`), and one line in
:data:`FEATURES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .feature import FeatureKind

if TYPE_CHECKING:
    from .config.resources import Resource
    from .net.host import PortHost, PortRuntime

__all__ = ["PORT_KINDS", "FEATURES", "feature_kinds", "feature_section_types", "all_section_types"]


def _bip(host: PortHost, config: Any, port_id: int, resource: Resource | None) -> PortRuntime:
    from .net.bip_port import BipPortRuntime

    assert resource is not None
    return BipPortRuntime(host, config, port_id, resource)


def _mstp(host: PortHost, config: Any, port_id: int, resource: Resource | None) -> PortRuntime:
    from .mstp.runtime import MstpPortRuntime

    assert resource is not None
    return MstpPortRuntime(host, config, port_id, resource)


def _ethernet(host: PortHost, config: Any, port_id: int, resource: Resource | None) -> PortRuntime:
    from .net.ethernet import EthernetPortRuntime

    assert resource is not None
    return EthernetPortRuntime(host, config, port_id, resource)


def _vbus(host: PortHost, config: Any, port_id: int, resource: Resource | None) -> PortRuntime:
    from .net.vbus import VbusPortRuntime

    return VbusPortRuntime(host, config, port_id)


#: port kind (the UCI section type) → factory of its runtime
PORT_KINDS: dict[str, Any] = {
    "bip": _bip,
    "mstp": _mstp,
    "ethernet": _ethernet,
    "vbus": _vbus,
}


def _modbus() -> FeatureKind:
    from .modbus.feature import KIND

    return KIND


def _freeclient() -> FeatureKind:
    from .freeclient.feature import KIND

    return KIND


#: the features, in the order they start (Free Client devices are placed after the Modbus slaves)
FEATURES = (_modbus, _freeclient)


def feature_kinds() -> list[FeatureKind]:
    """The feature kinds (their modules hold only schema and wiring; runtimes load when built)."""
    return [load() for load in FEATURES]


def feature_section_types() -> dict[str, type]:
    return {cls.uci_type: cls for kind in feature_kinds() for cls in kind.sections()}


def all_section_types() -> Mapping[str, type]:
    """Every UCI section type: the router's own and the features'."""
    from .config.model import CORE_TYPES

    return {**CORE_TYPES, **feature_section_types()}
