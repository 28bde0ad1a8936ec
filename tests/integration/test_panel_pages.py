"""Every page of the panel, found by following its links: served with and without the router, fits a phone.

The pages are not listed here: the test starts at the dashboard and follows
every link of the panel (the menu, the editors, the live pages), so a page
added later is checked too. Each must answer 200 with a whole page; with the
daemon stopped (offline mode, issue 13 item 10) each must still answer, the
runtime pages saying so; in Chromium at phone width (390 px) none may be wider
than the screen (tables fold into cards, forms into one column).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from .test_panel import PASSWORD, Stack, browser, wait  # noqa: F401 - browser is a fixture
from .test_panel_attacks import Client

#: links never followed: they change something, download, or leave
SKIP = re.compile(r"^/(logout|static/|captures/)|/(delete|download|export)|\.(txt|json|csv|pcap)$")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("pages"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def admin(stack):
    return Client(stack.port).set_first_password()


def links(html: str) -> list[str]:
    out = []
    for href in re.findall(r'href="([^"#]+)', html):
        parts = urlsplit(href.replace("&amp;", "&"))
        if not parts.scheme and not parts.netloc and parts.path.startswith("/") and not SKIP.search(parts.path):
            out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def crawl(client: Client, limit: int = 80) -> dict[str, str]:
    pages: dict[str, str] = {}
    queue = ["/"]
    while queue and len(pages) < limit:
        path = queue.pop(0)
        if path in pages:
            continue
        status, headers, text = client.request("GET", path)
        assert status == 200, f"{path}: {status} {text[:300]}"
        if not headers.get("content-type", "").startswith("text/html"):
            continue
        assert "Traceback" not in text and "</html>" in text, path
        pages[path] = text
        queue += [link for link in links(text) if link not in pages]
    return pages


def test_every_page_answers_online_and_offline(stack, admin):
    online = crawl(admin)
    menu = re.findall(r'<li class="[^"]*"><a href="(/[^"]*)">', online["/"])
    assert len(menu) >= 5 and set(menu) <= set(online), menu
    stack.stop_daemon()
    try:
        offline = crawl(admin)
        assert set(offline) >= set(menu)
        runtime = [p for p in ("/", "/ports", "/routes") if p in offline]
        for path in runtime:
            assert 'id="offline"' in offline[path], f"{path} does not say the router is not running"
        # the configuration pages stay editors (offline mode): their forms are still there
        assert any("<form" in offline[p] for p in offline if p.startswith("/config"))
    finally:
        stack.start_daemon()


def test_no_page_is_wider_than_a_phone(stack, admin, browser):  # noqa: F811 - the fixture imported above
    pages = crawl(admin)
    browser.get(stack.base + "/static/panel.css")
    browser.add_cookie({"name": "bacrouter_panel", "value": admin.cookies["bacrouter_panel"], "path": "/"})
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    try:
        too_wide = {}
        for path in pages:
            browser.get(stack.base + path)
            wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
            width = browser.execute_script("return document.documentElement.scrollWidth")
            if width > 392:
                widest = browser.execute_script(
                    "var w = null; document.querySelectorAll('body *').forEach(function (e) {"
                    " var r = e.getBoundingClientRect(); if (r.right > 392 && (!w || r.width > w.width))"
                    " w = {tag: e.tagName, id: e.id, cls: e.className, width: r.width}; }); return w;")
                too_wide[path] = (width, widest)
        assert len(pages) >= 8 and not too_wide, (sorted(pages), too_wide)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
