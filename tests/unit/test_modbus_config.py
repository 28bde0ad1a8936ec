"""The gateway's configuration: points files in the device-config format, and every rule with its message."""

from __future__ import annotations

import json

import pytest

from bacrouter.config import Paths, has_errors
from bacrouter.loader import load_config
from bacrouter.modbus.mapping import map_gateway
from bacrouter.modbus.schema import ModbusSlave

RESOURCES = {"eth0": {"type": "ETH", "ifname": "br-lan"}, "RS485-1": {"type": "USB", "ifname": "/dev/ttyUSB0"}}
BASE = """
config bacrouter 'main'
	option device_instance '4001'

config bip 'lan'
	option resource 'eth0'
	option network '1'

config modbus_master 'rtu1'
	option protocol 'rtu'
	option resource 'RS485-1'

config modbus_slave 'meter'
	option master 'rtu1'
	option station '3'
	option instance '5003'
"""


def point(name="t", **kwargs):
    raw = {"name": name, "object_type": "ai", "address_type": "holding", "address": 0, "data_type": "u16",
           "instance": 1}
    raw.update(kwargs)
    return raw


def check(tmp_path, points, extra="", uci=BASE):
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "bacrouter" / "modbus").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "bacrouter").write_text(uci + extra)
    (tmp_path / "bacrouter" / "resource.conf").write_text(json.dumps(RESOURCES))
    if points is not None:
        text = points if isinstance(points, str) else json.dumps({"points": points})
        (tmp_path / "bacrouter" / "modbus" / "meter.json").write_text(text)
    config, problems = load_config(Paths(tmp_path))
    return config, [str(p).replace(str(tmp_path) + "/", "") for p in problems]


def test_a_good_slave(tmp_path):
    config, problems = check(tmp_path, [point("temp", instance=1), point("setpoint", object_type="av", instance=2)])
    assert problems == []
    [slave] = config.sections_of(ModbusSlave)
    assert [p.name for p in slave.point_list] == ["temp", "setpoint"]
    plan = map_gateway(config)
    assert not plan.virtual
    [meter] = plan.slaves
    assert [(p.object_type, p.instance, p.name) for p in meter.points] == [("ai", 1001, "rtu1|meter|temp"),
                                                                           ("av", 1002, "rtu1|meter|setpoint")]
    assert meter.status_names["online"] == "rtu1|meter|comm|online"


F = "bacrouter/modbus/meter.json: modbus_slave 'meter': "

RULES = {
    "float on a coil": ([point(address_type="coil", data_type="float")],
                        F + "point 1 't' key 'data_type': float needs registers, not a coil"),
    "address past 65535": ([point(address=65535, data_type="u32")],
                           F + "point 1 't' key 'address': 2 register(s) from 65535 run past 65535"),
    "address out of range": ([point(address=70000)], F + "point 1 't' key 'address': 70000 is outside 0..65535"),
    "output on an input register": ([point(object_type="ao", address_type="input")],
                                    F + "point 1 't' key 'address_type': an output object needs a writable address "
                                        "(coil or holding), not input"),
    "multistate without texts": ([point(object_type="mi")],
                                 F + "point 1 't' key 'state_texts': a multistate object needs its state texts"),
    "state values and texts": ([point(object_type="mv", state_texts=["a", "b"], state_values=[1])],
                               F + "point 1 't' key 'state_values': 1 values for 2 state texts"),
    "binary with three texts": ([point(object_type="bi", state_texts=["a", "b", "c"])],
                                F + "point 1 't' key 'state_texts': a binary object has 2 state texts, not 3"),
    "unknown data type": ([point(data_type="u24")],
                          F + "point 1 't' key 'data_type': 'u24' is not one of u16, s16, u32, s32, float, u64, s64, "
                              "double or a conversion (o...)"),
    "unknown conversion": ([point(data_type="ofoo")],
                           F + "point 1 't' key 'data_type': no conversion 'foo' (known: bcd, compat_bcd, low10th, m10k)"),
    "bit field too wide": ([point(bit_offset=12, bit_len=8)],
                           F + "point 1 't' key 'bit_offset': bits 12..19 do not fit 1 register(s)"),
    "bad object type": ([point(object_type="xx")],
                        F + "point 1 't' key 'object_type': 'xx' is not one of ai, ao, av, bi, bo, bv, mi, mo, mv"),
    "duplicate names": ([point("a", instance=1), point("a", instance=2)],
                        F + "point 2 'a': the name is already point 1's"),
    "overlapping outputs": ([point("a", object_type="ao", address=10, data_type="u32"),
                             point("b", object_type="ao", address=11, instance=2)],
                            F + "point 2 'b': output on holding 11 overlaps output point 1 'a' (outputs are verified "
                                "by reading back, so they may not share an address)"),
    "not a number": ([point(scale="x")], F + "point 1 't' key 'scale': 'x' is not a number"),
    "unknown unit": ([point(unit="furlongs")],
                     F + "point 1 't' key 'unit': 'furlongs' is not a BACnet engineering unit (a number, or a name "
                         "such as degrees-celsius)"),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_point_rule(tmp_path, name):
    points, expected = RULES[name]
    _, problems = check(tmp_path, points)
    assert expected in problems, "\n".join(problems)


UCI_RULES = {
    "unknown master": ("config modbus_slave 'x'\n\toption master 'nope'\n\toption points '/dev/null'\n",
                       "config/bacrouter:18: modbus_slave 'x' option 'master': no modbus_master 'nope' (known: rtu1)"),
    "station 0 on a line": ("config modbus_slave 'x'\n\toption master 'rtu1'\n\toption station '0'\n",
                            "config/bacrouter:19: modbus_slave 'x' option 'station': station 0 on a serial line must be 1..247"),
    "tcp without host": ("config modbus_master 'tcp1'\n\toption protocol 'tcp'\n",
                         "config/bacrouter:18: modbus_master 'tcp1' option 'protocol': protocol tcp needs the server's "
                         "address (option 'host')"),
    "serial without resource": ("config modbus_master 'rtu2'\n\toption protocol 'ascii'\n",
                                "config/bacrouter:18: modbus_master 'rtu2' option 'protocol': protocol ascii needs an "
                                "RS485 resource (option 'resource')"),
    "line used by a port": ("config mstp 'm'\n\toption resource 'RS485-1'\n\toption network '5'\n",
                            "config/bacrouter:11: modbus_master 'rtu1' option 'resource': resource 'RS485-1' "
                            "(/dev/ttyUSB0) is already used by mstp 'm'"),
    "block used twice": ("\toption block '2'\nconfig modbus_slave 'x'\n\toption master 'rtu1'\n\toption block '2'\n"
                         "\toption points 'modbus/meter.json'\n",
                         "config/bacrouter:20: modbus_slave 'x' option 'block': instance block 2 is already "
                         "modbus_slave 'meter''s"),
    "virtual without instance": ("config vbus 'v'\n\toption network '9'\nconfig modbus_slave 'x'\n\toption master 'rtu1'\n"
                                 "\toption points 'modbus/meter.json'\n",
                                 "config/bacrouter:19: modbus_slave 'x': virtual-device mode (a vbus port is enabled) "
                                 "needs a device instance per slave (option 'instance')"),
    "virtual instance twice": ("config vbus 'v'\n\toption network '9'\nconfig modbus_slave 'x'\n\toption master 'rtu1'\n"
                               "\toption instance '5003'\n\toption points 'modbus/meter.json'\n",
                               "config/bacrouter:21: modbus_slave 'x' option 'instance': device instance 5003 is already "
                               "modbus_slave 'meter''s"),
    "virtual instance of the router": ("config vbus 'v'\n\toption network '9'\nconfig modbus_slave 'x'\n"
                                       "\toption master 'rtu1'\n\toption instance '4001'\n\toption points 'modbus/meter.json'\n",
                                       "config/bacrouter:21: modbus_slave 'x' option 'instance': device instance 4001 is "
                                       "the router's own"),
}


@pytest.mark.parametrize("name", sorted(UCI_RULES))
def test_uci_rule(tmp_path, name):
    extra, expected = UCI_RULES[name]
    _, problems = check(tmp_path, [point()], extra)
    assert expected in problems, "\n".join(problems)
    assert has_errors(load_config(Paths(tmp_path))[1])


def test_taken_instances_are_moved_and_reported(tmp_path):
    config, problems = check(tmp_path, [point("a", instance=5), point("b", instance=5), point("c", instance=1500)])
    assert F + "warning: point 2 'b': instance 5 is taken: using 0" in problems
    assert F + "warning: point 3 'c': instance 1500 is outside 0..999: using 1" in problems
    assert not has_errors(load_config(Paths(tmp_path))[1])
    [meter] = map_gateway(config).slaves
    assert [p.instance for p in meter.points] == [1005, 1000, 1001]


def test_status_objects_keep_their_instances(tmp_path):
    config, problems = check(tmp_path, [point("a", object_type="bi", address_type="coil", instance=999)])
    assert F + "warning: point 1 'a': instance 999 is taken: using 0" in problems


def test_points_file_errors_are_located(tmp_path):
    _, problems = check(tmp_path, '{"points": [\n  {"name": "a",}\n]}')
    assert problems == ["bacrouter/modbus/meter.json:2: modbus_slave 'meter': "
                        "Expecting property name enclosed in double quotes (column 16)"]
    _, problems = check(tmp_path, None, uci=BASE.replace("option instance '5003'", "option points 'modbus/none.json'"))
    assert problems == ["config/bacrouter:16: modbus_slave 'meter' option 'points': points file "
                        f"{tmp_path}/bacrouter/modbus/none.json not found".replace(str(tmp_path) + "/", "")]


def test_the_original_device_file_with_slave_keys_is_accepted_as_points_file(tmp_path):
    original = {"enable": 1, "name": "RDF302", "station": 3, "baudrate": 9600, "group_reg": 10,
                "points": [point("room", unit=62, cov_increment=0.5, vendor_key="kept")]}
    config, problems = check(tmp_path, json.dumps(original))
    # an unknown key is said (a misspelt one would otherwise go unnoticed), and stays in the file for export
    assert problems == ["bacrouter/modbus/meter.json: modbus_slave 'meter': warning: points[0] 'room': unknown key "
                        "'vendor_key'"]
    assert config.sections_of(ModbusSlave)[0].point_list[0].cov_increment == 0.5


def test_user_conversion_scripts_extend_the_data_types(tmp_path, monkeypatch):
    from bacrouter.lua import conversions as registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._registry()))  # this test's registrations stay here
    conversions = tmp_path / "bacrouter" / "conversions"
    conversions.mkdir(parents=True)
    (conversions / "half.lua").write_text(
        "return {registers = 1, decode = function(r) return r[1] / 2, true end,"
        " encode = function(v, n) return {math.floor(v * 2)} end}")
    (conversions / "broken.lua").write_text("return {registers = 1, decode = ")
    config, problems = check(tmp_path, [point(data_type="ohalf")])
    assert problems == ["bacrouter/conversions/broken.lua: conversion script: broken.lua:1: unexpected symbol "
                        "near <eof>"]
    from bacrouter.modbus.datatypes import ValueCodec

    codec = ValueCodec.build("ohalf", "holding")
    assert codec.decode([7]) == (3.5, True) and codec.encode(3.5) == [7]
