"""The desynchronization attack of the product documentation, on the simulated bus.

Node 1 (which understands extended frames) alternately sends frames A and B
of ../shared/testdata/mstp/vectors.md, each followed by a token to the absent
MAC 2. Node 8 has the standard receive machine. Every 30 s noise corrupts
node 8's copy of one octet of frame A, so it loses frame synchronization and
finds the Test-Request hidden inside. With a standard receiver at node 10 too,
the bus locks into answering hidden Test-Requests forever; with ours it
recovers each time.
"""

from __future__ import annotations

from bacrouter.mstp.frame import Frame, FrameType
from bacrouter.mstp.link import MstpLink
from bacrouter.mstp.receiver import Receiver, StandardReceiver
from bacrouter.mstp.sim import Bus, MasterSim, ScriptedSim

BAUD = 38400
A = bytes.fromhex("55ff80ff01001da3022b72fe55ff0308010011a0ff55ff2101080009ced4f355ff0001080000bf")
B = bytes.fromhex("55ff80ff01001da3022bfedc55ff030a010011b1ff55ff21010a0009fd8a5155ff00010a00008c")


def attacker(node: ScriptedSim, frame: Frame, now: float) -> list[Frame]:
    if frame.destination != 1:
        return []
    if frame.type == FrameType.POLL_FOR_MASTER:
        return [Frame(FrameType.REPLY_TO_POLL_FOR_MASTER, frame.source, 1)]
    if frame.type == FrameType.TOKEN:
        raw = A if node.state.setdefault("sent", 0) % 2 == 0 else B
        node.state["sent"] += 1
        return [Frame(0x80, 0xFF, 1, raw[8:-2]), Frame(FrameType.TOKEN, 2, 1)]
    return []


def attacked_bus(node10_receiver) -> tuple[Bus, MasterSim, MasterSim, dict]:
    bus = Bus(BAUD)
    source = bus.add(ScriptedSim(1, StandardReceiver(BAUD, 1, extended=True), attacker))
    node8 = bus.add(MasterSim(MstpLink(8, baud=BAUD, max_master=10, receiver=StandardReceiver(BAUD, 8))))
    node10 = bus.add(MasterSim(MstpLink(10, baud=BAUD, max_master=10, receiver=node10_receiver)))
    noise = {"next": 30.0, "hits": 0}

    def corrupt(sender, listener, tx, index, value):
        if listener is node8 and sender is source and index == 3 and bus.now >= noise["next"] and bytes(tx.octets[:12]) == A[:12]:
            noise["next"] += 30.0
            noise["hits"] += 1
            return value ^ 0x20
        return value

    bus.corrupt = corrupt
    return bus, node8, node10, noise


def test_the_attack_frames_are_what_the_documentation_says():
    assert A[8:10] == bytes.fromhex("022b") and A[12:20] == bytes.fromhex("55ff0308010011a0")  # hidden Test-Request to 8
    assert B[12:20] == bytes.fromhex("55ff030a010011b1")  # hidden Test-Request to 10


def test_standard_receivers_stall_the_bus():
    bus, node8, node10, noise = attacked_bus(StandardReceiver(BAUD, 10))
    bus.run(120.0)
    assert noise["hits"] >= 1
    assert node10.token_gap(120.0) > 60.0  # no token since the first desynchronization
    assert node10.node.counters["sent_test_response"] > 1000


def test_our_receiver_keeps_the_bus_alive_for_ten_minutes():
    bus, node8, node10, noise = attacked_bus(Receiver(BAUD))
    bus.run(600.0)
    assert noise["hits"] == 19  # every 30 s from 30 s to 570 s node 8 lost synchronization ...
    assert node10.token_gap(600.0) < 2.0  # ... and the token kept coming round
    assert node10.tokens_for_me > 800
    assert node10.node.counters.get("sent_test_response", 0) == 0
