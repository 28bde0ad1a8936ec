"""The panel's Discovery page in a real browser: Who-Is as a job with a moving progress bar finds a bacpypes3
device on another network behind the router, and a property of it is read and written in place.

The device (tests/peers/bp3peer.py) registers as a foreign device with the router's port 'two' (a BBMD on lo),
so it sits on network 2 without network namespaces; the router's own device does the asking.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from bacrouter.config import uci
from bacrouter.control import call
from bacrouter.panel.auth import hash_password

from .test_panel import PASSWORD, ROOT, Stack, browser, free_port, shoot, wait  # noqa: F401 - browser is a fixture
from .test_panel_apply import click_and_load
from .test_panel_attacks import Client

PEER_INSTANCE = 2002


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("discovery")
    stack = Stack(tmp)
    device = None
    try:
        package = uci.load(tmp / "config" / "bacrouter")
        package.section("panel").options["password_hash"] = hash_password(PASSWORD)
        two = package.section("two")
        two.options["mode"] = "bbmd"  # the peer registers with it as a foreign device: network 2 on lo
        uci.write_atomic(tmp / "config" / "bacrouter", uci.dumps(package))
        assert call(tmp / "run" / "control.sock", "reload")["ok"]
        ready = tmp / "peer-ready"
        device = subprocess.Popen([sys.executable, str(ROOT / "tests" / "peers" / "bp3peer.py"), "device",
                                   "--address", f"127.0.0.1/8:{free_port(socket.SOCK_DGRAM)}",
                                   "--instance", str(PEER_INSTANCE), "--foreign",
                                   f"127.0.0.1:{two.get('udp_port')}", "--ready", str(ready)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert device.poll() is None and time.monotonic() < deadline, "the bacpypes3 device did not start"
            time.sleep(0.1)
        stack.device = device
        yield stack
    finally:
        if device is not None:
            device.kill()
            device.wait()
        stack.close()


def test_login(stack, browser):  # noqa: F811 - the fixture imported above
    browser.get(stack.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "login")
    assert browser.find_element(By.LINK_TEXT, "Discovery").get_attribute("href").endswith("/discovery")


def test_who_is_on_another_network_finds_the_device_with_a_moving_progress_bar(stack, browser):  # noqa: F811
    browser.get(stack.base + "/discovery")
    choices = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "whois-network")).options]
    assert choices == ["", "1", "2"]  # all, then the routing table's networks
    Select(browser.find_element(By.ID, "whois-network")).select_by_value("2")
    browser.find_element(By.ID, "whois-wait").clear()
    browser.find_element(By.ID, "whois-wait").send_keys("3")
    browser.find_element(By.ID, "whois-start").click()
    values = set()
    deadline = time.monotonic() + 20
    while not browser.find_elements(By.CSS_SELECTOR, "#device-table tr[data-instance]"):
        assert time.monotonic() < deadline, browser.find_element(By.ID, "whois-job").text
        value = browser.execute_script("var b = document.querySelector('#whois-job progress');"
                                       "return b.hasAttribute('value') ? b.value / b.max : null")
        if value is not None:
            values.add(round(value, 2))
        time.sleep(0.1)
    assert len({v for v in values if 0 < v < 1}) >= 2, f"the bar did not move: {values}"
    rows = browser.find_elements(By.CSS_SELECTOR, "#device-table tr[data-instance]")
    assert [r.get_attribute("data-instance") for r in rows] == [str(PEER_INSTANCE)]
    cells = [c.text for c in rows[0].find_elements(By.CSS_SELECTOR, "td")]
    assert cells[:2] == [str(PEER_INSTANCE), "2"] and cells[4] == f"peer-{PEER_INSTANCE}"
    # its MAC as people write a BACnet/IP address (bacpypes3's hex in the title)
    assert re.fullmatch(r"127\.0\.0\.1:[0-9]+", cells[2]), cells[2]
    assert rows[0].find_elements(By.CSS_SELECTOR, "td")[2].get_attribute("title").startswith("0x7f000001")


def io(driver, action: str, **fields: str) -> str:
    row = driver.find_element(By.ID, f"io-{PEER_INSTANCE}")
    for name, value in fields.items():
        element = row.find_element(By.CSS_SELECTOR, f".io-{name}")
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)
    result = row.find_elements(By.CSS_SELECTOR, ".io-result")[0 if action == "read" else 1]
    row.find_element(By.CSS_SELECTOR, f".io-{action}").click()
    wait(driver, lambda d: "ok" in result.get_attribute("class") or "failed" in result.get_attribute("class"), 25)
    return ("ok " if "ok" in result.get_attribute("class").split() else "failed ") + result.text


def test_read_and_write_a_property_in_place(stack, browser):  # noqa: F811
    browser.find_element(By.ID, f"io-toggle-{PEER_INSTANCE}").click()
    assert io(browser, "read") == f"ok peer-{PEER_INSTANCE}"  # object-name of the device, the defaults
    assert io(browser, "read", object="analog-value,1", property="present-value") == "ok 21.5"
    assert io(browser, "write", value="42.5", priority="8") == "ok written"
    assert io(browser, "read") == "ok 42.5"
    failed = io(browser, "read", object="analog-value,9", property="present-value")
    assert failed.startswith("failed") and "unknown-object" in failed.replace("_", "-").lower()
    io(browser, "read", object="device,2002", property="object-name")
    shoot(browser, "discovery")


def api(client: Client, path: str, body, token):
    headers = {"Origin": client.origin, "Content-Type": "application/json"}
    if token:
        headers["X-CSRF-Token"] = token
    status, _, text = client.request("POST", path, json.dumps(body), headers)
    return status, json.loads(text)


def test_the_endpoints_check_what_they_get(stack):
    client = Client(stack.port)
    assert client.login()[0] in (302, 303)
    _, _, page = client.request("GET", "/discovery")
    token = re.search(r'name="csrf" content="([^"]+)"', page).group(1)
    read = {"device": PEER_INSTANCE, "object": "device,2002", "property": "object-name"}
    assert api(client, "/api/discovery/read", read, None)[0] == 403  # no CSRF token
    status, answer = api(client, "/api/discovery/read", read, token)
    assert status == 200 and answer["value"] == f"peer-{PEER_INSTANCE}" and answer["address"].startswith("2:")
    status, answer = api(client, "/api/discovery/read", {"device": PEER_INSTANCE, "object": ""}, token)
    assert status == 400 and "object is missing" in answer["error"]
    status, answer = api(client, "/api/discovery/write", {**read, "value": [1], "priority": 3}, token)
    assert status == 400 and "value is" in answer["error"]
    status, answer = api(client, "/api/discovery/write", {**read, "value": "x", "priority": 17}, token)
    assert status == 400 and "priority" in answer["error"]
    status, answer = api(client, "/api/discovery/read", {**read, "property": "no-such-property"}, token)
    assert status == 409 and "no-such-property" in answer["error"], answer  # the daemon (bacpypes3) refuses it
    # a Who-Is job takes only its own parameters from a browser
    status, answer = api(client, "/api/jobs", {"method": "discover", "params": {"wait": 1, "path": "/etc"}}, token)
    assert status == 403 and "path" in answer["error"]
