"""What every ``bacrouter`` command shares: exit codes, one-line failures, ``--json`` output, control calls.

A command says what went wrong by raising :class:`CliError`; ``main`` prints
the message on standard error (and, with ``--json``, a JSON error object on
standard output) and exits with its code. No user mistake ends in a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_NOT_RUNNING", "EXIT_INTERRUPTED", "EXIT_CLOSED_OUTPUT",
           "CliError", "control", "print_json", "table", "wants_json"]

EXIT_OK = 0
#: the command ran and what it did or found failed: configuration errors, a file it cannot read, a device that does not answer
EXIT_FAILED = 1
#: the command line is wrong: an unknown option, a missing argument, PARAMS that are not a JSON object
EXIT_USAGE = 2
#: the command needs the running router and there is none (no control socket)
EXIT_NOT_RUNNING = 3
#: interrupted (Ctrl-C), as shells report it
EXIT_INTERRUPTED = 130
#: standard output was closed by its reader (``| head``), as shells report a SIGPIPE
EXIT_CLOSED_OUTPUT = 141


class CliError(Exception):
    """A failure said in one line; ``main`` prints it and exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED, **details: Any) -> None:
        super().__init__(message)
        self.message, self.code, self.details = message, code, details


def wants_json(args: argparse.Namespace | None) -> bool:
    return bool(getattr(args, "json", False))


def print_json(value: dict[str, Any]) -> None:
    """``--json`` output: always an object at the top, so a later key never breaks a reader."""
    assert isinstance(value, dict), "--json output is an object"
    print(json.dumps(value, indent=2, ensure_ascii=False))


def control(args: argparse.Namespace, method: str, params: dict[str, Any] | None = None,
            timeout: float = 10.0) -> Any:
    """Call a method of the running router; CliError when it is not running or answers with an error."""
    from .control_client import ControlError, call
    from .paths import Paths

    path = Paths.from_arg(getattr(args, "config_dir", None)).control_socket
    try:
        return call(path, method, params, timeout=timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        raise CliError(f"bacrouter is not running (no control socket at {path})", EXIT_NOT_RUNNING) from None
    except TimeoutError:
        raise CliError(f"bacrouter did not answer '{method}' within {timeout:g} s") from None
    except ControlError as err:
        raise CliError(f"error: {err.message}", EXIT_FAILED, error_code=err.code) from None


def fail(args: argparse.Namespace | None, message: str, code: int, **details: Any) -> int:
    """Say ``message`` (and with --json an error object on standard output); return ``code``."""
    if wants_json(args):
        print(json.dumps({"error": message, "exit": code, **details}))
    print(message, file=sys.stderr)
    return code


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
