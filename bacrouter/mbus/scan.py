"""Scans and reads of an M-Bus line, as steps over an :class:`~.master.MBusMaster`: one loop for every caller.

``bacrouter mbus scan`` / ``scan-secondary`` / ``read`` print as they go; the
daemon's ``mbus_scan`` / ``mbus_read`` report a job's progress and stop when
it is cancelled. Both pass callbacks: ``step`` before each request (it may
raise to stop between two of them, never inside an exchange), ``found`` for
each meter as soon as it answers, ``problem`` for what is worth a line but not
a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .frame import MBusError
from .jsonout import records_json
from .master import Collision, MBusMaster, NoAnswer
from .records import VariableData, parse_payload
from .search import DECIMAL_DIGITS, HEX_DIGITS, WILDCARD, Replies, SecondarySearch
from .tables import manufacturer_text, medium_text

__all__ = ["primary_scan", "secondary_scan", "read_meter", "identify", "meter_of_secondary", "flat_records",
           "FIRST", "LAST"]

FIRST, LAST = 0, 250  # the primary addresses a meter may have


def primary_scan(master: MBusMaster, first: int = FIRST, last: int = LAST, retries: int = 1,
                 step: Callable[[int], None] | None = None,
                 found: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """SND_NKE to every address from ``first`` to ``last``: an ACK is a meter, garbage a collision.

    ``step(address)`` comes before each address; ``found({"address", "collision"})`` after each answer."""
    meters: list[dict[str, Any]] = []
    for address in range(first, last + 1):
        if step is not None:
            step(address)
        outcome = Replies.NONE
        for _ in range(retries + 1):
            outcome = master.ping(address)
            if outcome != Replies.NONE:
                break
        if outcome == Replies.NONE:
            continue
        meter = {"address": address, "collision": outcome == Replies.COLLISION}
        meters.append(meter)
        if found is not None:
            found(meter)
    return meters


def secondary_scan(master: MBusMaster, mask: str = WILDCARD, decimal: bool = False,
                   step: Callable[[SecondarySearch, str], None] | None = None,
                   found: Callable[[str, str], None] | None = None,
                   problem: Callable[[str], None] | None = None) -> SecondarySearch:
    """Select masks refined digit by digit where meters collide (see :mod:`.search`); the finished search.

    ``decimal``: libmbus's search exactly (digits 0-9, never the start mask itself).
    ``step(search, mask)`` before each select, ``found(address, mask)`` for each meter."""
    if decimal:
        search = SecondarySearch(digits=DECIMAL_DIGITS, start=mask, probe_start=False, positions=tuple(range(8)))
    else:
        search = SecondarySearch(digits=HEX_DIGITS, start=mask)
    while (next_mask := search.next_mask()) is not None:
        if step is not None:
            step(search, next_mask)
        outcome = master.select(next_mask)
        address = None
        if outcome == Replies.ONE:
            try:
                address = master.address_of_selected()
            except (Collision, MBusError):  # two meters ACKed as one, then their data collided
                outcome = Replies.COLLISION
            except NoAnswer:
                if problem is not None:
                    problem(f"a meter matching {next_mask} acknowledged but sent no data")
            if address and found is not None and address.upper() not in search.found:
                found(address, next_mask)
        search.answer(outcome, address)
    return search


def read_meter(master: MBusMaster, address: int | str, reset: bool = True) -> dict[str, Any]:
    """Every telegram of one meter as JSON: ``{"address", "frames": [...]}`` (``bacrouter mbus read --json``)."""
    frames = master.read(address, reset=reset)
    return {"address": str(address), "frames": [records_json(frame) for frame in frames]}


def flat_records(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of every telegram in one list, their ``id`` counting on across telegrams: the id a point of
    the M-Bus Free Client script names (its tag ``id=N``), as ``swg.mbus_records`` numbers them."""
    out: list[dict[str, Any]] = []
    for number, frame in enumerate(frames):
        offset = len(out)
        for record in frame.get("records") or []:
            out.append(dict(record, id=offset + record["id"], telegram=number))
    return out


def meter_of_secondary(address: str) -> dict[str, Any]:
    """What a 16-digit secondary address says: identification, manufacturer, version, medium."""
    address = address.upper()
    maker = int.from_bytes(bytes.fromhex(address[8:12]), "little")
    medium = int(address[14:16], 16)
    return {"secondary": address, "id": address[:8], "manufacturer": manufacturer_text(maker),
            "version": int(address[12:14], 16), "medium": medium_text(medium)}


def identify(master: MBusMaster, address: int) -> dict[str, Any]:
    """The header of a meter found at a primary address (one REQ_UD2): its secondary address and what it says.

    Empty when the meter sends no variable data header (a fixed data structure has only an identification)."""
    frame = master.read(address, reset=False, limit=1)[0]
    payload = parse_payload(frame)
    if isinstance(payload, VariableData) and payload.header.secondary_address:
        return meter_of_secondary(payload.header.secondary_address)
    ident = getattr(payload, "ident", None)
    return {"id": f"{ident:08X}"} if isinstance(ident, int) else {}
