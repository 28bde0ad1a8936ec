"""Secondary-address search, sans-IO: which select masks to send, given what each one got.

A select frame with a mask (16 hex digits: 8 of identification number, 4 of
manufacturer, 2 of version, 2 of medium; ``F`` is a wildcard) is answered by
every meter that matches: nobody (nothing heard), one (a clean ACK), or
several (a collision: garbled octets). The search starts with everything
wildcarded and, on a collision, fixes the next digit to each of its values
in turn, depth first, as libmbus's ``mbus-serial-scan-secondary`` does.

Two differences make it find more and ask less. libmbus only tries the
digits 0-9, so a meter whose identification has hex digits (they exist:
some manufacturers do not use BCD) can never be selected; here every digit
takes 0-E. And libmbus never asks the all-wildcard mask and fixes digits
even where nobody collided; here a mask is refined only when it collided,
and a collision that survives the whole identification number goes on into
manufacturer, version and medium (two meters with the same number from
different makers).

``F`` cannot be asked for: in a mask it means "any digit". When a collision
has no answer at all under digits 0-E, the colliding meters all have an F
there, and the search moves on to the next position with the mask as it is.

The caller sends :meth:`SecondarySearch.next_mask`, reports with
:meth:`answer` (and, for a single meter, its full address), and repeats until
``next_mask`` is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SecondarySearch", "Replies", "HEX_DIGITS", "DECIMAL_DIGITS", "WILDCARD"]

WILDCARD = "F" * 16
HEX_DIGITS = "0123456789ABCDEF"
DECIMAL_DIGITS = "0123456789"


class Replies:
    """How many meters answered a selection: none, one, or several at once (a collision)."""

    NONE = "none"
    ONE = "one"
    COLLISION = "collision"


@dataclass
class SecondarySearch:
    #: digits tried at each position: hex for the identification, as the mask allows
    digits: str = HEX_DIGITS
    start: str = WILDCARD
    #: positions refined on a collision, in order (0-7 identification, 8-11 manufacturer, 12-13 version,
    #: 14-15 medium)
    positions: tuple[int, ...] = tuple(range(16))
    #: ask the start mask itself first (libmbus does not: it starts by fixing the first digit)
    probe_start: bool = True
    found: list[str] = field(default_factory=list)
    selects: int = 0  # masks asked
    collisions: int = 0
    #: (mask, position index it was refined at, the collision it refines); a None mask closes a collision
    _stack: list[tuple[str | None, int, int]] = field(default_factory=list)
    _asked: tuple[str, int, int] | None = None
    _heard: dict[int, bool] = field(default_factory=dict)  # collision number: did any refinement answer?
    _masks: dict[int, str] = field(default_factory=dict)  # collision number: its mask

    def __post_init__(self) -> None:
        self.start = self.start.upper()
        if len(self.start) != 16:
            raise ValueError(f"a secondary-address mask has 16 hex digits, not {len(self.start)}")
        if self.probe_start:
            self._stack.append((self.start, -1, -1))
        else:
            self._refine(self.start, -1, -1)

    def _refine(self, mask: str, refined_at: int, parent: int) -> None:
        """Push the children of a collided mask, and after them a marker that checks whether any answered."""
        collision = self.collisions
        self.collisions += 1
        self._heard[collision] = False
        self._masks[collision] = mask  # a fallback refinement may itself need its F fallback
        children = self._children(mask, refined_at)
        if not children:
            return
        self._stack.append((None, children[0][1], collision))  # popped after every child: the F fallback
        self._stack.extend((child, index, collision) for child, index in reversed(children))

    def _children(self, mask: str, refined_at: int) -> list[tuple[str, int]]:
        """The masks one digit more precise than ``mask``, at the next wildcard position."""
        for index in range(refined_at + 1, len(self.positions)):
            position = self.positions[index]
            if mask[position] == "F":
                digits = (self.digits if position < 8 else HEX_DIGITS).replace("F", "")
                return [(mask[:position] + digit + mask[position + 1:], index) for digit in digits]
        return []

    def next_mask(self) -> str | None:
        if self._asked is not None:
            raise RuntimeError("answer the previous mask first")
        while self._stack:
            mask, index, collision = self._stack.pop()
            if mask is None:  # every child of a collision answered: nobody? then they all have F there
                if not self._heard.pop(collision, True):
                    parent = self._parent_mask(collision)
                    if parent is not None:
                        self._refine(parent, index, collision)
                continue
            self._asked = (mask, index, collision)
            self.selects += 1
            return mask
        return None

    def _parent_mask(self, collision: int) -> str | None:
        return self._masks.get(collision)

    def answer(self, outcome: str, address: str | None = None) -> None:
        """What the last mask got; ``address``: the 16-digit secondary address of a single meter."""
        if self._asked is None:
            raise RuntimeError("no mask asked")
        mask, refined_at, parent = self._asked
        self._asked = None
        if outcome != Replies.NONE and parent in self._heard:
            self._heard[parent] = True
        if outcome == Replies.ONE:
            if address and address.upper() not in self.found:
                self.found.append(address.upper())
        elif outcome == Replies.COLLISION:
            self._refine(mask, refined_at, parent)
