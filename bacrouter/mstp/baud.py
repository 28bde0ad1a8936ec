"""Baud rate management of an MS/TP port: fixed, auto, forced (seeds, "Fixed/Auto/Forced baudrate").

- fixed: the configured rate, always.
- auto: start on the configured rate; after 10 invalid frames in a row, listen
  to each candidate rate in turn until a valid frame is heard, and stay there.
  While it listens the node keeps quiet, so it never disturbs a bus it cannot
  understand.
- forced: like auto, but whenever the node holds the token on another rate it
  switches to the configured one, dragging auto-baud devices along with it.

Sans-IO: methods return the rate to switch to, or None.
"""

from __future__ import annotations

import logging

__all__ = ["BaudManager", "CANDIDATES", "ERRORS_BEFORE_DETECTION"]

log = logging.getLogger("bacrouter.mstp.baud")

CANDIDATES = (9600, 19200, 38400, 57600, 76800, 115200)
ERRORS_BEFORE_DETECTION = 10
#: how long to listen on one candidate: a live bus passes a token well within Tno_token
DWELL = 0.6


class BaudManager:
    def __init__(self, mode: str, configured: int, dwell: float = DWELL) -> None:
        if mode not in ("fixed", "auto", "forced"):
            raise ValueError(f"unknown baud mode {mode!r}")
        self.mode = mode
        self.configured = configured
        self.current = configured
        self.dwell = dwell
        self.detecting = False
        self.errors = 0
        self.switches = 0
        self._order: list[int] = []
        self._until = 0.0

    @property
    def quiet(self) -> bool:
        """True while detecting: the node must not transmit."""
        return self.detecting

    def valid_frame(self, now: float) -> None:
        self.errors = 0
        if self.detecting:
            self.detecting = False
            log.info("baud rate detected: %d", self.current)

    def invalid_frame(self, now: float) -> int | None:
        if self.mode == "fixed" or self.detecting:
            return None
        self.errors += 1
        if self.errors < ERRORS_BEFORE_DETECTION:
            return None
        log.warning("%d invalid frames in a row at %d baud: detecting the bus rate", self.errors, self.current)
        self.detecting = True
        self.errors = 0
        start = CANDIDATES.index(self.current) if self.current in CANDIDATES else -1
        self._order = [CANDIDATES[(start + i) % len(CANDIDATES)] for i in range(1, len(CANDIDATES) + 1)]
        return self._next(now)

    def poll(self, now: float) -> int | None:
        if self.detecting and now >= self._until:
            if not self._order:
                # nobody talks at any rate: perhaps we are alone; go back to ours and speak again
                self.detecting = False
                log.info("no traffic at any rate: back to %d baud", self.configured)
                return self._set(self.configured)
            return self._next(now)
        return None

    def token(self, now: float) -> int | None:
        """We hold the token: a forced port takes the bus to its rate now."""
        if self.mode == "forced" and self.current != self.configured:
            log.info("forcing the bus from %d to %d baud", self.current, self.configured)
            return self._set(self.configured)
        return None

    def deadline(self) -> float | None:
        return self._until if self.detecting else None

    def _next(self, now: float) -> int:
        self._until = now + self.dwell
        return self._set(self._order.pop(0))

    def _set(self, baud: int) -> int:
        if baud != self.current:
            self.switches += 1
        self.current = baud
        return baud

    def status(self) -> dict[str, object]:
        return {"mode": self.mode, "configured": self.configured, "current": self.current,
                "state": "detecting" if self.detecting else "locked", "switches": self.switches}
