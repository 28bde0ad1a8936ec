"""What the sans-IO protocol cores ask their shells to do: one shared vocabulary of actions.

Every entry point of a core (``receive``, ``send``, ``poll``, ...) returns a
``list`` of these, in the order they are to be carried out, like h11's events:
the core decides, the shell does. A shell reads them all the same way::

    for action in link.receive(src, data, now):
        match action:
            case Transmit():
                sock.sendto(action.data, action.dest)
            case Deliver():
                host.receive(port_id, action.source, action.npdu, action.broadcast)
            case Persist():
                host.save_option(self, action.option, list(action.values))
            case Announce():
                host.announce(port_id)
            case _:
                raise AssertionError(f"unexpected {action!r}")

An action the shell does not know is a bug in the shell, not something to pass
over quietly. The cases test the class and read the attributes: positional
captures (``case Transmit(dest, data)``) read as well, but on Python 3.11 cost
about 100 ns each, and shells run this for every packet.

The actions are slotted dataclasses, frozen for the type checker, never
changed once made. At run time they are not frozen: a frozen dataclass's
``__init__`` writes each field through ``object.__setattr__``, which makes it
three times as dear, and the router makes a :class:`Deliver`, a :class:`Send`
and a :class:`Transmit` for every NPDU it forwards (in a micro-benchmark of
that path, enforced immutability cost 10 %; these cost 2 % against tuples).

Who returns what: the router core :class:`Send`; the B/IP link
:class:`Transmit`, :class:`Deliver`, :class:`Persist` (a Write-BDT) and
:class:`Announce` (registered with its BBMD); the MS/TP link :class:`Transmit`,
:class:`Deliver` and :class:`SetBaud`. A core with actions of its own defines
them next to itself: the Modbus schedule's ``next_job`` returns one of
``WriteJob``, ``ReadJob`` or :class:`Wait` (one, not a list: a master has one
request out at a time). This module imports nothing from bacrouter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, dataclass_transform

__all__ = ["Action", "Send", "Transmit", "Deliver", "SetBaud", "Persist", "Announce", "Wait"]

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def _action(cls: type[_T]) -> type[_T]:
    """A slotted dataclass, frozen for the type checker (see the module's docstring), hashable."""
    return dataclass(slots=True, unsafe_hash=True)(cls)


@_action
class Send:
    """The router core: carry ``data`` (an NPDU) out of port ``port_id``, to ``dest`` (None: broadcast).

    Port :data:`~bacrouter.net.router.LOCAL` is the router's own application;
    there ``dest`` None means the NPDU was a broadcast."""

    port_id: int
    dest: bytes | None
    data: bytes


@_action
class Transmit:
    """A data link core: put ``data`` on the wire to ``dest``.

    B/IP: a datagram (``bytes``) to a B/IP address; MS/TP: a
    :class:`~bacrouter.mstp.frame.Frame` (``dest`` is its destination MAC)."""

    dest: Any
    data: Any


@_action
class Deliver:
    """A data link core: hand ``npdu`` from station ``source`` up to the router.

    ``expecting_reply``: an MS/TP Data-Expecting-Reply frame (the reply must
    come back within Treply_delay); always False elsewhere."""

    source: Any
    npdu: bytes
    broadcast: bool
    expecting_reply: bool = False


@_action
class SetBaud:
    """A serial data link core: switch the line to ``baud`` bit/s (autobaud found the bus's rate)."""

    baud: int


@_action
class Persist:
    """Keep a setting the network changed in the port's configuration: option ``option`` is now ``values``.

    A BBMD answers Write-Broadcast-Distribution-Table with this (``bdt`` and the entries)."""

    option: str
    values: tuple[str, ...]


@_action
class Announce:
    """Tell the port's network which networks the router reaches, again.

    A foreign device registration succeeded: broadcasts sent before it were dropped."""


@_action
class Wait:
    """Nothing to do before ``until`` (monotonic seconds), unless woken; None: until woken."""

    until: float | None = None


Action = Send | Transmit | Deliver | SetBaud | Persist | Announce | Wait
