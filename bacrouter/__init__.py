"""bacrouter: a BACnet multi-port router and Modbus / M-Bus / Lua gateway for OpenWrt."""

__version__ = "0.1.0"

#: BACnet vendor identifier of the router's device object; 999 is the value
#: open-source stacks use until a vendor id is assigned
VENDOR_ID = 999
VENDOR_NAME = "bacrouter project"
