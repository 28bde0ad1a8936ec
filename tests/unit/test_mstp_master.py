"""The master node state machine, alone and on the simulated bus."""

from __future__ import annotations

from bacrouter.actions import Deliver, Transmit
from bacrouter.mstp.frame import Frame, FrameType
from bacrouter.mstp.link import MstpLink
from bacrouter.mstp.master import MasterNode, State, reply_matches
from bacrouter.mstp.sim import Bus, MasterSim
from bacrouter.net.npdu import Npdu, encode

BAUD = 38400


def ring(*macs: int, max_master: int = 10, bus: Bus | None = None, **kwargs) -> tuple[Bus, dict[int, MasterSim]]:
    bus = bus or Bus(BAUD)
    nodes = {mac: bus.add(MasterSim(MstpLink(mac, baud=BAUD, max_master=max_master, **kwargs))) for mac in macs}
    return bus, nodes


def sent_types(node: MasterNode, now: float) -> list[tuple[int, int]]:
    return [(a.data.type, a.data.destination) for a in node.run(now) if isinstance(a, Transmit)]


# ------------------------------------------------------------------ the machine alone


def test_first_token_goes_to_maintenance_polling_then_passes():
    node = MasterNode(3, max_master=5)
    node.run(0.0)
    node.frame(Frame(FrameType.TOKEN, 3, 1), 1.0)
    # TokenCount starts at Npoll and NS is ourselves: poll for our successor at once
    assert sent_types(node, 1.0) == [(FrameType.POLL_FOR_MASTER, 4)]
    node.sent(1.002)
    node.frame(Frame(FrameType.REPLY_TO_POLL_FOR_MASTER, 3, 4), 1.004)
    assert sent_types(node, 1.004) == [(FrameType.TOKEN, 4)]
    assert node.state == State.PASS_TOKEN and node.next_station == 4


def test_queued_npdus_go_out_with_the_token_up_to_max_info_frames():
    node = MasterNode(1, max_master=2, max_info_frames=2)
    node.run(0.0)
    node.next_station, node.token_count = 2, 0
    for n in range(3):
        node.enqueue(0xFF, bytes([1, 0, n]), False, 0.0)
    node.frame(Frame(FrameType.TOKEN, 1, 2), 1.0)
    actions = node.run(1.0)
    assert [(a.data.type, a.data.data) for a in actions] == [
        (FrameType.DATA_NOT_EXPECTING_REPLY, b"\x01\x00\x00"), (FrameType.DATA_NOT_EXPECTING_REPLY, b"\x01\x00\x01"),
        (FrameType.TOKEN, b"")]
    assert len(node.queue) == 1


def test_expecting_reply_waits_and_broadcasts_never_expect_one():
    node = MasterNode(1, max_master=2)
    node.run(0.0)
    node.next_station, node.token_count = 2, 0
    node.enqueue(0xFF, b"\x01\x04\x00\x05", True, 0.0)
    node.frame(Frame(FrameType.TOKEN, 1, 2), 1.0)
    assert sent_types(node, 1.0)[0] == (FrameType.DATA_NOT_EXPECTING_REPLY, 0xFF)
    node.octets(8, 1.01)  # the next station uses the token
    node.run(1.01)
    assert node.state == State.IDLE
    node.enqueue(2, b"\x01\x04\x00\x05\x01\x0c", True, 1.0)
    node.frame(Frame(FrameType.TOKEN, 1, 2), 2.0)
    assert sent_types(node, 2.0) == [(FrameType.DATA_EXPECTING_REPLY, 2)]
    assert node.state == State.WAIT_FOR_REPLY
    node.frame(Frame(FrameType.DATA_NOT_EXPECTING_REPLY, 1, 2, b"\x01\x00\x30\x01\x0c"), 2.05)
    actions = node.run(2.05)
    assert isinstance(actions[0], Deliver) and actions[0].source == 2
    assert (actions[1].data.type, actions[1].data.destination) == (FrameType.TOKEN, 2)


def test_reply_timeout_gives_up_and_passes_the_token():
    node = MasterNode(1, max_master=2)
    node.run(0.0)
    node.next_station, node.token_count = 2, 0
    node.enqueue(2, b"\x01\x04\x00\x05\x01\x0c", True, 0.0)
    node.frame(Frame(FrameType.TOKEN, 1, 2), 1.0)
    node.run(1.0)
    node.sent(1.003)
    assert node.run(1.2) == []
    assert sent_types(node, 1.31) == [(FrameType.TOKEN, 2)]
    assert node.counters["reply_timeouts"] == 1


def test_extended_frames_for_long_npdus_and_refusal_without_them():
    node = MasterNode(1, max_master=2)
    node.run(0.0)
    node.next_station, node.token_count = 2, 0
    node.enqueue(2, bytes(600), False, 0.0)
    node.enqueue(2, b"\x01\x04" + bytes(600), True, 0.0)
    node.frame(Frame(FrameType.TOKEN, 1, 2), 1.0)
    node.max_info_frames = 2
    assert sent_types(node, 1.0) == [(FrameType.EXTENDED_DATA_NOT_EXPECTING_REPLY, 2),
                                     (FrameType.EXTENDED_DATA_EXPECTING_REPLY, 2)]
    assert node.state == State.WAIT_FOR_REPLY  # an extended request waits for its answer too
    legacy = MasterNode(1, max_master=2, extended_frames=False)
    assert legacy.enqueue(2, bytes(502), False, 0.0) is False and legacy.counters["dropped_too_long"] == 1


def test_message_delay_guarantee_drops_old_npdus():
    node = MasterNode(1, max_master=2)
    node.run(0.0)
    node.next_station, node.token_count = 2, 0
    node.enqueue(2, b"\x01\x00old", False, 0.0)
    node.enqueue(2, b"\x01\x00new", False, 5.0)
    node.frame(Frame(FrameType.TOKEN, 1, 2), 6.5)
    actions = node.run(6.5)
    assert [a.data.data for a in actions if a.data.type == FrameType.DATA_NOT_EXPECTING_REPLY] == [b"\x01\x00new"]
    assert node.counters["dropped_message_delay"] == 1


def test_test_request_is_answered_and_pfm_for_us_is_replied():
    node = MasterNode(5, max_master=10)
    node.run(0.0)
    node.frame(Frame(FrameType.TEST_REQUEST, 5, 9, b"ping"), 0.1)
    assert [(a.data.type, a.data.destination, a.data.data) for a in node.run(0.1)] == [
        (FrameType.TEST_RESPONSE, 9, b"ping")]
    node.frame(Frame(FrameType.TEST_REQUEST, 0xFF, 9, b"ping"), 0.2)
    assert node.run(0.2) == []  # never answer a broadcast test: everyone would at once
    node.frame(Frame(FrameType.POLL_FOR_MASTER, 5, 9), 0.3)
    assert sent_types(node, 0.3) == [(FrameType.REPLY_TO_POLL_FOR_MASTER, 9)]


def request(invoke: int, dnet: int | None = None) -> bytes:
    return encode(Npdu(control=0x04, dnet=dnet, dadr=b"\x01" if dnet else b"",
                       payload=bytes([0x00, 0x05, invoke, 0x0C, 0x0C, 0x02, 0x00, 0x00, 0x01, 0x19, 0x4D])))


def answer(invoke: int, service: int = 0x0C) -> bytes:
    return encode(Npdu(payload=bytes([0x30, invoke, service, 0x0C, 0x02, 0x00, 0x00, 0x01, 0x19, 0x4D, 0x3E, 0x75,
                                      0x02, 0x00, 0x41, 0x3F])))


def test_reply_matching():
    assert reply_matches(request(7), answer(7))
    assert not reply_matches(request(7), answer(8))
    assert not reply_matches(request(7), answer(7, service=0x0E))
    assert reply_matches(request(7), encode(Npdu(payload=bytes([0x70, 7, 0x05]))))  # Abort: no service
    assert reply_matches(request(7), encode(Npdu(payload=bytes([0x50, 7, 0x0C, 0x91, 0x02, 0x91, 0x20]))))  # Error
    assert not reply_matches(request(7), encode(Npdu(payload=bytes([0x10, 0x08]))))
    routed = encode(Npdu(control=0x04, snet=5, sadr=b"\x0a", payload=request(7)[2:]))
    assert not reply_matches(routed, answer(7))
    assert reply_matches(routed, encode(Npdu(dnet=5, dadr=b"\x0a", payload=answer(7)[2:])))
    assert not reply_matches(b"\x02", answer(7))


# ------------------------------------------------------------------ on the simulated bus


def test_sole_master_keeps_the_token_and_sends():
    bus, nodes = ring(3, max_master=5)
    bus.run(2.0)
    node = nodes[3].node
    assert node.sole_master and node.counters["sole_master"] == 1
    node.enqueue(0xFF, b"\x01\x00hello", False, bus.now)
    bus.run(2.2)
    assert node.counters["sent_data_not_expecting_reply"] == 1


def test_two_masters_share_the_token():
    bus, nodes = ring(2, 9)
    bus.run(10.0)
    for node in nodes.values():
        assert node.tokens_for_me > 300 and node.token_gap(10.0) < 0.7
    assert bus.collisions == 0


def test_three_masters_pass_the_token_round_at_the_wire_floor():
    bus, nodes = ring(0, 1, 2, max_master=2)
    hops = []
    bus.on_frame = lambda t, f, s: hops.append(t) if f.type == FrameType.TOKEN else None
    bus.run(5.0)
    steady = [t for t in hops if t > 1.0]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert rate > 0.9 * BAUD / 120  # 120 bit times a hop: token and turnaround
    assert all(node.token_gap(5.0) < 0.7 for node in nodes.values())


def test_lost_master_is_dropped_and_the_ring_recovers():
    bus, nodes = ring(1, 4, 7)
    bus.run(5.0)
    gone = nodes[4]
    bus.remove(gone)  # unplugged
    bus.run(15.0)
    assert nodes[1].node.counters["successor_lost"] >= 1
    assert nodes[1].node.next_station == 7
    assert all(nodes[m].last_token_at > 14.0 for m in (1, 7))


def test_new_master_is_found_by_poll_for_master():
    bus, nodes = ring(1, 7)
    bus.run(5.0)
    _, late = ring(4, bus=bus)
    bus.run(15.0)
    assert late[4].tokens_for_me > 100
    assert (nodes[1].node.next_station, late[4].node.next_station, nodes[7].node.next_station) == (4, 7, 1)


def test_duplicate_tokens_resolve_to_one():
    bus, nodes = ring(1, 4, 7)
    bus.run(3.0)
    # force a second token: node 7 believes it was just handed one while another is in flight
    nodes[7].node.frame(Frame(FrameType.TOKEN, 7, 4), bus.now)
    bus._schedule_wake(nodes[7])
    bus.run(6.0)
    collisions_before = bus.collisions
    bus.run(10.0)
    assert bus.collisions == collisions_before  # settled: one token again
    assert all(node.last_token_at > 9.5 for node in nodes.values())


def test_reply_postponed_then_reply_with_the_next_token():
    bus, nodes = ring(1, 2, max_master=2)
    bus.run(2.0)
    client, server = nodes[1], nodes[2]
    client.node.enqueue(2, request(9), True, bus.now)
    bus.run(3.0)
    assert server.node.counters["sent_reply_postponed"] == 1
    assert [d.npdu for _, d in server.delivered] == [request(9)]
    server.node.enqueue(1, answer(9), False, bus.now)
    bus.run(3.5)
    assert [d.npdu for _, d in client.delivered] == [answer(9)]


def test_reply_in_time_is_sent_instead_of_postponing():
    def answer_at_once(node, deliver, now):
        node.node.enqueue(deliver.source, answer(deliver.npdu[4]), False, now)

    bus, nodes = ring(1, 2, max_master=2)
    nodes[2].on_deliver = answer_at_once
    bus.run(2.0)
    nodes[1].node.enqueue(2, request(11), True, bus.now)
    bus.run(2.5)
    assert nodes[2].node.counters["replies_in_time"] == 1
    assert nodes[2].node.counters["sent_reply_postponed"] == 0
    assert [d.npdu for _, d in nodes[1].delivered] == [answer(11)]


def test_routed_requests_are_postponed_at_once():
    bus, nodes = ring(1, 2, max_master=2)
    frames = []
    bus.on_frame = lambda t, f, s: frames.append((t, f))
    bus.run(2.0)
    nodes[1].node.enqueue(2, request(12, dnet=7), True, bus.now)
    bus.run(2.5)
    [(asked, _)] = [(t, f) for t, f in frames if f.type == FrameType.DATA_EXPECTING_REPLY]
    [(postponed, _)] = [(t, f) for t, f in frames if f.type == FrameType.REPLY_POSTPONED]
    assert postponed - asked < 0.01  # not after Treply_delay


def test_the_six_second_guarantee_holds_while_the_token_never_comes():
    # our MAC above everyone's max_master: nobody polls us, the queue must not grow for ever
    node = MasterNode(100, max_master=127)
    node.run(0.0)
    node.frame(Frame(FrameType.TOKEN, 1, 2), 0.001)  # others pass the token among themselves
    for tick in range(1, 801):  # 100 NPDUs a second for 8 s
        node.enqueue(5, b"\x01\x00", False, tick / 100)
        if tick % 5 == 0:
            node.frame(Frame(FrameType.TOKEN, 1 + tick % 2, 2 - tick % 2), tick / 100)  # the others are busy
            node.run(tick / 100)
    assert node.counters["dropped_message_delay"] >= 190 and len(node.queue) <= 610
    assert all(8.0 - item.queued <= 6.0 for item in node.queue)
    flood = MasterNode(100, max_master=127)
    for _ in range(5000):
        flood.enqueue(5, b"\x01\x00", False, 0.0)
    assert len(flood.queue) == 1000 and flood.counters["dropped_queue_full"] == 4000


def test_waking_after_our_no_token_slot_does_not_spin():
    node = MasterNode(5, max_master=10)
    node.run(0.0)
    node.frame(Frame(FrameType.TOKEN, 1, 2), 0.0)
    node.run(0.0)
    assert node.state == State.IDLE
    t = node.timers
    node.run(t.no_token + 0.001)  # silence: NO_TOKEN, our slot is ahead
    assert node.state == State.NO_TOKEN and node.deadline() > t.no_token + 0.001
    late = t.no_token + t.slot * 6 + 0.002  # woke up after our slot had passed (a busy machine)
    node.run(late)
    assert node.deadline() > late  # a wake-up in the future, not a busy loop until everyone's slot
