#!/usr/bin/env python3
"""Build bacrouter's OpenWrt packages without the OpenWrt SDK: .ipk for opkg, .apk (v3) for apk.

    python3 packaging/build.py [--out dist/openwrt] [--formats ipk,apk] [--release N] [--apk PATH]

Three packages, all pure Python (architecture ``all``):

- ``bacrouter``: this tree (``bacrouter/`` with its Lua scripts), ``/usr/bin/bacrouter``, the init
  script, the uci configuration, ``resource.conf`` and the uci-defaults step;
- ``python3-bacpypes3`` and ``python3-bottle`` (the web panel's framework): the pinned wheels from PyPI
  (``pip download``, their sha256 checked), described by their feed Makefiles (``feed/python-*/Makefile``).

They are laid out and described as OpenWrt's build system does it (include/package-pack.mk and
scripts/ipkg-build): the control fields in the same order, ``Installed-Size`` in bytes, the
conffiles, and the maintainer scripts every OpenWrt package carries, which hand over to
``default_postinst`` / ``default_prerm`` from ``/lib/functions.sh``. Those run the package's
``/etc/uci-defaults`` scripts and enable and start its init script on install (on a live system;
into an image root, ``IPKG_INSTROOT``, they only enable it), and stop and disable it on removal.

A .ipk is what opkg-lede reads: a gzip'd tar (GNU format: opkg knows GNU long names, not pax) of
``debian-binary``, ``data.tar.gz`` and ``control.tar.gz``. The .apk is made by ``apk mkpkg`` of
apk-tools v3 (OpenWrt 25.x), with the list, conffiles and conffiles_static files OpenWrt puts in
``/lib/apk/packages``.

Python sources (.py), not .pyc: OpenWrt's Py3Package ships only .pyc (compiled by the build host's
Python, which is the target's version), with the sources in ``-src`` packages. Built here, outside
the SDK, the host Python need not match the router's (3.11 on OpenWrt 24.10, 3.13 on 25.x), and a
.pyc of another version is refused (bad magic number) when no source is beside it. So the sources
ship, the router compiles them on first import, and the prerm removes those ``__pycache__``
directories with the package. ``--python-version`` picks the ``/usr/lib/pythonX.Y/site-packages``
the files go to.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

@dataclass(frozen=True)
class PinnedWheel:
    """A pure-Python wheel from PyPI, pinned in pyproject.toml, packaged as its feed Makefile describes it."""

    name: str  # the PyPI name, the feed Makefile's PYPI_NAME
    version: str
    wheel: str  # the file pip downloads
    sha256: str  # checked before it is packaged

    @property
    def package(self) -> str:  # the OpenWrt package
        return f"python3-{self.name}"

    @property
    def makefile(self) -> Path:
        return ROOT / "feed" / f"python-{self.name}" / "Makefile"


#: what pip downloads for the pinned third-party modules (pyproject.toml); each has a feed Makefile in feed/
BACPYPES3 = PinnedWheel("bacpypes3", "0.0.110", "bacpypes3-0.0.110-py3-none-any.whl",
                        "02abc0c9e7e92d7061727898ba00204ec072f1d451a63c4e7de76015b5b14911")
BOTTLE = PinnedWheel("bottle", "0.13.5", "bottle-0.13.5-py2.py3-none-any.whl",
                     "34b4b21ca35a387d7870a5d05550620eb4eedc19210b8746040f809358f7ffa8")
WHEELS = (BACPYPES3, BOTTLE)

#: the Python whose site-packages the files go to: OpenWrt 24.10 (opkg) has 3.11, 25.x (apk) 3.13
PYTHON_VERSION = {"ipk": "3.11", "apk": "3.13"}

#: OpenWrt's INSTALL_BIN / INSTALL_DATA / INSTALL_CONF modes
BIN, DATA, CONF = 0o755, 0o644, 0o600

MAINTAINER = "bacrouter developers"


@dataclass
class Package:
    name: str
    version: str  # PKG_VERSION
    release: str  # PKG_RELEASE
    depends: list[str]
    source: str  # the package's directory in the feed, as OpenWrt's SOURCE
    source_name: str  # PKG_NAME
    license: str
    license_files: str
    section: str
    description: str
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # /path -> (content, mode)
    conffiles: list[str] = field(default_factory=list)
    #: the Package/<name>/prerm part (prerm-pkg), run by default_prerm
    prerm: str = ""

    def full_version(self, fmt: str) -> str:
        return f"{self.version}-{'r' if fmt == 'apk' else ''}{self.release}"

    def add(self, path: str, content: bytes, mode: int = DATA) -> None:
        self.files[path] = (content, mode)


# ---------------------------------------------------------------------- what goes in


def makefile_value(name: str, makefile: Path = ROOT / "Makefile") -> str:
    match = re.search(rf"^{name}:=(.*)$", makefile.read_text(), re.M)
    if not match:
        raise SystemExit(f"{makefile}: no {name}")
    return match.group(1).strip()


def bacrouter_version() -> str:
    match = re.search(r'^__version__ = "(.*)"', (ROOT / "bacrouter" / "__init__.py").read_text(), re.M)
    assert match
    return match.group(1)


def makefile_depends(makefile: Path, package: str) -> list[str]:
    """The DEPENDS of ``define Package/<package>`` (the +name entries), in order, with OpenWrt's libc first."""
    text = makefile.read_text()
    block = re.search(rf"^define Package/{re.escape(package)}\n(.*?)^endef", text, re.M | re.S)
    assert block, (makefile, package)
    joined = block.group(1).replace("\\\n", " ")
    match = re.search(r"^\s*DEPENDS:=(.*)$", joined, re.M)
    deps = [d[1:] for d in (match.group(1).split() if match else []) if d.startswith("+")]
    return ["libc"] + deps


def description(makefile: Path, package: str) -> str:
    block = re.search(rf"^define Package/{re.escape(package)}/description\n(.*?)^endef", makefile.read_text(),
                      re.M | re.S)
    assert block, (makefile, package)
    return block.group(1).strip("\n")


PRERM_PYCACHE = """#!/bin/sh
# the router's Python compiled the sources into __pycache__ on first import: not in the file list
for dir in {dirs}; do
	find "$dir" -depth -type d -name __pycache__ -exec rm -rf {{}} + 2>/dev/null
done
exit 0
"""


def site_dirs(python: str, *names: str) -> str:
    return " ".join(f'"${{IPKG_INSTROOT}}/usr/lib/python{python}/site-packages/{n}"' for n in names)


def bacrouter_package(python: str, release: str) -> Package:
    makefile = ROOT / "Makefile"
    version = bacrouter_version()
    pkg = Package(
        name="bacrouter", version=version, release=release,
        depends=makefile_depends(makefile, "bacrouter"), source="feeds/bacrouter", source_name="bacrouter",
        license=makefile_value("PKG_LICENSE"), license_files=makefile_value("PKG_LICENSE_FILES"), section="net",
        description=description(makefile, "bacrouter"),
        conffiles=conffiles(makefile, "bacrouter"),
        prerm=PRERM_PYCACHE.format(dirs=site_dirs(python, "bacrouter")),
    )
    site = f"/usr/lib/python{python}/site-packages"
    for path in sorted((ROOT / "bacrouter").rglob("*")):
        # the sources, the Lua scripts and the panel's templates and static files (pyproject's package-data)
        shipped = path.suffix in (".py", ".lua", ".tpl") or path.parent.name == "static"
        if path.is_file() and shipped and "__pycache__" not in path.parts:
            pkg.add(f"{site}/{path.relative_to(ROOT).as_posix()}", path.read_bytes())
    dist_info = f"{site}/bacrouter-{version}.dist-info"
    pkg.add(f"{dist_info}/METADATA", (
        f"Metadata-Version: 2.1\nName: bacrouter\nVersion: {version}\n"
        f"Summary: BACnet multi-port router and Modbus / M-Bus / Lua gateway for OpenWrt\n"
        f"License: {pkg.license}\nRequires-Python: >=3.11\n").encode())
    pkg.add(f"{dist_info}/entry_points.txt", b"[console_scripts]\nbacrouter = bacrouter.cli:main\n")
    pkg.add(f"{dist_info}/top_level.txt", b"bacrouter\n")
    pkg.add(f"{dist_info}/INSTALLER", b"bacrouter-packaging\n")
    # what python -m installer writes for the console script, with OpenWrt's shebang (Python3/FixShebang)
    pkg.add("/usr/bin/bacrouter", b"#!/usr/bin/python3\nimport sys\nfrom bacrouter.cli import main\n\n"
                                  b"if __name__ == '__main__':\n    sys.exit(main())\n", BIN)
    pkg.add("/etc/init.d/bacrouter", (ROOT / "files" / "bacrouter.init").read_bytes(), BIN)
    pkg.add("/etc/config/bacrouter", (ROOT / "files" / "bacrouter.config").read_bytes(), CONF)
    pkg.add("/etc/bacrouter/resource.conf", (ROOT / "files" / "resource.conf").read_bytes(), CONF)
    pkg.add("/etc/uci-defaults/90_bacrouter", (ROOT / "uci-defaults" / "90_bacrouter").read_bytes(), DATA)
    # what the package does not ship (a directory) is kept over a sysupgrade through keep.d, as OpenWrt does
    keep = [c for c in pkg.conffiles if c not in pkg.files]
    if keep:
        pkg.add("/lib/upgrade/keep.d/bacrouter", "".join(f"{c}\n" for c in keep).encode())
    return pkg


def conffiles(makefile: Path, package: str) -> list[str]:
    block = re.search(rf"^define Package/{re.escape(package)}/conffiles\n(.*?)^endef", makefile.read_text(),
                      re.M | re.S)
    return [line.strip() for line in block.group(1).splitlines() if line.strip()] if block else []


def fetch_wheel(pin: PinnedWheel, cache: Path) -> Path:
    """The pinned wheel, downloaded with pip once into ``cache``, its sha256 checked."""
    wheel = cache / pin.wheel
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        "--dest", str(cache), f"{pin.name}=={pin.version}"], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != pin.sha256:
        raise SystemExit(f"{wheel}: sha256 {digest}, expected {pin.sha256}")
    return wheel


def wheel_package(pin: PinnedWheel, python: str, wheel: Path) -> Package:
    """The package of a pure-Python wheel, described by its feed Makefile: the wheel's files under
    site-packages (what ``python -m installer`` puts there, less RECORD), its ``.data/scripts`` in /usr/bin
    with OpenWrt's shebang (Python3/FixShebang)."""
    makefile = pin.makefile
    version = makefile_value("PKG_VERSION", makefile)
    assert version == pin.version, (makefile, version, pin.version)
    site = f"/usr/lib/python{python}/site-packages"
    pkg = Package(
        name=pin.package, version=version, release=makefile_value("PKG_RELEASE", makefile),
        depends=makefile_depends(makefile, pin.package), source=f"feeds/bacrouter/feed/{makefile.parent.name}",
        source_name=makefile.parent.name, license=makefile_value("PKG_LICENSE", makefile),
        license_files=makefile_value("PKG_LICENSE_FILES", makefile), section="lang",
        description=description(makefile, pin.package),
    )
    scripts = f"{pin.name}-{pin.version}.data/scripts/"
    top: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            name = info.filename
            if info.is_dir() or "__pycache__" in name or name.endswith(".dist-info/RECORD"):
                continue
            if name.startswith(scripts):
                content = archive.read(info)
                if content.startswith(b"#!python"):
                    content = b"#!/usr/bin/python3" + content[len(b"#!python"):]
                pkg.add(f"/usr/bin/{name.removeprefix(scripts)}", content, BIN)
                continue
            assert not name.split("/")[0].endswith(".data"), name  # purelib, platlib, headers: none in ours
            pkg.add(f"{site}/{name}", archive.read(info))
            if not name.split("/")[0].endswith(".dist-info"):
                top.add(name.split("/")[0])
    # a package directory gets __pycache__ directories of its own on the router; a single module (bottle.py)
    # gets site-packages/__pycache__/<module>.*.pyc, which the prerm removes file by file
    dirs = sorted(t for t in top if not t.endswith(".py"))
    modules = sorted(t.removesuffix(".py") for t in top if t.endswith(".py"))
    prerm = PRERM_PYCACHE.format(dirs=site_dirs(python, *dirs)) if dirs else "#!/bin/sh\n"
    if modules:
        prerm = prerm.removesuffix("exit 0\n") + "".join(
            f'rm -f "${{IPKG_INSTROOT}}{site}/__pycache__/{m}".*.pyc\n' for m in modules) + "exit 0\n"
    pkg.prerm = prerm
    return pkg


# ---------------------------------------------------------------------- maintainer scripts (as OpenWrt writes them)


def ipk_postinst() -> str:
    return ('#!/bin/sh\n[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0\n[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n'
            ". ${IPKG_INSTROOT}/lib/functions.sh\ndefault_postinst $0 $@\n")


def ipk_prerm() -> str:
    return ("#!/bin/sh\n[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n. ${IPKG_INSTROOT}/lib/functions.sh\n"
            "default_prerm $0 $@\n")


def without_shebang(script: str) -> str:
    return "".join(line for line in script.splitlines(keepends=True) if not line.lstrip().startswith("#!"))


def apk_scripts(pkg: Package) -> dict[str, str]:
    head = ('[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n. ${IPKG_INSTROOT}/lib/functions.sh\n'
            f'export root="${{IPKG_INSTROOT}}"\nexport pkgname="{pkg.name}"\n')
    post_install = ('#!/bin/sh\n[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0\n' + head
                    + "add_group_and_user\ndefault_postinst\n")
    return {
        "post-install": post_install,
        "post-upgrade": "#!/bin/sh\nexport PKG_UPGRADE=1\n" + without_shebang(post_install),
        "pre-deinstall": "#!/bin/sh\n" + head + "default_prerm\n" + without_shebang(pkg.prerm),
    }


# ---------------------------------------------------------------------- archives


def _tar_gz(entries: list[tuple[str, bytes | None, int]], mtime: int) -> bytes:
    """A gzip'd GNU tar of (name, content or None for a directory, mode), owned by root, as ipkg-build makes it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, content, mode in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = mtime, mode, 0, 0, "root", "root"
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=mtime, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _tree_entries(files: dict[str, tuple[bytes, int]]) -> list[tuple[str, bytes | None, int]]:
    dirs = {"."}
    for path in files:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("./" + "/".join(parts[:i]))
    entries: list[tuple[str, bytes | None, int]] = [(d if d == "." else d, None, 0o755) for d in dirs]
    entries += [("." + path, content, mode) for path, (content, mode) in files.items()]
    return sorted(entries, key=lambda e: e[0])


def control_text(pkg: Package, installed_size: int) -> str:
    fields = [("Package", pkg.name), ("Version", pkg.full_version("ipk")), ("Depends", ", ".join(pkg.depends)),
              ("Source", pkg.source), ("SourceName", pkg.source_name), ("License", pkg.license),
              ("LicenseFiles", pkg.license_files), ("Section", pkg.section),
              ("Maintainer", MAINTAINER), ("Architecture", "all"), ("Installed-Size", str(installed_size))]
    text = "".join(f"{k}: {v}\n" for k, v in fields if v)
    # package-pack.mk: each description line with its leading blanks replaced by one space
    return text + "Description: " + "".join(" " + line.lstrip() + "\n" for line in pkg.description.splitlines())


def resolved_conffiles(pkg: Package) -> list[str]:
    """ipkg-build's conffiles: each entry resolved to the regular files the package ships under it."""
    resolved: list[str] = []
    for entry in pkg.conffiles:
        for path in sorted(pkg.files):
            if (path == entry or path.startswith(entry.rstrip("/") + "/")) and path not in resolved:
                resolved.append(path)
    return resolved


def build_ipk(pkg: Package, out: Path, mtime: int) -> Path:
    data = _tar_gz(_tree_entries(pkg.files), mtime)
    installed_size = sum(len(content) for content, _ in pkg.files.values())
    control = {"control": (control_text(pkg, installed_size).encode(), DATA),
               "postinst": (ipk_postinst().encode(), BIN), "prerm": (ipk_prerm().encode(), BIN)}
    resolved = resolved_conffiles(pkg)
    if resolved:
        control["conffiles"] = ("".join(f"{c}\n" for c in resolved).encode(), DATA)
    if pkg.prerm:
        control["prerm-pkg"] = (pkg.prerm.encode(), BIN)
    control_tgz = _tar_gz([(".", None, 0o755)] + [(f"./{n}", c, m) for n, (c, m) in sorted(control.items())], mtime)
    outer = _tar_gz([("./debian-binary", b"2.0\n", DATA), ("./data.tar.gz", data, DATA),
                     ("./control.tar.gz", control_tgz, DATA)], mtime)
    path = out / f"{pkg.name}_{pkg.full_version('ipk')}_all.ipk"
    path.write_bytes(outer)
    return path


def build_apk(pkg: Package, out: Path, apk: str) -> Path:
    with tempfile.TemporaryDirectory(prefix=f"{pkg.name}-apk-") as tmp:
        tree, scripts = Path(tmp) / "root", Path(tmp) / "scripts"
        scripts.mkdir()
        files = dict(pkg.files)
        meta = f"/lib/apk/packages/{pkg.name}"
        listed = sorted(files) + [f"{meta}.list"]
        if pkg.conffiles:
            files[f"{meta}.conffiles"] = ("".join(f"{c}\n" for c in pkg.conffiles).encode(), DATA)
            files[f"{meta}.conffiles_static"] = ("".join(
                f"{c} {hashlib.sha256(files[c][0]).hexdigest()}\n" for c in pkg.conffiles if c in files).encode(), DATA)
            listed += [f"{meta}.conffiles", f"{meta}.conffiles_static"]
        files[f"{meta}.list"] = ("".join(f"{p}\n" for p in sorted(listed)).encode(), DATA)
        for path, (content, mode) in files.items():
            target = tree / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(mode)
        args = [apk, "mkpkg", "--info", f"name:{pkg.name}", "--info", f"version:{pkg.full_version('apk')}",
                "--info", f"description:{' '.join(pkg.description.split())}", "--info", "arch:noarch",
                "--info", f"license:{pkg.license}", "--info", f"origin:{pkg.source}",
                "--info", f"maintainer:{MAINTAINER}", "--info", f"depends:{' '.join(pkg.depends)}"]
        for kind, text in apk_scripts(pkg).items():
            script = scripts / kind
            script.write_text(text)
            script.chmod(BIN)
            args += ["--script", f"{kind}:{script}"]
        path = out / f"{pkg.name}-{pkg.full_version('apk')}.apk"
        subprocess.run(args + ["--files", str(tree), "--output", str(path)], check=True)
    return path


def find_apk(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("APK"):
        return os.environ["APK"]
    sys.path.insert(0, str(ROOT))
    from tests.openwrt.platform import tool  # the kit's apk-tools v3, built on first use

    return tool("apk")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "dist" / "openwrt"), help="where the packages go")
    parser.add_argument("--formats", default="ipk,apk", help="ipk, apk or both (ipk,apk)")
    parser.add_argument("--release", help="PKG_RELEASE of bacrouter (default: the Makefile's)")
    parser.add_argument("--python-version", help="the router's Python X.Y (default: 3.11 for ipk, 3.13 for apk)")
    parser.add_argument("--apk", help="apk-tools v3 (default: $APK, else the platform kit's)")
    parser.add_argument("--cache", default=str(ROOT / "build" / "pypi"), help="where pip downloads go")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    formats = [f for f in args.formats.split(",") if f]
    wheels = {pin: fetch_wheel(pin, Path(args.cache)) for pin in WHEELS}
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH") or _commit_time())
    release = args.release or makefile_value("PKG_RELEASE")
    apk = find_apk(args.apk) if "apk" in formats else ""
    for fmt in formats:
        python = args.python_version or PYTHON_VERSION[fmt]
        packages = [bacrouter_package(python, release)] + [wheel_package(pin, python, w) for pin, w in wheels.items()]
        for pkg in packages:
            path = build_ipk(pkg, out, mtime) if fmt == "ipk" else build_apk(pkg, out, apk)
            print(f"{path}  {path.stat().st_size} bytes (python{python})")
    return 0


def _commit_time() -> int:
    """The last commit's time (reproducible builds, like OpenWrt's SOURCE_DATE_EPOCH), else now."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%ct"], capture_output=True, text=True)
        return int(done.stdout.strip())
    except (OSError, ValueError):
        import time

        return int(time.time())


if __name__ == "__main__":
    sys.exit(main())
