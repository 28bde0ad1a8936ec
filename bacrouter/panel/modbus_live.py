"""The Modbus gateway as it runs: every slave's state (``/modbus/live``), one slave's live point values and its
status objects (``/modbus/live/slaves/NAME``), and the Read Group test as a job with each request shown.

Everything comes from the daemon's control methods: ``modbus`` (masters and slaves with their counters),
``modbus_points`` (one slave's points a page at a time: raw words, the BACnet value, reliability, age) and
``read_group`` (run as a job: ``/api/jobs``, progress and Cancel in ``static/panel.js``). The configuration
file is read only to name the slaves that are configured but not polled (disabled, or not loaded yet).
``static/modbus_live.js`` refreshes the values without reloading the page.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import bottle

from ..config import uci
from ..control_client import ControlError
from ..reliability import Reliability
from .daemon import Offline

if TYPE_CHECKING:
    from .auth import Session

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register", "reliability_text", "value_text", "FUNCTIONS", "PAGE"]

#: points on one page of a slave's live values (the daemon answers at most 1000)
PAGE = 100
REFRESH_S = 2
RELIABILITY = {Reliability.NO_FAULT: "no fault", Reliability.UNRELIABLE_OTHER: "unreliable",
               Reliability.COMMUNICATION_FAILURE: "communication failure"}
#: Modbus read functions by code, as the Read Group shows them
FUNCTIONS = {1: "read coils", 2: "read discrete inputs", 3: "read holding registers", 4: "read input registers"}


def register(panel: Panel) -> None:
    panel.job_methods.add("read_group")  # the Read Group test runs as the daemon's job
    Live(panel).routes()


def reliability_text(code: Any) -> str:
    return RELIABILITY.get(code, f"reliability {code}") if isinstance(code, int) else "-"


def value_text(value: Any) -> str:
    """A present value for a person: floats to 7 significant digits (a float register has no more)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.7g}" if math.isfinite(value) else str(value)
    return str(value)


def _age(seconds: Any) -> str:
    return "never read" if seconds is None else f"{seconds:.1f} s"


def _raw(words: list[int]) -> str:
    return " ".join(str(w) for w in words) if words else "-"


def point_live(row: dict[str, Any]) -> dict[str, str]:
    """The changing cells of one point row, by ``data-live`` key."""
    key = f"p.{row['index']}"
    return {f"{key}.raw": _raw(row.get("raw") or []), f"{key}.value": value_text(row.get("value")),
            f"{key}.rel": reliability_text(row.get("reliability")), f"{key}.age": _age(row.get("age_s"))}


def slave_live(slave: dict[str, Any]) -> dict[str, str]:
    """A slave's state and counters, by ``data-live`` key (``s.NAME.…``)."""
    key = f"s.{slave['name']}"
    return {f"{key}.state": "online" if slave.get("online") else "offline",
            f"{key}.fail_rate": f"{slave.get('fail_rate', 0)} %", f"{key}.requests": str(slave.get("requests", 0)),
            f"{key}.failed": str(slave.get("failed", 0)), f"{key}.exceptions": str(slave.get("exceptions", 0)),
            f"{key}.went_offline": str(slave.get("went_offline", 0)),
            f"{key}.delay": f"{slave.get('update_delay_s', 0)} s",
            f"{key}.pending": str(slave.get("pending_writes", 0)), f"{key}.last_error": slave.get("last_error") or "-"}


class Live:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    def routes(self) -> None:
        app, logged_in = self.panel.app, self.panel.logged_in
        app.route("/modbus/live", callback=logged_in(self.overview))
        app.route("/api/modbus/live", callback=logged_in(self.api_overview, api=True))
        app.route("/modbus/live/slaves/<name>", callback=logged_in(self.slave_page))
        app.route("/api/modbus/live/slaves/<name>", callback=logged_in(self.api_slave, api=True))

    # -------------------------------------------------------------- reading

    def _configured(self) -> list[dict[str, Any]]:
        """The slaves of the configuration file (not the staged one: the router runs this), cheaply: no points."""
        try:
            package = uci.load(self.panel.paths.uci_file)
        except (OSError, uci.UciError):
            return []
        masters = {s.name: s.options.get("enabled", "1") not in ("0", "false", "no", "off")
                   for s in package.of_type("modbus_master")}
        out = []
        for section in package.of_type("modbus_slave"):
            master = str(section.options.get("master") or "")
            enabled = section.options.get("enabled", "1") not in ("0", "false", "no", "off")
            out.append({"name": section.name, "master": master, "station": section.options.get("station", "1"),
                        "enabled": enabled and masters.get(master, False),
                        "why": "" if enabled and masters.get(master, False) else
                        "disabled" if not enabled else f"its master '{master}' is disabled or missing"})
        return out

    def _snapshot(self) -> tuple[list[dict[str, Any]], str | None]:
        (masters,), offline = self.panel._runtime(("modbus", None))
        return list(masters or []), offline

    def _page_args(self) -> tuple[int, int]:
        try:
            offset = max(0, int(bottle.request.query.get("offset") or 0))
            limit = min(max(1, int(bottle.request.query.get("limit") or PAGE)), 1000)
        except ValueError:
            bottle.abort(400, "offset and limit are numbers")
        return offset, limit

    def _slave(self, name: str, offset: int, limit: int) -> tuple[dict[str, Any] | None, str | None, str | None]:
        """(the slave's live view, why the router could not be asked, why it has no such slave running)."""
        if not uci.validate_name(name):
            bottle.abort(404, "no such slave")
        try:
            view = self.panel.daemon.call("modbus_points", {"slave": name, "offset": offset, "limit": limit})
        except Offline as err:
            return None, (f"The router is not running ({err}): live values are not available."), None
        except ControlError as err:
            return None, None, err.message
        return view, None, None

    # -------------------------------------------------------------- all slaves

    def _overview(self) -> dict[str, Any]:
        masters, offline = self._snapshot()
        running = {s["name"] for m in masters for s in m.get("slaves", [])}
        idle = [s for s in self._configured() if s["name"] not in running]
        for slave in idle:
            if not slave["why"]:
                slave["why"] = "configured, not running (Save & Apply, or bacrouter reload, loads it)" \
                    if not offline else "the router is not running"
        live: dict[str, str] = {}
        for master in masters:
            for slave in master.get("slaves", []):
                live.update(slave_live(slave))
        return {"masters": masters, "idle": idle, "offline": offline, "live": live}

    def overview(self, session: Session) -> str:
        data = self._overview()
        return self.panel.render("modbus_live.tpl", session, title="Modbus: live", active="modbus", **data,
                                 refresh=REFRESH_S)

    def api_overview(self, session: Session) -> dict[str, Any]:
        data = self._overview()
        return {"online": data["offline"] is None, "offline": data["offline"], "live": data["live"],
                "running": sorted(k.split(".")[1] for k in data["live"] if k.endswith(".state"))}

    # -------------------------------------------------------------- one slave

    def slave_page(self, session: Session, name: str) -> str:
        offset, limit = self._page_args()
        view, offline, missing = self._slave(name, offset, limit)
        configured = next((s for s in self._configured() if s["name"] == name), None)
        if view is None and configured is None and offline is None:
            bottle.abort(404, missing or f"no Modbus slave '{name}'")
        live = self._live(view)
        return self.panel.render("modbus_live_slave.tpl", session, title=f"Modbus slave {name}", active="modbus",
                                 offline=offline, slave=name, view=view, missing=missing, configured=configured,
                                 live=live, offset=offset, limit=limit, refresh=REFRESH_S, functions=FUNCTIONS,
                                 rel=reliability_text, value_text=value_text)

    @staticmethod
    def _live(view: dict[str, Any] | None) -> dict[str, str]:
        if view is None:
            return {}
        live = slave_live(view)
        for row in view.get("rows", []):
            live.update(point_live(row))
        for status in view.get("status", []):
            live[f"status.{status['name']}.value"] = value_text(status.get("value"))
            live[f"status.{status['name']}.rel"] = reliability_text(status.get("reliability"))
        return live

    def api_slave(self, session: Session, name: str) -> dict[str, Any]:
        offset, limit = self._page_args()
        view, offline, missing = self._slave(name, offset, limit)
        return {"online": offline is None, "offline": offline, "running": view is not None, "missing": missing,
                "live": self._live(view), "total": view["total"] if view else 0}
