"""Rules that span options and sections: every problem, with its location.

``validate()`` never stops at the first problem: an installer fixing a config
on site wants the whole list in one go.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from .model import BipPort, Config, EthernetPort, MstpPort, Port, Problem, VbusPort
from .resources import ResourceType

__all__ = ["validate", "resource_problems", "parse_host_port", "parse_bdt_entry"]

BACNET_IP_PORT = 47808


def parse_host_port(text: str, default_port: int = BACNET_IP_PORT) -> tuple[str, int]:
    """``host[:port]`` → (host, port); raise ValueError with a reason."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = text.strip(), ""
    if not host:
        raise ValueError(f"{text!r} has no host")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{text!r} has an invalid UDP port")
        port = int(port_text)
    return host, port


def parse_bdt_entry(text: str) -> tuple[ipaddress.IPv4Address, int, ipaddress.IPv4Address]:
    """``ip[:port][/mask]`` → (ip, port, broadcast distribution mask).

    The mask defaults to 255.255.255.255 (the peer BBMD is sent unicast, the
    usual and most robust setting); a prefix length is accepted too.
    """
    spec, _, mask_text = text.strip().partition("/")
    try:
        host, port = parse_host_port(spec)
    except ValueError as err:
        if spec == text.strip():
            raise
        raise ValueError(f"{text.strip()!r}: {err}") from None  # the message names the entry as written
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"{text!r}: {host!r} is not an IPv4 address") from None
    mask = ipaddress.IPv4Address("255.255.255.255")
    if mask_text:
        try:
            if mask_text.isdigit():
                mask = ipaddress.IPv4Network(f"0.0.0.0/{mask_text}").netmask
            else:
                mask = ipaddress.IPv4Address(mask_text)
                ipaddress.IPv4Network(f"0.0.0.0/{mask_text}")  # a valid contiguous mask
        except ValueError:
            raise ValueError(f"{text!r}: {mask_text!r} is not a netmask") from None
    return ip, port, mask


def validate(config: Config) -> list[Problem]:
    """The router's own rules (ports, networks, resources); features check their sections themselves."""
    problems: list[Problem] = []
    enabled = config.enabled_ports
    _check_networks(enabled, problems)
    _check_resources(config, problems)
    _check_bip(config, problems)
    _check_mstp(config, problems)
    vbus = [p for p in enabled if isinstance(p, VbusPort)]
    for extra in vbus[1:]:
        problems.append(extra.problem(f"only one vbus port may be enabled (the first is {vbus[0].label})"))
    if not enabled:
        problems.append(Problem("no port is enabled: the router will not route", config.uci.path if config.uci else "",
                                severity="warning"))
    return problems


def _check_networks(ports: list[Port], problems: list[Problem]) -> None:
    first_with: dict[int, Port] = {}
    for port in ports:
        if port.network is None:
            continue
        other = first_with.get(port.network)
        if other is not None:
            where = f" (line {other.source.line})" if other.source else ""
            problems.append(port.problem(f"network number {port.network} is already used by {other.label}{where}", "network"))
        else:
            first_with[port.network] = port


def resource_problems(config: Config) -> list[Problem]:
    """The resources' rules alone (unknown, of the wrong type, a line used twice): run again once the
    features have loaded what their sections refer to (a Free Client bus may name its line in its
    definition file only)."""
    problems: list[Problem] = []
    _check_resources(config, problems)
    return problems


def _check_resources(config: Config, problems: list[Problem]) -> None:
    resources = config.resources
    serial_users: dict[str, Any] = {}
    ethernet_users: dict[str, EthernetPort] = {}
    for user in config.claimed_resources():
        name = user.claimed_resource
        resource = resources.get(name)
        if resource is None:
            if not config.resources_loaded:
                continue
            known = ", ".join(sorted(resources)) or "none defined"
            problems.append(user.problem(f"unknown resource '{name}' (resource.conf has: {known})", "resource"))
            continue
        allowed = user.resource_types
        if allowed and resource.type not in allowed:
            wanted = " or ".join(t.value for t in allowed)
            problems.append(user.problem(f"resource '{name}' is {resource.type.value}, a {user.uci_type} port needs {wanted}", "resource"))
            continue
        if resource.type is ResourceType.USB:
            other = serial_users.get(resource.ifname)
            if other is not None and type(other) is type(user) and user.shares_line:
                continue  # e.g. Free Client buses: they take turns on a line, one transaction at a time
            if other is not None:
                problems.append(user.problem(f"resource '{name}' ({resource.ifname}) is already used by {other.label}", "resource"))
            else:
                serial_users[resource.ifname] = user
        if isinstance(user, EthernetPort):
            other_eth = ethernet_users.get(resource.ifname)
            if other_eth is not None:
                problems.append(user.problem(f"interface {resource.ifname} already carries {other_eth.label}", "resource"))
            else:
                ethernet_users[resource.ifname] = user


def _check_bip(config: Config, problems: list[Problem]) -> None:
    bound: dict[tuple[str, str, int], BipPort] = {}
    for port in config.ports:
        if not isinstance(port, BipPort):
            continue
        resource = config.resources.get(port.resource or "")
        if port.enabled and resource is not None and resource.type is ResourceType.PPP and port.mode == "normal":
            problems.append(port.problem(
                f"resource '{resource.name}' is a PPP (layer 3) interface: only foreign or bbmd mode is allowed", "mode"))
        if port.ip:
            try:
                ipaddress.IPv4Address(port.ip)
            except ValueError:
                problems.append(port.problem(f"{port.ip!r} is not an IPv4 address", "ip"))
        if port.mode == "foreign":
            if not port.bbmd:
                problems.append(port.problem("foreign device mode needs the BBMD address (option 'bbmd')", "mode"))
            else:
                try:
                    parse_host_port(port.bbmd)
                except ValueError as err:
                    problems.append(port.problem(str(err), "bbmd"))
        elif port.bbmd:
            problems.append(port.problem(f"option 'bbmd' is only used in foreign mode (mode is {port.mode})", "bbmd", "warning"))
        for entry in port.bdt:
            try:
                parse_bdt_entry(entry)
            except ValueError as err:
                problems.append(port.problem(str(err), "bdt"))
        if port.bdt and port.mode != "bbmd":
            problems.append(port.problem(f"option 'bdt' is only used in bbmd mode (mode is {port.mode})", "bdt", "warning"))
        if not port.enabled or resource is None:
            continue
        key = (resource.ifname, port.ip, port.udp_port)
        other = bound.get(key)
        if other is not None:
            address = f"{resource.ifname}{' ' + port.ip if port.ip else ''} UDP {port.udp_port}"
            problems.append(port.problem(f"{address} is already bound by {other.label}: use another udp_port or ip", "udp_port"))
        else:
            bound[key] = port


def _check_mstp(config: Config, problems: list[Problem]) -> None:
    for port in config.ports:
        if isinstance(port, MstpPort) and port.mac is not None and port.max_master is not None and port.mac > port.max_master:
            problems.append(port.problem(f"mac {port.mac} is above max_master {port.max_master}: no master would ever pass it the token", "mac"))
