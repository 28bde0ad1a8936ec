"""Random and mutated input: decoders raise only DecodeError, the receive paths never raise."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bacrouter.actions import Deliver
from bacrouter.net import bvll
from bacrouter.net.bip import BipLink
from bacrouter.net.bvll import BdtEntry, Function
from bacrouter.net.npdu import (
    DecodeError,
    Npdu,
    decode,
    decode_reject,
    decode_routing_table,
    encode,
    network_list,
)
from bacrouter.net.router import LOCAL, PortInfo, Router

ME = bvll.mac("10.0.1.1", 47808)
PEER = bvll.mac("10.0.3.1", 47808)
CLIENT = bvll.mac("10.0.1.50", 47808)
DEVICE = bvll.mac("10.0.2.60", 47808)

VALID_NPDUS = [
    encode(Npdu(payload=b"\x10\x08")),
    encode(Npdu(control=0x04, dnet=2, dadr=DEVICE, payload=b"\x00\x05\x01\x0c\x0c\x02\x00\x00\x01\x19\x55")),
    encode(Npdu(dnet=0xFFFF, snet=7, sadr=b"\x05", hop_count=200, payload=b"\x10\x08")),
    encode(Npdu(message_type=0x00, payload=b"\x00\x05")),
    encode(Npdu(message_type=0x01, payload=b"\x00\x05\x00\x06")),
    encode(Npdu(message_type=0x06, payload=b"\x01\x00\x05\x01\x02ab")),
    encode(Npdu(message_type=0x81, vendor_id=7, payload=b"xyz", dnet=5, dadr=b"\x01")),
]
VALID_DATAGRAMS = [bvll.pack(Function.ORIGINAL_UNICAST_NPDU, VALID_NPDUS[1]),
                   bvll.pack(Function.ORIGINAL_BROADCAST_NPDU, VALID_NPDUS[0]),
                   bvll.pack(Function.FORWARDED_NPDU, CLIENT + VALID_NPDUS[2]),
                   bvll.pack(Function.REGISTER_FOREIGN_DEVICE, b"\x00\x3c"),
                   bvll.pack(Function.WRITE_BDT, bvll.encode_bdt([BdtEntry(ME)])),
                   bvll.pack(Function.DELETE_FDT_ENTRY, PEER),
                   bvll.pack(Function.RESULT, b"\x00\x00")]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        choice = draw(st.integers(0, 3))
        if choice == 0 and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif choice == 1 and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif choice == 2:
            data.insert(draw(st.integers(0, len(data))), draw(st.integers(0, 255)))
        else:
            data += draw(st.binary(max_size=8))
    return bytes(data)


npdu_inputs = st.one_of(st.binary(max_size=64), mutated(VALID_NPDUS))
bvll_inputs = st.one_of(st.binary(max_size=64), mutated(VALID_DATAGRAMS))
FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(npdu_inputs)
def test_npdu_decoder_raises_only_decode_error(data):
    try:
        npdu = decode(data)
    except DecodeError:
        return
    # whatever decodes must encode and decode to the same thing
    assert decode(encode(npdu)) == npdu
    for body_decoder in (network_list, decode_reject, decode_routing_table):
        try:
            body_decoder(npdu.payload)
        except DecodeError:
            pass


@FUZZ
@given(bvll_inputs)
def test_bvll_decoder_raises_only_decode_error(data):
    try:
        function, body = bvll.split(data)
    except DecodeError:
        return
    assert bvll.pack(function, body) == data
    for body_decoder in (bvll.decode_bdt, bvll.decode_fdt):
        try:
            body_decoder(body)
        except DecodeError:
            pass


def make_router() -> Router:
    router = Router()
    router.add_port(PortInfo(1, network=1, mac=ME), 0.0)
    router.add_port(PortInfo(2, network=2, mac=bvll.mac("10.0.2.1", 47808)), 0.0)
    return router


@FUZZ
@given(st.lists(st.tuples(st.sampled_from([LOCAL, 1, 2]), npdu_inputs, st.booleans()), max_size=12))
def test_router_survives_garbage_and_keeps_routing(messages):
    router = make_router()
    now = 0.0
    for port, data, broadcast in messages:
        now += 0.5
        router.receive(port, CLIENT if port else None, data, now, broadcast)
        router.poll(now)
    out = router.receive(1, CLIENT, encode(Npdu(dnet=2, dadr=DEVICE, payload=b"\x10\x08")), now + 1000.0)
    assert [(s.port_id, s.dest) for s in out] == [(2, DEVICE)]


@FUZZ
@given(st.lists(st.tuples(bvll_inputs, st.booleans(), st.sampled_from([CLIENT, PEER, DEVICE])), max_size=12),
       st.sampled_from(["normal", "bbmd", "foreign"]))
def test_bip_link_survives_garbage(datagrams, mode):
    link = BipLink(ME, bvll.mac("10.0.1.255", 47808), mode, bdt=[BdtEntry(ME), BdtEntry(PEER)], bbmd=PEER,
                   write_bdt=True)
    for i, (data, via_broadcast, src) in enumerate(datagrams):
        link.receive(src, data, float(i), via_broadcast)
        link.poll(float(i))
    assert link.receive(CLIENT, VALID_DATAGRAMS[0], 1e6) == [Deliver(CLIENT, VALID_NPDUS[1], False)]
