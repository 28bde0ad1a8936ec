"""Long control calls as jobs: started, watched and cancelled by id.

A scan of an M-Bus line or a Modbus Read Group takes seconds to minutes: a
browser or a ubus script cannot hold one request open that long, nor cancel it.
``job_start {method, params}`` runs a method of the one method table in the
background and answers at once with the job's id; ``job {id}`` says its state,
its progress and, once finished, its result or error; ``job_cancel {id}``
stops it. Every transport (socket, ubus, panel) gets this for every method.

A long method says how far it is with :func:`progress` (a no-op outside a
job, so the same method answers a plain call too). A method that works in a
thread (``asyncio.to_thread`` copies the job's context) calls
:func:`check_cancelled` between steps: cancelling a task does not stop a
thread, the flag does.

The jobs live in the daemon (the panel keeps nothing): a bounded number run at
once, and finished ones are kept a while for their result, then forgotten.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .control import ControlError, MethodTable

__all__ = ["Jobs", "Job", "JobCancelled", "progress", "reporter", "check_cancelled", "MAX_RUNNING", "KEEP_FINISHED"]

log = logging.getLogger("bacrouter.jobs")

#: jobs running at once (a scan holds a serial line; more would only queue behind each other)
MAX_RUNNING = 4
#: finished jobs kept for their result, the oldest forgotten first
KEEP_FINISHED = 16
#: seconds a finished job's result is kept
KEEP_SECONDS = 600.0

_current: contextvars.ContextVar[Job | None] = contextvars.ContextVar("bacrouter_job", default=None)


class JobCancelled(Exception):
    """Raised by :func:`check_cancelled` in a job whose cancel was asked for."""


@dataclass
class Job:
    id: str
    method: str
    params: dict[str, Any]
    started: float
    state: str = "running"  # running, done, failed, cancelled
    finished: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: dict[str, str] | None = None
    cancel_asked: bool = False
    task: asyncio.Task[Any] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self, **values: Any) -> None:
        with self._lock:  # a thread may report while the loop reads
            self.progress.update({k: v for k, v in values.items() if v is not None})

    def view(self, with_result: bool = True) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {"id": self.id, "method": self.method, "state": self.state,
                                   "started": self.started, "finished": self.finished,
                                   "progress": dict(self.progress)}
        if with_result and self.state == "done":
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


def progress(done: float | None = None, total: float | None = None, text: str | None = None, **extra: Any) -> None:
    """Say how far the current job is (``done`` of ``total``, a line of text, anything else to show so far)."""
    job = _current.get()
    if job is not None:
        job.report(done=done, total=total, text=text, **extra)


def reporter() -> Callable[..., None]:
    """:func:`progress` bound to the current job, for work done in another task (whose context is not the job's):
    a Modbus master's poller runs a Read Group for the job that asked for it."""
    job = _current.get()
    if job is None:
        return lambda **values: None
    return job.report


def check_cancelled() -> None:
    """In a job's thread: stop here if the job was cancelled."""
    job = _current.get()
    if job is not None and job.cancel_asked:
        raise JobCancelled("cancelled")


class Jobs:
    """The daemon's jobs, and the control methods that start, show and cancel them."""

    def __init__(self, table: MethodTable, clock: Callable[[], float] = time.time,
                 on_finish: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.table = table
        self.clock = clock
        self.on_finish = on_finish
        self.jobs: dict[str, Job] = {}

    def register(self) -> None:
        self.table.add("job_start", self.start,
                       "run a method in the background: {method, params?} -> {id}; watch it with job, stop it with "
                       "job_cancel", params={"method": "string", "params": "table"})
        self.table.add("job", self.get, "a job's state, progress and (when done) result or error: {id}",
                       params={"id": "string"})
        self.table.add("job_cancel", self.cancel, "stop a running job: {id}", params={"id": "string"})
        self.table.add("jobs", self.list, "the jobs running and recently finished")

    # -------------------------------------------------------------- control methods

    def start(self, params: dict[str, Any]) -> dict[str, Any]:
        method, args = params.get("method"), params.get("params") or {}
        if not isinstance(method, str) or method not in self.table.methods:
            raise ControlError("bad_params", f"method is the name of a method; {method!r} is not one")
        if method.startswith("job") or method in ("reload",):
            raise ControlError("bad_params", f"{method} cannot run as a job")
        if not isinstance(args, dict):
            raise ControlError("bad_params", "params must be an object")
        self._forget_old()
        running = sum(job.state == "running" for job in self.jobs.values())
        if running >= MAX_RUNNING:
            # not "busy": that is the socket's "too many connections", which a client takes for a daemon out of reach
            raise ControlError("too_many_jobs", f"{running} jobs are running already; wait for one or cancel it")
        job = Job(secrets.token_hex(8), method, args, self.clock())
        self.jobs[job.id] = job
        context = contextvars.copy_context()
        context.run(_current.set, job)
        job.task = asyncio.get_running_loop().create_task(self._run(job), context=context)
        job.task.add_done_callback(lambda _: self._settle(job))
        return {"id": job.id}

    def get(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._job(params).view()

    def cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params)
        if job.state == "running":
            job.cancel_asked = True
            if job.task is not None:
                job.task.cancel()
        return job.view(with_result=False)

    def list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._forget_old()
        return [job.view(with_result=False) for job in self.jobs.values()]

    # -------------------------------------------------------------- running

    async def _run(self, job: Job) -> None:
        try:
            job.result = await self.table.call(job.method, job.params)
            job.state = "done"
        except (asyncio.CancelledError, JobCancelled):
            job.state = "cancelled"
        except ControlError as err:
            job.state, job.error = "failed", {"code": err.code, "message": err.message}
        except Exception as err:  # a job must never take the daemon with it; the log has the traceback
            log.exception("job %s (%s) failed", job.id, job.method)
            job.state, job.error = "failed", {"code": "internal", "message": f"{type(err).__name__}: {err}"}

    def _settle(self, job: Job) -> None:
        """The task ended: also when it was cancelled before it ever ran (then ``_run`` caught nothing)."""
        if job.state == "running":
            job.state = "cancelled"
        job.finished = self.clock()
        if self.on_finish is not None:
            self.on_finish(job.view(with_result=False))

    def _job(self, params: dict[str, Any]) -> Job:
        job = self.jobs.get(str(params.get("id")))
        if job is None:
            raise ControlError("not_found", f"no job {params.get('id')!r} (finished jobs are kept "
                                            f"{int(KEEP_SECONDS)} s)")
        return job

    def _forget_old(self) -> None:
        now = self.clock()
        finished = [j for j in self.jobs.values() if j.finished is not None]
        finished.sort(key=lambda j: j.finished or 0.0)
        extra = len(finished) - KEEP_FINISHED
        for i, job in enumerate(finished):
            if i < extra or now - (job.finished or now) > KEEP_SECONDS:
                del self.jobs[job.id]
