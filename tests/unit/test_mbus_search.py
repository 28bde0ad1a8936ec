"""The secondary-address search against sets of meters, without a line: what is found, and at what cost."""

from __future__ import annotations

import random

import pytest

from bacrouter.mbus.search import DECIMAL_DIGITS, Replies, SecondarySearch


def matches(mask: str, meter: str) -> bool:
    return all(m == "F" or m == d for m, d in zip(mask, meter, strict=True))


def search(meters: list[str], **options) -> SecondarySearch:
    s = SecondarySearch(**options)
    while (mask := s.next_mask()) is not None:
        hits = [m for m in meters if matches(mask, m)]
        outcome = Replies.NONE if not hits else Replies.ONE if len(hits) == 1 else Replies.COLLISION
        s.answer(outcome, hits[0] if len(hits) == 1 else None)
    return s


def test_one_meter_costs_one_select():
    s = search(["12345678A5B10102"])
    assert s.found == ["12345678A5B10102"] and s.selects == 1


def test_nobody_costs_one_select():
    assert search([]).selects == 1


def test_hex_digits_and_twins_from_two_makers():
    meters = ["12345678A5B10102", "1234AB78A5B10102", "55555555A5B10102", "55555555C5B20102"]
    assert sorted(search(meters).found) == sorted(meters)
    libmbus = search(meters, digits=DECIMAL_DIGITS, probe_start=False, positions=tuple(range(8)))
    assert libmbus.found == ["12345678A5B10102"]


@pytest.mark.parametrize("seed", range(5))
def test_random_bcd_buses_are_found_whole(seed):
    rng = random.Random(seed)
    meters = sorted({"".join(rng.choice("0123456789") for _ in range(8)) + "2C2D0407" for _ in range(30)})
    ours = search(meters)
    assert sorted(ours.found) == meters
    libmbus = search(meters, digits=DECIMAL_DIGITS, probe_start=False, positions=tuple(range(8)))
    assert sorted(libmbus.found) == meters  # on a BCD bus both find everything


def test_an_f_digit_is_found_when_its_neighbours_allow():
    # F means "any digit" in a mask: a meter with an F is found when nobody shares the digits before it
    assert search(["1234567F2C2D0407", "99999999A5B10102"]).found == ["1234567F2C2D0407", "99999999A5B10102"]
    # ... and when everybody under a collision has the F there, the search moves past it
    assert sorted(search(["1F34567F2C2D0407", "1F99999911110407"]).found) == ["1F34567F2C2D0407",
                                                                              "1F99999911110407"]


@pytest.mark.parametrize("meters", [
    ["FF000001ABCD0107", "FF000002ABCD0107"],  # two F digits in a row, under the same collision
    ["12345678ABCDFF07", "12345678ABCDFF04"],  # version FF: the fallback past it must fall back again
])
def test_runs_of_f_digits_under_one_collision(meters):
    assert sorted(search(meters).found) == sorted(meters)


def test_the_protocol_of_use():
    s = SecondarySearch()
    s.next_mask()
    with pytest.raises(RuntimeError):
        s.next_mask()
    s.answer(Replies.NONE)
    with pytest.raises(RuntimeError):
        s.answer(Replies.NONE)
    with pytest.raises(ValueError):
        SecondarySearch(start="FFFF")


def test_a_garbled_answer_is_asked_again_and_a_collision_is_one_that_stays():
    from bacrouter.mbus.frame import MBusError, parse_frame
    from bacrouter.mbus.master import Collision, Exchange, MBusMaster

    class Line:
        def close(self) -> None:
            pass

    ack = parse_frame(bytes([0xE5]))
    answers: list[Exchange] = []
    master = MBusMaster("/dev/null", retries=1, open_line=lambda *args: Line())
    master.exchange = lambda request, answers_expected=True: answers.pop(0)
    answers += [Exchange([], [MBusError("bad checksum")]), Exchange([ack], [])]
    assert master._answer(b"\x10\x40\x01\x41\x16", ack.kind) is ack  # noise once: the retry gets the answer
    answers += [Exchange([], [MBusError("bad checksum")]), Exchange([ack, ack], [])]
    with pytest.raises(Collision):
        master._answer(b"\x10\x40\x01\x41\x16", ack.kind)
