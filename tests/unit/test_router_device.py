"""The router's device answers Who-Is and announces itself without loading bacpypes3; anything else loads it."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from bacpypes3.apdu import IAmRequest, WhoIsRequest
from bacpypes3.pdu import GlobalBroadcast

from bacrouter import VENDOR_ID
from bacrouter.net.device import PortDescription, RouterDevice, decode_who_is, encode_i_am
from bacrouter.net.npdu import GLOBAL_NETWORK, Npdu, decode, encode


@pytest.mark.parametrize("instance, max_apdu", [(0, 1476), (4100001, 1476), (4194302, 480), (77, 50)])
def test_i_am_is_what_bacpypes3_encodes(instance, max_apdu):
    request = IAmRequest(iAmDeviceIdentifier=("device", instance), maxAPDULengthAccepted=max_apdu,
                         segmentationSupported="segmented-both", vendorID=VENDOR_ID, destination=GlobalBroadcast())
    assert encode_i_am(instance, max_apdu) == b"\x10\x00" + bytes(request.encode().pduData)


@pytest.mark.parametrize("low, high", [(None, None), (0, 0), (5, 4194303), (70000, 70001), (255, 65536)])
def test_who_is_ranges_as_bacpypes3_encodes_them(low, high):
    request = WhoIsRequest(deviceInstanceRangeLowLimit=low, deviceInstanceRangeHighLimit=high)
    assert decode_who_is(b"\x10\x08" + bytes(request.encode().pduData)) == (low, high)


@pytest.mark.parametrize("apdu", [b"", b"\x10", b"\x10\x00", b"\x00\x08", b"\x10\x08\x09", b"\x10\x08\x09\x05",
                                  b"\x10\x08\x09\x05\x1b", b"\x10\x08\x09\x05\x19\x05\x00", b"\x10\x08\x0d" + bytes(5),
                                  b"\x10\x08\x1a\x00\x01\x09\x05", b"\x10\x08\x0c\x7f\xff\xff\xff\x1c\x7f\xff\xff\xff"])
def test_malformed_who_is_is_no_who_is(apdu):
    assert decode_who_is(apdu) is None


class Loaded(Exception):
    pass


def device(sent: list[tuple[bytes, bool]], instance: int = 4100001) -> RouterDevice:
    def load(**settings):
        raise Loaded(settings)

    return RouterDevice(instance=instance, name="r", description="", location="",
                        to_router=lambda data, broadcast: sent.append((data, broadcast)), load=load)


def from_port(apdu: bytes, snet: int = 1, sadr: bytes = b"\x0a\x00\x00\x02\xba\xc0") -> bytes:
    return encode(Npdu(snet=snet, sadr=sadr, payload=apdu))


def test_who_is_is_answered_to_the_asker_without_the_application():
    sent: list[tuple[bytes, bool]] = []
    dev = device(sent)
    dev.add_port(PortDescription(1, "mstp0", 5, b"\x01", 501, "mstp", lambda: []))
    dev.deliver(from_port(b"\x10\x08", snet=5, sadr=b"\x07"), True)
    dev.deliver(from_port(b"\x10\x08\x09\x00\x19\x05"), True)  # 0..5: not us
    dev.deliver(from_port(b"\x10\x08\x0b\x3e\x8f\xa1\x1b\x3e\x8f\xa1"), False)  # exactly us
    assert not dev.loaded and dev.answered_who_is == 2
    first, second = (decode(data) for data, _ in sent)
    assert (first.dnet, first.dadr, second.dnet, second.dadr) == (5, b"\x07", 1, b"\x0a\x00\x00\x02\xba\xc0")
    assert first.payload == encode_i_am(4100001, 480)  # the smallest port's APDU size


def test_announce_is_a_global_i_am():
    sent: list[tuple[bytes, bool]] = []
    device(sent).announce()
    npdu = decode(sent[0][0])
    assert npdu.dnet == GLOBAL_NETWORK and npdu.payload == encode_i_am(4100001, 1476)


def test_any_other_request_loads_the_application():
    dev = device([])
    read_property = b"\x00\x05\x01\x0c\x0c\x02\x3e\x8f\xa1\x19\x4d"
    with pytest.raises(Loaded):
        dev.deliver(from_port(read_property), False)
    dev.deliver(b"\x02", False)  # not even an NPDU: dropped, nothing loaded


def test_the_loaded_application_gets_the_ports_and_the_request():
    async def main():
        sent: list[tuple[bytes, bool]] = []
        from bacrouter.net.app import RouterApplication

        dev = RouterDevice(instance=9, name="r", description="", location="", to_router=lambda d, b: sent.append(d),
                           load=RouterApplication)
        dev.add_port(PortDescription(3, "bip0", 1, b"\x0a\x00\x00\x01\xba\xc0", 1497, "bip", lambda: [],
                                     address="10.0.0.1", netmask="255.255.255.0", udp_port=47808, mode="normal",
                                     interface="eth0"))
        read_name = b"\x00\x05\x01\x0c\x0c\x02\x00\x00\x09\x19\x4d"  # ReadProperty device,9 object-name
        dev.deliver(from_port(read_name), False)
        assert dev.loaded and sorted(i for _, i in dev.app.objectIdentifier) == [3, 9]
        for _ in range(50):
            if sent:
                break
            await asyncio.sleep(0.02)
        answer = decode(sent[0])
        assert answer.dnet == 1 and answer.payload[0] >> 4 == 3  # a Complex-ACK back to the asker
        dev.close()

    asyncio.run(main())


def test_an_idle_router_never_imports_bacpypes3(tmp_path):
    code = ("import asyncio, sys\nfrom bacrouter.net.node import RouterNode\n"
            "assert not [m for m in sys.modules if m.startswith('bacpypes3')], 'imported with the node'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("routes, answer", [(10, 3), (65534, 5)])  # 3: Complex-ACK, 5: Error
def test_a_huge_routing_table_property_is_refused_not_built(routes, answer):
    """Issue 10 item 18: a ReadProperty of 65,534 routes stalled routing for 6 s and ended in an abort."""
    async def main():
        sent: list[bytes] = []
        from bacrouter.net.app import RouterApplication

        table = [(n, b"\x0a\x00\x00\x09\xba\xc0", False) for n in range(1, routes + 1)]
        dev = RouterDevice(instance=9, name="r", description="", location="", to_router=lambda d, b: sent.append(d),
                           load=RouterApplication)
        dev.add_port(PortDescription(3, "bip0", 1, b"\x0a\x00\x00\x01\xba\xc0", 1497, "bip", lambda: table,
                                     address="10.0.0.1", netmask="255.255.255.0", udp_port=47808, mode="normal",
                                     interface="eth0"))
        # ReadProperty network-port,3 routing-table (428), a client accepting up to 64 segments of 1476
        read = b"\x02\x75\x07\x0c\x0c\x0e\x00\x00\x03\x1a\x01\xac"
        dev.deliver(from_port(read), False)
        for _ in range(500):
            if sent:
                break
            await asyncio.sleep(0.02)
        reply = decode(sent[0]).payload
        assert reply[0] >> 4 == answer, reply[:8].hex()
        if answer == 5:  # Error: class resources (3), code abort-out-of-resources (125)
            assert reply[3:] == b"\x91\x03\x91\x7d"
        dev.close()

    asyncio.run(main())
