"""The panel's HTTP server: the standard library's WSGI server, one thread per connection, with time limits.

bottle's default server (wsgiref) serves one connection at a time: a browser
that opens a connection and sends nothing holds everybody else up. Here each
connection gets a thread of its own, with a socket timeout (a stalled or
slow client loses its connection after ``timeout`` seconds without progress)
and a total deadline for the TLS handshake and the request head
(``head_timeout``: a head that trickles in a byte at a time never finishes,
so the per-read timeout alone would let it hold its thread for ever), at
most ``max_connections`` at once and ``max_per_client`` from one client (an
IPv4 address or an IPv6 /64; more are closed at once), and the TLS
handshake happens in that thread too, never in the one that accepts.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from . import memory
from .auth import client_key

__all__ = ["PanelServer", "make_server", "tls_context"]

log = logging.getLogger("bacrouter.panel")

#: seconds a connection may make no progress (reading the request, sending the answer)
TIMEOUT = 20.0
#: seconds from the connection to the end of the request head (TLS handshake included), however it trickles in
HEAD_TIMEOUT = 30.0
MAX_CONNECTIONS = 32
#: connections one client address may hold at once (a browser opens up to 6): one slow or hostile
#: client cannot take all MAX_CONNECTIONS and lock everybody else out
MAX_PER_CLIENT = 8
#: seconds between two returns of free memory to the system (see PanelServer._give_back_memory)
TRIM_EVERY = 2.0




class _DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose reads fail once ``deadline`` (time.monotonic) has passed.

    Each read waits at most the socket's own timeout and never past the
    deadline; ``deadline = None`` lifts it (once the request head is in).
    """

    def __init__(self, sock: socket.socket, timeout: float, deadline: float | None) -> None:
        self.sock, self.timeout, self.deadline = sock, timeout, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request head took too long")
            self.sock.settimeout(min(self.timeout, left))
        else:
            self.sock.settimeout(self.timeout)
        return self.sock.recv_into(buffer)


class _Handler(WSGIRequestHandler):
    timeout = TIMEOUT
    server: PanelServer

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own reader: its reference would keep the socket open after close()
        self._reader = _DeadlineReader(self.connection, self.server.timeout_s, self.server.head_deadline())
        self.rfile = io.BufferedReader(self._reader)

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self._reader.deadline = None  # the head is in: the body has the per-read timeout (and the size limit)
        self.connection.settimeout(self.server.timeout_s)  # and so has the answer
        return ok

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        if isinstance(self.connection, ssl.SSLSocket):
            environ["HTTPS"] = "on"
            environ["wsgi.url_scheme"] = "https"
        return environ

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.client_address[0], format % args)


class PanelServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext | None = None,
                 max_connections: int = MAX_CONNECTIONS, timeout: float = TIMEOUT,
                 max_per_client: int = MAX_PER_CLIENT, head_timeout: float = HEAD_TIMEOUT) -> None:
        self.tls, self.timeout_s, self.max_per_client = tls, timeout, max_per_client
        self.head_timeout = head_timeout
        self._connection = threading.local()  # per connection thread: its head deadline
        self._per_client: dict[str, int] = {}
        self._per_client_lock = threading.Lock()
        self._trim_lock, self._trimmed = threading.Lock(), 0.0
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def _client_enter(self, client: str) -> bool:
        with self._per_client_lock:
            held = self._per_client.get(client, 0)
            if held >= self.max_per_client:
                return False
            self._per_client[client] = held + 1
            return True

    def _client_leave(self, client: str) -> None:
        with self._per_client_lock:
            held = self._per_client.pop(client, 1) - 1
            if held > 0:
                self._per_client[client] = held

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._client_enter(client_key(client_address[0])):
            self.refused += 1  # this client holds its share already
            self.shutdown_request(request)
            return
        if not self._slots.acquire(blocking=False):
            self._client_leave(client_key(client_address[0]))
            self.refused += 1  # a full house: this one is closed, the ones being served go on
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            self._client_leave(client_key(client_address[0]))
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        deadline = time.monotonic() + self.head_timeout
        try:
            # the handshake is one blocking call: CPython bounds the whole of it by the socket timeout
            request.settimeout(min(self.timeout_s, self.head_timeout))
            if self.tls is not None:
                try:
                    request = self.tls.wrap_socket(request, server_side=True)
                except (OSError, ssl.SSLError) as err:
                    log.debug("%s: TLS handshake failed: %s", client_address[0], err)
                    self.shutdown_request(request)
                    return
            self._connection.deadline = deadline
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
            self._client_leave(client_key(client_address[0]))
            self._give_back_memory()

    def _give_back_memory(self) -> None:
        """When the last connection ends, hand the C heap's free memory back to the system (at most every
        TRIM_EVERY seconds, and only when nobody is being served: it takes a millisecond or two)."""
        now = time.monotonic()
        with self._per_client_lock:
            busy = bool(self._per_client)
        with self._trim_lock:
            if busy or now - self._trimmed < TRIM_EVERY:
                return
            self._trimmed = now
        memory.give_back()

    def head_deadline(self) -> float | None:
        """The current connection's deadline for its request head (called in its thread)."""
        return getattr(self._connection, "deadline", None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("%s: connection ended with an error", client_address[0], exc_info=True)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext | None:
    """A server context from uhttpd's certificate and key, when both exist (None: plain HTTP).

    uhttpd's first start writes them in DER (px5g ``-der``); Python loads PEM:
    DER files are converted in a private temporary directory, removed at once.
    """
    if not (cert.is_file() and key.is_file()):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert_data, key_data = cert.read_bytes(), key.read_bytes()
    if cert_data.lstrip().startswith(b"-----BEGIN") and key_data.lstrip().startswith(b"-----BEGIN"):
        context.load_cert_chain(str(cert), str(key))
        return context
    pem_cert = cert_data if cert_data.lstrip().startswith(b"-----BEGIN") else \
        ssl.DER_cert_to_PEM_cert(cert_data).encode()
    last: Exception | None = None
    with tempfile.TemporaryDirectory(prefix="bacrouter-panel-") as scratch:
        cert_file, key_file = Path(scratch) / "cert.pem", Path(scratch) / "key.pem"
        cert_file.write_bytes(pem_cert)
        labels = [None] if key_data.lstrip().startswith(b"-----BEGIN") else \
            ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"]
        for label in labels:
            if label is None:
                key_file.write_bytes(key_data)
            else:
                body = base64.encodebytes(key_data).decode()
                key_file.write_text(f"-----BEGIN {label}-----\n{body}-----END {label}-----\n")
            os.chmod(key_file, 0o600)
            try:
                context.load_cert_chain(str(cert_file), str(key_file))
                return context
            except ssl.SSLError as err:
                last = err
    raise ssl.SSLError(f"cannot load {cert} and {key}: {last}")


def make_server(app: Any, host: str, port: int, tls: ssl.SSLContext | None = None,
                **options: Any) -> PanelServer:
    server = PanelServer((host, port), tls, **options)
    server.set_app(app)
    return server
