"""Lua shared by the gateways: the sandbox every script runs in, and data conversions written in Lua.

Imports nothing from the gateways (``bacrouter.modbus``, ``bacrouter.freeclient``); they import from here.
"""

from __future__ import annotations

import functools
import logging

__all__ = ["LUPA_PACKAGE", "lua_missing"]

#: the OpenWrt package that brings lupa (a C extension with the bundled Lua 5.4): optional, the router,
#: Modbus and the tools run without it; Free Client buses and ``o...`` conversions need it
LUPA_PACKAGE = "python3-lupa"


@functools.cache
def lua_missing() -> str:
    """'' when Lua 5.4 (lupa) can be imported; else what is missing, in words for check, status and the log."""
    try:
        import lupa.lua54  # noqa: F401
    except ImportError as err:
        logging.getLogger("bacrouter.lua").debug("lupa does not import: %s", err)
        return f"{LUPA_PACKAGE} (Lua 5.4 for Python) is not installed"
    return ""
