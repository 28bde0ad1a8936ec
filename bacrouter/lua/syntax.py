"""A script's syntax checked before it is saved: compiled in the sandbox, never run, in a child process.

Whoever edits a Free Client bus script or a conversion script in the panel
learns of a syntax error (with its line) before anything is staged. The
text comes from a browser, so the check must not hang or crash the panel:
the script is bounded in size (:data:`MAX_SCRIPT`), and Lua's parser (a C
function the sandbox's instruction hook does not reach) runs in a child
process with a memory cap and a time limit (:data:`COMPILE_SECONDS`), killed
when it takes longer. ``python -m bacrouter.lua.syntax NAME`` is that child:
the script on stdin, the verdict as JSON on stdout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import lua_missing

__all__ = ["SyntaxProblem", "check_syntax", "compile_problem", "MAX_SCRIPT", "COMPILE_SECONDS"]

#: the largest script accepted (the shipped ones are under 8 KiB; the original product's under 32 KiB)
MAX_SCRIPT = 256 * 1024
#: the child's time for starting, compiling and answering
COMPILE_SECONDS = 10.0
#: the child's address space (Python, lupa and the sandbox's own 32 MB cap fit)
CHILD_MEMORY = 512 * 2**20


@dataclass(frozen=True)
class SyntaxProblem:
    message: str
    line: int | None = None  # 1-based, when Lua says where

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def _problem(error: str, chunk_name: str) -> SyntaxProblem:
    """Lua's ``NAME:LINE: what`` as a located problem."""
    found = re.match(re.escape(chunk_name) + r":(\d+): (.*)", error, re.S)
    if found:
        return SyntaxProblem(found.group(2).strip(), int(found.group(1)))
    return SyntaxProblem(error.strip())


def compile_problem(source: bytes, chunk_name: str) -> SyntaxProblem | None:
    """Compile ``source`` in a sandbox of this process (the child's work): None when it compiles."""
    from .sandbox import Sandbox, ScriptError

    try:
        error = Sandbox(f"syntax check of {chunk_name}").compile(source, chunk_name)
    except ScriptError as err:  # out of memory while compiling
        return SyntaxProblem(str(err))
    return None if error is None else _problem(error, chunk_name)


def check_syntax(source: bytes | str, chunk_name: str, timeout: float = COMPILE_SECONDS) -> SyntaxProblem | None:
    """None when ``source`` compiles as Lua 5.4; else what is wrong, with its line. Raises RuntimeError when
    the check cannot be made (no lupa: the caller decides whether to save unchecked)."""
    text = source.encode() if isinstance(source, str) else source
    if len(text) > MAX_SCRIPT:
        return SyntaxProblem(f"the script has {len(text)} bytes: at most {MAX_SCRIPT} are accepted")
    if lua_missing():
        raise RuntimeError(f"the syntax cannot be checked: {lua_missing()}")
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    try:
        done = subprocess.run([sys.executable, "-m", "bacrouter.lua.syntax", chunk_name], input=text,
                              capture_output=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:  # run() killed it
        return SyntaxProblem(f"compiling the script took more than {timeout:g} s: it is refused")
    except OSError as err:
        raise RuntimeError(f"the syntax check could not start: {err}") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return SyntaxProblem(f"the script could not be compiled (the check ended: {why[0]})")
    return None if answer.get("ok") else SyntaxProblem(str(answer.get("message")), answer.get("line"))


def _child(chunk_name: str) -> int:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
        resource.setrlimit(resource.RLIMIT_CPU, (int(COMPILE_SECONDS) + 1, int(COMPILE_SECONDS) + 1))
    except (ImportError, ValueError, OSError):
        pass  # the parent's timeout still holds
    source = sys.stdin.buffer.read(MAX_SCRIPT + 1)
    problem = compile_problem(source, chunk_name)
    answer = {"ok": True} if problem is None else {"ok": False, "message": problem.message, "line": problem.line}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1] if len(sys.argv) > 1 else "script"))
