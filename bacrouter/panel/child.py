"""Work that needs much memory for a moment, done in a forked child of the panel.

Loading a configuration with 10,000 points takes 10-20 MB; Python keeps most
of what it freed, so a panel that exports or checks once would stay that much
bigger for the years it runs on a router. In a child, the memory goes when
the child exits; the answer comes back pickled through a pipe.

The child only reads files and computes: it takes no lock another thread of
the panel may hold (Python resets logging's and the import lock after a fork)
and leaves with ``os._exit``, running nothing of the parent's. Where there is
no fork, the work runs in the panel.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["ChildFailed", "in_child"]

log = logging.getLogger("bacrouter.panel")

T = TypeVar("T")


class ChildFailed(Exception):
    """The work raised, was killed, or did not finish in time (the message says which)."""


def in_child(work: Callable[[], T], timeout: float = 120.0) -> T:
    """``work()`` in a forked child; its answer, or ChildFailed."""
    if not hasattr(os, "fork"):
        return work()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, and leave without running anything of the parent's
        status = 1
        try:
            os.close(reader)
            payload = pickle.dumps(work())
            with os.fdopen(writer, "wb") as out:
                out.write(payload)
            status = 0
        except BaseException:
            log.exception("work in a child of the panel failed")
        finally:
            os._exit(status)
    os.close(writer)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        with os.fdopen(reader, "rb", buffering=0) as answer:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([answer], [], [], left)[0]:
                    os.kill(pid, signal.SIGKILL)
                    raise ChildFailed(f"it did not finish in {int(timeout)} s")
                chunk = answer.read(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        _, status = os.waitpid(pid, 0)
    if status != 0 or not chunks:
        raise ChildFailed("it failed (the panel's log says why)")
    result: T = pickle.loads(b"".join(chunks))  # from our own child: trusted
    return result
