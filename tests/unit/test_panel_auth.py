"""The panel's password hashes, sessions and login brake (bacrouter/panel/auth.py)."""

from __future__ import annotations

from bacrouter.panel.auth import Sessions, Throttle, hash_password, verify_password


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
