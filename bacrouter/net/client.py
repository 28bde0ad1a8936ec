"""BACnet client services of the router's own device, for the control methods discover, read and write.

The router's device is a bacpypes3 Application behind the router (see
:mod:`.app`): everything it asks goes through the router like any
workstation's request, and every station it hears of is remote (``network:mac``).
Only bacpypes3's client services are used: ``who_is``, ``read_property``,
``write_property``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["discover", "read", "write", "jsonable", "ClientError"]


class ClientError(Exception):
    """The request could not be made or was refused; the message says why."""


def jsonable(value: Any) -> Any:
    """A bacpypes3 value as JSON: enumerations by name, sequences as objects, octet strings hex."""
    from bacpypes3.primitivedata import Enumerated, ObjectIdentifier

    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Enumerated | ObjectIdentifier):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "_order"):
        return {name: jsonable(getattr(value, name, None)) for name in value._order}
    return str(value)


def _refused(err: BaseException) -> str:
    """An Error / Reject / Abort answer (bacpypes3 raises or returns them) or a failure, as one line."""
    for attrs in (("errorClass", "errorCode"), ("apduAbortRejectReason",), ("abortReason",), ("rejectReason",)):
        parts = [str(getattr(err, a)) for a in attrs if getattr(err, a, None) is not None]
        if parts:
            return f"{type(err).__name__}: {', '.join(parts)}"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _address(text: str) -> Any:
    from bacpypes3.pdu import Address

    try:
        return Address(text)
    except (ValueError, TypeError) as err:
        raise ClientError(f"{text!r} is not a BACnet address (like 2:10.71.2.2 or 3:5): {err}") from None


async def locate(app: Any, device: str | int, wait: float = 3.0) -> Any:
    """The address of ``device``: a device instance (found with Who-Is) or an address (``network:mac``)."""
    text = str(device)
    if text.isdigit():
        instance = int(text)
        i_ams = await app.who_is(instance, instance, timeout=wait)
        if not i_ams:
            raise ClientError(f"device {instance} did not answer a Who-Is within {wait:g} s")
        return i_ams[0].pduSource
    return _address(text)


def _split(address: Any) -> tuple[int | None, str]:
    text = str(address)
    network, _, mac = text.partition(":")
    return (int(network), mac) if mac and network.isdigit() else (None, text)


async def _name(app: Any, address: Any, instance: int, timeout: float) -> str | None:
    try:
        value = await asyncio.wait_for(app.read_property(address, f"device,{instance}", "object-name"), timeout)
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - bacpypes3 errors are BaseException; no name is no name
        return None
    return str(value) if isinstance(value, str) else None


async def discover(app: Any, own: dict[str, Any], network: int | None = None, low: int | None = None,
                   high: int | None = None, wait: float = 3.0) -> list[dict[str, Any]]:
    """Who-Is through the router (everywhere, or on ``network``): instance, network, MAC, vendor, name of each."""
    from bacpypes3.pdu import GlobalBroadcast, RemoteBroadcast

    address = RemoteBroadcast(network) if network is not None else GlobalBroadcast()
    i_ams = await app.who_is(low, high, address=address, timeout=wait)
    seen: dict[int, Any] = {}
    for i_am in i_ams:
        seen.setdefault(i_am.iAmDeviceIdentifier[1], i_am)
    found = []
    names = await asyncio.gather(*(_name(app, i.pduSource, n, wait) for n, i in seen.items()))
    for (instance, i_am), name in zip(seen.items(), names, strict=True):
        net, mac = _split(i_am.pduSource)
        found.append({"instance": instance, "network": net, "mac": mac, "address": str(i_am.pduSource),
                      "vendor": int(i_am.vendorID), "name": name, "max_apdu": int(i_am.maxAPDULengthAccepted)})
    in_range = (low is None or low <= own["instance"]) and (high is None or own["instance"] <= high)
    if in_range and network is None and own["instance"] not in seen:  # this router's own device: local everywhere
        found.append(dict(own, network=None, mac=None, address="this router"))
    return sorted(found, key=lambda d: d["instance"])


async def read(app: Any, device: str | int, obj: str, prop: str, timeout: float = 10.0) -> dict[str, Any]:
    address = await locate(app, device)
    try:
        value = await asyncio.wait_for(app.read_property(address, obj, prop), timeout)
    except TimeoutError:
        raise ClientError(f"{address}: no answer to ReadProperty within {timeout:g} s") from None
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # noqa: BLE001 - bacpypes3's Error/Reject/Abort are BaseException
        raise ClientError(f"{address}: {_refused(err)}") from None
    if isinstance(value, BaseException):
        raise ClientError(f"{address}: {_refused(value)}")
    return {"device": str(device), "address": str(address), "object": obj, "property": prop,
            "value": jsonable(value)}


def parse_value(text: Any) -> Any:
    """A value to write as given on a command line: null relinquishes, JSON numbers and booleans, else text."""
    from bacpypes3.primitivedata import Null

    if text is None or text == "null":
        return Null(())
    if isinstance(text, str):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # an enumeration's name (active, inactive, ...) or a character string
    return text


async def write(app: Any, device: str | int, obj: str, prop: str, value: Any, priority: int | None = None,
                timeout: float = 10.0) -> dict[str, Any]:
    if priority is not None and not 1 <= int(priority) <= 16:
        raise ClientError(f"priority {priority}: it is 1 (highest) to 16")
    address = await locate(app, device)
    try:
        error = await asyncio.wait_for(app.write_property(address, obj, prop, parse_value(value),
                                                          priority=priority), timeout)
    except TimeoutError:
        raise ClientError(f"{address}: no answer to WriteProperty within {timeout:g} s") from None
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # noqa: BLE001
        raise ClientError(f"{address}: {_refused(err)}") from None
    if error is not None:
        raise ClientError(f"{address}: {_refused(error) if isinstance(error, BaseException) else error}")
    return {"device": str(device), "address": str(address), "object": obj, "property": prop, "value": value,
            "priority": priority, "ok": True}
