"""The back-off of a failed Free Client bus, on a simulated clock: 10 s doubling to 10 min, reset after an hour
without a failure."""

from __future__ import annotations

from bacrouter.freeclient.restart import RestartPolicy


def fail_at_once(policy: RestartPolicy, now: float, times: int) -> tuple[list[float], float]:
    """The bus fails right after every restart: the waits between a failure and its restart."""
    waits = []
    for _ in range(times):
        restart = policy.failed(now, "boom")
        waits.append(restart - now)
        now = restart
        policy.restarted(now)
        now += 1.0  # fails a second after it started
    return waits, now


def test_waits_double_from_10_s_to_10_min():
    policy = RestartPolicy()
    assert fail_at_once(policy, 1000.0, 9)[0] == [10, 20, 40, 80, 160, 320, 600, 600, 600]
    assert policy.failures == 9 and policy.last_error == "boom"


def test_an_hour_without_failure_resets_the_wait_and_status_says_when():
    policy = RestartPolicy()
    _, now = fail_at_once(policy, 0.0, 4)  # the waits are at 80 s now
    now += 3000.0  # less than an hour after its last restart
    restart = policy.failed(now, "again")
    assert restart - now == 160  # within the hour after its last restart: doubled on
    policy.restarted(restart)
    now = restart + 3600.0  # an hour running without a failure
    assert policy.failed(now, "a day later") == now + 10
    status = policy.status(now + 4)
    assert status == {"failures": 6, "last_error": "a day later", "last_error_ago": 4.0, "next_restart_in": 6.0}
    policy.restarted(now + 10)
    assert policy.status(now + 11)["next_restart_in"] is None


def test_a_bus_that_ran_long_before_its_first_failure_waits_10_s():
    policy = RestartPolicy()
    assert policy.failed(86_400.0) == 86_410.0
    assert policy.status(86_400.0)["failures"] == 1
