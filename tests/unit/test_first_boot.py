"""First boot gives every router its own identity: from its MAC address, else a random instance, said in the log."""

from __future__ import annotations

import shutil
from pathlib import Path

from bacrouter.config import Paths, defaults, uci
from bacrouter.config.defaults import INSTANCE_BASE, init

ROOT = Path(__file__).resolve().parents[2]


def shipped(tmp_path: Path) -> Paths:
    """A fresh install: the package's /etc/config/bacrouter, and a resource.conf."""
    (tmp_path / "config").mkdir()
    (tmp_path / "bacrouter").mkdir()
    shutil.copy(ROOT / "files" / "bacrouter.config", tmp_path / "config" / "bacrouter")
    (tmp_path / "bacrouter" / "resource.conf").write_text('{"lan": {"type": "ETH", "ifname": "br-lan"}}')
    return Paths(tmp_path)


def main_section(paths: Paths) -> dict:
    return dict(uci.load(paths.uci_file).section("main").options)


def test_the_shipped_file_names_no_device():
    package = uci.load(ROOT / "files" / "bacrouter.config")
    assert "device_name" not in package.section("main").options
    assert "device_instance" not in package.section("main").options


def test_identity_from_the_mac_address(tmp_path, monkeypatch):
    monkeypatch.setattr(defaults, "_mac", lambda device: bytes.fromhex("02005e10abcd") if device == "br-lan" else None)
    paths = shipped(tmp_path)
    init(paths)
    options = main_section(paths)
    assert options["device_instance"] == str(INSTANCE_BASE + 0xABCD)
    assert options["device_name"] == "BACRouter-ABCD"
    assert options["delimiter"] == "|"  # the rest of the shipped file is kept


def test_without_a_mac_a_random_instance_and_the_log_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(defaults, "_mac", lambda device: None)
    monkeypatch.setattr(defaults, "any_mac", lambda: None)
    (tmp_path / "a").mkdir()
    said = init(shipped(tmp_path / "a"))
    instance = int(main_section(Paths(tmp_path / "a"))["device_instance"])
    assert INSTANCE_BASE <= instance < INSTANCE_BASE + 65536
    assert any("no MAC address found: picked the random device instance" in line for line in said)
    names = {main_section(Paths(tmp_path / "a"))["device_name"]}
    for other in "bcd":
        (tmp_path / other).mkdir()
        init(shipped(tmp_path / other))
        names.add(main_section(Paths(tmp_path / other))["device_name"])
    assert len(names) > 1  # four units, not one shared name (the chance of a clash in all four is 2^-48)


def test_an_identity_the_installer_set_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(defaults, "_mac", lambda device: bytes.fromhex("02005e10abcd"))
    paths = shipped(tmp_path)
    text = paths.uci_file.read_text().replace("config bacrouter 'main'\n",
                                              "config bacrouter 'main'\n\toption device_instance '77'\n"
                                              "\toption device_name 'Plant room'\n")
    paths.uci_file.write_text(text)
    init(paths)
    options = main_section(paths)
    assert (options["device_instance"], options["device_name"]) == ("77", "Plant room")
