"""Data conversions written in Lua: the shipped ones (bcd, compat_bcd, m10k, low10th) and the user's.

A conversion script returns a table with ``registers`` (how many registers it
reads; 0 lets the point's ``reg_num`` decide), ``decode(regs) -> value,
reliable`` and, for writable points, ``encode(value, count) -> regs``;
``regs`` are 16-bit registers, most significant first. Each script becomes a
:class:`~bacrouter.lua.conversions.Conversion` named after its file, so a
Modbus point with data type ``o<name>`` uses it.

Each script has a sandbox of its own (one cannot change what another sees),
used from the event loop's thread only, with a small budget: a conversion
runs for every value read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ..lua.sandbox import Sandbox, ScriptError
from ..lua.conversions import Conversion, ConversionError

__all__ = ["SCRIPTS", "load_script", "load_directory"]

log = logging.getLogger("bacrouter.conversions")

SCRIPTS = Path(__file__).resolve().parent / "scripts"
SHIPPED = ("bcd", "compat_bcd", "m10k", "low10th")
#: a conversion runs for every value read, on the event loop: a small budget
INSTRUCTIONS = 200_000
TIME_LIMIT = 0.5
MEMORY = 4 * 2**20


def load_script(path: Path) -> Conversion:
    """The conversion a script file defines; raises ScriptError or OSError."""
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
    """Every ``*.lua`` in ``directory``: (conversions, [(file, problem)])."""
    conversions, problems = [], []
    for path in sorted(directory.glob("*.lua")):
        try:
            conversions.append(load_script(path))
        except (ScriptError, OSError) as err:
            problems.append((path, str(err)))
    return conversions, problems


def shipped() -> list[Conversion]:
    return [load_script(SCRIPTS / f"{name}.lua") for name in SHIPPED]
