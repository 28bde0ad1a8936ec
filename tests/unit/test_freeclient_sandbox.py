"""The Lua sandbox: nothing reaches the system or Python, endless loops and memory bombs are stopped."""

from __future__ import annotations

import time

import pytest

from bacrouter.freeclient.link import RS485, IdleWait, Reply
from bacrouter.freeclient.sandbox import Sandbox, ScriptError


@pytest.fixture
def box():
    return Sandbox("test", memory_limit=16 * 2**20, instruction_limit=2_000_000)


@pytest.mark.parametrize("name", ["os", "io", "debug", "coroutine", "package", "require", "dofile", "loadfile",
                                  "collectgarbage", "python"])
def test_the_dangerous_globals_are_gone(box, name):
    assert box.run(f"return {name} == nil", "t") == (True,)


def test_string_dump_and_bytecode_are_refused(box):
    assert box.run("return string.dump == nil and getmetatable('').__index.dump == nil", "t") == (True,)
    chunk, error = box.run("return load(string.char(27) .. 'LuaT' .. string.rep('x', 30))", "t")
    assert chunk is None and b"binary chunk" in error
    # a reader function handing over bytecode is refused the same way
    chunk, error = box.run("local sent = false return load(function() if sent then return nil end sent = true "
                           "return string.char(27) .. 'Lua' end)", "t")
    assert chunk is None and b"binary chunk" in error
    assert box.run("return load('return 1 + 1')()", "t") == (2,)  # text is fine


def test_python_objects_have_nothing_to_offer(box):
    reach = box.run("return function(f) return f.__globals__ end", "t")[0]
    with pytest.raises(ScriptError, match="no attributes"):
        box.call(reach, print)
    escape = box.run("return function(f) local mt = getmetatable(f) return mt and mt.__index and "
                     "mt.__index(f, '__class__') end", "t")[0]
    with pytest.raises(ScriptError):
        box.call(escape, print)


def test_metatable_tricks_stay_inside(box):
    # replacing the string metatable's index or _G's metatable only changes this sandbox
    assert box.run("getmetatable('').__index = {dump = function() return 'x' end} return ('a'):dump()", "t") == (b"x",)
    assert box.run("setmetatable(_G, {__index = function(t, k) return 7 end}) return os", "t") == (7,)
    other = Sandbox("other")
    assert other.run("return os == nil and ('a').upper ~= nil", "t") == (True,)


@pytest.mark.parametrize("bomb, kind", [
    ("while true do end", "instructions"),
    ("while true do pcall(function() while true do end end) end", "instructions"),
    ("while true do xpcall(function() while true do end end, function() return 1 end) end", "instructions"),
    ("local function f() return f() end return f()", "instructions"),  # a proper tail call loops forever
    ("local t = {} for i = 1, 1e9 do t[i] = i end", "memory"),
    ("local s = string.rep('x', 2^30)", "memory"),
    ("local s = 'x' while true do s = s .. s end", "memory"),
    ("error('boom')", "error"),
    ("local function f() return f() + 1 end return f()", "memory or error"),  # stack overflow
])
def test_bombs_are_contained(box, bomb, kind):
    started = time.monotonic()
    with pytest.raises(ScriptError) as err:
        box.run(bomb, "bomb")
    assert err.value.kind in kind.split(" or ")
    assert time.monotonic() - started < 5
    assert box.run("return 40 + 2", "after") == (42,)  # the runtime is still usable


def test_errors_are_located(box):
    with pytest.raises(ScriptError, match=r"myscript.lua:2: boom"):
        box.run("local x = 1\nerror('boom')", "myscript.lua")


def test_strings_stay_bytes(box):
    echo = box.run("return function(s) return s .. '\\0\\255' end", "t")[0]
    assert box.call(echo, b"\x01\xfe") == (b"\x01\xfe\x00\xff",)


def test_idle_wait_and_reply_rules():
    idle = IdleWait(0.010, now=0.0)
    assert not idle.ready(0.005)
    idle.heard(0.006)
    assert not idle.ready(0.012) and idle.ready(0.016)
    assert not idle.failed(0.5) and idle.failed(1.02)
    reply = Reply(0.0, timeout=0.1, gap=0.004, maxlen=8)
    assert reply.outcome(0.05) is None
    assert Reply(0.0, 0.1, 0.004, 8).outcome(0.1) == (RS485.NOREPLY, b"")
    reply.feed(b"\x01\x02", 0.02)
    assert reply.outcome(0.022) is None and reply.outcome(0.025) == (2, b"\x01\x02")
    full = Reply(0.0, 0.1, 0.004, 4)
    full.feed(b"abcd", 0.01)
    assert full.outcome(0.01) == (4, b"abcd")
    full.feed(b"e", 0.011)
    assert full.outcome(0.011) == (RS485.OVERFLOW, b"abcd")
