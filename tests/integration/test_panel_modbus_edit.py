"""The Modbus configuration pages (issue 13 item 4, the configuration half) in a real browser, against a running
daemon and a pymodbus TCP server as the slave.

The browser adds a TCP master and a slave with a point, Save & Apply, and the daemon polls it (the ``modbus``
control method shows the slave online, ``modbus_objects`` its object); a point's bad address type is shown at its
field, Save & Apply refuses it and links to that field; a slave is copied (its points file too, a free name) and
deleted; a slave with 1,000 points shows every row and its editor saves the last one. Pages are photographed at
phone and desktop width into docs/panel/ (modbus-*.png).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from bacrouter.config import uci
from bacrouter.control import call
from bacrouter.panel.staging import Staging
from bacrouter.paths import Paths

from . import test_panel
from .test_panel import (
    CHROMEDRIVER,
    EC,
    PASSWORD,
    ROOT,
    By,
    Client,
    Path,
    Stack,
    free_port,
    preset_password,
    shoot,
    wait,
)
from .test_panel_apply import click_and_load, gone, loaded

browser = test_panel.browser  # the same headless Chromium fixture (one per module)


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    """A pymodbus TCP server answering units 1 and 2 (a process: the panel's tests run no event loop)."""
    port = free_port()
    ready = tmp_path_factory.mktemp("peer") / "ready"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "peers" / "modbus_peer.py"), "--tcp",
                             f"127.0.0.1:{port}", "--unit", "1", "--unit", "2", "--ready", str(ready)],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the Modbus peer did not start"
        time.sleep(0.1)
    yield port
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: apt-get install chromium chromium-driver")
    tmp = tmp_path_factory.mktemp("modbus")
    stack = Stack(tmp)
    preset_password(tmp / "config" / "bacrouter")
    yield stack
    stack.close()


def staging(stack) -> Staging:
    return Staging(Paths(stack.dir))


def sock(stack) -> Path:
    return stack.dir / "run" / "control.sock"


def slaves(stack) -> dict[str, dict]:
    return {s["name"]: s for m in call(sock(stack), "modbus") for s in m["slaves"]}


def until(check, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def type_into(browser, element_id: str, text: str) -> None:
    box = wait(browser, EC.presence_of_element_located((By.ID, element_id)))
    box.clear()
    box.send_keys(text)


def select(browser, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(wait(browser, EC.presence_of_element_located((By.ID, element_id)))).select_by_value(value)


def click_confirm_and_load(browser, element_id: str) -> None:
    """Click a button whose form asks to confirm, accept, and wait for the next page."""
    wait(browser, loaded)
    page = browser.find_element(By.TAG_NAME, "html")
    wait(browser, EC.element_to_be_clickable((By.ID, element_id))).click()
    wait(browser, EC.alert_is_present()).accept()
    wait(browser, gone(page))
    wait(browser, loaded)


def apply(stack, browser) -> None:
    browser.get(stack.base + "/changes")
    click_and_load(browser, "apply")
    result = wait(browser, EC.presence_of_element_located((By.ID, "apply-result")))
    assert "Applied" in result.text, browser.find_element(By.ID, "maincontent").text


def test_login(stack, browser):
    browser.get(stack.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "login")
    wait(browser, EC.presence_of_element_located((By.ID, "dashboard")))


def test_add_a_tcp_master_and_a_slave_with_a_point_and_the_daemon_polls_it(stack, browser, peer):
    browser.get(stack.base + "/modbus")
    assert browser.find_element(By.ID, "files-link").get_attribute("href").endswith("/modbus/files")
    type_into(browser, "new-master", "plant")
    select(browser, "new-master-protocol", "tcp")
    click_and_load(browser, "add-master-button")
    # the master's editor: resource is hidden for TCP, host and port shown
    assert not browser.find_element(By.ID, "field-resource").is_displayed()
    type_into(browser, "o.host", "127.0.0.1")
    type_into(browser, "o.port", str(peer))
    click_and_load(browser, "stage")
    browser.get(stack.base + "/modbus")
    type_into(browser, "new-slave", "meter")
    click_and_load(browser, "add-slave-button")
    assert browser.find_element(By.ID, "live-link").get_attribute("href").endswith("/modbus/live/slaves/meter")
    assert "Modbus station" in browser.find_element(By.CSS_SELECTOR, "#field-station .cbi-value-description").text
    type_into(browser, "o.description", "heat meter")
    type_into(browser, "o.update_ms", "200")
    click_and_load(browser, "stage")
    assert staging(stack).package().section("meter").options["update_ms"] == "200"
    shoot(browser, "modbus-slave-edit")
    click_and_load(browser, "points-link")
    click_and_load(browser, "add-point-button")  # an ai: the point editor opens
    type_into(browser, "k.name", "flow")
    type_into(browser, "k.address", "10")
    type_into(browser, "k.scale", "0.1")
    type_into(browser, "k.unit", "degrees-celsius")
    click_and_load(browser, "stage")
    point = json.loads(staging(stack).read_data("modbus/meter.json"))["points"][0]
    assert point == {"name": "flow", "instance": 1, "enable": True, "object_type": "ai", "address_type": "holding",
                     "address": 10, "data_type": "u16", "scale": 0.1, "unit": "degrees-celsius"}
    assert "first register or bit" in browser.find_element(By.CSS_SELECTOR, "#field-address .cbi-value-description").text
    shoot(browser, "modbus-point-edit")
    browser.get(stack.base + "/modbus/slaves/meter/points")
    select(browser, "new-point-type", "bi")
    click_and_load(browser, "add-point-button")
    type_into(browser, "k.name", "alarm")
    type_into(browser, "k.state_texts", "Normal\nAlarm")
    click_and_load(browser, "stage")
    browser.get(stack.base + "/modbus/slaves/meter/points")
    assert [r.get_attribute("id") for r in browser.find_elements(By.CSS_SELECTOR, "#points tr[id^='point-']")] == \
        ["point-1", "point-2"]
    shoot(browser, "modbus-points")
    browser.get(stack.base + "/modbus")
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-slave='meter']").text
    assert "plant" in row and "tcp" in row and f"127.0.0.1:{peer}" in row and "heat meter" in row
    shoot(browser, "modbus")
    apply(stack, browser)
    assert "meter" in browser.find_element(By.ID, "summary-started").text
    until(lambda: slaves(stack).get("meter", {}).get("online"), what="the slave online")
    objects = {o["point"]: o for o in call(sock(stack), "modbus_objects") if o["slave"] == "meter"}
    assert objects["flow"]["object"].startswith("analog-input") and objects["flow"]["source"] == "holding 10 u16"
    assert objects["alarm"]["object"].startswith("binary-input") and objects["alarm"]["source"] == "coil 0 u16"


def test_a_bad_address_type_is_shown_at_its_field_and_not_applied(stack, browser):
    before = (stack.dir / "bacrouter" / "modbus" / "meter.json").read_bytes()
    browser.get(stack.base + "/modbus/slaves/meter/points/1")
    select(browser, "k.object_type", "ao")
    select(browser, "k.address_type", "input")  # an output needs a writable register
    click_and_load(browser, "stage")
    problem = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#field-address_type .field-problem")))
    assert "writable" in problem.text
    browser.get(stack.base + "/modbus/slaves/meter/points")
    assert "has-error" in browser.find_element(By.ID, "point-1").get_attribute("class")
    browser.get(stack.base + "/modbus/slaves/meter")
    assert "1 error" in browser.find_element(By.ID, "points-link").text
    # a station out of range on the slave (a serial line's limits do not apply to TCP: 255 is the schema's top)
    type_into(browser, "o.station", "300")
    browser.execute_script("document.getElementById('o.station').removeAttribute('max')")  # the browser's check
    click_and_load(browser, "stage")
    problem = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#field-station .field-problem")))
    assert "300" in problem.text
    browser.get(stack.base + "/changes")
    click_and_load(browser, "apply")
    wait(browser, EC.presence_of_element_located((By.ID, "problems")))
    assert "Not applied" in browser.find_element(By.ID, "message").text
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#problems a")]
    assert any(h.endswith("/modbus/slaves/meter/points/1#field-address_type") for h in links), links
    assert any(h.endswith("/modbus/slaves/meter#field-station") for h in links), links
    assert (stack.dir / "bacrouter" / "modbus" / "meter.json").read_bytes() == before
    assert slaves(stack)["meter"]["station"] == 1
    link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "#problems a")
                if a.get_attribute("href").endswith("#field-address_type"))
    page = browser.find_element(By.TAG_NAME, "html")
    link.click()
    wait(browser, gone(page))
    assert wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#field-address_type.has-error")))
    shoot(browser, "modbus-point-error")
    browser.get(stack.base + "/changes")
    click_and_load(browser, "revert")
    wait(browser, EC.presence_of_element_located((By.ID, "no-changes")))


def test_copy_and_delete_a_slave(stack, browser):
    browser.get(stack.base + "/modbus")
    click_and_load(browser, "copy-slave-meter")
    assert browser.current_url.endswith("/modbus/slaves/meter_2")
    copy = staging(stack).package().section("meter_2").options
    assert copy["master"] == "plant" and copy["description"] == "heat meter"
    assert staging(stack).read_data("modbus/meter_2.json") == (stack.dir / "bacrouter" / "modbus" / "meter.json").read_bytes()
    type_into(browser, "o.station", "2")  # its own station on the server
    click_and_load(browser, "stage")
    apply(stack, browser)
    until(lambda: slaves(stack).get("meter_2", {}).get("online"), what="the copy online")
    assert {o["point"] for o in call(sock(stack), "modbus_objects") if o["slave"] == "meter_2"} >= {"flow", "alarm"}
    browser.get(stack.base + "/modbus")
    click_confirm_and_load(browser, "delete-slave-meter_2")
    assert not browser.find_elements(By.CSS_SELECTOR, "tr[data-slave='meter_2']")
    assert staging(stack).read_data("modbus/meter_2.json") is None
    apply(stack, browser)
    until(lambda: "meter_2" not in slaves(stack), what="the copy gone")
    assert not (stack.dir / "bacrouter" / "modbus" / "meter_2.json").exists() and "meter" in slaves(stack)


def test_a_slave_with_1000_points_shows_them_all_and_its_editor_saves(stack, browser):
    points = [{"name": f"p{i}", "object_type": "ai", "address_type": "holding", "address": i, "instance": i,
               "description": f"register {i}"} for i in range(1000)]
    (stack.dir / "bacrouter" / "modbus" / "big.json").write_text(json.dumps({"points": points}))
    package = uci.load(stack.dir / "config" / "bacrouter")
    section = package.add("modbus_slave", "big")
    section.options.update({"master": "plant", "station": "7", "enabled": "0"})
    uci.write_atomic(stack.dir / "config" / "bacrouter", uci.dumps(package))
    browser.get(stack.base + "/modbus/slaves/big/points")
    rows = browser.find_elements(By.CSS_SELECTOR, "#points tr[id^='point-']")
    assert len(rows) == 1000 and rows[-1].get_attribute("id") == "point-1000"
    assert not browser.find_elements(By.ID, "pages")
    # the filter box narrows the rows as one types
    type_into(browser, "filter", "register 99")
    until(lambda: len([r for r in browser.find_elements(By.CSS_SELECTOR, "#points tr[id^='point-']")
                       if r.is_displayed()]) == 11, what="the filter")  # 99, 990..999
    browser.get(stack.base + "/modbus/slaves/big/points/1000")
    assert browser.find_element(By.ID, "k.name").get_attribute("value") == "p999"
    type_into(browser, "k.description", "the last one")
    click_and_load(browser, "stage")
    saved = json.loads(staging(stack).read_data("modbus/big.json"))["points"]
    assert len(saved) == 1000 and saved[999]["description"] == "the last one" and saved[:999] == points[:999]
    browser.get(stack.base + "/modbus/slaves/big/points?q=last")
    assert [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#points tr[id^='point-'] td:nth-child(3)")] == ["p999"]
    staging(stack).revert()


def test_modbus_posts_need_the_csrf_token(stack):
    client = Client(stack.port)
    assert client.login() == 303
    origin = {"Origin": stack.base}
    assert client.request("POST", "/modbus/slaves/meter/delete", {}, origin)[0] == 403
    token = client.csrf("/modbus")
    assert client.request("POST", "/modbus/slaves/nobody/copy", {"csrf": token}, origin)[0] == 404
    status, _, text = client.request("POST", "/modbus/slaves/meter/points/1", {"csrf": token, "digest": "stale",
                                                                              "k.name": "x"}, origin)
    assert status == 409 and "changed since this page was loaded" in text
    assert client.request("POST", "/modbus/masters/add", {"csrf": token, "name": "bad name"}, origin)[0] == 400
    assert not staging(stack).active
