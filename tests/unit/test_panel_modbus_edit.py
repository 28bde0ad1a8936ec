"""The Modbus configuration pages (bacrouter.panel.modbus_edit) in-process, without a daemon (offline mode):
what each request stages, and the cases a browser test does not reach (a points file that does not parse or is
outside the data directory, a master copied with its slaves in virtual-device mode, the tri-state ``ascii``)."""

from __future__ import annotations

import io
import json
import re
import sys
from urllib.parse import urlencode

import pytest

from bacrouter.config import uci
from bacrouter.panel.app import Options, Panel
from bacrouter.panel.auth import hash_password
from bacrouter.panel.staging import Staging
from bacrouter.paths import Paths

CONFIG = """config bacrouter 'main'
	option device_instance '4100'

config panel 'panel'
	option username 'admin'
	option password_hash '{hash}'

config vbus 'vbus'
	option network '9'

config modbus_master 'line'
	option protocol 'rtu'
	option resource 'RS485-1'

config modbus_slave 'a'
	option master 'line'
	option station '1'
	option instance '4101'

config modbus_slave 'b'
	option master 'line'
	option station '2'
	option instance '4102'

config modbus_slave 'far'
	option master 'line'
	option station '3'
	option instance '4110'
	option points '{outside}'
"""
POINT = {"name": "t", "object_type": "ai", "address_type": "input", "address": 0, "instance": 1}


class Browser:
    """Requests straight into the WSGI application, with the session cookie."""

    def __init__(self, app) -> None:
        self.app, self.cookies, self.csrf = app, {}, ""

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        path, _, query = path.partition("?")
        body = urlencode({**(form or {}), **({"csrf": self.csrf} if method == "POST" else {})}, doseq=True).encode()
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(body),
                   "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/x-www-form-urlencoded",
                   "HTTP_HOST": "192.168.1.1", "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                   "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "SERVER_NAME": "192.168.1.1", "SERVER_PORT": "80",
                   "REMOTE_ADDR": "127.0.0.1"}
        answer = {}

        def start(status, headers, exc_info=None):
            answer["status"], answer["headers"] = int(status.split()[0]), headers
            for name, value in headers:
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key] = rest.split(";")[0]

        text = b"".join(self.app(environ, start)).decode()
        found = re.search(r'name="csrf" value="([^"]+)"', text)
        if found:
            self.csrf = found.group(1)
        return answer["status"], dict(answer["headers"]).get("Location", ""), text


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "bacrouter" / "modbus").mkdir(parents=True)
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps({"points": [POINT]}))
    (tmp_path / "config" / "bacrouter").write_text(CONFIG.format(hash=hash_password("x" * 12), outside=outside))
    (tmp_path / "bacrouter" / "resource.conf").write_text(
        json.dumps({"RS485-1": {"type": "USB", "ifname": "/dev/ttyUSB0"}, "RS485-2": {"type": "USB", "ifname": "/dev/ttyUSB1"}}))
    for name in ("a", "b"):
        (tmp_path / "bacrouter" / "modbus" / f"{name}.json").write_text(json.dumps({"points": [POINT]}))
    return Paths(tmp_path)


@pytest.fixture
def browser(paths):
    client = Browser(Panel(Options(paths)).app)
    client.request("GET", "/login")
    assert client.request("POST", "/login", {"username": "admin", "password": "x" * 12})[0] == 303
    client.request("GET", "/modbus")  # the logged-in session's CSRF token
    return client


def test_the_list_shows_masters_and_slaves_with_their_points(browser):
    status, _, text = browser.request("GET", "/modbus")
    assert status == 200 and 'data-slave="far"' in text and "RS485-1" in text
    assert re.search(r'data-title="Points"><a [^>]*>1</a>', text)


def test_ascii_is_yes_no_or_the_masters_protocol(browser, paths):
    _, _, text = browser.request("GET", "/modbus/slaves/a")
    assert '<select id="o.ascii"' in text and "as the master&#039;s protocol" in text
    form = {"o.master": "line", "o.station": "1", "o.enabled": "1", "o.instance": "4101"}
    browser.request("POST", "/modbus/slaves/a", {**form, "o.ascii": "1"})
    assert Staging(paths).package().section("a").options["ascii"] == "1"
    browser.request("POST", "/modbus/slaves/a", {**form, "o.ascii": "0"})
    assert Staging(paths).package().section("a").options["ascii"] == "0"
    browser.request("POST", "/modbus/slaves/a", {**form, "o.ascii": ""})
    assert "ascii" not in Staging(paths).package().section("a").options


def test_a_master_is_copied_with_its_slaves_each_with_a_free_instance(browser, paths):
    status, location, _ = browser.request("POST", "/modbus/masters/line/copy")
    assert (status, location) == (303, "/modbus/masters/line_2")
    package, staging = Staging(paths).package(), Staging(paths)
    copies = {s.name: s.options for s in package if s.type == "modbus_slave" and s.options["master"] == "line_2"}
    assert set(copies) == {"a_2", "b_2", "far_2"}
    # the lowest instances after each original's that no slave, the router or another copy has
    assert {n: o["instance"] for n, o in copies.items()} == {"a_2": "4103", "b_2": "4104", "far_2": "4111"}
    assert "points" not in copies["far_2"]  # its own file, in the data directory
    assert json.loads(staging.read_data("modbus/far_2.json"))["points"] == [POINT]
    assert json.loads(staging.read_data("modbus/a_2.json"))["points"] == [POINT]
    # deleting the copied master takes its slaves and their files with it
    browser.request("POST", "/modbus/masters/line_2/delete")
    assert Staging(paths).changes() == []


def test_a_points_file_outside_the_data_directory_is_shown_not_edited(browser, paths):
    status, _, text = browser.request("GET", "/modbus/slaves/far/points")
    assert status == 200 and 'id="points-outside"' in text and 'id="add-point"' not in text and ">t</a>" in text
    status, _, text = browser.request("POST", "/modbus/slaves/far/points/add")
    assert status == 409 and "outside the data directory" in text
    assert not Staging(paths).active


def test_a_points_file_that_does_not_parse_is_said_and_not_overwritten(browser, paths):
    (paths.data_dir / "modbus" / "b.json").write_text('{"points": [')
    status, _, text = browser.request("GET", "/modbus/slaves/b/points")
    assert status == 200 and 'id="points-error"' in text and 'id="add-point"' not in text
    assert browser.request("POST", "/modbus/slaves/b/points/add")[0] == 409
    _, _, text = browser.request("GET", "/changes")
    assert 'href="/modbus/slaves/b/points"' in text  # the file's problem links to the points table
    assert not Staging(paths).active


def test_points_are_added_copied_and_deleted_by_number(browser, paths):
    status, location, _ = browser.request("POST", "/modbus/slaves/a/points/add", {"object_type": "bo"})
    assert (status, location) == (303, "/modbus/slaves/a/points/2")
    _, _, text = browser.request("GET", "/modbus/slaves/a/points")
    digest = re.search(r'name="digest" value="([^"]+)"', text).group(1)
    browser.request("POST", "/modbus/slaves/a/points/selected", {"digest": digest, "action": "copy", "sel": ["1", "2"]})
    items = json.loads(Staging(paths).read_data("modbus/a.json"))["points"]
    assert [(p["name"], p["object_type"], p["instance"]) for p in items] == [
        ("t", "ai", 1), ("point2", "bo", 1), ("t_2", "ai", 2), ("point2_2", "bo", 2)]
    assert browser.request("POST", "/modbus/slaves/a/points/selected",
                           {"digest": digest, "action": "delete", "sel": ["1"]})[0] == 409  # the page is stale
    _, _, text = browser.request("GET", "/modbus/slaves/a/points?q=point2")
    assert len(re.findall(r'<tr [^>]*id="point-', text)) == 2
    digest = re.search(r'name="digest" value="([^"]+)"', text).group(1)
    assert browser.request("POST", "/modbus/slaves/a/points/selected",
                           {"digest": digest, "action": "delete", "sel": ["9"]})[0] == 400
    browser.request("POST", "/modbus/slaves/a/points/selected", {"digest": digest, "action": "delete", "sel": ["2", "4"]})
    assert [p["name"] for p in json.loads(Staging(paths).read_data("modbus/a.json"))["points"]] == ["t", "t_2"]
    assert browser.request("GET", "/modbus/slaves/a/points/3")[0] == 404


def test_new_slaves_and_masters(browser, paths):
    assert browser.request("POST", "/modbus/slaves/add", {"name": "c", "master": "line"})[1] == "/modbus/slaves/c"
    section = Staging(paths).package().section("c")
    assert section.options == {"master": "line", "station": "4"}  # the lowest station the line has free
    assert json.loads(Staging(paths).read_data("modbus/c.json")) == {"points": []}
    assert browser.request("POST", "/modbus/slaves/add", {"name": "a", "master": "line"})[0] == 409
    assert browser.request("POST", "/modbus/slaves/add", {"name": "d", "master": "nobody"})[0] == 404
    browser.request("POST", "/modbus/masters/add", {"name": "line2", "protocol": "rtu"})
    assert Staging(paths).package().section("line2").options == {"protocol": "rtu", "resource": "RS485-2"}
    assert browser.request("POST", "/modbus/masters/add", {"name": "x", "protocol": "udp"})[0] == 400
    uci.load(paths.uci_file)  # the live file is untouched and still reads
    assert "modbus_slave 'c'" not in paths.uci_file.read_text()


def test_serving_a_page_again_compiles_and_keeps_nothing_new(browser):
    """bottle caches a compiled template by the identity of its lookup list: a new list per render compiled
    every page anew and kept each copy, so the panel grew with every page it served."""
    import bottle

    for path in ("/modbus", "/modbus/slaves/a", "/modbus/slaves/a/points", "/changes"):
        browser.request("GET", path)
    cached = len(bottle.TEMPLATES)
    for _ in range(5):
        for path in ("/modbus", "/modbus/slaves/a", "/modbus/slaves/a/points", "/changes"):
            assert browser.request("GET", path)[0] == 200
    assert len(bottle.TEMPLATES) == cached


def test_a_thousand_warnings_do_not_bury_an_error_on_the_changes_page(browser, paths):
    """Every point with a vendor's key warns: the changes page shows the errors first and 100 lines at most."""
    points = [dict(POINT, name=f"p{i}", instance=i + 1, vendor_note="x") for i in range(300)]
    Staging(paths).save_data("modbus/a.json", json.dumps({"points": points}))
    package = Staging(paths).package()
    package.section("b").options["station"] = "300"  # out of range: an error
    Staging(paths).save(package)
    status, _, text = browser.request("GET", "/changes")
    assert status == 200
    items = re.findall(r'<li class="(error|warning|more)"', text)
    assert items[0] == "error" and len(items) == 101 and items[-1] == "more", items[:3]
    assert re.search(r"and [0-9]+ more: each editor shows its own", text)
