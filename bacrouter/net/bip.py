"""A BACnet/IP port's link layer (Annex J), sans-IO: normal, foreign device, BBMD.

``receive`` takes a datagram, its source B/IP address, whether it arrived as a
broadcast, and the time; ``send`` wraps an NPDU from the router; ``poll`` runs
the timers (foreign-device registration, FDT expiry). Each returns a list of
:mod:`bacrouter.actions`, in order: :class:`Transmit` a datagram, :class:`Deliver`
an NPDU to the router, :class:`Persist` a BDT written over the network (Write-BDT)
and :class:`Announce` the routes once a foreign device registration succeeds.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from ..actions import Action, Announce, Deliver, Persist, Transmit
from . import bvll
from .bvll import BdtEntry, FdtEntry, Function, Result
from .npdu import DecodeError

__all__ = ["BipLink", "FDT_GRACE", "bdt_texts"]

log = logging.getLogger("bacrouter.bip")

#: seconds a BBMD keeps a foreign device beyond its time-to-live (J.5.2.3)
FDT_GRACE = 30
#: retry a registration that got no answer after this many seconds
REGISTER_RETRY = 5.0

_NONE: list[Action] = []  # returned, never changed: no list to build when nothing is to be done


@dataclass
class _Foreign:
    address: bytes
    ttl: int
    expires: float


@dataclass
class Registration:
    """A foreign device's registration with its BBMD."""

    bbmd: bytes
    ttl: int
    state: str = "unregistered"  # registering, registered, rejected
    next_attempt: float = 0.0
    registered_at: float | None = None
    last_result: int | None = None
    attempts: int = 0


class BipLink:
    """One BACnet/IP port's data link (Annex J), sans-IO: normal, foreign device or BBMD.

    Owns the broadcast distribution table and the foreign device table (a
    BBMD), the registration with a BBMD and its renewal (a foreign device),
    and the BVLL counters. ``receive``, ``send`` and ``poll`` take datagrams
    and timestamps and return actions: datagrams to transmit, the NPDU to
    deliver to the router, a written BDT to persist, a registration to announce.
    """

    def __init__(
        self,
        address: bytes,
        broadcast: bytes | None,
        mode: str = "normal",
        *,
        bdt: list[BdtEntry] | None = None,
        fdt_size: int = 64,
        write_bdt: bool = False,
        bbmd: bytes | None = None,
        ttl: int = 300,
    ) -> None:
        if mode not in ("normal", "foreign", "bbmd"):
            raise ValueError(f"unknown BACnet/IP mode {mode!r}")
        if mode == "foreign" and bbmd is None:
            raise ValueError("foreign device mode needs a BBMD address")
        self.address = address
        self.broadcast = broadcast  # None on point-to-point (PPP) interfaces
        self.mode = mode
        self.bdt: list[BdtEntry] = list(bdt or [])
        self.fdt: dict[bytes, _Foreign] = {}
        self.fdt_size = fdt_size
        self.write_bdt = write_bdt
        self.registration = Registration(bbmd, ttl) if mode == "foreign" and bbmd else None
        self.counters: Counter[str] = Counter()

    # ------------------------------------------------------------------ receive

    def receive(self, src: bytes, data: bytes, now: float, via_broadcast: bool = False) -> list[Action]:
        """A datagram from ``src``: what to transmit, then the NPDU to deliver (if any)."""
        if src == self.address:
            return _NONE  # our own broadcast coming back
        try:
            function, body = bvll.split(data)
        except DecodeError as err:
            self.counters["malformed"] += 1
            log.debug("malformed BVLL from %s: %s", bvll.text(src), err)
            return _NONE
        if function == Function.ORIGINAL_UNICAST_NPDU:
            return [Deliver(src, body, False)]
        if function == Function.ORIGINAL_BROADCAST_NPDU:
            if self.mode == "bbmd":
                forwarded = bvll.pack(Function.FORWARDED_NPDU, src + body)
                out = self._to_peers_and_foreign(forwarded, exclude=src)
                out.append(Deliver(src, body, True))
                return out
            return [Deliver(src, body, True)]
        if function == Function.FORWARDED_NPDU:
            return self._forwarded(src, body, via_broadcast)
        if function == Function.DISTRIBUTE_BROADCAST_TO_NETWORK:
            return self._distribute(src, body)
        handler = self._MANAGEMENT.get(function)
        if handler is None:
            self.counters["unsupported_function"] += 1
            return _NONE
        try:
            return handler(self, src, body, now)
        except DecodeError as err:
            self.counters["malformed"] += 1
            log.debug("malformed BVLL from %s: %s", bvll.text(src), err)
            nak = _MALFORMED_NAK.get(function)  # Annex J: a request that cannot be carried out gets its NAK
            return [Transmit(src, _result(nak))] if nak is not None else _NONE

    def _forwarded(self, src: bytes, body: bytes, via_broadcast: bool) -> list[Action]:
        if len(body) < 6:
            self.counters["malformed"] += 1
            return _NONE
        origin, npdu = body[:6], body[6:]
        if origin == self.address:
            return _NONE
        if self.mode != "bbmd":
            return [Deliver(origin, npdu, True)]
        if not any(peer.address == src for peer in self.bdt):
            # only BDT peers may inject broadcasts into this network
            self.counters["forwarded_from_stranger"] += 1
            return _NONE
        out: list[Action] = []
        datagram = bvll.pack(Function.FORWARDED_NPDU, body)
        if not via_broadcast and self.broadcast is not None:
            # the peer sent it to us alone (two-hop distribution): we broadcast it here
            out.append(Transmit(self.broadcast, datagram))
        out += [Transmit(fd, datagram) for fd in self.fdt]
        out.append(Deliver(origin, npdu, True))
        return out

    def _distribute(self, src: bytes, body: bytes) -> list[Action]:
        if self.mode != "bbmd" or src not in self.fdt:
            self.counters["nak_sent"] += 1
            return [Transmit(src, _result(Result.DISTRIBUTE_BROADCAST_TO_NETWORK_NAK))]
        forwarded = bvll.pack(Function.FORWARDED_NPDU, src + body)
        out: list[Action] = []
        if self.broadcast is not None:
            out.append(Transmit(self.broadcast, forwarded))
        out += self._to_peers_and_foreign(forwarded, exclude=src)
        out.append(Deliver(src, body, True))
        return out

    # ------------------------------------------------------------------ management

    def _result(self, src: bytes, body: bytes, now: float) -> list[Action]:
        if len(body) < 2:
            raise DecodeError("BVLC-Result without a result code")
        code = int.from_bytes(body[:2], "big")
        reg = self.registration
        if reg is not None and src == reg.bbmd:
            reg.last_result = code
            if code == Result.SUCCESS:
                newly = reg.state != "registered"
                reg.state, reg.registered_at, reg.attempts = "registered", now, 0
                reg.next_attempt = now + reg.ttl  # the BBMD keeps us for ttl + 30 s grace
                if newly:
                    log.info("registered as a foreign device with %s (ttl %d s)", bvll.text(src), reg.ttl)
                    # broadcasts sent before were dropped: the router tells the network its routes again
                    return [Announce()]
            elif code == Result.REGISTER_FOREIGN_DEVICE_NAK:
                if reg.state != "rejected":
                    log.warning("BBMD %s refused the foreign device registration", bvll.text(src))
                reg.state = "rejected"
                reg.next_attempt = now + 60.0
            elif code == Result.DISTRIBUTE_BROADCAST_TO_NETWORK_NAK and reg.state == "registered":
                # the BBMD no longer knows us (it restarted): register again now, not after the TTL
                log.warning("BBMD %s refused a broadcast: it has forgotten us, registering again", bvll.text(src))
                reg.state, reg.next_attempt = "unregistered", now
            return _NONE
        if code != Result.SUCCESS:
            self.counters["nak_received"] += 1
            log.info("BVLC-Result NAK 0x%04x from %s", code, bvll.text(src))
        return _NONE

    def _register(self, src: bytes, body: bytes, now: float) -> list[Action]:
        if len(body) < 2:
            raise DecodeError("Register-Foreign-Device without a time-to-live")
        ttl = int.from_bytes(body[:2], "big")
        if self.mode != "bbmd" or (src not in self.fdt and len(self.fdt) >= self.fdt_size):
            self.counters["nak_sent"] += 1
            return [Transmit(src, _result(Result.REGISTER_FOREIGN_DEVICE_NAK))]
        if src not in self.fdt:
            log.info("foreign device %s registered (ttl %d s)", bvll.text(src), ttl)
        self.fdt[src] = _Foreign(src, ttl, now + ttl + FDT_GRACE)
        return [Transmit(src, _result(Result.SUCCESS))]

    def _read_fdt(self, src: bytes, body: bytes, now: float) -> list[Action]:
        if self.mode != "bbmd":
            return [Transmit(src, _result(Result.READ_FDT_NAK))]
        return [Transmit(src, bvll.pack(Function.READ_FDT_ACK, bvll.encode_fdt(self.fdt_entries(now))))]

    def _delete_fdt(self, src: bytes, body: bytes, now: float) -> list[Action]:
        if len(body) < 6:
            raise DecodeError("Delete-Foreign-Device-Table-Entry without an address")
        if self.mode != "bbmd" or body[:6] not in self.fdt:
            return [Transmit(src, _result(Result.DELETE_FDT_ENTRY_NAK))]
        del self.fdt[body[:6]]
        log.info("%s deleted foreign device %s", bvll.text(src), bvll.text(body[:6]))
        return [Transmit(src, _result(Result.SUCCESS))]

    def _read_bdt(self, src: bytes, body: bytes, now: float) -> list[Action]:
        if self.mode != "bbmd":
            return [Transmit(src, _result(Result.READ_BDT_NAK))]
        return [Transmit(src, bvll.pack(Function.READ_BDT_ACK, bvll.encode_bdt(self.bdt)))]

    def _write_bdt(self, src: bytes, body: bytes, now: float) -> list[Action]:
        if self.mode != "bbmd" or not self.write_bdt:
            return [Transmit(src, _result(Result.WRITE_BDT_NAK))]
        entries = bvll.decode_bdt(body)
        self.bdt = entries
        log.warning("%s wrote the broadcast distribution table: %s", bvll.text(src),
                    ", ".join(bvll.text(e.address) for e in entries) or "(empty)")
        # the shell keeps it in the port's configuration, so a restart does not undo it
        return [Persist("bdt", bdt_texts(entries)), Transmit(src, _result(Result.SUCCESS))]

    def _ignore(self, src: bytes, body: bytes, now: float) -> list[Action]:
        return _NONE  # acks to requests we never make

    _MANAGEMENT = {  # noqa: RUF012 - a class-level dispatch table
        Function.RESULT: _result,
        Function.REGISTER_FOREIGN_DEVICE: _register,
        Function.READ_FDT: _read_fdt,
        Function.DELETE_FDT_ENTRY: _delete_fdt,
        Function.READ_BDT: _read_bdt,
        Function.WRITE_BDT: _write_bdt,
        Function.READ_BDT_ACK: _ignore,
        Function.READ_FDT_ACK: _ignore,
    }

    # ------------------------------------------------------------------ send

    def send(self, dest: bytes | None, npdu: bytes) -> list[Action]:
        """The datagrams that carry ``npdu`` to ``dest``, or to everyone on the network when None."""
        if dest is not None:
            return [Transmit(dest, bvll.pack(Function.ORIGINAL_UNICAST_NPDU, npdu))]
        if self.mode == "foreign":
            reg = self.registration
            assert reg is not None
            if reg.state != "registered":
                self.counters["dropped_unregistered_broadcast"] += 1
                return _NONE
            return [Transmit(reg.bbmd, bvll.pack(Function.DISTRIBUTE_BROADCAST_TO_NETWORK, npdu))]
        out: list[Action] = []
        if self.broadcast is not None:
            out.append(Transmit(self.broadcast, bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, npdu)))
        if self.mode == "bbmd":
            out += self._to_peers_and_foreign(bvll.pack(Function.FORWARDED_NPDU, self.address + npdu), exclude=None)
        return out

    def _to_peers_and_foreign(self, datagram: bytes, exclude: bytes | None) -> list[Action]:
        out: list[Action] = [Transmit(peer.forward_to, datagram) for peer in self.bdt if peer.address != self.address]
        out += [Transmit(fd, datagram) for fd in self.fdt if fd != exclude]
        return out

    # ------------------------------------------------------------------ timers

    def poll(self, now: float) -> list[Action]:
        for address in [a for a, fd in self.fdt.items() if fd.expires <= now]:
            log.info("foreign device %s expired", bvll.text(address))
            del self.fdt[address]
        reg = self.registration
        if reg is None or now < reg.next_attempt:
            return _NONE
        if reg.state == "registered" and reg.registered_at is not None and now > reg.registered_at + reg.ttl + FDT_GRACE:
            log.warning("foreign device registration with %s lapsed", bvll.text(reg.bbmd))
            reg.state = "unregistered"
        if reg.state != "registered":
            reg.state = "registering" if reg.state != "rejected" else reg.state
        reg.attempts += 1
        reg.next_attempt = now + min(REGISTER_RETRY * reg.attempts, 60.0)
        return [Transmit(reg.bbmd, bvll.pack(Function.REGISTER_FOREIGN_DEVICE, reg.ttl.to_bytes(2, "big")))]

    def fdt_entries(self, now: float) -> list[FdtEntry]:
        return [FdtEntry(a, fd.ttl, max(0, int(fd.expires - now))) for a, fd in self.fdt.items()]

    def status(self, now: float) -> dict[str, object]:
        info: dict[str, object] = {"mode": self.mode, "address": bvll.text(self.address),
                                   "broadcast": bvll.text(self.broadcast) if self.broadcast else None}
        if self.mode == "bbmd":
            info["bdt"] = list(bdt_texts(self.bdt))
            info["fdt"] = [{"address": bvll.text(e.address), "ttl": e.ttl, "remaining": e.remaining}
                           for e in self.fdt_entries(now)]
            info["fdt_size"] = self.fdt_size
        reg = self.registration
        if reg is not None:
            registered = reg.state == "registered" and reg.registered_at is not None
            info["registration"] = {
                "bbmd": bvll.text(reg.bbmd), "state": reg.state, "ttl": reg.ttl, "last_result": reg.last_result,
                "attempts": reg.attempts,
                # what an installer asks: how long the BBMD keeps us without a renewal, and when we try next
                "expires_in": max(0, int(reg.registered_at + reg.ttl + FDT_GRACE - now))  # type: ignore[operator]
                if registered else None,
                "next_attempt_in": max(0, int(reg.next_attempt - now)),
            }
        info["counters"] = dict(self.counters)
        return info


_MALFORMED_NAK = {
    Function.REGISTER_FOREIGN_DEVICE: Result.REGISTER_FOREIGN_DEVICE_NAK,
    Function.DELETE_FDT_ENTRY: Result.DELETE_FDT_ENTRY_NAK,
    Function.WRITE_BDT: Result.WRITE_BDT_NAK,
}


def bdt_texts(entries: list[BdtEntry]) -> tuple[str, ...]:
    """BDT entries as the ``bdt`` option writes them: ``address:port/mask``."""
    return tuple(f"{bvll.text(e.address)}/{'.'.join(str(b) for b in e.mask)}" for e in entries)


def _result(code: int) -> bytes:
    return bvll.pack(Function.RESULT, code.to_bytes(2, "big"))

