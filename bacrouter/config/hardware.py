"""Resources of resource.conf that are not on this machine: warnings, never errors.

A configuration is often built at a desk (``--config-dir`` on a laptop) for a
router that has the RS485 adapters and interfaces; the daemon waits for a
missing interface or tty and takes it when it appears. So ``bacrouter check``
and an import's report only warn, once per resource an enabled port or
section uses, so nobody is surprised on site either.
"""

from __future__ import annotations

import os
from pathlib import Path

from .model import Config, Problem
from .resources import ResourceType

__all__ = ["missing_hardware", "present"]

SYS_NET = Path("/sys/class/net")


def present(resource_type: ResourceType, ifname: str) -> bool:
    """Whether the interface (ETH, PPP: its device, an alias's too) or the tty (USB) exists here."""
    if resource_type is ResourceType.USB:
        return os.path.exists(ifname)
    return (SYS_NET / ifname.split(":")[0]).exists()


def missing_hardware(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for user in config.claimed_resources():
        resource = config.resources.get(user.claimed_resource or "")
        if resource is None or resource.name in seen or present(resource.type, resource.ifname):
            continue
        seen.add(resource.name)
        what = "serial device" if resource.type is ResourceType.USB else "interface"
        problems.append(user.problem(
            f"resource '{resource.name}': {what} {resource.ifname} is not on this machine (fine for a "
            f"configuration made offline: on the router the {'line' if what == 'serial device' else 'port'} "
            f"waits for it)", "resource", "warning"))
    return problems
