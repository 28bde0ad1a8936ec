"""A Lua 5.4 runtime that scripts cannot break out of, and cannot hang or exhaust.

Scripts come from the field (a vendor's Free Client script, a conversion
downloaded from a forum), so the runtime gives them only what a protocol
script needs: no ``os``, ``io``, ``debug``, ``coroutine``, ``package``,
``require``, ``dofile``, ``loadfile``, ``collectgarbage``, no
``string.dump``, ``load`` of text only (no bytecode), and no way into
Python (the ``python`` table is gone, and Python objects handed to Lua
refuse every attribute), no ``__gc`` finalizers (they run with the hook
off). Each entry into Lua has an instruction budget and a time limit (a
count hook; ``pcall`` cannot swallow their errors), patterns whose
backtracking could run for hours in one C call are refused, C functions
that would loop for as long as their arguments say (``table.move``,
``insert``, ``remove``) are replaced by Lua ones, an ``xpcall`` message
handler never runs for the hook's own errors (Lua runs it with the hook
off), and the runtime has a memory cap (running out is final too). Strings stay bytes
(``encoding=None``): binary frames pass through untouched.

Owns :class:`Sandbox` and :class:`ScriptError`, shared by every script the
router runs: the Free Client buses and the data conversions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from lupa.lua54 import LuaError, LuaMemoryError, LuaRuntime

__all__ = ["Sandbox", "ScriptError", "MEMORY_LIMIT", "INSTRUCTION_LIMIT"]

log = logging.getLogger("bacrouter.lua")

MEMORY_LIMIT = 32 * 2**20  # bytes per runtime a script may hold
#: headroom above the script's limit for what the host hands in (tables, answers): Lua must never run out
#: of memory while Python is writing into it, outside a protected call (lua_atpanic aborts the process)
MEMORY_RESERVE = 2 * 2**20
INSTRUCTION_LIMIT = 50_000_000  # per entry into Lua (a callback, init); about a second of pure Lua
HOOK_EVERY = 1000  # instructions between two budget checks
CLOCK_EVERY = 4  # budget checks between two looks at the clock
#: wall-clock limit of one entry into Lua: C functions (string.rep near the memory cap, patterns) cost
#: time that the instruction count does not see
TIME_LIMIT = 10.0
#: the most backtracking steps a pattern may be able to take (estimated as subject length to the power of
#: its repetitions, one more when unanchored); Lua's matcher is exponential and cannot be interrupted
PATTERN_STEPS = 2e9
#: the most octet comparisons a search may take that Lua's matcher does in one C call (a plain find, or a
#: pattern with no repetition, is tried at every position of the subject: subject length times pattern length)
SEARCH_STEPS = 2e8
MEMORY_ERROR = "not enough memory"

_SETUP = b"""
local sethook, error, raw_pcall, raw_xpcall, raw_load, select = debug.sethook, error, pcall, xpcall, load, select
local raw_setmetatable, rawget, type, tostring, gc = setmetatable, rawget, type, tostring, collectgarbage
local budget, exhausted, out_of_memory, ticks = 0, false, false, 0
local LIMIT = "instruction limit exceeded (endless loop?)"
local poll = ...  -- the host: nil, or why the script must stop now (time limit, bus stopping)
sethook(function()
  budget = budget - HOOK_EVERY
  ticks = ticks + 1
  if budget < 0 then
    exhausted = true
    error(LIMIT, 0)
  end
  if ticks %% CLOCK_EVERY == 0 then
    local verdict = poll()
    if verdict then
      LIMIT, exhausted = verdict, true
      error(verdict, 0)
    end
  end
end, "", HOOK_EVERY)
-- pcall cannot swallow the budget, the clock or running out of memory: the script is over
local function rethrow(...)
  if exhausted then error(LIMIT, 0) end
  if select(1, ...) == false and select(2, ...) == "MEMORY_ERROR" then out_of_memory = true end
  if out_of_memory then error("MEMORY_ERROR", 0) end
  return ...
end
pcall = function(...) return rethrow(raw_pcall(...)) end
-- Lua calls a message handler with the hook off when the error came from the hook (the budget, the clock,
-- an interruption): a handler that loops would run for ever. Ours returns such an error untouched, and
-- only the script's own errors reach the script's handler (which then runs with the hook on).
xpcall = function(f, handler, ...)
  if type(handler) ~= "function" then
    error("bad argument #2 to 'xpcall' (function expected, got " .. type(handler) .. ")", 2)
  end
  return rethrow(raw_xpcall(f, function(message)
    if exhausted or out_of_memory then return message end
    return handler(message)
  end, ...))
end
load = function(chunk, name, mode, ...)  -- (an explicit nil env would be an env)
  return raw_load(chunk, name, "t", ...)
end
-- a finalizer runs with the hook off (and at lua_close, holding the GIL): no __gc for scripts
setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not available to scripts", 2)
  end
  return raw_setmetatable(t, mt)
end
-- patterns: refuse the ones whose backtracking could run for hours inside one C call
local sfind, smatch, sgmatch, sgsub = string.find, string.match, string.gmatch, string.gsub
local repetitions_of = {}
local cached = 0
local function repetitions(p)
  local q = repetitions_of[p]
  if q == nil then
    local bare = sgsub(sgsub(p, "%%%%.", ""), "%%[.-%%]", "x")
    q = select(2, sgsub(bare, "[%%*%%+%%-%%?]", ""))
    if cached > 256 then repetitions_of, cached = {}, 0 end
    repetitions_of[p], cached = q, cached + 1
  end
  return q
end
-- C functions whose work grows with their output are charged for it
local function charge(octets)
  budget = budget - octets // 64
  if budget < 0 then
    exhausted = true
    error(LIMIT, 0)
  end
end
local srep, tconcat = string.rep, table.concat
string.rep = function(s, n, sep)
  -- n copies of nothing: Lua loops n times in C (string.rep('', 1e15) would take days)
  if (s == "" or s == nil) and (sep == nil or sep == "") and type(n) == "number" and n > 0 then
    if s == nil then return srep(s, n, sep) end  -- the argument error
    return ""
  end
  local result = srep(s, n, sep)
  charge(#result)
  return result
end
table.concat = function(...)
  local result = tconcat(...)
  charge(#result)
  return result
end
-- table.insert, remove and move loop in C as far as the table's length (its __len) or their arguments say:
-- table.move({}, 1, 1e10, 2) or an insert into a table claiming 2^50 elements would never return. The same
-- functions in Lua run under the hook.
local maxinteger, tointeger = math.maxinteger, math.tointeger
local function integer(value, position, name)
  local i = tointeger(value)
  if i == nil then
    error(("bad argument #%d to '%s' (number expected, got %s)"):format(position, name, type(value)), 3)
  end
  return i
end
table.insert = function(t, ...)
  local count = select("#", ...)
  local last = #t + 1
  if count == 1 then
    t[last] = ...
    return
  end
  if count ~= 2 then error("wrong number of arguments to 'insert'", 2) end
  local pos, value = ...
  pos = integer(pos, 2, "insert")
  if pos < 1 or pos > last then error("bad argument #2 to 'insert' (position out of bounds)", 2) end
  for i = last, pos + 1, -1 do t[i] = t[i - 1] end
  t[pos] = value
end
table.remove = function(t, pos)
  local size = #t
  if pos == nil then pos = size else pos = integer(pos, 2, "remove") end
  if pos ~= size and (pos < 1 or pos > size + 1) then
    error("bad argument #2 to 'remove' (position out of bounds)", 2)
  end
  local value = t[pos]
  while pos < size do
    t[pos] = t[pos + 1]
    pos = pos + 1
  end
  t[pos] = nil
  return value
end
table.move = function(a1, f, e, t, a2)
  f, e, t = integer(f, 2, "move"), integer(e, 3, "move"), integer(t, 4, "move")
  if a2 == nil then a2 = a1 end
  if type(a1) ~= "table" then error("bad argument #1 to 'move' (table expected, got " .. type(a1) .. ")", 2) end
  if type(a2) ~= "table" then error("bad argument #5 to 'move' (table expected, got " .. type(a2) .. ")", 2) end
  if e >= f then
    if not (f > 0 or e < maxinteger + f) then error("bad argument #3 to 'move' (too many elements to move)", 2) end
    local n = e - f
    if t > maxinteger - n then error("bad argument #4 to 'move' (destination wrap around)", 2) end
    if t > e or t <= f or a1 ~= a2 then
      for i = 0, n do a2[t + i] = a1[f + i] end
    else
      for i = n, 0, -1 do a2[t + i] = a1[f + i] end
    end
  end
  return a2
end
-- a search tries the pattern at every position of the subject, in one C call
local function searching(n, p, level)
  local m = #p
  if m <= n and (n - m + 1.0) * m > SEARCH_STEPS then
    error(("search too costly: a pattern of %%d bytes in a subject of %%d bytes: match smaller pieces")
          :format(m, n), level)
  end
end
local function check(s, p, anchorable)
  if type(p) ~= "string" then return end  -- the string function says what is wrong
  local n = type(s) == "string" and #s or #tostring(s)
  charge(n)
  searching(n, p, 4)
  local q = repetitions(p)
  if q == 0 then return end
  if not (anchorable and p:byte(1) == 94) then q = q + 1 end
  if (n + 1.0) ^ q > PATTERN_STEPS then
    error(("pattern too costly for a subject of %%d bytes (%%d repetitions): anchor it, "
           .. "or match smaller pieces"):format(n, q), 3)
  end
end
string.find = function(s, p, init, plain)
  if not plain then
    check(s, p, true)
  elseif type(p) == "string" then
    searching(type(s) == "string" and #s or #tostring(s), p, 3)
  end
  return sfind(s, p, init, plain)
end
string.match = function(s, p, init) check(s, p, true) return smatch(s, p, init) end
string.gmatch = function(s, p, ...) check(s, p, false) return sgmatch(s, p, ...) end
string.gsub = function(s, p, ...) check(s, p, true) return sgsub(s, p, ...) end
string.dump = nil
os, io, debug, coroutine, package, require, dofile, loadfile, collectgarbage, python, warn = nil
-- every call from the host: an error the script raised comes back as (false, text), whatever it raised;
-- an error object that is not a string is described by its type and tostring (under the budget: a
-- __tostring that loops is stopped like any loop)
local function describe(ok, ...)
  if ok then return true, ... end
  local problem = ...
  if exhausted then return false, LIMIT end
  if out_of_memory or problem == "MEMORY_ERROR" then return false, "MEMORY_ERROR" end
  if type(problem) == "string" then return false, problem end
  local shown, text = raw_pcall(tostring, problem)
  if exhausted then return false, LIMIT end
  if not shown or type(text) ~= "string" then text = "?" end
  return false, "error object of type " .. type(problem) .. ": " .. text
end
local function enter(f, ...)
  return describe(raw_pcall(f, ...))
end
return function(instructions)
  budget, exhausted, out_of_memory, ticks = instructions, false, false, 0
  LIMIT = "instruction limit exceeded (endless loop?)"
end, function() out_of_memory = true end, function() gc("collect") end, enter
""".replace(b"HOOK_EVERY", str(HOOK_EVERY).encode()).replace(b"CLOCK_EVERY", str(CLOCK_EVERY).encode()) \
    .replace(b"PATTERN_STEPS", repr(PATTERN_STEPS).encode()) \
    .replace(b"SEARCH_STEPS", repr(SEARCH_STEPS).encode()).replace(b"MEMORY_ERROR", MEMORY_ERROR.encode()) \
    .replace(b"%%", b"%")


class ScriptError(Exception):
    """A script failed. ``kind``: error, memory, instructions (or time), interface, stopped."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _deny(obj: Any, name: Any, *value: Any) -> Any:
    raise AttributeError("Python objects have no attributes in scripts")


class Sandbox:
    """One Lua runtime; every call into it goes through :meth:`call`."""

    def __init__(self, name: str, memory_limit: int = MEMORY_LIMIT, instruction_limit: int = INSTRUCTION_LIMIT,
                 time_limit: float = TIME_LIMIT) -> None:
        self.name = name
        self.memory_limit = memory_limit
        self.instruction_limit = instruction_limit
        self.time_limit = time_limit
        self.lua = LuaRuntime(encoding=None, register_eval=False, register_builtins=False,
                              unpack_returned_tuples=True, attribute_handlers=(_deny, _deny),
                              max_memory=memory_limit + MEMORY_RESERVE)
        self._deadline = 0.0
        self._interrupted = False
        self._set_budget, self._out_of_memory, self._collect, self._enter = self.lua.execute(_SETUP, self._poll)
        self._load = self.lua.globals().load  # ours: a script may replace the global
        self._tablefn = self.lua.eval("function(...) return {...} end")
        # Lua's own tostring, taken before any script runs (a script may replace the global)
        self._printer = self.lua.eval("""function(host, separator)
  local tostring, select, concat = tostring, select, table.concat
  return function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    return host(concat(parts, separator))
  end
end""")

    # ------------------------------------------------------------------ running code

    def run(self, source: bytes | str, chunk_name: str) -> tuple[Any, ...]:
        """Load and run a script (text only); returns what it returned, as a tuple."""
        text = source.encode() if isinstance(source, str) else source
        loaded = self.call(self._load, text, b"=" + chunk_name.encode())
        chunk, error = (loaded + (None, None))[:2]
        if chunk is None:
            raise ScriptError("error", _text(error) or "the script does not load")
        return self.call(chunk)

    def compile(self, source: bytes | str, chunk_name: str) -> str | None:
        """Compile a script (text only) without running it: None, or Lua's error (``NAME:LINE: what``)."""
        text = source.encode() if isinstance(source, str) else source
        loaded = self.call(self._load, text, b"=" + chunk_name.encode())
        chunk, error = (loaded + (None, None))[:2]
        return None if chunk is not None else (_text(error) or "the script does not load")

    def call(self, function: Any, *args: Any) -> tuple[Any, ...]:
        """Call a Lua function with a fresh instruction budget and time limit; results as a tuple."""
        self._set_budget(self.instruction_limit)
        self._deadline = time.monotonic() + self.time_limit
        try:
            result = self._enter(function, *args)
        except LuaMemoryError:
            raise self._memory_error() from None
        except LuaError as err:
            message = _text(err.args[0] if err.args else err)
            if message == MEMORY_ERROR:
                raise self._memory_error() from None
            if self._interrupted:
                raise ScriptError("stopped", "stopped while the script ran") from None
            kind = "instructions" if "limit exceeded" in message else "error"
            raise ScriptError(kind, message) from None
        except ScriptError:
            raise
        except Exception as err:  # raised by a host function the script called, or by lupa on its behalf
            raise ScriptError("error", f"{type(err).__name__}: {err}") from None
        finally:
            self._set_budget(self.instruction_limit)
        if self.memory_used() > self.memory_limit:  # what it holds now, garbage aside, must leave the reserve
            self._collect()
            if self.memory_used() > self.memory_limit:
                raise self._memory_error()
        returned = result if isinstance(result, tuple) else (result,)
        if returned[0] is not True:  # (False, what went wrong)
            message = _text(returned[1]) if len(returned) > 1 else "error"
            if message == MEMORY_ERROR:
                raise self._memory_error()
            if self._interrupted:
                raise ScriptError("stopped", "stopped while the script ran")
            raise ScriptError("instructions" if "limit exceeded" in message else "error", message)
        return () if returned[1:] == (None,) else returned[1:]  # as lupa hands back a lone nil

    def printer(self, host: Any, separator: bytes = b" ") -> Any:
        """A Lua function like ``print``: its arguments formatted as Lua does (``nil``, ``true``, ``3``, ``3.0``,
        ``9007199254740992``, a table's ``__tostring``), joined, handed to ``host`` as one byte string."""
        return self._printer(host, separator)

    def interrupt(self) -> None:
        """From any thread: make the running script (and every later call) stop at its next clock check."""
        self._interrupted = True

    def _poll(self) -> bytes | None:
        if self._interrupted:
            return b"stopped"
        if time.monotonic() > self._deadline:
            return b"time limit exceeded (%g s for one call into the script)" % self.time_limit
        return None

    def _memory_error(self) -> ScriptError:
        return ScriptError("memory", f"memory limit of {self.memory_limit // 2**20} MB exceeded")

    # ------------------------------------------------------------------ values both ways

    def table(self, value: Mapping[Any, Any] | Iterable[Any] | None = None, **fields: Any) -> Any:
        """A Lua table from a dict (keys as given) or a sequence (1-based), recursively; text becomes bytes.

        Refused (ScriptError, and fatal for the script even under pcall) while the script holds more than
        its limit: writing into a table is not a protected call, and Lua out of memory there aborts."""
        if self.memory_used() > self.memory_limit:
            self._out_of_memory()
            raise self._memory_error()
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
