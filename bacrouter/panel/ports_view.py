"""What the Ports page shows of a BACnet/IP port's link: a BBMD's foreign device table, a foreign device's
registration (from the ``ports`` control method, see :meth:`bacrouter.net.bip.BipLink.status`)."""

from __future__ import annotations

from typing import Any

__all__ = ["bip_live", "fdt_tables"]


def bip_live(port: dict[str, Any]) -> dict[str, str]:
    """The values of a BACnet/IP port that change, by ``data-live`` key (empty for other kinds)."""
    link = port.get("link") or {}
    if port.get("kind") != "bip" or not link:
        return {}
    name, live = port["name"], {}
    if "fdt" in link:
        live[f"bip.{name}.fdt"] = f"{len(link['fdt'])} of at most {link.get('fdt_size')}"
    reg = link.get("registration")
    if reg:
        state, next_in = reg.get("state"), reg.get("next_attempt_in")
        live[f"bip.{name}.registration"] = str(state)
        live[f"bip.{name}.expires"] = f"{reg['expires_in']} s" if reg.get("expires_in") is not None \
            else "not registered"
        if state == "registered":
            live[f"bip.{name}.next"] = f"renewal in {next_in} s"
        elif state == "rejected":
            live[f"bip.{name}.next"] = (f"refused by the BBMD (result 0x{reg.get('last_result') or 0:04x}); "
                                        f"again in {next_in} s")
        else:
            live[f"bip.{name}.next"] = f"attempt {reg.get('attempts', 0)} unanswered; again in {next_in} s"
    return live


def fdt_tables(ports: list[dict[str, Any]] | None) -> dict[str, list[dict[str, Any]]]:
    """Each BBMD port's foreign device table: address, time-to-live and time left (seconds)."""
    return {p["name"]: list((p.get("link") or {}).get("fdt") or []) for p in ports or []
            if p.get("kind") == "bip" and "fdt" in (p.get("link") or {})}
