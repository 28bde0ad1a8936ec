"""The init script under the real procd (../shared/platform/procd-test.sh): start, respawn, reloads, stop.

procd-test.sh runs ``files/bacrouter.init``, unmodified, as
``/etc/init.d/bacrouter`` under procd, ubusd and syslogd in a throwaway PID,
mount and network namespace, with this tree's ``.venv`` as the installed
bacrouter, and checks: start, status, the reload trigger, respawn after
SIGKILL, reload by SIGHUP after ``uci commit`` + ``/etc/init.d/bacrouter
reload``, after a resource.conf edit, after ``reload_config`` and after a
``config.change`` event, and stop within term_timeout. It needs root (CI runs
as root; so must whoever runs this). Beyond its RESULT line this test reads
its logs: the respawn parameters procd got are the system's defaults, every
reload was reported in the log, and ``check`` from a reload went to syslog.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.openwrt.platform import KIT, platform_prefix

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def procd_run(tmp_path_factory) -> tuple[str, Path]:
    if os.geteuid() != 0:
        pytest.fail("procd-test.sh needs root (a PID + mount + network namespace)")
    venv = Path(os.environ.get("BACROUTER_PROCD_VENV", ROOT / ".venv"))
    assert (venv / "bin" / "bacrouter").exists(), f"{venv} holds no installed bacrouter"
    prefix = platform_prefix()
    out = tmp_path_factory.mktemp("procd") / "out"
    # TMPDIR holds the namespace's mount point and is inherited inside it, where /tmp is a fresh tmpfs
    # (reload_config's mktemp -d would fail there): a directory outside /tmp, of this run alone
    scratch = Path(tempfile.mkdtemp(prefix="bacrouter-procd-", dir="/var/tmp"))
    env = dict(os.environ, PREFIX=str(prefix), PROJECT=str(ROOT), VENV=str(venv), OUT=str(out), TMPDIR=str(scratch))
    # procd is built into the kit's prefix on first use: under the kit's lock, like the rest of it
    with open(f"{prefix}.lock", "w") as lock:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            done = subprocess.run(["sh", str(KIT / "procd-test.sh")], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=600)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return done.stdout + done.stderr, out


def test_start_respawn_reload_stop_all_pass(procd_run):
    output, out = procd_run
    result = re.search(r"^RESULT (\d+) passed, (\d+) failed", output, re.M)
    assert result, output[-3000:]
    assert int(result.group(2)) == 0, (out / "results.txt").read_text() if (out / "results.txt").exists() else output
    assert int(result.group(1)) >= 10


def test_respawn_uses_the_system_defaults(procd_run):
    _, out = procd_run
    service = json.loads((out / "service-list-verbose.json").read_text())
    instance = service["bacrouter"]["instances"]["instance1"]
    assert instance["respawn"] == {"threshold": 3600, "timeout": 5, "retry": 5}  # procd.sh's, from system


def test_every_reload_is_reported_and_check_goes_to_the_log(procd_run):
    _, out = procd_run
    syslog = (out / "syslog.log").read_text()
    reloads = re.findall(r"bacrouter\[\d+\]: .*configuration reloaded: (.*)", syslog)
    assert len(reloads) >= 4, syslog[-3000:]  # init.d reload, resource.conf, reload_config, config.change event
    assert any("device" in line and "restarted" in line for line in reloads)  # the device name changed
    assert re.search(r"bacrouter: .*config/bacrouter: OK", syslog), "check output from the reload is not in syslog"
