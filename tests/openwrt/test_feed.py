"""The feed Makefiles against what they describe: each PKG_HASH is the sha256 of the sdist pip downloads,
the versions are pyproject's pins, openwrt/packages' conventions hold, and each DEPENDS names exactly the
OpenWrt packages of the modules the code imports (python3-light covers the core; asyncio, logging,
ctypes, ... are packages of their own, as lang/python/python3/files/python3-package-*.mk split them).
"""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FEED = {"bacpypes3": ROOT / "feed" / "python-bacpypes3" / "Makefile",
        "lupa": ROOT / "feed" / "python-lupa" / "Makefile", "bottle": ROOT / "feed" / "python-bottle" / "Makefile"}

#: stdlib modules in a package of their own (python3-package-*.mk); every other stdlib module is python3-light
STDLIB_PACKAGES = {
    "asyncio": "python3-asyncio", "logging": "python3-logging", "ctypes": "python3-ctypes", "_ctypes": "python3-ctypes",
    "sqlite3": "python3-sqlite3", "_sqlite3": "python3-sqlite3", "email": "python3-urllib", "urllib": "python3-urllib",
    "xml": "python3-xml", "xmlrpc": "python3-xml", "pyexpat": "python3-xml", "unittest": "python3-unittest",
    "multiprocessing": "python3-multiprocessing", "uuid": "python3-uuid", "decimal": "python3-decimal",
    "_decimal": "python3-decimal", "lzma": "python3-lzma", "dbm": "python3-dbm", "curses": "python3-ncurses",
    "readline": "python3-readline", "ssl": "python3-openssl", "_ssl": "python3-openssl",
    "_hashlib": "python3-openssl", "pydoc": "python3-pydoc", "doctest": "python3-pydoc",
    "venv": "python3-venv", "ensurepip": "python3-venv", "unicodedata": "python3-codecs",
}
#: not installable on OpenWrt at all (python3-light leaves them out)
NOT_ON_OPENWRT = {"tkinter", "idlelib", "turtledemo", "webbrowser", "_osx_support"}
THIRD_PARTY = {"serial": "python3-pyserial", "bacpypes3": "python3-bacpypes3", "bottle": "python3-bottle"}
#: optional: the code runs without them and says what is missing
OPTIONAL = {"lupa": "python3-lupa", "ubus": "python3-ubus"}
#: DEPENDS of the feed packages we depend on (openwrt/packages lang/python/python-pyserial/Makefile)
FEED_DEPENDS = {"python3-pyserial": {"python3-light", "python3-logging", "python3-urllib"}}


def makefile_var(makefile: Path, name: str) -> str:
    match = re.search(rf"^{name}:=(.*)$", makefile.read_text(), re.M)
    assert match, (makefile, name)
    return match.group(1).strip()


def depends(makefile: Path, package: str) -> set[str]:
    block = re.search(rf"^define Package/{re.escape(package)}\n(.*?)^endef", makefile.read_text(), re.M | re.S)
    assert block, (makefile, package)
    line = re.search(r"^\s*DEPENDS:=(.*)$", block.group(1).replace("\\\n", " "), re.M)
    assert line
    return {d[1:] for d in line.group(1).split() if d.startswith("+")}


def pins() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text()
    return dict(re.findall(r'"([a-z0-9]+)==([^"]+)"', text))


@pytest.mark.parametrize("name", sorted(FEED))
def test_pkg_hash_is_the_sdist_pip_downloads(name, tmp_path):
    makefile = FEED[name]
    version = makefile_var(makefile, "PKG_VERSION")
    assert makefile_var(makefile, "PYPI_NAME") == name
    assert version == pins()[name], "the feed builds the version pyproject.toml pins"
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                           "--dest", str(tmp_path), f"{name}=={version}"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (sdist,) = tmp_path.glob(f"{name}-{version}.tar.gz")  # pypi.mk's PKG_SOURCE
    assert hashlib.sha256(sdist.read_bytes()).hexdigest() == makefile_var(makefile, "PKG_HASH")


@pytest.mark.parametrize("makefile", sorted(FEED.values()), ids=lambda p: p.parent.name)
def test_openwrt_packages_conventions(makefile):
    text = makefile.read_text()
    package = "python3-" + makefile_var(makefile, "PYPI_NAME")
    assert makefile_var(makefile, "PKG_NAME") == makefile.parent.name == "python-" + package.removeprefix("python3-")
    assert text.index("include ../pypi.mk") < text.index("include $(INCLUDE_DIR)/package.mk") < text.index(
        "include ../python3-package.mk")
    for call in (f"$(eval $(call Py3Package,{package}))", f"$(eval $(call BuildPackage,{package}))",
                 f"$(eval $(call BuildPackage,{package}-src))"):
        assert call in text
    assert re.fullmatch(r"[0-9a-f]{64}", makefile_var(makefile, "PKG_HASH"))
    assert makefile_var(makefile, "PKG_LICENSE") and makefile_var(makefile, "PKG_MAINTAINER")
    assert "SUBMENU:=Python" in text and "+python3-light" in text


def test_lupa_builds_only_the_bundled_lua54():
    text = FEED["lupa"].read_text()
    assert "LUPA_NO_LUAJIT=true" in text and "LUPA_USE_BUNDLE=true" in text
    for other in ("luajit*", "lua51", "lua52", "lua53", "lua55"):
        assert f"third-party/{other}" in text
    assert "python-cython/host" in text  # the sdist has no generated C


def test_the_bacrouter_makefile_ships_what_the_package_builder_ships():
    text = (ROOT / "Makefile").read_text()
    assert "$(eval $(call BuildPackage,bacrouter-src))" in text and "PKG_LICENSE_FILES:=LICENSE" in text
    head = (ROOT / "LICENSE").read_text().split("\n", 2)
    assert head[0].strip() == "GNU GENERAL PUBLIC LICENSE" and head[1].strip().startswith("Version 2")
    luci = (ROOT / "luci" / "luci-app-bacrouter" / "Makefile").read_text()
    assert "include $(TOPDIR)/feeds/luci/luci.mk" in luci and "+bacrouter" in luci and "LUCI_PKGARCH:=all" in luci


# ---------------------------------------------------------------------- DEPENDS against the imports


def _guarded(tree: ast.AST) -> set[int]:
    """Line numbers of imports inside ``try: ... except ImportError``: optional by construction."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                or isinstance(h.type, ast.Tuple) and any(getattr(e, "id", "") in ("ImportError", "ModuleNotFoundError")
                                                         for e in h.type.elts)
                for h in node.handlers):
            for inner in node.body:
                lines.update(n.lineno for n in ast.walk(inner) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return lines


def static_imports(package_dir: Path, guarded_ones: bool = False) -> set[str]:
    """Top-level names of every module imported anywhere in the package (functions included): the unguarded, or
    with ``guarded_ones`` those imported only inside ``try/except ImportError``."""
    names: set[str] = set()
    optional: set[str] = set()
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text())
        guarded = _guarded(tree)
        for node in ast.walk(tree):
            found: set[str] = set()
            if isinstance(node, ast.Import):
                found = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found = {node.module.split(".")[0]}
            (optional if found and node.lineno in guarded else names).update(found)
    return optional - names if guarded_ones else names


def packages_for(modules: set[str], own: str) -> set[str]:
    needed = {"python3-light"}
    for name in modules:
        assert name not in NOT_ON_OPENWRT, name
        if name in (own, "__future__") or name in OPTIONAL:
            continue
        if name in STDLIB_PACKAGES:
            needed.add(STDLIB_PACKAGES[name])
        elif name in THIRD_PARTY:
            needed.add(THIRD_PARTY[name])
        else:
            assert name in sys.stdlib_module_names, f"{name}: a third-party module with no OpenWrt package here"
    return needed


#: loaded when present, not needed (each imported inside try/except ImportError): hashlib falls back to its
#: built-in hashes without _hashlib and asyncio runs without ssl (python3-openssl), shutil without lzma,
#: bacpypes3's console without readline
SOFT = {"_hashlib", "ssl", "_ssl", "lzma", "readline"}


def _modules(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def loaded_at_runtime(code: str) -> set[str]:
    """The split-off stdlib modules that importing actually loads (bacpypes3 imports ctypes through its console),
    less what this interpreter loads at start-up (site, .pth files) and the SOFT ones."""
    return {m for m in _modules(code) - _modules("pass") if m in STDLIB_PACKAGES and m not in SOFT}


def test_bacrouter_depends_are_its_imports():
    declared = depends(ROOT / "Makefile", "bacrouter")
    needed = packages_for(static_imports(ROOT / "bacrouter"), "bacrouter")
    # a guarded import may be declared: ctypes sets MS/TP's timer slack, and runs without it
    wanted = packages_for(static_imports(ROOT / "bacrouter", guarded_ones=True), "bacrouter")
    assert needed <= declared, f"the code needs {sorted(needed - declared)}, not in DEPENDS"
    assert declared <= needed | wanted, f"in DEPENDS, not imported: {sorted(declared - needed - wanted)}"
    assert not declared & set(OPTIONAL.values())


def test_bacrouter_depends_cover_what_a_running_router_loads():
    every_module = ("import pkgutil, importlib, bacrouter\n"
                    "for m in pkgutil.walk_packages(bacrouter.__path__, 'bacrouter.'):\n"
                    "    if not m.name.endswith('__main__'):\n"
                    "        importlib.import_module(m.name)\n")
    loaded = {STDLIB_PACKAGES[m] for m in loaded_at_runtime(every_module)}
    covered = depends(ROOT / "Makefile", "bacrouter")
    for dep in list(covered):
        covered |= FEED_DEPENDS.get(dep, set())
    for name, makefile in FEED.items():
        covered |= depends(makefile, f"python3-{name}")
    assert loaded <= covered, f"loaded but not in any DEPENDS: {sorted(loaded - covered)}"


def test_bacpypes3_depends_are_what_importing_it_loads():
    declared = depends(FEED["bacpypes3"], "python3-bacpypes3")
    # what bacrouter uses of it: the package and the submodules it imports
    used = sorted({m for m in re.findall(r"^\s*(?:from|import) (bacpypes3[\w.]*)",
                                         "\n".join(p.read_text() for p in (ROOT / "bacrouter").rglob("*.py")), re.M)})
    loaded = {STDLIB_PACKAGES[m] for m in loaded_at_runtime("\n".join(f"import {m}" for m in used))}
    assert loaded <= declared, f"bacpypes3 loads {sorted(loaded - declared)} that python3-bacpypes3 does not depend on"
    assert declared - loaded <= {"python3-light"}, f"more than it needs: {sorted(declared - loaded)}"


def test_bottle_depends_are_what_importing_it_loads():
    declared = depends(FEED["bottle"], "python3-bottle")
    loaded = {STDLIB_PACKAGES[m] for m in loaded_at_runtime("import bottle")}
    assert loaded <= declared, f"bottle loads {sorted(loaded - declared)} that python3-bottle does not depend on"
    assert declared - loaded <= {"python3-light"}, f"more than it needs: {sorted(declared - loaded)}"


def test_lupa_depends_are_what_importing_it_loads():
    loaded = {STDLIB_PACKAGES[m] for m in loaded_at_runtime("import lupa.lua54")}
    assert loaded <= depends(FEED["lupa"], "python3-lupa")
