"""A LuCI session opens the panel: ``POST /luci-login``, checked with rpcd's ``session access`` over the real ubusd.

The platform kit's ubusd and ``ubus`` command are real. rpcd is not in the
kit: the test uses a real rpcd when one is given (``BACROUTER_RPCD``, or
``sbin/rpcd`` in the kit once it has one) and otherwise the stand-in
``rpcd_session.py`` (rpcd's ``session`` create / grant / access / destroy,
on the same ubusd; see its docstring for the one difference). Sessions are
made as rpcd's LuCI login makes them: ``create``, then ``grant`` of
``access-group`` / ``luci-app-bacrouter`` / ``read`` (and ``write``).

The panel runs in this process (its server on a free port, no daemon: the
offline panel), re-asking rpcd about a LuCI session every second.
"""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bacrouter.panel.app import Options, make_app
from bacrouter.panel.server import make_server
from bacrouter.paths import Paths
from tests.openwrt.platform import platform_prefix, tool

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def rpcd_program() -> list[str]:
    """The real rpcd when there is one, else the stand-in (with the kit's python3-ubus)."""
    real = os.environ.get("BACROUTER_RPCD") or str(platform_prefix() / "sbin" / "rpcd")
    if Path(real).is_file():
        return [real]
    return [sys.executable, str(HERE / "rpcd_session.py")]


class Rpcd:
    """A private ubusd with rpcd's ``session`` object on it, and the ubus command to talk to it."""

    def __init__(self, directory: Path) -> None:
        self.socket = directory / "ubus.sock"
        self.ubusd = subprocess.Popen([tool("ubusd"), "-s", str(self.socket)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not self.socket.exists():
            assert time.monotonic() < deadline, "ubusd made no socket"
            time.sleep(0.02)
        self.program = rpcd_program()
        self.log = open(directory / "rpcd.log", "w")
        self.rpcd = subprocess.Popen([*self.program, "-s", str(self.socket)] if len(self.program) == 1
                                     else [*self.program, str(self.socket)], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, PYTHONPATH=str(platform_prefix() / "lib" / "python")))
        while self.run("list", "session").returncode != 0:
            assert time.monotonic() < deadline + 10, (directory / "rpcd.log").read_text()
            time.sleep(0.05)

    @property
    def real(self) -> bool:
        return len(self.program) == 1

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool("ubus"), "-s", str(self.socket), *args], capture_output=True, text=True,
                              timeout=10)

    def call(self, method: str, message: dict) -> dict:
        done = self.run("call", "session", method, json.dumps(message))
        assert done.returncode == 0, (method, done.returncode, done.stderr)
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def login(self, *permissions: str, group: str = "luci-app-bacrouter", timeout: int = 300) -> str:
        """A session as rpcd's LuCI login leaves it for a user with these permissions on ``group``."""
        sid = self.call("create", {"timeout": timeout})["ubus_rpc_session"]
        if permissions:
            self.call("grant", {"ubus_rpc_session": sid, "scope": "access-group",
                                "objects": [[group, p] for p in permissions]})
        return sid

    def close(self) -> None:
        for proc in (self.rpcd, self.ubusd):
            proc.terminate()
            proc.wait(5)
        self.log.close()


class Client:
    def __init__(self, port: int, source: str) -> None:
        self.port, self.source, self.cookies = port, source, {}

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
                ) -> tuple[int, dict, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15, source_address=(self.source, 0))
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, data, headers)
        answer = conn.getresponse()
        text = answer.read().decode(errors="replace")
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        conn.close()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, text

    def luci_login(self, sid: str, origin: str | None = "http://127.0.0.1") -> tuple[int, dict, str]:
        """What the LuCI view's form sends: a cross-origin POST from LuCI's port, the id in the body."""
        return self.request("POST", "/luci-login", {"sid": sid}, {"Origin": origin} if origin else {})

    def csrf(self) -> str:
        import re

        status, _, text = self.request("GET", "/")
        found = re.search(r'name="csrf" content="([^"]+)"', text)
        assert status == 200 and found, (status, text[:300])
        return found.group(1)

    def change(self) -> tuple[int, dict, str]:
        """A state-changing POST that works without the daemon: throw the staged edits away."""
        return self.request("POST", "/changes/revert", {"csrf": self.csrf()},
                            {"Origin": f"http://127.0.0.1:{self.port}"})


@pytest.fixture(scope="module")
def rpcd(tmp_path_factory):
    bus = Rpcd(tmp_path_factory.mktemp("rpcd"))
    yield bus
    bus.close()


@pytest.fixture(scope="module")
def panel(rpcd, tmp_path_factory):
    directory = tmp_path_factory.mktemp("luci-panel")
    (directory / "config").mkdir()
    (directory / "bacrouter").mkdir()
    (directory / "bacrouter" / "resource.conf").write_text(json.dumps({"loop": {"type": "ETH", "ifname": "lo"}}))
    (directory / "config" / "bacrouter").write_text(
        f"config bacrouter 'main'\n\toption device_instance '4100'\n\toption ubus_socket '{rpcd.socket}'\n\n"
        "config panel 'panel'\n\toption username 'admin'\n")
    options = Options(paths=Paths(directory), cert=directory / "no.crt", key=directory / "no.key",
                      luci_css=directory / "no.css", luci_recheck=1.0, ubus_command=tool("ubus"))
    server = make_server(make_app(options), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_luci_session_with_write_access_opens_the_panel_and_may_change(rpcd, panel, caplog):
    caplog.set_level(logging.INFO, logger="bacrouter.panel")
    sid = rpcd.login("read", "write")
    client = Client(panel, "127.0.2.1")
    status, headers, text = client.luci_login(sid)
    assert status == 200 and 'id="luci-login"' in text and "write access" in text
    assert headers["refresh"] == "0; url=/"  # on to the dashboard, from a page of the panel's own
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.request("GET", "/")[0] == 200
    assert client.request("GET", "/api/dashboard")[0] == 200
    assert client.change()[0] == 303  # a change is allowed
    assert sid not in caplog.text and sid not in text  # the LuCI id is never logged or shown
    assert "read-write" in caplog.text


def test_a_read_only_luci_session_looks_but_cannot_change(rpcd, panel):
    client = Client(panel, "127.0.2.2")
    status, _, text = client.luci_login(rpcd.login("read"))
    assert status == 200 and "read access only" in text
    assert client.request("GET", "/system")[0] == 200
    status, _, text = client.change()
    assert status == 403 and "read access" in text
    token = client.csrf()
    assert client.request("POST", "/logout", {"csrf": token}, {"Origin": f"http://127.0.0.1:{panel}"})[0] == 303
    assert client.request("GET", "/api/dashboard")[0] == 401


def test_unknown_malformed_and_unprivileged_sessions_are_refused(rpcd, panel):
    for n, sid in enumerate((secrets.token_hex(16),  # rpcd never issued it
                             "0" * 32,  # rpcd's unauthenticated default session
                             "not-a-session-id", secrets.token_hex(16).upper(), "")):
        client = Client(panel, f"127.0.3.{n + 1}")
        status, _, text = client.luci_login(sid)
        assert status == 403 and "LuCI session" in text, sid
        assert client.request("GET", "/api/dashboard")[0] == 401
    # logged in to LuCI, but without the luci-app-bacrouter group (another app's only; or none at all)
    for n, sid in enumerate((rpcd.login("read", "write", group="luci-app-other"), rpcd.login())):
        client = Client(panel, f"127.0.4.{n + 1}")
        assert client.luci_login(sid)[0] == 403
        assert client.request("GET", "/api/dashboard")[0] == 401


def test_an_expired_luci_session_is_refused(rpcd, panel):
    sid = rpcd.login("read", "write", timeout=1)
    time.sleep(2.2)  # rpcd's timeout: the session is gone
    client = Client(panel, "127.0.5.1")
    assert client.luci_login(sid)[0] == 403
    assert client.request("GET", "/")[0] == 303  # to the login (or first password) page


def test_the_post_must_come_from_this_routers_luci(rpcd, panel):
    sid = rpcd.login("read", "write")
    for n, origin in enumerate((None, "http://evil.example", "null", f"http://localhost:{panel}")):
        client = Client(panel, f"127.0.6.{n + 1}")
        status, _, text = client.luci_login(sid, origin)
        assert status == 403 and "Origin" in text, origin
    # LuCI's own page, on uhttpd's http or https port of the same host: accepted
    for n, origin in enumerate(("http://127.0.0.1", "https://127.0.0.1:443")):
        assert Client(panel, f"127.0.7.{n + 1}").luci_login(sid, origin)[0] == 200
    # a rebinding name in the Host is refused before rpcd is asked
    client = Client(panel, "127.0.7.9")
    status, _, _ = client.request("POST", "/luci-login", {"sid": sid},
                                  {"Origin": "http://evil.example", "Host": "evil.example"})
    assert status == 403


def test_guessing_session_ids_is_slowed_down(rpcd, panel):
    client = Client(panel, "127.0.8.1")
    for _ in range(3):  # the login's brake: three failures free, then a wait
        assert client.luci_login(secrets.token_hex(16))[0] == 403
    status, headers, _ = client.luci_login(rpcd.login("read", "write"))
    assert status == 429 and int(headers["retry-after"]) >= 1  # even a good one has to wait now


def test_a_luci_logout_ends_the_panel_session(rpcd, panel):
    sid = rpcd.login("read", "write")
    client = Client(panel, "127.0.9.1")
    assert client.luci_login(sid)[0] == 200
    assert client.request("GET", "/api/dashboard")[0] == 200
    rpcd.call("destroy", {"ubus_rpc_session": sid})  # LuCI's logout
    time.sleep(1.2)  # the panel asks again after luci_recheck (1 s here)
    assert client.request("GET", "/api/dashboard")[0] == 401


def test_a_lost_write_grant_makes_the_session_read_only(rpcd, panel):
    sid = rpcd.login("read", "write")
    client = Client(panel, "127.0.9.2")
    assert client.luci_login(sid)[0] == 200
    assert client.change()[0] == 303
    if rpcd.real:  # the stand-in has no revoke: grant a new session read only instead
        rpcd.call("revoke", {"ubus_rpc_session": sid, "scope": "access-group",
                             "objects": [["luci-app-bacrouter", "write"]]})
    else:
        client = Client(panel, "127.0.9.3")
        assert client.luci_login(rpcd.login("read"))[0] == 200
    time.sleep(1.2)
    assert client.change()[0] == 403
    assert client.request("GET", "/api/dashboard")[0] == 200  # still logged in, read only


class _LuciPage(http.server.BaseHTTPRequestHandler):
    """A stand-in for the LuCI page: the form the view builds (same fields, same method), on another port."""

    form = ""

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        body = self.form.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


def test_a_browser_goes_from_the_luci_page_to_the_dashboard(rpcd, panel, tmp_path):
    from tests.integration.test_panel import CHROMEDRIVER, CHROMIUM, wait

    if not os.environ.get("BACROUTER_REQUIRE_ALL"):  # CI installs selenium and Chromium: never skipped there
        pytest.importorskip("selenium.webdriver")
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    sid = rpcd.login("read", "write")
    _LuciPage.form = (f'<!DOCTYPE html><form method="post" action="http://127.0.0.1:{panel}/luci-login">'
                      f'<input type="hidden" name="sid" value="{sid}"><button id="open">Open</button></form>')
    luci = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LuciPage)
    threading.Thread(target=luci.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.get(f"http://127.0.0.1:{luci.server_address[1]}/")
        driver.find_element(By.ID, "open").click()
        wait(driver, EC.presence_of_element_located((By.ID, "dashboard")))  # through the Refresh, with the cookie
        assert driver.current_url == f"http://127.0.0.1:{panel}/" and sid not in driver.current_url
        cookie = driver.get_cookie("bacrouter_panel")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    finally:
        driver.quit()
        luci.shutdown()
        luci.server_close()
