"""The panel against a hostile client on the LAN: plain sockets and http.client, no browser.

One daemon and one panel (the ``Stack`` of test_panel.py) for the module; the
first test sets the password, the rest attack it. Clients pick their own
loopback source address (127.0.0.x) so that one attacker's throttling or
connections never count against another test's client.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import time
from urllib.parse import urlencode

import pytest

from .test_panel import PASSWORD, Stack

PASSWORD_HASH_RE = re.compile(r"scrypt\$")


class Client:
    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.port, self.source, self.cookies = port, source, {}
        self.origin = f"http://127.0.0.1:{port}"

    def request(self, method, path, body=None, headers=None, cookies=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10, source_address=(self.source, 0))
        headers = dict(headers or {})
        if cookies and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if isinstance(body, dict):
            data = urlencode(body)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif body is not None:
            data = body
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data.encode() if isinstance(data, str) else data)
        answer = conn.getresponse()
        text = answer.read().decode(errors="replace")
        raw = answer.getheaders()
        for name, value in raw:
            if name.lower() == "set-cookie" and cookies:
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        conn.close()
        return answer.status, {k.lower(): v for k, v in raw}, text

    def csrf(self, path="/login"):
        status, _, text = self.request("GET", path)
        found = re.search(r'name="csrf" value="([^"]+)"', text)
        assert found, (status, text[:300])
        return found.group(1)

    def set_first_password(self, password=PASSWORD):
        """The first visit's password form, as the installer fills it in: this client is logged in after."""
        token = self.csrf("/setup")
        status, _, _ = self.request("POST", "/setup", {"csrf": token, "password": password, "again": password},
                                    {"Origin": self.origin})
        assert status == 303
        return self

    def login(self, password=PASSWORD, headers=None):
        token = self.csrf()
        return self.request("POST", "/login", {"csrf": token, "username": "admin", "password": password},
                            {"Origin": self.origin, **(headers or {})})


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("attacks"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def admin(stack):
    client = Client(stack.port).set_first_password()
    assert client.request("GET", "/api/ports")[0] == 200
    return client


def test_setup_cannot_be_rerun(stack, admin):
    intruder = Client(stack.port, "127.0.0.9")
    token = intruder.csrf("/login")
    status, headers, _ = intruder.request("POST", "/setup", {"csrf": token, "password": "x" * 12, "again": "x" * 12},
                                          {"Origin": intruder.origin})
    assert status in (302, 303) and headers["location"].endswith("/login")
    assert intruder.request("GET", "/api/ports")[0] == 401
    assert Client(stack.port, "127.0.0.3").login()[0] in (302, 303)  # the password is still the first one


def test_traversal(stack, admin):
    secret = stack.dir / "config" / "bacrouter"
    for path in ("/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/app.py", "/static/..%2f..%2fapp.py",
                 "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/captures/..%2f..%2fconfig%2fbacrouter",
                 "/captures/%2e%2e", f"/captures/{secret}", "/static/....//....//app.py"):
        status, _, text = admin.request("GET", path)
        assert status in (400, 403, 404), (path, status)
        assert "root:" not in text and "password_hash" not in text and "import bottle" not in text


def test_capture_symlink_out_of_the_directory(stack, admin):
    captures = stack.dir / "run" / "captures"
    captures.mkdir(parents=True, exist_ok=True)
    (captures / "fine.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    assert admin.request("GET", "/captures/fine.pcap")[0] == 200
    os.symlink(stack.dir / "config" / "bacrouter", captures / "evil.pcap")
    status, _, text = admin.request("GET", "/captures/evil.pcap")
    assert status == 404 and "password_hash" not in text


def test_session_fixation_and_cookie_flags(stack):
    client = Client(stack.port, "127.0.0.4")
    client.cookies["bacrouter_panel"] = "attacker-chosen-id"
    status, headers, _ = client.request("GET", "/login")
    assert "attacker-chosen-id" not in headers.get("set-cookie", "")
    before = client.cookies["bacrouter_panel"]
    status, headers, _ = client.login()
    assert status in (302, 303)
    cookie = headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert client.cookies["bacrouter_panel"] != before
    stale = Client(stack.port, "127.0.0.4")
    stale.cookies["bacrouter_panel"] = before
    assert stale.request("GET", "/api/ports")[0] == 401


def test_csrf(stack, admin):
    body = {"port": "one", "action": "start"}
    assert admin.request("POST", "/api/capture", body, {"Origin": admin.origin})[0] == 403  # no token
    token = admin.csrf("/ports")
    forged = {**body, "csrf": token[:-2] + "AA"}
    assert admin.request("POST", "/api/capture", forged, {"Origin": admin.origin})[0] == 403
    for origin in ("http://evil.example", "null", f"https://127.0.0.1:{stack.port}"):
        assert admin.request("POST", "/api/capture", {**body, "csrf": token}, {"Origin": origin})[0] == 403
    assert admin.request("POST", "/api/capture", {**body, "csrf": token},
                         {"Referer": "http://evil.example/x"})[0] == 403
    assert admin.request("GET", "/logout")[0] in (404, 405)  # no state change by GET
    assert admin.request("GET", "/api/capture?port=one&action=start")[0] in (404, 405)
    assert admin.request("GET", "/api/ports")[0] == 200


def test_no_secrets_in_pages(stack, admin):
    sid = admin.cookies["bacrouter_panel"]
    for path in ("/", "/ports", "/routes", "/api/dashboard", "/api/ports", "/api/routes", "/login", "/setup",
                 "/nonexistent"):
        _, headers, text = admin.request("GET", path)
        assert not PASSWORD_HASH_RE.search(text), path
        assert sid not in text, path
    logs = "".join(p.read_text() for p in stack.dir.glob("panel-*.log"))
    assert sid not in logs and "scrypt$" not in logs and PASSWORD not in logs


def test_no_header_splitting_or_open_redirect(stack, admin):
    for path in ("/captures/a%0d%0aSet-Cookie:%20x=1.pcap", "/routes?offset=1%0d%0aX-Evil:%201",
                 "/login?next=http://evil.example/", "/setup?next=//evil.example"):
        status, headers, _ = Client(stack.port, "127.0.0.5").request("GET", path)
        assert "x-evil" not in headers and "x=1" not in headers.get("set-cookie", ""), path
        assert "evil.example" not in headers.get("location", ""), path
    # a forged Host or X-Forwarded-Host never sends the browser elsewhere
    status, headers, _ = Client(stack.port, "127.0.0.5").request(
        "GET", "/", headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert status in (302, 303) and "evil.example" not in headers["location"]


def test_long_requests(stack, admin):
    status, _, _ = admin.request("GET", "/login?" + "a" * 70000)
    assert status in (400, 414)
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n")
        assert sock.recv(100).split(b" ")[1] in (b"400", b"431")
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:  # refused before it is sent
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (5 << 20))
        assert sock.recv(100).split(b" ")[1] == b"413"


def test_throttle_ignores_x_forwarded_for(stack, admin):
    guesser = Client(stack.port, "127.0.0.6")
    for n in range(4):
        guesser.login("wrong password", {"X-Forwarded-For": f"10.0.0.{n}"})
    status, _, _ = guesser.login("wrong password", {"X-Forwarded-For": "10.0.1.1"})
    assert status == 429


def test_anonymous_sessions_do_not_log_the_admin_out(stack, admin):
    flooder = Client(stack.port, "127.0.0.7")
    for _ in range(600):
        flooder.request("GET", "/login", cookies=False)
    assert admin.request("GET", "/api/ports")[0] == 200


def test_slowloris_does_not_lock_out_others(stack, admin):
    idle = []
    try:
        for _ in range(40):
            sock = socket.socket()
            sock.bind(("127.0.0.8", 0))
            sock.connect(("127.0.0.1", stack.port))
            sock.sendall(b"GET / HTTP/1.1\r\n")  # ... and never the rest
            idle.append(sock)
        time.sleep(0.5)
        assert admin.request("GET", "/api/ports")[0] == 200
    finally:
        for sock in idle:
            sock.close()


def test_error_pages_escape_the_path(stack):
    status, _, text = Client(stack.port, "127.0.0.5").request("GET", "/nope%3Cscript%3Ealert(1)%3C/script%3E")
    assert status == 404 and "<script>alert" not in text


def test_two_first_password_setups_at_once(tmp_path):
    import concurrent.futures

    race = Stack(tmp_path)
    try:
        racers = [Client(race.port, f"127.0.1.{n}") for n in range(1, 5)]
        tokens = [r.csrf("/setup") for r in racers]

        def setup(n):
            password = f"password number {n}"
            return racers[n].request("POST", "/setup", {"csrf": tokens[n], "password": password, "again": password},
                                     {"Origin": racers[n].origin})

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(setup, range(4)))
        winners = [n for n, (_, headers, _) in enumerate(answers) if headers.get("location") == "/"]
        assert len(winners) == 1, answers
        for n, racer in enumerate(racers):
            assert (racer.request("GET", "/api/ports")[0] == 200) == (n == winners[0])
        assert Client(race.port, "127.0.1.9").login(f"password number {winners[0]}")[0] == 303
    finally:
        race.close()
