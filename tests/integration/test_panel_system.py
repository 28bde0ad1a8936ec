"""The panel's System page with real requests: device settings, password change, backup, restore, the log.

One daemon and one panel (the ``Stack`` of test_panel.py); a plain HTTP client
does what a form would (and what a forger would), one browser photographs
the page at phone and desktop width into docs/panel/.
"""

from __future__ import annotations

import json
import re
import socket
import uuid

import pytest

from bacrouter.config import uci

from .test_panel import PASSWORD, Stack, browser, shoot  # noqa: F401 - browser is a fixture
from .test_panel_attacks import Client

NEW_PASSWORD = "another horse battery"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("system"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def admin(stack):
    return Client(stack.port).set_first_password()


def csrf(client: Client) -> str:
    return client.csrf("/system")


def post(client: Client, path: str, form: dict, token: str | None = None):
    return client.request("POST", path, {"csrf": token or csrf(client), **form}, {"Origin": client.origin})


def multipart(client: Client, path: str, fields: dict, filename: str, content: bytes):
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/json\r\n\r\n".encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return client.request("POST", path, body, {"Origin": client.origin,
                                               "Content-Type": f"multipart/form-data; boundary={boundary}"})


def main_section(stack) -> uci.UciSection:
    return next(iter(uci.load(stack.dir / "config" / "bacrouter").of_type("bacrouter")))


def test_the_page_needs_a_login(stack, admin):
    assert Client(stack.port, "127.0.0.5").request("GET", "/system")[0] in (302, 303)
    status, _, text = admin.request("GET", "/system")
    assert status == 200 and 'id="device-form"' in text and "Panel test" in text


def test_device_settings_are_checked_before_they_are_written(stack, admin):
    before = (stack.dir / "config" / "bacrouter").read_bytes()
    status, _, text = post(admin, "/system/device", {"device_name": "Panel test", "device_instance": "99999999",
                                                     "description": "", "location": "", "log_level": ""})
    assert status == 400
    assert re.search(r'id="field-device_instance".*?field-problem', text, re.S), text
    assert (stack.dir / "config" / "bacrouter").read_bytes() == before
    # without the token nothing is written either
    status, _, _ = admin.request("POST", "/system/device", {"device_name": "Forged"}, {"Origin": admin.origin})
    assert status == 403 and (stack.dir / "config" / "bacrouter").read_bytes() == before


def test_device_settings_are_saved_and_the_daemon_reloads(stack, admin):
    status, _, text = post(admin, "/system/device", {"device_name": "Boiler room", "device_instance": "4101",
                                                     "description": "the router", "location": "cellar",
                                                     "log_level": "warning"})
    assert status == 200, text
    section = main_section(stack)
    assert (section.get("device_name"), section.get("device_instance"), section.get("location"),
            section.get("log_level")) == ("Boiler room", "4101", "cellar", "warning")
    assert 'id="reload"' in text and "reloaded" in text


def test_backup_is_a_router_file_without_secrets(stack, admin):
    status, headers, text = admin.request("GET", "/system/backup")
    assert status == 200 and headers["content-disposition"].startswith("attachment;")
    document = json.loads(text)
    assert "password_hash" not in text and "scrypt$" not in text
    assert "bacrouter" in json.dumps(document)


def test_restore_shows_the_difference_and_changes_nothing_before_the_confirmation(stack, admin):
    _, _, text = admin.request("GET", "/system/backup")
    document = json.loads(text)
    changed = text.replace("Boiler room", "Restored name")
    assert changed != text and document
    before = (stack.dir / "config" / "bacrouter").read_bytes()
    status, _, page = multipart(admin, "/system/restore", {"csrf": csrf(admin)}, "backup.json", changed.encode())
    assert status == 200, page
    assert 'id="plan-changes"' in page and "device_name" in page
    assert (stack.dir / "config" / "bacrouter").read_bytes() == before
    token = re.search(r'name="plan" value="([^"]+)"', page).group(1)
    # a forged confirmation (no CSRF token) and a wrong plan token change nothing
    assert admin.request("POST", "/system/restore/apply", {"plan": token}, {"Origin": admin.origin})[0] == 403
    assert post(admin, "/system/restore/apply", {"plan": "nope"})[0] == 409
    assert (stack.dir / "config" / "bacrouter").read_bytes() == before
    status, _, page = post(admin, "/system/restore/apply", {"plan": token})
    assert status == 200, page
    assert main_section(stack).get("device_name") == "Restored name"
    assert "reloaded" in page
    # the password survived (the file had no secrets)
    assert uci.load(stack.dir / "config" / "bacrouter").section("@panel[0]").get("password_hash")
    # the token is spent
    assert post(admin, "/system/restore/apply", {"plan": token})[0] == 409


def test_restore_refuses_garbage_and_too_large_files(stack, admin):
    status, _, page = multipart(admin, "/system/restore", {"csrf": csrf(admin)}, "x.json", b"{not json")
    assert status == 400 and 'id="restore-problem"' in page
    cookie = "; ".join(f"{k}={v}" for k, v in admin.cookies.items())
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:  # refused before it is sent
        sock.sendall(b"POST /system/restore HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n"
                     % (cookie.encode(), 5 << 20))
        assert sock.recv(100).split(b" ")[1] == b"413"


def test_recent_log_lines_with_a_level_filter_and_download(stack, admin):
    status, _, page = admin.request("GET", "/system?level=warning")
    assert status == 200 and 'id="log-table"' in page and '<option value="warning" selected' in page
    assert admin.request("GET", "/system?level=bogus")[0] == 400
    status, headers, text = admin.request("GET", "/system/log.txt?level=info")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert headers["content-disposition"].startswith("attachment;")
    assert "INFO" in text or "WARNING" in text


def test_the_page_in_a_browser(stack, admin, browser):  # noqa: F811 - the fixture imported above
    from selenium.webdriver.common.by import By

    browser.get(stack.base + "/login")
    browser.add_cookie({"name": "bacrouter_panel", "value": admin.cookies["bacrouter_panel"], "path": "/"})
    browser.get(stack.base + "/system")
    assert browser.find_element(By.ID, "device-form").is_displayed()
    assert browser.find_element(By.ID, "device_name").get_attribute("value") == "Restored name"
    shoot(browser, "system")


def test_password_change_needs_the_old_one_and_ends_the_other_sessions(stack, admin):
    other = Client(stack.port, "127.0.0.6")
    assert other.login()[0] in (302, 303) and other.request("GET", "/api/ports")[0] == 200
    old_hash = uci.load(stack.dir / "config" / "bacrouter").section("@panel[0]").get("password_hash")
    status, _, page = post(admin, "/system/password", {"old": "wrong password", "password": NEW_PASSWORD,
                                                       "again": NEW_PASSWORD})
    assert status == 400 and 'id="password-problem"' in page
    assert admin.request("POST", "/system/password", {"old": PASSWORD, "password": NEW_PASSWORD,
                                                      "again": NEW_PASSWORD}, {"Origin": admin.origin})[0] == 403
    status, _, page = post(admin, "/system/password", {"old": PASSWORD, "password": NEW_PASSWORD,
                                                       "again": NEW_PASSWORD})
    assert status == 200, page
    main_hash = uci.load(stack.dir / "config" / "bacrouter").section("@panel[0]").get("password_hash")
    assert main_hash != old_hash and main_hash.startswith("scrypt$")
    assert other.request("GET", "/api/ports")[0] == 401  # logged out
    assert admin.request("GET", "/api/ports")[0] == 200  # goes on with its new session
    assert Client(stack.port, "127.0.0.7").login()[0] == 403
    assert Client(stack.port, "127.0.0.8").login(NEW_PASSWORD)[0] in (302, 303)


def test_guessing_the_current_password_is_slowed_down(stack):
    thief = Client(stack.port, "127.0.0.10")  # a session somebody left open
    assert thief.login(NEW_PASSWORD)[0] in (302, 303)
    answers = [post(thief, "/system/password", {"old": f"guess {i}", "password": "x" * 12, "again": "x" * 12})[0]
               for i in range(5)]
    assert answers[:3] == [400, 400, 400] and 429 in answers[3:]
    assert Client(stack.port, "127.0.0.11").login(NEW_PASSWORD)[0] in (302, 303)
