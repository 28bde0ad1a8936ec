"""The point keys of the device-config format (bacrouter.modbus.pointschema): editing a point from a form's
texts, new and copied points, where a problem of a points file is, and the free blocks and instances a copy of a
slave takes (bacrouter.modbus.collisions, bacrouter.freeclient.collisions)."""

from __future__ import annotations

import json
from pathlib import Path

from bacrouter.config.model import Problem
from bacrouter.freeclient.collisions import device_instances
from bacrouter.loader import load_config
from bacrouter.modbus.collisions import lowest_free, taken_blocks
from bacrouter.modbus.devconfig import POINT_KEYS, parse_points
from bacrouter.modbus.pointschema import (
    POINT_SCHEMA,
    copy_point,
    edit_point,
    form_text,
    markdown_table,
    new_point,
    point_location,
)
from bacrouter.panel.editors import field_link, option_link
from bacrouter.paths import Paths

ROOT = Path(__file__).resolve().parents[2]
POINT = {"name": "flow", "object_type": "ai", "address_type": "holding", "address": "10", "instance": 1,
         "enable": 1, "scale": 0.1, "state_texts": [], "x-ui": {"col": 3}}


def test_every_key_of_the_format_has_a_doc():
    assert tuple(spec.key for spec in POINT_SCHEMA) == POINT_KEYS
    assert all(spec.doc for spec in POINT_SCHEMA)


def test_docs_modbus_md_holds_the_table_of_point_keys():
    assert markdown_table() in (ROOT / "docs" / "modbus.md").read_text()


def texts_of(raw: dict) -> dict:
    """What the point editor's form sends back unchanged."""
    return {spec.key: (bool(raw.get(spec.key, spec.default)) if spec.kind == "bool" else
                       form_text(spec.key, raw.get(spec.key))) for spec in POINT_SCHEMA}


def test_an_unchanged_form_keeps_the_point_as_the_file_wrote_it():
    assert edit_point(POINT, texts_of(POINT)) == POINT  # "10" stays text, enable stays 1, x-ui stays


def test_edited_keys_are_typed_and_empty_ones_removed():
    texts = texts_of(POINT)
    texts.update({"address": "12", "scale": "0.5", "unit": "62", "cov_increment": "1e-1", "enable": False,
                  "state_texts": "Off\nOn\n", "state_values": "0, 1", "description": "", "polarity": True})
    texts["object_type"] = "mv"
    point = edit_point(POINT, texts)
    assert point["address"] == 12 and point["scale"] == 0.5 and point["unit"] == 62
    assert point["cov_increment"] == 0.1 and point["enable"] == 0  # written the way the file wrote it (1/0)
    assert point["state_texts"] == ["Off", "On"] and point["state_values"] == [0, 1] and point["polarity"] is True
    assert point["x-ui"] == {"col": 3} and "description" not in point and point["object_type"] == "mv"
    texts["scale"] = ""
    assert "scale" not in edit_point(POINT, texts)  # the default (1) applies
    texts["name"] = ""
    assert edit_point(POINT, texts)["name"] == ""  # required: kept, so the check says "no name"


def test_text_that_is_no_number_is_kept_for_the_check_to_locate():
    texts = dict(texts_of(POINT), address="twelve", state_texts="@onoff")
    point = edit_point(POINT, texts)
    assert point["address"] == "twelve" and point["state_texts"] == "onoff"  # a set of the user library
    _, problems = parse_points({"points": [point]}, "", lambda name: ["Off", "On"] if name == "onoff" else None)
    assert any("key 'address'" in p for p in problems)
    assert [point_location(p.removeprefix(": ")) for p in problems if "key 'address'" in p] == [(0, "address")]


def test_keys_the_form_does_not_send_stay():
    assert edit_point(POINT, {"name": "other"}) == dict(POINT, name="other")


def test_new_and_copied_points_take_a_free_name_and_instance():
    points = [dict(POINT), {"name": "flow_2", "object_type": "ai", "address_type": "holding", "address": 11,
                            "instance": 2, "data_type": "float"}]
    fresh = new_point(points)
    assert fresh["name"] == "point3" and fresh["instance"] == 3 and fresh["address"] == 13  # after the float
    copy = copy_point(points, 0)
    assert copy["name"] == "flow_3" and copy["instance"] == 3 and copy["x-ui"] == {"col": 3}
    assert points[0]["name"] == "flow"  # the original is untouched
    assert new_point([], "bo", "coil") == {"name": "point1", "instance": 1, "enable": True, "object_type": "bo",
                                           "address_type": "coil", "address": 0, "data_type": "u16"}


def test_where_a_problem_of_a_points_file_is():
    assert point_location("point 3 'flow' key 'address_type': 'x' is not one of ...") == (2, "address_type")
    assert point_location("point 2 'it's' key 'unit': bad") == (1, "unit")
    assert point_location("point 5 'a': the name is already point 1's") == (4, "")
    assert point_location("(disabled) point 1 'a' key 'scale': 0 would ...") == (0, "scale")
    assert point_location("point 7: no name") == (6, "")
    assert point_location("points[2] 'flow': unknown key 'scael'") == (2, "")
    assert point_location("station 250 on a serial line must be 1..247") is None
    assert point_location("no enabled points: nothing is polled") is None


def test_problems_link_to_the_editor_registered_for_their_section_type():
    editors = {"bip": option_link("/config/ports"), "modbus_master": option_link("/modbus/masters")}
    assert field_link(editors, Problem("x", section="bip 'one'", option="network")) == \
        "/config/ports/one#field-network"
    assert field_link(editors, Problem("x", section="modbus_master 'm'")) == "/modbus/masters/m"
    assert field_link(editors, Problem("x", section="mstp 'one'")) is None
    assert field_link(editors, Problem("x")) is None


CONFIG = """config bacrouter 'main'
	option device_instance '4100'

config vbus 'vbus'
	option network '9'

config modbus_master 'm'
	option protocol 'tcp'
	option host '127.0.0.1'

config modbus_slave 'a'
	option master 'm'
	option instance '4101'
	option block '2'

config modbus_slave 'b'
	option master 'm'
	option station '2'
	option instance '4103'

config modbus_slave 'off'
	option master 'm'
	option enabled '0'
	option station '3'
	option instance '4102'
	option block '5'

config freeclient_bus 'bus'
	option resource 'none'
	option definition 'freeclient/bus.json'
	option enabled '0'
"""


def test_a_copy_does_not_take_a_block_or_instance_that_is_taken(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "bacrouter" / "modbus").mkdir(parents=True)
    (tmp_path / "bacrouter" / "freeclient").mkdir()
    (tmp_path / "config" / "bacrouter").write_text(CONFIG)
    (tmp_path / "bacrouter" / "resource.conf").write_text("{}")
    for name in ("a", "b", "off"):
        (tmp_path / "bacrouter" / "modbus" / f"{name}.json").write_text('{"points": []}')
    (tmp_path / "bacrouter" / "freeclient" / "bus.json").write_text(json.dumps(
        {"name": "bus", "fcdevices": [{"name": "d", "instance": 4104, "fcpoints": []}]}))
    config, problems = load_config(Paths(tmp_path))
    assert config is not None, [str(p) for p in problems]
    blocks = taken_blocks(config)
    assert {2, 5} <= blocks and 1 in blocks  # 'b' was given block 1; the disabled slave keeps its own
    assert lowest_free(blocks, 1, 4193) == 3
    instances = device_instances(config)
    assert {4100, 4101, 4102, 4103, 4104} <= instances  # the router's, the slaves', the Free Client device's
    assert lowest_free(instances, 4101, 4194302) == 4105
    assert lowest_free({1, 2}, 1, 2) is None
