"""The panel's pages and JSON endpoints (bottle), and ``bacrouter panel``'s main.

Everything the panel shows comes from the daemon's control methods or from
the configuration files, read when asked: the panel holds its sessions and
nothing else. Pages are rendered with bottle's SimpleTemplate from
``templates/``; ``static/panel.js`` refreshes live values from the JSON
endpoints and draws the graphs (SVG) without reloading the page.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import re
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bottle

from .. import __version__
from ..config import load_core, uci
from ..config.model import PanelSettings
from ..control_client import ControlError
from ..humanize import duration
from ..paths import Paths
from . import (
    discovery,
    freeclient,
    jobs,
    luci,
    mbus,
    memory,
    modbus_edit,
    modbus_files,
    modbus_live,
    ports_edit,
    routing,
    system,
)
from .auth import (
    Session,
    Sessions,
    Throttle,
    hash_password,
    host_allowed,
    new_password_problem,
    verify_password,
)
from .daemon import Daemon, Offline
from .editors import EditorLink
from .ports_edit import staged_count
from .ports_view import bip_live, fdt_tables
from .responses import redirect
from .routing import hop

__all__ = ["Options", "make_app", "serve"]

log = logging.getLogger("bacrouter.panel")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
#: one list for every render: bottle caches a compiled template by the identity of this list, so a new list
#: per request compiled every page anew and kept each copy (the panel grew by every page it served)
TEMPLATE_LOOKUP = [str(TEMPLATES)]
STATIC = HERE / "static"
COOKIE = "bacrouter_panel"
#: the LuCI bootstrap theme's stylesheet, used instead of the shipped one when the router has it
LUCI_CSS = Path("/www/luci-static/bootstrap/cascade.css")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


@dataclass
class Options:
    paths: Paths
    cert: Path = Path("/etc/uhttpd.crt")
    key: Path = Path("/etc/uhttpd.key")
    luci_css: Path = LUCI_CSS
    idle_timeout: float = 900.0
    #: largest request body accepted (uploads included); more is refused before it is read
    max_body: int = 4 << 20
    https: bool = False  # set by serve() when a certificate was loaded
    #: seconds between two questions to rpcd whether a session that came from LuCI is still valid
    luci_recheck: float = 60.0
    #: the ubus command the LuCI session check runs
    ubus_command: str = "ubus"
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- formatting helpers


def port_detail(port: dict[str, Any]) -> str:
    """One line of what matters about a port beyond its state (the text ``bacrouter status`` shows)."""
    link = port.get("link") or {}
    if port.get("reason"):
        return str(port["reason"])
    if port.get("kind") == "mstp" and link:
        parts = ["sole master" if link.get("sole_master") else f"next station {link.get('next_station')}"]
        if link.get("token_rotation_ms") is not None:
            parts.append(f"token rotation {link['token_rotation_ms']} ms")
        baud = link.get("baud") or {}
        if baud:
            parts.append(f"{baud.get('current')} baud {baud.get('mode', '')}".strip())
        return ", ".join(parts)
    parts = [str(port["mode"])] if port.get("mode") else []
    if link.get("registration"):
        parts.append(f"{link['registration'].get('state')} with BBMD {link['registration'].get('bbmd')}")
    if "fdt" in link:
        parts.append(f"{len(link['fdt'])} foreign device(s)")
    return ", ".join(parts)


def gateways(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateway features' summaries in the status (Modbus, Free Client, ...), each with a name and a line."""
    names = {"modbus": "Modbus", "freeclient": "Free Client", "mbus": "M-Bus"}
    out = []
    for key, value in status.items():
        if not isinstance(value, dict) or key in ("device", "counters", "conflicts", "control", "ubus"):
            continue
        if "online" not in value and "not_running" not in value:
            continue
        if key == "modbus":
            line = (f"{value.get('slaves', 0)} slave(s) on {value.get('masters', 0)} master(s): "
                    f"{value.get('online', 0)} online, {value.get('slaves', 0) - value.get('online', 0)} offline; "
                    f"{value.get('points', 0)} point(s)")
        elif key == "freeclient":
            line = (f"{value.get('buses', 0)} bus(es), {value.get('devices', 0)} device(s): "
                    f"{value.get('online', 0)} online, {value.get('devices', 0) - value.get('online', 0)} offline")
            if value.get("reason"):
                line += f" ({value['reason']})"
        else:
            line = ", ".join(f"{k} {v}" for k, v in value.items() if not isinstance(v, (dict, list)))
        out.append({"key": key, "name": names.get(key, key), "line": line})
    return out


def live_values(status: dict[str, Any] | None, ports: list[dict[str, Any]] | None) -> dict[str, str]:
    """Every value a page shows that changes, by key: panel.js puts each in its ``data-live`` element."""
    live: dict[str, str] = {}
    if status:
        live["uptime"] = duration(status.get("uptime_s"))
        live["networks"] = str(status.get("networks", "-"))
        for gateway in gateways(status):
            live[f"gateway.{gateway['key']}"] = gateway["line"]
        for name, value in (status.get("counters") or {}).items():
            live[f"counter.{name}"] = str(value)
    for port in ports or []:
        name = port["name"]
        live[f"port.{name}.state"] = str(port.get("state"))
        live[f"port.{name}.address"] = str(port.get("address") or "-")
        live[f"port.{name}.in"] = str(port.get("npdus_in", 0))
        live[f"port.{name}.out"] = str(port.get("npdus_out", 0))
        live[f"port.{name}.detail"] = port_detail(port)
        live.update(bip_live(port))
        link = port.get("link") or {}
        if port.get("kind") == "mstp" and link:
            sniffer = link.get("sniffer") or {}
            live[f"mstp.{name}.max_master"] = str(sniffer.get("max_master_polled", "-"))
            live[f"mstp.{name}.rotation"] = (f"{link['token_rotation_ms']} ms"
                                            if link.get("token_rotation_ms") is not None else "-")
            capture = link.get("capture")
            live[f"mstp.{name}.capture"] = (f"capturing: {capture.get('frames', 0)} frame(s)" if capture
                                           else "not capturing")
    return live


def mstp_devices(port: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((port.get("link") or {}).get("sniffer") or {}).get("active_devices") or [])


# ----------------------------------------------------------------------------- the application


class Panel:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.paths = options.paths
        self.daemon = Daemon(self.paths.control_socket)
        self.sessions = Sessions(options.idle_timeout)
        self.throttle = Throttle()
        self._password_lock = threading.Lock()
        self.app = bottle.Bottle()
        self.app.config["autojson"] = True
        #: the top menu, in order: (key, label, href); each page module adds its own entries when it registers
        self.menu: list[tuple[str, str, str]] = []
        #: section type → its editor's link, for the problems Save & Apply lists (each page module adds its own)
        self.editors: dict[str, EditorLink] = {}
        #: the control methods a browser may run as a job (page modules add theirs): never the root-only ones
        self.job_methods: set[str] = {"discover"}
        #: the params a browser may give such a method, where not all of them (the socket's root-only ones left out)
        self.job_params: dict[str, set[str]] = {}
        self._routes()

    # -------------------------------------------------------------- configuration (read when needed)

    def settings(self) -> PanelSettings:
        """The panel section as the file says now."""
        config, _ = load_core(self.paths)
        return config.panel if config is not None else PanelSettings(name="panel")

    def host_names(self) -> set[str]:
        """The names (besides IP addresses and localhost) the router is reached by, lower case.

        The kernel's host name and UCI ``system.@system[0].hostname``, each also
        under the LAN's DNS domain (UCI ``dhcp.@dnsmasq[0].domain``, ``lan`` on
        OpenWrt), and UCI ``panel.hostnames``.
        """
        hosts = {socket.gethostname(), self._uci_value("system", "@system[0]", "hostname")}
        domain = self._uci_value("dhcp", "@dnsmasq[0]", "domain")
        names = hosts | {f"{host}.{domain}" for host in hosts if host and domain and "." not in host}
        names |= set(self.settings().hostnames)
        return {name.lower().rstrip(".") for name in names if name}

    def _uci_value(self, package: str, section: str, option: str) -> str:
        """One option of another UCI package (``system``, ``dhcp``), or "" when it (or the file) is not there."""
        try:
            found = uci.load(self.paths.uci_dir / package).section(section)
        except (OSError, uci.UciError):
            return ""
        value = found.get(option) if found is not None else None
        return value if isinstance(value, str) else ""

    def check_host(self) -> None:
        """Refuse a page that works without a login when the Host is not a name of this router (DNS rebinding)."""
        host = bottle.request.get_header("Host") or ""
        if not host_allowed(host, self.host_names()):
            log.warning("panel: refused %s for Host %r from %s (not a name of this router; see panel.hostnames)",
                        bottle.request.path, host[:100], self.client())
            bottle.abort(403, "refused: this router is not known by the name in the address bar; use its IP address, "
                              "or add the name to the UCI list panel.hostnames")

    def device(self) -> dict[str, Any]:
        config, problems = load_core(self.paths)
        if config is None:
            return {"instance": "-", "name": "-", "problems": len(problems)}
        return {"instance": config.app.device_instance, "name": config.app.device_name,
                "problems": sum(p.severity == "error" for p in problems)}

    def _set_password(self, password: str, only_if_unset: bool) -> bool:
        """Write the new hash into the panel section; False when one is set and ``only_if_unset``."""
        with self._password_lock:
            package = uci.load(self.paths.uci_file)
            section = package.section("@panel[0]") or package.add("panel", "panel")
            if only_if_unset and section.get("password_hash"):
                return False
            section.options["password_hash"] = hash_password(password)
            uci.save(package)
            return True

    # -------------------------------------------------------------- requests

    @staticmethod
    def client() -> str:
        """The peer's address as the socket says (never X-Forwarded-For, which any client can write)."""
        return str(bottle.request.environ.get("REMOTE_ADDR") or "?")

    def session(self) -> Session | None:
        return self.sessions.get(bottle.request.get_cookie(COOKIE))

    def _set_cookie(self, session: Session) -> None:
        bottle.response.set_cookie(COOKIE, session.id, path="/", httponly=True, samesite="strict",
                                   secure=self.options.https)

    def visitor(self) -> Session:
        """The request's session, or a new not-logged-in one (for the login and first-password forms)."""
        session = self.session()
        if session is None:
            session = self.sessions.new()
            self._set_cookie(session)
        return session

    def same_origin(self) -> bool:
        """The Origin (or, lacking it, the Referer) names this server, when the browser sent one."""
        request = bottle.request
        host = request.get_header("Host", "")
        scheme = "https" if self.options.https else "http"
        for header in ("Origin", "Referer"):
            value = request.get_header(header)
            if value:
                parts = urlsplit(value)
                return parts.scheme == scheme and parts.netloc == host
        return True  # neither: the CSRF token alone decides (a browser sends Origin on every POST)

    def check_post(self, session: Session) -> None:
        """Refuse a state-changing request without this session's CSRF token or from another origin."""
        request = bottle.request
        token = request.get_header("X-CSRF-Token") or request.forms.get("csrf") or ""
        if not self.same_origin():
            bottle.abort(403, "refused: the request comes from another site (Origin)")
        if not hmac.compare_digest(str(token), session.csrf):
            bottle.abort(403, "refused: the form is stale or forged (CSRF token); reload the page")

    def render(self, name: str, session: Session | None, **values: Any) -> str:
        values.setdefault("title", "")
        values.setdefault("active", "")
        values.setdefault("message", None)
        values.setdefault("offline", None)
        values.setdefault("menu", self.menu)
        values.setdefault("staged", staged_count(self) if session is not None and session.user else 0)
        return bottle.template(name, template_lookup=TEMPLATE_LOOKUP, csrf=session.csrf if session else "",
                               user=session.user if session else None, version=__version__, **values)

    def _routes(self) -> None:
        app = self.app
        app.add_hook("before_request", self._started)
        app.add_hook("after_request", self._headers)
        app.route("/static/<name:path>", callback=self.static)
        app.route("/login", callback=self.login_page)
        app.route("/login", method="POST", callback=self.login)
        app.route("/setup", callback=self.setup_page)
        app.route("/setup", method="POST", callback=self.setup)
        app.route("/logout", method="POST", callback=self.logged_in(self.logout, post=True, changes=False))
        app.route("/", callback=self.logged_in(self.dashboard))
        app.route("/ports", callback=self.logged_in(self.ports_page))
        app.route("/routes", callback=self.logged_in(self.routes_page))
        app.route("/api/dashboard", callback=self.logged_in(self.api_dashboard, api=True))
        app.route("/api/ports", callback=self.logged_in(self.api_ports, api=True))
        app.route("/api/routes", callback=self.logged_in(self.api_routes, api=True))
        app.route("/api/capture", method="POST", callback=self.logged_in(self.api_capture, api=True, post=True))
        app.route("/captures/<name>", callback=self.logged_in(self.download_capture))
        self.menu += [("dashboard", "Dashboard", "/"), ("ports", "Ports", "/ports"), ("routes", "Routes", "/routes")]
        jobs.register(self)  # long tasks (scans, Read Group) as the daemon's jobs, with progress and cancel
        discovery.register(self)  # Who-Is, read and write through the router
        modbus_edit.register(self)  # Modbus masters, slaves and points
        modbus_live.register(self)  # the gateway as it runs, Read Group (reached from the Modbus pages)
        modbus_files.register(self)  # Modbus file export, and import staged with its collision report
        freeclient.register(self)  # Free Client buses, scripts and conversion scripts
        mbus.register(self)  # M-Bus scans and reads, points for the M-Bus Free Client script
        ports_edit.register(self)  # the port editors and Save & Apply
        routing.register(self)  # the routes page's Who-Is-Router refresh
        system.register(self)
        self.luci = luci.register(self)  # POST /luci-login: a LuCI session opens the panel
        for code in (400, 401, 403, 404, 409, 413, 429, 500, 503):
            app.error(code)(self._error_page)

    def _error_page(self, error: bottle.HTTPError) -> str:
        if bottle.request.path.startswith("/api/"):
            bottle.response.content_type = "application/json"
            return json.dumps({"error": error.body})
        return self.render("error.tpl", None, title="Error", status=error.status_line, text=error.body)

    @staticmethod
    def _started() -> None:
        bottle.request.environ["bacrouter.started"] = time.perf_counter()

    def _headers(self) -> None:
        headers = bottle.response.headers
        started = bottle.request.environ.get("bacrouter.started")
        if started is not None:  # the server's time (browsers' developer tools show it; bench/panel_bench.py uses it)
            headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        headers["Content-Security-Policy"] = CSP
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if not bottle.request.path.startswith("/static/"):
            headers["Cache-Control"] = "no-store"

    def logged_in(self, handler: Any, api: bool = False, post: bool = False, changes: bool = True) -> Any:
        """Wrap a page or endpoint: a live logged-in session (and on POST, the CSRF token and Origin).

        A POST that ``changes`` something is refused to a read-only session (one from LuCI without write access).
        """

        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            session = self.session()
            if session is not None and not self.luci.still_valid(session):
                self.sessions.drop(session)
                session = None
            if session is None or session.user is None:
                if api:
                    bottle.abort(401, "not logged in (or the session expired)")
                if not self.settings().password_hash:
                    redirect("/setup")
                redirect("/login")
            if post:
                self.check_post(session)
                if changes and session.data.get("write") is False:
                    bottle.abort(403, "refused: this LuCI login may look but not change anything (it has read "
                                      f"access only to {luci.GROUP}); log in with the panel password to change")
            return handler(session, *args, **kwargs)

        return wrapper

    # -------------------------------------------------------------- static files

    def static(self, name: str) -> Any:
        if name == "theme.css" and self.options.luci_css.is_file():
            return bottle.static_file(self.options.luci_css.name, root=str(self.options.luci_css.parent),
                                      mimetype="text/css")
        if name == "theme.css":
            name = "bootstrap.css"
        return bottle.static_file(name, root=str(STATIC))

    # -------------------------------------------------------------- login, first password, logout

    def login_page(self) -> str:
        self.check_host()
        if not self.settings().password_hash:
            redirect("/setup")
        session = self.visitor()
        if session.user:
            redirect("/")
        return self.render("login.tpl", session, title="Log in", username=self.settings().username)

    def login(self) -> str:
        session = self.session()
        self.check_host()
        if session is None:  # no form from us: a stale tab or a forged post
            bottle.abort(403, "refused: the form is stale or forged (CSRF token); reload the page")
        self.check_post(session)
        settings = self.settings()
        if not settings.password_hash:
            redirect("/setup")
        client = self.client()
        wait = self.throttle.wait(client)
        if wait > 0:
            bottle.response.status = 429
            bottle.response.set_header("Retry-After", str(int(wait) + 1))
            return self.render("login.tpl", session, title="Log in", username=settings.username,
                               message=f"Too many failed logins: try again in {int(wait) + 1} s.")
        username = bottle.request.forms.getunicode("username") or ""
        password = bottle.request.forms.getunicode("password") or ""
        ok = verify_password(password, settings.password_hash)  # always hashed: the time says nothing
        if not (ok and username == settings.username):
            self.throttle.failed(client)
            log.warning("panel: failed login for %r from %s", username[:64], client)
            bottle.response.status = 403
            return self.render("login.tpl", session, title="Log in", username=settings.username,
                               message="Wrong user name or password.")
        self.throttle.succeeded(client)
        fresh = self.sessions.login(session, username)
        self._set_cookie(fresh)
        log.info("panel: %s logged in from %s", username, client)
        redirect("/")
        return ""

    def setup_page(self) -> str:
        self.check_host()
        settings = self.settings()
        if settings.password_hash:
            redirect("/login")
        session = self.visitor()
        return self.render("setup.tpl", session, title="Set the password", username=settings.username)

    def setup(self) -> str:
        self.check_host()
        session = self.session()
        if session is None:
            bottle.abort(403, "refused: the form is stale or forged (CSRF token); reload the page")
        self.check_post(session)
        settings = self.settings()
        password = bottle.request.forms.getunicode("password") or ""
        again = bottle.request.forms.getunicode("again") or ""
        problem = new_password_problem(password, again)
        if problem:
            bottle.response.status = 400
            return self.render("setup.tpl", session, title="Set the password", username=settings.username,
                               message=problem)
        if not self._set_password(password, only_if_unset=True):
            redirect("/login")  # somebody was quicker: log in with theirs
        log.warning("panel: the password was set from %s", self.client())
        fresh = self.sessions.login(session, settings.username)
        self._set_cookie(fresh)
        redirect("/")
        return ""

    def logout(self, session: Session) -> None:
        self.sessions.drop(session)
        bottle.response.delete_cookie(COOKIE, path="/")
        redirect("/login")

    # -------------------------------------------------------------- runtime data

    def _runtime(self, *calls: tuple[str, dict[str, Any] | None]) -> tuple[list[Any], str | None]:
        """Several control calls; the answers, or Nones and why the router could not be asked."""
        try:
            return [self.daemon.call(method, params) for method, params in calls], None
        except Offline as err:
            return [None] * len(calls), f"The router is not running ({err}): runtime values are not available. " \
                                         "The configuration can still be edited (offline mode)."

    def dashboard(self, session: Session) -> str:
        (status, ports, history, warnings), offline = self._runtime(
            ("status", None), ("ports", None), ("history", None), ("log", {"level": "warning", "limit": 10}))
        return self.render("dashboard.tpl", session, title="Dashboard", active="dashboard", offline=offline,
                           device=self.device(), status=status, ports=ports or [], history=history,
                           warnings=(warnings or {}).get("lines", []), gateways=gateways(status or {}),
                           live=live_values(status, ports), detail=port_detail, duration=duration)

    def api_dashboard(self, session: Session) -> dict[str, Any]:
        since = bottle.request.query.get("since")
        history_params = {"since": float(since)} if since and re.fullmatch(r"[0-9]+(\.[0-9]+)?", since) else None
        (status, ports, history, warnings), offline = self._runtime(
            ("status", None), ("ports", None), ("history", history_params), ("log", {"level": "warning", "limit": 10}))
        return {"online": offline is None, "offline": offline, "live": live_values(status, ports),
                "history": history, "warnings": (warnings or {}).get("lines", [])}

    def ports_page(self, session: Session) -> str:
        (ports,), offline = self._runtime(("ports", None))
        captures = self._captures()
        return self.render("ports.tpl", session, title="Ports", active="ports", offline=offline, ports=ports or [],
                           live=live_values(None, ports), detail=port_detail, devices=mstp_devices,
                           captures=captures)

    def api_ports(self, session: Session) -> dict[str, Any]:
        (ports,), offline = self._runtime(("ports", None))
        return {"online": offline is None, "offline": offline, "live": live_values(None, ports),
                "devices": {p["name"]: mstp_devices(p) for p in ports or [] if p.get("kind") == "mstp"},
                "fdt": fdt_tables(ports),
                "captures": [c["name"] for c in self._captures()]}

    def _page_args(self) -> tuple[int, int]:
        try:
            offset = max(0, int(bottle.request.query.get("offset") or 0))
            limit = min(max(1, int(bottle.request.query.get("limit") or 100)), 1000)
        except ValueError:
            bottle.abort(400, "offset and limit are numbers")
        return offset, limit

    def routes_page(self, session: Session) -> str:
        offset, limit = self._page_args()
        (routes,), offline = self._runtime(("routes", {"offset": offset, "limit": limit}))
        return self.render("routes.tpl", session, title="Routes", active="routes", offline=offline, routes=routes,
                           offset=offset, limit=limit, hop=hop)

    def api_routes(self, session: Session) -> dict[str, Any]:
        offset, limit = self._page_args()
        (routes,), offline = self._runtime(("routes", {"offset": offset, "limit": limit}))
        return {"online": offline is None, "offline": offline, "routes": routes}

    # -------------------------------------------------------------- MS/TP capture

    def capture_dir(self) -> Path:
        return self.paths.run_dir / "captures"  # where the daemon writes a capture it names itself

    def _captures(self) -> list[dict[str, Any]]:
        try:
            files = sorted(self.capture_dir().glob("*.pcap"), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return []
        return [{"name": f.name, "size": f.stat().st_size,
                 "time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(f.stat().st_mtime))} for f in files[:20]]

    def api_capture(self, session: Session) -> dict[str, Any]:
        data = bottle.request.json if bottle.request.json is not None else bottle.request.forms
        port, action = str(data.get("port") or ""), str(data.get("action") or "")
        if action not in ("start", "stop"):
            bottle.abort(400, "action is start or stop")
        try:
            result = self.daemon.call("capture", {"port": port, "action": action})
        except Offline as err:
            bottle.abort(503, f"the router is not running: {err}")
        except ControlError as err:
            bottle.abort(409, err.message)
        name = Path(str(result.get("path", ""))).name
        return {"port": port, "action": action, "frames": result.get("frames"), "file": name,
                "download": f"/captures/{name}" if action == "stop" and name else None}

    def download_capture(self, session: Session, name: str) -> Any:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.pcap", name):
            bottle.abort(404, "no such capture")
        path = self.capture_dir() / name
        if path.is_symlink() or not path.is_file():  # a link could point anywhere the panel may read
            bottle.abort(404, "no such capture")
        return bottle.static_file(name, root=str(self.capture_dir()), download=name,
                                  mimetype="application/vnd.tcpdump.pcap")


def _limit_body(app: Any, limit: int) -> Any:
    """WSGI middleware: a body larger than ``limit`` (or of unknown length) is refused before it is read."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        length = environ.get("CONTENT_LENGTH") or "0"
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked or not length.isdigit() or int(length) > limit:
            start_response("413 Request Entity Too Large", [("Content-Type", "text/plain")])
            return [f"refused: a request body may have at most {limit} octets\n".encode()]
        return app(environ, start_response)

    return wrapped


def make_app(options: Options) -> Any:
    """The WSGI application (bottle, behind the body size limit)."""
    bottle.BaseRequest.MEMFILE_MAX = options.max_body
    return _limit_body(Panel(options).app, options.max_body)


class _Stop(BaseException):
    """SIGTERM or SIGINT: the panel stops (connections being served are cut off)."""


def serve(options: Options, listen: str | None = None, port: int | None = None) -> int:
    """Run the panel until SIGTERM or SIGINT (``bacrouter panel``)."""
    from .server import make_server, tls_context

    config, problems = load_core(options.paths)
    settings = config.panel if config is not None else PanelSettings(name="panel")
    host, number = listen or settings.listen, settings.port if port is None else port
    memory.keep_heap_small()  # before any thread: large buffers go back to the system when freed
    tls = tls_context(options.cert, options.key)
    options.https = tls is not None
    server = make_server(make_app(options), host, number, tls)
    def finish(*_: Any) -> None:
        raise _Stop  # out of serve_forever at once: procd expects the service gone as soon as the router is

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    log.info("bacrouter panel %s on %s://%s:%d/%s", __version__, "https" if tls else "http", host,
             server.server_address[1], "" if settings.password_hash else " (no password yet: the first visit sets it)")
    try:
        server.serve_forever(poll_interval=0.5)
    except _Stop:
        pass
    finally:
        server.server_close()
    log.info("panel stopped")
    return 0
