"""The web panel under a big gateway: server time per page and JSON endpoint, memory, a 1,000-point table.

    python bench/panel_bench.py [--rounds 20] [--slaves 50] [--points 10000]

A daemon runs a Modbus TCP master with ``slaves`` slaves (the first with 1,000
points, the rest sharing the remainder of ``points``) against a pymodbus server
(tests/peers/modbus_peer.py), and the panel (``bacrouter panel``) in front of
it. Then:

- every page the menu leads to, and every page those link to (editors, a
  slave's points, its live values), is fetched ``rounds`` times; the time is
  the server's own (the ``Server-Timing`` header the panel sets), p50 and p95
  per page and over all pages;
- the same for the JSON endpoints the pages refresh from;
- the downloads those pages offer (exports: the master with all 10,000 points, the
  slave with 1,000, its CSV), 3 times each, shown apart;
- the panel's RSS idle (logged in, nothing asked yet) and after browsing all
  of it, downloads included;
- points_1000_ms: headless Chromium opens the points table of the slave with
  1,000 points; the time from the start of the navigation until the page's
  ``load`` event (the table is in the HTML: then it is usable), the median of
  5 loads.

The bounds are issue 13's targets: page p95 under 100 ms, API p95 under 30 ms,
RSS under 30 MB, the 1,000-point table usable in under 1 s; each ratio is the
figure over its bound.

Ends with: BENCH panel page_p95_ms=… api_p95_ms=… rss_mb=… points_1000_ms=… (and the ratios)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bacrouter.control import ControlError, call  # noqa: E402
from bench.footprint_bench import free_udp_port, rss_mb  # noqa: E402

PEER = ROOT / "tests" / "peers" / "modbus_peer.py"
PASSWORD = "bench horse battery"
BOUNDS = {"page_p95_ms": 100.0, "api_p95_ms": 30.0, "rss_mb": 30.0, "points_1000_ms": 1000.0}
#: links never followed: they change something, download, or leave
SKIP = re.compile(r"^/(logout|static/|captures/|system/(backup|log\.txt))|/(delete|download|export)")
#: downloads are not pages; their time is measured apart (the exports of the biggest master and slave)
DOWNLOAD = re.compile(r"\.(json|csv|txt|pcap)$")
OBJECT_TYPES = ("ai", "av", "bi", "bo")


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(root: Path, slaves: int, points: int, modbus_port: int) -> dict[str, int]:
    (root / "config").mkdir(parents=True)
    (root / "bacrouter" / "modbus").mkdir(parents=True)
    (root / "bacrouter" / "resource.conf").write_text('{"lo": {"type": "ETH", "ifname": "lo"}}\n')
    counts = {"s0": 1000}
    rest = points - 1000
    for index in range(1, slaves):
        counts[f"s{index}"] = rest // (slaves - 1) + (1 if index <= rest % (slaves - 1) else 0)
    text = ("config bacrouter 'main'\n\toption device_instance '4300'\n\toption device_name 'Panel bench'\n\n"
            f"config bip 'bip0'\n\toption resource 'lo'\n\toption network '1'\n\toption udp_port '{free_udp_port()}'\n\n"
            "config panel 'panel'\n\toption listen '127.0.0.1'\n\n"
            f"config modbus_master 'm'\n\toption protocol 'tcp'\n\toption host '127.0.0.1'\n"
            f"\toption port '{modbus_port}'\n")
    for index, (name, count) in enumerate(counts.items()):
        text += (f"\nconfig modbus_slave '{name}'\n\toption master 'm'\n\toption station '{index + 1}'\n"
                 f"\toption block '{index + 1}'\n\toption update_ms '10000'\n\toption description 'slave {index}'\n")
        items = [{"name": f"{name}-p{i}", "object_type": OBJECT_TYPES[i % 4],
                  "address_type": "coil" if OBJECT_TYPES[i % 4] in ("bi", "bo") else "holding",
                  "address": i, "instance": i} for i in range(count)]
        (root / "bacrouter" / "modbus" / f"{name}.json").write_text(json.dumps({"points": items}))
    (root / "config" / "bacrouter").write_text(text)
    return counts


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, ControlError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


class Client:
    def __init__(self, port: int) -> None:
        self.port, self.cookies = port, {}
        self.origin = f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Origin": self.origin}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, data, headers)
        answer = conn.getresponse()
        text = answer.read().decode(errors="replace")
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        conn.close()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, text

    def server_ms(self, path: str) -> tuple[int, float, str]:
        status, headers, text = self.request("GET", path)
        found = re.search(r"app;dur=([0-9.]+)", headers.get("server-timing", ""))
        if not found:
            raise RuntimeError(f"{path}: no Server-Timing header (status {status})")
        return status, float(found.group(1)), text


def log_in(client: Client) -> None:
    status, _, text = client.request("GET", "/setup")
    token = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    status, _, _ = client.request("POST", "/setup", {"csrf": token, "password": PASSWORD, "again": PASSWORD})
    if status != 303:
        raise RuntimeError(f"setting the password: {status}")


def links(html: str) -> list[str]:
    out = []
    for href in re.findall(r'href="([^"#]+)', html):
        parts = urlsplit(unescape(href))
        if parts.scheme or parts.netloc or not parts.path.startswith("/") or SKIP.search(parts.path):
            continue
        out.append(unescape(href))
    return out


def shape_of(path: str) -> str:
    """/modbus/slaves/s7 stands for the other 49 slaves, a point's editor for the other 999 points."""
    return re.sub(r"/[0-9]+\b", "/N", re.sub(r"/s[0-9]+\b", "/sN", re.sub(r"[?].*", "", path)))


def crawl(client: Client, limit: int = 60, downloads: list[str] | None = None) -> list[str]:
    """The pages a user reaches: the menu, then what those link to (one of each kind of page); the
    downloads met on the way go to ``downloads`` (those of the slave with 1,000 points, and one of each)."""
    seen, queue, pages, shapes = set(), ["/"], [], set()
    while queue and len(pages) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        shape = shape_of(path)  # one page of each shape, but the slave with 1,000 points always: the heaviest
        if shape in shapes and not re.search(r"/(s0|m)(/points)?(\.[a-z]+)*$", path):
            continue
        if DOWNLOAD.search(path):
            shapes.add(shape)
            if downloads is not None:
                downloads.append(path)
            continue
        status, _, text = client.server_ms(path)
        if status != 200 or not text.lstrip().startswith("<!DOCTYPE"):
            continue
        shapes.add(shape)
        pages.append(path)
        queue += [link for link in links(text) if link not in seen]
    return pages


def api_endpoints(client: Client) -> list[str]:
    """The JSON endpoints the pages refresh from (data-api attributes, and the known ones)."""
    found = {"/api/dashboard", "/api/ports", "/api/routes"}
    for page in crawl(client):
        _, _, text = client.request("GET", page)
        found.update(unescape(api) for api in re.findall(r'data-api="(/api/[^"]+)"', text))
    return sorted(found)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(client: Client, paths: list[str], rounds: int) -> tuple[dict[str, tuple[float, float]], list[float]]:
    per, every = {}, []
    for path in paths:
        times = []
        for _ in range(rounds):
            status, ms, _ = client.server_ms(path)
            if status != 200:
                raise RuntimeError(f"{path}: status {status}")
            times.append(ms)
        per[path] = (statistics.median(times), percentile(times, 0.95))
        every += times
    return per, every


def points_page_ms(port: int, cookie: dict, path: str, runs: int = 5) -> float:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--window-size=1280,900"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        base = f"http://127.0.0.1:{port}"
        driver.get(base + "/static/panel.css")
        for name, value in cookie.items():
            driver.add_cookie({"name": name, "value": value, "path": "/"})
        times = []
        for _ in range(runs):
            driver.get(base + path)
            rows = driver.execute_script("return document.querySelectorAll('tr').length")
            if rows < 1000:
                raise RuntimeError(f"{path} shows {rows} table rows, not the 1,000 points")
            times.append(driver.execute_script(
                "var n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime"))
        return statistics.median(times)
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--slaves", type=int, default=50)
    parser.add_argument("--points", type=int, default=10000)
    args = parser.parse_args()
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="bacrouter-panel-bench-") as tmp:
        root = Path(tmp)
        modbus_port, panel_port = free_tcp_port(), free_tcp_port()
        counts = write_config(root, args.slaves, args.points, modbus_port)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        try:
            units = [arg for i in range(args.slaves) for arg in ("--unit", str(i + 1))]
            procs.append(subprocess.Popen([sys.executable, str(PEER), "--tcp", f"127.0.0.1:{modbus_port}", *units,
                                           "--ready", str(root / "peer.ready")], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(lambda: (root / "peer.ready").exists(), 30, "the Modbus peer")
            procs.append(subprocess.Popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(root)],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            sock = root / "run" / "control.sock"
            wait_for(lambda: call(sock, "status")["modbus"]["online"] == args.slaves, 120, "every slave online")
            panel = subprocess.Popen([sys.executable, "-m", "bacrouter", "panel", "--config-dir", str(root),
                                      "--port", str(panel_port), "--cert", str(root / "no.crt"),
                                      "--key", str(root / "no.key")], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(panel)
            wait_for(lambda: socket.create_connection(("127.0.0.1", panel_port), 0.5).close() is None, 30,
                     "the panel")
            client = Client(panel_port)
            log_in(client)
            time.sleep(1)
            rss_idle = rss_mb(panel.pid)
            pages = crawl(client)
            apis = api_endpoints(client)
            downloads: list[str] = []
            crawl(client, downloads=downloads)
            page_times, all_pages = measure(client, pages, args.rounds)
            api_times, all_apis = measure(client, apis, args.rounds)
            download_times, _ = measure(client, downloads, 3)
            rss_after = rss_mb(panel.pid)
            points_path = next((p for p in pages if re.search(r"/s0\b.*points|/s0/points", p)), None) or \
                next((p for p in pages if p.rstrip("/").endswith("/s0")), None)
            points_ms = points_page_ms(panel_port, client.cookies, points_path) if points_path else float("nan")
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(f"a daemon with {args.slaves} Modbus slaves, {sum(counts.values())} points; {args.rounds} requests each")
    print(f"{'page':<48} {'p50 ms':>8} {'p95 ms':>8}")
    for path, (p50, p95) in page_times.items():
        print(f"{path:<48} {p50:>8.1f} {p95:>8.1f}")
    print(f"{'JSON endpoint':<48} {'p50 ms':>8} {'p95 ms':>8}")
    for path, (p50, p95) in api_times.items():
        print(f"{path:<48} {p50:>8.1f} {p95:>8.1f}")
    print(f"{'download (3 requests)':<48} {'p50 ms':>8} {'p95 ms':>8}")
    for path, (p50, p95) in download_times.items():
        print(f"{path:<48} {p50:>8.1f} {p95:>8.1f}")
    page_p95, api_p95 = percentile(all_pages, 0.95), percentile(all_apis, 0.95)
    print(f"all pages: p50 {statistics.median(all_pages):.1f} ms, p95 {page_p95:.1f} ms (bound 100)")
    print(f"all JSON endpoints: p50 {statistics.median(all_apis):.1f} ms, p95 {api_p95:.1f} ms (bound 30)")
    print(f"panel RSS: idle {rss_idle:.1f} MB, after browsing every page {rss_after:.1f} MB (bound 30)")
    print(f"points table of one slave with 1,000 points ({points_path}): usable after {points_ms:.0f} ms (bound 1000)")
    figures = {"page_p95_ms": page_p95, "api_p95_ms": api_p95, "rss_mb": rss_after, "points_1000_ms": points_ms}
    ratios = " ".join(f"{k.rsplit('_', 1)[0]}_ratio_to_bound={v / BOUNDS[k]:.2f}" for k, v in figures.items())
    print(f"BENCH panel page_p95_ms={page_p95:.1f} api_p95_ms={api_p95:.1f} rss_mb={rss_after:.1f} "
          f"points_1000_ms={points_ms:.0f} rss_idle_mb={rss_idle:.1f} {ratios}")


if __name__ == "__main__":
    main()
