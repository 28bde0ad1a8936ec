"""A LuCI login opens the panel: the LuCI view posts its session id, the panel asks rpcd through ubus.

The view (``luci-app-bacrouter``) has a form that POSTs the LuCI session id
(``rpc.getSessionID()``) to ``/luci-login``: in the body, so it never sits in
a URL, a log line or a Referer. The panel asks rpcd's ``session`` object
whether that session has the ``luci-app-bacrouter`` access group
(``ubus call session access {"ubus_rpc_session": SID, "scope":
"access-group", "object": "luci-app-bacrouter", "function": "read"}``, and
``"write"``) and, with read, issues its own session cookie:

- ``read`` only: every page, but no change (a POST other than log out is 403);
- ``write``: what a password login may do.

rpcd grants ``access-group``/``<group>``/``read|write`` at LuCI login from the
ACL files (``/usr/share/rpcd/acl.d/*.json``) and the user's ``rpcd`` login
section (``root``: everything; write implies read). The LuCI session is asked
again every ``recheck`` seconds while the panel session is used: a LuCI
logout, expiry or lost grant ends the panel session then (and the question
keeps the LuCI session alive, as LuCI's own requests do).

ubus is called through the ``ubus`` command (on every OpenWrt; python3-ubus is
optional), on the daemon's ``ubus_socket`` when one is configured.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import bottle

from ..config import load_core
from .auth import Session, host_name

#: the panel these routes are registered on (bacrouter.panel.app.Panel; not imported: it imports this module)
Panel = Any

__all__ = ["register", "LuciLogin", "UbusSessions", "Grant", "Unavailable", "GROUP", "USER"]

log = logging.getLogger("bacrouter.panel")

#: the rpcd access group of luci-app-bacrouter (its ACL file's top-level key)
GROUP = "luci-app-bacrouter"
#: the panel's user name for a session that came from LuCI
USER = "luci"
#: rpcd's session ids: 32 hex digits (RPC_SID_LEN); all zeros is its unauthenticated default session
SID = re.compile(r"[0-9a-f]{32}")
DEFAULT_SID = "0" * 32
#: seconds the ubus command may take
UBUS_TIMEOUT = 5


@dataclass(frozen=True)
class Grant:
    read: bool
    write: bool


class Unavailable(Exception):
    """ubus cannot be asked here (no ``ubus`` command, or it hung)."""


class UbusSessions:
    """rpcd's ``session access``, through the ``ubus`` command."""

    def __init__(self, socket_path: str = "", command: str = "ubus") -> None:
        self.socket_path, self.command = socket_path, command

    def grant(self, sid: str) -> Grant | None:
        """What the LuCI session may do with the panel; None when rpcd does not know it (unknown or expired)."""
        read = self._access(sid, "read")
        if read is None:
            return None
        return Grant(read=read, write=bool(self._access(sid, "write")))

    def _access(self, sid: str, function: str) -> bool | None:
        program = shutil.which(self.command)
        if program is None:
            raise Unavailable(f"no '{self.command}' command (not an OpenWrt system?)")
        argv = [program, *(["-s", self.socket_path] if self.socket_path else []), "-t", str(UBUS_TIMEOUT),
                "call", "session", "access",
                json.dumps({"ubus_rpc_session": sid, "scope": "access-group", "object": GROUP, "function": function})]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=UBUS_TIMEOUT + 2)
        except subprocess.TimeoutExpired as err:
            raise Unavailable("ubus did not answer") from err
        if done.returncode != 0:
            # rpcd answers "not found" for an unknown or expired session (and ubusd for a missing rpcd);
            # its message repeats the session id, so only the status is logged
            log.info("panel: ubus session access failed with status %d", done.returncode)
            return None
        try:
            return json.loads(done.stdout).get("access") is True
        except (ValueError, AttributeError):
            return None


class LuciLogin:
    """``POST /luci-login`` and the periodic re-check of sessions that came from LuCI."""

    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    def checker(self) -> UbusSessions:
        config, _ = load_core(self.panel.paths)
        return UbusSessions(config.app.ubus_socket if config is not None else "", self.panel.options.ubus_command)

    def routes(self) -> None:
        self.panel.app.route("/luci-login", method="POST", callback=self.login)

    def _from_this_router(self) -> bool:
        """The form comes from a page of this router (LuCI): the Origin names the host the panel is reached by.

        Only the port may differ (LuCI is uhttpd's, on 80 or 443); the Origin is
        required (a browser sends it with every cross-origin POST).
        """
        origin = bottle.request.get_header("Origin") or ""
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        own = host_name(bottle.request.get_header("Host") or "")
        return parts.scheme in ("http", "https") and own is not None and parts.hostname == own

    def login(self) -> str:
        panel = self.panel
        panel.check_host()
        if not self._from_this_router():
            bottle.abort(403, "refused: the LuCI login must come from this router's LuCI page (Origin)")
        client = panel.client()
        wait = panel.throttle.wait(client)
        if wait > 0:
            raise bottle.HTTPError(429, f"Too many failed logins: try again in {int(wait) + 1} s.",
                                   **{"Retry-After": str(int(wait) + 1)})
        sid = str(bottle.request.forms.get("sid") or "")
        grant = None
        if SID.fullmatch(sid) and sid != DEFAULT_SID:
            try:
                grant = self.checker().grant(sid)
            except Unavailable as err:
                bottle.abort(503, f"LuCI sessions cannot be checked here: {err}")
        if grant is None or not grant.read:
            panel.throttle.failed(client)
            log.warning("panel: LuCI session refused from %s (%s)", panel.client(),
                        "no access to " + GROUP if grant else "unknown or expired")
            bottle.abort(403, f"refused: the LuCI session is unknown, expired or has no access to {GROUP}: "
                              "log in to LuCI again, or ask for access to the BACnet router")
        panel.throttle.succeeded(client)
        fresh = panel.sessions.login(panel.session(), USER)
        fresh.data.update(luci=sid, write=grant.write, checked=panel.sessions.clock())
        panel._set_cookie(fresh)
        log.info("panel: LuCI session (%s) logged in from %s", "read-write" if grant.write else "read-only",
                 panel.client())
        # a page of our own that moves on to the dashboard, not a redirect: the cookie is SameSite=Strict and
        # a redirect would still belong to the navigation LuCI's page started (cross-site when its scheme differs)
        bottle.response.set_header("Refresh", "0; url=/")
        return panel.render("luci_login.tpl", fresh, title="Logged in through LuCI", write=grant.write)

    def still_valid(self, session: Session) -> bool:
        """For a session from LuCI: ask rpcd again when ``recheck`` seconds have passed (and update the grant)."""
        sid = session.data.get("luci")
        if not sid:
            return True
        now = self.panel.sessions.clock()
        if now - session.data.get("checked", 0.0) < self.panel.options.luci_recheck:
            return True
        try:
            grant = self.checker().grant(sid)
        except Unavailable:
            grant = None
        if grant is None or not grant.read:
            log.info("panel: the LuCI session behind a panel session ended; logged out")
            return False
        session.data.update(write=grant.write, checked=now)
        return True


def register(panel: Panel) -> LuciLogin:
    """Add ``/luci-login`` to the panel's app; the LuciLogin does the periodic re-checks too."""
    login = LuciLogin(panel)
    login.routes()
    return login
