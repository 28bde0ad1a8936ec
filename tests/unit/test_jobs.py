"""Jobs: any method of the table run in the background, watched and cancelled by id."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bacrouter import jobs
from bacrouter.control import ControlError, MethodTable


def table_with_jobs(finished=None):
    table = MethodTable()
    gate = asyncio.Event()

    async def slow(params):
        for i in range(3):
            jobs.progress(i, 3, f"step {i}", found=list(range(i)))
            await gate.wait()
            gate.clear()
        return {"steps": 3, "echo": params.get("x")}

    def threaded(params):
        # the thread sees its job: progress and the cancel flag
        for i in range(1000):
            jobs.check_cancelled()
            jobs.progress(i, 1000)
            threading.Event().wait(0.005)
        return "finished"

    async def in_thread(params):
        return await asyncio.to_thread(threaded, params)

    def broken(params):
        raise KeyError("nope")

    def refused(params):
        raise ControlError("bad_params", "x is missing")

    table.add("slow", slow)
    table.add("in_thread", in_thread)
    table.add("broken", broken)
    table.add("refused", refused)
    table.add("reload", lambda p: None)
    runner = jobs.Jobs(table, on_finish=(finished.append if finished is not None else None))
    runner.register()
    return table, gate


async def wait_state(table, job_id, state="running", for_progress=None):
    for _ in range(400):
        view = await table.call("job", {"id": job_id})
        if view["state"] != "running" or (for_progress is not None
                                          and view["progress"].get("done") == for_progress):
            return view
        await asyncio.sleep(0.01)
    raise AssertionError(f"job stayed {view}")


def test_a_job_reports_progress_then_its_result():
    async def main():
        finished = []
        table, gate = table_with_jobs(finished)
        started = await table.call("job_start", {"method": "slow", "params": {"x": 7}})
        await asyncio.sleep(0)
        view = await table.call("job", started)
        assert view["state"] == "running" and view["progress"] == {"done": 0, "total": 3, "text": "step 0",
                                                                   "found": []}
        assert "result" not in view
        gate.set()
        view = await wait_state(table, started["id"], for_progress=1)
        assert view["progress"]["text"] == "step 1" and view["progress"]["found"] == [0]
        for _ in range(2):
            gate.set()
            await asyncio.sleep(0.01)
        view = await wait_state(table, started["id"])
        assert view["state"] == "done" and view["result"] == {"steps": 3, "echo": 7}
        assert view["finished"] >= view["started"]
        assert finished and finished[0]["id"] == started["id"] and finished[0]["state"] == "done"
        listed = await table.call("jobs")
        assert [j["id"] for j in listed] == [started["id"]] and "result" not in listed[0]

    asyncio.run(main())


def test_cancel_stops_a_waiting_job_and_a_thread():
    async def main():
        table, _ = table_with_jobs()
        waiting = await table.call("job_start", {"method": "slow"})
        threaded = await table.call("job_start", {"method": "in_thread"})
        await asyncio.sleep(0.05)
        for started in (waiting, threaded):
            await table.call("job_cancel", started)
        for started in (waiting, threaded):
            view = await wait_state(table, started["id"])
            assert view["state"] == "cancelled" and "result" not in view
        # the thread stopped at its next check, well before its thousand steps
        await asyncio.sleep(0.05)
        done = (await table.call("job", threaded))["progress"]["done"]
        await asyncio.sleep(0.05)
        assert (await table.call("job", threaded))["progress"]["done"] == done < 999

    asyncio.run(main())


def test_failures_are_reported_not_raised():
    async def main():
        table, _ = table_with_jobs()
        broken = await table.call("job_start", {"method": "broken"})
        refused = await table.call("job_start", {"method": "refused"})
        view = await wait_state(table, broken["id"])
        assert view["state"] == "failed" and view["error"] == {"code": "internal", "message": "KeyError: 'nope'"}
        view = await wait_state(table, refused["id"])
        assert view["error"] == {"code": "bad_params", "message": "x is missing"}

    asyncio.run(main())


@pytest.mark.parametrize("params, says", [
    ({"method": "nothing"}, "is not one"),
    ({}, "is not one"),
    ({"method": "job_start", "params": {"method": "slow"}}, "cannot run as a job"),
    ({"method": "reload"}, "cannot run as a job"),
    ({"method": "slow", "params": [1]}, "must be an object"),
])
def test_what_cannot_start(params, says):
    async def main():
        table, _ = table_with_jobs()
        with pytest.raises(ControlError, match=says):
            await table.call("job_start", params)

    asyncio.run(main())


def test_running_jobs_are_bounded_and_finished_ones_forgotten():
    async def main():
        table, gate = table_with_jobs()
        ids = [(await table.call("job_start", {"method": "slow"}))["id"] for _ in range(jobs.MAX_RUNNING)]
        with pytest.raises(ControlError) as err:
            await table.call("job_start", {"method": "slow"})
        assert err.value.code == "too_many_jobs"
        for job_id in ids:
            await table.call("job_cancel", {"id": job_id})
        await asyncio.sleep(0.01)
        for _ in range(jobs.KEEP_FINISHED + 3):
            started = await table.call("job_start", {"method": "broken"})
            await wait_state(table, started["id"])
        await table.call("job_start", {"method": "broken"})
        assert len(await table.call("jobs")) <= jobs.KEEP_FINISHED + 1
        with pytest.raises(ControlError, match="no job"):
            await table.call("job", {"id": ids[0]})

    asyncio.run(main())


def test_progress_outside_a_job_does_nothing():
    jobs.progress(1, 2, "x")
    jobs.check_cancelled()
