"""The routes page's "Who is router" refresh: the daemon's ``who_is_router`` control method.

``POST /api/who-is-router`` (JSON, the CSRF token in ``X-CSRF-Token``) answers the ports asked, the networks
learned within the wait and the page of the routing table the browser shows, its next hops as text; the page's
script (``static/routes.js``) redraws the table without a reload. Without JavaScript the button posts the form
to ``/routes/who-is-router``, which answers the routes page with the result.
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

__all__ = ["register", "hop", "WAIT"]

#: seconds the router listens for I-Am-Router-To-Network answers
WAIT = 2.0


def hop(hexmac: str | None) -> str:
    """A next hop as ``bacrouter status`` prints it (an IP address and port, or a MAC)."""
    from ..net import bvll

    try:
        return bvll.text(bytes.fromhex(hexmac)) if hexmac else "direct"
    except ValueError:
        return str(hexmac)


def register(panel: Panel) -> None:
    Routes(panel).add(panel.app)


def _number(value: Any, name: str, low: int, high: int, default: int | None) -> int | None:
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        bottle.abort(400, f"{name} is a number {low}..{high}")
    return number


class Routes:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    def add(self, app: bottle.Bottle) -> None:
        p = self.panel
        app.route("/api/who-is-router", method="POST", callback=p.logged_in(self.api, api=True, post=True))
        app.route("/routes/who-is-router", method="POST", callback=p.logged_in(self.form, post=True))

    def ask(self, data: Any) -> dict[str, Any]:
        """Ask the daemon; a located 400, 409 or 503 when it cannot be asked or refuses."""
        params: dict[str, Any] = {"wait": WAIT,
                                  "offset": _number(data.get("offset"), "offset", 0, 1 << 30, 0),
                                  "limit": _number(data.get("limit"), "limit", 1, 1000, 100)}
        network = _number(data.get("network"), "network", 1, 65534, None)
        if network is not None:
            params["network"] = network
        if data.get("port"):
            params["port"] = str(data.get("port"))
        try:
            result: dict[str, Any] = self.panel.daemon.call("who_is_router", params, timeout=WAIT + 5)
        except Offline as err:
            bottle.abort(503, f"the router is not running: {err}")
        except ControlError as err:
            bottle.abort(409, err.message)
        return result

    @staticmethod
    def summary(result: dict[str, Any]) -> str:
        asked = ", ".join(result.get("asked") or []) or "no port (none is up)"
        learned = result.get("learned") or []
        found = (f"{len(learned)} new network(s): {', '.join(str(n) for n in learned)}" if learned
                 else "no new network")
        return f"Asked who is router on {asked}: {found}."

    def api(self, session: Session) -> dict[str, Any]:
        data = bottle.request.json if bottle.request.json is not None else bottle.request.forms
        result = self.ask(data)
        page = result.get("routes") or {}
        rows = [{"network": r["network"], "port": r["port"], "next_hop": hop(r.get("next_hop")),
                 "status": r["status"]} for r in page.get("routes", [])]
        return {"asked": result.get("asked"), "learned": result.get("learned"), "message": self.summary(result),
                "summary": {k: page.get(k) for k in ("total", "direct", "learned", "max_learned", "offset", "limit")},
                "routes": rows}

    def form(self, session: Session) -> str:
        forms = bottle.request.forms
        result = self.ask(forms)
        page = result.get("routes") or {}
        return self.panel.render("routes.tpl", session, title="Routes", active="routes", routes=page,
                                 offset=page.get("offset", 0), limit=page.get("limit", 100), hop=hop,
                                 who=self.summary(result))
