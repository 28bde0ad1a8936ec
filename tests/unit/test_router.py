"""The router's network layer on simulated time (clause 6 behaviours)."""

from __future__ import annotations

import pytest

from bacrouter.actions import Send
from bacrouter.net.npdu import (
    GLOBAL_NETWORK,
    NetMsg,
    Npdu,
    RejectReason,
    RoutingEntry,
    decode,
    decode_reject,
    decode_routing_table,
    encode,
    encode_network_list,
    encode_routing_table,
    network_list,
)
from bacrouter.net.router import LOCAL, PortInfo, Router, RouterTimers

MAC1 = bytes([10, 0, 1, 1, 0xBA, 0xC0])  # router on network 1
MAC2 = bytes([10, 0, 2, 1, 0xBA, 0xC0])  # router on network 2
CLIENT = bytes([10, 0, 1, 50, 0xBA, 0xC0])
DEVICE = bytes([10, 0, 2, 60, 0xBA, 0xC0])
OTHER_ROUTER = bytes([10, 0, 2, 254, 0xBA, 0xC0])


@pytest.fixture
def router() -> Router:
    r = Router()
    r.add_port(PortInfo(1, network=1, mac=MAC1, name="bip0"), now=0.0)
    r.add_port(PortInfo(2, network=2, mac=MAC2, name="bip1"), now=0.0)
    return r


def apdu(payload: bytes = b"\x10\x08", **fields) -> bytes:
    return encode(Npdu(payload=payload, **fields))


def netmsg(mtype: int, body: bytes = b"", **fields) -> bytes:
    return encode(Npdu(message_type=mtype, payload=body, **fields))


def on(out: list[Send], port: int) -> list[tuple[bytes | None, Npdu]]:
    return [(s.dest, decode(s.data)) for s in out if s.port_id == port]


def test_new_port_is_announced_both_ways():
    r = Router()
    first = r.add_port(PortInfo(1, network=1, mac=MAC1), now=0.0)
    assert [decode(s.data).message_type for s in first] == [NetMsg.NETWORK_NUMBER_IS]
    second = r.add_port(PortInfo(2, network=2, mac=MAC2), now=0.0)
    i_am = {s.port_id: network_list(decode(s.data).payload) for s in second
            if decode(s.data).message_type == NetMsg.I_AM_ROUTER_TO_NETWORK}
    assert i_am == {2: [1], 1: [2]}
    assert all(s.dest is None for s in second)


def test_unicast_to_remote_station_is_delivered_with_source_added(router):
    out = router.receive(1, CLIENT, apdu(b"\x00\x05\x01\x0c", control=0x04 | 0x01, dnet=2, dadr=DEVICE), now=1.0)
    [(dest, npdu)] = on(out, 2)
    assert dest == DEVICE
    assert npdu.dnet is None
    assert (npdu.snet, npdu.sadr) == (1, CLIENT)
    assert npdu.expecting_reply and npdu.priority == 1
    assert npdu.payload == b"\x00\x05\x01\x0c"


def test_global_broadcast_goes_everywhere_once(router):
    out = router.receive(1, CLIENT, apdu(b"\x10\x08", dnet=GLOBAL_NETWORK, hop_count=255), now=1.0, broadcast=True)
    [(dest, fwd)] = on(out, 2)
    assert dest is None and fwd.dnet == GLOBAL_NETWORK and fwd.hop_count == 254
    assert (fwd.snet, fwd.sadr) == (1, CLIENT)
    [(local_dest, up)] = on(out, LOCAL)
    assert local_dest is None and (up.snet, up.sadr) == (1, CLIENT) and up.dnet == GLOBAL_NETWORK
    assert on(out, 1) == []


def test_local_broadcast_reaches_only_the_application(router):
    out = router.receive(1, CLIENT, apdu(b"\x10\x08"), now=1.0, broadcast=True)
    assert [s.port_id for s in out] == [LOCAL]
    up = decode(out[0].data)
    assert (up.snet, up.sadr, up.dnet) == (1, CLIENT, None)


def test_remote_broadcast_is_broadcast_and_seen_by_the_application(router):
    out = router.receive(1, CLIENT, apdu(dnet=2, dadr=b""), now=1.0)
    [(dest, npdu)] = on(out, 2)
    assert dest is None and npdu.snet == 1
    assert len(on(out, LOCAL)) == 1


def test_message_for_the_routers_own_address_on_another_port_stays_local(router):
    out = router.receive(1, CLIENT, apdu(dnet=2, dadr=MAC2), now=1.0)
    assert [s.port_id for s in out] == [LOCAL]


def test_unknown_network_is_searched_then_forwarded(router):
    msg = apdu(b"\x00\x05\x07\x0c", control=0x04, dnet=5, dadr=b"\x07")
    out = router.receive(1, CLIENT, msg, now=1.0)
    [(dest, who)] = on(out, 2)
    assert dest is None and who.message_type == NetMsg.WHO_IS_ROUTER_TO_NETWORK and who.payload == b"\x00\x05"
    assert on(out, 1) == []
    # the router behind network 2 answers
    out = router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([5])), now=1.5,
                         broadcast=True)
    [(relay_dest, relay)] = on(out, 1)
    assert relay.message_type == NetMsg.I_AM_ROUTER_TO_NETWORK and network_list(relay.payload) == [5]
    [(dest, fwd)] = on(out, 2)
    assert dest == OTHER_ROUTER
    assert (fwd.dnet, fwd.dadr, fwd.snet, fwd.sadr, fwd.hop_count) == (5, b"\x07", 1, CLIENT, 254)
    # later traffic goes straight through
    out = router.receive(1, CLIENT, msg, now=2.0)
    assert [(s.port_id, s.dest) for s in out] == [(2, OTHER_ROUTER)]


def test_failed_search_rejects_with_unknown_network(router):
    router.receive(1, CLIENT, apdu(dnet=9, dadr=b"\x01", control=0x04), now=1.0)
    assert router.poll(2.9) == []
    out = router.poll(3.1)
    [(dest, reject)] = on(out, 1)
    assert dest == CLIENT and reject.dnet is None
    assert decode_reject(reject.payload) == (RejectReason.UNKNOWN_NETWORK, 9)
    # the next one within the hold time is rejected at once, without a new search
    out = router.receive(1, CLIENT, apdu(dnet=9, dadr=b"\x01"), now=4.0)
    assert [decode(s.data).message_type for s in out] == [NetMsg.REJECT_MESSAGE_TO_NETWORK]


def test_reject_goes_back_to_a_routed_originator(router):
    # a message that already crossed a router on network 1 (SNET 7) for an unknown network
    router.receive(1, CLIENT, apdu(dnet=9, dadr=b"\x01", snet=7, sadr=b"\x42", hop_count=250), now=0.0)
    out = router.poll(5.0)
    [(dest, reject)] = on(out, 1)
    assert dest == CLIENT
    assert (reject.dnet, reject.dadr, reject.hop_count) == (7, b"\x42", 255)
    assert decode_reject(reject.payload)[0] == RejectReason.UNKNOWN_NETWORK


def test_message_too_long_for_the_outgoing_port():
    r = Router()
    r.add_port(PortInfo(1, network=1, mac=MAC1), 0.0)
    r.add_port(PortInfo(2, network=2, mac=b"\x00", mac_len=1, max_npdu=501), 0.0)
    out = r.receive(1, CLIENT, apdu(bytes(600), dnet=2, dadr=b"\x05"), now=1.0)
    [(dest, reject)] = on(out, 1)
    assert dest == CLIENT
    assert decode_reject(reject.payload) == (RejectReason.MESSAGE_TOO_LONG, 2)
    assert on(out, 2) == []
    assert r.counters["rejected_message_too_long"] == 1


def test_station_address_of_the_wrong_length_is_an_addressing_error(router):
    out = router.receive(1, CLIENT, apdu(dnet=2, dadr=b"\x01\x02\x03"), now=1.0)
    [(dest, reject)] = on(out, 1)
    assert decode_reject(reject.payload) == (RejectReason.ADDRESSING_ERROR, 2)


def test_hop_count_exhausted_is_dropped(router):
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([5])), now=0.0)
    out = router.receive(1, CLIENT, apdu(dnet=5, dadr=b"\x01", hop_count=1), now=1.0)
    assert out == [] and router.counters["dropped_hop_count"] == 1
    out = router.receive(1, CLIENT, apdu(dnet=GLOBAL_NETWORK, hop_count=1), now=1.0, broadcast=True)
    assert on(out, 2) == []


def test_who_is_router_without_network_lists_everything_behind_other_ports(router):
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([5, 6])), now=0.0)
    out = router.receive(1, CLIENT, netmsg(NetMsg.WHO_IS_ROUTER_TO_NETWORK), now=1.0, broadcast=True)
    [(dest, i_am)] = on(out, 1)
    assert dest is None and network_list(i_am.payload) == [2, 5, 6]
    out = router.receive(2, DEVICE, netmsg(NetMsg.WHO_IS_ROUTER_TO_NETWORK), now=1.0, broadcast=True)
    [(_, i_am)] = on(out, 2)
    assert network_list(i_am.payload) == [1]


def test_who_is_router_for_specific_networks(router):
    out = router.receive(1, CLIENT, netmsg(NetMsg.WHO_IS_ROUTER_TO_NETWORK, b"\x00\x02"), now=1.0, broadcast=True)
    [(_, i_am)] = on(out, 1)
    assert network_list(i_am.payload) == [2]
    # asked on network 2 for network 2: not our business
    assert router.receive(2, DEVICE, netmsg(NetMsg.WHO_IS_ROUTER_TO_NETWORK, b"\x00\x02"), now=1.0) == []
    # unknown: passed on with the asker's address so the answer can find its way back
    out = router.receive(1, CLIENT, netmsg(NetMsg.WHO_IS_ROUTER_TO_NETWORK, b"\x00\x63"), now=1.0)
    [(dest, fwd)] = on(out, 2)
    assert dest is None and (fwd.snet, fwd.sadr, fwd.payload) == (1, CLIENT, b"\x00\x63")


def test_the_operator_asks_who_is_router_and_learns_the_answers(router):
    out = router.who_is_router()
    assert [(s.port_id, s.dest) for s in out] == [(1, None), (2, None)]
    assert {(m.message_type, m.payload, m.dnet) for m in (decode(s.data) for s in out)} == \
        {(NetMsg.WHO_IS_ROUTER_TO_NETWORK, b"", None)}
    # one port, one network; a port that is not up is left out
    [only] = router.who_is_router([2, 9], network=0x63)
    assert only.port_id == 2 and decode(only.data).payload == b"\x00\x63"
    assert router.counters["who_is_router_sent"] == 3
    # the answer is learned like any announcement
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([0x63])), now=1.0)
    assert router.routes[0x63].next_hop == OTHER_ROUTER


def test_initialize_routing_table_query_returns_the_whole_table(router):
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([5])), now=0.0)
    out = router.receive(1, CLIENT, netmsg(NetMsg.INITIALIZE_ROUTING_TABLE, b"\x00", control=0x04), now=1.0)
    [(dest, ack)] = on(out, 1)
    assert dest == CLIENT and ack.message_type == NetMsg.INITIALIZE_ROUTING_TABLE_ACK
    assert decode_routing_table(ack.payload) == [
        RoutingEntry(1, 1, b"bip0"), RoutingEntry(2, 2, b"bip1"), RoutingEntry(5, 2, b"bip1")]


def test_routing_table_ack_carries_port_names():
    r = Router()
    r.add_port(PortInfo(3, network=10, mac=MAC1, name="lan"), 0.0)
    out = r.receive(3, CLIENT, netmsg(NetMsg.INITIALIZE_ROUTING_TABLE, b"\x00"), now=1.0)
    assert decode_routing_table(decode(out[0].data).payload) == [RoutingEntry(10, 3, b"lan")]


def test_initialize_routing_table_update_purges_learned_routes_only(router):
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([5])), now=0.0)
    body = encode_routing_table([RoutingEntry(5, 0), RoutingEntry(1, 0)])
    out = router.receive(1, CLIENT, netmsg(NetMsg.INITIALIZE_ROUTING_TABLE, body), now=1.0)
    [(_, ack)] = on(out, 1)
    assert ack.payload == b"\x00"
    assert 5 not in router.routes and 1 in router.routes


def test_what_is_network_number(router):
    out = router.receive(1, CLIENT, netmsg(NetMsg.WHAT_IS_NETWORK_NUMBER), now=1.0, broadcast=True)
    [(dest, reply)] = on(out, 1)
    assert dest is None and reply.message_type == NetMsg.NETWORK_NUMBER_IS and reply.payload == b"\x00\x01\x01"
    # never answered for another network, never routed
    assert router.receive(1, CLIENT, netmsg(NetMsg.WHAT_IS_NETWORK_NUMBER, snet=4, sadr=b"\x01"), now=1.0) == []
    assert router.receive(1, CLIENT, netmsg(NetMsg.WHAT_IS_NETWORK_NUMBER, dnet=2, dadr=b""), now=1.0) == []


def test_conflicting_network_number_is_noticed(router):
    router.receive(1, CLIENT, netmsg(NetMsg.NETWORK_NUMBER_IS, b"\x00\x07\x01"), now=1.0, broadcast=True)
    assert router.conflicts == {1: 7}
    assert router.counters["network_number_conflicts"] == 1


def test_unknown_message_types(router):
    out = router.receive(1, CLIENT, netmsg(0x50, b"\x01"), now=1.0)
    [(dest, reject)] = on(out, 1)
    assert dest == CLIENT and decode_reject(reject.payload)[0] == RejectReason.UNKNOWN_MESSAGE_TYPE
    assert router.receive(1, CLIENT, netmsg(0x50, b"\x01"), now=1.0, broadcast=True) == []
    out = router.receive(1, CLIENT, encode(Npdu(message_type=0x80, vendor_id=999, payload=b"\x01")), now=1.0)
    assert decode_reject(decode(out[0].data).payload)[0] == RejectReason.UNKNOWN_MESSAGE_TYPE


def test_proprietary_network_messages_are_routed_with_their_vendor(router):
    msg = encode(Npdu(message_type=0x85, vendor_id=260, payload=b"\xaa\xbb", dnet=2, dadr=DEVICE))
    out = router.receive(1, CLIENT, msg, now=1.0)
    [(dest, fwd)] = on(out, 2)
    assert dest == DEVICE and (fwd.message_type, fwd.vendor_id, fwd.payload) == (0x85, 260, b"\xaa\xbb")


def test_router_busy_is_honoured_and_relayed(router):
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([5, 6])), now=0.0)
    out = router.receive(2, OTHER_ROUTER, netmsg(NetMsg.ROUTER_BUSY_TO_NETWORK, encode_network_list([5])), now=1.0)
    [(_, relay)] = on(out, 1)
    assert relay.message_type == NetMsg.ROUTER_BUSY_TO_NETWORK and network_list(relay.payload) == [5]
    out = router.receive(1, CLIENT, apdu(dnet=5, dadr=b"\x01"), now=2.0)
    assert decode_reject(decode(out[0].data).payload) == (RejectReason.ROUTER_BUSY, 5)
    assert on(router.receive(1, CLIENT, apdu(dnet=6, dadr=b"\x01"), now=2.0), 2)
    # busy lapses after 30 s without Router-Available
    router.poll(31.5)
    assert on(router.receive(1, CLIENT, apdu(dnet=5, dadr=b"\x01"), now=31.5), 2)
    # an empty list means every network behind that router; Router-Available clears it
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.ROUTER_BUSY_TO_NETWORK), now=40.0)
    assert router.routes[5].busy(40.0) and router.routes[6].busy(40.0)
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.ROUTER_AVAILABLE_TO_NETWORK), now=41.0)
    assert not router.routes[5].busy(41.0) and not router.routes[6].busy(41.0)


def test_application_replies_leave_as_local_traffic(router):
    out = router.receive(LOCAL, None, apdu(b"\x30\x01\x0c", dnet=1, dadr=CLIENT), now=1.0)
    [(dest, npdu)] = on(out, 1)
    assert dest == CLIENT and npdu.dnet is None and npdu.snet is None
    out = router.receive(LOCAL, None, apdu(b"\x10\x00", dnet=GLOBAL_NETWORK), now=1.0, broadcast=True)
    assert sorted(s.port_id for s in out) == [1, 2]
    assert all(decode(s.data).snet is None and decode(s.data).dnet == GLOBAL_NETWORK for s in out)
    out = router.receive(LOCAL, None, apdu(b"\x10\x08"), now=1.0, broadcast=True)
    assert sorted(s.port_id for s in out) == [1, 2]


def test_application_asking_for_a_route_gets_an_answer(router):
    out = router.receive(LOCAL, None, netmsg(NetMsg.WHO_IS_ROUTER_TO_NETWORK, b"\x00\x02"), now=1.0, broadcast=True)
    [(_, i_am)] = on(out, LOCAL)
    assert network_list(i_am.payload) == [2]


def test_garbage_is_counted_and_routing_continues(router):
    for junk in (b"", b"\x02\x00", b"\x01\x20\x00", b"\x01\x08\x00\x01\x05", b"\x01\x80"):
        assert router.receive(1, CLIENT, junk, now=1.0) == []
    assert router.counters["dropped_malformed"] == 5
    assert on(router.receive(1, CLIENT, apdu(dnet=2, dadr=DEVICE), now=1.0), 2)


def test_source_claiming_a_directly_connected_network_is_dropped(router):
    assert router.receive(1, CLIENT, apdu(snet=2, sadr=b"\x01", dnet=2, dadr=DEVICE), now=1.0) == []
    assert router.counters["dropped_spoofed_source"] == 1


def test_a_reject_is_never_rejected(router):
    reject = netmsg(NetMsg.REJECT_MESSAGE_TO_NETWORK, b"\x01\x00\x09", dnet=9, dadr=b"\x01")
    router.receive(1, CLIENT, reject, now=0.0)
    assert on(router.poll(10.0), 1) == []


def test_reject_received_for_a_learned_route_forgets_it(router):
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([5])), now=0.0)
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.REJECT_MESSAGE_TO_NETWORK, b"\x01\x00\x05"), now=1.0)
    assert 5 not in router.routes


def test_removed_port_forgets_its_routes(router):
    router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([5])), now=0.0)
    router.remove_port(2)
    assert sorted(router.routes) == [1]
    assert router.receive(2, DEVICE, apdu(), now=1.0) == []


def test_search_queue_is_bounded(router):
    router.timers.pending_per_network = 2
    for _ in range(2):
        router.receive(1, CLIENT, apdu(dnet=9, dadr=b"\x01"), now=0.0)
    out = router.receive(1, CLIENT, apdu(dnet=9, dadr=b"\x01"), now=0.0)
    assert decode_reject(decode(out[0].data).payload)[0] == RejectReason.ROUTER_BUSY


def test_announce_on_one_port(router):
    [send] = router.announce(2)
    assert send.port_id == 2 and send.dest is None and network_list(decode(send.data).payload) == [1]
    assert router.announce(7) == []


def test_a_router_claiming_one_of_our_networks_is_not_believed(router):
    out = router.receive(2, OTHER_ROUTER, netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list([1, 5])), now=0.0)
    assert router.routes[1].next_hop is None and router.routes[5].next_hop == OTHER_ROUTER
    assert router.counters["claims_on_direct_networks"] == 1
    [(_, relay)] = on(out, 1)
    assert network_list(relay.payload) == [5]


def test_parallel_routers_relaying_each_other_settle_instead_of_storming():
    # A and B both join networks 1 and 2; C on network 2 announces network 9. Each relays C's news onto
    # network 1, where the other hears it: switching to that path (and announcing it) looped for ever.
    from bacrouter.net.npdu import NetMsg, encode_network_list

    macs = {(name, port): bytes([10, 0, port, ord(name), 0xBA, 0xC0]) for name in "AB" for port in (1, 2)}
    routers = {}
    for name in "AB":
        router = Router()
        for port in (1, 2):
            router.add_port(PortInfo(port, port, mac=macs[(name, port)], name=f"{name}{port}"), 0.0)
        routers[name] = router
    c = bytes([10, 0, 2, 67, 0xBA, 0xC0])
    announce = encode(Npdu(message_type=NetMsg.I_AM_ROUTER_TO_NETWORK, payload=encode_network_list([9])))
    queue = [(name, 2, c, announce) for name in "AB"]
    handled = 0
    while queue and handled < 100:
        name, port, src, data = queue.pop(0)
        handled += 1
        other = "B" if name == "A" else "A"
        for send in routers[name].receive(port, src, data, 1.0, broadcast=True):
            if send.port_id != LOCAL:
                queue.append((other, send.port_id, macs[(name, send.port_id)], send.data))
    assert not queue and handled <= 6
    for router in routers.values():
        assert (router.routes[9].port_id, router.routes[9].next_hop) == (2, c)
    # a refresh from C changes nothing and is not relayed again
    assert [s for s in routers["A"].receive(2, c, announce, 2.0, broadcast=True) if s.port_id != LOCAL] == []


def test_a_big_table_goes_out_in_messages_that_fit_the_port():
    from bacrouter.net.npdu import NetMsg, decode_routing_table, network_list

    router = Router()
    router.add_port(PortInfo(1, 1, max_npdu=501, mac=b"\x01", name="mstp"), 0.0)
    router.add_port(PortInfo(2, 2, mac=bytes(6), name="ip"), 0.0)
    for network in range(100, 400):  # 300 networks behind a router on port 2
        router._learn(network, 2, b"\x0a\x00\x00\x09\xba\xc0", 0.0)
    query = encode(Npdu(message_type=NetMsg.INITIALIZE_ROUTING_TABLE, payload=b"\x00"))
    acks = router.receive(1, b"\x05", query, 1.0)
    assert len(acks) > 1 and all(len(a.data) <= 501 for a in acks)
    entries = [e for a in acks for e in decode_routing_table(decode(a.data).payload)]
    assert len(entries) == 302  # every route, the two direct networks too
    announce = router.receive(1, b"\x05", encode(Npdu(message_type=NetMsg.WHO_IS_ROUTER_TO_NETWORK)), 2.0)
    assert len(announce) > 1 and all(len(a.data) <= 501 for a in announce)
    assert sorted(n for a in announce for n in network_list(decode(a.data).payload)) == list(range(2, 3)) + list(
        range(100, 400))


# ---------------------------------------------------------------------- hostile input: floods (issue 10, items 18 and 19)

ATTACKER = bytes([10, 0, 1, 66, 0xBA, 0xC0])


def i_am_router(networks) -> bytes:
    return netmsg(NetMsg.I_AM_ROUTER_TO_NETWORK, encode_network_list(list(networks)))


def flood(router, port: int, src: bytes, start: float, messages: int = 94, per_message: int = 700, rate: float = 100.0):
    """``messages`` I-Am-Router-To-Network of ``per_message`` made-up networks each, ``rate`` a second."""
    out = []
    for i in range(messages):
        first = 10 + i * per_message
        networks = [n for n in range(first, first + per_message) if n < GLOBAL_NETWORK]
        if networks:
            out += router.receive(port, src, i_am_router(networks), now=start + i / rate, broadcast=True)
    return out


def test_a_flood_of_i_am_router_does_not_fill_the_table():
    r = Router(RouterTimers(max_routes=500))
    r.add_port(PortInfo(1, network=1, mac=MAC1, name="bip0"), now=0.0)
    r.add_port(PortInfo(2, network=2, mac=MAC2, name="bip1"), now=0.0)
    flood(r, 1, ATTACKER, start=1.0)
    learned = [n for n, route in r.routes.items() if route.next_hop is not None]
    assert len(learned) <= 500
    assert r.counters["dropped_announce_rate"] > 0  # 94 messages in a second from one host
    # a spread-out flood, under the message rate, still stops at the bound and says so
    flood(r, 1, ATTACKER, start=100.0, rate=0.5)
    assert len([n for n, route in r.routes.items() if route.next_hop is not None]) == 500
    assert r.counters["dropped_route_table_full"] > 0
    assert "dropped_route_table_full" in r.counters and r.counters["routes_learned"] == 500


def test_the_default_table_bound_is_a_few_thousand():
    assert 1000 <= RouterTimers().max_routes <= 10000


def test_a_flood_is_not_re_announced_in_a_storm(router):
    # 100 announcements in 50 s, each of 20 new networks: within what one router may announce
    out = flood(router, 1, ATTACKER, start=1.0, messages=100, per_message=20, rate=2.0)
    assert router.counters["dropped_announce_rate"] == 0
    relayed = [s for s in out if s.port_id == 2]
    # about one I-Am-Router-To-Network a second onto the other network, whatever comes in
    assert len(relayed) <= 50 * router.timers.reannounce_rate + router.timers.reannounce_burst
    assert router.counters["deferred_reannouncements"] > 0
    # nothing is lost: the deferred networks go out later, coalesced, from poll
    later = []
    for t in range(52, 200):
        later += router.poll(float(t))
    told = {n for s in relayed + [s for s in later if s.port_id == 2] for n in network_list(decode(s.data).payload)}
    assert told == {n for n, route in router.routes.items() if route.port_id == 1 and route.next_hop}


def test_a_learned_route_neither_confirmed_nor_used_ages_out(router):
    router.receive(2, OTHER_ROUTER, i_am_router([5, 6]), now=0.0)
    idle = router.timers.route_idle
    # network 5 is used, network 6 is not
    for t in range(0, int(idle * 1.5), 60):
        router.receive(1, CLIENT, apdu(control=0x04, dnet=5, dadr=DEVICE), now=float(t))
        router.poll(float(t))
    router.poll(idle * 1.5 + 60)
    assert 5 in router.routes and 6 not in router.routes
    assert router.counters["routes_expired"] == 1
    # confirmed (announced again) keeps a route too
    router.receive(2, OTHER_ROUTER, i_am_router([6]), now=idle * 2)
    router.poll(idle * 2 + idle / 2)
    assert 6 in router.routes
    # directly connected networks never age
    router.poll(idle * 10)
    assert 1 in router.routes and 2 in router.routes


def test_a_route_we_searched_for_displaces_an_unused_one_when_the_table_is_full():
    r = Router(RouterTimers(max_routes=20))
    r.add_port(PortInfo(1, network=1, mac=MAC1, name="bip0"), now=0.0)
    r.add_port(PortInfo(2, network=2, mac=MAC2, name="bip1"), now=0.0)
    r.receive(1, ATTACKER, i_am_router(range(100, 200)), now=1.0)
    assert len(r.routes) == 22
    out = r.receive(1, CLIENT, apdu(control=0x04, dnet=5, dadr=DEVICE), now=2.0)
    assert [d.message_type for _, d in on(out, 2)] == [NetMsg.WHO_IS_ROUTER_TO_NETWORK]
    out = r.receive(2, OTHER_ROUTER, i_am_router([5]), now=2.5)
    [(dest, fwd)] = [(d, n) for d, n in on(out, 2) if n.message_type is None]
    assert dest == OTHER_ROUTER and 5 in r.routes and len(r.routes) == 22
    assert r.counters["routes_evicted"] == 1


def test_snet_of_routed_traffic_cannot_fill_the_table():
    r = Router(RouterTimers(max_routes=50))
    r.add_port(PortInfo(1, network=1, mac=MAC1, name="bip0"), now=0.0)
    r.add_port(PortInfo(2, network=2, mac=MAC2, name="bip1"), now=0.0)
    for snet in range(100, 1100):
        r.receive(1, ATTACKER, apdu(control=0x04, snet=snet, sadr=b"\x01", dnet=2, dadr=DEVICE), now=1.0)
    assert len(r.routes) == 52
    assert r.counters["dropped_route_table_full"] >= 950


def test_initialize_routing_table_is_no_amplifier():
    r = Router(RouterTimers(max_routes=5000))
    r.add_port(PortInfo(1, network=1, mac=MAC1, name="bip0"), now=0.0)
    r.add_port(PortInfo(2, network=2, mac=MAC2, name="bip1"), now=0.0)
    for network in range(100, 4100):
        r._learn(network, 2, OTHER_ROUTER, 0.0)
    query = netmsg(NetMsg.INITIALIZE_ROUTING_TABLE, b"\x00")
    assert len(query) == 4
    answer = r.receive(1, CLIENT, query, now=1.0)
    size = sum(len(s.data) for s in answer)
    assert 0 < size <= r.timers.query_answer_octets <= 8192
    assert r.counters["truncated_routing_table_answers"] == 1
    # asked again and again (from made-up sources): answered at the port's query rate, the rest dropped
    total = 0
    for i in range(1000):
        total += sum(len(s.data) for s in r.receive(1, bytes([10, 0, 1, i % 250, 0xBA, 0xC0]), query, now=2.0 + i / 1000))
    assert total <= (r.timers.query_port_burst + r.timers.query_port_rate) * r.timers.query_answer_octets
    assert r.counters["dropped_query_rate"] > 900


def test_who_is_router_answers_are_rate_limited(router):
    router.receive(2, OTHER_ROUTER, i_am_router(range(100, 900)), now=0.0)
    who = netmsg(NetMsg.WHO_IS_ROUTER_TO_NETWORK)
    answers = [router.receive(1, CLIENT, who, now=1.0 + i / 1000, broadcast=True) for i in range(1000)]
    assert sum(1 for a in answers if a) <= router.timers.query_burst + router.timers.query_rate
    assert router.counters["dropped_query_rate"] > 0
    # unknown networks asked on the asker's behalf: not a storm on the other ports either
    relayed = []
    for i in range(1000):
        relayed += router.receive(1, bytes([10, 0, 1, i % 250, 0xBA, 0xC0]),
                                  netmsg(NetMsg.WHO_IS_ROUTER_TO_NETWORK, (20000 + i).to_bytes(2, "big")), now=10.0 + i / 1000)
    assert len(on(relayed, 2)) <= router.timers.query_port_burst + router.timers.query_port_rate


def test_traffic_for_unknown_networks_cannot_start_a_search_storm(router):
    out = []
    for i in range(1000):
        out += router.receive(1, CLIENT, apdu(control=0x04, dnet=30000 + i, dadr=DEVICE), now=1.0 + i / 1000)
    searches = [d for _, d in on(out, 2) if d.message_type == NetMsg.WHO_IS_ROUTER_TO_NETWORK]
    assert len(searches) <= router.timers.search_burst + router.timers.search_rate
    assert router.counters["dropped_search_rate"] > 0


def test_a_who_is_storm_is_rate_limited_before_the_application_and_routing_goes_on(router):
    who_is = apdu(b"\x10\x08", dnet=GLOBAL_NETWORK, hop_count=255)
    to_app = forwarded = 0
    routed = 0
    for i in range(2000):  # one second of a 2,000/s storm from 200 hosts
        src = bytes([10, 0, 1, i % 200, 0xBA, 0xC0])
        out = router.receive(1, src, who_is, now=1.0 + i / 2000, broadcast=True)
        to_app += len(on(out, LOCAL))
        forwarded += len(on(out, 2))
        if i % 100 == 0:  # and a client's read, routed through all along
            routed += len(on(router.receive(1, CLIENT, apdu(b"\x00\x05\x01\x0c", control=0x04, dnet=2, dadr=DEVICE),
                                            now=1.0 + i / 2000), 2))
    timers = router.timers
    assert to_app <= timers.local_burst + timers.local_rate * 1.0
    assert router.counters["dropped_local_rate_total"] > 0
    assert forwarded == 2000 and routed == 20  # the storm is the other network's business, still forwarded
    # one host alone gets its own, smaller, share
    before = router.counters["to_local"]
    for i in range(1000):
        router.receive(1, ATTACKER, who_is, now=10.0 + i / 1000, broadcast=True)
    assert router.counters["to_local"] - before <= timers.local_source_burst + timers.local_source_rate
    assert router.counters["dropped_local_rate_source"] > 0


def test_the_route_list_pages_and_sums_up(router):
    router.receive(2, OTHER_ROUTER, i_am_router(range(100, 300)), now=0.0)
    page = router.route_list(1.0, offset=10, limit=5)
    assert [r["network"] for r in page] == [108, 109, 110, 111, 112]
    assert router.route_summary() == {"total": 202, "direct": 2, "learned": 200, "max_learned": 2000}


def test_a_query_flood_does_not_stop_stations_finding_a_known_route(router):
    table = netmsg(NetMsg.INITIALIZE_ROUTING_TABLE, b"\x00")
    for i in range(1000):  # big answers asked for by made-up sources: the port's share is spent
        router.receive(1, bytes([10, 0, 1, i % 250, 0xBA, 0xC0]), table, now=1.0 + i / 1000)
    out = router.receive(1, CLIENT, netmsg(NetMsg.WHO_IS_ROUTER_TO_NETWORK, (2).to_bytes(2, "big")), now=2.0,
                         broadcast=True)
    [(_, answer)] = on(out, 1)
    assert answer.message_type == NetMsg.I_AM_ROUTER_TO_NETWORK and network_list(answer.payload) == [2]
