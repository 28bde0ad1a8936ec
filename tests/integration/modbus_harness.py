"""A router with a Modbus gateway, in the test's event loop, against pymodbus slaves."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bacrouter.config import Paths, has_errors
from bacrouter.loader import load_config
from bacrouter.runtime import Runtime

from .netns import wait_for

# pymodbus logs every exception it answers with, at error level
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

HEADER = """
config bacrouter 'main'
	option device_instance '4001'
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tcp_master(name: str, port: int, protocol: str = "tcp") -> str:
    return f"""
config modbus_master '{name}'
	option protocol '{protocol}'
	option host '127.0.0.1'
	option port '{port}'
"""


def serial_master(name: str, resource: str, protocol: str = "rtu") -> str:
    return f"""
config modbus_master '{name}'
	option protocol '{protocol}'
	option resource '{resource}'
"""


def slave(name: str, master: str, station: int = 1, **options: Any) -> str:
    settings = {"update_ms": 200, "offline_ms": 400, "timeout_ms": 250}
    settings.update(options)
    lines = "".join(f"\toption {k} '{int(v) if isinstance(v, bool) else v}'\n" for k, v in settings.items())
    return f"\nconfig modbus_slave '{name}'\n\toption master '{master}'\n\toption station '{station}'\n{lines}"


def point(name: str, object_type: str, address_type: str, address: int, instance: int, **kwargs: Any) -> dict:
    raw = {"name": name, "object_type": object_type, "address_type": address_type, "address": address,
           "instance": instance}
    raw.update(kwargs)
    return raw


def write_config(root: Path, uci: str, points: dict[str, list[dict]], resources: dict | None = None) -> Paths:
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "bacrouter" / "modbus").mkdir(parents=True, exist_ok=True)
    (root / "config" / "bacrouter").write_text(HEADER + uci)
    (root / "bacrouter" / "resource.conf").write_text(json.dumps(resources or {}))
    for name, items in points.items():
        (root / "bacrouter" / "modbus" / f"{name}.json").write_text(json.dumps({"points": items}))
    return Paths(root)


@contextlib.asynccontextmanager
async def running(paths: Paths) -> AsyncIterator[Runtime]:
    config, problems = load_config(paths)
    assert config is not None and not has_errors(problems), [str(p) for p in problems]
    node = Runtime(config, paths.run_dir)
    await node.start()
    try:
        yield node
    finally:
        node.stop()


async def until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "the condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def obj(node: Runtime, name: str) -> Any:
    return node.app.app.objectName[name]


class PtyPair:
    """Two connected ptys from socat: a serial line without hardware."""

    def __init__(self, directory: Path) -> None:
        self.a, self.b = str(directory / "tty-a"), str(directory / "tty-b")
        self.proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.a) and os.path.exists(self.b), 10, "socat ptys")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(5)


def in_loop(test: Callable[..., Any]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest plugin needed)."""
    import functools

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 60))

    return wrapper
