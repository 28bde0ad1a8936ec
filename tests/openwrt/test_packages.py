"""The packages, installed for real: ``packaging/build.py`` builds the .ipk and .apk files, the kit's
opkg and apk-tools v3 install them into an offline root with an OpenWrt-like package database, upgrade
them over a user-modified configuration and remove them; then the installed tree runs with Debian's
Python (``bacrouter check`` and ``bacrouter run`` on the root's own /etc).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from .platform import KIT, platform_prefix, tool

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "packaging" / "build.py"
#: what the OpenWrt feeds provide and our packages depend on (pyserial's own DEPENDS: logging, urllib; codecs
#: is python3-bottle's)
BASE = ["libc", "base-files", "libubox", "procd", "python3-light", "python3-asyncio", "python3-logging",
        "python3-ctypes", "python3-pyserial", "python3-urllib", "python3-codecs", "python3-openssl"]
VERSION = "0.1.0"
BOTTLE = "0.13.5"
CONFFILES = ["/etc/bacrouter/resource.conf", "/etc/config/bacrouter"]


def build(out: Path, *args: str) -> dict[str, Path]:
    done = subprocess.run([sys.executable, str(BUILD), "--out", str(out), "--apk", tool("apk"), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return {p.name: p for p in out.iterdir()}


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """Release 1 and release 2 (the upgrade) of both packages, in both formats."""
    platform_prefix()
    first = build(tmp_path_factory.mktemp("r1"))
    second = build(tmp_path_factory.mktemp("r2"), "--release", "2")
    return first, second


def members(ipk: Path) -> dict[str, bytes]:
    with tarfile.open(ipk, "r:gz") as outer:
        return {m.name: outer.extractfile(m).read() for m in outer.getmembers() if m.isfile()}


def control_of(ipk: Path) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(members(ipk)["./control.tar.gz"]), mode="r:gz") as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}


def test_the_ipk_is_what_opkg_and_openwrt_write(packages):
    first, _ = packages
    ipk = first[f"bacrouter_{VERSION}-1_all.ipk"]
    assert set(members(ipk)) == {"./debian-binary", "./data.tar.gz", "./control.tar.gz"}
    assert members(ipk)["./debian-binary"] == b"2.0\n"
    control = control_of(ipk)
    fields = [line.split(":", 1)[0] for line in control["control"].splitlines() if not line.startswith(" ")]
    assert fields == ["Package", "Version", "Depends", "Source", "SourceName", "License", "LicenseFiles", "Section",
                      "Maintainer", "Architecture", "Installed-Size", "Description"]
    text = control["control"]
    assert f"Version: {VERSION}-1\n" in text and "Architecture: all\n" in text and "License: GPL-2.0-or-later\n" in text
    depends = text.split("Depends: ")[1].splitlines()[0].split(", ")
    assert depends[0] == "libc" and "python3-bacpypes3" in depends and "python3-ctypes" in depends
    assert "python3-lupa" not in depends  # optional: the router runs without it
    assert int(text.split("Installed-Size: ")[1].split()[0]) > 100_000
    assert sorted(control["conffiles"].split()) == CONFFILES
    assert "default_postinst $0 $@" in control["postinst"] and "IPKG_NO_SCRIPT" in control["postinst"]
    assert "default_prerm $0 $@" in control["prerm"]
    bacpypes3 = control_of(first["python3-bacpypes3_0.0.110-1_all.ipk"])["control"]
    assert "Package: python3-bacpypes3\n" in bacpypes3 and "License: MIT\n" in bacpypes3
    assert "python3-asyncio" in bacpypes3 and "python3-ctypes" in bacpypes3
    assert "python3-bottle" in depends and "python3-codecs" not in depends  # bottle's, not ours
    bottle = control_of(first[f"python3-bottle_{BOTTLE}-1_all.ipk"])
    assert "Package: python3-bottle\n" in bottle["control"] and "License: MIT\n" in bottle["control"]
    assert "Depends: libc, python3-light, python3-urllib, python3-codecs\n" in bottle["control"]
    assert "__pycache__/bottle" in bottle["prerm-pkg"]


# ---------------------------------------------------------------------- an offline root


def base_root(root: Path) -> None:
    """What an OpenWrt image has before our packages: base-files' shell library, jshn, /etc/rc.d."""
    for sub in ("etc", "lib", "sbin"):
        shutil.copytree(KIT / "base-files" / sub, root / sub, dirs_exist_ok=True)
    (root / "usr" / "share" / "libubox").mkdir(parents=True)
    shutil.copy(platform_prefix() / "share" / "libubox" / "jshn.sh", root / "usr" / "share" / "libubox")
    (root / "etc" / "rc.d").mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir()


def opkg_root(root: Path) -> None:
    base_root(root)
    (root / "etc" / "opkg").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "opkg" / "arch.conf").write_text("arch all 1\narch noarch 1\narch x86_64 10\n")
    (root / "etc" / "opkg.conf").write_text("dest root /\nlists_dir ext /var/opkg-lists\n")
    (root / "var" / "lock").mkdir(parents=True)
    info = root / "usr" / "lib" / "opkg" / "info"
    info.mkdir(parents=True)
    status = ""
    for name in BASE:
        status += (f"Package: {name}\nVersion: 1.0-r1\nStatus: install user installed\nArchitecture: x86_64\n"
                   "Installed-Time: 1700000000\n\n")
        (info / f"{name}.list").write_text("")
    (root / "usr" / "lib" / "opkg" / "status").write_text(status)


def opkg(root: Path, *args: str) -> subprocess.CompletedProcess:
    # maintainer scripts run on the host with IPKG_INSTROOT, as the OpenWrt image build runs them
    env = dict(os.environ, IPKG_INSTROOT=str(root))
    done = subprocess.run([tool("opkg"), "--offline-root", str(root), "--conf", str(root / "etc" / "opkg.conf"),
                           "--force-postinstall", *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def installed_files(root: Path, package: str) -> list[str]:
    return (root / "usr" / "lib" / "opkg" / "info" / f"{package}.list").read_text().split()


def test_opkg_installs_upgrades_keeping_the_users_config_and_removes(packages, tmp_path):
    first, second = packages
    root = tmp_path / "root"
    opkg_root(root)
    started = time.monotonic()
    opkg(root, "install", str(first["python3-bacpypes3_0.0.110-1_all.ipk"]), str(first[f"python3-bottle_{BOTTLE}-1_all.ipk"]),
         str(first[f"bacrouter_{VERSION}-1_all.ipk"]))
    installed = time.monotonic() - started
    files = installed_files(root, "bacrouter")
    site = "/usr/lib/python3.11/site-packages"
    for path in ("/usr/bin/bacrouter", "/etc/init.d/bacrouter", "/etc/uci-defaults/90_bacrouter",
                 f"{site}/bacrouter/__init__.py", f"{site}/bacrouter/lua/scripts/bcd.lua", *CONFFILES):
        assert path in files, path
        assert (root / path.lstrip("/")).exists(), path
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert f"{site}/bacpypes3/__init__.py" in installed_files(root, "python3-bacpypes3")
    assert f"{site}/bottle.py" in installed_files(root, "python3-bottle")
    assert f"{site}/bacrouter/panel/templates/base.tpl" in files and f"{site}/bacrouter/panel/static/panel.js" in files
    assert os.access(root / "usr/bin/bacrouter", os.X_OK) and os.access(root / "etc/init.d/bacrouter", os.X_OK)
    status = (root / "usr/lib/opkg/status").read_text()
    assert " /etc/config/bacrouter " in status and " /etc/bacrouter/resource.conf " in status
    # postinst into an image root: default_postinst enabled the init script (rc.d links), uci-defaults stay
    # for the first boot
    assert sorted(p.name for p in (root / "etc" / "rc.d").iterdir()) == ["K10bacrouter", "S95bacrouter"]
    assert (root / "etc/uci-defaults/90_bacrouter").exists()
    assert (root / "lib/upgrade/keep.d/bacrouter").read_text() == "/etc/bacrouter/\n"

    mine = (root / "etc/config/bacrouter").read_text().replace("'info'", "'debug'")
    (root / "etc/config/bacrouter").write_text(mine)
    done = opkg(root, "install", str(second[f"bacrouter_{VERSION}-2_all.ipk"]))
    assert f"from {VERSION}-1 to {VERSION}-2" in done.stdout
    assert (root / "etc/config/bacrouter").read_text() == mine
    assert (root / "etc/config/bacrouter-opkg").read_text() == (ROOT / "files/bacrouter.config").read_text()
    assert "Version: 0.1.0-2" in (root / "usr/lib/opkg/status").read_text()
    assert (root / "etc/rc.d/S95bacrouter").is_symlink()

    runs = run_installed(root, site)
    print(f"\nopkg: install {installed:.2f} s, then check + start until status answers {runs:.2f} s")

    opkg(root, "remove", "bacrouter")
    assert not (root / "usr/bin/bacrouter").exists() and not (root / site.lstrip("/") / "bacrouter/cli.py").exists()
    assert not list((root / "etc/rc.d").iterdir())  # default_prerm disabled it
    assert "'debug'" in (root / "etc/config/bacrouter").read_text()  # a modified conffile stays
    assert "Package: bacrouter\n" not in (root / "usr/lib/opkg/status").read_text()
    # the router's Python compiled bottle.py beside it (site-packages/__pycache__): its prerm removes that too
    pycache = root / site.lstrip("/") / "__pycache__"
    pycache.mkdir(exist_ok=True)
    (pycache / "bottle.cpython-311.pyc").write_bytes(b"")
    opkg(root, "remove", "python3-bottle")
    assert not (root / site.lstrip("/") / "bottle.py").exists() and not list(pycache.glob("bottle.*"))


# ---------------------------------------------------------------------- apk v3


def apk(root: Path, *args: str) -> subprocess.CompletedProcess:
    # scripts would run chrooted into the root: a test root has no /bin/sh of its own
    changes = ["--no-scripts"] if args[0] in ("add", "del") else []
    done = subprocess.run([tool("apk"), "--root", str(root), "--allow-untrusted", "--no-network", *changes, *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_apk_installs_upgrades_keeping_the_users_config_and_removes(packages, tmp_path):
    first, second = packages
    base = tmp_path / "base"
    (base / "empty").mkdir(parents=True)
    for name in BASE:  # the feed's packages, as empty stand-ins with their names
        subprocess.run([tool("apk"), "mkpkg", "--info", f"name:{name}", "--info", "version:1.0-r1", "--info",
                        "arch:noarch", "--files", str(base / "empty"), "--output", str(base / f"{name}.apk")],
                       check=True, capture_output=True)
    root = tmp_path / "root"
    root.mkdir()
    started = time.monotonic()
    apk(root, "add", "--initdb", *(str(base / f"{n}.apk") for n in BASE),
        str(first["python3-bacpypes3-0.0.110-r1.apk"]), str(first[f"python3-bottle-{BOTTLE}-r1.apk"]),
        str(first[f"bacrouter-{VERSION}-r1.apk"]))
    installed = time.monotonic() - started
    site = "/usr/lib/python3.13/site-packages"
    meta = root / "lib/apk/packages"
    listed = (meta / "bacrouter.list").read_text().split()
    for path in ("/usr/bin/bacrouter", "/etc/init.d/bacrouter", f"{site}/bacrouter/cli.py", *CONFFILES):
        assert path in listed and (root / path.lstrip("/")).exists(), path
    assert (meta / "bacrouter.conffiles").read_text().split() == ["/etc/config/bacrouter",
                                                                 "/etc/bacrouter/resource.conf", "/etc/bacrouter/"]
    assert len((meta / "bacrouter.conffiles_static").read_text().splitlines()) == 2
    depends = apk(root, "info", "--depends", "bacrouter").stdout.split("depends on:")[1].split()
    assert "python3-bacpypes3" in depends and "python3-ctypes" in depends and "python3-lupa" not in depends
    assert "python3-bottle" in depends
    assert f"{site}/bottle.py" in (meta / "python3-bottle.list").read_text().split()

    mine = (root / "etc/config/bacrouter").read_text().replace("'info'", "'debug'")
    (root / "etc/config/bacrouter").write_text(mine)
    done = apk(root, "add", str(second[f"bacrouter-{VERSION}-r2.apk"]))
    assert f"{VERSION}-r1 -> {VERSION}-r2" in done.stdout
    assert (root / "etc/config/bacrouter").read_text() == mine
    assert (root / "etc/config/bacrouter.apk-new").read_text() == (ROOT / "files/bacrouter.config").read_text()

    runs = run_installed(root, site)
    print(f"\napk: install {installed:.2f} s, then check + start until status answers {runs:.2f} s")

    apk(root, "del", "bacrouter")
    assert not (root / "usr/bin/bacrouter").exists() and not (root / site.lstrip("/") / "bacrouter").exists()
    assert "'debug'" in (root / "etc/config/bacrouter").read_text()
    assert "bacrouter\n" not in apk(root, "info").stdout


def test_apk_scripts_are_openwrts(packages):
    first, _ = packages
    dump = subprocess.run([tool("apk"), "adbdump", str(first[f"bacrouter-{VERSION}-r1.apk"])], capture_output=True,
                          text=True, check=True).stdout
    for script in ("post-install", "post-upgrade", "pre-deinstall"):
        assert f"{script}: |" in dump, script
    assert "default_postinst" in dump and "default_prerm" in dump and "PKG_UPGRADE=1" in dump
    assert 'export pkgname="bacrouter"' in dump and "arch: noarch" in dump


# ---------------------------------------------------------------------- the installed tree runs


def run_installed(root: Path, site: str) -> float:
    """Debian's Python on the root's site-packages (pyserial from the venv: not ours to package): the first-boot
    step (uci-defaults: bacrouter init), check, run, status, stop. Returns the seconds from check to status."""
    extra = root.parent / "extra"
    extra.mkdir(exist_ok=True)
    import serial  # pyserial of the test environment

    if not (extra / "serial").exists():
        (extra / "serial").symlink_to(Path(serial.__file__).parent)
    env = dict(os.environ, PYTHONPATH=f"{root / site.lstrip('/')}{os.pathsep}{extra}", PYTHONDONTWRITEBYTECODE="1")
    python = shutil.which("python3.11", path="/usr/bin") or "/usr/bin/python3"
    program = str(root / "usr/bin/bacrouter")
    etc = str(root / "etc")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-s", program, *args, "--config-dir", etc], capture_output=True, text=True,
                              env=env, timeout=60, cwd=root.parent)

    # the panel too: bottle from python3-bottle, its templates and static files from bacrouter
    where = subprocess.run([python, "-s", "-c", "import bacrouter, bacpypes3, bottle, bacrouter.panel.app as app; "
                            "print(bacrouter.__file__); print(bacpypes3.__file__); print(bottle.__file__); "
                            "print(app.TEMPLATES / 'base.tpl'); print(app.STATIC / 'panel.css')"],
                           capture_output=True, text=True, env=env, cwd=root.parent)
    assert where.returncode == 0, where.stderr  # not this tree: '' (the working directory) is first on sys.path
    assert all(line.startswith(str(root)) for line in where.stdout.split()), where.stdout
    assert all(Path(line).is_file() for line in where.stdout.split()), where.stdout
    init = cli("init")  # what /etc/uci-defaults/90_bacrouter runs on first boot
    assert init.returncode == 0, init.stdout + init.stderr
    started = time.monotonic()
    check = cli("check")
    assert check.returncode == 0, check.stdout + check.stderr
    log = open(root.parent / "run.log", "w+")
    proc = subprocess.Popen([python, "-s", program, "run", "--config-dir", etc], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=root.parent)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (root.parent / "run.log").read_text()
            status = cli("status", "--json")
            if status.returncode == 0:
                break
            assert time.monotonic() < deadline, status.stderr + (root.parent / "run.log").read_text()
            time.sleep(0.1)
        answered = time.monotonic() - started
        data = json.loads(status.stdout)
        assert data["status"]["version"] == VERSION and data["status"]["config_dir"] == etc
        assert [p["kind"] for p in data["ports"]] == ["bip"]  # the port bacrouter init made from resource.conf
    finally:
        proc.terminate()
        code = proc.wait(10)
        log.close()
    output = (root.parent / "run.log").read_text()
    assert code == 0 and "Traceback" not in output, output
    return answered
