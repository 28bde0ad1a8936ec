"""The web panel in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by selenium.

A daemon (``bacrouter run``) and the panel (``bacrouter panel``) run from a
temporary configuration directory; the browser sets the first password, sees
the dashboard with its ports and graphs, the ports and routes pages, logs out
and in again; a plain HTTP client forges what a browser would not send
(another Origin, no CSRF token, too many passwords, an expired session).
Every page is photographed at phone (390 px) and desktop width into
docs/panel/ (docs/panel.md shows them). The tests run in file order and share
one daemon, one panel and one browser.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bacrouter.control import ControlError, call

if not os.environ.get("BACROUTER_REQUIRE_ALL"):  # CI installs selenium and Chromium: never skipped there
    pytest.importorskip("selenium.webdriver")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "panel"
PASSWORD = "correct horse battery"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def preset_password(config: Path, password: str = PASSWORD) -> None:
    """The panel's password as if the first visit had set it (for tests of what comes after)."""
    from bacrouter.config import uci
    from bacrouter.panel.auth import hash_password

    package = uci.load(config)
    package.section("panel").options["password_hash"] = hash_password(password)
    uci.write_atomic(config, uci.dumps(package))


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """A configuration directory, the daemon and the panel, as processes."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        (tmp / "config").mkdir()
        (tmp / "bacrouter").mkdir()
        (tmp / "bacrouter" / "resource.conf").write_text(json.dumps({"loop": {"type": "ETH", "ifname": "lo"}}))
        udp1, udp2 = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
        (tmp / "config" / "bacrouter").write_text(
            "config bacrouter 'main'\n\toption device_instance '4100'\n\toption device_name 'Panel test'\n\n"
            f"config bip 'one'\n\toption resource 'loop'\n\toption network '1'\n\toption udp_port '{udp1}'\n\n"
            f"config bip 'two'\n\toption resource 'loop'\n\toption network '2'\n\toption udp_port '{udp2}'\n\n"
            "config panel 'panel'\n\toption listen '127.0.0.1'\n\toption port '8000'\n\toption username 'admin'\n")
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), BACROUTER_HISTORY_INTERVAL="1")
        self.daemon: subprocess.Popen | None = None
        self.panels: list[subprocess.Popen] = []
        self.start_daemon()
        self.panel = self.start_panel(self.port)

    def start_daemon(self) -> None:
        self.daemon_log = open(self.dir / "daemon.log", "a")
        self.daemon = subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(self.dir)],
                                       stdout=self.daemon_log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.daemon.poll() is None, (self.dir / "daemon.log").read_text()
            try:
                if all(p["state"] == "up" for p in call(self.dir / "run" / "control.sock", "ports")):
                    return
            except (OSError, ControlError):
                pass
            time.sleep(0.1)
        raise AssertionError("daemon did not come up")

    def stop_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()
            self.daemon.wait(10)

    def start_panel(self, port: int, *extra: str) -> subprocess.Popen:
        log = open(self.dir / f"panel-{port}.log", "a")
        proc = subprocess.Popen([sys.executable, "-m", "bacrouter", "panel", "--config-dir", str(self.dir),
                                 "--port", str(port), "--cert", str(self.dir / "no.crt"), "--key",
                                 str(self.dir / "no.key"), "--luci-css", str(self.dir / "no.css"), *extra],
                                stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.panels.append(proc)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert proc.poll() is None, (self.dir / f"panel-{port}.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return proc
            except OSError:
                time.sleep(0.1)
        raise AssertionError("panel did not come up")

    def close(self) -> None:
        for proc in [*self.panels, self.daemon]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.daemon_log.close()


class Client:
    """A plain HTTP client with a cookie jar: what a forger (or a script) can send."""

    def __init__(self, port: int) -> None:
        self.port, self.cookies = port, {}

    def request(self, method: str, path: str, body: dict | str | None = None, headers: dict | None = None,
                ) -> tuple[int, dict, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if isinstance(body, dict):
            data = urlencode(body)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(body, str):
            data = body
        conn.request(method, path, data, headers)
        answer = conn.getresponse()
        text = answer.read().decode()
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        conn.close()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, text

    def csrf(self, path: str = "/login") -> str:
        status, _, text = self.request("GET", path)
        found = re.search(r'name="csrf" value="([^"]+)"', text)
        assert found, (status, text[:500])
        return found.group(1)

    def login(self, password: str = PASSWORD) -> int:
        token = self.csrf()
        status, _, _ = self.request("POST", "/login", {"csrf": token, "username": "admin", "password": password},
                                    {"Origin": f"http://127.0.0.1:{self.port}"})
        return status


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: apt-get install chromium chromium-driver")
    stack = Stack(tmp_path_factory.mktemp("panel"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def browser(stack):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={stack.dir / 'chromium'}", "--window-size=1280,900"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait(driver, condition, timeout: float = 15.0):
    return WebDriverWait(driver, timeout).until(condition)


def shoot(driver, name: str) -> None:
    """The whole page at phone and at desktop width, into docs/panel/NAME-phone.png and NAME-desktop.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width, mobile in (("phone", 390, True), ("desktop", 1280, False)):
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": 844 if mobile else 900, "deviceScaleFactor": 1,
                                "mobile": mobile})
        time.sleep(0.3)  # the layout settles
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        (SHOTS / f"{name}-{label}.png").write_bytes(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_first_visit_sets_the_password(stack, browser):
    browser.get(stack.base + "/")
    wait(browser, EC.url_contains("/setup"))
    shoot(browser, "setup")
    browser.find_element(By.ID, "password").send_keys("short")
    browser.find_element(By.ID, "again").send_keys("short")
    browser.execute_script("document.querySelectorAll('input[minlength]').forEach(i => i.removeAttribute('minlength'))")
    browser.find_element(By.ID, "set-password").click()
    assert "at least 8 characters" in wait(browser, EC.presence_of_element_located((By.ID, "message"))).text
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "again").send_keys(PASSWORD)
    browser.find_element(By.ID, "set-password").click()
    wait(browser, EC.presence_of_element_located((By.ID, "dashboard")))
    text = (stack.dir / "config" / "bacrouter").read_text()
    stored = re.search(r"option password_hash '(scrypt\$[^']+)'", text)
    assert stored and PASSWORD not in text
    cookie = browser.get_cookie("bacrouter_panel")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and len(cookie["value"]) >= 40
    # the setup page is gone once a password exists: it cannot be set again by the next visitor
    status, headers, _ = Client(stack.port).request("GET", "/setup")
    assert status == 303 and headers["location"].endswith("/login")


def test_the_dashboard_shows_ports_counters_and_graphs(stack, browser):
    browser.get(stack.base + "/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#ports tr[data-port]")
    assert {r.get_attribute("data-port") for r in rows} == {"one", "two"}
    assert "Panel test" in browser.find_element(By.ID, "system").text
    assert browser.find_element(By.CSS_SELECTOR, '[data-live="port.one.state"]').text == "up"
    # the graphs: SVG drawn by panel.js from the daemon's history (a sample a second here)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'figure[data-port="one"] svg path.line-out'))
    assert len(browser.find_elements(By.CSS_SELECTOR, "figure.graph svg")) == 2
    # live values change without a reload: the uptime ticks
    before = browser.find_element(By.CSS_SELECTOR, '[data-live="uptime"]').text
    browser.execute_script("window.__same_page = true")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, '[data-live="uptime"]').text != before, 12)
    assert browser.execute_script("return window.__same_page") is True
    shoot(browser, "dashboard")


def test_ports_and_routes_pages(stack, browser):
    browser.get(stack.base + "/ports")
    assert {r.get_attribute("data-port") for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-port]")} == \
        {"one", "two"}
    shoot(browser, "ports")
    browser.get(stack.base + "/routes")
    table = browser.find_element(By.ID, "route-table").text
    assert re.search(r"^1 one direct available$", table, re.M) and re.search(r"^2 two direct", table, re.M)
    shoot(browser, "routes")


def test_forged_and_tokenless_posts_are_refused(stack, browser):
    client = Client(stack.port)
    client.cookies["bacrouter_panel"] = browser.get_cookie("bacrouter_panel")["value"]  # even with the session
    status, _, text = client.request("GET", "/")
    assert status == 200 and "dashboard" in text
    token = re.search(r'name="csrf" content="([^"]+)"', text).group(1)
    body = json.dumps({"port": "one", "action": "start"})
    json_headers = {"Content-Type": "application/json"}
    # another site's page posting with the victim's cookie: wrong Origin, refused even with the right token
    status, _, text = client.request("POST", "/api/capture", body, {**json_headers, "X-CSRF-Token": token,
                                                                    "Origin": "http://evil.example"})
    assert status == 403 and "Origin" in text
    # the right origin without the token, or with a wrong one: refused
    origin = {"Origin": stack.base}
    assert client.request("POST", "/api/capture", body, {**json_headers, **origin})[0] == 403
    assert client.request("POST", "/api/capture", body, {**json_headers, **origin, "X-CSRF-Token": "x" * 43})[0] == 403
    assert client.request("POST", "/logout", {"csrf": "forged"}, origin)[0] == 403
    # with both, the request reaches the daemon (which says a BACnet/IP port has no capture)
    status, _, text = client.request("POST", "/api/capture", body, {**json_headers, **origin, "X-CSRF-Token": token})
    assert status == 409 and "MS/TP" in text
    # an oversized body is refused before it is read (the length alone decides: nothing more is sent)
    assert client.request("POST", "/login", "x", {"Content-Type": "text/plain", "Content-Length": str(5 << 20)}
                          )[0] == 413


def test_logout_ends_the_session(stack, browser):
    browser.get(stack.base + "/")
    old = browser.get_cookie("bacrouter_panel")["value"]
    browser.find_element(By.ID, "logout").click()
    wait(browser, EC.url_contains("/login"))
    shoot(browser, "login")
    client = Client(stack.port)
    client.cookies["bacrouter_panel"] = old
    assert client.request("GET", "/api/dashboard")[0] == 401


def test_failed_logins_slow_the_client_down(stack, browser):
    client = Client(stack.port)
    assert [client.login("wrong password") for _ in range(3)] == [403, 403, 403]
    client.login("wrong password")  # the 4th: counted, and now the client waits
    status, headers, text = client.request("GET", "/login")
    token = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    status, headers, text = client.request("POST", "/login", {"csrf": token, "username": "admin",
                                                              "password": PASSWORD}, {"Origin": stack.base})
    assert status == 429 and "try again" in text and int(headers["retry-after"]) >= 1  # even the right password
    time.sleep(int(headers["retry-after"]) + 0.2)
    assert client.login() == 303  # after the wait, the right password works
    # the browser (same address) logs in again
    browser.get(stack.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    wait(browser, EC.presence_of_element_located((By.ID, "dashboard")))


def test_an_idle_session_expires(stack):
    port = free_port()
    stack.start_panel(port, "--idle-timeout", "1")
    client = Client(port)
    assert client.login() == 303
    assert client.request("GET", "/api/dashboard")[0] == 200
    time.sleep(1.5)
    assert client.request("GET", "/api/dashboard")[0] == 401
    status, headers, _ = client.request("GET", "/")
    assert status == 303 and headers["location"].endswith("/login")


def test_without_the_daemon_runtime_pages_say_offline(stack, browser):
    stack.stop_daemon()
    browser.get(stack.base + "/")
    assert "not running" in browser.find_element(By.ID, "offline").text
    assert "Panel test" in browser.find_element(By.ID, "system").text  # read from the configuration file
    assert browser.find_element(By.ID, "online-indicator").text.lower() == "offline"
    shoot(browser, "dashboard-offline")
    browser.get(stack.base + "/ports")
    assert "not running" in browser.find_element(By.ID, "offline").text
    browser.get(stack.base + "/routes")
    assert "not running" in browser.find_element(By.ID, "offline").text
