"""The port editors' form logic and the Ports page's BACnet/IP views, without a server."""

from __future__ import annotations

import bottle

from bacrouter.config import uci
from bacrouter.config.model import BipPort, EthernetPort, MstpPort, Problem, VbusPort
from bacrouter.panel.ports_edit import EDITABLE, apply_form, form_fields, list_rows
from bacrouter.panel.ports_view import bip_live, fdt_tables
from bacrouter.panel.staging import Validation


def form(*pairs: tuple[str, str]) -> bottle.FormsDict:
    data = bottle.FormsDict()
    for key, value in pairs:
        data.append(key, value)
    return data


def section(text: str) -> uci.UciSection:
    return next(iter(uci.parse(text, "bacrouter", "bacrouter")))


def test_every_port_kind_is_editable_with_its_own_options():
    assert list(EDITABLE) == ["bip", "mstp", "ethernet", "vbus"]
    assert [f["option"] for f in form_fields(VbusPort, None)] == ["enabled", "network"]
    assert [f["option"] for f in form_fields(EthernetPort, None)] == ["enabled", "network", "resource"]
    mstp = {f["option"]: f for f in form_fields(MstpPort, None, ["RS485-1"], {"RS485-1": "RS485-1 (/dev/ttyUSB0)"})}
    assert (mstp["max_master"]["min"], mstp["max_master"]["max"], mstp["max_master"]["default"]) == (1, 127, 127)
    assert mstp["baud"]["kind"] == "select" and "115200" in mstp["baud"]["choices"]
    assert mstp["resource"]["choices"] == ["RS485-1"] and mstp["resource"]["labels"]["RS485-1"].endswith("ttyUSB0)")


def test_no_resource_of_the_kind_says_so_at_the_field():
    [resource] = [f for f in form_fields(MstpPort, None, [], {}) if f["option"] == "resource"]
    assert resource["kind"] == "select" and resource["choices"] == []
    assert resource["note"] == "resource.conf has no USB resource: add one first"
    # one the section names that resource.conf lacks stays offered, so the form does not change it silently
    [resource] = [f for f in form_fields(MstpPort, section("config mstp 'm'\n\toption resource 'gone'\n"),
                                         ["RS485-1"]) if f["option"] == "resource"]
    assert resource["choices"] == ["gone", "RS485-1"] and resource["value"] == "gone"


def test_options_of_one_mode_say_which():
    fields = {f["option"]: f for f in form_fields(BipPort, None)}
    assert fields["bdt"]["shown_when"] == "mode=bbmd" and fields["ttl"]["shown_when"] == "mode=foreign"
    assert fields["udp_port"]["shown_when"] == ""
    assert fields["bdt"]["pattern"] and "10.8.0.1" in fields["bdt"]["pattern_title"]


def test_list_entries_one_an_input_and_all_rows_removed_empties_the_list():
    bip = section("config bip 'b'\n\toption network '1'\n\tlist bdt '10.0.0.1'\n")
    apply_form(BipPort, bip, form(("l.bdt", "1"), ("o.bdt", " 10.0.0.2 "), ("o.bdt", ""), ("o.bdt", "10.0.0.3:47809")))
    assert bip.options["bdt"] == ["10.0.0.2", "10.0.0.3:47809"]
    apply_form(BipPort, bip, form(("o.network", "1")))  # a form without the list leaves it alone
    assert bip.options["bdt"] == ["10.0.0.2", "10.0.0.3:47809"]
    apply_form(BipPort, bip, form(("l.bdt", "1")))  # every row removed in the page
    assert "bdt" not in bip.options
    apply_form(BipPort, bip, form(("l.bdt", "1"), ("o.bdt", "10.0.0.4\n10.0.0.5")))  # a textarea's lines
    assert bip.options["bdt"] == ["10.0.0.4", "10.0.0.5"]


def test_an_emptied_required_field_is_left_to_the_loader_to_call_missing():
    vbus = section("config vbus 'v'\n\toption network '9'\n")
    apply_form(VbusPort, vbus, form(("o.enabled", "1"), ("o.network", " ")))
    assert "network" not in vbus.options and "enabled" not in vbus.options  # a default stays unwritten


def test_a_list_entry_s_problem_is_shown_at_its_row():
    problems = [Problem("'10.0.0.300': '10.0.0.300' is not an IPv4 address", section="bip 'b'", option="bdt"),
                Problem("'10.0.0.1:99999' has an invalid UDP port", section="bip 'b'", option="bdt"),
                Problem("option 'bdt' is only used in bbmd mode", section="bip 'b'", option="bdt", severity="warning")]
    rows, rest = list_rows(["10.0.0.1", "10.0.0.300", "10.0.0.1:99999"], problems)
    assert [r["value"] for r in rows] == ["10.0.0.1", "10.0.0.300", "10.0.0.1:99999"]
    assert [[p.message for p in r["problems"]] for r in rows] == [
        [], ["'10.0.0.300' is not an IPv4 address"], ["'10.0.0.1:99999' has an invalid UDP port"]]
    assert [p.severity for p in rest] == ["warning"]


def test_problems_reach_their_field_for_every_kind():
    checked = Validation([
        Problem("missing required option 'resource' (USB (RS485) resource from resource.conf)", section="mstp 'm'"),
        Problem("interface eth1 already carries ethernet 'a'", section="ethernet 'b'", option="resource"),
        Problem("resource 'RS485-1' (/dev/ttyUSB0) is already used by mstp 'm'", section="mstp 'n'",
                option="resource"),
    ])
    assert [p.message for p in checked.at("mstp 'm'", "resource")] == [
        "missing required option 'resource' (USB (RS485) resource from resource.conf)",
        "mstp 'n': resource 'RS485-1' (/dev/ttyUSB0) is already used by mstp 'm'"]
    assert checked.at("mstp 'm'", "network") == []
    assert [p.message for p in checked.at("ethernet 'a'", "resource")] == \
        ["ethernet 'b': interface eth1 already carries ethernet 'a'"]


BBMD = {"name": "one", "kind": "bip", "link": {"mode": "bbmd", "bdt": [], "fdt_size": 64,
                                               "fdt": [{"address": "10.0.0.9:47808", "ttl": 60, "remaining": 71}]}}


def test_the_ports_page_shows_a_bbmd_s_table_and_a_foreign_device_s_registration():
    assert fdt_tables([BBMD, {"name": "m", "kind": "mstp", "link": {}}]) == {"one": BBMD["link"]["fdt"]}
    assert bip_live(BBMD) == {"bip.one.fdt": "1 of at most 64"}
    foreign = {"name": "f", "kind": "bip", "link": {"mode": "foreign", "registration": {
        "bbmd": "10.0.0.1:47808", "state": "registered", "ttl": 60, "last_result": 0, "attempts": 0,
        "expires_in": 80, "next_attempt_in": 50}}}
    assert bip_live(foreign) == {"bip.f.registration": "registered", "bip.f.expires": "80 s",
                                 "bip.f.next": "renewal in 50 s"}
    foreign["link"]["registration"].update(state="rejected", last_result=0x30, expires_in=None, next_attempt_in=12)
    live = bip_live(foreign)
    assert live["bip.f.expires"] == "not registered"
    assert live["bip.f.next"] == "refused by the BBMD (result 0x0030); again in 12 s"
    assert bip_live({"name": "m", "kind": "mstp", "link": {"sniffer": {}}}) == {}
