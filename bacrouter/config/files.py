"""Reading configuration files that may be anything: bounded, never blocking, errors located.

A configuration directory on a router is edited by hand, by scripts and by
uploads. What sits where a file belongs may be a directory, a FIFO (opening
it would block the daemon), a symlink loop, or a file of tens of megabytes;
a JSON file may nest deeper than the parser's stack. Each of these is a
:class:`FileProblem` with a plain reason, reported like any other problem.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

__all__ = ["FileProblem", "MAX_FILE_BYTES", "read_file", "read_if_present", "parse_json", "read_json", "load_json", "unknown_keys"]

#: the largest configuration file read (UCI, resource.conf, points, bus definitions, scripts): 8 MiB
MAX_FILE_BYTES = 8 << 20


class FileProblem(Exception):
    """A file that cannot be used, and why; ``line`` and ``column`` when the problem is inside it."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column

    def __str__(self) -> str:
        if self.line:
            return f"line {self.line}, column {self.column}: {self.message}" if self.column else \
                f"line {self.line}: {self.message}"
        return self.message


def read_if_present(path: Path) -> bytes | None:
    """A configuration file's bytes as they are, or None when there is none (to compare or to replace it)."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def read_file(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    FileNotFoundError passes through (callers say what was missing); every
    other reason is a :class:`FileProblem`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block the open
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise FileProblem("is a directory, not a file") from None
    except OSError as err:  # ELOOP for a symlink loop, EACCES, ...
        raise FileProblem(f"cannot be read: {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileProblem("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem("is not a regular file (a FIFO, a device or a socket)")
        if info.st_size > limit:
            raise FileProblem(f"is {info.st_size:,} bytes: a configuration file may have at most {limit:,}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while being read
            raise FileProblem(f"has more than {limit:,} bytes: a configuration file may have at most {limit:,}")
        return b"".join(chunks)
    except OSError as err:
        raise FileProblem(f"cannot be read: {err.strerror or err}") from None
    finally:
        os.close(fd)


def parse_json(raw: bytes) -> Any:
    """JSON from UTF-8 bytes (a byte-order mark is allowed); problems as :class:`FileProblem` with line and column."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise FileProblem("not UTF-8 text", line, err.start - raw.rfind(b"\n", 0, err.start)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise FileProblem(err.msg, err.lineno, err.colno) from None
    except RecursionError:
        raise FileProblem("nested too deeply") from None


def read_json(path: Path, limit: int = MAX_FILE_BYTES) -> tuple[Any, bytes]:
    """A JSON file's data and its bytes."""
    raw = read_file(path, limit)
    return parse_json(raw), raw


def load_json(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> Any:
    """A JSON file's data, for tools reading a file named on their command line: OSError when it cannot be read,
    ValueError saying the line and column of a syntax error (a byte-order mark is allowed)."""
    try:
        return parse_json(read_file(path, limit))
    except FileProblem as err:
        raise ValueError(str(err)) from None


def unknown_keys(value: Any, known: tuple[str, ...] | frozenset[str], where: str) -> list[str]:
    """``where: unknown key 'k'`` for each key of an object that is not ``known`` (the original's tools write
    files by hand too: a misspelt key is said, not silently ignored)."""
    if not isinstance(value, dict):
        return []
    return [f"{where + ': ' if where else ''}unknown key '{key}'" for key in value if key not in known]
