"""The panel's long tasks: the daemon's jobs started, watched and cancelled from the browser's side.

A plain HTTP client does what ``bacrouter.runJob`` in panel.js does, and what
a forger would; the job itself runs in the daemon (a Who-Is waiting long).
"""

from __future__ import annotations

import json
import time

import pytest

from .test_panel import Stack
from .test_panel_attacks import Client


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("jobs"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def admin(stack):
    client = Client(stack.port).set_first_password()
    client.token = client.csrf("/")
    return client


def api(client: Client, method: str, path: str, body: dict | None = None, token: str | None = None):
    headers = {"Origin": client.origin, "Content-Type": "application/json", "Accept": "application/json"}
    if token is not False:
        headers["X-CSRF-Token"] = token or client.token
    status, _, text = client.request(method, path, json.dumps(body) if body is not None else None, headers)
    return status, json.loads(text)


def until_finished(client: Client, job_id: str) -> dict:
    for _ in range(200):
        status, view = api(client, "GET", f"/api/jobs/{job_id}")
        assert status == 200, view
        if view["state"] != "running":
            return view
        time.sleep(0.05)
    raise AssertionError(f"job still running: {view}")


def test_a_job_runs_in_the_daemon_and_reports_its_result(stack, admin):
    status, started = api(admin, "POST", "/api/jobs", {"method": "discover", "params": {"wait": 0.2}})
    assert status == 200 and set(started) == {"id"}
    view = until_finished(admin, started["id"])
    assert view["state"] == "done" and isinstance(view["result"]["devices"], list), view
    # the daemon has it: the job is the daemon's, not the panel's
    assert started["id"] in {j["id"] for j in stack_call(stack, "jobs")}


def stack_call(stack, method, params=None):
    from bacrouter.control import call

    return call(stack.dir / "run" / "control.sock", method, params)


def test_a_running_job_is_cancelled(stack, admin):
    status, started = api(admin, "POST", "/api/jobs", {"method": "discover", "params": {"wait": 25}})
    assert status == 200
    status, view = api(admin, "POST", f"/api/jobs/{started['id']}/cancel", {})
    assert status == 200
    assert until_finished(admin, started["id"])["state"] == "cancelled"


@pytest.mark.parametrize("body, code", [
    ({"method": "capture", "params": {"port": "one", "action": "start", "path": "/etc/passwd"}}, 403),
    ({"method": "reload"}, 403),
    ({"method": "discover", "params": [1]}, 400),
    (["discover"], 400),
])
def test_what_a_browser_may_not_start(stack, admin, body, code):
    status, answer = api(admin, "POST", "/api/jobs", body)
    assert status == code and answer["error"]


def test_forged_and_unknown(stack, admin):
    assert api(admin, "POST", "/api/jobs", {"method": "discover"}, token=False)[0] == 403
    assert api(admin, "POST", "/api/jobs", {"method": "discover"}, token="0" * 40)[0] == 403
    assert api(admin, "GET", "/api/jobs/0123456789abcdef")[0] == 404
    assert api(admin, "GET", "/api/jobs/..%2f..%2fetc")[0] == 404
    stranger = Client(stack.port)
    assert api(stranger, "GET", "/api/jobs/0123456789abcdef", token=False)[0] == 401


def test_a_full_house_of_jobs_is_said_as_such_not_as_a_router_gone(stack, admin):
    from bacrouter import jobs

    started = []
    try:
        for _ in range(jobs.MAX_RUNNING):
            status, job = api(admin, "POST", "/api/jobs", {"method": "discover", "params": {"wait": 25}})
            assert status == 200, job
            started.append(job["id"])
        status, answer = api(admin, "POST", "/api/jobs", {"method": "discover", "params": {"wait": 25}})
        assert status == 409 and "jobs are running already" in answer["error"], answer
    finally:
        for job_id in started:
            api(admin, "POST", f"/api/jobs/{job_id}/cancel", {})
        for job_id in started:
            until_finished(admin, job_id)


def test_offline_says_so(stack, admin):
    stack.stop_daemon()
    try:
        status, answer = api(admin, "POST", "/api/jobs", {"method": "discover"})
        assert status == 503 and "not running" in answer["error"]
    finally:
        stack.start_daemon()
