"""The panel's M-Bus page in a real browser, against simulated meters on a pty (tests/peers/mbus_meters.py behind
socat, resource RS485-1 of resource.conf): a primary scan with a moving progress bar finds the meters, Cancel
stops one and leaves the line free for the next, a secondary scan, a meter's records read into a table, and
points made from them staged as a new Free Client M-Bus bus that Save & Apply accepts and the daemon runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from bacrouter.control import call

from .test_mbus_tools import Segment
from .test_panel import PASSWORD, Stack, browser, preset_password, shoot, wait  # noqa: F401 - browser is a fixture
from .test_panel_apply import click_and_load
from .test_panel_attacks import Client

pytestmark = pytest.mark.skipif(shutil.which("socat") is None and not os.environ.get("BACROUTER_REQUIRE_ALL"),
                                reason="needs socat")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mbuspanel")
    (tmp / "meters").mkdir()
    segment = Segment(tmp / "meters")
    (tmp / "stack").mkdir()
    stack = Stack(tmp / "stack")
    try:
        resources = stack.dir / "bacrouter" / "resource.conf"
        table = json.loads(resources.read_text())
        table["RS485-1"] = {"type": "USB", "ifname": segment.ptys.a}
        resources.write_text(json.dumps(table))
        preset_password(stack.dir / "config" / "bacrouter")
        assert call(stack.dir / "run" / "control.sock", "reload")["ok"]
        yield stack
    finally:
        stack.close()
        segment.close()


def ctl(stack, method, params=None):
    return call(stack.dir / "run" / "control.sock", method, params, timeout=20)


def line_settings(driver, retries: str = "0", timeout: str = "60") -> None:
    """ptys refuse even parity; the simulated meters answer within milliseconds (EN 13757-2 allows 190 ms)."""
    Select(driver.find_element(By.ID, "mbus-line")).select_by_value("RS485-1")
    Select(driver.find_element(By.ID, "mbus-baud")).select_by_value("38400")
    Select(driver.find_element(By.ID, "mbus-parity")).select_by_value("none")
    for field, text in (("mbus-timeout", timeout), ("mbus-retries", retries)):
        driver.find_element(By.ID, field).clear()
        driver.find_element(By.ID, field).send_keys(text)


def bar(driver, job: str) -> float | None:
    return driver.execute_script(f"var b = document.querySelector('#{job} progress');"
                                  "return b.hasAttribute('value') ? b.value / b.max : null")


def job_state(driver, job: str) -> str:
    classes = driver.find_element(By.ID, job).get_attribute("class").split()
    return next((c[4:] for c in classes if c in ("job-done", "job-failed", "job-cancelled")), "running")


def meter_rows(driver) -> list[tuple[str, str]]:
    return [(r.get_attribute("data-address"), r.find_elements(By.CSS_SELECTOR, "td")[1].text)
            for r in driver.find_elements(By.CSS_SELECTOR, "#meter-table tbody tr")]


def test_login(stack, browser):  # noqa: F811 - the fixture imported above
    browser.get(stack.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "login")
    menu = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#topmenu a")]
    assert menu.index("Discovery") < menu.index("M-Bus") < menu.index("Configure")


def test_a_primary_scan_moves_its_bar_and_finds_the_meters(stack, browser):  # noqa: F811
    browser.get(stack.base + "/mbus")
    line_settings(browser)
    browser.find_element(By.ID, "mbus-last").clear()
    browser.find_element(By.ID, "mbus-last").send_keys("60")
    browser.find_element(By.ID, "scan-start").click()
    seen, shown_early = set(), False
    deadline = time.monotonic() + 60
    while job_state(browser, "scan-job") == "running":
        assert time.monotonic() < deadline, browser.find_element(By.ID, "scan-job").text
        value = bar(browser, "scan-job")
        if value is not None and value < 1:
            seen.add(round(value, 2))
            shown_early = shown_early or bool(meter_rows(browser))
        time.sleep(0.05)
    assert job_state(browser, "scan-job") == "done", browser.find_element(By.ID, "scan-job").text
    assert len(seen) >= 3, f"the bar did not move: {seen}"
    assert shown_early, "no meter was shown while the scan ran"
    rows = meter_rows(browser)
    assert [a for a, _ in rows] == ["1", "2", "5"]
    assert rows[0][1] == "12345678" and rows[1][1] == "1234AB78" and "collision" in rows[2][1]
    assert "3 meter(s) found" in browser.find_element(By.ID, "scan-job").text


def test_cancel_stops_the_scan_and_the_line_is_free_again(stack, browser):  # noqa: F811
    browser.get(stack.base + "/mbus")
    line_settings(browser, retries="2")  # three tries of every silent address: a long scan
    browser.find_element(By.ID, "scan-start").click()
    wait(browser, lambda d: (bar(d, "scan-job") or 0) > 0.01, 30)
    browser.find_element(By.ID, "scan-job-cancel").click()
    wait(browser, lambda d: job_state(d, "scan-job") == "cancelled", 20)
    assert "cancelled" in browser.find_element(By.ID, "scan-job").text
    jobs = [j for j in ctl(stack, "jobs") if j["method"] == "mbus_scan"]
    assert jobs[-1]["state"] == "cancelled" and jobs[-1]["progress"]["done"] < 250
    # at once a second scan gets the line
    line_settings(browser)
    for field, text in (("mbus-first", "1"), ("mbus-last", "3")):
        browser.find_element(By.ID, field).clear()
        browser.find_element(By.ID, field).send_keys(text)
    browser.find_element(By.ID, "scan-start").click()
    wait(browser, lambda d: job_state(d, "scan-job") != "running", 30)
    assert job_state(browser, "scan-job") == "done", browser.find_element(By.ID, "scan-job").text
    assert [a for a, _ in meter_rows(browser)] == ["1", "2"]


def test_a_secondary_scan_finds_every_meter(stack, browser):  # noqa: F811
    browser.get(stack.base + "/mbus")
    # a select is asked once: a late answer would hide a branch (a loaded machine delays the simulated meters)
    line_settings(browser, timeout="100")
    Select(browser.find_element(By.ID, "mbus-mode")).select_by_value("secondary")
    assert browser.find_element(By.ID, "mbus-mask").is_displayed()
    assert not browser.find_element(By.ID, "mbus-first").is_displayed()
    browser.find_element(By.ID, "scan-start").click()
    wait(browser, lambda d: job_state(d, "scan-job") != "running", 90)
    assert job_state(browser, "scan-job") == "done", browser.find_element(By.ID, "scan-job").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#meter-table tbody tr")
    found = {r.get_attribute("data-address"): [c.text for c in r.find_elements(By.CSS_SELECTOR, "td")] for r in rows}
    assert set(found) == {"12345678A5B10102", "1234AB78A5B10102", "55555555A5B10102", "55555555C5B20102"}
    assert found["1234AB78A5B10102"][1:5] == ["1234AB78", "LME", found["1234AB78A5B10102"][3], "1"]
    assert found["55555555C5B20102"][2] != found["55555555A5B10102"][2]  # the twins: two manufacturers


def test_read_a_meter_into_its_records(stack, browser):  # noqa: F811
    # from the secondary scan's table: the Read button of the two-telegram meter
    row = browser.find_element(By.CSS_SELECTOR, '#meter-table tr[data-address="1234AB78A5B10102"]')
    row.find_element(By.CSS_SELECTOR, ".read-meter").click()
    wait(browser, lambda d: job_state(d, "read-job") != "running", 30)
    assert job_state(browser, "read-job") == "done", browser.find_element(By.ID, "read-job").text
    summary = browser.find_element(By.ID, "meter-summary").text
    assert "ID 1234AB78" in summary and "2 telegram(s)" in summary
    records = browser.find_elements(By.CSS_SELECTOR, "#record-table tbody tr")
    ids = [int(r.get_attribute("data-record")) for r in records]
    assert ids == list(range(len(ids))) and len(ids) > 16  # both telegrams, the ids counting on
    first = {c.get_attribute("data-title"): c.text for c in records[0].find_elements(By.CSS_SELECTOR, "td")}
    assert first["Unit"] == "Energy (10 Wh)" and first["Function"] == "Instantaneous value"
    assert "kilowatt-hours" in first["Description"] and first["Storage"] == "0"
    assert browser.find_element(By.ID, "points-section").is_displayed()


def test_make_points_stages_a_bus_that_save_and_apply_accepts(stack, browser):  # noqa: F811
    # by primary address this time: the bus reads the meter at 2 (a pty refuses even parity: none, as chosen)
    browser.find_element(By.ID, "read-address").clear()
    browser.find_element(By.ID, "read-address").send_keys("2")
    browser.find_element(By.ID, "read-start").click()
    wait(browser, lambda d: job_state(d, "read-job") != "running", 30)
    assert job_state(browser, "read-job") == "done", browser.find_element(By.ID, "read-job").text
    for record in ("0", "1"):
        browser.find_element(By.CSS_SELECTOR, f'#record-table tr[data-record="{record}"] .record-pick').click()
    name = browser.find_element(By.CSS_SELECTOR, '#record-table tr[data-record="0"] .record-name')
    assert name.get_attribute("value") == "energy_0"
    assert Select(browser.find_element(By.ID, "points-bus")).first_selected_option.get_attribute("value") == ""
    browser.find_element(By.ID, "points-new-bus").clear()
    browser.find_element(By.ID, "points-new-bus").send_keys("meters")
    browser.find_element(By.ID, "points-device").clear()
    browser.find_element(By.ID, "points-device").send_keys("heat")
    browser.find_element(By.ID, "points-make").click()
    result = wait(browser, EC.visibility_of_element_located((By.ID, "points-result")))
    assert "2 point(s) added to meters / heat" in result.text, result.text
    assert "2 change(s) staged" in browser.find_element(By.ID, "staged-badge").text.lower()
    shoot(browser, "mbus")
    # nothing is live yet: the bus is staged beside the UCI file
    assert not (stack.dir / "bacrouter" / "freeclient" / "meters.json").exists()
    staged = json.loads((stack.dir / "run" / "panel-staging" / "data" / "freeclient" / "meters.json").read_text())
    points = staged["fcdevices"][0]["fcpoints"]
    assert staged["fcdevices"][0]["tag"] == "addr=2" and [p["tag"] for p in points] == ["id=0", "id=1"]
    # the same records again: nothing is added twice
    browser.find_element(By.ID, "points-make").click()
    wait(browser, lambda d: "skipped" in d.find_element(By.ID, "points-result").text)
    assert "No point added" in browser.find_element(By.ID, "points-result").text
    click_and_load(browser, "points-review")
    click_and_load(browser, "apply")
    outcome = wait(browser, EC.presence_of_element_located((By.ID, "apply-result")))
    assert "Applied" in outcome.text, browser.find_element(By.ID, "maincontent").text
    assert re.search(r"config freeclient_bus 'meters'", (stack.dir / "config" / "bacrouter").read_text())
    assert json.loads((stack.dir / "bacrouter" / "freeclient" / "meters.json").read_text())["parity"] == "none"
    deadline = time.monotonic() + 20
    while True:  # the daemon runs the bus, and the meter's energy reaches its object
        objects = ctl(stack, "objects")["gateways"].get("freeclient") or []
        text = json.dumps(objects)
        if "meters|heat|energy_0" in text:
            break
        assert time.monotonic() < deadline, text[:2000]
        time.sleep(0.2)
    assert ctl(stack, "freeclient")[0]["state"] == "running"


def test_a_line_the_bus_uses_is_refused_by_name(stack, browser):  # noqa: F811
    browser.get(stack.base + "/mbus")
    assert "used by freeclient_bus 'meters'" in browser.find_element(By.ID, "mbus-line").text
    line_settings(browser)
    browser.find_element(By.ID, "scan-start").click()
    problem = wait(browser, EC.visibility_of_element_located((By.ID, "scan-problem")))
    assert "Free Client M-Bus bus 'meters'" in problem.text
    assert job_state(browser, "scan-job") == "failed"


def test_what_a_browser_may_not_send(stack):
    client = Client(stack.port)
    assert client.login()[0] in (302, 303)
    _, _, page = client.request("GET", "/mbus")
    token = re.search(r'name="csrf" content="([^"]+)"', page).group(1)

    def post(path, body, csrf=token):
        headers = {"Origin": client.origin, "Content-Type": "application/json"}
        if csrf:
            headers["X-CSRF-Token"] = csrf
        status, _, text = client.request("POST", path, json.dumps(body), headers)
        return status, json.loads(text)

    # a tty path is the control socket's (root's): the panel never passes one
    status, answer = post("/api/jobs", {"method": "mbus_scan", "params": {"tty": "/dev/ttyS0"}})
    assert status == 403 and "tty" in answer["error"]
    good = {"bus": "other", "new_bus": True, "resource": "RS485-1", "baud": 2400, "parity": "even",
            "device": {"name": "m", "address": "1"}, "points": [{"id": 0, "name": "e"}]}
    assert post("/api/mbus/points", good, csrf=None)[0] == 403
    for change, text in (({"bus": "a b"}, "not a section name"), ({"bus": "main", "new_bus": True}, "exists already"),
                         ({"bus": "nope", "new_bus": False}, "no Free Client bus"),
                         ({"resource": "loop"}, "not a USB resource"),
                         ({"device": {"name": "m", "address": "251"}}, "neither a primary"),
                         ({"device": {"name": "a|b", "address": "1"}}, "no |"),
                         ({"points": []}, "pick at least one"),
                         ({"points": [{"id": 0, "name": "e"}, {"id": 1, "name": "e"}]}, "given twice"),
                         ({"points": [{"id": -1, "name": "e"}]}, "record's number"),
                         ({"points": [{"id": 0, "name": "e", "object_type": "bo"}]}, "object_type")):
        status, answer = post("/api/mbus/points", {**good, **change})
        assert status == 400 and text in answer["error"], (change, answer)
    assert not (stack.dir / "run" / "panel-staging").exists()


def test_points_extend_a_configured_bus(stack):
    from bacrouter.panel.staging import Staging
    from bacrouter.paths import Paths

    client = Client(stack.port)
    assert client.login()[0] in (302, 303)
    _, _, page = client.request("GET", "/mbus")
    token = re.search(r'name="csrf" content="([^"]+)"', page).group(1)
    assert '<option value="meters">meters (RS485-1)</option>' in page  # the bus applied above is offered

    def post(body):
        status, _, text = client.request("POST", "/api/mbus/points", json.dumps(body),
                                         {"Origin": client.origin, "Content-Type": "application/json",
                                          "X-CSRF-Token": token})
        return status, json.loads(text)

    staging = Staging(Paths(stack.dir))
    try:
        # a meter the bus has not got: a new device
        status, answer = post({"bus": "meters", "device": {"name": "water", "address": "1", "instance": 8001},
                               "points": [{"id": 0, "name": "volume"}]})
        assert status == 200 and answer["added"] == ["volume"] and answer["device"] == "water", answer
        # the meter the bus reads already (address 2, whatever name is asked): its device grows, ids not repeated
        status, answer = post({"bus": "meters", "device": {"name": "ignored", "address": "2"},
                               "points": [{"id": 2, "name": "energy_2"}, {"id": 1, "name": "again"}]})
        assert status == 200 and answer["device"] == "heat" and answer["added"] == ["energy_2"], answer
        assert answer["skipped"] == ["again: record 1 has a point already"]
        definition = json.loads(staging.read_data("freeclient/meters.json"))
        heat, water = definition["fcdevices"]
        assert [(p["name"], p["instance"], p["tag"]) for p in heat["fcpoints"]] == [
            ("energy_0", 1, "id=0"), ("energy_1", 2, "id=1"), ("energy_2", 3, "id=2")]
        assert (water["tag"], water["instance"], water["fcpoints"][0]["value_type"]) == ("addr=1", 8001, 1)
        assert staging.changes() == ["changed file freeclient/meters.json"]
        assert not staging.validate().errors
    finally:
        staging.revert()
