"""The port editors of every kind and the BACnet/IP runtime views, with real peers (issue 13 item 3).

    panel ── router A: bip 'one' (network 1, becomes a BBMD), bip 'two' (network 2),
                       mstp 'field' (added here, on a socat pty pair; an MS/TP device on the other end)
             router B (a second bacrouter): bip 'f' (network 1, foreign device registered with A's 'one'),
                       bip 'far' (network 30)

The browser adds the MS/TP port (a max_master out of range is shown at its field first), applies it and sees
it up in /ports; edits 'one' into a BBMD with the BDT editor (a bad entry is shown at its row) and applies it;
sees B in the live foreign device table; A forgets network 30 (an Initialize-Routing-Table from the test) and
the routes page's "Who is router" finds it again through B without a reload. B's own panel shows its
registration. A plain HTTP client adds Ethernet and VBUS ports, gets a used network shown at both fields, and
calls the JSON endpoint with and without its CSRF token. Screenshots go to docs/panel/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.support.ui import Select

from bacrouter.config import uci
from bacrouter.control import call
from bacrouter.net import bvll
from bacrouter.net.bvll import Function
from bacrouter.net.npdu import NetMsg, Npdu, RoutingEntry, encode, encode_routing_table
from bacrouter.panel.staging import Staging
from bacrouter.paths import Paths

from . import test_panel
from .test_panel import CHROMEDRIVER, EC, PASSWORD, ROOT, By, Client, Stack, free_port, preset_password, shoot, wait
from .test_panel_apply import click_and_load

browser = test_panel.browser  # the same headless Chromium fixture (one per module)

pytestmark = pytest.mark.skipif(shutil.which("socat") is None and not os.environ.get("BACROUTER_REQUIRE_ALL"),
                                reason="needs socat")

MSTP_DEVICE = 5077


class PtyPair:
    """Two ptys joined by socat: an RS485 line in a box."""

    def __init__(self, directory: Path) -> None:
        self.a, self.b = str(directory / "tty-a"), str(directory / "tty-b")
        self.proc = subprocess.Popen(["socat", "-d", "-d", f"pty,raw,echo=0,link={self.a}",
                                      f"pty,raw,echo=0,link={self.b}"], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.a) and os.path.exists(self.b)):
            assert time.monotonic() < deadline, "socat made no ptys"
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class SecondRouter(Stack):
    """Router B: another bacrouter (and its panel) whose port 'f' is a foreign device of A's BBMD."""

    def __init__(self, tmp: Path, bbmd_port: int) -> None:
        self.dir, self.port = tmp, free_port()
        self.base = f"http://localhost:{self.port}"  # another host name: the browser keeps its cookie apart
        (tmp / "config").mkdir()
        (tmp / "bacrouter").mkdir()
        (tmp / "bacrouter" / "resource.conf").write_text(json.dumps({"loop": {"type": "ETH", "ifname": "lo"}}))
        self.udp = free_port(socket.SOCK_DGRAM)
        (tmp / "config" / "bacrouter").write_text(
            "config bacrouter 'main'\n\toption device_instance '4200'\n\toption device_name 'Router B'\n\n"
            f"config bip 'f'\n\toption resource 'loop'\n\toption network '1'\n\toption udp_port '{self.udp}'\n"
            f"\toption mode 'foreign'\n\toption bbmd '127.0.0.1:{bbmd_port}'\n\toption ttl '60'\n\n"
            f"config bip 'far'\n\toption resource 'loop'\n\toption network '30'\n"
            f"\toption udp_port '{free_port(socket.SOCK_DGRAM)}'\n\n"
            "config panel 'panel'\n\toption listen '127.0.0.1'\n\toption username 'admin'\n")
        preset_password(tmp / "config" / "bacrouter")
        self.env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.daemon, self.panels = None, []
        self.start_daemon()
        self.panel = self.start_panel(self.port)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: apt-get install chromium chromium-driver")
    tmp = tmp_path_factory.mktemp("ports")
    stack = Stack(tmp)
    ptys = PtyPair(tmp)
    stack.ptys, stack.peers, stack.second = ptys, [], None
    # an RS485 line on the pty, another that is not plugged in, and the loopback interface
    (tmp / "bacrouter" / "resource.conf").write_text(json.dumps({
        "loop": {"type": "ETH", "ifname": "lo"}, "RS485-1": {"type": "USB", "ifname": ptys.a},
        "RS485-2": {"type": "USB", "ifname": str(tmp / "tty-unplugged")}}))
    preset_password(tmp / "config" / "bacrouter")
    config = (tmp / "config" / "bacrouter").read_text()
    stack.udp = {name: int(port) for name, port in
                 re.findall(r"config bip '(\w+)'\n(?:\t.*\n)*?\toption udp_port '(\d+)'", config)}
    try:
        yield stack
    finally:
        for peer in stack.peers:
            peer.kill()
            peer.wait(5)
        if stack.second is not None:
            stack.second.close()
        stack.close()
        ptys.close()


def control(stack, method: str, params: dict | None = None):
    return call(stack.dir / "run" / "control.sock", method, params)


def port_of(stack, name: str) -> dict:
    return {p["name"]: p for p in control(stack, "ports")}.get(name, {})


def until(condition, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def admin(stack) -> Client:
    client = Client(stack.port)
    assert client.login() == 303
    return client


def post(stack, client: Client, path: str, form: dict, token_page: str = "/config/ports"):
    return client.request("POST", path, {"csrf": client.csrf(token_page), **form}, {"Origin": stack.base})


def field_html(page: str, option: str) -> str:
    """The markup of one field of an editor page (its div, up to the next field's)."""
    start = page.rindex('<div class="cbi-value', 0, page.index(f'id="field-{option}"'))
    end = page.find('id="field-', page.index(f'id="field-{option}"') + 1)
    return page[start:end if end >= 0 else len(page)]


def apply_in_browser(stack, browser) -> str:
    browser.get(stack.base + "/changes")
    click_and_load(browser, "apply")
    return wait(browser, EC.presence_of_element_located((By.ID, "apply-result"))).text


# ----------------------------------------------------------------------------- the browser


def test_login(stack, browser):
    browser.get(stack.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "login")
    wait(browser, EC.presence_of_element_located((By.ID, "dashboard")))


def test_an_mstp_port_is_added_refused_at_its_field_then_applied_and_runs(stack, browser):
    browser.get(stack.base + "/config/ports")
    kinds = Select(browser.find_element(By.ID, "new-type"))
    assert [o.get_attribute("value") for o in kinds.options] == ["bip", "mstp", "ethernet", "vbus"]
    kinds.select_by_value("mstp")
    browser.find_element(By.ID, "new-name").send_keys("field")
    shoot(browser, "port-add")
    click_and_load(browser, "add")
    # the resource: resource.conf's USB lines only, the unused one chosen
    resource = Select(wait(browser, EC.presence_of_element_located((By.ID, "o.resource"))))
    assert [o.get_attribute("value") for o in resource.options] == ["RS485-1", "RS485-2"]
    assert resource.first_selected_option.get_attribute("value") == "RS485-1"
    assert "highest master MAC polled" in browser.find_element(By.ID, "field-max_master").text
    assert [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "o.baud")).options][1:] == \
        ["9600", "19200", "38400", "57600", "76800", "115200"]
    # a max_master the loader refuses (the browser's own bound taken away): shown at the field, red
    mac = browser.find_element(By.ID, "o.mac")
    mac.clear()
    mac.send_keys("1")
    box = browser.find_element(By.ID, "o.max_master")
    browser.execute_script("arguments[0].removeAttribute('max')", box)
    box.clear()
    box.send_keys("200")
    click_and_load(browser, "stage")
    problem = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#field-max_master .field-problem")))
    assert "200 is out of range 1..127" in problem.text
    assert "has-error" in browser.find_element(By.ID, "field-max_master").get_attribute("class")
    assert not browser.find_elements(By.CSS_SELECTOR, "#field-mac .field-problem")
    shoot(browser, "port-edit-mstp-error")
    box = browser.find_element(By.ID, "o.max_master")
    box.clear()
    box.send_keys("10")
    click_and_load(browser, "stage")
    wait(browser, EC.presence_of_element_located((By.ID, "o.max_master")))
    assert not browser.find_elements(By.CSS_SELECTOR, ".field-problem.error")
    shoot(browser, "port-edit-mstp")
    # an MS/TP device at the other end of the line, then Save & Apply
    ready = stack.dir / "mstp-device-ready"
    stack.peers.append(subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "peers" / "mstp_device.py"), "--tty", stack.ptys.b, "--mac", "5",
         "--instance", str(MSTP_DEVICE), "--ready", str(ready)], env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stderr=subprocess.DEVNULL))
    until(ready.exists, "the MS/TP device")
    assert "Applied" in apply_in_browser(stack, browser)
    assert "mstp 'field'" in browser.find_element(By.ID, "summary-started").text
    until(lambda: port_of(stack, "field").get("state") == "up", "the MS/TP port to come up")
    browser.get(stack.base + "/ports")
    assert wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, '[data-live="port.field.state"]'))).text \
        == "up"
    # the line runs: the device passes the token back (seen live, without a reload)
    wait(browser, lambda d: "5" in [c.text for c in d.find_elements(
        By.CSS_SELECTOR, 'table[data-devices="field"] td[data-title="MAC"]')], 20)


def test_an_mstp_capture_downloaded_from_the_browser_opens_in_tshark(stack, browser):
    """Capture start / stop on the Ports page: the browser downloads a pcap that Wireshark's tshark decodes."""
    until(lambda: port_of(stack, "field").get("state") == "up", "the MS/TP port (the test before adds it)")
    downloads = stack.dir / "downloads"
    downloads.mkdir(exist_ok=True)
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.get(stack.base + "/ports")
    start = wait(browser, EC.element_to_be_clickable((By.CSS_SELECTOR, 'button[data-capture="start"][data-port="field"]')))
    start.click()
    # frames come in: the line's token passes between the router and the device at MAC 5
    wait(browser, lambda d: re.search(r"capturing: [1-9][0-9]* frame", d.find_element(
        By.CSS_SELECTOR, '[data-live="mstp.field.capture"]').text), 20)
    browser.find_element(By.CSS_SELECTOR, 'button[data-capture="stop"][data-port="field"]').click()
    until(lambda: [f for f in downloads.glob("*.pcap")], "the pcap download")
    pcap = next(downloads.glob("*.pcap"))
    until(lambda: pcap.stat().st_size > 24 and not list(downloads.glob("*.crdownload")), "the download to finish")
    tshark = shutil.which("tshark")
    assert tshark, "tshark is missing: apt-get install tshark"
    out = subprocess.run([tshark, "-r", str(pcap), "-T", "fields", "-e", "mstp.frame_type", "-e", "mstp.src"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines() if line.strip()]
    assert rows, f"tshark decoded no MS/TP frame: {out.stderr}"
    assert {"5"} <= {src for _, src in rows}, rows[:10]  # the device's frames, decoded as MS/TP by Wireshark
    assert "0" in {kind for kind, _ in rows}  # Token frames


def test_the_bdt_editor_shows_a_bad_entry_at_its_row_and_applies_the_table(stack, browser):
    browser.get(stack.base + "/config/ports/one")
    mode = Select(wait(browser, EC.presence_of_element_located((By.ID, "o.mode"))))
    # normal mode: neither the BBMD's nor the foreign device's options are in the way
    assert not browser.find_element(By.ID, "field-bdt").is_displayed()
    assert not browser.find_element(By.ID, "field-bbmd").is_displayed()
    mode.select_by_value("bbmd")
    assert browser.find_element(By.ID, "field-bdt").is_displayed()
    assert browser.find_element(By.ID, "field-fdt_size").is_displayed()
    assert not browser.find_element(By.ID, "field-ttl").is_displayed()
    rows = lambda: browser.find_elements(By.CSS_SELECTOR, "#field-bdt .list-row input")  # noqa: E731
    own, nobody = f"127.0.0.1:{stack.udp['one']}", f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}/255.255.255.255"
    rows()[0].send_keys(own)
    add = browser.find_element(By.CSS_SELECTOR, '[data-add-row="bdt"]')
    add.click()
    rows()[1].send_keys("10.0.0.300")
    add.click()
    rows()[2].send_keys("not an address")
    # the browser checks an entry as it is typed ...
    assert browser.execute_script("return arguments[0].checkValidity()", rows()[2]) is False
    assert browser.execute_script("return arguments[0].checkValidity()", rows()[1]) is True
    browser.find_elements(By.CSS_SELECTOR, "#field-bdt [data-remove-row]")[2].click()
    assert len(rows()) == 2
    # ... and the loader decides: the bad entry's problem at its row
    click_and_load(browser, "stage")
    bad = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#field-bdt .list-row.has-error")))
    assert bad.find_element(By.TAG_NAME, "input").get_attribute("value") == "10.0.0.300"
    assert "is not an IPv4 address" in bad.find_element(By.CSS_SELECTOR, ".field-problem").text
    good = browser.find_elements(By.CSS_SELECTOR, "#field-bdt .list-row")[0]
    assert "has-error" not in good.get_attribute("class") and not good.find_elements(By.CSS_SELECTOR, ".field-problem")
    assert Select(browser.find_element(By.ID, "o.mode")).first_selected_option.get_attribute("value") == "bbmd"
    shoot(browser, "port-edit-bbmd-error")
    bad.find_element(By.TAG_NAME, "input").clear()
    bad.find_element(By.TAG_NAME, "input").send_keys(nobody)
    click_and_load(browser, "stage")
    wait(browser, EC.presence_of_element_located((By.ID, "field-bdt")))
    assert not browser.find_elements(By.CSS_SELECTOR, ".field-problem.error")
    assert [i.get_attribute("value") for i in rows()] == [own, nobody, ""]  # a blank row for the next entry
    shoot(browser, "port-edit-bbmd")
    assert uci.load(Staging(Paths(stack.dir)).file).section("one").options["bdt"] == [own, nobody]
    assert "bip 'one'" in apply_in_browser(stack, browser)
    link = until(lambda: port_of(stack, "one").get("link", {}).get("bdt") and port_of(stack, "one")["link"],
                 "the BBMD to run")
    assert link["mode"] == "bbmd" and link["bdt"] == [f"{own}/255.255.255.255", nobody] and link["fdt"] == []


def test_the_fdt_shows_a_foreign_device_live_and_the_foreign_device_its_registration(stack, browser,
                                                                                      tmp_path_factory):
    browser.get(stack.base + "/ports")
    table = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, 'table[data-fdt="one"]')))
    assert "No foreign device is registered" in table.text
    browser.execute_script("window.__same_page = true")
    stack.second = SecondRouter(tmp_path_factory.mktemp("second"), stack.udp["one"])
    address = f"127.0.0.1:{stack.second.udp}"
    # the table refreshes itself: B appears with its time-to-live and the time left
    row = wait(browser, lambda d: next((r for r in d.find_elements(By.CSS_SELECTOR, 'table[data-fdt="one"] .tr')
                                        if address in r.text), None), 20)
    ttl = row.find_element(By.CSS_SELECTOR, 'td[data-title="TTL"]').text
    left = int(row.find_element(By.CSS_SELECTOR, 'td[data-title="Time left"]').text.split()[0])
    assert ttl == "60 s" and 0 < left <= 90
    assert browser.execute_script("return window.__same_page") is True
    assert browser.find_element(By.CSS_SELECTOR, '[data-live="bip.one.fdt"]').text.startswith("1 of at most 64")
    browser.refresh()
    shoot(browser, "ports-bbmd")
    # B, as its own panel shows it: registered with A, how long A keeps it, when it renews
    second = stack.second
    registration = until(lambda: call(second.dir / "run" / "control.sock", "ports")[0]["link"]["registration"],
                         "B's registration")
    assert registration["state"] == "registered" and registration["bbmd"] == f"127.0.0.1:{stack.udp['one']}"
    browser.get(second.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "login")
    browser.get(second.base + "/ports")
    state = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, '[data-live="bip.f.registration"]')))
    assert state.text == "registered"
    assert re.fullmatch(r"\d+ s", browser.find_element(By.CSS_SELECTOR, '[data-live="bip.f.expires"]').text)
    assert browser.find_element(By.CSS_SELECTOR, '[data-live="bip.f.next"]').text.startswith("renewal in")
    shoot(browser, "ports-foreign")


def test_who_is_router_finds_a_forgotten_network_without_a_reload(stack, browser):
    until(lambda: any(r["network"] == 30 for r in control(stack, "routes")), "network 30 learned from B")
    # A forgets network 30: an Initialize-Routing-Table purging it, sent to the BBMD port like any station would
    npdu = encode(Npdu(message_type=NetMsg.INITIALIZE_ROUTING_TABLE,
                       payload=encode_routing_table([RoutingEntry(30, 0)])))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(bvll.pack(Function.ORIGINAL_UNICAST_NPDU, npdu), ("127.0.0.1", stack.udp["one"]))
    until(lambda: not any(r["network"] == 30 for r in control(stack, "routes")), "network 30 to be forgotten")
    browser.get(stack.base + "/routes")
    assert not re.search(r"^30 ", browser.find_element(By.ID, "route-table").text, re.M)
    browser.execute_script("window.__same_page = true")
    browser.find_element(By.ID, "who-is-router").click()
    result = wait(browser, lambda d: d.find_element(By.ID, "who-is-router-result").text.startswith("Asked")
                  and d.find_element(By.ID, "who-is-router-result"), 20)
    assert "1 new network(s): 30" in result.text and "one" in result.text
    table = browser.find_element(By.ID, "route-table").text
    assert re.search(rf"^30 one 127\.0\.0\.1:{stack.second.udp} available$", table, re.M), table
    assert browser.find_element(By.CSS_SELECTOR, "#route-table .tr.new").text.startswith("30")
    assert browser.execute_script("return window.__same_page") is True
    shoot(browser, "routes-who-is-router")


# ----------------------------------------------------------------------------- a plain client


def test_who_is_router_needs_the_token_and_works_without_javascript(stack):
    client = admin(stack)
    token = client.csrf("/routes")
    body, headers = json.dumps({}), {"Content-Type": "application/json", "Origin": stack.base}
    assert client.request("POST", "/api/who-is-router", body, headers)[0] == 403
    assert client.request("POST", "/api/who-is-router", body, {**headers, "Origin": "http://evil.example",
                                                               "X-CSRF-Token": token})[0] == 403
    status, _, text = client.request("POST", "/api/who-is-router", json.dumps({"network": "70000"}),
                                     {**headers, "X-CSRF-Token": token})
    assert status == 400 and "network is a number 1..65534" in json.loads(text)["error"]
    status, _, text = client.request("POST", "/api/who-is-router", body, {**headers, "X-CSRF-Token": token})
    answer = json.loads(text)
    assert status == 200 and {"one", "two", "field"} <= set(answer["asked"])
    assert {"network": 30, "port": "one", "next_hop": f"127.0.0.1:{stack.second.udp}", "status": "available"} \
        in answer["routes"]
    # the form without JavaScript: the routes page comes back with the result
    status, _, text = post(stack, client, "/routes/who-is-router", {"offset": "0", "limit": "100"}, "/routes")
    assert status == 200 and "Asked who is router on" in text and 'id="route-table"' in text


def test_a_used_network_is_shown_at_the_mstp_field_and_at_the_other_port(stack):
    client = admin(stack)
    form = {"o.enabled": "1", "o.extended_frames": "1", "o.network": "1", "o.resource": "RS485-1"}
    assert post(stack, client, "/config/ports/field", form)[0] == 303
    _, _, page = client.request("GET", "/config/ports/field")
    network = field_html(page, "network")
    assert "has-error" in network and "network number 1 is already used by bip &#039;one&#039;" in network
    _, _, page = client.request("GET", "/config/ports/one")
    assert "already used by bip &#039;one&#039;" in field_html(page, "network")  # the other side of the clash
    assert post(stack, client, "/changes/revert", {})[0] == 303


def test_ethernet_and_vbus_ports_are_edited_like_the_others(stack):
    client = admin(stack)
    assert post(stack, client, "/config/ports/add", {"type": "ethernet", "name": "raw"})[0] == 303
    _, _, page = client.request("GET", "/config/ports/raw")
    resource = field_html(page, "resource")
    # ETH resources only, each with its interface and who uses it; the help from the schema
    assert re.findall(r'<option value="([^"]*)"', resource) == ["loop"]
    assert "loop (lo; used by bip &#039;one&#039;, bip &#039;two&#039;)" in resource
    assert "ETH resource from resource.conf" in resource
    assert post(stack, client, "/config/ports/add", {"type": "vbus", "name": "virtual"})[0] == 303
    _, _, page = client.request("GET", "/config/ports/virtual")
    assert re.findall(r'id="field-(\w+)"', page) == ["enabled", "network"]
    # a VBUS without its network: the loader's "missing required option" at the network field
    assert post(stack, client, "/config/ports/virtual", {"o.enabled": "1", "o.network": ""})[0] == 303
    _, _, page = client.request("GET", "/config/ports/virtual")
    assert "missing required option &#039;network&#039;" in field_html(page, "network")
    assert Staging(Paths(stack.dir)).changes() == ["added ethernet 'raw'", "added vbus 'virtual'"]
    _, _, page = client.request("GET", "/config/ports")
    assert "BACnet Ethernet (802.2)" in page and "Virtual network (VBUS)" in page
    assert post(stack, client, "/config/ports/raw/delete", {})[0] == 303
    assert post(stack, client, "/config/ports/nope/delete", {})[0] == 404
    assert post(stack, client, "/config/ports/add", {"type": "tunnel", "name": "x"})[0] == 400
    assert Staging(Paths(stack.dir)).changes() == ["added vbus 'virtual'"]
    assert post(stack, client, "/changes/revert", {})[0] == 303
