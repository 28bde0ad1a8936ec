"""Lua shared by the gateways: the sandbox every script runs in, and data conversions written in Lua.

Imports nothing from the gateways (``bacrouter.modbus``, ``bacrouter.freeclient``); they import from here.
"""
