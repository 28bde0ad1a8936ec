"""The BACnet router's network layer (ASHRAE 135 clause 6), sans-IO.

The router is fed NPDUs with the port and data-link source they came from and
the current time; every entry point returns a list of :class:`~bacrouter.actions.Send`
actions, in order. It never touches a socket
or a clock, so every behaviour is tested on simulated time.

The router's own application entity (its device object) is attached as the
pseudo-port :data:`LOCAL`. It is reachable from every port: messages for the
router are handed to it with SNET/SADR naming the port's network and the
sender, so the application answers "remote stations" and the router sends
those answers back out as local traffic of that port.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from ..actions import Send
from .npdu import (
    GLOBAL_NETWORK,
    DecodeError,
    NetMsg,
    Npdu,
    RejectReason,
    RoutingEntry,
    decode,
    decode_network_number_is,
    decode_reject,
    decode_routing_table,
    encode,
    encode_network_list,
    encode_reject,
    encode_routing_table,
    network_list,
)
from .ratelimit import KeyedLimit, TokenBucket

__all__ = ["LOCAL", "Send", "PortInfo", "Route", "Router", "RouterTimers"]

log = logging.getLogger("bacrouter.router")

#: port id of the router's own application entity
LOCAL = 0

#: network messages that only make sense on the network where they are sent
_LINK_LOCAL = frozenset({NetMsg.WHAT_IS_NETWORK_NUMBER, NetMsg.NETWORK_NUMBER_IS})


@dataclass
class PortInfo:
    """What the router needs to know about a port."""

    port_id: int  # 1..255, used in Initialize-Routing-Table-Ack
    network: int
    max_npdu: int = 1497
    mac_len: int = 6  # octets in a station address on this data link
    mac: bytes = b""  # the router's own address on the port
    name: str = ""


@dataclass
class Route:
    network: int
    port_id: int
    next_hop: bytes | None  # None: directly connected
    busy_until: float = 0.0
    learned: float = 0.0  # last announced (confirmed)
    used: float = 0.0  # last routed through, or heard from

    def last_heard(self) -> float:
        return self.learned if self.learned > self.used else self.used

    def busy(self, now: float) -> bool:
        return self.busy_until > now


@dataclass
class RouterTimers:
    #: wait for I-Am-Router-To-Network after a Who-Is-Router search
    search_timeout: float = 2.0
    #: after a failed search, reject at once for this long (unless a router appears)
    unreachable_hold: float = 10.0
    #: Router-Busy-To-Network holds a route for this long without Router-Available
    busy_hold: float = 30.0
    #: a learned route not confirmed for this long gives way to a path announced on another port
    route_stale: float = 300.0
    #: messages queued per searched network, and in total
    pending_per_network: int = 32
    pending_total: int = 512
    #: learned routes kept at most (directly connected networks are not counted)
    max_routes: int = 2000
    #: a learned route neither confirmed (announced again) nor used for this long is forgotten
    route_idle: float = 3600.0
    #: seconds between scans for idle routes
    aging_interval: float = 10.0
    #: route announcements (I-Am-Router, Router-Busy/Available, routing table updates) taken in,
    #: a second and in a burst, from one router, and on one port from all
    announce_rate: float = 2.0
    announce_burst: int = 20
    announce_port_rate: float = 20.0
    announce_port_burst: int = 100
    #: I-Am-Router-To-Network sent on a port about newly learned networks (more wait, coalesced)
    reannounce_rate: float = 1.0
    reannounce_burst: int = 5
    #: queries answered (Who-Is-Router-To-Network, Initialize-Routing-Table), from one station and on one port
    query_rate: float = 1.0
    query_burst: int = 5
    query_port_rate: float = 5.0
    query_port_burst: int = 10
    #: octets of Initialize-Routing-Table-Ack sent for one query (a longer table is cut short)
    query_answer_octets: int = 4096
    #: Who-Is-Router-To-Network searches started for unknown networks
    search_rate: float = 10.0
    search_burst: int = 20
    #: broadcasts (Who-Is, Who-Has, ...) handed to the router's own application, from one station and in total
    local_source_rate: float = 10.0
    local_source_burst: int = 20
    local_rate: float = 100.0
    local_burst: int = 200
    #: messages addressed to the router's own application, from one station and in total
    local_unicast_source_rate: float = 100.0
    local_unicast_source_burst: int = 200
    local_unicast_rate: float = 400.0
    local_unicast_burst: int = 800


@dataclass
class _Search:
    deadline: float
    queue: list[tuple[int, bytes | None, Npdu]] = field(default_factory=list)


class Router:
    """The network layer of a BACnet router (clause 6), sans-IO.

    Owns the port table (network number, MAC, max NPDU of each port), the
    routing table (directly connected networks and those learned from
    I-Am-Router-To-Network, with their next hop and Router-Busy state), the
    Who-Is-Router searches for unknown networks with the NPDUs queued behind
    them, and the counters. ``receive``, ``poll`` and ``announce`` take bytes
    and a timestamp and return the ``Send`` actions to carry out; ``LOCAL``
    is the router's own device.
    """

    def __init__(self, timers: RouterTimers | None = None) -> None:
        self.timers = timers or RouterTimers()
        self.ports: dict[int, PortInfo] = {}
        self.routes: dict[int, Route] = {}  # network -> route
        self.counters: Counter[str] = Counter()
        self._searches: dict[int, _Search] = {}
        self._pending = 0
        self._unreachable: dict[int, float] = {}  # network -> until
        #: our network on a port -> the number a neighbour's Network-Number-Is gives it
        self.conflicts: dict[int, int] = {}
        self._claims_logged: set[int] = set()
        # flood limits (issue 10): what one station, one port, or everyone may make the router do
        t = self.timers
        self._announce_limits: dict[int, KeyedLimit] = {}  # port -> per-router and per-port buckets
        self._query_limits: dict[int, KeyedLimit] = {}
        self._reannounce_buckets: dict[int, TokenBucket] = {}  # port -> I-Am-Router about new networks
        self._deferred: dict[int, set[int]] = {}  # port -> networks waiting to be announced there
        self._search_bucket = TokenBucket(t.search_rate, t.search_burst)
        self._local_broadcast = KeyedLimit(t.local_source_rate, t.local_source_burst, t.local_rate, t.local_burst)
        self._local_unicast = KeyedLimit(t.local_unicast_source_rate, t.local_unicast_source_burst,
                                         t.local_unicast_rate, t.local_unicast_burst)
        self._next_aging = 0.0
        self._full_logged = False

    # ------------------------------------------------------------------ ports

    def add_port(self, port: PortInfo, now: float) -> list[Send]:
        """Bring a port up: route its network and announce the change (clause 6.6.2)."""
        if port.port_id in self.ports:
            raise ValueError(f"port id {port.port_id} already in use")
        existing = self.routes.get(port.network)
        if existing is not None and existing.next_hop is None:
            raise ValueError(f"network {port.network} is already directly connected")
        self.ports[port.port_id] = port
        self.routes[port.network] = Route(port.network, port.port_id, None, learned=now)
        self._unreachable.pop(port.network, None)
        out: list[Send] = []
        # tell the new port about everything behind the others ...
        others = self._reachable(excluding_port=port.port_id)
        if others:
            out += self._i_am_router(port.port_id, others)
        # ... and the other ports about the new network
        for other in self.ports:
            if other != port.port_id:
                out += self._i_am_router(other, [port.network])
        out.append(Send(port.port_id, None, encode(Npdu(
            message_type=NetMsg.NETWORK_NUMBER_IS, payload=port.network.to_bytes(2, "big") + b"\x01"))))
        out += self._release_searches(now)
        return out

    def announce(self, port_id: int) -> list[Send]:
        """I-Am-Router-To-Network on one port for everything behind the others (e.g. once it can broadcast)."""
        networks = self._reachable(excluding_port=port_id)
        return self._i_am_router(port_id, networks) if networks and port_id in self.ports else []

    def who_is_router(self, port_ids: list[int] | None = None, network: int | None = None) -> list[Send]:
        """Who-Is-Router-To-Network (for every network, or one) broadcast on the given ports (all when None).

        The routers that answer with I-Am-Router-To-Network are learned as any announcement is: this is the
        operator's "look again" (a route that aged out, a router that came up while its announcement was lost).
        """
        payload = b"" if network is None else network.to_bytes(2, "big")
        data = encode(Npdu(message_type=NetMsg.WHO_IS_ROUTER_TO_NETWORK, payload=payload))
        targets = [p for p in (self.ports if port_ids is None else port_ids) if p in self.ports]
        self.counters["who_is_router_sent"] += len(targets)
        return [Send(p, None, data) for p in targets]

    def remove_port(self, port_id: int) -> None:
        """Take a port down: its network and everything learned through it become unknown."""
        port = self.ports.pop(port_id, None)
        if port is None:
            return
        for network in [n for n, r in self.routes.items() if r.port_id == port_id]:
            del self.routes[network]
        for table in (self._deferred, self._announce_limits, self._query_limits, self._reannounce_buckets):
            table.pop(port_id, None)

    # ------------------------------------------------------------------ input

    def receive(self, port_id: int, src: bytes | None, data: bytes, now: float, broadcast: bool = False) -> list[Send]:
        """An NPDU arrived on ``port_id`` from station ``src`` (``broadcast``: sent to all)."""
        port = self.ports.get(port_id)
        if port is None and port_id != LOCAL:
            self.counters["dropped_port_down"] += 1
            return []
        try:
            npdu = decode(data)
        except DecodeError as err:
            self.counters["dropped_malformed"] += 1
            log.debug("port %d: malformed NPDU from %s: %s", port_id, _hex(src), err)
            return []
        self.counters["received"] += 1
        if port_id == LOCAL:
            return self._from_local(npdu, broadcast, now)
        return self._from_port(port, src or b"", npdu, broadcast, now)

    def _from_port(self, port: PortInfo, src: bytes, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        if npdu.snet is not None:
            if npdu.snet in (0, GLOBAL_NETWORK) or not npdu.sadr:
                # SLEN 0 or an impossible SNET: the reply address is unusable
                self.counters["dropped_bad_source"] += 1
                return []
            route = self.routes.get(npdu.snet)
            if route is not None and route.next_hop is None:
                # someone claims to be routing from one of our own networks
                self.counters["dropped_spoofed_source"] += 1
                return []
            if route is None:
                self._learn(npdu.snet, port.port_id, src, now)
            elif route.port_id == port.port_id:
                route.used = now  # traffic from behind it: the route is alive
        dnet = npdu.dnet
        if dnet is None:
            if npdu.is_network_message:
                return self._network_message(port.port_id, src, npdu, broadcast, now)
            return self._to_local(port, src, npdu, broadcast, now)
        if dnet == GLOBAL_NETWORK:
            if npdu.dadr:
                return self._reject(port.port_id, src, npdu, RejectReason.ADDRESSING_ERROR, dnet)
            out = self._forward_global(port.port_id, src, npdu)
            if npdu.is_network_message:
                out += self._network_message(port.port_id, src, npdu, True, now)
            else:
                out += self._to_local(port, src, npdu, True, now)
            return out
        if dnet == port.network:
            # addressed to the network it arrived on: only the router itself can be meant
            if npdu.dadr and npdu.dadr == port.mac:
                if npdu.is_network_message:
                    return self._network_message(port.port_id, src, npdu, False, now)
                return self._to_local(port, src, npdu, False, now)
            self.counters["dropped_loop"] += 1
            return []
        return self._route(port.port_id, src, npdu, now)

    def _from_local(self, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        """An NPDU from the router's own application."""
        dnet = npdu.dnet
        if dnet is None:
            if npdu.is_network_message:
                return self._network_message(LOCAL, None, npdu, broadcast, now)
            if broadcast:
                # the application's "local network" is every port
                return self._broadcast(encode(npdu), exclude=LOCAL)
            self.counters["dropped_local_unicast"] += 1
            return []
        if dnet == GLOBAL_NETWORK:
            npdu.hop_count = 255
            return self._broadcast(encode(npdu), exclude=LOCAL)
        return self._route(LOCAL, None, npdu, now)

    # ------------------------------------------------------------------ routing

    def _route(self, from_port: int, src: bytes | None, npdu: Npdu, now: float) -> list[Send]:
        """Send an NPDU with a specific DNET on towards it."""
        dnet = npdu.dnet
        assert dnet is not None
        if npdu.message_type in _LINK_LOCAL:
            self.counters["dropped_unroutable"] += 1  # clause 6.4.19/20: never routed
            return []
        route = self.routes.get(dnet)
        if route is None:
            until = self._unreachable.get(dnet)
            if until is not None and until > now:
                return self._reject(from_port, src, npdu, RejectReason.UNKNOWN_NETWORK, dnet)
            return self._search(from_port, src, npdu, now)
        if route.port_id == from_port:
            self.counters["dropped_loop"] += 1
            return []
        if route.busy(now):
            return self._reject(from_port, src, npdu, RejectReason.ROUTER_BUSY, dnet)
        out_port = self.ports[route.port_id]
        if from_port != LOCAL and npdu.snet is None:
            # the first router on the path records where the message came from
            npdu.snet = self.ports[from_port].network
            npdu.sadr = src or b""
        if route.next_hop is None:
            return self._deliver(from_port, src, npdu, out_port, now)
        route.used = now
        if from_port != LOCAL:
            if npdu.hop_count <= 1:
                self.counters["dropped_hop_count"] += 1
                return []
            npdu.hop_count -= 1
        data = encode(npdu)
        if len(data) > out_port.max_npdu:
            return self._reject(from_port, src, npdu, RejectReason.MESSAGE_TOO_LONG, dnet)
        self.counters["forwarded"] += 1
        return [Send(out_port.port_id, route.next_hop, data)]

    def _deliver(self, from_port: int, src: bytes | None, npdu: Npdu, out_port: PortInfo, now: float) -> list[Send]:
        """Last hop: put the NPDU on a directly connected network.

        The router's application is a node of that network too: it gets
        broadcasts on it, and messages for the router's own address there.
        """
        dnet = out_port.network
        if npdu.dadr and len(npdu.dadr) != out_port.mac_len:
            return self._reject(from_port, src, npdu, RejectReason.ADDRESSING_ERROR, dnet)
        for_us = npdu.dadr == out_port.mac and bool(out_port.mac)
        out: list[Send] = []
        if from_port != LOCAL and (for_us or not npdu.dadr):
            if npdu.is_network_message:
                if for_us:
                    return self._network_message(from_port, src, npdu, False, now)
            else:
                out += self._to_local(self.ports[from_port], src or b"", npdu, not for_us, now)
        if for_us:
            return out
        last = Npdu(control=npdu.control, snet=npdu.snet, sadr=npdu.sadr, message_type=npdu.message_type,
                    vendor_id=npdu.vendor_id, payload=npdu.payload)
        data = encode(last)
        if len(data) > out_port.max_npdu:
            return out + self._reject(from_port, src, npdu, RejectReason.MESSAGE_TOO_LONG, dnet)
        self.counters["forwarded"] += 1
        out.append(Send(out_port.port_id, npdu.dadr or None, data))
        return out

    def _forward_global(self, from_port: int, src: bytes, npdu: Npdu) -> list[Send]:
        if npdu.hop_count <= 1:
            self.counters["dropped_hop_count"] += 1
            return []
        fwd = Npdu(control=npdu.control, dnet=GLOBAL_NETWORK, hop_count=npdu.hop_count - 1,
                   snet=npdu.snet, sadr=npdu.sadr, message_type=npdu.message_type,
                   vendor_id=npdu.vendor_id, payload=npdu.payload)
        if fwd.snet is None:
            fwd.snet = self.ports[from_port].network
            fwd.sadr = src
        out = self._broadcast(encode(fwd), exclude=from_port)
        self.counters["forwarded"] += len(out)
        return out

    def _broadcast(self, data: bytes, exclude: int) -> list[Send]:
        """A broadcast on every port but ``exclude``, where it fits (a broadcast cannot be rejected)."""
        out = []
        for port in self.ports.values():
            if port.port_id == exclude:
                continue
            if len(data) > port.max_npdu:
                self.counters["dropped_too_long_broadcast"] += 1
                continue
            out.append(Send(port.port_id, None, data))
        return out

    def _to_local(self, port: PortInfo, src: bytes, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        """Hand an APDU to the router's application as coming from a remote station (within its rate)."""
        up = Npdu(control=npdu.control, payload=npdu.payload)
        if npdu.snet is not None:
            up.snet, up.sadr = npdu.snet, npdu.sadr
        else:
            up.snet, up.sadr = port.network, src
        # a broadcast storm must not keep the application (and so the event loop) busy: the router
        # goes on forwarding what the application is spared
        limited = (self._local_broadcast if broadcast else self._local_unicast).allow((up.snet, up.sadr), now)
        if limited is not None:
            self.counters[f"dropped_local_rate_{limited}"] += 1
            return []
        if npdu.dnet == GLOBAL_NETWORK:
            up.dnet, up.hop_count = GLOBAL_NETWORK, npdu.hop_count
        self.counters["to_local"] += 1
        return [Send(LOCAL, None if broadcast else b"", encode(up))]

    def _learn(self, network: int, port_id: int, router: bytes, now: float) -> bool:
        """Record that ``network`` is reached through ``router`` on ``port_id``."""
        route = self.routes.get(network)
        if route is not None and route.next_hop is None:
            # two paths to one network would loop: ours wins, and somebody should hear of it, once
            if network not in self._claims_logged:
                self._claims_logged.add(network)
                log.warning("router %s on port %d claims directly connected network %d", _hex(router), port_id, network)
            self.counters["claims_on_direct_networks"] += 1
            return False
        self._unreachable.pop(network, None)
        if route is not None and route.port_id == port_id and route.next_hop == router:
            route.learned = now  # a refresh: nothing new to tell the other ports
            return False
        if route is not None and route.port_id != port_id and now - route.learned < self.timers.route_stale:
            # the same network behind another port, while the path we know is alive: parallel routers
            # relaying each other's announcements would otherwise swap routes (and announce them) for ever
            self.counters["conflicting_routes"] += 1
            if network not in self._claims_logged:
                self._claims_logged.add(network)
                log.warning("network %d is announced on port %d by %s as well as on port %d: keeping port %d",
                            network, port_id, _hex(router), route.port_id, route.port_id)
            return False
        if route is None and len(self.routes) - len(self.ports) >= self.timers.max_routes and not self._make_room(network, now):
            return False
        self.routes[network] = Route(network, port_id, router, learned=now)
        self.counters["routes_learned"] += 1
        return True

    def _make_room(self, network: int, now: float) -> bool:
        """The table is full: only a network we are searching for displaces the least used route."""
        if network in self._searches:
            victim = min((r for r in self.routes.values() if r.next_hop is not None),
                         key=lambda r: (r.used, r.learned), default=None)
            if victim is not None:
                del self.routes[victim.network]
                self.counters["routes_evicted"] += 1
                return True
        self.counters["dropped_route_table_full"] += 1
        if not self._full_logged:
            self._full_logged = True
            log.warning("routing table full (%d learned routes): new networks are not learned until routes age out",
                        self.timers.max_routes)
        return False

    def _age_routes(self, now: float) -> None:
        """Forget learned routes neither confirmed nor used for ``route_idle`` (a search finds them again)."""
        self._next_aging = now + self.timers.aging_interval
        idle = now - self.timers.route_idle
        expired = [n for n, r in self.routes.items()
                   if r.next_hop is not None and r.last_heard() < idle and not r.busy(now)]
        for network in expired:
            del self.routes[network]
        if expired:
            self.counters["routes_expired"] += len(expired)
            log.info("%d learned routes expired (neither confirmed nor used for %.0f s)", len(expired),
                     self.timers.route_idle)
        if self._full_logged and len(self.routes) - len(self.ports) < self.timers.max_routes:
            self._full_logged = False

    def set_max_routes(self, max_routes: int) -> None:
        """A new bound (a reload); a lower one than the table holds applies as routes age out."""
        self.timers.max_routes = max_routes

    # ------------------------------------------------------------------ flood limits

    def _announcement_allowed(self, port_id: int, src: bytes | None, now: float) -> bool:
        """Another route announcement from ``src`` on the port, within the rates?"""
        limit = self._announce_limits.get(port_id)
        if limit is None:
            t = self.timers
            limit = self._announce_limits[port_id] = KeyedLimit(t.announce_rate, t.announce_burst,
                                                                t.announce_port_rate, t.announce_port_burst)
        if limit.allow(src, now) is None:
            return True
        self.counters["dropped_announce_rate"] += 1
        return False

    def _query_allowed(self, port_id: int, src: bytes | None, npdu: Npdu, now: float, small: bool = False) -> bool:
        """Another query to answer (a small request, a large answer: a reflector if unbounded)?

        A ``small`` answer (no larger than the query) counts against the asker's share only, so
        a flood of big queries from made-up sources does not stop stations finding their routes.
        """
        if port_id == LOCAL:
            return True
        limit = self._query_limits.get(port_id)
        if limit is None:
            t = self.timers
            limit = self._query_limits[port_id] = KeyedLimit(t.query_rate, t.query_burst,
                                                             t.query_port_rate, t.query_port_burst)
        key = (npdu.snet, npdu.sadr) if npdu.snet is not None else src
        if limit.allow(key, now, total=not small) is None:
            return True
        self.counters["dropped_query_rate"] += 1
        return False

    def _reannounce(self, from_port: int, networks: list[int], now: float) -> list[Send]:
        """Tell the other ports (and the application) about newly learned networks, at a bounded rate.

        What cannot go now waits in a set per port and goes out coalesced from
        :meth:`poll`, so a flood of announcements is not repeated, batch by
        batch, onto every other network.
        """
        out: list[Send] = []
        for port_id in [*self.ports, LOCAL]:
            if port_id == from_port:
                continue
            waiting = self._deferred.get(port_id)
            if self._reannounce_bucket(port_id).allow(now):
                if waiting:
                    networks = sorted(waiting.union(networks))
                    waiting.clear()
                out += self._i_am_router(port_id, networks)
            else:
                self._deferred.setdefault(port_id, set()).update(networks)
                self.counters["deferred_reannouncements"] += 1
        return out

    def _reannounce_bucket(self, port_id: int) -> TokenBucket:
        bucket = self._reannounce_buckets.get(port_id)
        if bucket is None:
            bucket = self._reannounce_buckets[port_id] = TokenBucket(self.timers.reannounce_rate,
                                                                     self.timers.reannounce_burst)
        return bucket

    def _flush_deferred(self, now: float) -> list[Send]:
        out: list[Send] = []
        for port_id, waiting in self._deferred.items():
            if waiting and self._reannounce_bucket(port_id).allow(now):
                networks = sorted(n for n in waiting if n in self.routes and self.routes[n].port_id != port_id)
                waiting.clear()
                if networks:
                    out += self._i_am_router(port_id, networks)
        return out

    def _reachable(self, excluding_port: int) -> list[int]:
        return sorted(n for n, r in self.routes.items() if r.port_id != excluding_port)

    # ------------------------------------------------------------------ searches

    def _search(self, from_port: int, src: bytes | None, npdu: Npdu, now: float) -> list[Send]:
        dnet = npdu.dnet
        assert dnet is not None
        search = self._searches.get(dnet)
        out: list[Send] = []
        if search is None:
            if not self._search_bucket.allow(now):
                # traffic for made-up networks must not make us broadcast a search for each
                self.counters["dropped_search_rate"] += 1
                return self._reject(from_port, src, npdu, RejectReason.ROUTER_BUSY, dnet)
            search = _Search(deadline=now + self.timers.search_timeout)
            self._searches[dnet] = search
            self.counters["searches"] += 1
            who_is = encode(Npdu(message_type=NetMsg.WHO_IS_ROUTER_TO_NETWORK, payload=dnet.to_bytes(2, "big")))
            out = [Send(p, None, who_is) for p in self.ports if p != from_port]
        if len(search.queue) >= self.timers.pending_per_network or self._pending >= self.timers.pending_total:
            self.counters["dropped_queue_full"] += 1
            return out + self._reject(from_port, src, npdu, RejectReason.ROUTER_BUSY, dnet)
        search.queue.append((from_port, src, npdu))
        self._pending += 1
        return out

    def _release_searches(self, now: float) -> list[Send]:
        out: list[Send] = []
        for dnet in [n for n in self._searches if n in self.routes]:
            search = self._searches.pop(dnet)
            self._pending -= len(search.queue)
            for from_port, src, npdu in search.queue:
                if from_port == LOCAL or from_port in self.ports:
                    out += self._route(from_port, src, npdu, now)
        return out

    def poll(self, now: float) -> list[Send]:
        """Expire searches and busy marks; call at least every few hundred milliseconds."""
        out: list[Send] = []
        for dnet in [n for n, s in self._searches.items() if s.deadline <= now]:
            search = self._searches.pop(dnet)
            self._pending -= len(search.queue)
            self._unreachable[dnet] = now + self.timers.unreachable_hold
            self.counters["searches_failed"] += 1
            for from_port, src, npdu in search.queue:
                if from_port == LOCAL or from_port in self.ports:
                    out += self._reject(from_port, src, npdu, RejectReason.UNKNOWN_NETWORK, dnet)
        for dnet in [n for n, until in self._unreachable.items() if until <= now]:
            del self._unreachable[dnet]
        for route in self.routes.values():
            if route.busy_until and route.busy_until <= now:
                route.busy_until = 0.0
        if now >= self._next_aging:
            self._age_routes(now)
        if self._deferred:
            out += self._flush_deferred(now)
        return out

    # ------------------------------------------------------------------ network messages

    def _network_message(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        mtype = npdu.message_type
        self.counters["network_messages"] += 1
        try:
            handler = self._HANDLERS.get(mtype) if npdu.vendor_id is None else None
            if handler is None:
                return self._unknown_message(port_id, src, npdu, broadcast)
            return handler(self, port_id, src, npdu, broadcast, now)
        except DecodeError as err:
            self.counters["dropped_malformed"] += 1
            log.debug("port %d: malformed %s from %s: %s", port_id, _msg_name(mtype), _hex(src), err)
            return []

    def _unknown_message(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool) -> list[Send]:
        self.counters["unknown_network_messages"] += 1
        if broadcast or npdu.dnet == GLOBAL_NETWORK:
            return []  # rejecting broadcasts would answer every listener's mistake with a storm
        return self._reject(port_id, src, npdu, RejectReason.UNKNOWN_MESSAGE_TYPE, npdu.dnet or 0)

    def _on_who_is_router(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        known = len(npdu.payload) >= 2 and int.from_bytes(npdu.payload[:2], "big") in self.routes
        if not self._query_allowed(port_id, src, npdu, now, small=known):
            return []
        if npdu.payload:
            if len(npdu.payload) < 2:
                raise DecodeError("Who-Is-Router-To-Network with a 1-octet network")
            dnet = int.from_bytes(npdu.payload[:2], "big")
            route = self.routes.get(dnet)
            if route is None:
                # ask on the other ports on the asker's behalf; the answer is relayed back
                fwd = Npdu(message_type=NetMsg.WHO_IS_ROUTER_TO_NETWORK, payload=npdu.payload[:2])
                if port_id != LOCAL:
                    fwd.snet = npdu.snet if npdu.snet is not None else self.ports[port_id].network
                    fwd.sadr = npdu.sadr if npdu.snet is not None else (src or b"")
                data = encode(fwd)
                return [Send(p, None, data) for p in self.ports if p != port_id]
            if route.port_id == port_id:
                return []
            return self._i_am_router(port_id, [dnet])
        networks = self._reachable(excluding_port=port_id)
        return self._i_am_router(port_id, networks) if networks else []

    def _on_i_am_router(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        networks = network_list(npdu.payload)
        if port_id == LOCAL or not self._announcement_allowed(port_id, src, now):
            return []
        learned = [n for n in networks if n != GLOBAL_NETWORK and self._learn(n, port_id, src or b"", now)]
        out = self._reannounce(port_id, learned, now) if learned else []
        return out + self._release_searches(now)

    def _on_reject(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        reason, dnet = decode_reject(npdu.payload)
        self.counters["rejects_received"] += 1
        log.info("port %d: %s rejected a message for network %d (reason %d)", port_id, _hex(src), dnet, reason)
        route = self.routes.get(dnet)
        if reason == RejectReason.UNKNOWN_NETWORK and route is not None and route.next_hop is not None \
                and route.next_hop == src:
            del self.routes[dnet]
        return []

    def _on_busy(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        return self._set_busy(port_id, src, network_list(npdu.payload), now + self.timers.busy_hold, npdu, now)

    def _on_available(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        return self._set_busy(port_id, src, network_list(npdu.payload), 0.0, npdu, now)

    def _set_busy(self, port_id: int, src: bytes | None, networks: list[int], until: float, npdu: Npdu,
                  now: float) -> list[Send]:
        if port_id == LOCAL or not self._announcement_allowed(port_id, src, now):
            return []
        changed = []
        for network, route in self.routes.items():
            if route.next_hop is None or route.port_id != port_id or route.next_hop != src:
                continue
            if networks and network not in networks:
                continue
            route.busy_until = until
            changed.append(network)
        if not changed:
            return []
        # pass the news on so routers beyond us stop sending too
        relay = encode(Npdu(message_type=npdu.message_type, payload=encode_network_list(changed)))
        return [Send(p, None, relay) for p in self.ports if p != port_id]

    def _on_init_routing_table(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        entries = decode_routing_table(npdu.payload)
        if entries:
            if port_id != LOCAL and not self._announcement_allowed(port_id, src, now):
                return []
            for entry in entries:
                route = self.routes.get(entry.network)
                if entry.port_id == 0 and route is not None and route.next_hop is not None:
                    del self.routes[entry.network]  # purge a learned entry; direct ones stay
            parts = [[]]
        else:
            header = 3 + (4 + len(npdu.sadr or b"") if npdu.snet is not None else 0)  # version, control, DNET.., type
            if not self._query_allowed(port_id, src, npdu, now):
                return []
            parts = self._table_parts(self.routing_table(), self._limit(port_id) - header)
        sends: list[Send] = []
        size = 0
        for part in parts:
            ack = Npdu(message_type=NetMsg.INITIALIZE_ROUTING_TABLE_ACK, payload=encode_routing_table(part))
            if npdu.snet is not None:
                ack.dnet, ack.dadr = npdu.snet, npdu.sadr
            data = encode(ack)
            size += len(data)
            if sends and size > self.timers.query_answer_octets:
                # an 8-octet query must not make us send a big table to whoever the source claims to be
                self.counters["truncated_routing_table_answers"] += 1
                break
            sends.append(Send(port_id, src, data))
        return sends

    @staticmethod
    def _table_parts(entries: list[RoutingEntry], room: int) -> list[list[RoutingEntry]]:
        """The table in Acks of at most 255 entries that each fit ``room`` octets (a big table: several)."""
        parts: list[list[RoutingEntry]] = [[]]
        size = 1  # the count octet
        for entry in entries:
            need = 4 + len(entry.port_info)
            if parts[-1] and (len(parts[-1]) == 255 or size + need > room):
                parts.append([])
                size = 1
            parts[-1].append(entry)
            size += need
        return parts

    def _on_what_is_network_number(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        if npdu.snet is not None or npdu.dnet is not None or port_id == LOCAL:
            return []  # never answered across a router (clause 6.4.19)
        body = self.ports[port_id].network.to_bytes(2, "big") + b"\x01"
        return [Send(port_id, None, encode(Npdu(message_type=NetMsg.NETWORK_NUMBER_IS, payload=body)))]

    def _on_network_number_is(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        if npdu.snet is not None or npdu.dnet is not None or port_id == LOCAL:
            return []
        network, configured = decode_network_number_is(npdu.payload)
        ours = self.ports[port_id].network
        if configured and network != ours:
            if self.conflicts.get(ours) != network:
                log.warning("port %d: %s says this network is %d, configured here as %d", port_id, _hex(src), network, ours)
            self.conflicts[ours] = network
            self.counters["network_number_conflicts"] += 1
        return []

    def _ignore(self, port_id: int, src: bytes | None, npdu: Npdu, broadcast: bool, now: float) -> list[Send]:
        return []  # understood, nothing for a router without PTP ports to do

    _HANDLERS = {
        NetMsg.WHO_IS_ROUTER_TO_NETWORK: _on_who_is_router,
        NetMsg.I_AM_ROUTER_TO_NETWORK: _on_i_am_router,
        NetMsg.I_COULD_BE_ROUTER_TO_NETWORK: _ignore,
        NetMsg.REJECT_MESSAGE_TO_NETWORK: _on_reject,
        NetMsg.ROUTER_BUSY_TO_NETWORK: _on_busy,
        NetMsg.ROUTER_AVAILABLE_TO_NETWORK: _on_available,
        NetMsg.INITIALIZE_ROUTING_TABLE: _on_init_routing_table,
        NetMsg.INITIALIZE_ROUTING_TABLE_ACK: _ignore,
        NetMsg.ESTABLISH_CONNECTION_TO_NETWORK: _ignore,
        NetMsg.DISCONNECT_CONNECTION_TO_NETWORK: _ignore,
        NetMsg.WHAT_IS_NETWORK_NUMBER: _on_what_is_network_number,
        NetMsg.NETWORK_NUMBER_IS: _on_network_number_is,
    }

    # ------------------------------------------------------------------ output helpers

    def _limit(self, port_id: int) -> int:
        """The largest NPDU the port carries (the router's own application: an Ethernet frame's)."""
        port = self.ports.get(port_id)
        return port.max_npdu if port is not None else 1497

    def _i_am_router(self, port_id: int, networks: list[int]) -> list[Send]:
        """I-Am-Router-To-Network for ``networks``, in as many messages as the port's frames need."""
        per_message = max(1, (self._limit(port_id) - 3) // 2)  # version, control, type; 2 octets a network
        return [Send(port_id, None, encode(Npdu(message_type=NetMsg.I_AM_ROUTER_TO_NETWORK,
                                                payload=encode_network_list(networks[i:i + per_message]))))
                for i in range(0, len(networks), per_message)]

    def _reject(self, port_id: int, src: bytes | None, npdu: Npdu, reason: RejectReason, dnet: int) -> list[Send]:
        """Reject-Message-To-Network back to whoever originated ``npdu``."""
        self.counters[f"rejected_{reason.name.lower()}"] += 1
        if npdu.message_type == NetMsg.REJECT_MESSAGE_TO_NETWORK:
            return []  # never reject a reject
        reply = Npdu(message_type=NetMsg.REJECT_MESSAGE_TO_NETWORK, payload=encode_reject(reason, dnet))
        if port_id != LOCAL and npdu.snet is not None and npdu.snet != self.ports[port_id].network:
            reply.dnet, reply.dadr = npdu.snet, npdu.sadr
        return [Send(port_id, src if port_id != LOCAL else b"", encode(reply))]

    # ------------------------------------------------------------------ status

    def routing_table(self) -> list[RoutingEntry]:
        return [RoutingEntry(n, r.port_id, self.ports[r.port_id].name.encode()[:255])
                for n, r in sorted(self.routes.items()) if r.port_id in self.ports]

    def route_list(self, now: float, offset: int = 0, limit: int | None = None) -> list[dict[str, object]]:
        """The routes by network, from the ``offset``-th, at most ``limit`` of them."""
        items = sorted(self.routes.items())
        end = len(items) if limit is None else offset + limit
        rows = []
        for network, route in items[offset:end]:
            port = self.ports.get(route.port_id)
            rows.append({
                "network": network,
                "port": port.name if port else route.port_id,
                "port_id": route.port_id,
                "next_hop": route.next_hop.hex() if route.next_hop else None,
                "status": "busy" if route.busy(now) else "available",
                "age_s": round(now - route.learned, 1) if route.next_hop else None,
            })
        return rows


    def route_summary(self) -> dict[str, int]:
        """How full the table is."""
        direct = sum(1 for r in self.routes.values() if r.next_hop is None)
        return {"total": len(self.routes), "direct": direct, "learned": len(self.routes) - direct,
                "max_learned": self.timers.max_routes}


def _hex(mac: bytes | None) -> str:
    return mac.hex() if mac else "-"


def _msg_name(mtype: int | None) -> str:
    try:
        return NetMsg(mtype).name  # type: ignore[arg-type]
    except ValueError:
        return f"network message 0x{mtype:02x}"
