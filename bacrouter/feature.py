"""What a feature (a gateway, later a transport) is to the daemon that composes it.

A feature kind is registered once in :mod:`bacrouter.registry`. It supplies
the schema of its configuration sections, how to load and check them, and how
to build the running feature; the running feature starts, applies a new
configuration as a difference, stops, and answers its control methods. The
daemon knows features only through this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config.model import Config, Problem
    from .net.host import DeviceHost

__all__ = ["Feature", "FeatureKind", "Summary", "MethodSpec", "new_summary", "describe"]

#: what a start, reload or stop did, by verb: {"started": ["modbus_slave 'boiler'", ...], ...}
Summary = dict[str, list[str]]
VERBS = ("started", "stopped", "restarted", "unchanged")


def new_summary() -> Summary:
    return {verb: [] for verb in VERBS}


def describe(summary: Summary) -> str:
    """One line for a reload: every part by what happened to it."""
    parts = [f"{verb}: {', '.join(summary[verb])}" for verb in VERBS if summary.get(verb)]
    return "; ".join(parts) or "nothing configured"


class Feature(Protocol):
    """A running feature."""

    async def start(self) -> Summary: ...

    async def apply(self, config: Config) -> Summary:
        """Switch to ``config``; restart only what changed; say what happened to each part."""
        ...

    def stop(self) -> None: ...

    def summary(self) -> dict[str, Any]:
        """A few numbers for the router's status."""
        ...


@dataclass(frozen=True)
class MethodSpec:
    """A control method a feature adds to the daemon's one method table."""

    name: str
    #: called with (the running feature or None, params)
    handler: Callable[[Any, dict[str, Any]], Awaitable[Any] | Any]
    doc: str
    #: its arguments, name → type ("string", "int", "bool", "double", "table", "array"): ubus's signature
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureKind:
    """One registry line: how to configure, check and run a feature."""

    name: str
    #: the UCI section classes it owns (light dataclasses: importing them imports no protocol library)
    sections: Callable[[], list[type]]
    #: does this configuration use the feature (only then is its code imported)
    configured: Callable[[Config], bool]
    #: load what the sections refer to (points files, bus definitions) into the model; problems found
    load: Callable[[Config, Path], list[Problem]]
    #: rules across its sections and the rest of the configuration
    check: Callable[[Config], list[Problem]]
    #: the running feature
    build: Callable[[Config, DeviceHost], Awaitable[Feature] | Feature]
    methods: Callable[[], list[MethodSpec]] = field(default=lambda: [])
