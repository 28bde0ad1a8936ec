"""Events for the transports that publish them (ubus): the router and the gateways emit, the daemon connects.

The emitters know nothing of ubus: the node and the gateways hold an
:class:`Events` and call :meth:`Events.emit`; the daemon connects a listener
that passes each event on (the ubus transport sends ``bacrouter.<name>``).
With nobody connected an event costs a function call.

Events, with their data:

- ``port``: a port went ``up``, ``down`` or to ``fault``:
  ``{"port", "kind", "network", "state", "reason"}``
- ``device``: a gateway device went online or offline:
  ``{"gateway": "modbus"|"freeclient", "device", "online", "reason"}``
- ``reload``: a reload was applied or refused:
  ``{"ok", "summary"?, "problems"?}``
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Events", "Listener", "NO_EVENTS"]

log = logging.getLogger("bacrouter.events")

Listener = Callable[[str, dict[str, Any]], None]


class Events:
    """Listeners by connection order; a listener that raises is logged and the others still run."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def connect(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, name: str, data: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(name, data)
            except Exception:  # a transport's failure must not reach the port or gateway that emitted
                log.exception("event %s: a listener failed", name)


#: what a gateway without a host sink (a test's fake host) emits into: nobody listens
NO_EVENTS = Events()
