"""The panel's only way to the router: the control methods on the daemon's socket.

No daemon (or no answer) is not an error for the panel: it is the offline
configuration tool then, and runtime pages say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..control_client import ControlError, call

__all__ = ["Daemon", "Offline"]


class Offline(Exception):
    """The router is not running (or does not answer on its control socket)."""


class Daemon:
    def __init__(self, socket: Path, timeout: float = 5.0) -> None:
        self.socket, self.timeout = socket, timeout

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Call a control method; Offline when nobody answers, ControlError when the method refuses."""
        try:
            return call(self.socket, method, params, timeout or self.timeout)
        except ControlError as err:
            if err.code in ("closed", "busy"):
                raise Offline(err.message) from None
            raise
        except (OSError, ValueError) as err:  # no socket, refused, timed out, a garbled answer
            raise Offline(str(err) or type(err).__name__) from None
