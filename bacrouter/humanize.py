"""Figures as people read them, the same in the command line and the panel."""

from __future__ import annotations

__all__ = ["duration"]


def duration(seconds: float | None) -> str:
    """``3d 4h 05m``, ``2h 07m``, ``5m 09s``; ``-`` for no value."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"
