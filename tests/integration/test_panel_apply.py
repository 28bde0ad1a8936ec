"""Port editors and Save & Apply (issue 13 items 3 and 8): the staging directory on its own, then a real
daemon, panel and browser.

The browser edits port 'one''s network number, applies it and the daemon runs the port on the new number
(control method ``ports``); a network number another port uses is refused at the field and nothing is
written; Revert throws the staged edit away. Pages are photographed at phone and desktop width into
docs/panel/ (changes-*.png, port-edit-*.png).
"""

from __future__ import annotations

import re
import shutil
import time

import pytest
from selenium.common.exceptions import WebDriverException

from bacrouter.config.model import BipPort
from bacrouter.control import call
from bacrouter.panel.ports_edit import form_fields
from bacrouter.panel.staging import Staging, StaleBase
from bacrouter.paths import Paths

from . import test_panel
from .test_panel import CHROMEDRIVER, EC, PASSWORD, By, Client, Path, Stack, preset_password, shoot, wait

browser = test_panel.browser  # the same headless Chromium fixture (one per module)

CONFIG = ("config bacrouter 'main'\n\toption device_instance '4100'\n\n"
          "config bip 'one'\n\toption resource 'loop'\n\toption network '1'\n\toption udp_port '47901'\n\n"
          "config bip 'two'\n\toption resource 'loop'\n\toption network '2'\n\toption udp_port '47902'\n")


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "bacrouter").mkdir()
    (tmp_path / "bacrouter" / "resource.conf").write_text('{"loop": {"type": "ETH", "ifname": "lo"}}')
    (tmp_path / "config" / "bacrouter").write_text(CONFIG)
    return Paths(tmp_path)


def test_the_form_comes_from_the_model():
    fields = {f["option"]: f for f in form_fields(BipPort, None)}
    assert list(fields) == [f.name for f in BipPort.options()]
    assert fields["mode"]["kind"] == "select" and fields["mode"]["choices"] == ["normal", "foreign", "bbmd"]
    assert fields["write_bdt"]["kind"] == "bool" and fields["bdt"]["kind"] == "list"
    assert (fields["udp_port"]["min"], fields["udp_port"]["max"]) == (1, 65535)
    assert fields["ttl"]["doc"] == BipPort.__dataclass_fields__["ttl"].metadata["doc"]


def test_staged_edits_are_checked_at_their_field_applied_and_reverted(paths):
    staging = Staging(paths)
    package = staging.package()
    package.section("one").options["network"] = "2"
    staging.save(package)
    assert paths.uci_file.read_text() == CONFIG  # staged only
    assert staging.changes() == ["changed bip 'one': network"]
    # a fresh Staging (a panel restart) finds the same edit
    checked = Staging(paths).validate()
    assert any("already used" in p.message for p in checked.at("bip 'one'", "network") + checked.at("bip 'two'", "network"))
    assert all(p.file in ("", str(paths.uci_file)) or str(paths.root) in p.file for p in checked.problems)
    result = staging.apply(reload=False)
    assert not result.ok and paths.uci_file.read_text() == CONFIG
    package.section("one").options["network"] = "7"
    staging.save(package)
    result = staging.apply(reload=False)
    assert result.ok and "'7'" in paths.uci_file.read_text() and not staging.active
    # Revert: the staging directory goes
    package = staging.package()
    package.remove("two")
    staging.save(package)
    staging.revert()
    assert not staging.dir.exists() and staging.package().section("two") is not None


def test_apply_refuses_when_the_file_changed_underneath(paths):
    staging = Staging(paths)
    package = staging.package()
    package.section("one").options["network"] = "9"
    staging.save(package)
    paths.uci_file.write_text(CONFIG.replace("'4100'", "'4200'"))
    with pytest.raises(StaleBase):
        staging.apply(reload=False)
    assert "'4200'" in paths.uci_file.read_text()


# ----------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: apt-get install chromium chromium-driver")
    tmp = tmp_path_factory.mktemp("apply")
    stack = Stack(tmp)
    preset_password(tmp / "config" / "bacrouter")
    yield stack
    stack.close()


@pytest.fixture(autouse=True)
def no_staged_edits(request):
    """Each test starts with nothing staged (one that failed midway must not leave its edits to the next)."""
    if "stack" in request.fixturenames:
        shutil.rmtree(request.getfixturevalue("stack").dir / "run" / "panel-staging", ignore_errors=True)
    yield


def gone(element):
    """The page holding ``element`` was replaced. (Chromium reports an element of a page being replaced either as
    stale or as 'Node ... does not belong to the document': selenium's staleness_of knows only the first.)"""

    def check(driver) -> bool:
        try:
            element.is_enabled()
            return False
        except WebDriverException:  # StaleElementReferenceException is one
            return True

    return check


def loaded(driver) -> bool:
    return driver.execute_script("return document.readyState") == "complete"


def click_and_load(browser, element_id: str) -> None:
    """Click the element, then wait until the page it leaves is gone and the next one is loaded (both may hold
    the same element ids)."""
    wait(browser, loaded)
    page = browser.find_element(By.TAG_NAME, "html")
    wait(browser, EC.element_to_be_clickable((By.ID, element_id))).click()
    wait(browser, gone(page))
    wait(browser, loaded)


def network_of(stack, name):
    return {p["name"]: p["network"] for p in call(stack.dir / "run" / "control.sock", "ports")}[name]


def test_login(stack, browser):
    browser.get(stack.base + "/login")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "login")
    wait(browser, EC.presence_of_element_located((By.ID, "dashboard")))


def test_a_used_network_number_is_shown_at_its_field_and_not_applied(stack, browser):
    before = (stack.dir / "config" / "bacrouter").read_text()
    browser.get(stack.base + "/config/ports")
    click_and_load(browser, "edit-one")
    box = wait(browser, EC.presence_of_element_located((By.ID, "o.network")))
    box.clear()
    box.send_keys("2")
    click_and_load(browser, "stage")
    problem = wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "#field-network .field-problem")))
    assert "already used" in problem.text
    assert "1 change(s) staged" in browser.find_element(By.ID, "staged-badge").text.lower()
    shoot(browser, "port-edit-error")
    browser.get(stack.base + "/changes")
    click_and_load(browser, "apply")
    wait(browser, EC.presence_of_element_located((By.ID, "problems")))
    assert "Not applied" in browser.find_element(By.ID, "message").text
    assert browser.find_element(By.CSS_SELECTOR, "#problems a[href$='#field-network']")
    assert (stack.dir / "config" / "bacrouter").read_text() == before and network_of(stack, "one") == 1
    shoot(browser, "changes-refused")
    click_and_load(browser, "revert")
    wait(browser, EC.presence_of_element_located((By.ID, "no-changes")))
    assert not (stack.dir / "run" / "panel-staging").exists()
    assert not browser.find_elements(By.ID, "staged-badge")


def test_a_new_network_number_is_applied_and_runs(stack, browser):
    browser.get(stack.base + "/config/ports/one")
    box = wait(browser, EC.presence_of_element_located((By.ID, "o.network")))
    box.clear()
    box.send_keys("11")
    click_and_load(browser, "stage")
    wait(browser, EC.presence_of_element_located((By.ID, "staged-badge")))
    shoot(browser, "port-edit")
    click_and_load(browser, "staged-badge")
    click_and_load(browser, "apply")
    result = wait(browser, EC.presence_of_element_located((By.ID, "apply-result")))
    assert "one" in browser.find_element(By.ID, "summary-restarted").text
    assert "two" in browser.find_element(By.ID, "summary-unchanged").text
    shoot(browser, "changes-applied")
    assert "Applied" in result.text and re.search(r"option network '11'", (stack.dir / "config" / "bacrouter").read_text())
    deadline = time.monotonic() + 10
    while network_of(stack, "one") != 11 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert network_of(stack, "one") == 11


def test_add_and_delete_a_port_are_staged(stack, browser):
    browser.get(stack.base + "/config/ports")
    browser.find_element(By.ID, "new-name").send_keys("three")
    click_and_load(browser, "add")
    wait(browser, EC.presence_of_element_located((By.ID, "o.udp_port")))
    assert "added bip 'three'" in Staging(Paths(stack.dir)).changes()
    browser.get(stack.base + "/config/ports")
    click_and_load(browser, "delete-three")
    wait(browser, EC.presence_of_element_located((By.ID, "configured-ports")))
    assert Staging(Paths(stack.dir)).changes() == []
    Staging(Paths(stack.dir)).revert()


def test_staging_posts_need_the_csrf_token_and_origin(stack):
    client = Client(stack.port)
    assert client.login() == 303
    token = client.csrf("/config/ports")
    origin = {"Origin": stack.base}
    assert client.request("POST", "/config/ports/one", {"o.network": "5"}, origin)[0] == 403
    assert client.request("POST", "/changes/apply", {"csrf": token}, {"Origin": "http://evil.example"})[0] == 403
    assert client.request("POST", "/changes/revert", {}, origin)[0] == 403
    assert not (stack.dir / "run" / "panel-staging").exists()
