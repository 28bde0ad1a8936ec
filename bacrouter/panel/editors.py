"""Where a problem of the configuration is edited: a registry of section type → editor link.

Save & Apply lists the loader's problems; each one whose section has an
editor links to it, at its field. Page modules register their section types
when they register their routes (``panel.editors[type] = link``), so the
changes page knows no editor in particular. A problem of no section (a
conversion script's) is found by the folder of its file in the data
directory: the key ``conversions/``, called with the file's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from ..config.model import Problem

__all__ = ["EditorLink", "field_link", "option_link", "section_of"]

#: (section name, problem) → the editor's URL (with the field's anchor), or None when it has no place for it
EditorLink = Callable[[str, Problem], "str | None"]

_SECTION = re.compile(r"(\w+) '([A-Za-z0-9_]+)'")


def section_of(problem: Problem) -> tuple[str, str] | None:
    """(section type, section name) of a problem's section label (``bip 'one'``), or None."""
    found = _SECTION.fullmatch(problem.section or "")
    return (found.group(1), found.group(2)) if found else None


def option_link(base: str) -> EditorLink:
    """The link of an editor at ``base/NAME`` with a field per option (``#field-OPTION``)."""

    def link(name: str, problem: Problem) -> str:
        return f"{base}/{name}" + (f"#field-{problem.option}" if problem.option else "")

    return link


def field_link(editors: dict[str, EditorLink], problem: Any) -> str | None:
    """The editor (and field anchor) ``problem`` belongs to, when one is registered for its section type."""
    found = section_of(problem)
    if found is None and problem.file:
        file = PurePosixPath(problem.file)
        found = (file.parent.name + "/", file.name)
    if found is None or found[0] not in editors:
        return None
    return editors[found[0]](found[1], problem)
