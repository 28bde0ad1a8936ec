"""The daemon's ``mbus_scan`` and ``mbus_read`` as jobs over the control socket, against simulated meters on a pty
(tests/peers/mbus_meters.py behind socat): progress while a scan runs, cancel (the line is free again at once),
a line a running Free Client M-Bus bus holds is refused with the bus's name, and bad parameters are explained."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from bacrouter.control import ControlError, call
from bacrouter.mbus.service import search_fraction

from .modbus_harness import PtyPair
from .test_mbus_tools import Segment
from .test_panel import Stack

pytestmark = pytest.mark.skipif(shutil.which("socat") is None and not os.environ.get("BACROUTER_REQUIRE_ALL"),
                                reason="needs socat")

#: ptys refuse even parity; the simulated meters answer within milliseconds (EN 13757-2 allows 190 ms)
FAST = {"parity": "none", "timeout_ms": 60, "baud": 38400, "retries": 0}
BUS_UCI = ("\nconfig freeclient_bus 'heat'\n\toption resource 'RS485-2'\n\toption script 'mbus.lua'\n"
           "\toption parity 'none'\n")


def add_mbus_lines(stack: Stack, meters_tty: str, other_tty: str, bus: bool = True) -> None:
    """Two USB lines in resource.conf (the meters on RS485-1) and, on RS485-2, a Free Client M-Bus bus; reload."""
    resources = stack.dir / "bacrouter" / "resource.conf"
    table = json.loads(resources.read_text())
    table.update({"RS485-1": {"type": "USB", "ifname": meters_tty}, "RS485-2": {"type": "USB", "ifname": other_tty}})
    resources.write_text(json.dumps(table))
    if bus:
        (stack.dir / "bacrouter" / "freeclient").mkdir(exist_ok=True)
        (stack.dir / "bacrouter" / "freeclient" / "heat.json").write_text(json.dumps(
            {"tag": "update_interval=1000", "baudrate": 2400, "fcdevices": []}))
        with open(stack.dir / "config" / "bacrouter", "a") as config:
            config.write(BUS_UCI)
    answer = call(stack.dir / "run" / "control.sock", "reload")
    assert answer["ok"], answer


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mbusjobs")
    segment = Segment(tmp)
    spare = PtyPair(tmp / "spare" if (tmp / "spare").mkdir() is None else tmp)
    stack = Stack(tmp / "stack" if (tmp / "stack").mkdir() is None else tmp)
    try:
        add_mbus_lines(stack, segment.ptys.a, spare.a)
        yield stack, segment
    finally:
        stack.close()
        spare.close()
        segment.close()


def ctl(stack, method, params=None):
    return call(stack.dir / "run" / "control.sock", method, params, timeout=30)


def finish(stack, job_id, seen=None, limit=60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        view = ctl(stack, "job", {"id": job_id})
        if seen is not None:
            seen.append(view["progress"])
        if view["state"] != "running":
            return view
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running")


def test_a_primary_scan_reports_its_progress_and_finds_the_meters(rig):
    stack, _ = rig
    started = ctl(stack, "job_start", {"method": "mbus_scan", "params": {"resource": "RS485-1", "last": 40, **FAST}})
    seen: list[dict] = []
    view = finish(stack, started["id"], seen)
    assert view["state"] == "done", view
    meters = view["result"]["meters"]
    assert [(m["address"], m["collision"]) for m in meters] == [(1, False), (2, False), (5, True)]
    # a meter found by its primary address is identified by its data header
    assert (meters[0]["id"], meters[0]["manufacturer"], meters[0]["secondary"]) == ("12345678", "LME",
                                                                                    "12345678A5B10102")
    assert meters[1]["id"] == "1234AB78" and meters[1]["medium"]
    # the progress moved through the addresses, and the meters appeared as they were found
    done = [p.get("done") for p in seen if p.get("done") is not None]
    assert len(set(done)) > 2 and done == sorted(done) and seen[-1]["total"] == 41
    assert any(0 < len(p.get("found", [])) < 3 for p in seen), "no meter was shown before the scan ended"


def test_a_secondary_scan_finds_hex_identifications(rig):
    stack, segment = rig
    started = ctl(stack, "job_start", {"method": "mbus_scan",
                                       "params": {"resource": "RS485-1", "mode": "secondary", **FAST,
                                                  # a select is asked once: a late answer would hide a branch
                                                  "timeout_ms": 100}})
    view = finish(stack, started["id"], limit=90)
    assert view["state"] == "done", view
    found = {m["secondary"]: m for m in view["result"]["meters"]}
    assert set(found) == {"12345678A5B10102", "1234AB78A5B10102", "55555555A5B10102", "55555555C5B20102"}
    assert found["1234AB78A5B10102"]["id"] == "1234AB78" and found["1234AB78A5B10102"]["version"] == 1
    assert view["progress"]["done"] == view["progress"]["total"] == 1000


def test_read_a_meter_by_primary_and_secondary_address(rig):
    stack, _ = rig
    answer = ctl(stack, "mbus_read", {"resource": "RS485-1", "address": 2, **FAST})
    assert len(answer["frames"]) == 2 and answer["meter"]["id"] == "1234AB78"
    # the records of both telegrams, their ids counting on (the ids the M-Bus script's points name)
    ids = [r["id"] for r in answer["records"]]
    assert ids == list(range(len(ids))) and len(ids) > len(answer["frames"][0]["records"])
    assert {"function", "unit", "value", "storage_number", "tariff", "text"} <= set(answer["records"][0])
    started = ctl(stack, "job_start", {"method": "mbus_read",
                                       "params": {"resource": "RS485-1", "address": "55555555C5B20102", **FAST}})
    view = finish(stack, started["id"])
    assert view["state"] == "done" and view["result"]["meter"]["id"] == "55555555", view
    with pytest.raises(ControlError, match="meter 99: no answer"):
        ctl(stack, "mbus_read", {"resource": "RS485-1", "address": "99", **FAST})


def test_cancel_stops_the_scan_and_frees_the_line(rig):
    stack, _ = rig
    slow = {**FAST, "retries": 2}  # three tries of every silent address: long enough to cancel midway
    started = ctl(stack, "job_start", {"method": "mbus_scan", "params": {"resource": "RS485-1", **slow}})
    deadline = time.monotonic() + 20
    while (ctl(stack, "job", {"id": started["id"]})["progress"].get("done") or 0) < 3:
        assert time.monotonic() < deadline, "the scan does not move"
        time.sleep(0.05)
    ctl(stack, "job_cancel", {"id": started["id"]})
    view = finish(stack, started["id"])
    assert view["state"] == "cancelled" and view["progress"]["done"] < 250, view
    # the line was closed before the job said so: the next scan gets it at once
    again = ctl(stack, "mbus_scan", {"resource": "RS485-1", "first": 1, "last": 2, **FAST})
    assert [m["address"] for m in again["meters"]] == [1, 2]


def test_a_line_in_use_is_refused(rig):
    stack, _ = rig
    with pytest.raises(ControlError, match=r"RS485-2 is used by the running Free Client M-Bus bus 'heat'") as err:
        ctl(stack, "mbus_scan", {"resource": "RS485-2", **FAST})
    assert err.value.code == "in_use"  # (not "busy": the panel takes that for a daemon too busy to answer)
    # two jobs on one line: the second is refused while the first runs
    started = ctl(stack, "job_start", {"method": "mbus_scan", "params": {"resource": "RS485-1", **FAST}})
    second = ctl(stack, "job_start", {"method": "mbus_scan", "params": {"resource": "RS485-1", **FAST}})
    view = finish(stack, second["id"])
    assert view["state"] == "failed" and "in use by another M-Bus job" in view["error"]["message"], view
    ctl(stack, "job_cancel", {"id": started["id"]})
    assert finish(stack, started["id"])["state"] == "cancelled"


@pytest.mark.parametrize("method, params, text", [
    ("mbus_scan", {}, "give the line"),
    ("mbus_scan", {"resource": "RS485-9"}, "not in resource.conf"),
    ("mbus_scan", {"resource": "loop"}, "not a USB"),
    ("mbus_scan", {"resource": "RS485-1", "tty": "/dev/null"}, "not both"),
    ("mbus_scan", {"tty": "/dev/nothing-here"}, "no such device"),
    ("mbus_scan", {"resource": "RS485-1", "mode": "tertiary"}, "primary or secondary"),
    ("mbus_scan", {"resource": "RS485-1", "first": 9, "last": 3}, "after last"),
    ("mbus_scan", {"resource": "RS485-1", "last": 251}, "from 0 to 250"),
    ("mbus_scan", {"resource": "RS485-1", "mode": "secondary", "mask": "12G4"}, "16 hex digits"),
    ("mbus_scan", {"resource": "RS485-1", "baud": 1234}, "baud is one of"),
    ("mbus_scan", {"resource": "RS485-1", "parity": "mark"}, "parity is"),
    ("mbus_read", {"resource": "RS485-1"}, "missing address"),
    ("mbus_read", {"resource": "RS485-1", "address": "300"}, "neither a primary address"),
])
def test_bad_params_are_explained(rig, method, params, text):
    stack, _ = rig
    with pytest.raises(ControlError, match=text) as err:
        ctl(stack, method, params)
    assert err.value.code == "bad_params"


def test_the_socket_alone_names_a_tty(rig):
    stack, segment = rig
    answer = ctl(stack, "mbus_scan", {"tty": segment.ptys.a, "first": 1, "last": 1, **FAST})
    assert answer["meters"][0]["address"] == 1 and answer["line"] == segment.ptys.a
    # ubus publishes the signature, and checks calls against it: no tty there (a file path is root's, on the socket)
    from bacrouter.daemon import Daemon
    from bacrouter.paths import Paths

    table = Daemon(Paths(stack.dir)).table
    assert "tty" not in table.signatures["mbus_scan"] and "resource" in table.signatures["mbus_read"]


def test_search_fraction_grows_with_the_search():
    assert search_fraction("F" * 16, "F" * 16, "0123456789ABCDEF") == 0
    first = search_fraction("F" * 16, "1" + "F" * 15, "0123456789ABCDEF")
    deeper = search_fraction("F" * 16, "12" + "F" * 14, "0123456789ABCDEF")
    later = search_fraction("F" * 16, "2" + "F" * 15, "0123456789ABCDEF")
    assert 0 < first < deeper < later < 1
