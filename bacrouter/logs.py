"""Logging for the daemon: to stderr, with repeats folded.

procd sends stderr to syslog, which stamps each line itself; in a terminal
the lines carry their own timestamps. Input from the network or a field bus
can make one message repeat thousands of times a minute, which on a router
flushes ``logread``: identical records are let through once per window and
the next one after the window says how many were held back.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import OrderedDict, deque
from typing import Any

__all__ = ["setup_logging", "set_level", "RepeatFilter", "RecentLog", "recent", "UNDER_PROCD", "ALWAYS",
           "NEVER_FOLD"]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
          "critical": logging.CRITICAL}
#: a record with this attribute true passes the repeat filter: ``log.info(..., extra=NEVER_FOLD)``
ALWAYS = "always_log"
NEVER_FOLD = {ALWAYS: True}
#: set by the init script: syslog adds time and program name to every line
UNDER_PROCD = "BACROUTER_UNDER_PROCD"


class RepeatFilter(logging.Filter):
    """Let an identical record (logger, level, message, arguments) through once per ``window`` seconds.

    The first record after the window carries "(repeated N times)" for the
    ones held back. At most ``keys`` distinct messages are remembered.
    """

    def __init__(self, window: float = 60.0, keys: int = 512, clock: object = time.monotonic) -> None:
        super().__init__()
        self.window, self.keys, self.clock = window, keys, clock
        self._seen: OrderedDict[tuple[object, ...], list[float | int]] = OrderedDict()
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, ALWAYS, False):  # a record that reports an action (a reload) is never folded
            return True
        try:
            key = (record.name, record.levelno, str(record.msg), repr(record.args))
        except Exception:  # noqa: BLE001 - an odd argument's repr must not cost the record
            return True
        now = self.clock()  # type: ignore[operator]
        entry = self._seen.get(key)
        if entry is None or now - entry[0] >= self.window:
            held = int(entry[1]) if entry is not None else 0
            self._seen[key] = [now, 0]
            self._seen.move_to_end(key)
            while len(self._seen) > self.keys:
                self._seen.popitem(last=False)
            if held:
                record.msg = f"{record.msg} (repeated {held} times in the last {self.window:g} s)"
            return True
        entry[1] = int(entry[1]) + 1
        self.suppressed += 1
        return False


class RecentLog(logging.Handler):
    """The latest lines in memory, for the ``log`` control method (the panel's warnings and log view).

    Two bounded rings: every line from info up (``lines``), and warnings and
    errors alone (``warnings``), so a chatty hour of info lines does not push
    the last warning out. A line is stored formatted once, as a small dict.
    """

    def __init__(self, lines: int = 300, warnings: int = 100) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[dict[str, Any]] = deque(maxlen=lines)
        self.warnings: deque[dict[str, Any]] = deque(maxlen=warnings)
        self.addFilter(RepeatFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = {"t": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                     "message": record.getMessage()}
        except Exception:  # noqa: BLE001 - a bad format string: the stderr handler says so
            return
        self.lines.append(entry)
        if record.levelno >= logging.WARNING:
            self.warnings.append(entry)

    def query(self, level: str = "info", limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` lines at ``level`` or above, oldest first."""
        floor = LEVELS.get(level)
        if floor is None:
            raise ValueError(f"level is one of {', '.join(LEVELS)}")
        source = self.warnings if floor >= logging.WARNING else self.lines
        wanted = [e for e in source if LEVELS[e["level"]] >= floor] if floor > logging.INFO else list(source)
        return wanted[-limit:] if limit > 0 else []


#: the daemon's recent lines (setup_logging attaches it to the root logger)
recent = RecentLog()


def setup_logging(level: str = "info", timestamps: bool | None = None) -> None:
    """Log to stderr; ``timestamps`` default: yes unless the init script says procd is listening."""
    root = logging.getLogger()
    if not root.handlers:
        if timestamps is None:
            timestamps = not os.environ.get(UNDER_PROCD)
        handler = logging.StreamHandler(sys.stderr)
        layout = "%(levelname)s %(name)s: %(message)s"
        handler.setFormatter(logging.Formatter(f"%(asctime)s {layout}" if timestamps else layout))
        handler.addFilter(RepeatFilter())
        root.addHandler(handler)
        root.addHandler(recent)
    set_level(level)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(LEVELS.get(level, logging.INFO))
    # bacpypes3 is chatty at info; its warnings still come through
    logging.getLogger("bacpypes3").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
