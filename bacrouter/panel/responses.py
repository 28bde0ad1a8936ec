"""Responses every page of the panel sends the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

import bottle

if TYPE_CHECKING:
    from ..config import uci
    from .staging import Staging

__all__ = ["redirect", "staged_package"]


def redirect(path: str) -> None:
    """303 to a path on this server, as a relative Location.

    bottle.redirect makes it absolute from the Host (or X-Forwarded-Host) header, which the client writes:
    a forged one sent the browser to another site.
    """
    response = bottle.response.copy(cls=bottle.HTTPResponse)  # with what was set already (the session cookie)
    response.status = 303
    response.body = ""
    response.set_header("Location", path)
    raise response


def staged_package(staging: Staging) -> uci.UciPackage:
    """The staged UCI package (the live one while nothing is staged); 409 saying why when it cannot be read."""
    from ..config import uci

    try:
        return staging.package()
    except uci.UciError as err:
        bottle.abort(409, f"the configuration file cannot be read: {err}")
        raise
