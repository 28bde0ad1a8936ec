"""Responses every page of the panel sends the same way."""

from __future__ import annotations

import bottle

__all__ = ["redirect"]


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
