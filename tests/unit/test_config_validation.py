"""Every configuration rule, each with a case that breaks it and the message it gives."""

from __future__ import annotations

import textwrap

import pytest

from bacrouter.config import Paths, has_errors
from bacrouter.loader import load_config

RESOURCES = """{
  "eth0": {"type": "ETH", "ifname": "br-lan"},
  "eth1": {"type": "ETH", "ifname": "br-lan:1"},
  "lan2": {"type": "ETH", "ifname": "br-lan"},
  "vpn0": {"type": "PPP", "ifname": "wg0"},
  "RS485-1": {"type": "USB", "ifname": "0:0"},
  "RS485-2": {"type": "USB", "ifname": "/dev/ttyUSB0"}
}
"""

GOOD = """
config bacrouter 'main'
	option device_instance '4001'

config bip 'bip0'
	option resource 'eth0'
	option network '1'
"""


def check(tmp_path, uci_text: str, resources: str = RESOURCES):
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "bacrouter").mkdir(exist_ok=True)
    (tmp_path / "config" / "bacrouter").write_text(textwrap.dedent(uci_text))
    (tmp_path / "bacrouter" / "resource.conf").write_text(resources)
    config, problems = load_config(Paths(tmp_path))
    return config, [str(p).replace(str(tmp_path) + "/", "") for p in problems]


def test_good_config_has_no_problems(tmp_path):
    config, problems = check(tmp_path, GOOD)
    assert problems == []
    assert config.app.device_instance == 4001
    assert [p.name for p in config.ports] == ["bip0"]


CASES = {
    "duplicate network": (GOOD + "config bip 'bip1'\n\toption resource 'eth1'\n\toption network '1'\n",
                          "config/bacrouter:10: bip 'bip1' option 'network': network number 1 is already used by bip 'bip0' (line 5)"),
    "two ports on one serial resource": (
        GOOD + "config mstp 'a'\n\toption resource 'RS485-1'\n\toption network '2'\n"
               "config mstp 'b'\n\toption resource 'RS485-2'\n\toption network '3'\n",
        "config/bacrouter:12: mstp 'b' option 'resource': resource 'RS485-2' (/dev/ttyUSB0) is already used by mstp 'a'"),
    "modbus master on a port's serial resource": (
        GOOD + "config mstp 'a'\n\toption resource 'RS485-1'\n\toption network '2'\n"
               "config modbus_master 'm'\n\toption resource 'RS485-1'\n\toption protocol 'rtu'\n",
        "config/bacrouter:12: modbus_master 'm' option 'resource': resource 'RS485-1' (/dev/ttyUSB0) is already used by mstp 'a'"),
    "two ethernet ports on one interface": (
        GOOD + "config ethernet 'e1'\n\toption resource 'eth0'\n\toption network '2'\n"
               "config ethernet 'e2'\n\toption resource 'lan2'\n\toption network '3'\n",
        "config/bacrouter:12: ethernet 'e2' option 'resource': interface br-lan already carries ethernet 'e1'"),
    "normal mode on PPP": (GOOD + "config bip 'vpn'\n\toption resource 'vpn0'\n\toption network '2'\n",
                           "config/bacrouter:8: bip 'vpn' option 'mode': resource 'vpn0' is a PPP (layer 3) interface: only foreign or bbmd mode is allowed"),
    "UDP port clash": (GOOD + "config bip 'bip1'\n\toption resource 'lan2'\n\toption network '2'\n",
                       "config/bacrouter:8: bip 'bip1' option 'udp_port': br-lan UDP 47808 is already bound by bip 'bip0': use another udp_port or ip"),
    "unknown resource": (GOOD.replace("'eth0'", "'eth7'"),
                         "config/bacrouter:6: bip 'bip0' option 'resource': unknown resource 'eth7' (resource.conf has: RS485-1, RS485-2, eth0, eth1, lan2, vpn0)"),
    "wrong resource type": (GOOD + "config mstp 'm'\n\toption resource 'eth1'\n\toption network '2'\n",
                            "config/bacrouter:9: mstp 'm' option 'resource': resource 'eth1' is ETH, a mstp port needs USB"),
    "network out of range": (GOOD.replace("network '1'", "network '65535'"),
                             "config/bacrouter:7: bip 'bip0' option 'network': 65535 is out of range 1..65534"),
    "network not a number": (GOOD.replace("network '1'", "network 'one'"),
                             "config/bacrouter:7: bip 'bip0' option 'network': 'one' is not a whole number"),
    "missing network": (GOOD.replace("\toption network '1'\n", ""),
                        "config/bacrouter:5: bip 'bip0': missing required option 'network' (BACnet network number of the port)"),
    "device instance out of range": (GOOD.replace("'4001'", "'4194303'"),
                                     "config/bacrouter:3: bacrouter 'main' option 'device_instance': 4194303 is out of range 0..4194302"),
    "udp port out of range": (GOOD + "\toption udp_port '70000'\n",
                              "config/bacrouter:8: bip 'bip0' option 'udp_port': 70000 is out of range 1..65535"),
    "bad mode": (GOOD + "\toption mode 'router'\n",
                 "config/bacrouter:8: bip 'bip0' option 'mode': 'router' is not one of normal, foreign, bbmd"),
    "bad boolean": (GOOD + "\toption enabled 'maybe'\n",
                    "config/bacrouter:8: bip 'bip0' option 'enabled': 'maybe' is not a boolean (use 1 or 0)"),
    "delimiter too long": (GOOD.replace("option device_instance '4001'", "option delimiter '||'"),
                           "config/bacrouter:3: bacrouter 'main' option 'delimiter': longer than 1 bytes"),
    "device name too long": (GOOD.replace("option device_instance '4001'", "option device_name '" + "x" * 65 + "'"),
                             "config/bacrouter:3: bacrouter 'main' option 'device_name': longer than 64 bytes"),
    "foreign without bbmd": (GOOD + "\toption mode 'foreign'\n",
                             "config/bacrouter:8: bip 'bip0' option 'mode': foreign device mode needs the BBMD address (option 'bbmd')"),
    "bad bbmd address": (GOOD + "\toption mode 'foreign'\n\toption bbmd '10.0.0.1:99999'\n",
                         "config/bacrouter:9: bip 'bip0' option 'bbmd': '10.0.0.1:99999' has an invalid UDP port"),
    "bad bdt entry": (GOOD + "\toption mode 'bbmd'\n\tlist bdt '10.0.0.300'\n",
                      "config/bacrouter:9: bip 'bip0' option 'bdt': '10.0.0.300': '10.0.0.300' is not an IPv4 address"),
    "bad bdt mask": (GOOD + "\toption mode 'bbmd'\n\tlist bdt '10.0.0.3/255.0.255.0'\n",
                     "config/bacrouter:9: bip 'bip0' option 'bdt': '10.0.0.3/255.0.255.0': '255.0.255.0' is not a netmask"),
    "bad bdt port": (GOOD + "\toption mode 'bbmd'\n\tlist bdt '10.0.0.1:99999/24'\n",
                     "config/bacrouter:9: bip 'bip0' option 'bdt': '10.0.0.1:99999/24': '10.0.0.1:99999' has an invalid UDP port"),
    "bad ip option": (GOOD + "\toption ip '10.1'\n",
                      "config/bacrouter:8: bip 'bip0' option 'ip': '10.1' is not an IPv4 address"),
    "mstp mac above max master": (GOOD + "config mstp 'm'\n\toption resource 'RS485-1'\n\toption network '2'\n"
                                         "\toption mac '40'\n\toption max_master '30'\n",
                                  "config/bacrouter:11: mstp 'm' option 'mac': mac 40 is above max_master 30: no master would ever pass it the token"),
    "mstp baud": (GOOD + "config mstp 'm'\n\toption resource 'RS485-1'\n\toption network '2'\n\toption baud '4800'\n",
                  "config/bacrouter:11: mstp 'm' option 'baud': '4800' is not one of 9600, 19200, 38400, 57600, 76800, 115200"),
    "two vbus ports": (GOOD + "config vbus 'v1'\n\toption network '7'\nconfig vbus 'v2'\n\toption network '8'\n",
                       "config/bacrouter:10: vbus 'v2': only one vbus port may be enabled (the first is vbus 'v1')"),
    "two main sections": (GOOD + "config bacrouter 'other'\n",
                          "config/bacrouter:8: bacrouter 'other': only one bacrouter section is allowed (the first is at line 2)"),
    "list where a value belongs": (GOOD + "\tlist network '2'\n",
                                   "config/bacrouter:8: bip 'bip0' option 'network': expected a single value, found a list"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule(tmp_path, name):
    text, expected = CASES[name]
    _, problems = check(tmp_path, text)
    assert expected in problems, "\n".join(problems)
    assert has_errors([p for p in load_config(Paths(tmp_path))[1]])


WARNINGS = {
    "misspelt option": (GOOD + "\toption netwrok '2'\n",
                        "config/bacrouter:8: bip 'bip0' option 'netwrok': warning: unknown option 'netwrok' for a bip section"),
    "unknown section": (GOOD + "config bridge 'b'\n",
                        "config/bacrouter:8: bridge 'b': warning: unknown section type 'bridge'"),
    "bdt outside bbmd mode": (GOOD + "\tlist bdt '10.0.0.2'\n",
                              "config/bacrouter:8: bip 'bip0' option 'bdt': warning: option 'bdt' is only used in bbmd mode (mode is normal)"),
    "nothing enabled": (GOOD + "\toption enabled '0'\n", "config/bacrouter: warning: no port is enabled: the router will not route"),
}


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_warning(tmp_path, name):
    text, expected = WARNINGS[name]
    _, problems = check(tmp_path, text)
    assert problems == [expected]


def test_disabled_ports_do_not_clash(tmp_path):
    text = GOOD + "config bip 'bip1'\n\toption enabled '0'\n\toption resource 'eth0'\n\toption network '1'\n"
    assert check(tmp_path, text)[1] == []


def test_uci_syntax_error_is_located(tmp_path):
    config, problems = check(tmp_path, GOOD + "\toption udp_port '47808\n")
    assert config is None
    assert problems == ["config/bacrouter:8: EOF with unterminated ' (column 18)\n"
                        "    \toption udp_port '47808\n    \t                ^"]


def test_curly_quotes_in_resource_conf_are_pointed_at(tmp_path):
    _, problems = check(tmp_path, GOOD, '{ \u201ceth0\u201d: { "type": "ETH", "ifname": "br-lan" } }')
    assert problems[0].startswith("bacrouter/resource.conf:1: '\u201c' (U+201C, left double quotation mark) is not valid "
                                  "JSON here: JSON needs straight quotes (\") (column 3)\n")
    # the ports that use resources are not blamed for the broken file
    assert len(problems) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"eth0": {"type": "ETH", "ifname": "br-lan"},}', "Expecting property name enclosed in double quotes"),
        ('{"eth0": {"type": "WIFI", "ifname": "wlan0"}}', "resource 'eth0': type 'WIFI' is not one of ETH, USB, PPP"),
        ('{"eth0": {"type": "ETH"}}', "resource 'eth0': missing \"ifname\""),
        ('{"eth0": {"type": "ETH", "ifname": "a", "baud": 9600}}', "resource 'eth0': unknown key 'baud'"),
        ('{"eth0": {"type": "ETH", "ifname": "a"}, "eth0": {"type": "ETH", "ifname": "b"}}', "key 'eth0' appears twice"),
        ('["eth0"]', "expected a JSON object of resources"),
    ],
)
def test_resource_conf_errors(tmp_path, text, message):
    _, problems = check(tmp_path, GOOD, text)
    assert message in problems[0]


def test_options_used_only_with_another_value_name_real_options_and_values():
    """``used_when`` (what an editor hides): each names an option of its section and values it can have."""
    from bacrouter.config.model import PORT_TYPES, BipPort

    assert BipPort.used_when["bdt"] == ("mode", ("bbmd",))
    for cls in PORT_TYPES.values():
        fields = {f.metadata["option"] or f.name: f for f in cls.options()}
        for option, (other, values) in cls.used_when.items():
            assert option in fields and other in fields, (cls, option)
            assert set(values) <= set(fields[other].metadata["choices"]), (cls, option)
