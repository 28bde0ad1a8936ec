"""The documentation stays true: the configuration reference is the schema's, links resolve, nothing
points outside the repository, and ``bacrouter help config`` prints the same reference."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bacrouter.config.reference import REGENERATE, render, render_section
from bacrouter.registry import all_section_types as section_types

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

#: modules the architecture describes that are being added in parallel (drop them here once they exist)
PLANNED: set[str] = set()  # paths the docs may cite before they exist

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$", re.M)


def _prose(text: str) -> str:
    """The text without fenced code blocks (examples may show anything)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower().replace(" ", "-")
    return "".join(c for c in text if c.isalnum() or c in "-_")


def test_configuration_reference_is_current():
    committed = (DOCS / "configuration.md").read_text()
    assert committed == render(section_types()), (
        f"docs/configuration.md is stale: the schema changed. Regenerate it: {REGENERATE}")


@pytest.mark.parametrize("name", list(section_types()))
def test_every_option_is_in_the_reference(name):
    cls = section_types()[name]
    text = render_section(cls, name)
    assert text.startswith(f"### {name}\n")
    for f in cls.options():
        option = f.metadata["option"] or f.name
        assert f"| `{option}` |" in text, f"option '{option}' of {name} sections is missing from the reference"


def test_readme_starts_with_the_two_commands():
    first_block = README.read_text().split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_readme_is_short():
    assert len(README.read_text().encode()) < 8 * 1024, "README.md is for newcomers: move detail into docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_reference_outside_the_repository(page):
    text = page.read_text()
    assert "../shared" not in text and "/work/" not in text, f"{page.name} points outside the repository"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.is_relative_to(ROOT), f"{page.name}: link {target!r} leaves the repository"
        assert file.exists(), f"{page.name}: link {target!r} points at a file that does not exist"
        if anchor and file.suffix == ".md":
            anchors = {_anchor(h) for h in HEADING.findall(_prose(file.read_text()))}
            assert anchor in anchors, f"{page.name}: link {target!r}: no heading #{anchor} in {file.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_cited_modules_exist(page):
    for path in set(re.findall(r"(?<![\w/.-])bacrouter/[\w/]+(?:\.py|/)", page.read_text())):
        if path in PLANNED:
            continue
        assert (ROOT / path).exists(), f"{page.name} cites {path}, which does not exist"


# --------------------------------------------------------------------------- bacrouter help config


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bacrouter", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_help_config_section():
    done = _cli("help", "config", "bip")
    assert done.returncode == 0, done.stderr
    assert done.stdout == render_section(section_types()["bip"], "bip")
    assert "| `udp_port` | integer | `47808` | 1..65535 |" in done.stdout


def test_help_config_prints_the_committed_reference():
    done = _cli("help", "config")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (DOCS / "configuration.md").read_text()


def test_help_config_unknown_section():
    done = _cli("help", "config", "bipp")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "unknown section type 'bipp'" in done.stderr
    for name in section_types():
        assert name in done.stderr


def test_reference_needs_no_heavy_imports():
    code = ("import sys, bacrouter.config.reference as r, bacrouter.registry as g; r.render(g.all_section_types()); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'bacpypes3', 'lupa'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
