"""Token buckets fed timestamps: how much of a flood a core lets through (sans-IO).

A :class:`TokenBucket` holds up to ``burst`` tokens and gains ``rate`` a
second; each message takes one. A :class:`KeyedLimit` keeps a bucket per key
(a source address) and one for all keys together, so one noisy station is held
to its share and many (or made-up) stations together to the total. Nothing
here reads a clock: the caller passes ``now``, so limits are tested on
simulated time.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["TokenBucket", "KeyedLimit"]


class TokenBucket:
    """``rate`` messages a second, ``burst`` at once."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float = 0.0) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = now

    def refill(self, now: float) -> float:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens

    def allow(self, now: float, cost: float = 1.0) -> bool:
        if self.refill(now) >= cost:
            self.tokens -= cost
            return True
        return False


class KeyedLimit:
    """A bucket per key and one for them all.

    ``allow`` answers None when the message may pass, else ``"source"`` (the
    key's share is spent) or ``"total"`` (everyone's is). At most ``max_keys``
    buckets are kept: past that, full (idle) ones are forgotten first, and if
    all are busy, all are (made-up sources could otherwise grow the table
    without end; the total still holds them).
    """

    def __init__(self, rate: float, burst: float, total_rate: float, total_burst: float,
                 max_keys: int = 1024) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self.total = TokenBucket(total_rate, total_burst)
        self.buckets: dict[Hashable, TokenBucket] = {}

    def allow(self, key: Hashable, now: float, total: bool = True) -> str | None:
        """May a message from ``key`` pass (``total``: and count against everyone's share)?"""
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self._prune(now)
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst, now)
        if bucket.refill(now) < 1.0:
            return "source"
        if total and not self.total.allow(now):
            return "total"
        bucket.tokens -= 1.0
        return None

    def _prune(self, now: float) -> None:
        idle = [k for k, b in self.buckets.items() if b.refill(now) >= b.burst]
        for key in idle:
            del self.buckets[key]
        if len(self.buckets) >= self.max_keys:
            self.buckets.clear()
