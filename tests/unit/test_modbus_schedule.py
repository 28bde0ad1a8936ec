"""The master's schedule on a simulated clock: refresh by age, writes first, offline and back."""

from __future__ import annotations

import pytest

from bacrouter.actions import Wait
from bacrouter.modbus.codec import Function
from bacrouter.modbus.gateway import write_request
from bacrouter.modbus.plan import Item, Limits, ReadPlanner
from bacrouter.modbus.schedule import (
    HISTORY,
    OFFLINE_AFTER,
    MasterSchedule,
    Outcome,
    ReadJob,
    SlaveSchedule,
    WriteJob,
)


def slave(name="s", addresses=(0, 10), update=1.0, offline=5.0) -> SlaveSchedule:
    items = [Item(a, 3, a, 1) for a in addresses]
    return SlaveSchedule(name, ReadPlanner(items, Limits(unused_reg=0)), update, offline)


def run(master: MasterSchedule, until: float, outcome=lambda slave, request, now: Outcome.OK, step=0.01):
    """Serve jobs, each taking ``step`` seconds, until ``until``; returns (time, kind, slave name, what)."""
    now, log = 0.0, []
    while now < until:
        match master.next_job(now):
            case Wait(None):
                break
            case Wait(due):
                now = max(due, now)
                continue
            case WriteJob(slave, payload):
                log.append((now, "write", slave.name, payload))
                slave.count(outcome(slave, None, now), now + step)
            case ReadJob(slave, request):
                log.append((now, "read", slave.name, request.address))
                slave.read_done(request, outcome(slave, request, now), now + step)
        now += step
    return log


def test_every_read_is_refreshed_by_its_age():
    a = slave("a", update=1.0)
    master = MasterSchedule([a])
    log = run(master, 3.5)
    reads = [(round(t, 2), address) for t, _, _, address in log]
    assert reads[:2] == [(0.0, 0), (0.01, 10)]
    assert reads[2:4] == [(1.01, 0), (1.02, 10)]  # due one update interval after each completed
    assert len(reads) == 8


def test_slaves_share_the_line_by_how_overdue_they_are():
    fast, slow = slave("fast", (0,), update=0.1), slave("slow", (0,), update=1.0)
    log = run(MasterSchedule([fast, slow]), 2.0, step=0.05)
    counts = {name: sum(1 for _, _, n, _ in log if n == name) for name in ("fast", "slow")}
    assert counts["slow"] == 2  # at 0 and 1.0ish: never starved by the fast one
    assert counts["fast"] >= 10


def test_writes_go_first_in_order_and_one_each():
    a, b = slave("a"), slave("b")
    master = MasterSchedule([a, b])
    for index, target in enumerate((a, b, a)):
        master.queue_write(WriteJob(target, f"w{index}"))
    log = run(master, 0.05)
    assert [(kind, name, what) for _, kind, name, what in log[:4]] == [
        ("write", "a", "w0"), ("write", "b", "w1"), ("write", "a", "w2"), ("read", "a", 0)]


def test_offline_after_three_failures_then_probes_then_a_full_refresh():
    a = slave("a", update=1.0, offline=5.0)
    failing = {"on": True}
    events: list[tuple[float, str]] = []

    def outcome(s, request, now):
        return Outcome.FAILED if failing["on"] else Outcome.OK

    master = MasterSchedule([a])
    now = 0.0
    while now < 30:
        if now > 12:
            failing["on"] = False
        job = master.next_job(now)
        if isinstance(job, Wait):
            now = job.until
            continue
        s, request = job.slave, job.request
        for event in s.read_done(request, outcome(s, request, now), now + 0.01):
            events.append((round(now, 2), event))
        now += 0.01
    # a failed read stays due: 0.0 and 0.01 fail, the retry of the first at 0.02 is the third failure
    assert events[0] == (0.02, "offline")
    assert a.went_offline == 1
    # then one probe 5 s after each failure (5.03, 10.04 fail); the one after 12 s answers, then a full refresh
    assert events[1:] == [(15.05, "online"), (15.06, "refreshed")]
    assert a.failed == 5  # three to go offline, two probes


def test_exceptions_are_answers_and_writes_wait_for_an_offline_slave():
    a = slave("a")
    for _ in range(OFFLINE_AFTER):
        a.count(Outcome.EXCEPTION, 0.0)
    assert a.online and a.exceptions == 3 and a.fail_rate == 100.0
    for _ in range(OFFLINE_AFTER):
        a.count(Outcome.FAILED, 0.0)
    assert not a.online
    master = MasterSchedule([a])
    master.queue_write(WriteJob(a, "held"))
    assert master.next_job(0.0) == Wait(5.0)  # nothing until the probe: the write waits
    probe = master.next_job(5.0)
    assert isinstance(probe, ReadJob) and probe.slave is a
    a.count(Outcome.OK, 0.1)
    write = master.next_job(0.2)
    assert isinstance(write, WriteJob) and write.payload == "held"


def test_a_master_with_nothing_to_read_waits_to_be_woken():
    assert MasterSchedule([]).next_job(0.0) == Wait(None)
    master = MasterSchedule([slave("a", (0,), update=2.0)])
    read = master.next_job(1.0)
    assert read == ReadJob(master.slaves[0], read.request) and read.request.address == 0
    read.slave.read_done(read.request, Outcome.OK, 1.5)
    assert master.next_job(1.6) == Wait(3.5)  # due one update interval after it completed


def test_the_write_queue_is_bounded():
    a = slave("a")
    master = MasterSchedule([a], write_limit=3)
    for index in range(5):
        master.queue_write(WriteJob(a, index))
    assert master.dropped_writes == 2 and [j.payload for j in a.writes] == [2, 3, 4]


def test_fail_rate_covers_the_last_hundred_requests():
    a = slave("a")
    for index in range(HISTORY * 2):
        a.count(Outcome.FAILED if index < HISTORY else Outcome.OK, 0.0)
    assert a.fail_rate == 0.0
    a.count(Outcome.FAILED, 0.0)
    assert a.fail_rate == pytest.approx(1.0)


def test_update_delay_is_how_late_the_slowest_read_is():
    a = slave("a", (0,), update=1.0)
    request = a.planner.plan()[0]
    a.read_done(request, Outcome.OK, 0.0)
    a.read_done(request, Outcome.OK, 1.0)
    assert a.update_delay == 0.0
    a.read_done(request, Outcome.OK, 3.5)
    assert a.update_delay == pytest.approx(1.5)


def test_a_split_plan_forgets_the_old_reads():
    a = slave("a", (0, 1, 2, 3))
    [request] = a.planner.plan()
    a.read_done(request, Outcome.OK, 0.0)
    assert a.planner.illegal_address(request)
    a.replanned()
    assert a.last_read == {}
    assert a.next_read()[0] == float("-inf")


@pytest.mark.parametrize("address_type, words, single_coil, single_reg, expected", [
    ("coil", [1], False, False, (Function.WRITE_MULTIPLE_COILS, 1)),
    ("coil", [1], True, False, (Function.WRITE_SINGLE_COIL, 1)),
    ("holding", [5], False, False, (Function.WRITE_MULTIPLE_REGISTERS, 1)),
    ("holding", [5], False, True, (Function.WRITE_SINGLE_REGISTER, 1)),
    ("holding", [5, 6], False, True, (Function.WRITE_MULTIPLE_REGISTERS, 2)),  # several registers: always 16
])
def test_write_function_codes(address_type, words, single_coil, single_reg, expected):
    request = write_request(address_type, 7, words, single_coil, single_reg)
    assert (request.function, request.count) == expected and request.address == 7


def test_probes_take_turns_and_held_writes_keep_only_the_last_per_point():
    a = slave("a", (0, 10, 20))
    for _ in range(OFFLINE_AFTER):
        a.count(Outcome.FAILED, 0.0)
    probes = []
    for _ in range(3):
        due, request = a.next_read()
        probes.append(request.address)
        a.read_done(request, Outcome.FAILED, due)
    assert sorted(probes) == [0, 10, 20]  # a device that ignores one request is still found
    master = MasterSchedule([a])
    for value in (1, 2, 3):
        master.queue_write(WriteJob(a, value, key="setpoint"))
    master.queue_write(WriteJob(a, 9, key="other"))
    assert [j.payload for j in a.writes] == [3, 9]
    a.count(Outcome.OK, 100.0)  # back online: writes queue again one by one, never merged
    master.queue_write(WriteJob(a, 4, key="setpoint"))
    assert [j.payload for j in a.writes] == [3, 9, 4]


def test_a_removed_slave_is_neither_read_nor_written_and_its_waiting_writes_are_forgotten():
    a, b = slave("a"), slave("b")
    master = MasterSchedule([a, b])
    master.queue_write(WriteJob(a, "a1"))
    master.queue_write(WriteJob(b, "b1"))
    master.queue_write(WriteJob(a, "a2"))
    master.remove(a)
    assert master.pending_writes == 1 and not a.writes and master.slaves == [b]
    log = run(master, 1.5)
    assert {name for _, _, name, _ in log} == {"b"}
    assert [what for _, kind, _, what in log if kind == "write"] == ["b1"]
    master.remove(a)  # twice: nothing happens
