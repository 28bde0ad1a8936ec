"""bacrouterd: load the configuration, run the router, serve control, follow signals.

It runs in the foreground and logs to stderr (procd forwards both to syslog).
SIGTERM stops it within a second; SIGHUP re-reads the configuration and
restarts only what changed. A configuration with errors is never half
applied: at start the daemon refuses to run, on reload it keeps the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from . import VENDOR_ID, __version__, ubus_transport
from .config import Config, Problem, has_errors
from .control import ControlError, ControlServer, MethodTable
from .feature import describe
from .history import INTERVAL, History
from .jobs import Jobs, progress
from .loader import load_config
from .logs import NEVER_FOLD, recent, set_level, setup_logging
from .mbus.service import MBusService
from .paths import Paths
from .runtime import Runtime

__all__ = ["Daemon", "run"]

log = logging.getLogger("bacrouter")

def report(problems: list[Problem]) -> None:
    for problem in problems:
        (log.error if problem.severity == "error" else log.warning)("%s", problem)


class Daemon:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.config: Config | None = None
        self.runtime: Runtime | None = None
        self.control: ControlServer | None = None
        self.ubus: ubus_transport.UbusTransport | None = None
        self.table = MethodTable()
        self.started = time.time()
        # BACROUTER_HISTORY_INTERVAL: seconds between samples (tests take them faster than the 10 s default)
        self.history = History(interval=float(os.environ.get("BACROUTER_HISTORY_INTERVAL") or INTERVAL))
        self._sampler: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._lock: int | None = None  # the run lock's descriptor, held while running
        self._register_methods()

    async def run(self) -> int:
        try:
            self._lock = hold_run_lock(self.paths.run_dir)
        except OSError as err:
            log.error("not starting: %s", err)
            return 1
        config, problems = load_config(self.paths)
        report(problems)
        if config is None or has_errors(problems):
            log.error("not starting: fix the configuration (bacrouter check%s)",
                      f" --config-dir {self.paths.root}" if self.paths.root else "")
            return 2
        self.config = config
        set_level(config.app.log_level)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
        self.runtime = Runtime(config, self.paths.run_dir)
        for kind in self.runtime.kinds:
            self._add_feature_methods(kind.name, kind.methods())
        try:
            await self.runtime.start()
            self.control = ControlServer(self.table, self.paths.control_socket)
            await self.control.start()
            self._serve_ubus(config)
            self._sampler = loop.create_task(self._sample_history(), name="history")
        except ControlError as err:
            log.error("%s", err.message)
            self.runtime.stop()
            return 1
        # only now: a reload needs a started node (a HUP before this is ignored, like one before start-up)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self._reload_logged()))
        log.info("bacrouter %s running: device %d '%s', %d port(s); control socket %s", __version__,
                 config.app.device_instance, config.app.device_name, len(config.enabled_ports),
                 self.paths.control_socket)
        await self._stop.wait()
        log.info("stopping")
        await self.shutdown()
        return 0

    def stop(self) -> None:
        self._stop.set()

    def _serve_ubus(self, config: Config) -> None:
        """The method table and the events on ubus too, when python3-ubus is installed."""
        assert self.runtime is not None
        self.ubus = ubus_transport.serve(self.table, config.app.ubus_socket)
        if self.ubus is not None:
            self.runtime.node.events.connect(self.ubus.emit)

    async def _sample_history(self) -> None:
        """The dashboard's last hour: a sample of the counters every ``history.interval`` seconds."""
        while True:
            try:
                runtime = self._runtime()
                self.history.sample(runtime.status(), runtime.node.port_status())
            except Exception:  # a graph must never stop the router
                log.exception("history sample failed")
            await asyncio.sleep(self.history.interval)

    async def shutdown(self) -> None:
        for job in list(self.jobs.jobs.values()):
            if job.task is not None and not job.task.done():
                job.task.cancel()
        if self._sampler is not None:
            self._sampler.cancel()
        if self.ubus is not None:
            self.ubus.close()
        if self.control is not None:
            await self.control.close()
        if self.runtime is not None:
            self.runtime.stop()

    async def _reload_logged(self) -> None:
        try:
            result = await self.reload()
        except Exception:  # a task nobody awaits: say it here, once, and keep running
            log.exception("reload failed: still running the previous configuration")
            return
        if result["ok"]:
            # every reload says what it did, even when it did the same as the last one a second ago
            log.info("configuration reloaded: %s", describe(result["summary"]), extra=NEVER_FOLD)

    async def reload(self) -> dict[str, Any]:
        """Re-read the configuration and apply the difference; keep the old one if the new has errors."""
        async with self._reload_lock:
            config, problems = load_config(self.paths)
            report(problems)
            if config is None or has_errors(problems):
                log.error("configuration has errors: still running the previous one", extra=NEVER_FOLD)
                refused = {"ok": False, "problems": [str(p) for p in problems]}
                self._emit("reload", refused)
                return refused
            assert self.runtime is not None
            set_level(config.app.log_level)
            summary = await self.runtime.apply(config)
            self.config = config
            if self.ubus is not None:
                self.ubus.set_socket(config.app.ubus_socket)
            result = {"ok": True, "summary": summary, "warnings": [str(p) for p in problems]}
            self._emit("reload", result)
            return result

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        if self.runtime is not None:
            self.runtime.node.events.emit(name, data)

    # ------------------------------------------------------------------ control methods

    def _register_methods(self) -> None:
        table = self.table
        table.add("status", lambda p: self._status(), "router overview: device, ports, counters")
        table.add("ports", lambda p: self._runtime().node.port_status(), "every port with its state and link details")
        table.add("routes", self._routes,
                  "the routing table; with {offset?, limit?} a page of it and how many routes there are")
        table.add("reload", lambda p: self.reload(), "re-read the configuration and apply the changes")
        table.add("version", lambda p: {"version": __version__}, "the bacrouter version")
        table.add("methods", lambda p: table.describe(), "the methods this daemon answers")
        table.add("history", self._history,
                  "the last hour of rates, a sample every 10 s: NPDUs/s in and out per port, MS/TP token rotation, "
                  "Modbus and Free Client fail rates: {since?}", params={"since": "double"})
        table.add("log", self._log, "the daemon's latest log lines: {level? (info, warning, error), limit?}",
                  params={"level": "string", "limit": "int"})
        # path is the socket's alone (root): over ubus the file is always the daemon's choice
        table.add("capture", self._capture, "start or stop a pcap capture of an MS/TP port: {port, action, path?}",
                  params={"port": "string", "action": "string"})
        table.add("discover", self._discover,
                  "Who-Is through the router: {network?, low?, high?, wait?} -> devices with instance, network, "
                  "MAC, vendor, name")
        table.add("who_is_router", self._who_is_router,
                  "Who-Is-Router-To-Network on every port (or {port}), for every network (or {network}); waits "
                  "{wait?} s (1) for the answers and returns the ports asked, the networks learned meanwhile and "
                  "a page of the routing table ({offset?, limit?})",
                  params={"port": "string", "network": "int", "wait": "double", "offset": "int", "limit": "int"})
        table.add("read", self._read, "ReadProperty by the router's device: {device, object, property}")
        table.add("write", self._write,
                  "WriteProperty by the router's device: {device, object, property, value, priority?}")
        table.add("objects", self._objects, "every gateway's BACnet objects with the point each comes from "
                  "(each feature's NAME_objects method, together)")
        # M-Bus scans and reads on a serial line: long, so they report progress as jobs; the running
        # configuration says which lines its buses, masters and ports hold
        MBusService(self.paths.resource_file, lambda: self.config).register(table)
        self.jobs = Jobs(table, on_finish=lambda job: self._emit("job", job))
        self.jobs.register()

    def _add_feature_methods(self, name: str, methods: list[Any]) -> None:
        """A feature's methods join the one table: every transport serves them."""
        for spec in methods:
            def handler(params: dict[str, Any], spec: Any = spec) -> Any:
                return spec.handler(self._runtime().feature(name), params)

            self.table.add(spec.name, handler, spec.doc, getattr(spec, "params", None))

    def _runtime(self) -> Runtime:
        if self.runtime is None:
            raise ControlError("not_running", "the router is not running")
        return self.runtime

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        since = params.get("since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, (int, float))):
            raise ControlError("bad_params", "since is a time (seconds since the epoch) from an earlier answer")
        return self.history.snapshot(since)

    def _log(self, params: dict[str, Any]) -> dict[str, Any]:
        level, limit = params.get("level", "warning"), params.get("limit", 50)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ControlError("bad_params", "limit is an integer from 0")
        try:
            return {"level": level, "lines": recent.query(str(level), min(limit, 1000))}
        except ValueError as err:
            raise ControlError("bad_params", str(err)) from None

    def _capture(self, params: dict[str, Any]) -> dict[str, Any]:
        port = self._runtime().node.ports.get(str(params.get("port", "")))
        if port is None or not hasattr(port, "capture"):
            raise ControlError("bad_params", f"no MS/TP port {params.get('port')!r}")
        try:
            return port.capture(str(params.get("action", "")), params.get("path"))
        except (RuntimeError, ValueError, OSError) as err:
            raise ControlError("failed", str(err)) from None

    def _routes(self, params: dict[str, Any]) -> Any:
        node = self._runtime().node
        if not params:
            return node.routes()  # the whole list, as before (at most max_routes learned ones)
        unknown = set(params) - {"offset", "limit"}
        offset, limit = params.get("offset", 0), params.get("limit", 100)
        if unknown or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (offset, limit)):
            raise ControlError("bad_params", "routes takes {offset, limit}: integers from 0"
                               + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""))
        return node.route_page(offset, min(limit, 10000))

    async def _who_is_router(self, params: dict[str, Any]) -> dict[str, Any]:
        node = self._runtime().node
        unknown = set(params) - {"port", "network", "wait", "offset", "limit"}
        port, network = params.get("port"), params.get("network")
        wait, offset, limit = params.get("wait", 1.0), params.get("offset", 0), params.get("limit", 100)
        if unknown:
            raise ControlError("bad_params", f"who_is_router takes port, network, wait, offset, limit "
                                             f"(unknown: {', '.join(sorted(unknown))})")
        if port is not None and not isinstance(port, str):
            raise ControlError("bad_params", "port is a port's name")
        if network is not None and (isinstance(network, bool) or not isinstance(network, int)
                                    or not 1 <= network <= 65534):
            raise ControlError("bad_params", "network is a number 1..65534")
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= 10:
            raise ControlError("bad_params", "wait is 0..10 seconds")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (offset, limit)):
            raise ControlError("bad_params", "offset and limit are integers from 0")
        before = set(node.router.routes)
        try:
            asked = node.who_is_router(port, network)
        except ValueError as err:
            raise ControlError("bad_params", str(err)) from None
        await asyncio.sleep(float(wait))  # the I-Am-Router-To-Network answers are learned meanwhile
        learned = sorted(set(node.router.routes) - before)
        return {"asked": asked, "network": network, "learned": learned,
                "routes": node.route_page(offset, min(limit, 10000))}

    # ------------------------------------------------------------------ the router's device as a BACnet client

    def _client_app(self) -> Any:
        device = self._runtime().node.app
        if device is None:
            raise ControlError("not_running", "the router has no BACnet device")
        return device.app  # loads the full application (bacpypes3) on first use

    @staticmethod
    def _need(params: dict[str, Any], *names: str) -> None:
        missing = [n for n in names if params.get(n) in (None, "")]
        if missing:
            raise ControlError("bad_params", f"missing {', '.join(missing)}")

    async def _client(self, work: Any) -> Any:
        from .net.client import ClientError

        try:
            return await work
        except ClientError as err:
            raise ControlError("failed", str(err)) from None
        except (ValueError, TypeError) as err:  # an object or property name bacpypes3 does not know
            raise ControlError("bad_params", str(err)) from None

    async def _discover(self, params: dict[str, Any]) -> dict[str, Any]:
        from .net.client import discover

        app = self._client_app()
        config = self.config
        own = {"instance": self._runtime().node.app.instance, "vendor": VENDOR_ID,
               "name": config.app.device_name if config else None}
        try:
            network = None if params.get("network") is None else int(params["network"])
            low = None if params.get("low") is None else int(params["low"])
            high = None if params.get("high") is None else int(params["high"])
            wait = min(max(float(params.get("wait", 3.0)), 0.1), 30.0)
        except (TypeError, ValueError):
            raise ControlError("bad_params", "network, low, high and wait are numbers") from None
        ticker = asyncio.get_running_loop().create_task(_waiting(wait))
        try:
            devices = await self._client(discover(app, own, network, low, high, wait))
        finally:
            ticker.cancel()
        progress(wait, wait, f"{len(devices)} device(s) found")
        return {"network": network, "devices": devices}

    async def _read(self, params: dict[str, Any]) -> dict[str, Any]:
        from .net.client import read

        self._need(params, "device", "object", "property")
        return await self._client(read(self._client_app(), params["device"], str(params["object"]),
                                       str(params["property"])))

    async def _write(self, params: dict[str, Any]) -> dict[str, Any]:
        from .net.client import write

        self._need(params, "device", "object", "property")
        if "value" not in params:
            raise ControlError("bad_params", "missing value (null relinquishes)")
        priority = params.get("priority")
        return await self._client(write(self._client_app(), params["device"], str(params["object"]),
                                        str(params["property"]), params["value"],
                                        None if priority is None else int(priority)))

    async def _objects(self, params: dict[str, Any]) -> dict[str, Any]:
        """Each feature's ``NAME_objects`` method (its feature.py says what its objects come from), together."""
        gateways = {}
        for kind in self._runtime().kinds:
            method = f"{kind.name}_objects"
            if method in self.table.methods:
                gateways[kind.name] = await self.table.call(method, {})
        return {"gateways": gateways}

    def _status(self) -> dict[str, Any]:
        status = {"version": __version__, "config_dir": str(self.paths.root or "/etc")}
        status.update(self._runtime().status())
        if self.control is not None:
            status["control"] = dict(self.control.counters)
        if self.ubus is not None:
            status["ubus"] = self.ubus.status()
        return status


async def _waiting(wait: float, every: float = 0.25) -> None:
    """A Who-Is job's progress: the time waited for I-Am answers, of the wait (then the names are read)."""
    started = time.monotonic()
    while True:
        waited = min(time.monotonic() - started, wait)
        progress(round(waited, 2), wait, f"waiting for I-Am answers: {waited:.1f} of {wait:g} s" if waited < wait
                 else "reading the devices' names")
        await asyncio.sleep(every)


def hold_run_lock(run_dir: Path) -> int:
    """Hold the run directory's lock for the life of the process: one daemon per configuration.

    Taken before any port opens, so a second ``bacrouter run`` leaves the
    first one's sockets and serial lines alone. The kernel lets go when the
    process ends, however it ends."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "bacrouter.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        owner = ""
        with contextlib.suppress(OSError, ValueError):
            owner = f" (pid {int(path.read_text().strip())})"
        raise OSError(f"another bacrouter{owner} is running on this configuration ({path} is locked)") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def run(paths: Paths) -> int:
    setup_logging()
    daemon = Daemon(paths)
    try:
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:
        return 0
