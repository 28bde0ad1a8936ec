"""A script's syntax checked before the panel stages it: compiled in the sandbox in a child process, never run."""

from __future__ import annotations

import pytest

from bacrouter.lua import lua_missing
from bacrouter.lua.syntax import MAX_SCRIPT, SyntaxProblem, check_syntax

pytestmark = pytest.mark.skipif(bool(lua_missing()), reason="needs lupa")


def test_a_script_that_compiles():
    assert check_syntax("local x = 1\nreturn swg.interface_rs485, function(ctx) end\n", "ok.lua") is None


def test_a_syntax_error_says_its_line():
    problem = check_syntax("-- one\nlocal a = 1\nlocal b = = 2\n", "bad.lua")
    assert problem == SyntaxProblem("unexpected symbol near '='", 3)
    assert str(problem) == "line 3: unexpected symbol near '='"
    assert check_syntax("x = 'open\n", "s.lua").line == 1


def test_compiling_never_runs_the_script():
    # a script whose top level would loop for ever, or exit, compiles: nothing of it runs
    assert check_syntax("while true do end", "loop.lua") is None
    assert check_syntax("os.exit(3)", "exit.lua") is None


def test_hostile_scripts_are_bounded():
    assert "at most" in check_syntax(b"-" * (MAX_SCRIPT + 1), "big.lua").message
    nested = check_syntax("x = " + "{" * 100_000, "deep.lua")  # the parser's own limit, not a crash
    assert nested is not None and ("overflow" in nested.message or "levels" in nested.message)
    assert check_syntax("return " + "(" * 250 + "1" + ")" * 250, "parens.lua") is not None
    # the child is killed at its time limit (no child starts, imports lupa and compiles in 1 ms)
    assert "took more than" in check_syntax("return 1", "slow.lua", timeout=0.001).message


def test_bytes_that_are_not_text_are_a_syntax_error_not_a_crash():
    assert check_syntax(b"\x1bLua\x54\x00", "bytecode.lua") is not None  # load takes text only
    assert check_syntax(b"\xff\xfe\x00\x00", "junk.lua") is not None
