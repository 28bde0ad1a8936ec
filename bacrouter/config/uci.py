"""UCI configuration files: a reader and writer faithful to OpenWrt's libuci.

The tokenizer is a port of libuci's ``file.c`` parser (``parse_str``,
``next_arg``, ``uci_parse_line``) working on a byte buffer the way the C code
does, so that the odd corners (a ``#`` inside an unquoted word ends the line,
``'it''s'`` concatenates, a backslash at the end of a line continues it, a
quoted value may span lines) come out the same.
The parser runs in libuci's default strict mode: any error rejects the file.
``option x ''`` is ignored, as libuci does when it loads a file.

Anonymous sections are named like libuci does (``cfgNNHHHH``: the section's
position in the package and a djb hash of its type) so ``@type[i]`` and the
generated names match what ``uci show -X`` prints on the device.

The writer produces ``uci commit``'s canonical form and replaces the file
atomically (temporary file, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import TextError
from .files import FileProblem, read_file

__all__ = [
    "UciError",
    "UciSection",
    "UciPackage",
    "parse",
    "load",
    "dumps",
    "dump_bytes",
    "save",
    "show",
    "write_atomic",
]


class UciError(TextError):
    """A syntax error in a UCI file, with the file, line and column."""


OptionValue = str | list[str]


@dataclass
class UciSection:
    type: str
    name: str
    anonymous: bool = False
    options: dict[str, OptionValue] = field(default_factory=dict)
    #: line where the section starts and where each option was (last) set
    line: int = 0
    option_lines: dict[str, int] = field(default_factory=dict)

    def get(self, option: str, default: OptionValue | None = None) -> OptionValue | None:
        return self.options.get(option, default)

    def get_list(self, option: str) -> list[str]:
        """An option as a list: a plain option counts as a one-item list."""
        value = self.options.get(option)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]


@dataclass
class UciPackage:
    name: str
    sections: list[UciSection] = field(default_factory=list)
    path: str = ""
    #: libuci's n_section: sections ever added; it only grows, so an anonymous name is never reused
    counter: int = 0

    def __iter__(self) -> Iterator[UciSection]:
        return iter(self.sections)

    def of_type(self, type_: str) -> list[UciSection]:
        return [s for s in self.sections if s.type == type_]

    def section(self, ref: str) -> UciSection | None:
        """Look a section up by name or by libuci's extended ``@type[index]`` syntax."""
        if ref.startswith("@"):
            match = _EXT_SECTION.fullmatch(ref)
            if not match:
                raise KeyError(f"invalid section reference {ref!r}")
            type_, index = match.group(1), int(match.group(2))
            candidates = [s for s in self.sections if not type_ or s.type == type_]
            if index < 0:
                index += len(candidates)
            return candidates[index] if 0 <= index < len(candidates) else None
        for section in self.sections:
            if section.name == ref:
                return section
        return None

    def add(self, type_: str, name: str | None = None) -> UciSection:
        """Append a section (anonymous when ``name`` is None), like ``uci add``/``uci set``."""
        if name:
            if not validate_name(name):
                raise ValueError(f"invalid section name {name!r}")
            existing = self.section(name)
            if existing is not None:
                existing.type = type_
                return existing
        if not validate_type(type_):
            raise ValueError(f"invalid section type {type_!r}")
        self.counter += 1
        section = UciSection(
            type=type_,
            name=name or anonymous_name(self.counter, type_),
            anonymous=not name,
        )
        self.sections.append(section)
        return section

    def remove(self, name: str) -> None:
        self.sections = [s for s in self.sections if s.name != name]


_EXT_SECTION = re.compile(r"@([^\[\]]*)\[(-?[0-9]+)\]")


def _djbhash(hash_: int, text: str) -> int:
    if hash_ == 0xFFFFFFFF:
        hash_ = 5381
    for byte in text.encode():
        # libuci adds a (signed on most targets) char; types are ASCII, so no difference
        hash_ = (hash_ * 33 + byte) & 0xFFFFFFFF
    return hash_ & 0x7FFFFFFF


def anonymous_name(position: int, type_: str) -> str:
    """libuci's name for the anonymous section at ``position`` (1-based) of type ``type_``."""
    return "cfg%02x%04x" % (position, _djbhash(0xFFFFFFFF, type_) % (1 << 16))


def validate_name(text: str) -> bool:
    """Section and option names: letters, digits and underscore only."""
    return bool(text) and all(c.isascii() and (c.isalnum() or c == "_") for c in text)


def validate_type(text: str) -> bool:
    """Section types: also any printable ASCII character other than space."""
    return bool(text) and all((c.isascii() and c.isalnum()) or c == "_" or 33 <= ord(c) <= 126 for c in text)


def validate_package(text: str) -> bool:
    return bool(text) and all(c.isascii() and (c.isalnum() or c in "_-") for c in text)


# --------------------------------------------------------------------------- parser

_SPACE = frozenset(b" \t\n\r\v\f")


class _Parser:
    """State of libuci's ``uci_parse_context``: one line buffer and a position."""

    def __init__(self, text: bytes, path: str):
        # fgets(): only LF ends a line (a bare CR is an ordinary blank character to libuci)
        self.lines = text.split(b"\n")
        self.lines = [line + b"\n" for line in self.lines[:-1]] + ([self.lines[-1]] if self.lines[-1] else [])
        self.next_line = 0
        self.path = path
        self.buf = bytearray()
        self.pos = 0
        self.line = 0  # number of the line the buffer's current part came from
        self.line_start = 0  # buffer offset where that line starts
        self.package = UciPackage(name="")
        self.section: UciSection | None = None
        self.count = 0  # libuci's n_section

    # -- buffer access; reading past the end yields NUL like the C string does
    def char(self, index: int) -> int:
        return self.buf[index] if index < len(self.buf) else 0

    def cur(self) -> int:
        return self.char(self.pos)

    def set_char(self, index: int, value: int) -> None:
        if index < len(self.buf):
            self.buf[index] = value

    def string_at(self, index: int) -> str:
        end = self.buf.find(0, index)
        raw = bytes(self.buf[index : end if end >= 0 else len(self.buf)])
        return raw.decode("utf-8", errors="surrogateescape")

    def getln(self, offset: int) -> bool:
        """Replace the buffer from ``offset`` with the next input line (``uci_getln``)."""
        del self.buf[offset:]
        if self.next_line >= len(self.lines):
            return False
        self.buf += self.lines[self.next_line]
        self.next_line += 1
        self.line = self.next_line
        self.line_start = offset
        return True

    def error(self, reason: str, at: int | None = None, where: tuple[int, int] | None = None) -> UciError:
        line, column = where or (self.line, max((self.pos if at is None else at) - self.line_start, 0) + 1)
        text = ""
        if 0 < line <= len(self.lines):
            text = self.lines[line - 1].decode("utf-8", "replace").rstrip("\r\n")
        return UciError(reason, path=self.path, line=line, column=column, text=text)

    def here(self) -> tuple[int, int]:
        return self.line, self.pos - self.line_start + 1

    # -- tokenizer (file.c)
    def parse_backslash(self) -> bool:
        self.pos += 1
        c = self.cur()
        if c == 0 or c == 0x0A or (c == 0x0D and self.char(self.pos + 1) == 0x0A and self.char(self.pos + 2) == 0):
            self.getln(self.pos)
            return False
        return True

    def addc(self, target: list[int]) -> None:
        self.buf[target[0]] = self.buf[self.pos]
        target[0] += 1
        self.pos += 1

    def parse_double_quote(self, target: list[int]) -> None:
        opened = self.here()
        self.pos += 1
        while True:
            c = self.cur()
            if c == 0x22:
                self.pos += 1
                return
            if c == 0:
                self.getln(self.pos)
                if not self.cur():
                    raise self.error('EOF with unterminated "', where=opened)
                continue
            if c == 0x5C and not self.parse_backslash():
                continue
            self.addc(target)

    def parse_single_quote(self, target: list[int]) -> None:
        opened = self.here()
        self.pos += 1
        while True:
            c = self.cur()
            if c == 0x27:
                self.pos += 1
                return
            if c == 0:
                self.getln(self.pos)
                if not self.cur():
                    raise self.error("EOF with unterminated '", where=opened)
                continue
            self.addc(target)

    def parse_str(self, target: list[int]) -> None:
        keep_going = True
        while True:
            c = self.cur()
            if c == 0x27:
                self.parse_single_quote(target)
            elif c == 0x22:
                self.parse_double_quote(target)
            elif c == 0x23:  # '#': the rest of the line is a comment
                self.set_char(self.pos, 0)
                break
            elif c == 0:
                break
            elif c == 0x3B:  # ';' ends the command
                keep_going = False
                break
            elif c == 0x5C:
                if self.parse_backslash():
                    self.addc(target)
            else:
                self.addc(target)
            c = self.cur()
            if not c or c in _SPACE:
                break
        if self.cur() and keep_going:
            self.pos += 1
        if target[0] < len(self.buf):
            self.buf[target[0]] = 0
        else:
            self.buf.append(0)

    def skip_whitespace(self) -> None:
        while self.cur() and self.cur() in _SPACE:
            self.pos += 1

    def next_arg(self, required: bool, name: bool, package: bool) -> str:
        self.skip_whitespace()
        start = self.pos
        if self.cur() == 0x3B:
            self.set_char(self.pos, 0)
            self.pos += 1
        else:
            self.parse_str([start])
        value = self.string_at(start)
        if not value:
            if required:
                raise self.error("insufficient arguments")
            return ""
        if name:
            valid = validate_package(value) if package else validate_name(value)
            if not valid:
                raise self.error("invalid character in name field", at=start)
        return value

    def assert_eol(self) -> None:
        self.skip_whitespace()
        start = self.pos
        if self.next_arg(False, False, False):
            raise self.error("too many arguments", at=start)

    # -- commands
    def skip_word(self, word_len: int, reason: str) -> None:
        # the command word was NUL-terminated by strtok; move past it
        if self.pos + word_len + 1 > len(self.buf):
            raise self.error(reason)
        self.pos += word_len + 1

    def parse_config(self, word_len: int) -> None:
        self.skip_word(word_len, "config without name")
        start = self.pos
        type_ = self.next_arg(True, False, False)
        if not validate_type(type_):
            raise self.error("invalid character in type field", at=start)
        name = self.next_arg(False, True, False)
        self.assert_eol()
        line = self.line
        if not name:
            self.count += 1
            section = UciSection(type=type_, name=anonymous_name(self.count, type_), anonymous=True, line=line)
            self.package.sections.append(section)
        else:
            section = self.package.section(name)
            if section is not None:
                if section.type != type_:
                    raise self.error("section of different type overwrites prior section with same name")
            else:
                self.count += 1
                section = UciSection(type=type_, name=name, line=line)
                self.package.sections.append(section)
        self.section = section

    def parse_option(self, word_len: int, is_list: bool) -> None:
        if self.section is None:
            raise self.error("option/list command found before the first section")
        self.skip_word(word_len, "option without name")
        name = self.next_arg(True, True, False)
        value = self.next_arg(False, False, False)
        self.assert_eol()
        options = self.section.options
        if is_list:
            current = options.get(name)
            if isinstance(current, list):
                current.append(value)
            else:
                items = [current, value] if isinstance(current, str) else [value]
                options.pop(name, None)
                options[name] = items
        elif not value:
            # uci_set() with an empty value would delete the option, but only after a
            # completed lookup, which the parser never does: libuci ignores the line
            return
        else:
            options[name] = value  # set again: it keeps its place (libuci 2022-11 and later)
        self.section.option_lines[name] = self.line

    def parse_package(self, word_len: int) -> None:
        self.skip_word(word_len, "package without name")
        self.next_arg(True, True, True)
        self.assert_eol()

    def parse_line(self) -> None:
        self.skip_whitespace()
        while True:
            # strtok(cur, " \t"): skip delimiters, take the word, NUL-terminate it
            start = self.pos
            while self.char(start) in (0x20, 0x09):
                start += 1
            if not self.char(start):
                return
            end = start
            while self.char(end) and self.char(end) not in (0x20, 0x09):
                end += 1
            word = bytes(self.buf[start:end])
            word_len = end - self.pos
            self.set_char(end, 0)
            first, rest = word[:1], word[1:]
            if first == b"#":
                return
            if first == b"p" and rest in (b"", b"ackage"):
                self.parse_package(word_len)
            elif first == b"c" and rest in (b"", b"onfig"):
                self.parse_config(word_len)
            elif first == b"o" and rest in (b"", b"ption"):
                self.parse_option(word_len, False)
            elif first == b"l" and rest in (b"", b"ist"):
                self.parse_option(word_len, True)
            else:
                raise self.error("invalid command")

    def run(self) -> UciPackage:
        while self.getln(0):
            self.pos = 0
            if self.buf:
                self.parse_line()
        return self.package


def parse(text: str | bytes, name: str = "", path: str = "") -> UciPackage:
    """Parse UCI text into a package; raise :class:`UciError` on any syntax error."""
    data = text.encode() if isinstance(text, str) else text
    parser = _Parser(data, path)
    package = parser.run()
    package.name = name
    package.path = path
    package.counter = parser.count
    return package


def load(path: str | os.PathLike[str]) -> UciPackage:
    """Parse a UCI file; FileNotFoundError when it is missing, UciError for anything else wrong with it."""
    path = os.fspath(path)
    try:
        data = read_file(path)
    except FileProblem as err:
        raise UciError(err.message, path=path) from None
    return parse(data, name=os.path.basename(path), path=path)


# --------------------------------------------------------------------------- writer


def _escape(text: str) -> str:
    return text.replace("'", "'\\''")


def dumps(package: UciPackage) -> str:
    """The package in ``uci commit``'s canonical form (as text; see :func:`dump_bytes` for the file)."""
    out: list[str] = []
    for section in package.sections:
        out.append(f"\nconfig {_escape(section.type)}")
        if not section.anonymous:
            out.append(f" '{_escape(section.name)}'")
        out.append("\n")
        for option, value in section.options.items():
            if isinstance(value, list):
                for item in value:
                    out.append(f"\tlist {_escape(option)} '{_escape(item)}'\n")
            else:
                out.append(f"\toption {_escape(option)} '{_escape(value)}'\n")
    out.append("\n")
    return "".join(out)


def write_atomic(path: str | os.PathLike[str], data: str | bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a mix.

    The new file keeps the old one's permissions (or ``mode``); a crash at any
    point leaves either the old file or the complete new one.
    """
    target = Path(path)
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _show_value(text: str) -> str:
    return "'" + _escape(text) + "'"


def show(package: UciPackage, export_names: bool = False) -> str:
    """The package as ``uci show`` prints it (``uci -X show`` with ``export_names``)."""
    out: list[str] = []
    index: dict[str, int] = {}
    for section in package.sections:
        if section.anonymous and not export_names:
            position = index.get(section.type, 0)
            index[section.type] = position + 1
            ref = f"@{section.type}[{position}]"
        else:
            ref = section.name
            index[section.type] = index.get(section.type, 0) + 1
        out.append(f"{package.name}.{ref}={section.type}\n")
        for option, value in section.options.items():
            shown = " ".join(_show_value(v) for v in value) if isinstance(value, list) else _show_value(value)
            out.append(f"{package.name}.{ref}.{option}={shown}\n")
    return "".join(out)


def dump_bytes(package: UciPackage) -> bytes:
    """The file's bytes: octets that are not UTF-8 (read with surrogateescape) are written back as they were."""
    return dumps(package).encode("utf-8", "surrogateescape")


def save(package: UciPackage, path: str | os.PathLike[str] | None = None) -> None:
    write_atomic(path or package.path, dump_bytes(package))
