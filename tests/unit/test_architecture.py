"""The shape of the code: no import cycles, and features reach the router only through its seams.

Every import counts: at module level, inside functions, and under
``TYPE_CHECKING`` (a cycle hidden there is still two modules that need each
other).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bacrouter"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The bacrouter modules ``name`` imports, wherever in the file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # "from pkg import mod" imports the module; "from mod import name" the module itself
            targets = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]  # a name inside a module: the module
            if target and target != name and not name.startswith(target + "."):
                found.add(target)  # (a package's own __init__ is not a dependency of its modules)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_relative_imports_resolve(tmp_path):
    known = {"bacrouter.net.node", "bacrouter.net.host", "bacrouter.config", "bacrouter.config.model"}
    source = tmp_path / "node.py"
    source.write_text("from .host import PortHost\nfrom ..config.model import Port\nfrom ..config import uci\n"
                      "def f():\n    from . import host\n")
    assert imports_of("bacrouter.net.node", source, known) == {"bacrouter.net.host", "bacrouter.config.model",
                                                               "bacrouter.config"}


def test_no_import_cycles_between_modules():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir() else module


def test_no_import_cycles_between_packages():
    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        edges.setdefault(package_of(module), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(module))
    cycle = find_cycle(edges)
    assert cycle is None, "package import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("feature", ["bacrouter.modbus", "bacrouter.freeclient", "bacrouter.mbus", "bacrouter.mstp"])
def test_ports_and_gateways_never_import_the_node(feature):
    offenders = [m for m, targets in graph().items() if m.startswith(feature + ".") and "bacrouter.net.node" in targets]
    assert not offenders, f"{offenders} reach into the router node: use bacrouter.net.host"


def test_the_router_core_knows_no_feature():
    core = [m for m in graph() if m.startswith(("bacrouter.net.", "bacrouter.config."))]
    for module in core:
        features = {t for t in graph()[module] if t.startswith(("bacrouter.modbus", "bacrouter.freeclient",
                                                                 "bacrouter.mbus", "bacrouter.lua"))}
        assert not features, f"{module} imports {features}"


def _imported_by_check(config_dir: Path) -> set[str]:
    code = ("import sys, runpy; sys.argv = ['bacrouter', 'check', '--config-dir', %r]\n"
            "try:\n    runpy.run_module('bacrouter', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('MODULES', ' '.join(sorted(sys.modules)))" % str(config_dir))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
    line = next(line for line in out.splitlines() if line.startswith("MODULES "))
    return set(line.split()[1:])


def test_check_of_a_plain_router_loads_neither_bacpypes3_nor_lupa(tmp_path):
    subprocess.run([sys.executable, "-m", "bacrouter", "init", "--config-dir", str(tmp_path)], check=True,
                   capture_output=True, cwd=ROOT, timeout=60)
    loaded = _imported_by_check(tmp_path)
    assert "bacrouter.config.model" in loaded  # it did check
    assert not {m for m in loaded if m.split(".")[0] in ("bacpypes3", "lupa")}
    assert not {m for m in loaded if m.startswith(("bacrouter.modbus.gateway", "bacrouter.freeclient.gateway"))}


def test_the_panel_process_imports_no_asyncio_nor_protocol_code():
    """The panel's memory is counted (issue 13: under 30 MB): it talks to the daemon through the blocking
    control client and never needs the event loop, bacpypes3, lupa or a gateway."""
    code = ("import sys; import bacrouter.panel.app, bacrouter.panel.server; "
            "print('MODULES', ' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
    loaded = set(next(line for line in out.splitlines() if line.startswith("MODULES ")).split()[1:])
    assert "bacrouter.panel.app" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("asyncio", "bacpypes3", "lupa", "serial")}
    assert not {m for m in loaded if m.startswith(("bacrouter.modbus.gateway", "bacrouter.freeclient.gateway",
                                                   "bacrouter.net", "bacrouter.mstp"))}
