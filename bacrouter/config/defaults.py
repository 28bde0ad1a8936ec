"""First-boot defaults: resource.conf from the machine, ports from resource.conf.

Used by the uci-defaults script on the device and by ``make run`` on a
development machine. Nothing that exists is overwritten: a missing
resource.conf is detected from the interfaces; a configuration without any
port gets a BACnet/IP port on the first Ethernet resource and a disabled
MS/TP port per RS485 resource; a device without an identity gets one derived
from its MAC address, so two routers fresh out of the box do not collide.
"""

from __future__ import annotations

import glob
import logging
import secrets
from pathlib import Path

from .. import ifaddr
from ..paths import Paths
from . import uci
from .model import PORT_TYPES
from .resources import Resource, ResourceType, dumps_resources, load_resources

__all__ = ["init", "detect_resources", "identity_from_mac", "any_mac"]

log = logging.getLogger("bacrouter.init")

#: device instances handed out from MAC addresses: 4100000 + the low 16 bits
INSTANCE_BASE = 4100000


def detect_resources() -> dict[str, Resource]:
    """An Ethernet resource for the interface of the default route, and the USB serial ports."""
    device = ifaddr.default_route_interface()
    if device is None:
        try:
            candidates = [a.label for a in ifaddr.list_addresses() if a.device != "lo"]
        except OSError:
            candidates = []
        device = candidates[0] if candidates else "lo"
    resources = {"eth0": Resource("eth0", ResourceType.ETH, device)}
    for index, tty in enumerate(sorted(glob.glob("/dev/ttyUSB*")) + sorted(glob.glob("/dev/ttyACM*")), start=1):
        resources[f"RS485-{index}"] = Resource(f"RS485-{index}", ResourceType.USB, tty)
    return resources


def _mac(device: str) -> bytes | None:
    try:
        text = Path(f"/sys/class/net/{device.split(':')[0]}/address").read_text().strip()
        mac = bytes.fromhex(text.replace(":", ""))
        return mac if len(mac) == 6 and any(mac) else None
    except (OSError, ValueError):
        return None


def identity_from_mac(mac: bytes | None) -> tuple[int, str]:
    """Device instance and name of a router: from its MAC address, else random (never one every unit shares)."""
    if mac is None:
        low = secrets.randbelow(1 << 16)
        return INSTANCE_BASE + low, f"BACRouter-R{low:04X}"
    low = int.from_bytes(mac[-2:], "big")
    return INSTANCE_BASE + low, f"BACRouter-{mac[-2:].hex().upper()}"


def any_mac() -> bytes | None:
    """The MAC address of some real interface, when the Ethernet resource's has none."""
    for entry in sorted(Path("/sys/class/net").glob("*")):
        if entry.name != "lo":
            mac = _mac(entry.name)
            if mac is not None:
                return mac
    return None


def init(paths: Paths) -> list[str]:
    """Create what is missing; return what was done, for the log."""
    done: list[str] = []
    if not paths.resource_file.exists():
        resources = detect_resources()
        uci.write_atomic(paths.resource_file, dumps_resources(resources))
        done.append(f"created {paths.resource_file} ({', '.join(f'{r.name}={r.ifname}' for r in resources.values())})")
    else:
        resources = load_resources(paths.resource_file)

    package = uci.load(paths.uci_file) if paths.uci_file.exists() else uci.UciPackage("bacrouter", path=str(paths.uci_file))
    changed = False
    main = package.section("@bacrouter[0]") or package.add("bacrouter", "main")
    if "device_instance" not in main.options or "device_name" not in main.options:
        eth = next((r for r in resources.values() if r.type is ResourceType.ETH), None)
        mac = (_mac(eth.ifname) if eth else None) or any_mac()
        instance, name = identity_from_mac(mac)
        main.options.setdefault("device_instance", str(instance))
        main.options.setdefault("device_name", name)
        changed = True
        if mac is None:
            done.append(f"no MAC address found: picked the random device instance {main.options['device_instance']}")
        done.append(f"device instance {main.options['device_instance']}, name {main.options['device_name']}")
    if package.section("@panel[0]") is None:
        package.add("panel", "panel")
        changed = True
    if not any(s.type in PORT_TYPES for s in package):
        network = 1
        eth = next((r for r in resources.values() if r.type is ResourceType.ETH), None)
        if eth is not None:
            port = package.add("bip", "bip0")
            port.options.update({"resource": eth.name, "network": str(network)})
            done.append(f"BACnet/IP port bip0 on {eth.name} ({eth.ifname}), network {network}")
            network += 1
        for resource in resources.values():
            if resource.type is ResourceType.USB:
                name = "mstp" + "".join(c for c in resource.name if c.isdigit())
                port = package.add("mstp", name)
                port.options.update({"enabled": "0", "resource": resource.name, "network": str(network), "mac": "0"})
                done.append(f"MS/TP port {name} on {resource.name} ({resource.ifname}), network {network}, disabled")
                network += 1
        changed = True
    if changed:
        uci.save(package, paths.uci_file)
        done.append(f"wrote {paths.uci_file}")
    return done
