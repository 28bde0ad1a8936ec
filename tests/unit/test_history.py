"""The dashboard's ring of samples (bacrouter/history.py) and the daemon's recent log lines (logs.RecentLog)."""

from __future__ import annotations

import logging

import pytest

from bacrouter.history import History
from bacrouter.logs import RecentLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def port(name: str, got: int, sent: int, kind: str = "bip", rotation: float | None = None) -> dict:
    link = {"token_rotation_ms": rotation} if kind == "mstp" else {}
    return {"name": name, "kind": kind, "npdus_in": got, "npdus_out": sent, "link": link}


def test_rates_per_port_and_token_rotation():
    clock = Clock()
    history = History(samples=5, interval=10, clock=clock)
    assert history.sample({}, [port("one", 0, 0), port("ms1", 0, 0, "mstp", 40.0)]) is None  # a rate needs two
    clock.now += 10
    entry = history.sample({}, [port("one", 100, 50), port("ms1", 20, 30, "mstp", 42.5)])
    assert entry["ports"]["one"] == {"in": 10.0, "out": 5.0}
    assert entry["ports"]["ms1"] == {"in": 2.0, "out": 3.0, "rotation_ms": 42.5}
    assert entry["modbus_fail_pct"] is None and entry["freeclient_fail_pct"] is None
    assert history.snapshot()["samples"] == [entry]


def test_a_new_or_restarted_port_has_no_rate_that_time():
    clock = Clock()
    history = History(clock=clock)
    history.sample({}, [port("one", 500, 500)])
    clock.now += 10
    entry = history.sample({}, [port("one", 3, 1), port("two", 7, 7)])  # "one" restarted: counters went back
    assert entry["ports"] == {"one": {"in": None, "out": None}, "two": {"in": None, "out": None}}


def test_fail_rates_of_the_interval():
    clock = Clock()
    history = History(clock=clock)
    history.sample({"modbus": {"requests": 100, "failed": 10}, "freeclient": {"transactions": 5, "failed": 0}}, [])
    clock.now += 10
    entry = history.sample({"modbus": {"requests": 140, "failed": 20},
                            "freeclient": {"transactions": 5, "failed": 0}}, [])
    assert entry["modbus_fail_pct"] == 25.0  # 10 of the interval's 40
    assert entry["freeclient_fail_pct"] is None  # nothing asked: no rate, not 0 %


def test_the_ring_keeps_the_newest_and_since_pages():
    clock = Clock()
    history = History(samples=3, clock=clock)
    for _ in range(6):
        history.sample({}, [])
        clock.now += 10
    samples = history.snapshot()["samples"]
    assert [s["t"] for s in samples] == [1030.0, 1040.0, 1050.0]
    assert [s["t"] for s in history.snapshot(since=1040.0)["samples"]] == [1050.0]
    assert history.snapshot()["capacity"] == 3


def test_recent_log_keeps_warnings_apart_from_chatter():
    recent = RecentLog(lines=3, warnings=2)
    logger = logging.getLogger("test.recent")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(recent)
    try:
        logger.warning("port %s is down", "one")
        logger.debug("not kept")
        for i in range(5):
            logger.info("chatter %d", i)
        logger.error("boom")
    finally:
        logger.removeHandler(recent)
    assert [e["message"] for e in recent.query("warning")] == ["port one is down", "boom"]
    assert [e["message"] for e in recent.query("error")] == ["boom"]
    assert [e["message"] for e in recent.query("info")] == ["chatter 3", "chatter 4", "boom"]
    assert [e["message"] for e in recent.query("warning", limit=1)] == ["boom"]
    assert recent.query("warning")[0]["level"] == "warning"
    with pytest.raises(ValueError):
        recent.query("loud")
