"""The README documents every configuration option the schema knows."""

from pathlib import Path

import pytest

from bacrouter.registry import all_section_types

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
OPTIONS = sorted({(t, f.metadata["option"] or f.name) for t, cls in all_section_types().items() for f in cls.options()})


@pytest.mark.parametrize("section, option", OPTIONS)
def test_option_is_documented(section, option):
    assert f"`{section}`" in README
    assert f"`{option}`" in README, f"README does not describe option '{option}' of {section} sections"


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
