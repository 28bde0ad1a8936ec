"""The panel's Discovery page: Who-Is through the router, then read and write a property of a device found.

Who-Is is the daemon's ``discover`` method run as a job (``static/discovery.js``
starts it through ``/api/jobs`` with a progress bar of the time waited); reading
and writing are the daemon's ``read`` and ``write`` methods behind two JSON
endpoints (CSRF and Origin checked like every POST). The router's own device
does the asking, so it reaches every network the routing table knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bottle

from ..control_client import ControlError
from .daemon import Offline

if TYPE_CHECKING:
    from .auth import Session

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register"]

#: a read or write waits this long for the daemon (its own limit is 10 s, plus locating the device)
CLIENT_TIMEOUT = 20.0
MAX_INSTANCE = 4194303


def register(panel: Panel) -> None:
    panel.menu.append(("discovery", "Discovery", "/discovery"))
    panel.job_methods.add("discover")
    panel.job_params["discover"] = {"network", "low", "high", "wait"}
    page = Discovery(panel)
    app, logged_in = panel.app, panel.logged_in
    app.route("/discovery", callback=logged_in(page.page))
    app.route("/api/discovery/read", method="POST", callback=logged_in(page.read, api=True, post=True))
    app.route("/api/discovery/write", method="POST", callback=logged_in(page.write, api=True, post=True))


class Discovery:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    def page(self, session: Session) -> str:
        (routes,), offline = self.panel._runtime(("routes", {"offset": 0, "limit": 1000}))
        networks = [{"network": r["network"], "port": r.get("port"), "direct": not r.get("next_hop")}
                    for r in (routes or {}).get("routes", [])]
        return self.panel.render("discovery.tpl", session, title="Discovery", active="discovery", offline=offline,
                                 networks=networks, max_instance=MAX_INSTANCE)

    # -------------------------------------------------------------- read and write

    @staticmethod
    def _body() -> dict[str, Any]:
        body = bottle.request.json
        if not isinstance(body, dict):
            bottle.abort(400, "send a JSON object")
        device = body.get("device")
        if isinstance(device, bool) or not isinstance(device, (int, str)) or str(device).strip() == "":
            bottle.abort(400, "device is a device instance or an address (network:mac)")
        for key in ("object", "property"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                bottle.abort(400, f"{key} is missing (like analog-value,1 and present-value)")
        return {"device": str(device).strip(), "object": body["object"].strip(), "property": body["property"].strip()}

    def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.panel.daemon.call(method, params, timeout=CLIENT_TIMEOUT)
        except Offline as err:
            bottle.abort(503, f"the router is not running: {err}")
        except ControlError as err:
            bottle.abort(400 if err.code == "bad_params" else 409, err.message)

    def read(self, session: Session) -> dict[str, Any]:
        return self._call("read", self._body())

    def write(self, session: Session) -> dict[str, Any]:
        params = self._body()
        body = bottle.request.json
        value = body.get("value")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            bottle.abort(400, "value is text, a number, true/false, or null (relinquish)")
        priority = body.get("priority")
        if priority in ("", None):
            priority = None
        else:
            try:
                priority = int(priority)
            except (TypeError, ValueError):
                bottle.abort(400, "priority is 1 (highest) to 16, or empty")
            if not 1 <= priority <= 16:
                bottle.abort(400, "priority is 1 (highest) to 16, or empty")
        return self._call("write", {**params, "value": value, "priority": priority})
