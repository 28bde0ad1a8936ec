"""The daemon's M-Bus methods: ``mbus_scan`` and ``mbus_read`` on a line of resource.conf, as jobs.

The same loops as ``bacrouter mbus scan`` / ``scan-secondary`` / ``read``
(:mod:`.scan`), run in a thread of the daemon: a scan of 251 addresses takes
a minute or two at 2400 baud, so the panel (or a ubus script) starts it with
``job_start`` and watches its progress (the address reached, the meters found
so far); ``job_cancel`` stops it between two requests, and the line is closed
before the job says it is cancelled, so the next scan finds it free.

A line is a USB resource of resource.conf; a tty path (``tty``) is for the
control socket alone (root): it is not in the methods' signatures, so ubus
refuses it, and the panel never passes it. A line the running configuration
uses (a Free Client bus, a Modbus master, an MS/TP port) is refused with the
user's name rather than fought over, and so is a line another M-Bus job holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.resources import ResourceError, ResourceType, load_resources
from ..control import ControlError, MethodTable
from ..jobs import JobCancelled, check_cancelled, progress
from .frame import MBusError
from .master import Collision, MBusMaster, NoAnswer, parse_address
from .scan import FIRST, LAST, flat_records, identify, meter_of_secondary, primary_scan, read_meter, secondary_scan
from .search import DECIMAL_DIGITS, HEX_DIGITS, WILDCARD, SecondarySearch

__all__ = ["MBusService", "BAUDS", "PARITIES", "search_fraction"]

BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400)
PARITIES = ("even", "none", "odd")
LINE_PARAMS = {"resource": "string", "baud": "int", "parity": "string", "timeout_ms": "int", "retries": "int"}


class MBusService:
    """``mbus_scan`` and ``mbus_read`` for the daemon's method table.

    ``config`` gives the running configuration (None before it runs): its users of serial lines."""

    def __init__(self, resource_file: Path, config: Callable[[], Any]) -> None:
        self.resource_file = resource_file
        self.config = config
        self._held: set[str] = set()  # lines (real paths) an M-Bus job has open

    def register(self, table: MethodTable) -> None:
        table.add("mbus_scan", self.scan,
                  "find M-Bus meters on a line (best as a job: job_start): {resource, mode? (primary, secondary), "
                  "first?, last?, mask?, decimal?, identify?, baud?, parity?, timeout_ms?, retries?}",
                  params={**LINE_PARAMS, "mode": "string", "first": "int", "last": "int", "mask": "string",
                          "decimal": "bool", "identify": "bool"})
        table.add("mbus_read", self.read,
                  "every telegram of one M-Bus meter, its records as JSON: {resource, address (0..250 or 16 hex "
                  "digits), reset?, baud?, parity?, timeout_ms?, retries?}",
                  params={**LINE_PARAMS, "address": "string", "reset": "bool"})

    # -------------------------------------------------------------- the methods

    async def scan(self, params: dict[str, Any]) -> dict[str, Any]:
        mode = params.get("mode", "primary")
        if mode not in ("primary", "secondary"):
            raise ControlError("bad_params", f"mode is primary or secondary, not {mode!r}")
        first, last = _int(params, "first", FIRST, 0, 250), _int(params, "last", LAST, 0, 250)
        if first > last:
            raise ControlError("bad_params", f"first ({first}) is after last ({last})")
        mask = str(params.get("mask") or WILDCARD).upper()
        if mode == "secondary" and (len(mask) != 16 or any(c not in HEX_DIGITS for c in mask)):
            raise ControlError("bad_params", f"mask is 16 hex digits (F: any digit), not {params.get('mask')!r}")
        decimal, identify_meters = _bool(params, "decimal", False), _bool(params, "identify", True)
        line = self._line(params)
        settings = _settings(params)

        def primary(master: MBusMaster, stop: Callable[[], None]) -> dict[str, Any]:
            meters: list[dict[str, Any]] = []
            total = last - first + 1

            def report(address: int) -> None:
                progress(address - first, total, f"address {address} of {first}..{last}: "
                         f"{len(meters)} meter(s) found", found=[dict(m) for m in meters])

            def step(address: int) -> None:
                stop()
                report(address)

            def found(meter: dict[str, Any]) -> None:
                meters.append(meter)
                if identify_meters and not meter["collision"]:
                    stop()
                    try:
                        meter.update(identify(master, meter["address"]))
                    except (NoAnswer, Collision, MBusError) as err:
                        meter["problem"] = f"no data: {err}"
                report(meter["address"])

            primary_scan(master, first, last, settings["retries"], step=step, found=found)
            progress(total, total, f"done: {len(meters)} meter(s) found", found=meters)
            return {"mode": "primary", "meters": meters, "frames_sent": master.sent}

        def secondary(master: MBusMaster, stop: Callable[[], None]) -> dict[str, Any]:
            meters: list[dict[str, Any]] = []
            problems: list[str] = []

            def step(search: SecondarySearch, asked: str) -> None:
                stop()
                progress(round(1000 * search_fraction(mask, asked, DECIMAL_DIGITS if decimal else HEX_DIGITS)),
                         1000, f"select {search.selects}: {asked}, {len(meters)} meter(s) found",
                         found=[dict(m) for m in meters])

            def found(address: str, asked: str) -> None:
                meters.append({"address": address, **meter_of_secondary(address)})

            search = secondary_scan(master, mask, decimal, step=step, found=found, problem=problems.append)
            progress(1000, 1000, f"done: {len(meters)} meter(s) found", found=meters)
            return {"mode": "secondary", "meters": meters, "selects": search.selects,
                    "collisions": search.collisions, "problems": problems}

        return await self._on_line(line, settings, primary if mode == "primary" else secondary)

    async def read(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("address")
        try:
            address = parse_address(str(raw)) if raw not in (None, "") and not isinstance(raw, bool) else None
        except ValueError as err:
            raise ControlError("bad_params", str(err)) from None
        if address is None:
            raise ControlError("bad_params", "missing address: a primary address (0..250) or a secondary address "
                                             "(16 hex digits)")
        reset = _bool(params, "reset", True)
        line = self._line(params)
        settings = _settings(params)

        def work(master: MBusMaster, stop: Callable[[], None]) -> dict[str, Any]:
            progress(0, 1, f"reading {address}")
            try:
                answer = read_meter(master, address, reset)
            except (NoAnswer, Collision, MBusError) as err:
                raise ControlError("failed", f"meter {address}: {err}") from None
            header = next((f.get("header") for f in answer["frames"] if f.get("header")), {}) or {}
            answer["meter"] = {k: header.get(k) for k in ("id", "manufacturer", "version", "medium_text",
                                                          "secondary_address", "product_name") if k in header}
            answer["records"] = flat_records(answer["frames"])
            progress(1, 1, f"{len(answer['records'])} record(s) in {len(answer['frames'])} telegram(s)")
            return answer

        return await self._on_line(line, settings, work)

    # -------------------------------------------------------------- the line

    def _line(self, params: dict[str, Any]) -> tuple[str, str]:
        """(what to call the line, its tty) from ``resource`` or (socket only) ``tty``; refused when in use."""
        resource, tty = params.get("resource"), params.get("tty")
        if bool(resource) == bool(tty):
            raise ControlError("bad_params", "give the line: resource (a USB resource of resource.conf)"
                                             + (" or tty (a serial device)" if not resource else ", not both"))
        if tty:
            path = str(tty)
            if not Path(path).exists():
                raise ControlError("bad_params", f"tty {path}: no such device")
            name = path
        else:
            name = str(resource)
            try:
                resources = load_resources(self.resource_file)
            except (OSError, ResourceError) as err:
                raise ControlError("failed", f"resource.conf cannot be read: {err}") from None
            found = resources.get(name)
            if found is None:
                raise ControlError("bad_params", f"resource {name!r} is not in resource.conf "
                                                 f"(USB resources: {', '.join(sorted(_usb(resources))) or 'none'})")
            if found.type != ResourceType.USB:
                raise ControlError("bad_params", f"resource {name!r} is {found.type.value}, not a USB (serial) line")
            path = found.ifname
        user = self._user_of(name, path)
        if user:
            raise ControlError("in_use", f"line {name} is used by {user}: disable it (or scan another line) "
                                       "rather than fight it for the port")
        return name, path

    def _user_of(self, name: str, path: str) -> str:
        config = self.config()
        if config is None:
            return ""
        here = _real(path)
        for user, resource in _line_users(config):
            other = config.resources.get(resource)
            if resource == name or (other is not None and _real(other.ifname) == here):
                definition = getattr(user, "bus", None)
                if getattr(user, "uci_type", "") == "freeclient_bus" and \
                        "mbus" in str(getattr(definition, "script_name", "") or getattr(user, "script", "")):
                    return f"the running Free Client M-Bus bus '{user.name}' ({user.label})"
                return f"the running {user.label}"
        return ""

    async def _on_line(self, line: tuple[str, str], settings: dict[str, Any],
                       work: Callable[[MBusMaster, Callable[[], None]], dict[str, Any]]) -> dict[str, Any]:
        """Run ``work(master, stop)`` in a thread with the line open; ``stop()`` raises when the job is cancelled.

        When the job is cancelled, the thread is told and awaited: the line is closed before the job ends."""
        name, path = line
        real = _real(path)
        if real in self._held:
            raise ControlError("in_use", f"line {name} is in use by another M-Bus job: wait for it or cancel it")
        halt = threading.Event()

        def stop() -> None:
            if halt.is_set():
                raise JobCancelled("cancelled")
            check_cancelled()

        def run() -> dict[str, Any]:
            try:
                master = MBusMaster(path, settings["baud"], timeout=settings["timeout"],
                                    retries=settings["retries"], parity=settings["parity"])
            except OSError as err:
                raise ControlError("failed", f"cannot open {name} ({path}): {err.strerror or err}") from None
            try:
                return dict(work(master, stop), line=name, baud=settings["baud"])
            except OSError as err:
                raise ControlError("failed", f"line {name}: {err.strerror or err}") from None
            finally:
                master.close()

        self._held.add(real)
        future = asyncio.ensure_future(asyncio.to_thread(run))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            halt.set()
            with contextlib.suppress(BaseException):
                await future  # the thread stops at its next step and closes the line
            raise
        finally:
            self._held.discard(real)


def search_fraction(start: str, mask: str, digits: str) -> float:
    """How far a depth-first secondary search is when it asks ``mask`` (0..1): each digit it fixed, in order,
    as a digit of a fraction in the base of the digits tried."""
    fraction, scale = 0.0, 1.0
    for position, (was, now) in enumerate(zip(start.upper(), mask.upper(), strict=False)):
        if was != "F" or now == "F":
            continue
        tried = (digits if position < 8 else HEX_DIGITS).replace("F", "")
        scale /= len(tried)
        fraction += tried.find(now) * scale if now in tried else 0.0
    return min(max(fraction, 0.0), 1.0)


def _line_users(config: Any) -> list[tuple[Any, str]]:
    """Every enabled section using a resource, with its name (a Free Client bus's line may be named in its
    definition file alone: its ``claimed_resource`` says that one too)."""
    return [(user, str(user.claimed_resource)) for user in config.claimed_resources()]


def _usb(resources: dict[str, Any]) -> list[str]:
    return [n for n, r in resources.items() if r.type == ResourceType.USB]


def _real(path: str) -> str:
    return os.path.realpath(path)


def _int(params: dict[str, Any], key: str, default: int | None, low: int, high: int) -> Any:
    value = params.get(key)
    if value in (None, ""):
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError("bad_params", f"{key} is a whole number from {low} to {high}, not {value!r}")
    return value


def _bool(params: dict[str, Any], key: str, default: bool) -> bool:
    value = params.get(key, default)
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return bool(int(value))
    raise ControlError("bad_params", f"{key} is true or false, not {value!r}")


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    baud = _int(params, "baud", 2400, 300, 38400)
    if baud not in BAUDS:
        raise ControlError("bad_params", f"baud is one of {', '.join(map(str, BAUDS))}, not {baud}")
    parity = params.get("parity") or "even"
    if parity not in PARITIES:
        raise ControlError("bad_params", f"parity is even, none or odd, not {parity!r}")
    timeout = _int(params, "timeout_ms", None, 1, 10000)
    return {"baud": baud, "parity": parity, "timeout": timeout / 1000 if timeout else None,
            "retries": _int(params, "retries", 1, 0, 5)}
