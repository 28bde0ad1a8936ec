"""luci-app-bacrouter: the view parses (node --check), and the rpcd ACL, the menu and the view agree with the daemon.

The ACL grants read to the status methods and write to reload only; every
method it names, and every one the view declares, is a method the daemon's
table has (so ubus serves it); the menu entry sits under Services and depends
on the ACL. CI installs nodejs for ``node --check``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bacrouter.daemon import Daemon
from bacrouter.paths import Paths

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "luci" / "luci-app-bacrouter"
ACL = APP / "root" / "usr" / "share" / "rpcd" / "acl.d" / "luci-app-bacrouter.json"
MENU = APP / "root" / "usr" / "share" / "luci" / "menu.d" / "luci-app-bacrouter.json"
VIEWS = sorted((APP / "htdocs" / "luci-static" / "resources" / "view").rglob("*.js"))
#: methods a LuCI user with read access may call: they change nothing
READ = {"status", "ports", "routes", "version", "methods", "modbus", "freeclient", "history", "log"}


def daemon_methods(tmp_path: Path) -> set[str]:
    """Every method the daemon and its features put in the one table."""
    from bacrouter.registry import feature_kinds

    daemon = Daemon(Paths(tmp_path))
    for kind in feature_kinds():
        daemon._add_feature_methods(kind.name, kind.methods())
    return set(daemon.table.methods)


def test_every_view_parses_with_node():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is not installed (CI: apt-get install nodejs)")
    assert VIEWS, "no LuCI view"
    for view in VIEWS:
        done = subprocess.run([node, "--check", str(view)], capture_output=True, text=True)
        assert done.returncode == 0, f"{view}: {done.stderr}"
        text = view.read_text()
        assert text.startswith("'use strict';\n'require view';"), f"{view}: not a LuCI view"


def test_the_acl_reads_status_and_writes_only_reload(tmp_path):
    acl = json.loads(ACL.read_text())["luci-app-bacrouter"]
    read, write = set(acl["read"]["ubus"]["bacrouter"]), set(acl["write"]["ubus"]["bacrouter"])
    assert read == READ
    assert write == {"reload"}
    assert acl["read"]["uci"] == ["bacrouter"]
    assert read | write <= daemon_methods(tmp_path)


def test_the_view_calls_only_what_the_acl_grants():
    acl = json.loads(ACL.read_text())["luci-app-bacrouter"]
    granted = set(acl["read"]["ubus"]["bacrouter"]) | set(acl["write"]["ubus"]["bacrouter"])
    for view in VIEWS:
        declared = re.findall(r"object:\s*'(\w+)',\s*method:\s*'(\w+)'", view.read_text())
        assert declared, f"{view}: no rpc.declare"
        assert {obj for obj, _ in declared} == {"bacrouter"}
        assert {method for _, method in declared} <= granted


def test_the_menu_entry_is_under_services_and_opens_the_view():
    menu = json.loads(MENU.read_text())
    entry = menu["admin/services/bacrouter"]
    assert entry["action"] == {"type": "view", "path": "bacrouter/status"}
    assert (APP / "htdocs" / "luci-static" / "resources" / "view" / "bacrouter" / "status.js").exists()
    assert entry["depends"]["acl"] == ["luci-app-bacrouter"]


def test_the_view_links_to_the_panel_port_from_uci():
    text = (APP / "htdocs" / "luci-static" / "resources" / "view" / "bacrouter" / "status.js").read_text()
    assert "uci.get('bacrouter', 'panel', 'port')" in text
    from bacrouter.config.model import PanelSettings

    assert PanelSettings.uci_type == "panel" and "port" in PanelSettings.__dataclass_fields__


def test_the_view_hands_its_session_to_the_panel_in_a_post_body():
    """The LuCI session id goes to /luci-login as a form field, never in a URL (logs, history, Referer)."""
    text = (APP / "htdocs" / "luci-static" / "resources" / "view" / "bacrouter" / "status.js").read_text()
    form = re.search(r"E\('form', \{([^}]*)\}", text)
    assert form and "'method': 'post'" in form.group(1) and "/luci-login'" in text
    assert "'rel': 'noopener'" in form.group(1)
    assert re.search(r"E\('input', \{ 'type': 'hidden', 'name': 'sid', 'value': rpc.getSessionID\(\) \}\)", text)
    assert not re.search(r"[?&]sid=", text)
    from bacrouter.panel import luci

    # the access group the panel asks rpcd about is this ACL's, with a read and a write part that each
    # name a scope (rpcd grants access-group/<group>/<read|write> only for a part with a scope in it)
    acl = json.loads(ACL.read_text())
    assert list(acl) == [luci.GROUP] and acl[luci.GROUP]["read"] and acl[luci.GROUP]["write"]
