"""The ubus transport: the one method table as the ubus object ``bacrouter``, the daemon's events as ubus events.

Served whenever the ``ubus`` module (python3-ubus) is importable; without it
the daemon runs as before. Like the unix control socket it is only a
transport: every method of :class:`~bacrouter.control.MethodTable`, the
daemon's and the features', with the signature the method declares
(``ubus -v list bacrouter``), answering what the socket answers:

- a result that is a JSON object is the reply; any other result (a list) is
  wrapped as ``{"<method>": result}``, since a ubus reply is always an object;
- an error is the reply ``{"error": {"code", "message"}}``, as on the socket;
- numbers pass through blobmsg: a float is a double, printed by the ``ubus``
  CLI with six decimals.

A caller may pass only the arguments the method declares (libubus checks them
against the signature), so what the root-only socket alone may do stays
there: a capture's file is always the daemon's choice.

Events: ``bacrouter.port``, ``bacrouter.device``, ``bacrouter.reload`` (see
:mod:`bacrouter.events`).

Threading: python3-ubus's ``loop()`` blocks, so the connection lives in its
own thread, the only one that calls the module. A method call is carried onto
the asyncio loop with ``run_coroutine_threadsafe`` and waited for at most
``call_timeout`` seconds; events are queued and sent by the ubus thread
between loop slices of ``LOOP_MS``. ubusd going away ends the connection
(libubus stops the loop; a probe every ``PROBE_EVERY`` seconds catches the
rest): the thread reconnects with back-off from ``BACKOFF_MIN`` to
``BACKOFF_MAX`` seconds and registers the object again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
from collections import deque
from types import ModuleType
from typing import Any

from .control import ControlError, MethodTable, _finite

__all__ = ["UbusTransport", "serve", "load_module", "OBJECT"]

log = logging.getLogger("bacrouter.ubus")

OBJECT = "bacrouter"
#: milliseconds of one ubus loop slice: the longest an event waits to be sent
LOOP_MS = 100
#: seconds between checks that the connection (and our object) is still there
PROBE_EVERY = 2.0
BACKOFF_MIN, BACKOFF_MAX = 0.5, 10.0
#: seconds a method may take before the caller is told "timeout"
CALL_TIMEOUT = 10.0
#: events kept while ubusd is away (the oldest go first)
EVENT_QUEUE = 64


def load_module() -> ModuleType | None:
    """python3-ubus, or None when it is not installed."""
    try:
        import ubus  # type: ignore[import-not-found]
    except ImportError:
        return None
    return ubus


def serve(table: MethodTable, socket_path: str = "", loop: asyncio.AbstractEventLoop | None = None,
          module: ModuleType | None = None) -> UbusTransport | None:
    """Start serving ``table`` on ubus; None (and nothing started) without python3-ubus."""
    module = module or load_module()
    if module is None:
        log.debug("python3-ubus is not installed: no ubus object")
        return None
    transport = UbusTransport(table, loop or asyncio.get_running_loop(), socket_path, module)
    transport.start()
    return transport


def _no_reaping(signum: int, frame: Any) -> None:
    """SIGCHLD handler that does nothing (see :meth:`UbusTransport.start`)."""


class UbusTransport:
    """The ubus connection, in a thread of its own; see the module documentation."""

    def __init__(self, table: MethodTable, loop: asyncio.AbstractEventLoop, socket_path: str = "",
                 module: ModuleType | None = None, call_timeout: float = CALL_TIMEOUT) -> None:
        self.table, self.loop, self.socket_path = table, loop, socket_path or ""
        self.module = module or load_module()
        if self.module is None:
            raise RuntimeError("python3-ubus is not installed")
        self.call_timeout = call_timeout
        self.connected = False
        self.counters = {"connects": 0, "calls": 0, "timeouts": 0, "events_sent": 0, "events_dropped": 0}
        self._events: deque[tuple[str, dict[str, Any]]] = deque(maxlen=EVENT_QUEUE)
        self._stop = threading.Event()
        self._retarget = False
        self._thread: threading.Thread | None = None
        self._last_error = ""

    # ------------------------------------------------------------------ from the asyncio thread

    def start(self) -> None:
        # uloop installs its own SIGCHLD handler while it runs, if none is set, and then reaps
        # every child of the process (waitpid(-1)): a handler that does nothing keeps it out
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGCHLD) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGCHLD, _no_reaping)
        self._thread = threading.Thread(target=self._run, name="ubus", daemon=True)
        self._thread.start()

    def emit(self, name: str, data: dict[str, Any]) -> None:
        """An event for ubus (an :class:`~bacrouter.events.Events` listener): sent as ``bacrouter.<name>``."""
        if len(self._events) == self._events.maxlen:
            self.counters["events_dropped"] += 1
        self._events.append((f"{OBJECT}.{name}", _plain(data)))

    def set_socket(self, socket_path: str) -> None:
        """Serve on another socket (a reload changed ``ubus_socket``): reconnect there."""
        if (socket_path or "") != self.socket_path:
            self.socket_path = socket_path or ""
            self._retarget = True

    def status(self) -> dict[str, Any]:
        return {"connected": self.connected, "socket": self.socket_path or "default", **self.counters}

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the ubus thread

    def _run(self) -> None:
        backoff = BACKOFF_MIN
        while not self._stop.is_set():
            where = self.socket_path or "the default ubus socket"
            try:
                self._connect()
            except Exception as err:  # IOError: no ubusd (yet); RuntimeError: the object was refused
                self._disconnect(False)
                if str(err) != self._last_error:  # say it once, not on every retry
                    self._last_error = str(err)
                    log.warning("cannot serve on %s (%s): retrying", where, str(err).strip())
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff, self._last_error = BACKOFF_MIN, ""
            self.counters["connects"] += 1
            log.info("object '%s' (%d methods) on %s%s", OBJECT, len(self.table.methods), where,
                     f" (reconnected, connection {self.counters['connects']})" if self.counters["connects"] > 1 else "")
            try:
                self._serve()
            except Exception:
                log.exception("the connection failed")
            finally:
                self._disconnect(self._stop.is_set())
            if not self._stop.is_set() and not self._retarget:
                log.warning("connection to %s lost: reconnecting", where)
            self._retarget = False

    def _connect(self) -> None:
        ubus = self.module
        if self.socket_path:
            ubus.connect(socket_path=self.socket_path)
        else:
            ubus.connect()
        self.connected = True
        types = {"string": ubus.BLOBMSG_TYPE_STRING, "int": ubus.BLOBMSG_TYPE_INT32,
                 "bool": ubus.BLOBMSG_TYPE_BOOL, "double": ubus.BLOBMSG_TYPE_DOUBLE,
                 "table": ubus.BLOBMSG_TYPE_TABLE, "array": ubus.BLOBMSG_TYPE_ARRAY}
        methods = {name: {"signature": {arg: types[kind] for arg, kind in self.table.signatures.get(name, {}).items()},
                          "method": self._handler(name)}
                   for name in self.table.methods}
        ubus.add(OBJECT, methods)

    def _disconnect(self, deregister: bool) -> None:
        self.connected = False
        with contextlib.suppress(Exception):
            if self.module.get_connected():
                self.module.disconnect(deregister=deregister)

    def _serve(self) -> None:
        ubus = self.module
        probed = time.monotonic()
        while not self._stop.is_set() and not self._retarget:
            started = time.monotonic()
            ubus.loop(LOOP_MS)
            now = time.monotonic()
            if not self._flush():
                return
            # libubus ends the loop early when ubusd closes the connection: look then, and now and again
            if now - started < LOOP_MS / 2000 or now - probed >= PROBE_EVERY:
                probed = now
                if not self._alive():
                    return

    def _alive(self) -> bool:
        try:
            return OBJECT in self.module.objects(OBJECT)
        except Exception:
            return False

    def _flush(self) -> bool:
        while self._events:
            name, data = self._events[0]
            try:
                sent = self.module.send(name, data)
            except Exception:
                sent = False
            if not sent:
                return False  # kept: sent after the reconnect
            self._events.popleft()
            self.counters["events_sent"] += 1
        return True

    def _handler(self, name: str) -> Any:
        declared = self.table.signatures.get(name, {})

        def handle(request: Any, data: Any) -> None:
            params = {k: v for k, v in (data or {}).items() if k in declared} if isinstance(data, dict) else {}
            request.reply(self.answer(name, params))

        return handle

    def answer(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """What the caller gets for ``name``: the method's result, or ``{"error": ...}`` (in the ubus thread)."""
        self.counters["calls"] += 1
        future = asyncio.run_coroutine_threadsafe(self.table.call(name, params), self.loop)
        try:
            result = future.result(self.call_timeout)
        except TimeoutError:
            future.cancel()
            self.counters["timeouts"] += 1
            return _error("timeout", f"{name} did not answer within {self.call_timeout:g} s")
        except ControlError as err:
            return _error(err.code, err.message)
        except Exception as err:  # a broken handler answers with an error, as on the socket
            log.exception("ubus method %s failed", name)
            return _error("internal", f"{type(err).__name__}: {err}")
        return _plain(result if isinstance(result, dict) else {name: result})


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _plain(value: Any) -> Any:
    """Plain JSON, as the control socket writes it (strings for what JSON lacks, null for NaN)."""
    return json.loads(json.dumps(_finite(value), default=str))
