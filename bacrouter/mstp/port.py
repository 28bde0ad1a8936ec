"""The serial shell of an MS/TP port: a thread that owns the tty and the link's timing.

A master must answer a token or a poll within Tusage_delay (15 ms) however
busy the router's event loop is, so the link runs in its own thread. It
sleeps in ``select`` until an octet arrives, the router queues an NPDU, or
the link's next deadline; it hands NPDUs up through a callback (the router
marshals them onto its loop) and takes NPDUs down through a queue.

When the tty fails (a USB adapter unplugged, or one that stalls) the thread
reports a fault, closes it, and tries again with back-off: after 1 s, then 2,
4, ... up to 60 s between tries, back to 1 s once the line has worked for
STABLE_AFTER. A line reopened after a fault is reported up only once it has
served PROBATION without failing, so an adapter that opens and then stalls at
once stays one fault, not an up and a down per try. The state (and its reason)
is reported once per change; nothing is logged per try. Nothing else in the
router is touched.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..actions import Action, Deliver, SetBaud, Transmit
from ..rs485 import EchoFilter, SerialLine
from .frame import BROADCAST, Frame, encode_frame
from .link import MstpLink
from .receiver import BITS_PER_OCTET

__all__ = ["SerialLine", "MstpWorker", "EchoFilter"]  # SerialLine, EchoFilter re-exported from ..rs485

log = logging.getLogger("bacrouter.mstp.port")

#: back-off between tries to reopen a failed line: RETRY_FIRST, doubling up to RETRY_MAX
RETRY_FIRST = 1.0
RETRY_MAX = 60.0
#: a line that served this long without failing has worked: the back-off starts over
STABLE_AFTER = 30.0
#: a line reopened after a fault is up once it has served this long (an adapter that stalls fails sooner:
#: the first write is due within Tno_token + a frame, and a stalled write fails after 1 s)
PROBATION = 3.0
TURNAROUND_BITS = 40
#: the last stretch of a wait is spun, not slept: wake-ups are late by 50-300 us
SPIN = 0.00015


def low_timer_slack() -> None:
    """Ask Linux for 1 us timer slack in this thread (default 50 us), so sleeps and selects wake on time."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK
    except (ImportError, OSError, AttributeError):  # ImportError: python3-ctypes not installed
        pass


#: real-time priority of MS/TP threads (SCHED_FIFO); Linux still keeps 5% of each second for others
RT_PRIORITY = 20


def realtime_priority() -> bool:
    """Put this thread in SCHED_FIFO, so it runs as soon as its octets arrive, whatever else is busy."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
        return True
    except (OSError, AttributeError) as err:
        log.debug("no real-time priority for MS/TP (%s): timing depends on the load", err)
        return False


def sleep_until(deadline: float) -> None:
    """Wait until ``deadline`` (time.monotonic) within a few microseconds."""
    remaining = deadline - time.monotonic()
    if remaining > SPIN:
        time.sleep(remaining - SPIN)
    while time.monotonic() < deadline:
        pass
#: turnaround samples kept for the p50/p99 in the status
SAMPLES = 2000
SNAPSHOT_EVERY = 0.5


Opener = Callable[[str, int], SerialLine]


class MstpWorker:
    """One MS/TP port's thread."""

    def __init__(self, name: str, path: str, link_factory: Callable[[], MstpLink],
                 deliver: Callable[[int, bytes, bool], None], on_state: Callable[[str, str], None],
                 opener: Opener = SerialLine, realtime: bool = True) -> None:
        self.name, self.path = name, path
        self._link_factory = link_factory
        self._deliver = deliver
        self._on_state = on_state
        self._opener = opener
        self.link: MstpLink | None = None
        self._outgoing: deque[tuple[int, bytes, bool, float]] = deque()
        self._commands: deque[tuple[Callable[[MstpLink], Any], list[Any], threading.Event]] = deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"mstp-{name}", daemon=True)
        self.turnarounds: deque[float] = deque(maxlen=SAMPLES)
        self.state = "starting"
        self.reason = ""
        self.line_notes: list[str] = []
        self.echo = EchoFilter()
        self.opened_at: float | None = None
        self._want_realtime = realtime
        self.realtime = False
        #: the link's status, refreshed by the thread twice a second: read it without waiting for the thread
        self.snapshot: dict[str, Any] | None = None
        #: failed tries in a row, the wait before the next one and when it is due (time.monotonic)
        self.failures = 0
        self.retry_delay: float | None = None
        self.next_retry: float | None = None
        self._probation_until: float | None = None

    # ------------------------------------------------------------------ called from the router's thread

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def send(self, destination: int, npdu: bytes, expecting_reply: bool) -> None:
        self._outgoing.append((destination, npdu, expecting_reply, time.monotonic()))
        self._wake()

    def call(self, function: Callable[[MstpLink], Any], timeout: float = 2.0) -> Any:
        """Run ``function(link)`` in the port's thread and return its result (None if the line is down)."""
        done = threading.Event()
        box: list[Any] = []
        self._commands.append((function, box, done))
        self._wake()
        if not done.wait(timeout):
            raise TimeoutError(f"MS/TP port {self.name} did not answer")
        if box and isinstance(box[0], BaseException):
            raise box[0]
        return box[0] if box else None

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass

    # ------------------------------------------------------------------ the thread

    def _set_state(self, state: str, reason: str = "") -> None:
        if (state, reason) != (self.state, self.reason):
            self.state, self.reason = state, reason
            self._on_state(state, reason)

    def retry_status(self) -> dict[str, Any] | None:
        """The retry schedule while the line is failing: tries failed in a row, the wait, the next try."""
        if not self.failures:
            return None
        due = self.next_retry
        return {"failures": self.failures, "every_s": self.retry_delay,
                "next_in_s": None if due is None else round(max(0.0, due - time.monotonic()), 1),
                "max_s": RETRY_MAX}

    def _failed(self, reason: str) -> None:
        """A failure to open or serve the line: one more failed try, the fault reported (once), the wait."""
        self.failures += 1
        self.retry_delay = min(RETRY_FIRST * 2 ** (self.failures - 1), RETRY_MAX)
        self.next_retry = time.monotonic() + self.retry_delay
        self._probation_until = None
        self._set_state("fault", reason)

    def _main(self) -> None:
        low_timer_slack()
        self.realtime = realtime_priority() if self._want_realtime else False
        while not self._stop.is_set():
            try:
                link = self._link_factory()
                line = self._opener(self.path, link.baud.current)
            except Exception as err:  # noqa: BLE001 - any failure to open is a fault to report and retry
                self._failed(f"cannot open {self.path}: {err}")
                self._pause(self.retry_delay or RETRY_FIRST)
                continue
            self.link, self.line_notes, self.opened_at = link, line.notes, time.monotonic()
            self.next_retry = None
            if self.state == "fault":
                self._probation_until = self.opened_at + PROBATION  # up once it has served that long
            else:
                self._set_state("up")
            try:
                self._serve(link, line)
            except OSError as err:
                self._failed(str(err) if self.path in str(err) else f"{self.path}: {err}")
            except Exception:  # a bug here must not kill the port for good
                log.exception("MS/TP port %s crashed; restarting it", self.name)
                self._failed("internal error (see log)")
            finally:
                line.close()
                if link.capture is not None:
                    link.capture.close()
                self.link = None
                self.snapshot = None
            if not self._stop.is_set():
                self._pause(self.retry_delay or RETRY_FIRST)
        self._set_state("stopped")

    def _check_health(self, now: float) -> None:
        """A reopened line that served PROBATION is up; one that served STABLE_AFTER resets the back-off."""
        if self._probation_until is not None and now >= self._probation_until:
            self._probation_until = None
            self._set_state("up")
        if self.failures and self.state == "up" and self.opened_at is not None and now - self.opened_at >= STABLE_AFTER:
            self.failures, self.retry_delay = 0, None

    def _pause(self, seconds: float) -> None:
        """Wait before reopening, still answering status calls (with None) and dropping NPDUs."""
        until = time.monotonic() + seconds
        while not self._stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select([self._wake_r], [], [], left)
            if readable:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
                self._outgoing.clear()
                self._run_commands(None)

    def _serve(self, link: MstpLink, line: SerialLine) -> None:
        fd, wake = line.fd, self._wake_r
        echo = self.echo
        next_snapshot = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_snapshot:
                self.snapshot = link.status(now)
                next_snapshot = now + SNAPSHOT_EVERY
                self._check_health(now)
            deadline = link.deadline()
            timeout = SNAPSHOT_EVERY if deadline is None else min(SNAPSHOT_EVERY, max(0.0, deadline - now))
            readable, _, _ = select.select([fd, wake], [], [], timeout)
            now = time.monotonic()
            actions: list[Action] = []
            received = False
            if fd in readable:
                data = echo.filter(line.read())
                if data:
                    actions += link.received(data, now)
                    received = True
            if wake in readable:
                try:
                    os.read(wake, 4096)
                except BlockingIOError:
                    pass
                while self._outgoing:
                    destination, npdu, expecting_reply, queued = self._outgoing.popleft()
                    link.enqueue(destination, npdu, expecting_reply, queued)
                self._run_commands(link)
            actions += link.poll(now)
            self._act(link, line, actions, now if received else None)

    def _act(self, link: MstpLink, line: SerialLine, actions: list[Action], heard_at: float | None) -> None:
        first = True
        for action in actions:
            match action:
                case Transmit():
                    self._transmit(link, line, action.data, heard_at if first else None)
                    first = False
                case Deliver():
                    self._deliver(action.source, action.npdu, action.broadcast)
                case SetBaud():
                    line.set_baud(action.baud)
                case _:
                    raise AssertionError(f"MS/TP link asked for {action!r}")

    def _transmit(self, link: MstpLink, line: SerialLine, frame: Frame, heard_at: float | None) -> None:
        octets = encode_frame(frame)
        baud = link.baud.current
        # SendFrame: not before Tturnaround after the last octet on the line
        last = max(link.receiver.last or 0.0, link.master.last_activity)
        ready = last + TURNAROUND_BITS / baud
        if ready > time.monotonic():
            sleep_until(ready)
        now = time.monotonic()
        if heard_at is not None:
            self.turnarounds.append(now - heard_at)
        self.echo.wrote(octets)
        line.write(octets)
        link.sent(frame, now, now + len(octets) * BITS_PER_OCTET / baud)

    def _run_commands(self, link: MstpLink | None) -> None:
        while self._commands:
            function, box, done = self._commands.popleft()
            try:
                box.append(function(link) if link is not None else None)
            except Exception as err:  # noqa: BLE001 - handed back to the caller
                box.append(err)
            done.set()

    # ------------------------------------------------------------------ status

    def turnaround_ms(self) -> dict[str, float | None]:
        samples = sorted(self.turnarounds)
        if not samples:
            return {"p50": None, "p99": None, "samples": 0}

        def pick(fraction: float) -> float:
            return round(samples[min(len(samples) - 1, int(fraction * len(samples)))] * 1000, 3)

        return {"p50": pick(0.5), "p99": pick(0.99), "samples": len(samples)}


def destination_of(dest: bytes | None) -> int:
    """A router port address (one octet, or None for broadcast) as an MS/TP destination."""
    return dest[0] if dest else BROADCAST
