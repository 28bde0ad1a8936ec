"""When a failed Free Client bus runs again: back-off after script errors, without I/O or a clock of its own.

A script bug that fires once a day must not take a building's meters off line
until someone visits, nor may a script that fails at once spin. The first
restart comes :data:`FIRST` seconds after a failure, each failure soon after
a restart doubles the wait up to :data:`LONGEST`, and a bus that then runs
:data:`QUIET` seconds without a failure starts again from :data:`FIRST`.
The caller hands in its clock's readings (the event loop's time), so the
policy is tested on a simulated clock.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RestartPolicy", "FIRST", "LONGEST", "QUIET"]

FIRST = 10.0  # seconds from the first failure to its restart
LONGEST = 600.0  # the longest wait: 10 s doubling reaches it after 6 failures in a row
QUIET = 3600.0  # running this long since the last restart without a failure resets the wait


@dataclass
class RestartPolicy:
    """The restart plan of one bus: give it each failure's time, get the time to restart it."""

    first: float = FIRST
    longest: float = LONGEST
    quiet: float = QUIET
    failures: int = 0  # every failure since the bus was built
    last_error: str = ""
    last_error_at: float | None = None
    restart_at: float | None = None  # when the bus is to run again; None while it runs
    _delay: float = 0.0  # the wait planned after the last failure
    _restarted_at: float | None = None

    def failed(self, now: float, reason: str = "") -> float:
        """A failure at ``now``: the time at which to restart the bus."""
        calm = self._restarted_at is None or now - self._restarted_at >= self.quiet
        self._delay = self.first if calm or not self._delay else min(self._delay * 2, self.longest)
        self.failures += 1
        self.last_error, self.last_error_at = reason, now
        self.restart_at = now + self._delay
        return self.restart_at

    def restarted(self, now: float) -> None:
        """The bus runs again (from ``now``)."""
        self._restarted_at, self.restart_at = now, None

    def status(self, now: float) -> dict[str, object]:
        """For a bus's status: the failures counted, the last error, and the seconds until the next restart."""
        return {"failures": self.failures, "last_error": self.last_error,
                "last_error_ago": None if self.last_error_at is None else round(now - self.last_error_at, 1),
                "next_restart_in": None if self.restart_at is None else round(max(0.0, self.restart_at - now), 1)}
