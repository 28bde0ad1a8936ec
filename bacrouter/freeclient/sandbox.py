"""A Lua 5.4 runtime that scripts cannot break out of, and cannot hang or exhaust.

Scripts come from the field (a vendor's Free Client script, a conversion
downloaded from a forum), so the runtime gives them only what a protocol
script needs: no ``os``, ``io``, ``debug``, ``coroutine``, ``package``,
``require``, ``dofile``, ``loadfile``, ``collectgarbage``, no
``string.dump``, ``load`` of text only (no bytecode), and no way into
Python (the ``python`` table is gone, and Python objects handed to Lua
refuse every attribute). Each entry into Lua has an instruction budget (a
count hook; ``pcall`` cannot swallow the budget's error) and the runtime a
memory cap. Strings stay bytes (``encoding=None``): binary frames pass
through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from lupa.lua54 import LuaError, LuaMemoryError, LuaRuntime

__all__ = ["Sandbox", "ScriptError", "MEMORY_LIMIT", "INSTRUCTION_LIMIT"]

log = logging.getLogger("bacrouter.lua")

MEMORY_LIMIT = 32 * 2**20  # bytes per runtime
INSTRUCTION_LIMIT = 50_000_000  # per entry into Lua (a callback, init); about a second of pure Lua
HOOK_EVERY = 1000  # instructions between two budget checks

_SETUP = b"""
local sethook, error, raw_pcall, raw_xpcall, raw_load, select = debug.sethook, error, pcall, xpcall, load, select
local budget, exhausted = 0, false
local LIMIT = "instruction limit exceeded (endless loop?)"
sethook(function()
  budget = budget - %d
  if budget < 0 then
    exhausted = true
    error(LIMIT, 0)
  end
end, "", %d)
local function rethrow(...)
  if exhausted then error(LIMIT, 0) end
  return ...
end
pcall = function(...) return rethrow(raw_pcall(...)) end
xpcall = function(...) return rethrow(raw_xpcall(...)) end
load = function(chunk, name, mode, ...)  -- (an explicit nil env would be an env)
  return raw_load(chunk, name, "t", ...)
end
string.dump = nil
os, io, debug, coroutine, package, require, dofile, loadfile, collectgarbage, python = nil
return function(instructions) budget, exhausted = instructions, false end
"""


class ScriptError(Exception):
    """A script failed. ``kind``: error, memory, instructions, interface."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _deny(obj: Any, name: Any, *value: Any) -> Any:
    raise AttributeError("Python objects have no attributes in scripts")


class Sandbox:
    """One Lua runtime; every call into it goes through :meth:`call`."""

    def __init__(self, name: str, memory_limit: int = MEMORY_LIMIT, instruction_limit: int = INSTRUCTION_LIMIT) -> None:
        self.name = name
        self.instruction_limit = instruction_limit
        self.lua = LuaRuntime(encoding=None, register_eval=False, register_builtins=False,
                              unpack_returned_tuples=True, attribute_handlers=(_deny, _deny),
                              max_memory=memory_limit)
        self._set_budget = self.lua.execute(_SETUP % (HOOK_EVERY, HOOK_EVERY))
        self._tablefn = self.lua.eval("function(...) return {...} end")

    # ------------------------------------------------------------------ running code

    def run(self, source: bytes | str, chunk_name: str) -> tuple[Any, ...]:
        """Load and run a script (text only); returns what it returned, as a tuple."""
        text = source.encode() if isinstance(source, str) else source
        loader = self.lua.globals().load
        loaded = self.call(loader, text, b"=" + chunk_name.encode())
        chunk, error = (loaded + (None, None))[:2]
        if chunk is None:
            raise ScriptError("error", _text(error) or "the script does not load")
        return self.call(chunk)

    def call(self, function: Any, *args: Any) -> tuple[Any, ...]:
        """Call a Lua function with a fresh instruction budget; results as a tuple."""
        self._set_budget(self.instruction_limit)
        try:
            result = function(*args)
        except LuaMemoryError:
            raise ScriptError("memory", f"memory limit of {self.lua.get_max_memory() // 2**20} MB exceeded") from None
        except LuaError as err:
            message = _text(err.args[0] if err.args else err)
            kind = "instructions" if "instruction limit exceeded" in message else "error"
            raise ScriptError(kind, message) from None
        except ScriptError:
            raise
        except Exception as err:  # raised by a host function the script called, or by lupa on its behalf
            raise ScriptError("error", f"{type(err).__name__}: {err}") from None
        finally:
            self._set_budget(self.instruction_limit)
        if result is None:
            return ()
        return result if isinstance(result, tuple) else (result,)

    # ------------------------------------------------------------------ values both ways

    def table(self, value: Mapping[Any, Any] | Iterable[Any] | None = None, **fields: Any) -> Any:
        """A Lua table from a dict (keys as given) or a sequence (1-based), recursively; text becomes bytes."""
        table = self._tablefn()
        if isinstance(value, Mapping):
            items: Iterable[tuple[Any, Any]] = value.items()
        elif value is not None:
            items = enumerate(value, 1)
        else:
            items = ()
        for key, item in list(items) + list(fields.items()):
            table[key.encode() if isinstance(key, str) else key] = self.to_lua(item)
        return table

    def to_lua(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, (Mapping, list, tuple)):
            return self.table(value)
        return value

    def memory_used(self) -> int:
        return self.lua.get_memory_used()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def from_lua(value: Any) -> Any:
    """A Lua value as plain Python: tables become dicts (or lists when keyed 1..n), bytes stay bytes."""
    if hasattr(value, "items") and callable(value.items):
        items = {k: from_lua(v) for k, v in value.items()}
        if items and all(isinstance(k, int) for k in items) and sorted(items) == list(range(1, len(items) + 1)):
            return [items[i] for i in range(1, len(items) + 1)]
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in items.items()}
    return value
