"""resource.conf: the physical resources ports are bound to.

A JSON object mapping a resource name to ``{"type": "ETH"|"USB"|"PPP", "ifname": "..."}``:
ETH is an Ethernet/IP interface (``br-lan``, an alias ``br-lan:1``, a tap VPN),
PPP a layer-3 interface (wireguard, tun) where BACnet/IP may only run as a
foreign device or BBMD, USB an RS485 serial port. The original product's USB
names ``"0:N"`` map to ``/dev/ttyUSBN`` so its files load unchanged.

Files copied from the product's blog contain typographic quotes; they are not
JSON, and the error says so and points at the character.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .errors import TextError
from .files import FileProblem, read_file

__all__ = ["ResourceType", "Resource", "ResourceError", "parse_resources", "load_resources"]


class ResourceType(StrEnum):
    ETH = "ETH"
    USB = "USB"
    PPP = "PPP"


@dataclass(frozen=True)
class Resource:
    name: str
    type: ResourceType
    ifname: str  # interface label for ETH/PPP, tty path for USB
    line: int = 0


class ResourceError(TextError):
    """A problem in resource.conf, located."""


_LOOKALIKES = {
    "\u201c": "left double quotation mark",
    "\u201d": "right double quotation mark",
    "\u201e": "double low-9 quotation mark",
    "\u2033": "double prime",
    "\u2018": "left single quotation mark",
    "\u2019": "right single quotation mark",
    "\u2032": "prime",
    "\u00ab": "left-pointing double angle quotation mark",
    "\u00bb": "right-pointing double angle quotation mark",
    "\u00a0": "no-break space",
}

_USB_PORT = re.compile(r"(\d+):(\d+)")


def _position(text: str, offset: int, starts: list[int] | None = None) -> tuple[int, int, str]:
    """Line, column and line text of ``offset``; ``starts`` (line start offsets) makes it logarithmic."""
    if starts is None:
        line = text.count("\n", 0, offset) + 1
        start = text.rfind("\n", 0, offset) + 1
    else:
        line = bisect.bisect_right(starts, offset)
        start = starts[line - 1]
    end = text.find("\n", offset)
    return line, offset - start + 1, text[start : end if end >= 0 else len(text)]


def _line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in re.finditer("\n", text)]


def _key_offset(text: str, key: str, after: int = 0) -> int:
    """Offset of ``"key"`` used as an object key, for pointing schema errors at it."""
    match = re.compile(r'"' + re.escape(key) + r'"\s*:').search(text, after)
    return match.start() if match else after


def tty_path(ifname: str) -> str:
    """The serial device for a USB resource's ifname."""
    match = _USB_PORT.fullmatch(ifname)
    if match:
        return f"/dev/ttyUSB{match.group(2)}"
    if not ifname.startswith("/"):
        return f"/dev/{ifname}"
    return ifname


def parse_resources(text: str, path: str = "resource.conf") -> dict[str, Resource]:
    """Parse resource.conf text; raise :class:`ResourceError` pointing at the problem."""

    def fail(offset: int, reason: str) -> ResourceError:
        line, column, line_text = _position(text, offset)
        return ResourceError(reason, path=path, line=line, column=column, text=line_text)

    for offset, char in enumerate(text):
        if char in _LOOKALIKES:
            hint = "JSON needs straight quotes (\")" if "quot" in _LOOKALIKES[char] or "prime" in _LOOKALIKES[char] else "use a plain space"
            raise fail(offset, f"'{char}' (U+{ord(char):04X}, {_LOOKALIKES[char]}) is not valid JSON here: {hint}")
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
    except _DuplicateKey as dup:
        raise fail(_key_offset(text, dup.key, _key_offset(text, dup.key) + 1), f"key {dup.key!r} appears twice") from None
    except json.JSONDecodeError as err:
        raise fail(err.pos, err.msg) from None
    except RecursionError:
        raise fail(0, "nested too deeply") from None
    if not isinstance(data, dict):
        raise fail(len(text) - len(text.lstrip()), "expected a JSON object of resources: {\"name\": {\"type\": ..., \"ifname\": ...}}")

    resources: dict[str, Resource] = {}
    starts = _line_starts(text)
    at = 0
    for name, spec in data.items():
        at = _key_offset(text, name, at)  # keys come in file order: search on from the last one (linear)
        if not isinstance(spec, dict):
            raise fail(at, f"resource {name!r}: expected an object with \"type\" and \"ifname\"")
        type_text = spec.get("type")
        try:
            rtype = ResourceType(str(type_text).upper())
        except ValueError:
            raise fail(_key_offset(text, "type", at), f"resource {name!r}: type {type_text!r} is not one of ETH, USB, PPP") from None
        ifname = spec.get("ifname")
        if not isinstance(ifname, str) or not ifname.strip():
            raise fail(_key_offset(text, "ifname", at) if "ifname" in spec else at, f"resource {name!r}: missing \"ifname\"")
        unknown = sorted(set(spec) - {"type", "ifname"})
        if unknown:
            raise fail(_key_offset(text, unknown[0], at), f"resource {name!r}: unknown key {unknown[0]!r} (only \"type\" and \"ifname\")")
        ifname = ifname.strip()
        if rtype is ResourceType.USB:
            ifname = tty_path(ifname)
        resources[name] = Resource(name=name, type=rtype, ifname=ifname, line=_position(text, at, starts)[0])
    return resources


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def load_resources(path: str | Path) -> dict[str, Resource]:
    file = Path(path)
    try:
        raw = read_file(file)
    except FileNotFoundError:
        raise ResourceError("file not found", path=str(file)) from None
    except FileProblem as err:
        raise ResourceError(err.message, path=str(file)) from None
    try:
        text = raw.decode("utf-8-sig")  # the original's tools on Windows write a byte-order mark
    except UnicodeDecodeError as err:
        text = raw.decode("utf-8", "replace")
        line, column, line_text = _position(text, err.start)
        raise ResourceError("not UTF-8 text", path=str(file), line=line, column=column, text=line_text) from None
    return parse_resources(text, str(file))


def dumps_resources(resources: dict[str, Resource]) -> str:
    data = {name: {"type": r.type.value, "ifname": r.ifname} for name, r in resources.items()}
    return json.dumps(data, indent=2) + "\n"
