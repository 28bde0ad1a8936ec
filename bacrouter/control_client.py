"""The control socket's client side: call a method of a running daemon (blocking), and its error.

Apart from :mod:`bacrouter.control` (the server) so that a client - the CLI,
the web panel - does not import asyncio for it: the panel's memory is counted.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

__all__ = ["ControlError", "call"]


class ControlError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def call(path: Path | str, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    """Call a method of a running daemon (blocking); raise ControlError or OSError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps({"id": 1, "method": method, "params": params or {}}).encode() + b"\n")
        chunks: list[bytes] = []
        while not chunks or not chunks[-1].endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ControlError("closed", "the daemon closed the connection")
            chunks.append(chunk)
    answer = json.loads(b"".join(chunks))
    if "error" in answer:
        raise ControlError(answer["error"].get("code", "error"), answer["error"].get("message", ""))
    return answer["result"]
