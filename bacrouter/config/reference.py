"""The configuration reference, rendered from the schema itself.

Every UCI section type is a dataclass whose fields carry their option's type,
default, range, choices and one-line doc (see ``opt()`` in ``model.py``). This
module turns those declarations into Markdown, so the reference cannot drift
from what ``bacrouter check`` accepts. ``docs/configuration.md`` is this
output (a test fails when it is stale) and ``bacrouter help config [SECTION]``
prints it on a router.

The renderer takes the section classes as arguments: the router's own and
the features' (``bacrouter.registry.all_section_types()``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

__all__ = ["render", "render_section", "REGENERATE"]

#: how to bring docs/configuration.md up to date
REGENERATE = "python -m bacrouter help config > docs/configuration.md  (or: make docs)"



PREAMBLE = """\
# Configuration reference

<!-- Generated from the schema by bacrouter/config/reference.py; do not edit by hand.
     Regenerate: {regenerate} -->

bacrouter reads two files, and `bacrouter check` validates both together: it
lists every problem with its file, line, section and option and exits non-zero
on errors. The daemon never starts on a configuration with errors, and a reload
with errors leaves the running one in place. Every command takes
`--config-dir DIR` to use `DIR/config/bacrouter`, `DIR/bacrouter/resource.conf`
and `DIR/run/` instead of `/etc/config/bacrouter`,
`/etc/bacrouter/resource.conf` and `/var/run/bacrouter/`. Relative paths in
options (points files, Free Client definitions and scripts) are under the data
directory, `/etc/bacrouter` (`DIR/bacrouter`).

On a router, `bacrouter help config` prints this reference and
`bacrouter help config SECTION` one section type of it.

## /etc/bacrouter/resource.conf

The physical resources, as in the original product: a JSON object mapping a
resource name to its type and interface.

```json
{{
  "eth0": {{ "type": "ETH", "ifname": "br-lan" }},
  "eth1": {{ "type": "ETH", "ifname": "br-lan:1" }},
  "vpn0": {{ "type": "PPP", "ifname": "wg0" }},
  "RS485-1": {{ "type": "USB", "ifname": "/dev/ttyUSB0" }}
}}
```

| type | what it is |
| --- | --- |
| `ETH` | an Ethernet or IP interface (a bridge, an alias such as `br-lan:1`, a tap VPN) |
| `PPP` | a layer-3 interface (wireguard, tun), where BACnet/IP may only be a foreign device or a BBMD |
| `USB` | an RS485 serial port; the original's `"0:N"` names mean `/dev/ttyUSBN` |

Files copied from the product's blog carry typographic quotes: the error points
at the first one. Interfaces may come up later or change address (VPNs): the
port waits, then binds, and re-binds when the address changes, without a
restart.

## /etc/config/bacrouter (UCI)

Standard UCI: edit with `uci set/add/commit` or by hand, then
`/etc/init.d/bacrouter reload` (or `reload_config`). bacrouter's reader is a
port of libuci's parser and gives the same result on the same file, including
anonymous section names (`@bip[0]` is `cfgXXXXXX` as `uci show -X` prints it).
Its writer produces `uci commit`'s format and replaces files atomically.

```
config bacrouter 'main'
\toption device_instance '4100001'
\toption device_name 'BACRouter-0001'

config bip 'lan'
\toption resource 'eth0'
\toption network '1'

config bip 'vpn'
\toption resource 'vpn0'
\toption network '2'
\toption mode 'bbmd'
\toption fdt_size '16'
\tlist bdt '10.8.0.1'
\tlist bdt '10.9.0.1:47808/255.255.255.255'
```

Booleans are `1`/`0` (also `yes`/`no`, `on`/`off`, `true`/`false`,
`enabled`/`disabled`). An option of type "list" is written as `list` lines,
one value each. Unknown options are reported as warnings (to catch typos),
unknown section types too.

## What `bacrouter check` reports

Among others: duplicate network numbers, two users of one serial resource (Free
Client buses may share a line with each other), two Ethernet ports on one
interface, a `normal` BACnet/IP port on a `PPP` resource, UDP port clashes,
unknown or wrong-type resources, values out of range, unknown options (as
warnings), and for the gateways: points that do not parse (file, point and key
named), output objects on overlapping writable addresses, addresses beyond
65535, data types that do not fit their address type, state texts and values
that do not match, duplicate point names, device instances and instance blocks
used twice, scripts that do not load, and (as warnings) point instances that
were taken and moved.

## Section types

A blank default means the option is unset unless given; its description says
what applies then. The gateways' points and scripts live in JSON and Lua files
described in [modbus.md](modbus.md) and [freeclient.md](freeclient.md).

{index}
"""


def render(section_types: Mapping[str, type]) -> str:
    """The whole reference: files and syntax, then every section type."""
    index = "\n".join(f"- [`{name}`](#{_anchor(name)}): {_summary(cls)}" for name, cls in section_types.items())
    parts = [PREAMBLE.format(regenerate=REGENERATE, index=index)]
    parts += [render_section(cls, name) for name, cls in section_types.items()]
    return "\n".join(parts)


def render_section(cls: type, name: str | None = None) -> str:
    """One section type: its docstring and a table of its options."""
    name = name or getattr(cls, "uci_type", "") or cls.__name__
    lines = [f"### {name}", "", _rst_to_md(inspect.getdoc(cls) or ""), ""]
    options = [f for f in dataclasses.fields(cls) if "doc" in f.metadata]
    if not options:
        lines += ["No options of its own.", ""]
        return "\n".join(lines)
    lines += ["| option | type | default | range / choices | required | description |",
              "| --- | --- | --- | --- | --- | --- |"]
    for f in options:
        meta = f.metadata
        option = meta.get("option") or f.name
        row = [f"`{option}`", _type(f), _default(f), _range(f), "yes" if meta.get("required") else "",
               _cell(meta["doc"])]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- cells


def _kind(f: dataclasses.Field[Any]) -> str:
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _type(f: dataclasses.Field[Any]) -> str:
    kind = _kind(f)
    if kind.startswith("list"):
        return "list"
    return {"int": "integer", "bool": "boolean", "str": "text"}.get(kind, kind)


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default_factory is not dataclasses.MISSING:  # lists
        value = f.default_factory()
        return "(empty)" if not value else _code(" ".join(map(str, value)))
    value = f.default
    if value is None or value is dataclasses.MISSING:
        return ""
    if isinstance(value, bool):
        return _code("1" if value else "0")
    if value == "":
        return "(empty)"
    return _code(str(value))


def _range(f: dataclasses.Field[Any]) -> str:
    meta = f.metadata
    choices = meta.get("choices")
    if choices is not None:
        return ", ".join(_code(str(c)) for c in choices)
    low, high = meta.get("min"), meta.get("max")
    if low is None and high is None:
        return ""
    if _kind(f) == "int":
        if low is not None and high is not None:
            return f"{low}..{high}"
        return f"≥ {low}" if low is not None else f"≤ {high}"
    # text: lengths
    parts = []
    if low == 1:
        parts.append("not empty")
    elif low is not None:
        parts.append(f"at least {low} characters")
    if high is not None:
        parts.append(f"at most {high} byte{'s' if high != 1 else ''}")
    return ", ".join(parts)


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _rst_to_md(text: str) -> str:
    return text.replace("``", "`")


def _summary(cls: type) -> str:
    """The docstring's first line without its ``config x`` lead-in."""
    first = _rst_to_md((inspect.getdoc(cls) or "").split("\n\n")[0])
    first = " ".join(first.split())
    head, sep, rest = first.partition(": ")
    return rest if sep and head.startswith("`config ") else first


def _anchor(name: str) -> str:
    """GitHub's anchor for a heading with this text."""
    return "".join(c for c in name.lower().replace(" ", "-") if c.isalnum() or c in "-_")
