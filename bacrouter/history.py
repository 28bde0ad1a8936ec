"""The last hour of the router's vital signs, for the panel's graphs.

Every ``INTERVAL`` seconds the daemon hands :meth:`History.sample` its status
(the one ``status`` answers) and its port list (``ports``); the history keeps
rates, not counters, in a ring of ``SAMPLES`` entries: per port the NPDUs per
second in and out, per MS/TP port the token rotation time, and the Modbus and
Free Client fail rates (failed requests of the interval, in percent). The
``history`` control method answers :meth:`History.snapshot`.

It costs one small dict per sample (a few hundred bytes with a handful of
ports): 360 samples stay well under a megabyte.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

__all__ = ["History", "INTERVAL", "SAMPLES"]

INTERVAL = 10.0
SAMPLES = 360


def _fail_rate(now: dict[str, Any] | None, before: dict[str, Any] | None, total: str) -> float | None:
    """Failed requests of the interval in percent; None when there were none (or no gateway)."""
    if not now or not before or total not in now or total not in before:
        return None
    asked = now[total] - before[total]
    if asked <= 0:
        return None
    return round(100.0 * max(0, now["failed"] - before["failed"]) / asked, 1)


class History:
    def __init__(self, samples: int = SAMPLES, interval: float = INTERVAL, clock: Any = time.time) -> None:
        self.interval, self.clock = interval, clock
        self.samples: deque[dict[str, Any]] = deque(maxlen=samples)
        self._last: dict[str, Any] | None = None  # counters at the previous sample

    def sample(self, status: dict[str, Any], ports: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Take one sample; the first only notes the counters (a rate needs two)."""
        now = self.clock()
        counters = {
            "t": now,
            "ports": {p["name"]: (p.get("npdus_in", 0), p.get("npdus_out", 0)) for p in ports},
            "modbus": status.get("modbus"),
            "freeclient": status.get("freeclient"),
        }
        last, self._last = self._last, counters
        if last is None:
            return None
        span = now - last["t"]
        if span <= 0:
            return None
        entry: dict[str, Any] = {"t": round(now, 1), "ports": {}}
        for port in ports:
            name = port["name"]
            before = last["ports"].get(name)
            got, sent = counters["ports"][name]
            if before is None or got < before[0] or sent < before[1]:  # new, or restarted: no rate this time
                rates: dict[str, Any] = {"in": None, "out": None}
            else:
                rates = {"in": round((got - before[0]) / span, 2), "out": round((sent - before[1]) / span, 2)}
            rotation = (port.get("link") or {}).get("token_rotation_ms") if port.get("kind") == "mstp" else None
            if rotation is not None:
                rates["rotation_ms"] = rotation
            entry["ports"][name] = rates
        entry["modbus_fail_pct"] = _fail_rate(counters["modbus"], last["modbus"], "requests")
        entry["freeclient_fail_pct"] = _fail_rate(counters["freeclient"], last["freeclient"], "transactions")
        self.samples.append(entry)
        return entry

    def snapshot(self, since: float | None = None) -> dict[str, Any]:
        """The samples (oldest first), or those after ``since`` (a time from an earlier answer)."""
        samples = list(self.samples) if since is None else [s for s in self.samples if s["t"] > since]
        return {"interval_s": self.interval, "capacity": self.samples.maxlen, "samples": samples}
