"""The panel's transport and pre-login defences: DNS rebinding, HTTPS, and clients that stall.

One daemon and two panels on one configuration (the ``Stack`` of
test_panel.py, plus a panel with a self-signed certificate in the DER form
uhttpd writes). Tests run in file order: the Host allowlist is tried while
no password is set yet (the case a rebinding page would exploit); then the
browser (headless Chromium, ``--ignore-certificate-errors``) sets the
password and logs in over HTTPS. The stalled-client tests use the panel's
server in this process, with short deadlines.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from selenium import webdriver  # noqa: E402 - after test_panel, which skips without selenium (never in CI)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402

from bacrouter.panel.server import make_server, tls_context

from .test_panel import CHROMEDRIVER, CHROMIUM, PASSWORD, Stack, free_port, wait


def make_certificate(directory: Path) -> dict[str, Path]:
    """A self-signed EC certificate and key, as PEM and as DER (px5g's ``-der``, what uhttpd writes)."""
    pem_key, pem_crt = directory / "key.pem", directory / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(pem_key), "-out", str(pem_crt), "-days", "2", "-subj", "/CN=bacrouter-test",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    der_key, der_crt = directory / "uhttpd.key", directory / "uhttpd.crt"
    subprocess.run(["openssl", "x509", "-in", str(pem_crt), "-outform", "DER", "-out", str(der_crt)], check=True)
    subprocess.run(["openssl", "pkey", "-in", str(pem_key), "-outform", "DER", "-out", str(der_key)], check=True)
    return {"pem_crt": pem_crt, "pem_key": pem_key, "der_crt": der_crt, "der_key": der_key}


class Http:
    """http.client with a cookie jar, over TLS (certificate not checked: self-signed) or plain."""

    def __init__(self, port: int, tls: bool = False, source: str = "127.0.0.1") -> None:
        self.port, self.tls, self.source, self.cookies, self.set_cookies = port, tls, source, {}, []
        self.origin = f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
                ) -> tuple[int, dict, str]:
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=10, context=context, source_address=(self.source, 0))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10, source_address=(self.source, 0))
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
                self.set_cookies.append(value)
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        conn.close()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, text

    def csrf(self, path: str, headers: dict | None = None) -> str:
        status, _, text = self.request("GET", path, headers=headers)
        found = re.search(r'name="csrf" value="([^"]+)"', text)
        assert found, (status, text[:300])
        return found.group(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("security"))
    stack.certs = make_certificate(stack.dir)
    stack.tls_port = free_port()
    stack.start_panel(stack.tls_port, "--cert", str(stack.certs["der_crt"]), "--key", str(stack.certs["der_key"]))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def browser(stack):
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--ignore-certificate-errors", f"--user-data-dir={stack.dir / 'chromium-tls'}",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


# ----------------------------------------------------------------------------- DNS rebinding


def password_set(stack) -> bool:
    return "password_hash" in (stack.dir / "config" / "bacrouter").read_text()


def test_a_rebinding_name_cannot_set_the_first_password(stack):
    """A page of evil.example, its name re-pointed at the router, is same-origin with itself: only the Host tells."""
    evil = {"Host": f"evil.example:{stack.port}"}
    rebound = Http(stack.port, source="127.0.0.30")
    assert rebound.request("GET", "/setup", headers=evil)[0] == 403
    assert rebound.request("GET", "/login", headers=evil)[0] == 403
    # a token from a visit by address, then the post under the rebinding name, with its own (matching) Origin
    token = rebound.csrf("/setup")
    status, _, text = rebound.request("POST", "/setup", {"csrf": token, "password": "x" * 12, "again": "x" * 12},
                                      {**evil, "Origin": f"http://evil.example:{stack.port}"})
    assert status == 403 and "panel.hostnames" in text
    assert not password_set(stack)
    # a name with the router's name as a label of the attacker's domain is not the router's name either
    assert rebound.request("GET", "/setup", headers={"Host": f"{socket.gethostname()}.evil.example"})[0] == 403
    assert "Host 'evil.example" in (stack.dir / f"panel-{stack.port}.log").read_text()


def test_addresses_localhost_the_host_name_and_configured_names_are_allowed(stack):
    client = Http(stack.port, source="127.0.0.31")
    for host in (f"127.0.0.1:{stack.port}", f"localhost:{stack.port}", f"{socket.gethostname()}:{stack.port}",
                 "[::1]"):
        status, _, text = client.request("GET", "/setup", headers={"Host": host})
        assert status == 200 and 'id="set-password"' in text, host
    assert client.request("GET", "/setup", headers={"Host": "panel.example"})[0] == 403
    config = stack.dir / "config" / "bacrouter"
    config.write_text(config.read_text() + "\tlist hostnames 'panel.example'\n\tlist hostnames 'Gw.Example'\n")
    assert client.request("GET", "/setup", headers={"Host": "panel.example"})[0] == 200
    assert client.request("GET", "/setup", headers={"Host": "gw.example:8000"})[0] == 200
    assert not password_set(stack)


# ----------------------------------------------------------------------------- HTTPS


def test_both_forms_of_the_certificate_load(stack):
    pem = tls_context(stack.certs["pem_crt"], stack.certs["pem_key"])
    der = tls_context(stack.certs["der_crt"], stack.certs["der_key"])
    assert pem is not None and der is not None
    assert tls_context(stack.dir / "none.crt", stack.certs["der_key"]) is None  # no certificate: plain HTTP


def test_a_browser_sets_the_password_and_logs_in_over_https(stack, browser):
    base = f"https://127.0.0.1:{stack.tls_port}"
    browser.get(base + "/")
    wait(browser, EC.url_contains("/setup"))
    assert browser.current_url.startswith("https://")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "again").send_keys(PASSWORD)
    browser.find_element(By.ID, "set-password").click()
    wait(browser, EC.presence_of_element_located((By.ID, "dashboard")))
    cookie = browser.get_cookie("bacrouter_panel")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    browser.find_element(By.ID, "logout").click()
    wait(browser, EC.url_contains("/login"))
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    wait(browser, EC.presence_of_element_located((By.ID, "dashboard")))
    # live values come over the same TLS connection type (panel.js fetches /api/dashboard)
    assert browser.find_element(By.CSS_SELECTOR, '[data-live="port.one.state"]').text == "up"


def test_the_cookie_is_secure_under_https_and_not_under_http(stack):
    tls = Http(stack.tls_port, tls=True, source="127.0.0.32")
    tls.request("GET", "/login")
    assert tls.set_cookies and all("secure" in c.lower().split("; ") for c in tls.set_cookies)
    plain = Http(stack.port, source="127.0.0.32")
    plain.request("GET", "/login")
    assert plain.set_cookies and not any("secure" in c.lower().split("; ") for c in plain.set_cookies)


def test_plain_http_to_the_tls_port_is_dropped_and_others_go_on(stack):
    with socket.create_connection(("127.0.0.1", stack.tls_port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            answer = sock.recv(100)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/")  # the handshake failed: the connection is closed, no page
        with socket.create_connection(("127.0.0.1", stack.tls_port), timeout=10) as idle:
            idle.sendall(b"GET / HTTP/1.1\r\n")  # another plain client, left open meanwhile
            client = Http(stack.tls_port, tls=True, source="127.0.0.33")
            assert client.request("GET", "/login")[0] == 200


# ----------------------------------------------------------------------------- stalled clients


def logged_in(port: int, tls: bool, source: str) -> Http:
    client = Http(port, tls=tls, source=source)
    token = client.csrf("/login")
    status, _, _ = client.request("POST", "/login", {"csrf": token, "username": "admin", "password": PASSWORD},
                                  {"Origin": client.origin})
    assert status == 303
    return client


def test_stalled_heads_and_handshakes_do_not_block_the_others(stack):
    """Slowloris from four addresses, and TLS clients that never finish the handshake: pages still load."""
    user_http = logged_in(stack.port, False, "127.0.0.40")
    user_tls = logged_in(stack.tls_port, True, "127.0.0.41")
    held = []
    try:
        for n in range(4):
            for _ in range(5):
                sock = socket.socket()
                sock.bind((f"127.0.0.{50 + n}", 0))
                sock.connect(("127.0.0.1", stack.port))
                sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # ... and never the rest
                held.append(sock)
                tls = socket.socket()
                tls.bind((f"127.0.0.{60 + n}", 0))
                tls.connect(("127.0.0.1", stack.tls_port))
                tls.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
                held.append(tls)
        time.sleep(0.5)  # every stalled connection has its thread by now
        for path in ("/", "/ports", "/api/dashboard"):
            assert user_http.request("GET", path)[0] == 200, path
            assert user_tls.request("GET", path)[0] == 200, path
    finally:
        for sock in held:
            sock.close()


def hello_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


@pytest.fixture()
def short_server(tmp_path):
    """The panel's server in this process: 1 s per read, 3 s for the whole head; plain and TLS."""
    certs = make_certificate(tmp_path)
    servers = [make_server(hello_app, "127.0.0.1", 0, timeout=1.0, head_timeout=3.0),
               make_server(hello_app, "127.0.0.1", 0, tls_context(certs["der_crt"], certs["der_key"]), timeout=20.0,
                           head_timeout=3.0)]
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield [s.server_address[1] for s in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


def trickle(port: int, data: bytes, pause: float, most: int) -> tuple[int, bytes]:
    """Send ``data`` a byte at a time (``pause`` s apart, at most ``most`` bytes); how many went, and the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sent = 0
        try:
            for byte in data[:most]:
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(pause)
            answer = b""
            while chunk := sock.recv(1000):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
        return sent, answer


def test_a_head_that_trickles_in_for_ever_is_cut_off(short_server):
    port, _ = short_server
    # a head that arrives within the deadline, slowly, is served: the reads' own timeout is not what cuts
    sent, answer = trickle(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.05, 100)
    assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"hello")
    # a byte every 0.4 s never trips the 1 s read timeout; an endless header line would hold the thread
    # for ever: the 3 s deadline for the head closes the connection, with no answer, long before 120 bytes
    endless = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    sent, answer = trickle(port, endless, 0.4, 120)
    assert answer == b"" and sent < 120


def test_a_stalled_tls_handshake_is_cut_off_by_the_head_deadline(short_server):
    _, tls_port = short_server
    with socket.create_connection(("127.0.0.1", tls_port), timeout=12) as sock:
        sock.sendall(b"\x16\x03\x01")  # a TLS record header, then nothing (the read timeout is 20 s here)
        try:
            # closed by the server within 12 s (else recv raises TimeoutError): by the 3 s head deadline,
            # since the server's read timeout here is 20 s
            assert sock.recv(100) == b""
        except ConnectionResetError:
            pass
