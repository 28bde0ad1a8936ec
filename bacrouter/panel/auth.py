"""The panel's login: password hashes, sessions, CSRF tokens and the per-client brake on failed logins.

The password hash is the only secret on disk (UCI ``panel.password_hash``):
``scrypt$N$r$p$SALT$HASH`` with a random 16-octet salt, both base64. There is
no default password: while the option is empty the panel asks whoever comes
first to set one (the installer, on site).

Sessions live in this process only (a restart logs everybody out, which is
the safe way round): a random 256-bit id in an HttpOnly, SameSite=Strict
cookie, an idle timeout, and a CSRF token of its own that every
state-changing request carries. A visitor who has not logged in yet gets a
session too (unauthenticated), so the login and first-password forms carry a
token as well; logging in replaces the id (no session fixation).

Failed logins are counted per client: an IPv4 address, or an IPv6 /64 (a
host usually owns a whole /64 and can pick any address in it).

The pages that work without a login (first password, log in, LuCI hand-over)
answer only to a Host the router is known by (:func:`host_allowed`): a
DNS-rebinding page, served under its own name, cannot set the first password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["hash_password", "verify_password", "Session", "Sessions", "Throttle", "MIN_PASSWORD", "client_key",
           "host_name", "host_allowed"]

#: scrypt's cost: 16 MiB of memory and about 50 ms on a small router core (N=2**14, r=8, p=1)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
MIN_PASSWORD = 8
MAX_PASSWORD = 256


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 << 20, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``stored`` hash; a malformed hash matches nothing."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(password.encode()[:4 * MAX_PASSWORD], salt=base64.b64decode(salt, validate=True),
                             n=int(n), r=int(r), p=int(p), maxmem=64 << 20, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass
class Session:
    id: str
    csrf: str
    user: str | None = None  # None: not logged in (yet)
    created: float = 0.0
    last_seen: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


class Sessions:
    """Sessions by id; idle ones expire. At most ``limit`` are kept (the oldest not-logged-in visitor goes first)."""

    def __init__(self, idle_timeout: float = 900.0, limit: int = 512, clock: Any = time.monotonic) -> None:
        self.idle_timeout, self.limit, self.clock = idle_timeout, limit, clock
        self._by_id: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def new(self, user: str | None = None) -> Session:
        now = self.clock()
        session = Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), user=user, created=now,
                          last_seen=now)
        with self._lock:
            self._by_id[session.id] = session
            while len(self._by_id) > self.limit:
                self._evict()
        return session

    def _evict(self) -> None:
        """Drop the least recently seen visitor who has not logged in; only when there is none, the oldest user.

        Visitors cost nothing to make (a GET of /login): were they evicted like users, anybody could log
        everybody out by asking for the login page ``limit`` times.
        """
        for sid, session in self._by_id.items():
            if session.user is None:
                del self._by_id[sid]
                return
        self._by_id.popitem(last=False)

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (and it counts as activity), or None when unknown or idle too long."""
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self.idle_timeout:
                del self._by_id[session_id]
                return None
            session.last_seen = now
            self._by_id.move_to_end(session_id)
            return session

    def login(self, old: Session | None, user: str) -> Session:
        """A fresh id for the logged-in user; the visitor's old id stops working."""
        self.drop(old)
        return self.new(user)

    def drop(self, session: Session | None) -> None:
        if session is not None:
            with self._lock:
                self._by_id.pop(session.id, None)

    def drop_user(self, user: str) -> None:
        """Log a user out everywhere (after a password change)."""
        with self._lock:
            for sid in [sid for sid, s in self._by_id.items() if s.user == user]:
                del self._by_id[sid]


class Throttle:
    """Failed logins slow a client down: after the ``free``-th failure in a row it waits 1, 2, 4 ... ``cap`` s.

    A client is what :func:`client_key` makes of its address (an IPv6 /64 counts as one).

    The wait is answered at once ("try again in N s"), never slept in the
    server's thread, so a guesser cannot tie the server up either. A client's
    record is forgotten ``forget`` seconds after its last failure, and on a
    success.
    """

    def __init__(self, free: int = 3, cap: float = 60.0, forget: float = 900.0, limit: int = 4096,
                 clock: Any = time.monotonic) -> None:
        self.free, self.cap, self.forget, self.limit, self.clock = free, cap, forget, limit, clock
        self._clients: OrderedDict[str, tuple[int, float]] = OrderedDict()  # → (failures, last failure)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds the client must still wait before its next attempt (0: it may try now)."""
        client = client_key(client)
        with self._lock:
            failures, last = self._clients.get(client, (0, 0.0))
            now = self.clock()
            if failures and now - last > self.forget:
                del self._clients[client]
                return 0.0
            if failures < self.free:
                return 0.0
            delay = min(self.cap, 2.0 ** (failures - self.free))
            return max(0.0, last + delay - now)

    def failed(self, client: str) -> None:
        client = client_key(client)
        with self._lock:
            failures, _ = self._clients.pop(client, (0, 0.0))
            self._clients[client] = (failures + 1, self.clock())
            while len(self._clients) > self.limit:
                self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        client = client_key(client)
        with self._lock:
            self._clients.pop(client, None)


def client_key(address: str) -> str:
    """Who a peer address counts as for the login brake and the connection limit.

    IPv4: the address. IPv6: its /64 (``2001:db8:1:2::/64``), since one host
    (or one LAN behind a router) owns the whole prefix and could otherwise
    take a fresh address for every guess. An IPv4-mapped IPv6 address (the
    dual-stack socket's ``::ffff:192.0.2.1``) counts as its IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a link-local peer may carry its zone
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def host_name(host: str) -> str | None:
    """The name or address in a Host header (no port, IPv6 without brackets, lower case), or None when malformed."""
    try:
        parts = urlsplit("//" + host)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if not parts.hostname or parts.netloc != host or parts.username is not None:
        return None
    return parts.hostname.lower().rstrip(".")


def host_allowed(host: str, names: set[str]) -> bool:
    """A Host header that names this router: an IP address, ``localhost``, or one of ``names`` (lower case).

    A DNS-rebinding page is served under the attacker's own name (then
    pointed at the router's address), so its requests carry that name: it is
    refused here. An IP literal is always allowed (a rebinding attacker cannot
    make the browser send the router's address as Host).
    """
    name = host_name(host)
    if name is None:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return name == "localhost" or name in names


def new_password_problem(password: str, again: str, what: str = "password") -> str | None:
    """Why a password being set is refused (length, the two entries differ), or None."""
    if len(password) < MIN_PASSWORD:
        return f"The {what} needs at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"The {what} may have at most {MAX_PASSWORD} characters."
    if password != again:
        return f"The two {what}s differ."
    return None
