"""The panel's long tasks: the daemon's jobs (``job_start``/``job``/``job_cancel``) over JSON.

A page starts a scan or a Read Group with ``POST /api/jobs``, watches it with
``GET /api/jobs/<id>`` and may cancel it with ``POST /api/jobs/<id>/cancel``;
``static/panel.js`` (``bacrouter.runJob``) draws the progress bar and the
Cancel button. The job runs in the daemon: the panel keeps nothing, a closed
tab stops nothing, another browser sees the same job.

Only the methods a page module allows (``panel.job_methods``) may be started
from a browser: the socket's table also has methods meant for root alone
(``capture`` with a file path).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import bottle

from ..control_client import ControlError
from .daemon import Offline

if TYPE_CHECKING:
    from .auth import Session

Panel = Any  # bacrouter.panel.app.Panel (it imports this module)

__all__ = ["register"]


def register(panel: Panel) -> None:
    jobs = Jobs(panel)
    app = panel.app
    app.route("/api/jobs", method="POST", callback=panel.logged_in(jobs.start, api=True, post=True))
    app.route("/api/jobs/<job_id>", callback=panel.logged_in(jobs.get, api=True))
    app.route("/api/jobs/<job_id>/cancel", method="POST", callback=panel.logged_in(jobs.cancel, api=True, post=True))


class Jobs:
    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return self.panel.daemon.call(method, params)
        except Offline as err:
            bottle.abort(503, f"the router is not running: {err}")
        except ControlError as err:
            bottle.abort(404 if err.code == "not_found" else 409, err.message)

    @staticmethod
    def _id(job_id: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{1,32}", job_id):
            bottle.abort(404, "no such job")
        return job_id

    def start(self, session: Session) -> dict[str, Any]:
        body = bottle.request.json
        if not isinstance(body, dict):
            bottle.abort(400, "send a JSON object: {method, params}")
        method, params = body.get("method"), body.get("params") or {}
        if method not in self.panel.job_methods:
            bottle.abort(403, f"the panel does not run {str(method)[:40]!r} as a job")
        if not isinstance(params, dict):
            bottle.abort(400, "params is an object")
        allowed = self.panel.job_params.get(method)
        refused = sorted(set(params) - allowed) if allowed is not None else []
        if refused:  # a tty path, say: the socket's (root's) alone
            bottle.abort(403, f"the panel does not pass {', '.join(r[:40] for r in refused)} to {method}")
        return self._call("job_start", {"method": method, "params": params})

    def get(self, session: Session, job_id: str) -> dict[str, Any]:
        return self._call("job", {"id": self._id(job_id)})

    def cancel(self, session: Session, job_id: str) -> dict[str, Any]:
        return self._call("job_cancel", {"id": self._id(job_id)})
