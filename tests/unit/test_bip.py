"""BACnet/IP link layer: normal node, BBMD and foreign device on simulated time."""

from __future__ import annotations

import pytest

from bacrouter.actions import Announce, Deliver, Persist, Transmit
from bacrouter.net import bvll
from bacrouter.net.bip import FDT_GRACE, BipLink
from bacrouter.net.bvll import BdtEntry, Function, Result

ME = bvll.mac("10.0.1.1", 47808)
SUBNET_BCAST = bvll.mac("10.0.1.255", 47808)
NODE = bvll.mac("10.0.1.20", 47808)
PEER = bvll.mac("10.0.3.1", 47808)
FD1 = bvll.mac("192.0.2.7", 47808)
FD2 = bvll.mac("192.0.2.8", 47809)
NPDU = b"\x01\x00\x10\x08"


def split(datagram: bytes) -> tuple[int, bytes]:
    return bvll.split(datagram)


def sent(actions: list) -> list[tuple[bytes, bytes]]:
    """(destination, datagram) of the Transmit actions, checking nothing else is among them."""
    assert all(isinstance(a, Transmit) for a in actions), actions
    return [(a.dest, a.data) for a in actions]


def received(actions: list) -> tuple[Deliver | None, list[tuple[bytes, bytes]]]:
    """The NPDU delivered up (at most one, after the transmits) and the datagrams sent."""
    up = [a for a in actions if isinstance(a, Deliver)]
    assert len(up) <= 1 and (not up or actions[-1] is up[0]), actions
    return (up[0] if up else None), sent([a for a in actions if not isinstance(a, Deliver)])


def result_code(datagram: bytes) -> int:
    function, body = split(datagram)
    assert function == Function.RESULT
    return int.from_bytes(body, "big")


def bbmd(**kwargs) -> BipLink:
    return BipLink(ME, SUBNET_BCAST, "bbmd", bdt=[BdtEntry(ME), BdtEntry(PEER)], **kwargs)


def register(link: BipLink, fd: bytes, ttl: int = 60, now: float = 0.0) -> list:
    return sent(link.receive(fd, bvll.pack(Function.REGISTER_FOREIGN_DEVICE, ttl.to_bytes(2, "big")), now))


def test_normal_node_unwraps_and_wraps():
    link = BipLink(ME, SUBNET_BCAST)
    assert link.receive(NODE, bvll.pack(Function.ORIGINAL_UNICAST_NPDU, NPDU), 0.0) == [Deliver(NODE, NPDU, False)]
    assert link.receive(NODE, bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, NPDU), 0.0) == [Deliver(NODE, NPDU, True)]
    forwarded = bvll.pack(Function.FORWARDED_NPDU, FD1 + NPDU)
    assert link.receive(PEER, forwarded, 0.0) == [Deliver(FD1, NPDU, True)]
    assert link.send(NODE, NPDU) == [Transmit(NODE, bvll.pack(Function.ORIGINAL_UNICAST_NPDU, NPDU))]
    assert link.send(None, NPDU) == [Transmit(SUBNET_BCAST, bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, NPDU))]


def test_own_broadcasts_echoed_back_are_ignored():
    link = BipLink(ME, SUBNET_BCAST)
    assert link.receive(ME, bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, NPDU), 0.0) == []


def test_normal_node_refuses_bbmd_services():
    link = BipLink(ME, SUBNET_BCAST)
    cases = {
        Function.REGISTER_FOREIGN_DEVICE: (b"\x00\x3c", Result.REGISTER_FOREIGN_DEVICE_NAK),
        Function.READ_BDT: (b"", Result.READ_BDT_NAK),
        Function.WRITE_BDT: (b"", Result.WRITE_BDT_NAK),
        Function.READ_FDT: (b"", Result.READ_FDT_NAK),
        Function.DELETE_FDT_ENTRY: (FD1, Result.DELETE_FDT_ENTRY_NAK),
        Function.DISTRIBUTE_BROADCAST_TO_NETWORK: (NPDU, Result.DISTRIBUTE_BROADCAST_TO_NETWORK_NAK),
    }
    for function, (body, nak) in cases.items():
        up, out = received(link.receive(FD1, bvll.pack(function, body), 0.0))
        assert up is None and [(dest, result_code(d)) for dest, d in out] == [(FD1, nak)], function


def test_malformed_datagrams_are_counted():
    link = BipLink(ME, SUBNET_BCAST)
    for junk in (b"", b"\x81", b"\x82\x0a\x00\x08abcd", b"\x81\x0a\x00\x09abcd", b"\x81\x04\x00\x08ab\x00\x00",
                 b"\x81\x00\x00\x05\x01"):
        assert link.receive(NODE, junk, 0.0) == []
    out = sent(link.receive(NODE, b"\x81\x05\x00\x04", 0.0))  # a request without its TTL still gets its NAK
    assert [result_code(d) for _, d in out] == [Result.REGISTER_FOREIGN_DEVICE_NAK]
    assert link.counters["malformed"] == 7


def test_bbmd_registers_foreign_devices_with_grace_period():
    link = bbmd()
    out = register(link, FD1, ttl=60, now=100.0)
    assert [(dest, result_code(d)) for dest, d in out] == [(FD1, Result.SUCCESS)]
    out = sent(link.receive(NODE, bvll.pack(Function.READ_FDT), 110.0))
    function, body = split(out[0][1])
    assert function == Function.READ_FDT_ACK
    [entry] = bvll.decode_fdt(body)
    assert (entry.address, entry.ttl, entry.remaining) == (FD1, 60, 60 + FDT_GRACE - 10)
    link.poll(100.0 + 60 + FDT_GRACE - 1)
    assert FD1 in link.fdt
    link.poll(100.0 + 60 + FDT_GRACE + 0.1)
    assert FD1 not in link.fdt


def test_bbmd_foreign_device_table_is_bounded():
    link = bbmd(fdt_size=1)
    register(link, FD1)
    out = register(link, FD2)
    assert result_code(out[0][1]) == Result.REGISTER_FOREIGN_DEVICE_NAK
    # a registered device may always renew
    assert result_code(register(link, FD1)[0][1]) == Result.SUCCESS


def test_bbmd_distributes_local_broadcasts_to_peers_and_foreign_devices():
    link = bbmd()
    register(link, FD1)
    up, out = received(link.receive(NODE, bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, NPDU), 1.0))
    assert up == Deliver(NODE, NPDU, True)
    forwarded = bvll.pack(Function.FORWARDED_NPDU, NODE + NPDU)
    assert sorted(out) == sorted([(PEER, forwarded), (FD1, forwarded)])


def test_bbmd_uses_directed_broadcast_for_masked_peers():
    link = BipLink(ME, SUBNET_BCAST, "bbmd", bdt=[BdtEntry(ME), BdtEntry(PEER, b"\xff\xff\xff\x00")])
    _, out = received(link.receive(NODE, bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, NPDU), 1.0))
    assert [dest for dest, _ in out] == [bvll.mac("10.0.3.255", 47808)]


def test_bbmd_distribute_broadcast_from_a_registered_foreign_device():
    link = bbmd()
    register(link, FD1)
    register(link, FD2)
    up, out = received(link.receive(FD1, bvll.pack(Function.DISTRIBUTE_BROADCAST_TO_NETWORK, NPDU), 1.0))
    assert up == Deliver(FD1, NPDU, True)
    forwarded = bvll.pack(Function.FORWARDED_NPDU, FD1 + NPDU)
    assert sorted(out) == sorted([(SUBNET_BCAST, forwarded), (PEER, forwarded), (FD2, forwarded)])


def test_bbmd_refuses_distribute_from_strangers():
    up, out = received(bbmd().receive(FD1, bvll.pack(Function.DISTRIBUTE_BROADCAST_TO_NETWORK, NPDU), 1.0))
    assert up is None and result_code(out[0][1]) == Result.DISTRIBUTE_BROADCAST_TO_NETWORK_NAK


def test_bbmd_rebroadcasts_forwarded_npdus_that_arrived_unicast():
    link = bbmd()
    register(link, FD1)
    body = NODE + NPDU
    up, out = received(link.receive(PEER, bvll.pack(Function.FORWARDED_NPDU, body), 1.0, via_broadcast=False))
    assert up == Deliver(NODE, NPDU, True)
    forwarded = bvll.pack(Function.FORWARDED_NPDU, body)
    assert sorted(out) == sorted([(SUBNET_BCAST, forwarded), (FD1, forwarded)])
    # sent as a directed broadcast by the peer: everyone here has it already
    up, out = received(link.receive(PEER, bvll.pack(Function.FORWARDED_NPDU, body), 1.0, via_broadcast=True))
    assert out == [(FD1, forwarded)]


def test_bbmd_drops_forwarded_npdus_from_outside_its_bdt():
    link = bbmd()
    assert link.receive(FD2, bvll.pack(Function.FORWARDED_NPDU, NODE + NPDU), 1.0) == []
    assert link.counters["forwarded_from_stranger"] == 1


def test_bbmd_own_broadcast_goes_to_subnet_peers_and_foreign_devices():
    link = bbmd()
    register(link, FD1)
    out = sent(link.send(None, NPDU))
    assert out[0] == (SUBNET_BCAST, bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, NPDU))
    forwarded = bvll.pack(Function.FORWARDED_NPDU, ME + NPDU)
    assert sorted(out[1:]) == sorted([(PEER, forwarded), (FD1, forwarded)])


def test_bbmd_delete_fdt_entry():
    link = bbmd()
    register(link, FD1)
    out = sent(link.receive(NODE, bvll.pack(Function.DELETE_FDT_ENTRY, FD1), 1.0))
    assert result_code(out[0][1]) == Result.SUCCESS and not link.fdt
    out = sent(link.receive(NODE, bvll.pack(Function.DELETE_FDT_ENTRY, FD1), 1.0))
    assert result_code(out[0][1]) == Result.DELETE_FDT_ENTRY_NAK


def test_bbmd_read_and_write_bdt():
    link = bbmd()
    out = sent(link.receive(NODE, bvll.pack(Function.READ_BDT), 1.0))
    function, body = split(out[0][1])
    assert function == Function.READ_BDT_ACK and bvll.decode_bdt(body) == [BdtEntry(ME), BdtEntry(PEER)]
    new = bvll.encode_bdt([BdtEntry(ME), BdtEntry(FD2)])
    out = sent(link.receive(NODE, bvll.pack(Function.WRITE_BDT, new), 1.0))
    assert result_code(out[0][1]) == Result.WRITE_BDT_NAK and link.bdt == [BdtEntry(ME), BdtEntry(PEER)]
    link = bbmd(write_bdt=True)
    persist, *out = link.receive(NODE, bvll.pack(Function.WRITE_BDT, new), 1.0)
    assert persist == Persist("bdt", ("10.0.1.1:47808/255.255.255.255", "192.0.2.8:47809/255.255.255.255"))
    assert [(to, result_code(d)) for to, d in sent(out)] == [(NODE, Result.SUCCESS)]
    assert link.bdt == [BdtEntry(ME), BdtEntry(FD2)]


def test_write_bdt_is_an_action_not_a_callback():
    # the link calls nobody: what it changed comes back in the list, for the shell to keep
    with pytest.raises(TypeError):
        bbmd(write_bdt=True, on_bdt_written=print)
    with pytest.raises(TypeError):
        BipLink(FD1, None, "foreign", bbmd=ME, on_registered=print)
    link = bbmd(write_bdt=True)
    assert not hasattr(link, "on_bdt_written") and not hasattr(link, "on_registered")
    actions = link.receive(NODE, bvll.pack(Function.WRITE_BDT, bvll.encode_bdt([BdtEntry(PEER)])), 1.0)
    assert [type(a) for a in actions] == [Persist, Transmit]
    # an empty table is a table too: the option is emptied
    actions = link.receive(NODE, bvll.pack(Function.WRITE_BDT, b""), 2.0)
    assert actions[0] == Persist("bdt", ()) and link.bdt == []


def test_foreign_device_registers_renews_and_distributes():
    link = BipLink(FD1, None, "foreign", bbmd=ME, ttl=60)
    assert link.send(None, NPDU) == []  # not registered yet: nowhere to send a broadcast
    out = link.poll(0.0)
    assert out == [Transmit(ME, bvll.pack(Function.REGISTER_FOREIGN_DEVICE, b"\x00\x3c"))]
    assert link.poll(1.0) == []
    assert link.registration.state == "registering"
    assert link.receive(ME, bvll.pack(Function.RESULT, b"\x00\x00"), 1.0) == [Announce()]
    assert link.registration.state == "registered"
    assert link.send(None, NPDU) == [Transmit(ME, bvll.pack(Function.DISTRIBUTE_BROADCAST_TO_NETWORK, NPDU))]
    assert link.poll(60.0) == []
    assert link.poll(61.0)[0].dest == ME  # renewal at the time-to-live
    # no answer: retried, and the registration lapses after the grace period
    assert link.poll(66.0)
    link.poll(92.0)
    assert link.registration.state == "registering"


def test_status_says_how_long_the_registration_lasts_and_when_the_next_attempt_is():
    """What the panel's Ports page shows of a foreign device (and of a BBMD: its FDT with the time left)."""
    link = BipLink(FD1, None, "foreign", bbmd=ME, ttl=60)
    reg = link.status(0.0)["registration"]
    assert (reg["state"], reg["expires_in"], reg["attempts"]) == ("unregistered", None, 0)
    link.poll(10.0)
    reg = link.status(11.0)["registration"]
    assert (reg["state"], reg["expires_in"], reg["attempts"], reg["next_attempt_in"]) == ("registering", None, 1, 4)
    link.receive(ME, bvll.pack(Function.RESULT, b"\x00\x00"), 12.0)
    reg = link.status(22.0)["registration"]
    assert reg["state"] == "registered" and reg["last_result"] == 0
    assert reg["expires_in"] == 60 + FDT_GRACE - 10 and reg["next_attempt_in"] == 50
    # a BBMD: the table with each entry's time-to-live and time left
    server = bbmd()
    register(server, FD1, ttl=60, now=100.0)
    status = server.status(130.0)
    assert status["fdt"] == [{"address": bvll.text(FD1), "ttl": 60, "remaining": 60 + FDT_GRACE - 30}]
    assert status["fdt_size"] == 64 and "registration" not in status


def test_renewals_are_not_news():
    link = BipLink(FD1, None, "foreign", bbmd=ME, ttl=60)
    answers = []
    for now in (0.0, 61.0, 122.0):
        link.poll(now)
        answers.append(link.receive(ME, bvll.pack(Function.RESULT, b"\x00\x00"), now + 0.1))
    assert answers == [[Announce()], [], []]


def test_foreign_device_retries_after_a_nak():
    link = BipLink(FD1, None, "foreign", bbmd=ME, ttl=60)
    link.poll(0.0)
    link.receive(ME, bvll.pack(Function.RESULT, b"\x00\x30"), 0.5)
    assert link.registration.state == "rejected"
    assert link.poll(30.0) == []
    assert link.poll(61.0)


def test_foreign_device_registers_again_when_its_bbmd_has_forgotten_it():
    # the BBMD restarted: our Distribute-Broadcast-To-Network is NAKed, and waiting for the TTL would
    # lose every broadcast (Who-Is, I-Am, I-Am-Router) for minutes
    link = BipLink(FD1, None, "foreign", bbmd=ME, ttl=300)
    link.poll(0.0)
    link.receive(ME, bvll.pack(Function.RESULT, b"\x00\x00"), 0.1)
    link.receive(ME, bvll.pack(Function.RESULT, b"\x00\x60"), 10.0)
    assert link.registration.state == "unregistered"
    out = sent(link.poll(10.5))
    assert [split(d)[0] for _, d in out] == [Function.REGISTER_FOREIGN_DEVICE]


@pytest.mark.parametrize("function, body, nak", [
    (Function.WRITE_BDT, b"\x01\x02\x03", 0x0010),  # not a multiple of 10 octets
    (Function.REGISTER_FOREIGN_DEVICE, b"\x01", 0x0030),  # no whole time-to-live
    (Function.DELETE_FDT_ENTRY, b"\x0a\x00", 0x0050),  # no whole address
])
def test_malformed_bbmd_requests_get_their_nak(function, body, nak):
    out = sent(bbmd(write_bdt=True).receive(NODE, bvll.pack(function, body), 0.0))
    assert [(to, result_code(d)) for to, d in out] == [(NODE, nak)]


class _Host:
    """The few PortHost calls a BACnet/IP port makes while it runs, written down."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def now(self) -> float:
        return 5.0

    def receive(self, port_id, source, npdu, broadcast):
        self.calls.append(("receive", port_id, source, npdu, broadcast))

    def save_option(self, port, option, values):
        self.calls.append(("save_option", port.name, option, values))

    def port_changed(self, port):
        self.calls.append(("port_changed", port.name))

    def announce(self, port_id):
        self.calls.append(("announce", port_id))


class _Endpoint:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    def sendto(self, dest: bytes, datagram: bytes) -> None:
        self.sent.append((dest, datagram))


def _running_port(link: BipLink) -> tuple[object, _Host, _Endpoint]:
    from bacrouter.config.model import BipPort
    from bacrouter.config.resources import Resource, ResourceType
    from bacrouter.net.bip_port import BipPortRuntime

    host, endpoint = _Host(), _Endpoint()
    port = BipPortRuntime(host, BipPort(name="bip0", network=1, resource="lan", mode=link.mode),  # type: ignore[arg-type]
                          3, Resource("lan", ResourceType.ETH, "eth0"))
    port.link, port.endpoint = link, endpoint  # type: ignore[assignment]
    return port, host, endpoint


def test_the_shell_persists_a_written_bdt_and_answers():
    port, host, endpoint = _running_port(bbmd(write_bdt=True))
    port._datagram(NODE, bvll.pack(Function.WRITE_BDT, bvll.encode_bdt([BdtEntry(ME), BdtEntry(FD2)])), False)
    assert host.calls == [("save_option", "bip0", "bdt", ["10.0.1.1:47808/255.255.255.255",
                                                          "192.0.2.8:47809/255.255.255.255"]),
                          ("port_changed", "bip0")]
    assert [(to, result_code(d)) for to, d in endpoint.sent] == [(NODE, Result.SUCCESS)]


def test_the_shell_forwards_then_delivers_and_announces_on_registration():
    port, host, endpoint = _running_port(bbmd())
    port._datagram(NODE, bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, NPDU), True)
    assert [to for to, _ in endpoint.sent] == [PEER]
    assert host.calls == [("receive", 3, NODE, NPDU, True)]

    port, host, endpoint = _running_port(BipLink(FD1, None, "foreign", bbmd=ME, ttl=60))
    port.poll(0.0)
    assert [split(d)[0] for _, d in endpoint.sent] == [Function.REGISTER_FOREIGN_DEVICE]
    port._datagram(ME, bvll.pack(Function.RESULT, b"\x00\x00"), False)
    assert host.calls == [("announce", 3)]
