"""Data conversions written in Lua, and the registry Modbus data types starting with ``o`` look them up in.

Owns :class:`Conversion`, :class:`ConversionError`, the registry
(:func:`register`, :func:`get`, :func:`names`) and the loading of conversion
scripts: the four the original product ships (bcd, compat_bcd, m10k,
low10th, in ``scripts/`` next to this module) are loaded on first use of the
registry, the user's from ``/etc/bacrouter/conversions`` through
:func:`load_directory` and :func:`register`.

A point with ``data_type`` ``obcd`` uses the conversion ``bcd``, and so on.
A conversion turns the point's registers (in the slave's integer register
order, most significant first) into a number and a verdict on its
reliability, and back for writes.

A conversion script returns a table with ``registers`` (how many registers it
reads; 0 lets the point's ``reg_num`` decide), ``decode(regs) -> value,
reliable`` and, for writable points, ``encode(value, count) -> regs``;
``regs`` are 16-bit registers, most significant first. Each script becomes a
:class:`Conversion` named after its file.

Each script has a sandbox of its own (one cannot change what another sees),
used from the event loop's thread only, with a small budget: a conversion
runs for every value read. Importing this module does not import lupa (every
``bacrouter`` command imports it through the Modbus data types): the sandbox
is imported with the first script loaded. Without lupa (no python3-lupa on
the router) the registry is empty and :func:`get` raises :class:`LuaUnavailable`,
which says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import lua_missing

__all__ = ["Conversion", "ConversionError", "LuaUnavailable", "register", "get", "names", "SCRIPTS", "load_script",
           "load_directory"]

log = logging.getLogger("bacrouter.conversions")

SCRIPTS = Path(__file__).resolve().parent / "scripts"
SHIPPED = ("bcd", "compat_bcd", "m10k", "low10th")
#: a conversion runs for every value read, on the event loop: a small budget
INSTRUCTIONS = 200_000
TIME_LIMIT = 0.5
MEMORY = 4 * 2**20


class ConversionError(ValueError):
    pass


class LuaUnavailable(ConversionError):
    """The conversion may well exist, but lupa is not installed: no conversion can run."""


@dataclass(frozen=True)
class Conversion:
    name: str
    registers: int  # registers the conversion reads (0: the point's reg_num decides)
    decode: Callable[[Sequence[int]], tuple[float, bool]]  # registers -> (value, reliable)
    encode: Callable[[float, int], list[int]] | None = None  # (value, register count) -> registers
    doc: str = ""


# ---------------------------------------------------------------------- the registry

_REGISTRY: dict[str, Conversion] = {}
_shipped_loaded = False


def _registry() -> dict[str, Conversion]:
    global _shipped_loaded
    if not _shipped_loaded and not lua_missing():
        _shipped_loaded = True
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
        if lua_missing():
            raise LuaUnavailable(f"conversion {name!r} cannot run: {lua_missing()}") from None
        raise ConversionError(f"no conversion {name!r} (known: {', '.join(sorted(registry))})") from None


def names() -> list[str]:
    return sorted(_registry())


# ---------------------------------------------------------------------- conversion scripts


def load_script(path: Path) -> Conversion:
    """The conversion a script file defines; raises ScriptError or OSError."""
    from .sandbox import Sandbox, ScriptError  # lupa with the first script, not with the registry

    sandbox = Sandbox(f"conversion {path.name}", memory_limit=MEMORY, instruction_limit=INSTRUCTIONS,
                      time_limit=TIME_LIMIT)
    returned = sandbox.run(path.read_bytes(), path.name)
    table = returned[0] if returned else None
    if table is None or not hasattr(table, "items"):
        raise ScriptError("interface", "a conversion script must return a table with decode (and encode)")
    decode, encode = table[b"decode"], table[b"encode"]
    if decode is None:
        raise ScriptError("interface", "the table has no decode function")
    name = path.stem

    def decoded(registers: Sequence[int]) -> tuple[float, bool]:
        try:
            result = sandbox.call(decode, sandbox.table(list(registers)))
        except ScriptError as err:
            log.warning("conversion %s: %s", name, err)
            return float("nan"), False
        value = result[0] if result else None
        reliable = result[1] if len(result) > 1 and result[1] is not None else True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return float("nan"), False
        return float(value), bool(reliable)

    def encoded(value: float, count: int) -> list[int]:
        try:
            result = sandbox.call(encode, value, count)
        except ScriptError as err:
            raise ConversionError(f"conversion {name}: {err}") from None
        registers = list(result[0].values()) if result and hasattr(result[0], "values") else []
        if len(registers) != count or not all(isinstance(r, int) and 0 <= r <= 0xFFFF for r in registers):
            raise ConversionError(f"conversion {name}: encode must return {count} registers of 0..65535")
        return registers

    registers = table[b"registers"]
    doc = table[b"doc"]
    return Conversion(name, int(registers or 0), decoded, encoded if encode is not None else None,
                      doc.decode() if isinstance(doc, bytes) else "")


def load_directory(directory: Path) -> tuple[list[Conversion], list[tuple[Path, str]]]:
    """Every ``*.lua`` in ``directory``: (conversions, [(file, problem)]); none without lupa."""
    conversions: list[Conversion] = []
    problems: list[tuple[Path, str]] = []
    if lua_missing():
        return conversions, [(path, f"not loaded: {lua_missing()}")
                             for path in sorted(directory.glob("*.lua"))]
    from .sandbox import ScriptError


    for path in sorted(directory.glob("*.lua")):
        try:
            conversions.append(load_script(path))
        except (ScriptError, OSError) as err:
            problems.append((path, str(err)))
    return conversions, problems


def shipped() -> list[Conversion]:
    return [load_script(SCRIPTS / f"{name}.lua") for name in SHIPPED]
