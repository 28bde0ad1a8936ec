"""The panel's password hashes, sessions and login brake (bacrouter/panel/auth.py)."""

from __future__ import annotations

from bacrouter.panel.auth import (
    Sessions,
    Throttle,
    client_key,
    hash_password,
    host_allowed,
    host_name,
    verify_password,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_hash_is_salted_scrypt_and_verifies():
    one, two = hash_password("secret123", n=1 << 10), hash_password("secret123", n=1 << 10)
    assert one.startswith("scrypt$1024$8$1$") and one != two  # a salt of its own
    assert verify_password("secret123", one) and not verify_password("secret124", one)
    assert not verify_password("secret123", "") and not verify_password("x", "md5$abc")
    assert not verify_password("x", "scrypt$a$b$c$d$e")


def test_sessions_expire_when_idle_and_login_renews_the_id():
    clock = Clock()
    sessions = Sessions(idle_timeout=10, clock=clock)
    visitor = sessions.new()
    user = sessions.login(visitor, "admin")
    assert sessions.get(visitor.id) is None and user.id != visitor.id and user.csrf != visitor.csrf
    clock.now += 9
    assert sessions.get(user.id) is user  # a request: idle time starts over
    clock.now += 9
    assert sessions.get(user.id) is user
    clock.now += 11
    assert sessions.get(user.id) is None
    assert sessions.get("") is None and sessions.get("made-up") is None


def test_session_table_is_bounded():
    sessions = Sessions(limit=3)
    made = [sessions.new() for _ in range(5)]
    assert sessions.get(made[0].id) is None and sessions.get(made[-1].id) is made[-1]


def test_throttle_doubles_the_wait_and_forgets():
    clock = Clock()
    throttle = Throttle(free=3, cap=8, forget=100, clock=clock)
    for _ in range(3):
        assert throttle.wait("a") == 0
        throttle.failed("a")
    assert throttle.wait("a") == 1 and throttle.wait("b") == 0  # per client
    throttle.failed("a")
    assert throttle.wait("a") == 2
    for _ in range(5):
        throttle.failed("a")
    assert throttle.wait("a") == 8  # capped
    clock.now += 101
    assert throttle.wait("a") == 0
    throttle.failed("a")
    throttle.succeeded("a")
    assert throttle.wait("a") == 0


def test_visitors_never_evict_a_logged_in_user():
    sessions = Sessions(limit=4)
    user = sessions.login(sessions.new(), "admin")
    for _ in range(20):
        sessions.new()
    assert sessions.get(user.id) is user


def test_an_ipv6_client_is_its_slash_64_and_an_ipv4_client_its_address():
    assert client_key("192.0.2.7") == "192.0.2.7" and client_key("192.0.2.8") == "192.0.2.8"
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"  # the next /64 is another client
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"  # the dual-stack socket's IPv4 peer
    assert client_key("fe80::1%eth0") == "fe80::/64"
    assert client_key("?") == "?"


def test_throttle_counts_a_whole_ipv6_slash_64_as_one_client():
    clock = Clock()
    throttle = Throttle(free=3, cap=60, forget=100, clock=clock)
    for n in range(4):  # a guesser taking a fresh address of its /64 for every try
        throttle.failed(f"2001:db8:0:1::{n + 1:x}")
    assert throttle.wait("2001:db8:0:1::abcd") == 2  # any address of that /64 waits
    assert throttle.wait("2001:db8:0:2::1") == 0  # the neighbouring /64 does not
    for n in range(4):
        throttle.failed(f"192.0.2.{n + 1}")  # IPv4: every address is a client of its own
    assert throttle.wait("192.0.2.1") == 0 and throttle.wait("192.0.2.9") == 0
    throttle.succeeded("2001:db8:0:1::ffff")
    assert throttle.wait("2001:db8:0:1::1") == 0


def test_host_allowlist_takes_addresses_localhost_and_the_routers_names():
    names = {"openwrt", "openwrt.lan", "gateway.example.com"}
    for host in ("192.168.1.1", "192.168.1.1:8000", "[fd00::1]:8000", "[::1]", "localhost:8000", "LOCALHOST",
                 "OpenWrt:8000", "openwrt.lan", "openwrt.lan.", "gateway.example.com:443"):
        assert host_allowed(host, names), host
    for host in ("evil.example", "evil.example:8000", "openwrt.evil.example", "", "openwrt.lan@evil.example",
                 "192.168.1.1:port", "localhost.evil.example", "a b"):
        assert not host_allowed(host, names), host
    assert host_name("[FD00::1]:80") == "fd00::1" and host_name("Router.LAN.:8000") == "router.lan"
