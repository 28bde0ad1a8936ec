"""The panel's memory over years: large buffers go back to the system when they are freed.

A page of 1,000 points or an export builds megabytes for a moment. glibc's
malloc raises its mmap threshold after each large free (up to 32 MB), so the
next large buffers come from the heap and stay with the process once freed:
the panel grew by 10 MB after one look at a big slave, and never shrank.
With the threshold fixed at 64 KiB, buffers that large are mapped and
unmapped on their own; :func:`give_back` trims what the heap keeps free.

Only glibc has these knobs. musl (OpenWrt) maps large buffers and returns
them by itself, and there the functions do nothing.
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["keep_heap_small", "give_back"]

log = logging.getLogger("bacrouter.panel")

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 64 << 10
TRIM_THRESHOLD = 128 << 10


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: the C library Python runs on
        libc.mallopt  # noqa: B018 - glibc's, absent from musl
        libc.malloc_trim  # noqa: B018
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def keep_heap_small() -> bool:
    """Fix glibc's mmap and trim thresholds (at start, before the threads); False where there is no glibc."""
    if _LIBC is None:
        return False
    done = bool(_LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        _LIBC.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not done:
        log.debug("mallopt refused the thresholds")
    return done


def give_back() -> None:
    """Return the heap's free memory to the system (glibc); nothing elsewhere."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
