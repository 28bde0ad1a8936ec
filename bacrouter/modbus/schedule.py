"""What a Modbus master does next, sans-IO: the poll schedule, the write queue, offline logic.

One master serves its slaves one request at a time. Writes go first, in the
order they were made, each on its own. Reads refresh values by age: a read is
due ``update`` seconds after it last completed, and the most overdue read
goes next, so slaves share the line fairly whatever their intervals.

A slave that fails three requests in a row (no answer or a garbled one) is
offline: only one probe read goes out every ``offline`` seconds, and writes
for it wait. When the probe is answered the slave is online again and every
read is due at once; when all have been answered the slave is *refreshed*
(virtual devices reappear then). An exception response is an answer: it
never counts towards offline.

All times are monotonic seconds handed in by the caller. What to do next is an
action (:meth:`MasterSchedule.next_job`): a :class:`WriteJob`, a
:class:`ReadJob`, or :class:`~bacrouter.actions.Wait`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from ..actions import Wait  # re-exported: a master's jobs are WriteJob, ReadJob and Wait
from .plan import ReadPlanner, ReadRequest

__all__ = ["SlaveSchedule", "MasterSchedule", "WriteJob", "ReadJob", "Wait", "Job", "Outcome", "OFFLINE_AFTER", "HISTORY"]

OFFLINE_AFTER = 3  # consecutive failures
HISTORY = 100  # requests the fail rate is computed over


class Outcome:
    OK = "ok"
    EXCEPTION = "exception"  # the slave answered with an exception
    FAILED = "failed"  # no answer, a garbled one, or the line is down


@dataclass
class WriteJob:
    """One write for one slave; ``payload`` is the caller's (what to send and whom to tell).

    ``key`` names what is written (a point): while the slave is offline a newer
    write with the same key replaces the one waiting, so a slave coming back
    gets the last command, not the history of them."""

    slave: SlaveSchedule
    payload: Any
    key: Hashable | None = None


@dataclass(frozen=True, slots=True)
class ReadJob:
    """Read ``request`` from ``slave`` now."""

    slave: SlaveSchedule
    request: ReadRequest


#: what a master does next: write, read, or wait (for a time, or for a write to be queued)
Job = WriteJob | ReadJob | Wait


def _key(request: ReadRequest) -> Hashable:
    return (request.function, request.address, request.count)


@dataclass
class SlaveSchedule:
    name: str
    planner: ReadPlanner
    update: float  # seconds
    offline_interval: float  # seconds
    online: bool = True
    failures: int = 0  # consecutive
    next_probe: float = 0.0
    refreshed: bool = False  # every read answered since (re)start or coming back online
    writes: deque[WriteJob] = field(default_factory=deque)
    last_read: dict[Hashable, float] = field(default_factory=dict)
    lateness: dict[Hashable, float] = field(default_factory=dict)
    history: deque[bool] = field(default_factory=lambda: deque(maxlen=HISTORY))
    requests: int = 0
    failed: int = 0
    exceptions: int = 0
    went_offline: int = 0

    # ------------------------------------------------------------------ what is due

    def next_read(self) -> tuple[float, ReadRequest] | None:
        """(due time, request) of the most overdue read, or the probe while offline."""
        plan = self.planner.plan()
        if not plan:
            return None
        if not self.online:  # probe with each read in turn: a device may ignore one of them
            return self.next_probe, plan[self.failed % len(plan)]
        best: tuple[float, ReadRequest] | None = None
        for request in plan:
            last = self.last_read.get(_key(request))
            due = float("-inf") if last is None else last + self.update
            if best is None or due < best[0]:
                best = (due, request)
        return best

    # ------------------------------------------------------------------ results

    def read_done(self, request: ReadRequest, outcome: str, now: float) -> list[str]:
        """Account for a read; returns events: ``offline``, ``online``, ``refreshed``."""
        events = self.count(outcome, now)
        if outcome == Outcome.FAILED:
            return events
        key = _key(request)
        last = self.last_read.get(key)
        if last is not None:
            self.lateness[key] = max(0.0, now - last - self.update)
        self.last_read[key] = now
        if not self.refreshed and all(_key(r) in self.last_read for r in self.planner.plan()):
            self.refreshed = True
            events.append("refreshed")
        return events

    def count(self, outcome: str, now: float) -> list[str]:
        """Account for any request (reads, writes); returns ``offline`` / ``online`` events."""
        self.requests += 1
        self.history.append(outcome != Outcome.OK)
        events: list[str] = []
        if outcome == Outcome.FAILED:
            self.failed += 1
            self.failures += 1
            if self.online and self.failures >= OFFLINE_AFTER:
                self.online = False
                self.refreshed = False
                self.went_offline += 1
                events.append("offline")
            if not self.online:
                self.next_probe = now + self.offline_interval
            return events
        if outcome == Outcome.EXCEPTION:
            self.exceptions += 1
        self.failures = 0
        if not self.online:
            self.online = True
            self.last_read.clear()  # everything is due: the values are as old as the outage
            self.lateness.clear()
            events.append("online")
        return events

    def replanned(self) -> None:
        """The planner split a request: forget reads that no longer exist."""
        keys = {_key(r) for r in self.planner.plan()}
        for table in (self.last_read, self.lateness):
            for key in [k for k in table if k not in keys]:
                del table[key]

    # ------------------------------------------------------------------ statistics

    @property
    def fail_rate(self) -> float:
        """Percentage of the last HISTORY requests that failed or were refused."""
        return 100.0 * sum(self.history) / len(self.history) if self.history else 0.0

    @property
    def update_delay(self) -> float:
        """How far behind its update interval the slave's slowest read is, in seconds."""
        return max(self.lateness.values(), default=0.0)


class MasterSchedule:
    """Picks the next job of one master among its slaves."""

    def __init__(self, slaves: list[SlaveSchedule], write_limit: int = 1000) -> None:
        self.slaves = slaves
        self.write_limit = write_limit
        self.dropped_writes = 0
        self._order: deque[WriteJob] = deque()  # writes in the order they were made

    def queue_write(self, job: WriteJob) -> None:
        if job.key is not None and not job.slave.online:
            for waiting in job.slave.writes:
                if waiting.key == job.key:
                    waiting.payload = job.payload
                    return
        if len(self._order) >= self.write_limit:
            oldest = self._order.popleft()
            oldest.slave.writes.remove(oldest)
            self.dropped_writes += 1
        self._order.append(job)
        job.slave.writes.append(job)

    def remove(self, slave: SlaveSchedule) -> None:
        """A slave leaves the master (a reload removed or restarted it): its waiting writes are dropped."""
        if slave in self.slaves:
            self.slaves.remove(slave)
        if slave.writes:
            self._order = deque(job for job in self._order if job.slave is not slave)
            slave.writes.clear()

    def next_job(self, now: float) -> Job:
        """The one thing to do next: a :class:`WriteJob`, a :class:`ReadJob`, or
        :class:`Wait` until something falls due (``until`` None: nothing ever will, wait for a write).

        (One action, not a list: the master has one request out at a time.)"""
        for job in self._order:
            if job.slave.online:
                self._order.remove(job)
                job.slave.writes.remove(job)
                return job
        best: tuple[float, SlaveSchedule, ReadRequest] | None = None
        for slave in self.slaves:
            due = slave.next_read()
            if due is not None and (best is None or due[0] < best[0]):
                best = (due[0], slave, due[1])
        if best is None:
            return Wait(None)
        if best[0] <= now:
            return ReadJob(best[1], best[2])
        return Wait(best[0])

    @property
    def pending_writes(self) -> int:
        return len(self._order)
