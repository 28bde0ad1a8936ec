"""The Modbus gateway's live pages in a real browser (issue 13 item 4): live values that follow the slave's
registers without a reload, the per-slave status objects, the overview, and Read Group as a job that shows
each request as it completes and can be cancelled.

A daemon polls a pymodbus TCP slave running in a thread of the test (tests/integration/panel_modbus.py); the
panel and headless Chromium are those of test_panel.py. Pages are photographed into docs/panel/
(modbus-live-*.png, modbus-slave-*.png, read-group-*.png).
"""

from __future__ import annotations

import json

import pytest

from bacrouter.control import ControlError

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
    stack = ModbusStack(tmp_path_factory.mktemp("modbus-live"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def admin(stack):
    client = Client(stack.port)
    token = client.csrf("/login")
    status, _, _ = client.request("POST", "/login", {"csrf": token, "username": "admin", "password": PASSWORD},
                                  {"Origin": client.origin})
    assert status == 303
    return client


def text_of(browser, selector: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, selector).text


# ----------------------------------------------------------------------------- the control method


def test_modbus_points_answers_a_page_of_live_values(stack):
    first = stack.call("modbus_points", {"slave": "meter", "limit": 3})
    assert first["total"] == len(POINTS) and [r["name"] for r in first["rows"]] == ["temp", "reg1", "reg2"]
    temp = first["rows"][0]
    assert temp["raw"] == [215] and temp["value"] == pytest.approx(21.5) and temp["reliability"] == 0
    assert temp["age_s"] is not None and temp["object"] == "analog-input,1001"
    assert {s["name"] for s in first["status"]} == {"online", "update_delay", "fail_rate"}
    assert {s["name"]: s["value"] for s in first["status"]}["online"] == 1
    rest = stack.call("modbus_points", {"slave": "meter", "offset": 3, "limit": 1000})
    assert [r["index"] for r in rest["rows"]] == list(range(3, len(POINTS)))
    for bad in ({"slave": "meter", "limit": 1001}, {"slave": "meter", "offset": -1}, {"slave": "nobody"}):
        with pytest.raises(ControlError, match="limit|offset|no running Modbus slave"):
            stack.call("modbus_points", bad)


def test_read_group_as_a_plain_call_is_unchanged(stack):
    result = stack.call("read_group", {"slave": "meter"})
    assert result["slave"] == "meter" and result["station"] == 1
    assert [(r["function"], r["address"], r["count"], r["result"]) for r in result["requests"]] == \
        [(3, 10 * n, 1, "ok") for n in range(8)]
    assert result["requests"][0]["values"] == [215] and all(r["ms"] >= 0 for r in result["requests"])


# ----------------------------------------------------------------------------- the browser


def test_login(stack, browser):
    browser.get(stack.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "login")
    wait(browser, EC.presence_of_element_located((By.ID, "dashboard")))


def test_the_overview_shows_every_slave_and_a_disabled_one(stack, browser):
    package_text = (stack.dir / "config" / "bacrouter").read_text()
    (stack.dir / "config" / "bacrouter").write_text(
        package_text + "\nconfig modbus_slave 'spare'\n\toption master 'tcp1'\n\toption station '9'\n"
                       "\toption enabled '0'\n")
    try:
        browser.get(stack.base + "/modbus/live")
        state = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "[data-slave='meter'] .state")))
        assert state.text == "online" and "online" in state.get_attribute("class")
        assert "%" in text_of(browser, "[data-slave='meter'] [data-live='s.meter.fail_rate']")
        assert "disabled" in text_of(browser, "[data-idle='spare']")
        requests = int(text_of(browser, "[data-live='s.meter.requests']"))
        wait(browser, lambda b: int(text_of(b, "[data-live='s.meter.requests']")) > requests)  # refreshed in place
        shoot(browser, "modbus-live")
    finally:
        (stack.dir / "config" / "bacrouter").write_text(package_text)


def test_live_values_follow_the_register_without_a_reload(stack, browser):
    browser.get(stack.base + "/modbus/live/slaves/meter")
    value = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "[data-live='p.0.value']")))
    assert value.text == "21.5"
    assert text_of(browser, "[data-live='p.0.raw']") == "215"
    assert text_of(browser, "[data-live='p.0.rel']") == "no fault"
    assert text_of(browser, "[data-live='status.online.value']") == "1"
    assert text_of(browser, "[data-point='reg3'] [data-title='Register']") == "holding 30 u16"
    browser.execute_script("window.sameDocument = 42")
    stack.peer.set("holding", 0, 0xFFFF - 49)  # -5.0
    wait(browser, lambda b: text_of(b, "[data-live='p.0.value']") == "-5")
    assert text_of(browser, "[data-live='p.0.raw']") == str(0xFFFF - 49)
    assert browser.execute_script("return window.sameDocument") == 42  # no reload
    age = text_of(browser, "[data-live='p.0.age']")
    assert age.endswith(" s") and float(age.split()[0]) < 30
    shoot(browser, "modbus-slave")


def test_read_group_shows_each_request_with_its_result_and_time(stack, browser):
    browser.get(stack.base + "/modbus/live/slaves/meter")
    wait(browser, EC.element_to_be_clickable((By.ID, "read-group"))).click()
    wait(browser, lambda b: "all answered" in text_of(b, "#read-group-job .job-text"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#read-group-table tr.tr:not(.table-titles)")
    assert len(rows) == 8
    cells = [[c.text for c in row.find_elements(By.CSS_SELECTOR, "td")] for row in rows]
    assert cells[0][1] == "3 read holding registers" and cells[0][2] == "0" and cells[0][3] == "ok"
    assert cells[7][2] == "70" and cells[0][5].split() == [str(0xFFFF - 49)]
    assert all(c[4].endswith(" ms") for c in cells)
    shoot(browser, "read-group")


def test_read_group_progress_comes_request_by_request_and_cancel_stops_it(stack, browser):
    browser.get(stack.base + "/modbus/live/slaves/meter")
    stack.slow(0.4)
    try:
        wait(browser, EC.element_to_be_clickable((By.ID, "read-group"))).click()
        # the first requests are shown while the others still wait for their turn
        wait(browser, lambda b: 1 <= len(b.find_elements(By.CSS_SELECTOR, "#read-group-table tr.request-ok")) < 8)
        assert "of 8" in text_of(browser, "#read-group-job .job-text")
        shoot(browser, "read-group-running")
        browser.find_element(By.ID, "read-group-job-cancel").click()
        wait(browser, lambda b: "cancelled" in text_of(b, "#read-group-job .job-text"))
        done = len(browser.find_elements(By.CSS_SELECTOR, "#read-group-table tr.request-ok"))
        assert done < 8
        jobs = [j for j in stack.call("jobs") if j["method"] == "read_group"]
        assert jobs[-1]["state"] == "cancelled" and jobs[-1]["progress"]["done"] < 8
    finally:
        stack.slow(0)


def test_the_read_group_job_through_the_api(stack, admin):
    token = admin.csrf("/modbus/live/slaves/meter")
    headers = {"Origin": admin.origin, "Content-Type": "application/json", "X-CSRF-Token": token}
    status, _, text = admin.request("POST", "/api/jobs", json.dumps({"method": "read_group",
                                                                     "params": {"slave": "meter"}}), headers)
    assert status == 200, text
    job = json.loads(text)["id"]
    stack.until(lambda: json.loads(admin.request("GET", f"/api/jobs/{job}")[2])["state"] != "running", "job done")
    view = json.loads(admin.request("GET", f"/api/jobs/{job}")[2])
    assert view["state"] == "done" and view["progress"]["done"] == view["progress"]["total"] == 8
    assert [r["address"] for r in view["progress"]["requests"]] == [10 * n for n in range(8)]
    assert "values" not in view["progress"]["requests"][0] and view["result"]["requests"][0]["values"]


def test_an_unknown_slave_and_json(stack, admin):
    status, _, text = admin.request("GET", "/modbus/live/slaves/nobody")
    assert status == 404 and "nobody" in text
    status, _, text = admin.request("GET", "/api/modbus/live/slaves/meter?offset=0&limit=2")
    data = json.loads(text)
    assert status == 200 and data["running"] and data["total"] == len(POINTS)
    assert set(data["live"]) >= {"p.0.value", "p.1.raw", "s.meter.state"} and "p.2.value" not in data["live"]
    assert admin.request("GET", "/api/modbus/live/slaves/meter?limit=x")[0] == 400


def test_offline(stack, browser):
    stack.stop_daemon()
    try:
        browser.get(stack.base + "/modbus/live/slaves/meter")
        wait(browser, EC.presence_of_element_located((By.ID, "offline")))
        assert not browser.find_elements(By.ID, "point-table")
        browser.get(stack.base + "/modbus/live")
        wait(browser, EC.presence_of_element_located((By.ID, "offline")))
        assert "not running" in text_of(browser, "[data-idle='meter']")
        browser.get(stack.base + "/modbus/files")  # files need no daemon: the offline configuration tool has them
        wait(browser, EC.presence_of_element_located((By.ID, "export-slave-meter")))
    finally:
        stack.start_daemon()
