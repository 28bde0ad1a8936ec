"""Fixed, auto and forced baud rates, and the sniffer, on the simulated bus."""

from __future__ import annotations

from bacrouter.mstp.baud import BaudManager
from bacrouter.mstp.link import MstpLink
from bacrouter.mstp.sim import Bus, MasterSim


def node(bus: Bus, mac: int, baud: int, mode: str = "fixed", max_master: int = 10) -> MasterSim:
    return bus.add(MasterSim(MstpLink(mac, baud=baud, baud_mode=mode, max_master=max_master)))


def test_auto_baud_finds_the_bus_rate_and_joins():
    bus = Bus(38400)
    first, second = node(bus, 1, 38400), node(bus, 4, 38400)
    late = node(bus, 7, 19200, "auto")
    bus.run(20.0)
    assert late.link.baud.current == 38400 and not late.link.baud.detecting
    assert late.tokens_for_me > 50 and late.last_token_at > 19.0
    assert first.tokens_for_me > 50 and second.tokens_for_me > 50


def test_fixed_rate_on_the_wrong_baud_stays_out():
    bus = Bus(38400)
    node(bus, 1, 38400)
    node(bus, 4, 38400)
    wrong = node(bus, 7, 19200, "fixed")
    bus.run(10.0)
    assert wrong.link.baud.current == 19200 and wrong.link.baud.switches == 0
    assert wrong.tokens_for_me == 0


def test_forced_baud_drags_auto_devices_to_its_rate():
    bus = Bus(38400)
    auto1, auto2 = node(bus, 1, 38400, "auto"), node(bus, 4, 38400, "auto")
    forced = node(bus, 7, 76800, "forced")
    bus.run(60.0)
    assert [n.link.baud.current for n in (auto1, auto2, forced)] == [76800, 76800, 76800]
    assert all(n.last_token_at > 59.0 for n in (auto1, auto2, forced))
    assert forced.link.baud.switches >= 2  # found 38400, then forced 76800


def test_auto_baud_manager_waits_for_ten_errors_and_gives_up_when_alone():
    manager = BaudManager("auto", 38400, dwell=0.5)
    assert [manager.invalid_frame(t) for t in range(9)] == [None] * 9
    assert manager.invalid_frame(9.0) == 57600 and manager.quiet
    rates = [manager.poll(9.5 + 0.5 * i) for i in range(5)]
    assert rates == [76800, 115200, 9600, 19200, 38400]
    assert manager.poll(12.5) == 38400 and not manager.quiet  # nothing anywhere: back to ours


def test_sniffer_lists_devices_and_the_polled_max_master():
    bus = Bus(38400)
    node(bus, 1, 38400, max_master=12)
    watcher = node(bus, 4, 38400, max_master=12)
    bus.run(10.0)
    status = watcher.link.sniffer.status(bus.now)
    assert [d["mac"] for d in status["active_devices"]] == [1, 4]
    assert all(d["role"] == "master" for d in status["active_devices"])
    assert status["max_master_polled"] == 12
    assert watcher.link.sniffer.free_masters(bus.now, 5) == [0, 2, 3, 5]
    link_status = watcher.link.status(bus.now)
    assert link_status["token_rotation_ms"] is not None and link_status["baud"]["state"] == "locked"


def test_a_second_node_with_our_mac_is_noticed():
    bus = Bus(38400)
    first = node(bus, 3, 38400)
    node(bus, 3, 38400)
    bus.run(5.0)
    assert first.node.counters["duplicate_mac"] > 0


def test_the_link_asks_its_shell_to_switch_the_line_with_a_set_baud_action():
    from bacrouter.actions import SetBaud

    link = MstpLink(7, baud=19200, baud_mode="auto")
    bad_header = b"\x55\xff\x00\x01\x02\x00\x00\x00"  # preamble, then a header whose CRC is wrong
    actions, now = [], 0.0
    while not any(isinstance(a, SetBaud) for a in actions) and now < 30.0:
        now += 0.05
        actions += link.received(bad_header, now) + link.poll(now)
    switches = [a for a in actions if isinstance(a, SetBaud)]
    assert switches and switches[0].baud != 19200 and link.receiver.baud == switches[0].baud
