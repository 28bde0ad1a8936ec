"""Repeated identical log records are folded: once per window, then a count."""

from __future__ import annotations

import logging

from bacrouter.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("bacrouter.mstp", level, __file__, 1, msg, args, None)


def test_a_flood_of_one_message_passes_once_a_window_with_the_count():
    clock = Clock()
    folded = RepeatFilter(window=60, clock=clock)
    passed = []
    for second in range(1200):  # 20 minutes, one line a second from a stalled adapter
        clock.now = float(second)
        r = record("MS/TP port %s: %s; retrying", "mstp0", "no octets for 6 s")
        if folded.filter(r):
            passed.append(r.getMessage())
    assert len(passed) == 20
    assert passed[0] == "MS/TP port mstp0: no octets for 6 s; retrying"
    assert passed[1] == "MS/TP port mstp0: no octets for 6 s; retrying (repeated 59 times in the last 60 s)"
    assert folded.suppressed == 1180


def test_different_messages_and_arguments_each_get_through():
    folded = RepeatFilter(window=60, clock=Clock())
    assert folded.filter(record("port %s down", "a"))
    assert folded.filter(record("port %s down", "b"))
    assert folded.filter(record("port %s down", "a", level=logging.ERROR))
    assert not folded.filter(record("port %s down", "a"))


def test_memory_is_bounded():
    folded = RepeatFilter(window=60, keys=10, clock=Clock())
    for i in range(1000):
        folded.filter(record("unique %d", i))
    assert len(folded._seen) == 10
