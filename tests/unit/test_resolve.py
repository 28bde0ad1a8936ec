"""Name lookups for BBMD addresses never hold up the event loop, nor the exit."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from bacrouter.net.bip_port import resolve_ipv4


def test_a_literal_needs_no_lookup(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("looked up a literal"))
    assert asyncio.run(resolve_ipv4("10.0.0.7")) == "10.0.0.7"


def test_a_dns_server_that_does_not_answer_costs_the_timeout_and_no_more(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(3))
    ticks = 0

    async def main() -> None:
        nonlocal ticks

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.get_running_loop().create_task(tick())
        with pytest.raises(OSError, match="no answer from DNS"):
            await resolve_ipv4("bbmd.example.net", timeout=0.3)
        ticker.cancel()

    started = time.monotonic()
    asyncio.run(main())  # returns although the lookup thread still sleeps: it is a daemon thread
    assert time.monotonic() - started < 2 and ticks >= 10  # the loop ran meanwhile


def test_a_name_resolves(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_DGRAM, 0, "",
                                                                  ("192.0.2.9", 0))])
    assert asyncio.run(resolve_ipv4("bbmd.example.net")) == "192.0.2.9"


def test_a_name_that_cannot_be_a_host_name_is_an_os_error():
    with pytest.raises(OSError, match="cannot resolve|Name or service|not known|failure"):
        asyncio.run(resolve_ipv4("a..b"))
