"""Modbus files in a real browser (issue 13 item 4): export downloads, and imports whose collision report is
shown before anything changes, then staged and applied by Save & Apply.

A daemon polls a pymodbus TCP slave (tests/integration/panel_modbus.py: master tcp1, slave meter, station 1).
A slave file for station 1 on the same master collides: the report shows it added disabled with the reason,
Save & Apply writes it and the daemon reloads without polling it. A points CSV exported and imported again
changes nothing; edited, it changes the points the daemon then uses. A file that is not one is refused with
its located message, and nothing is staged. Pages are photographed into docs/panel/ (modbus-files-*.png,
modbus-import-*.png).
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import shutil

import pytest
from selenium.webdriver.support.ui import Select

from . import test_panel
from .panel_modbus import POINTS, ModbusStack
from .test_panel import CHROMEDRIVER, EC, PASSWORD, By, Path, shoot, wait
from .test_panel_apply import click_and_load
from .test_panel_attacks import Client

browser = test_panel.browser  # the same headless Chromium fixture (one per module)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: apt-get install chromium chromium-driver")
    stack = ModbusStack(tmp_path_factory.mktemp("modbus-files"))
    yield stack
    stack.close()


@pytest.fixture(autouse=True)
def no_staged_edits(request):
    if "stack" in request.fixturenames:
        shutil.rmtree(request.getfixturevalue("stack").dir / "run" / "panel-staging", ignore_errors=True)
    yield


@pytest.fixture(scope="module")
def admin(stack):
    client = Client(stack.port)
    token = client.csrf("/login")
    status, _, _ = client.request("POST", "/login", {"csrf": token, "username": "admin", "password": PASSWORD},
                                  {"Origin": client.origin})
    assert status == 303
    client.token = client.csrf("/modbus/files")
    return client


def upload(client: Client, fields: dict[str, str], filename: str, content: bytes) -> tuple[int, dict, str]:
    """A multipart form post, as a browser sends the import form."""
    boundary = secrets.token_hex(12)
    parts = []
    for key, value in dict(fields, csrf=client.token).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return client.request("POST", "/modbus/files/import", body,
                          {"Origin": client.origin, "Content-Type": f"multipart/form-data; boundary={boundary}"})


def staged(stack) -> bool:
    return (stack.dir / "run" / "panel-staging").exists()


def text_of(browser, selector: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, selector).text


# ----------------------------------------------------------------------------- export


def test_exports_download(stack, admin):
    status, headers, text = admin.request("GET", "/modbus/files/slaves/meter.json")
    assert status == 200 and headers["content-disposition"] == 'attachment; filename="meter.json"'
    slave = json.loads(text)
    assert slave["name"] == "meter" and slave["timeout_ms"] == 1500 and [p["name"] for p in slave["points"]] == [p["name"] for p in POINTS]
    status, headers, text = admin.request("GET", "/modbus/files/masters/tcp1.json")
    master = json.loads(text)
    assert status == 200 and "attachment" in headers["content-disposition"]
    assert master["format"] == "bacrouter-modbus-master" and master["port"] == stack.modbus_port
    assert [s["name"] for s in master["slaves"]] == ["meter"]
    status, headers, text = admin.request("GET", "/modbus/files/slaves/meter.csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["name", "description", "instance"] and [r[0] for r in rows[1:]] == [p["name"] for p in POINTS]
    assert admin.request("GET", "/modbus/files/slaves/nobody.json")[0] == 404
    assert admin.request("GET", "/modbus/files/slaves/..%2Fx.json")[0] == 404
    assert Client(stack.port).request("GET", "/modbus/files/slaves/meter.json")[0] == 303  # logged out: login


# ----------------------------------------------------------------------------- the browser


def test_login(stack, browser):
    browser.get(stack.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "login")
    wait(browser, EC.presence_of_element_located((By.ID, "dashboard")))


def test_the_page_offers_every_export(stack, browser):
    browser.get(stack.base + "/modbus/files")
    link = wait(browser, EC.presence_of_element_located((By.ID, "export-slave-meter")))
    assert link.get_attribute("href").endswith("/modbus/files/slaves/meter.json")
    assert link.get_attribute("download") is not None
    assert browser.find_element(By.ID, "export-csv-meter").get_attribute("href").endswith("/meter.csv")
    assert browser.find_element(By.ID, "export-master-tcp1").get_attribute("href").endswith("/masters/tcp1.json")
    shoot(browser, "modbus-files")


def test_a_colliding_slave_file_is_shown_disabled_staged_and_applied(stack, browser, tmp_path):
    device = {"name": "meter2", "station": 1, "timeout_ms": 1500,
              "points": [{"name": "t", "object_type": "AI", "address_type": "holding", "address": 0, "instance": 1}]}
    source = tmp_path / "meter2.json"
    source.write_text(json.dumps(device))
    before = (stack.dir / "config" / "bacrouter").read_text()
    browser.get(stack.base + "/modbus/files")
    browser.find_element(By.ID, "device-file").send_keys(str(source))
    click_and_load(browser, "import-device")
    row = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#report [data-added='meter2']")))
    assert "DISABLED" in row.text and "station 1" in row.text, row.text
    reasons = text_of(browser, "#report-disabled")
    assert "modbus_slave 'meter2'" in reasons and "(station)" in reasons
    assert not staged(stack) and (stack.dir / "config" / "bacrouter").read_text() == before  # nothing yet
    shoot(browser, "modbus-import-report")
    click_and_load(browser, "stage-import")
    assert "staged" in text_of(browser, "#notice")
    assert staged(stack) and (stack.dir / "config" / "bacrouter").read_text() == before
    click_and_load(browser, "changes-link")
    changes = text_of(browser, "#change-list")
    assert "added modbus_slave 'meter2'" in changes and "added file modbus/meter2.json" in changes
    click_and_load(browser, "apply")
    result = wait(browser, EC.presence_of_element_located((By.ID, "apply-result")))
    assert "reloaded" in result.text.lower() and "meter" in text_of(browser, "#summary-unchanged")
    text = (stack.dir / "config" / "bacrouter").read_text()
    assert "config modbus_slave 'meter2'" in text and "option enabled '0'" in text.split("'meter2'")[1]
    assert json.loads((stack.dir / "bacrouter" / "modbus" / "meter2.json").read_text())["points"][0]["name"] == "t"
    # the daemon has reloaded it and leaves it alone: meter runs, meter2 is configured and not polled
    running = [s["name"] for m in stack.call("modbus") for s in m["slaves"]]
    assert running == ["meter"]
    browser.get(stack.base + "/modbus/live")
    assert "disabled" in wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "[data-idle='meter2']"))).text


def test_a_csv_round_trip_changes_nothing_and_an_edited_one_changes_the_points(stack, browser, admin, tmp_path):
    _, _, exported = admin.request("GET", "/modbus/files/slaves/meter.csv")
    same = tmp_path / "meter.csv"
    same.write_bytes(exported.encode("utf-8"))
    browser.get(stack.base + "/modbus/files")
    Select(browser.find_element(By.ID, "csv-slave")).select_by_value("meter")
    browser.find_element(By.ID, "csv-file").send_keys(str(same))
    click_and_load(browser, "import-csv")
    wait(browser, EC.presence_of_element_located((By.ID, "report-points")))
    assert text_of(browser, "#report-changed") == "none" and text_of(browser, "#report-added") == "none"
    assert f"Unchanged {len(POINTS)}" in text_of(browser, "#report-points")
    click_and_load(browser, "discard-import")
    # reg1's scale edited in the spreadsheet
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
    scale = rows[0].index("scale")
    rows[2][scale] = "0.5"
    edited = tmp_path / "edited.csv"
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows(rows)  # as a spreadsheet in a comma-decimal locale writes it
    edited.write_text(out.getvalue())
    Select(browser.find_element(By.ID, "csv-slave")).select_by_value("meter")
    browser.find_element(By.ID, "csv-file").send_keys(str(edited))
    click_and_load(browser, "import-csv")
    wait(browser, EC.presence_of_element_located((By.ID, "report-points")))
    assert text_of(browser, "#report-changed") == "reg1"
    click_and_load(browser, "stage-import")
    click_and_load(browser, "changes-link")
    click_and_load(browser, "apply")
    wait(browser, EC.presence_of_element_located((By.ID, "apply-result")))
    points = json.loads((stack.dir / "bacrouter" / "modbus" / "meter.json").read_text())["points"]
    assert points[1]["name"] == "reg1" and points[1]["scale"] == 0.5
    stack.until(lambda: stack.call("modbus_points", {"slave": "meter", "limit": 2})["rows"][1]["value"] == 50.5,
                "reg1 read with its new scale")


def test_a_garbage_file_is_refused_with_its_place_and_nothing_is_staged(stack, browser, tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"name": "x",\n "points": [1, 2,\n')
    browser.get(stack.base + "/modbus/files")
    wait(browser, EC.presence_of_element_located((By.ID, "device-file"))).send_keys(str(garbage))
    browser.execute_script("window.sameDocument = 7")
    browser.find_element(By.ID, "import-device").click()
    problem = wait(browser, EC.presence_of_element_located((By.ID, "import-problem")))
    assert problem.text.startswith("Not imported: garbage.json:3"), problem.text
    assert browser.execute_script("return window.sameDocument") == 7  # shown in place by the upload script
    assert not staged(stack)
    shoot(browser, "modbus-import-refused")


def test_refusals_through_the_form(stack, admin):
    status, _, text = upload(admin, {"kind": "device", "master": "tcp1"}, "nul.json", b"\x00\xff garbage")
    assert status == 400 and "Not imported: nul.json" in text
    status, _, text = upload(admin, {"kind": "csv", "slave": "meter"}, "bad.csv",
                             b"name,object_type,address_type,address,instance\nx,AI,holding,notanumber,1\n")
    assert status == 400 and "bad.csv: row 2 column &#039;address&#039;" in text, text[-3000:]
    status, _, text = upload(admin, {"kind": "device", "master": "nowhere"}, "s.json", json.dumps(
        {"name": "s9", "station": 9, "points": []}).encode())
    assert status == 400 and "no modbus_master &#039;nowhere&#039;" in text
    status, _, text = upload(admin, {"kind": "device"}, "empty.json", b"  \n")
    assert status == 400 and "the file is empty" in text
    status, _, text = upload(admin, {"kind": "csv", "slave": "nobody"}, "p.csv", b"name\nx\n")
    assert status == 400 and "no modbus_slave &#039;nobody&#039;" in text
    assert not staged(stack)
    # a stage without its report, and one whose configuration changed meanwhile
    forms = {"csrf": admin.token, "token": "forged"}
    assert admin.request("POST", "/modbus/files/stage", forms, {"Origin": admin.origin})[0] == 409
    status, headers, _ = upload(admin, {"kind": "device", "master": "tcp1"}, "s9.json", json.dumps(
        {"name": "s9", "station": 9, "points": []}).encode())
    assert status == 303
    token = headers["location"].split("import=")[1].split("#")[0]
    staging_file = stack.dir / "run" / "panel-staging" / "data" / "modbus" / "other.json"
    staging_file.parent.mkdir(parents=True)
    staging_file.write_text('{"points": []}')  # another edit staged meanwhile
    status, _, text = admin.request("POST", "/modbus/files/stage", {"csrf": admin.token, "token": token},
                                    {"Origin": admin.origin})
    assert status == 409 and "changed since this report" in text
    assert not (stack.dir / "run" / "panel-staging" / "bacrouter").exists()


def test_a_master_file_brings_its_slaves_renamed_and_disabled_where_they_collide(stack, admin):
    _, _, exported = admin.request("GET", "/modbus/files/masters/tcp1.json")
    status, headers, _ = upload(admin, {"kind": "device", "master": ""}, "tcp1.master.json", exported.encode())
    assert status == 303
    status, _, page = admin.request("GET", headers["location"].split("#")[0])  # (a browser sends no fragment)
    assert status == 200 and "tcp1_2" in page and "DISABLED" in page and "renamed" in page.lower()
    token = headers["location"].split("import=")[1].split("#")[0]
    status, _, page = admin.request("POST", "/modbus/files/stage", {"csrf": admin.token, "token": token},
                                    {"Origin": admin.origin})
    assert status == 200 and "is staged" in page
    staged_uci = (stack.dir / "run" / "panel-staging" / "bacrouter").read_text()
    assert "config modbus_master 'tcp1_2'" in staged_uci
    staged_files = sorted(p.name for p in (stack.dir / "run" / "panel-staging" / "data" / "modbus").iterdir())
    assert staged_files == ["meter2_2.json", "meter_2.json"]  # meter2 came with the earlier import
    assert "tcp1_2" not in (stack.dir / "config" / "bacrouter").read_text()  # staged only

