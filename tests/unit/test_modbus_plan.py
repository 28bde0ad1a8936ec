"""Read planning: minimal requests under the slave's limits, points never split, exception 02 learnt."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bacrouter.modbus.plan import Item, Limits, ReadPlanner, minimum_requests, read_function


def items(function: int, spans: list[tuple[int, int]]) -> list[Item]:
    return [Item(i, function, address, count) for i, (address, count) in enumerate(spans)]


def plan(spans, function=3, **limits):
    return [r.as_dict() for r in ReadPlanner(items(function, spans), Limits(**limits)).plan()]


def test_seeds_coil_1_and_coil_2000():
    coils = [(1, 1), (2000, 1)]
    assert plan(coils, 1, unused_bit=1998) == [{"function": 1, "address": 1, "count": 2000}]
    assert plan(coils, 1, unused_bit=1997) == [{"function": 1, "address": 1, "count": 1},
                                               {"function": 1, "address": 2000, "count": 1}]


def test_gaps_and_group_size():
    spans = [(0, 2), (2, 2), (6, 1), (20, 2)]
    assert plan(spans, unused_reg=0) == [{"function": 3, "address": 0, "count": 4}, {"function": 3, "address": 6,
                                                                                       "count": 1},
                                         {"function": 3, "address": 20, "count": 2}]
    assert plan(spans, unused_reg=2) == [{"function": 3, "address": 0, "count": 7},
                                         {"function": 3, "address": 20, "count": 2}]
    assert plan(spans, unused_reg=13) == [{"function": 3, "address": 0, "count": 22}]
    assert plan(spans, unused_reg=13, group_reg=10) == [{"function": 3, "address": 0, "count": 7},
                                                        {"function": 3, "address": 20, "count": 2}]


def test_a_point_is_never_split_even_if_larger_than_the_group():
    assert plan([(10, 4), (14, 4)], group_reg=2) == [{"function": 3, "address": 10, "count": 4},
                                                     {"function": 3, "address": 14, "count": 4}]


def test_overlapping_points_read_together():
    # two bit fields of one register and a float over it and the next
    assert plan([(5, 1), (5, 1), (5, 2)], group_reg=1) == [{"function": 3, "address": 5, "count": 2}]


def test_functions_are_planned_apart():
    mixed = [Item("a", 1, 0, 1), Item("b", 3, 0, 2), Item("c", 1, 1, 1), Item("d", 4, 0, 1)]
    assert [r.as_dict() for r in ReadPlanner(mixed).plan()] == [
        {"function": 1, "address": 0, "count": 2}, {"function": 3, "address": 0, "count": 2},
        {"function": 4, "address": 0, "count": 1}]


def test_read_function_follows_the_slave_options():
    assert read_function("coil") == 1 and read_function("coil", coil_fr_discrete=True) == 2
    assert read_function("holding") == 3 and read_function("holding", holding_fr_input=True) == 4
    assert read_function("discrete") == 2 and read_function("input") == 4


def test_exception_02_splits_and_is_remembered():
    planner = ReadPlanner(items(3, [(0, 1), (5, 1), (10, 1), (15, 1)]), Limits(unused_reg=10))
    [whole] = planner.plan()
    assert planner.illegal_address(whole)
    assert [r.as_dict() for r in planner.plan()] == [{"function": 3, "address": 0, "count": 6},
                                                     {"function": 3, "address": 10, "count": 6}]
    first = planner.plan()[0]
    assert planner.illegal_address(first)
    assert len(planner.plan()) == 3
    single = planner.plan()[0]
    assert not planner.illegal_address(single)  # one point: nothing left to split


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.sampled_from([1, 1, 1, 2, 2, 4])), min_size=1, max_size=40),
       st.integers(1, 125), st.integers(0, 30))
def test_greedy_plan_is_the_minimum(spans, group, skip):
    limits = Limits(group_reg=group, unused_reg=skip)
    got = ReadPlanner(items(3, spans), limits).plan()
    assert len(got) == minimum_requests(items(3, spans), limits)
    covered = {(i.address, i.count) for r in got for i in r.items}
    assert covered == set(spans)
    for request in got:
        assert all(request.address <= i.address and i.end <= request.end for i in request.items)
        assert request.count <= max(group, max(c for _, c in spans))
