"""The Free Client pages (issue 13 item 5): the forms of the export format on their own, then a real daemon,
panel and browser with a Free Client bus whose peer is real: the shipped Modbus RTU script on a socat pty
pair, a pymodbus serial server (unit 3) on the other end.

The bus list shows the bus running; a point's tag edited in the browser and applied reaches the daemon (the
point reads another register); a script with a syntax error is refused with its line and nothing is staged;
a good one is staged and applied; when the peer goes away, that script fails the bus and its last error
shows on the page without a reload; an import of a bus file whose device instance is taken shows the
collision before anything is staged. Pages are photographed at phone and desktop width into docs/panel/.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time

import pytest

from bacrouter.config import uci
from bacrouter.config.model import Problem
from bacrouter.control import call
from bacrouter.freeclient.definition import DEVICE_FORMAT, POINT_FORMAT, SHIPPED_SCRIPTS
from bacrouter.panel.app import Options, Panel
from bacrouter.panel.auth import hash_password
from bacrouter.panel.editors import field_link
from bacrouter.panel.freeclient import apply_format, bus_live, format_fields
from bacrouter.panel.staging import Staging
from bacrouter.paths import Paths

from ..peers.modbus_peer import SlavePeer, serial_server
from . import test_panel
from .modbus_harness import PtyPair
from .test_panel import CHROMEDRIVER, EC, PASSWORD, By, Client, Path, Stack, shoot, wait
from .test_panel_apply import click_and_load, gone

browser = test_panel.browser  # the same headless Chromium fixture (one per module)

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")

DEFINITION = {"name": "plc", "tag": "update_interval=200, timeout=300", "type": 1, "baudrate": 9600,
              "fcdevices": [{"name": "plc", "tag": "unit=3", "instance": 9001, "fcpoints": [
                  {"name": "temp", "object_type": "ai", "instance": 1, "tag": "reg=10", "unit": 62},
                  {"name": "setpoint", "object_type": "av", "instance": 2, "tag": "reg=11"}]}]}
SHIPPED = (SHIPPED_SCRIPTS / "modbus_rtu.lua").read_text()
#: the shipped script, but a device that stops answering fails the bus (its last error says which)
STRICT = SHIPPED.replace("swg.onoff(d, false)", 'error("unit " .. dev.unit .. " gone silent")')


# ----------------------------------------------------------------------------- the forms, without a browser


class Form(dict):
    def getunicode(self, key):
        return self.get(key)


def test_every_key_of_the_format_has_a_field_with_its_doc():
    point = {"name": "p", "object_type": "MV", "value_type": 1, "state_texts": ["off", "on", "auto"], "enable": 0}
    fields = {f["option"]: f for f in format_fields(POINT_FORMAT, point)}
    assert list(fields) == [k.name for k in POINT_FORMAT]
    assert fields["object_type"]["kind"] == "select" and fields["object_type"]["choices"][0] == "MV"  # kept as written
    assert fields["value_type"]["value"] == "1" and fields["state_texts"]["value"] == "off\non\nauto"
    assert fields["enable"]["value"] is False and "script" in fields["tag"]["doc"]
    assert all(f["doc"] for f in fields.values())
    assert "fcpoints" not in {f["option"] for f in format_fields(DEVICE_FORMAT, {})}


def test_a_submitted_form_changes_only_what_it_says():
    point = {"name": "p", "object_type": "ai", "instance": 3, "enable": 1, "vendor_key": "kept"}
    form = Form({"o.name": "p", "o.object_type": "bi", "o.instance": "", "o.enable": None, "o.value_type": "1",
                 "o.state_texts": "off\r\non\r\n", "o.cov_increment": "0.5", "o.unit": "62", "o.tag": " reg=4 "})
    del form["o.enable"]  # an unchecked box is not sent
    assert apply_format(POINT_FORMAT, point, form) == {}
    assert point == {"name": "p", "object_type": "bi", "enable": 0, "value_type": 1, "state_texts": ["off", "on"],
                     "cov_increment": 0.5, "unit": 62, "tag": "reg=4", "vendor_key": "kept"}
    bad = apply_format(POINT_FORMAT, point, Form({"o.name": "", "o.instance": "x", "o.object_type": "zz"}))
    assert set(bad) == {"name", "instance", "object_type"}
    sets = {"onoff": ["off", "on"]}.get
    apply_format(POINT_FORMAT, point, Form({"o.state_texts": "onoff"}), sets)
    assert point["state_texts"] == "onoff"  # the name of a library set stays a name


def test_problems_link_to_their_editor(tmp_path):
    panel = Panel(Options(Paths(tmp_path)))  # its pages register their editors

    def link(message, section="", file="", option=""):
        return field_link(panel.editors, Problem(message, file, 0, section, option))

    bus = "freeclient_bus 'plc'"
    assert link("x", bus, option="frame_ms") == "/freeclient/bus/plc#field-frame_ms"
    assert link("script 'a.lua': a.lua:3: oops", bus) == "/freeclient/bus/plc/script"
    assert link("device 2 'b' point 4 'p' key 'unit': bad", bus, "/etc/bacrouter/freeclient/plc.json") == \
        "/freeclient/bus/plc/device/2/point/4"
    assert link("device 2 'b' key 'instance': bad", bus) == "/freeclient/bus/plc/device/2"
    assert link("conversion script: x", file="/etc/bacrouter/conversions/tenths.lua") == "/freeclient/conversion/tenths"
    assert link("x", "bip 'one'", option="network") == "/config/ports/one#field-network"
    assert link("x", file="/etc/bacrouter/modbus/s.json") is None


def test_the_live_values_of_a_bus():
    snapshot = [{"name": "a", "state": "failed", "reason": "script error: x", "devices": 2, "online": 0,
                 "failures": 3, "last_error": "script error: x", "last_error_ago": 4.0, "next_restart_in": 36.4}]
    live = bus_live(snapshot, ["a", "b"])
    assert live["fc.a.state"] == "failed" and live["fc.a.error"] == "script error: x"
    assert live["fc.a.restart"] == "in 36 s" and live["fc.a.online"] == "0 of 2" and live["fc.a.failures"] == "3"
    assert live["fc.b.state"] == "not running"


# ----------------------------------------------------------------------------- a daemon with a bus and its peer


class Peer:
    """The Modbus RTU slave at the other end of the line: pymodbus in an event loop of its own thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.slave = SlavePeer(3)
        self.slave.set("holding", 10, 215, 42)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self._run(serial_server([self.slave], path, "rtu", baud=9600))

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(15)

    def stop(self) -> None:
        if self.server is not None:
            self._run(self.server.shutdown())
            self.server = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: apt-get install chromium chromium-driver")
    tmp = tmp_path_factory.mktemp("freeclient")
    ptys = PtyPair(tmp)
    peer = Peer(ptys.b)
    stack = Stack(tmp)
    stack.stop_daemon()
    stack.peer = peer
    resources = json.loads((tmp / "bacrouter" / "resource.conf").read_text())
    resources["RS485-1"] = {"type": "USB", "ifname": ptys.a}
    (tmp / "bacrouter" / "resource.conf").write_text(json.dumps(resources))
    (tmp / "bacrouter" / "freeclient").mkdir()
    (tmp / "bacrouter" / "freeclient" / "plc.json").write_text(json.dumps(DEFINITION, indent=2))
    package = uci.load(tmp / "config" / "bacrouter")
    package.section("panel").options["password_hash"] = hash_password(PASSWORD)
    package.add("vbus", "v").options["network"] = "9"
    bus = package.add("freeclient_bus", "plc")
    bus.options.update(resource="RS485-1", script="modbus_rtu.lua")
    uci.write_atomic(tmp / "config" / "bacrouter", uci.dumps(package))
    stack.start_daemon()
    yield stack
    stack.close()
    peer.close()
    ptys.close()


@pytest.fixture(autouse=True)
def no_staged_edits(request):
    if "stack" in request.fixturenames:
        shutil.rmtree(request.getfixturevalue("stack").dir / "run" / "panel-staging", ignore_errors=True)
    yield


def sock(stack):
    return stack.dir / "run" / "control.sock"


def objects(stack) -> dict[str, dict]:
    return {o["point"]: o for o in call(sock(stack), "freeclient_objects")}


def until(what, condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def text_is(element_id, wanted):
    def check(driver):
        found = driver.find_elements(By.ID, element_id)
        return found and wanted in found[0].text
    return check


def staged(stack):
    return Staging(Paths(stack.dir))


def apply_changes(browser, stack):
    browser.get(stack.base + "/changes")
    click_and_load(browser, "apply")
    return wait(browser, EC.presence_of_element_located((By.ID, "apply-result")))


def set_script(browser, text):
    box = wait(browser, EC.presence_of_element_located((By.ID, "script-text")))
    browser.execute_script("arguments[0].value = arguments[1];", box, text)


def test_login(stack, browser):
    browser.get(stack.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "login")
    until("the bus polling", lambda: objects(stack).get("temp", {}).get("value") == 215.0)


def test_the_bus_list_shows_the_state_and_the_test_runs(stack, browser):
    browser.get(stack.base + "/freeclient")
    wait(browser, text_is("state-plc", "running"))
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-bus='plc']")
    assert "RS485-1" in row.text and "modbus_rtu.lua" in row.text and "1 of 1" in row.text
    browser.find_element(By.ID, "test-plc").click()
    result = wait(browser, EC.visibility_of_element_located((By.ID, "test-result-plc")))
    wait(browser, lambda d: "215" in result.text)
    assert "plc|temp" in result.text or "temp" in result.text
    assert "1 of 1 device(s) online" in result.text
    shoot(browser, "freeclient")


def test_a_points_tag_edited_and_applied_reaches_the_daemon(stack, browser):
    browser.get(stack.base + "/freeclient")
    click_and_load(browser, "edit-plc")
    wait(browser, EC.presence_of_element_located((By.ID, "o.resource")))
    shoot(browser, "freeclient-bus")
    click_and_load(browser, "device-1")
    click_and_load(browser, "point-1")
    box = wait(browser, EC.presence_of_element_located((By.ID, "o.tag")))
    assert box.get_attribute("value") == "reg=10"
    assert "Lua table-constructor" in browser.find_element(By.CSS_SELECTOR, "#field-tag .cbi-value-description").text
    box.clear()
    box.send_keys("reg=11")
    shoot(browser, "freeclient-point")
    click_and_load(browser, "stage")
    assert browser.find_element(By.ID, "tag-1").text == "reg=11"
    assert staged(stack).changes() == ["changed file freeclient/plc.json"]
    shoot(browser, "freeclient-device")
    result = apply_changes(browser, stack)
    assert "Applied" in result.text
    stored = json.loads((stack.dir / "bacrouter" / "freeclient" / "plc.json").read_text())
    assert stored["fcdevices"][0]["fcpoints"][0]["tag"] == "reg=11" and stored["baudrate"] == 9600
    until("the point reading register 11", lambda: objects(stack).get("temp", {}).get("value") == 42.0)


def test_a_problem_of_a_point_links_to_its_editor(stack, browser):
    browser.get(stack.base + "/freeclient/bus/plc/device/1")
    browser.find_element(By.ID, "new-point").send_keys("mode")
    browser.find_element(By.CSS_SELECTOR, "#new-point-type option[value='mv']").click()
    click_and_load(browser, "add-point")
    wait(browser, EC.presence_of_element_located((By.ID, "o.state_texts")))
    box = browser.find_element(By.ID, "o.state_texts")
    box.clear()
    click_and_load(browser, "stage")  # a multi-state point without its state texts
    browser.get(stack.base + "/changes")
    click_and_load(browser, "apply")
    link = wait(browser, EC.presence_of_element_located(
        (By.CSS_SELECTOR, "#problems a[href='/freeclient/bus/plc/device/1/point/3']")))
    assert "state texts" in link.find_element(By.XPATH, "..").text
    browser.execute_script("arguments[0].id = 'problem-link';", link)
    click_and_load(browser, "problem-link")
    assert "state texts" in browser.find_element(By.CSS_SELECTOR, ".section-problem").text
    assert "mode" not in (stack.dir / "bacrouter" / "freeclient" / "plc.json").read_text()


def test_a_script_with_a_syntax_error_is_refused_with_its_line(stack, browser):
    browser.get(stack.base + "/freeclient/bus/plc")
    click_and_load(browser, "edit-script")
    assert "crc16" in browser.find_element(By.ID, "script-text").get_attribute("value")
    lines = SHIPPED.splitlines()
    lines[11] = "local broken = = 1"
    set_script(browser, "\n".join(lines))
    click_and_load(browser, "save-script")
    problem = wait(browser, EC.presence_of_element_located((By.ID, "script-problem")))
    assert "line 12" in problem.text and "unexpected symbol" in problem.text
    assert "local broken = = 1" in browser.find_element(By.ID, "script-text").get_attribute("value")  # kept to fix
    assert not staged(stack).active and not (stack.dir / "run" / "panel-staging").exists()
    shoot(browser, "freeclient-script-error")


def test_a_good_script_is_staged_and_applied(stack, browser):
    browser.get(stack.base + "/freeclient/bus/plc/script")
    set_script(browser, STRICT)
    click_and_load(browser, "save-script")
    wait(browser, EC.presence_of_element_located((By.ID, "script-notice")))
    assert staged(stack).changes() == ["added file freeclient/modbus_rtu.lua"]
    assert staged(stack).read_data("freeclient/modbus_rtu.lua").decode() == STRICT
    shoot(browser, "freeclient-script")
    result = apply_changes(browser, stack)
    assert "fc" in result.text.lower() or "plc" in result.text
    assert (stack.dir / "bacrouter" / "freeclient" / "modbus_rtu.lua").read_text() == STRICT
    until("the bus running again", lambda: call(sock(stack), "freeclient")[0]["state"] == "running")


def test_the_last_error_shows_live_when_the_peer_is_gone(stack, browser):
    browser.get(stack.base + "/freeclient")
    wait(browser, text_is("state-plc", "running"))
    assert browser.find_element(By.ID, "error-plc").text == "-"
    page = browser.find_element(By.TAG_NAME, "html")
    stack.peer.stop()
    wait(browser, text_is("error-plc", "unit 3 gone silent"), timeout=30)
    assert browser.find_element(By.ID, "state-plc").text == "failed"
    assert not gone(page)(browser)  # the same page: refreshed, not reloaded
    shoot(browser, "freeclient-failed")


def test_an_import_with_a_collision_shows_the_report_before_it_is_staged(stack, browser, tmp_path):
    other = json.loads(json.dumps(DEFINITION))
    other.update(name="boilers", resource="RS485-1", script={"boilers.lua": STRICT})
    other["fcdevices"][0]["name"] = "boiler"  # its device instance 9001 is plc's
    source = tmp_path / "boilers.json"
    source.write_text(json.dumps(other))
    browser.get(stack.base + "/freeclient")
    browser.find_element(By.ID, "import-file").send_keys(str(source))
    click_and_load(browser, "import-button")
    collisions = wait(browser, EC.presence_of_element_located((By.ID, "import-collisions")))
    assert "boilers/boiler" in collisions.text and "9001" in collisions.text
    assert not staged(stack).active
    shoot(browser, "freeclient-import")
    click_and_load(browser, "stage-import")
    wait(browser, EC.presence_of_element_located((By.ID, "freeclient-bus-page")))
    assert sorted(staged(stack).changes()) == ["added file freeclient/boilers.json", "added freeclient_bus 'boilers'"]
    definition = json.loads(staged(stack).read_data("freeclient/boilers.json"))
    assert definition["fcdevices"][0]["enable"] is False and "boilers.lua" in definition["script"]
    staged(stack).revert()


def test_buses_devices_and_points_are_added_copied_and_deleted(stack):
    client = Client(stack.port)
    assert client.login() == 303
    origin = {"Origin": stack.base}

    def post(path, **form):
        token = client.csrf("/freeclient")
        return client.request("POST", path, dict(form, csrf=token), origin)

    assert post("/freeclient/add", name="tcpbus", kind="tcp", server="127.0.0.1:1502", script="")[0] == 303
    assert post("/freeclient/add", name="tcpbus", kind="tcp", server="x:1")[0] == 400  # the name is taken
    assert post("/freeclient/bus/tcpbus/devices/add", device="meter")[0] == 303
    assert post("/freeclient/bus/tcpbus/device/1/points/add", point="energy", object_type="ai")[0] == 303
    assert post("/freeclient/bus/tcpbus/device/1/point/1/copy")[0] == 303
    assert post("/freeclient/bus/tcpbus/device/1/copy")[0] == 303
    assert post("/freeclient/bus/tcpbus/device/1/point/1/delete")[0] == 303
    assert post("/freeclient/bus/tcpbus/copy", new="tcpbus2")[0] == 303
    definition = json.loads(staged(stack).read_data("freeclient/tcpbus.json"))
    assert [d["name"] for d in definition["fcdevices"]] == ["meter", "meter_2"]
    assert [p["name"] for p in definition["fcdevices"][0]["fcpoints"]] == ["energy_2"]
    assert [(p["name"], p["instance"]) for p in definition["fcdevices"][1]["fcpoints"]] == [("energy", 1),
                                                                                          ("energy_2", 2)]
    package = staged(stack).package()
    assert package.section("tcpbus").options == {"server": "127.0.0.1:1502"}
    assert package.section("tcpbus2").options["enabled"] == "0"
    assert post("/freeclient/bus/tcpbus2/delete")[0] == 303
    assert sorted(staged(stack).changes()) == ["added file freeclient/tcpbus.json", "added freeclient_bus 'tcpbus'"]
    assert post("/freeclient/bus/nonesuch/devices/add", device="x")[0] == 404
    assert post("/freeclient/bus/tcpbus/device/7/point/1/delete")[0] == 404
    # the bus section's form (the schema's), and a script for a bus that has none yet
    assert post("/freeclient/bus/tcpbus", **{"o.frame_ms": "50", "o.enabled": "1"})[0] == 303
    assert staged(stack).package().section("tcpbus").options["frame_ms"] == "50"
    status, _, page = post("/freeclient/bus/tcpbus/script", file="mine.lua", text="return swg.interface_tcp, "
                                                                                   "function(ctx) end\n")
    assert status == 200 and "the change is staged" in page
    assert staged(stack).package().section("tcpbus").options["script"] == "mine.lua"
    assert staged(stack).read_data("freeclient/mine.lua").startswith(b"return swg.interface_tcp")
    assert post("/freeclient/bus/tcpbus/script", text="x" * 300_000)[0] == 400  # too large: refused
    staged(stack).revert()
    # export: the bus file with the section's settings and the script inline
    status, headers, body = client.request("GET", "/freeclient/bus/plc/export")
    exported = json.loads(body)
    assert status == 200 and 'filename="plc.json"' in headers["content-disposition"]
    assert exported["resource"] == "RS485-1" and "crc16" in exported["script"]["modbus_rtu.lua"]
    assert exported["fcdevices"][0]["fcpoints"][0]["tag"] == "reg=11"
    # a bus whose definition lies outside the data directory is listed, but not edited
    package = staged(stack).package()
    package.add("freeclient_bus", "far").options.update(definition="/nonexistent/far.json", server="h:1")
    staged(stack).save(package)
    status, _, page = client.request("GET", "/freeclient")
    assert status == 200 and "outside the data directory" in page
    assert post("/freeclient/bus/far/devices/add", device="x")[0] == 409
    staged(stack).revert()


def test_conversion_scripts_are_checked_before_they_are_staged(stack, browser):
    browser.get(stack.base + "/freeclient")
    browser.find_element(By.ID, "new-conversion").send_keys("tenths")
    click_and_load(browser, "add-conversion")
    set_script(browser, "return {\n  registers = 1,\n  decode = function(regs) return regs[1] / 10, true\n}\n")
    click_and_load(browser, "save-script")
    assert "line 4" in wait(browser, EC.presence_of_element_located((By.ID, "script-problem"))).text
    assert not staged(stack).active
    good = "return {\n  registers = 1,\n  decode = function(regs) return regs[1] / 10, true end,\n}\n"
    set_script(browser, good)
    click_and_load(browser, "save-script")
    wait(browser, EC.presence_of_element_located((By.ID, "script-notice")))
    assert staged(stack).changes() == ["added file conversions/tenths.lua"]
    shoot(browser, "freeclient-conversion")
    assert "Applied" in apply_changes(browser, stack).text
    assert (stack.dir / "bacrouter" / "conversions" / "tenths.lua").read_text() == good
    browser.get(stack.base + "/freeclient")
    assert "(yours)" in browser.find_element(By.ID, "conversions").text
    staged(stack).revert()
