"""Data conversions for Modbus values that are not plain numbers (data types starting with ``o``).

A point with ``data_type`` ``obcd`` uses the conversion ``bcd``, and so on.
A conversion turns the point's registers (in the slave's integer register
order, most significant first) into a number and a verdict on its
reliability, and back for writes. They are Lua scripts
(:mod:`bacrouter.freeclient.luaconv`): the four the original product ships
are loaded on first use, the user's from ``/etc/bacrouter/conversions``
through :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Conversion", "ConversionError", "register", "get", "names"]


class ConversionError(ValueError):
    pass


@dataclass(frozen=True)
class Conversion:
    name: str
    registers: int  # registers the conversion reads (0: the point's reg_num decides)
    decode: Callable[[Sequence[int]], tuple[float, bool]]  # registers -> (value, reliable)
    encode: Callable[[float, int], list[int]] | None = None  # (value, register count) -> registers
    doc: str = ""


_REGISTRY: dict[str, Conversion] = {}
_shipped_loaded = False


def _registry() -> dict[str, Conversion]:
    global _shipped_loaded
    if not _shipped_loaded:
        _shipped_loaded = True
        from ..freeclient.luaconv import shipped

        for conversion in shipped():
            _REGISTRY.setdefault(conversion.name, conversion)
    return _REGISTRY


def register(conversion: Conversion) -> None:
    _registry()[conversion.name] = conversion


def get(name: str) -> Conversion:
    registry = _registry()
    try:
        return registry[name]
    except KeyError:
        raise ConversionError(f"no conversion {name!r} (known: {', '.join(sorted(registry))})") from None


def names() -> list[str]:
    return sorted(_registry())
