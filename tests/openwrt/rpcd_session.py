"""Stand-in for rpcd's ubus object ``session`` (create, grant, access, destroy), for when the kit has no rpcd.

Run as ``python rpcd_session.py SOCKET`` with the kit's python3-ubus on the
path: it registers ``session`` on the real ubusd at SOCKET. It follows
rpcd's session.c (openwrt/rpcd, read for this; nothing copied) where the
panel depends on it:

- the session id argument is ``ubus_rpc_session`` (32 hex digits from
  ``create``); ``scope`` defaults to ``ubus``;
- ``grant`` takes ``objects``: a list of ``[object, function]`` pairs;
- ``access`` answers ``{"access": true|false}``, matching object and function
  as fnmatch patterns (rpcd: ``fnmatch(acl, asked, FNM_NOESCAPE)``);
- every use of a session restarts its ``timeout`` (default 300 s); an
  expired or unknown session is an error status.

The one difference: rpcd answers an unknown session with UBUS_STATUS_NOT_FOUND;
python3-ubus can only fail a call with UBUS_STATUS_UNKNOWN_ERROR. The panel
treats every failed call the same way (not accepted), so this does not
change what the test sees.
"""

from __future__ import annotations

import fnmatch
import secrets
import sys
import time
from typing import Any

import ubus  # type: ignore[import-not-found]

DEFAULT_TIMEOUT = 300
sessions: dict[str, dict[str, Any]] = {}


def live(sid: Any) -> dict[str, Any]:
    """The session, touched (its timeout starts over); LookupError when unknown or expired."""
    session = sessions.get(sid) if isinstance(sid, str) else None
    now = time.monotonic()
    if session is not None and session["timeout"] > 0 and now > session["expires"]:
        del sessions[sid]
        session = None
    if session is None:
        raise LookupError("not found")
    if session["timeout"] > 0:
        session["expires"] = now + session["timeout"]
    return session


def create(request: Any, data: dict[str, Any]) -> None:
    timeout = int(data.get("timeout", DEFAULT_TIMEOUT))
    sid = secrets.token_hex(16)
    sessions[sid] = {"timeout": timeout, "expires": time.monotonic() + timeout, "acls": {}}
    request.reply({"ubus_rpc_session": sid, "timeout": timeout, "expires": timeout, "acls": {}, "data": {}})


def grant(request: Any, data: dict[str, Any]) -> None:
    session = live(data.get("ubus_rpc_session"))
    acls = session["acls"].setdefault(data.get("scope", "ubus"), set())
    for pair in data.get("objects", []):
        strings = [item for item in pair if isinstance(item, str)] if isinstance(pair, list) else []
        if len(strings) >= 2:
            acls.add((strings[0], strings[1]))


def access(request: Any, data: dict[str, Any]) -> None:
    session = live(data.get("ubus_rpc_session"))
    scope, obj, function = data.get("scope", "ubus"), data.get("object"), data.get("function")
    allowed = any(fnmatch.fnmatchcase(obj, o) and fnmatch.fnmatchcase(function, f)
                  for o, f in session["acls"].get(scope, ()))
    request.reply({"access": allowed})


def destroy(request: Any, data: dict[str, Any]) -> None:
    live(data.get("ubus_rpc_session"))
    del sessions[data["ubus_rpc_session"]]


def main() -> None:
    string, integer, array = ubus.BLOBMSG_TYPE_STRING, ubus.BLOBMSG_TYPE_INT32, ubus.BLOBMSG_TYPE_ARRAY
    ubus.connect(socket_path=sys.argv[1])
    ubus.add("session", {
        "create": {"method": create, "signature": {"timeout": integer}},
        "grant": {"method": grant, "signature": {"ubus_rpc_session": string, "scope": string, "objects": array}},
        "access": {"method": access, "signature": {"ubus_rpc_session": string, "scope": string, "object": string,
                                                   "function": string}},
        "destroy": {"method": destroy, "signature": {"ubus_rpc_session": string}},
    })
    ubus.loop()


if __name__ == "__main__":
    main()
