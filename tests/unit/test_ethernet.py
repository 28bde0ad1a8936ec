"""BACnet Ethernet frames (clause 7): 802.3 length, LLC 82 82 03, padding; anything else is a DecodeError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bacrouter.net.ethernet import BROADCAST, MAX_NPDU, decode_frame, encode_frame
from bacrouter.net.npdu import DecodeError

ROUTER = bytes.fromhex("020000000001")
DEVICE = bytes.fromhex("020000000002")
WHO_IS = bytes.fromhex("01201000ff") + b"\x10\x08"  # global broadcast Who-Is


def test_a_short_npdu_is_padded_and_the_length_field_says_where_it_ends():
    frame = encode_frame(BROADCAST, ROUTER, WHO_IS)
    assert len(frame) == 60
    assert frame[:14] == BROADCAST + ROUTER + (3 + len(WHO_IS)).to_bytes(2, "big")
    assert frame[14:17] == b"\x82\x82\x03" and frame[17:17 + len(WHO_IS)] == WHO_IS
    decoded = decode_frame(frame)
    assert decoded.npdu == WHO_IS and decoded.broadcast and decoded.source == ROUTER


def test_the_largest_npdu_fills_an_ethernet_frame():
    npdu = b"\x01\x00" + bytes(MAX_NPDU - 2)
    frame = encode_frame(DEVICE, ROUTER, npdu)
    assert len(frame) == 14 + 1500
    assert decode_frame(frame).npdu == npdu and not decode_frame(frame).broadcast
    with pytest.raises(ValueError, match="does not fit"):
        encode_frame(DEVICE, ROUTER, npdu + b"x")


@pytest.mark.parametrize("frame, reason", [
    (BROADCAST + ROUTER + b"\x08\x00" + bytes(46), "EtherType"),  # IPv4
    (BROADCAST + ROUTER + b"\x00\x08\xaa\xaa\x03" + bytes(41), "LLC"),  # SNAP
    (BROADCAST + ROUTER + b"\x05\xdc\x82\x82\x03" + bytes(41), "does not fit"),  # claims 1500 octets
    (BROADCAST + ROUTER + b"\x00\x02\x82\x82", "too short"),
])
def test_frames_that_are_not_bacnet_are_named(frame, reason):
    with pytest.raises(DecodeError, match=reason):
        decode_frame(frame)


@given(st.binary(max_size=1600))
def test_random_frames_raise_only_decode_error(data):
    try:
        frame = decode_frame(data)
    except DecodeError:
        return
    assert len(frame.npdu) <= len(data) - 17


@given(st.binary(max_size=MAX_NPDU), st.binary(min_size=6, max_size=6))
def test_what_we_send_we_read_back(npdu, destination):
    assert decode_frame(encode_frame(destination, ROUTER, npdu)).npdu == npdu


def test_a_faulted_port_retries_on_the_clock_poll_is_given(monkeypatch):
    import asyncio

    import bacrouter.net.ethernet as ethernet
    from bacrouter.config.model import EthernetPort
    from bacrouter.config.resources import Resource, ResourceType

    class Host:
        clock = 1000.0

        def now(self) -> float:
            return self.clock

    tries = []

    def no_interface(ifname):
        tries.append(ifname)
        raise OSError(f"{ifname} has no Ethernet address")

    monkeypatch.setattr(ethernet, "interface_mac", no_interface)
    host = Host()
    port = ethernet.EthernetPortRuntime(host, EthernetPort(name="eth", network=5, resource="wire"),  # type: ignore[arg-type]
                                        1, Resource("wire", ResourceType.ETH, "nosuch0"))
    asyncio.run(port.start())
    assert port.state == "fault" and len(tries) == 1
    port.poll(1000.0 + ethernet.RETRY - 0.1)  # the router's clock, whatever time.monotonic() says
    assert len(tries) == 1
    port.poll(1000.0 + ethernet.RETRY)
    assert len(tries) == 2 and port.state == "fault"
