"""Read planning: the fewest requests that read every point of a slave, sans-IO.

Points are grouped per function code (coils and discrete inputs with 1/2,
registers with 3/4, following ``coil_fr_discrete`` / ``holding_fr_input``).
Overlapping points (bit fields of one register) merge into blocks, which are
never split. A request reads consecutive blocks as long as its span stays
within the group size (raised to the largest block: a point is never split)
and no run of unused addresses inside it exceeds the skip limit.

Both limits are hereditary (every part of a valid request is valid), and a
request is an address range (it reads every block between its ends), so
greedy left-to-right grouping is minimal: the first request may as well
start at the first block and reach as far as it can.

When a slave answers a grouped read with exception 02 (illegal data
address), the read is split in two and the split remembered, so the plan
converges on the boundaries the device really has.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .codec import LIMITS, Function

__all__ = ["Item", "ReadRequest", "Limits", "ReadPlanner", "read_function", "minimum_requests"]


@dataclass(frozen=True, slots=True)
class Item:
    """Something to read: ``count`` items from ``address`` with function ``function``."""

    key: object  # what the caller calls it (a point)
    function: int
    address: int
    count: int

    @property
    def end(self) -> int:
        return self.address + self.count


@dataclass(frozen=True)
class ReadRequest:
    function: int
    address: int
    count: int
    items: tuple[Item, ...] = field(compare=False, repr=False)

    @property
    def end(self) -> int:
        return self.address + self.count

    def as_dict(self) -> dict[str, int]:
        return {"function": self.function, "address": self.address, "count": self.count}


@dataclass(frozen=True)
class Limits:
    group_bit: int = 2000
    unused_bit: int = 0
    group_reg: int = 125
    unused_reg: int = 0

    def for_function(self, function: int) -> tuple[int, int]:
        if function in (Function.READ_COILS, Function.READ_DISCRETE_INPUTS):
            return min(self.group_bit, LIMITS[1]), self.unused_bit
        return min(self.group_reg, LIMITS[3]), self.unused_reg


def read_function(address_type: str, coil_fr_discrete: bool = False, holding_fr_input: bool = False) -> int:
    if address_type == "coil":
        return Function.READ_DISCRETE_INPUTS if coil_fr_discrete else Function.READ_COILS
    if address_type == "discrete":
        return Function.READ_DISCRETE_INPUTS
    if address_type == "holding":
        return Function.READ_INPUT_REGISTERS if holding_fr_input else Function.READ_HOLDING_REGISTERS
    return Function.READ_INPUT_REGISTERS


@dataclass
class _Block:
    function: int
    address: int
    end: int
    items: list[Item]


def _blocks(items: Iterable[Item], limits: Limits) -> dict[int, tuple[int, list[_Block]]]:
    """Per function: the request size cap and the items merged into blocks (overlapping ones together,
    as long as the block stays within the cap; beyond it they are read apart)."""
    by_function: dict[int, list[Item]] = {}
    for item in items:
        by_function.setdefault(item.function, []).append(item)
    blocks: dict[int, tuple[int, list[_Block]]] = {}
    for function, group in by_function.items():
        cap = max(limits.for_function(function)[0], max(i.count for i in group))  # never split a point
        group.sort(key=lambda i: (i.address, -i.count))
        merged: list[_Block] = []
        for item in group:
            last = merged[-1] if merged else None
            if last is not None and item.address < last.end and max(last.end, item.end) - last.address <= cap:
                last.end = max(last.end, item.end)
                last.items.append(item)
            else:
                merged.append(_Block(function, item.address, item.end, [item]))
        blocks[function] = (cap, merged)
    return blocks


class ReadPlanner:
    def __init__(self, items: Sequence[Item], limits: Limits = Limits()) -> None:
        self.items = list(items)
        self.limits = limits
        #: (function, address) where a request must end before: learnt from exception 02
        self.splits: set[tuple[int, int]] = set()
        self._plan: list[ReadRequest] | None = None

    def plan(self) -> list[ReadRequest]:
        if self._plan is None:
            self._plan = self._compute()
        return self._plan

    def _compute(self) -> list[ReadRequest]:
        requests: list[ReadRequest] = []
        for function, (cap, blocks) in sorted(_blocks(self.items, self.limits).items()):
            skip = self.limits.for_function(function)[1]
            current: list[_Block] = []
            for block in blocks:
                if current:
                    start, end = current[0].address, max(b.end for b in current)
                    fits = max(end, block.end) - start <= cap and block.address - end <= skip
                    if fits and (function, block.address) not in self.splits:
                        current.append(block)
                        continue
                    requests.append(self._request(function, current))
                current = [block]
            if current:
                requests.append(self._request(function, current))
        return requests

    @staticmethod
    def _request(function: int, blocks: list[_Block]) -> ReadRequest:
        start, end = blocks[0].address, max(b.end for b in blocks)
        return ReadRequest(function, start, end - start, tuple(i for b in blocks for i in b.items))

    def illegal_address(self, request: ReadRequest) -> bool:
        """The slave refused ``request`` with exception 02: split it in two for good. False if it is one block."""
        blocks = _blocks(request.items, self.limits).get(request.function, (0, []))[1]
        if len(blocks) < 2:
            return False
        middle = blocks[len(blocks) // 2]
        self.splits.add((request.function, middle.address))
        self._plan = None
        return True


def minimum_requests(items: Sequence[Item], limits: Limits = Limits()) -> int:
    """The true minimum by dynamic programming over every way to cut the blocks (for benchmarks and tests)."""
    total = 0
    for function, (cap, blocks) in _blocks(items, limits).items():
        skip = limits.for_function(function)[1]
        best = [0] + [len(blocks) + 1] * len(blocks)  # best[k]: fewest requests for the first k blocks
        for end in range(1, len(blocks) + 1):
            for start in range(end, 0, -1):
                run = blocks[start - 1 : end]
                far = max(b.end for b in run)
                if far - run[0].address > cap:
                    break
                reach, gaps_ok = run[0].end, True
                for block in run[1:]:
                    if block.address - reach > skip:
                        gaps_ok = False
                        break
                    reach = max(reach, block.end)
                if not gaps_ok:
                    break
                best[end] = min(best[end], best[start - 1] + 1)
        total += best[-1]
    return total
