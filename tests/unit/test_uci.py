"""UCI grammar as libuci implements it, and the canonical writer."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bacrouter.config import uci


def only(text: str) -> uci.UciSection:
    [section] = uci.parse(text).sections
    return section


@pytest.mark.parametrize(
    "line, value",
    [
        ("option v plain", "plain"),
        ("option v 'single quoted'", "single quoted"),
        ('option v "double quoted"', "double quoted"),
        (r"option v 'no \escape'", r"no \escape"),
        (r'option v "esc\"aped"', 'esc"aped'),
        (r"option v un\ quoted", "un quoted"),
        ("option v 'it''s'", "its"),
        ("option v 'it'\\''s'", "it's"),
        ("option v a'b'\"c\"", "abc"),
        ("option v word#comment", "word"),
        ("option v 'not # a comment'", "not # a comment"),
        ("option v 'two\nlines'", "two\nlines"),
        ("option v 'keep'   # trailing comment", "keep"),
        ("o v abbreviated", "abbreviated"),
        ("option v ''\noption v2 x", None),
    ],
)
def test_values(line, value):
    section = only("config t 'n'\n" + line + "\n")
    assert section.options.get("v") == value


def test_backslash_continues_a_line():
    assert only("config t\n\toption v one\\\ntwo\n").options == {"v": "onetwo"}
    assert only('config t\n\toption v "one\\\ntwo"\n').options == {"v": "onetwo"}


def test_lists_and_conversion_of_a_plain_option():
    section = only("config t\n\toption l first\n\tlist l second\n\tl l third\n")
    assert section.options["l"] == ["first", "second", "third"]


def test_repeated_option_replaces_and_keeps_its_place():
    # libuci 2022-11 and later (OpenWrt 23.05+): uci_set on an existing option keeps its position
    section = only("config t\n\toption a 1\n\toption b 2\n\toption a 3\n")
    assert list(section.options.items()) == [("a", "3"), ("b", "2")]


def test_a_bare_cr_is_not_a_line_break():
    section = only("config t\n\toption a 'x\ry'\n\toption b 1\r\n")
    assert section.options == {"a": "x\ry", "b": "1"}


def test_bytes_that_are_not_utf8_load_and_save_unchanged(tmp_path):
    raw = b"\nconfig t 'n'\n\toption a '\xff\xfe caf\xe9'\n\n"
    path = tmp_path / "pkg"
    path.write_bytes(raw)
    package = uci.load(path)
    uci.save(package)
    assert path.read_bytes() == raw


def test_anonymous_names_never_repeat_after_a_removal():
    package = uci.parse("config t\nconfig t\n")
    first, second = (s.name for s in package.sections)
    package.remove(second)
    added = package.add("t")
    assert added.name not in (first, second)


def test_empty_value_is_ignored_like_libuci():
    assert only("config t\n\toption a 1\n\toption a ''\n").options == {"a": "1"}


def test_anonymous_section_names_match_libuci():
    # the names OpenWrt shows for its own default files (uci show -X)
    system = uci.parse("config system\n\toption hostname OpenWrt\n")
    assert system.sections[0].name == "cfg01e48a"
    network = uci.parse("config interface 'loopback'\nconfig globals 'globals'\nconfig device\n\toption name br-lan\n")
    assert network.sections[2].name == "cfg030f15"
    firewall = uci.parse("config defaults\nconfig zone\nconfig zone\nconfig forwarding\n")
    assert [s.name for s in firewall] == ["cfg01e63d", "cfg02dc81", "cfg03dc81", "cfg04ad58"]


def test_extended_section_references():
    package = uci.parse("config a\nconfig b 'x'\nconfig a 'y'\nconfig a\n")
    assert package.section("@a[0]") is package.sections[0]
    assert package.section("@a[1]").name == "y"
    assert package.section("@a[-1]") is package.sections[3]
    assert package.section("@b[0]").name == "x"
    assert package.section("@[1]").name == "x"
    assert package.section("@a[5]") is None
    with pytest.raises(KeyError):
        package.section("@a[x]")


def test_named_section_reopened_merges():
    package = uci.parse("config t 'n'\n\toption a 1\nconfig t 'n'\n\toption b 2\n")
    assert len(package.sections) == 1 and package.sections[0].options == {"a": "1", "b": "2"}


def test_semicolon_separates_commands_after_complete_arguments():
    assert only("config t 'n'; option a '1'\n").options == {"a": "1"}
    # libuci terminates an unquoted word in place, over the ';': the rest of the line is lost
    assert only("config t n;\toption a 1\n").options == {}


@pytest.mark.parametrize(
    "text, reason, line, column",
    [
        ("option a b\n", "option/list command found before the first section", 1, 1),
        ("config a b c\n", "too many arguments", 1, 12),
        ("config 'a' 'b-c'\n", "invalid character in name field", 1, 12),
        ("config t\n\toption a-b c\n", "invalid character in name field", 2, 9),
        ("config t\n\toption a 'b\n", "EOF with unterminated '", 2, 11),
        ('config t\n\toption a "b\n', 'EOF with unterminated "', 2, 11),
        ("confi t\n", "invalid command", 1, 1),
        ("config\n", "invalid command", 1, 1),
        ("config t 'x'\nconfig u 'x'\n", "section of different type overwrites prior section with same name", 2, 14),
        ("config t\n\toption\n", "invalid command", 2, 2),
    ],
)
def test_syntax_errors_are_located(text, reason, line, column):
    with pytest.raises(uci.UciError) as info:
        uci.parse(text, path="/etc/config/x")
    err = info.value
    assert (err.reason, err.line, err.column) == (reason, line, column)
    assert str(err).startswith(f"/etc/config/x:{line}:{column}: ")


def test_writer_matches_uci_commit():
    package = uci.parse("config system\n\toption hostname 'Open Wrt'\n\tlist l \"it's\"\nconfig iface lan\n\toption x y\n")
    assert uci.dumps(package) == (
        "\nconfig system\n\toption hostname 'Open Wrt'\n\tlist l 'it'\\''s'\n"
        "\nconfig iface 'lan'\n\toption x 'y'\n\n"
    )


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8)
values = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=20)


@given(st.lists(st.tuples(names, st.dictionaries(names, st.one_of(values, st.lists(values, min_size=1, max_size=3)),
                                                 max_size=4)), max_size=4))
def test_written_files_read_back_the_same(sections):
    package = uci.UciPackage("t")
    for type_, options in sections:
        section = package.add(type_)
        section.options.update(options)
    again = uci.parse(uci.dumps(package))
    assert [(s.type, s.options) for s in again] == [(s.type, s.options) for s in package]
    assert [s.name for s in again] == [s.name for s in package]


def test_atomic_write_keeps_mode_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "config" / "bacrouter"
    target.parent.mkdir()
    target.write_text("old")
    os.chmod(target, 0o600)
    uci.write_atomic(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["bacrouter"]


def test_failed_atomic_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "bacrouter"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        uci.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bacrouter"]
