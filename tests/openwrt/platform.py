"""The real OpenWrt programs (uci, ubusd + python3-ubus, opkg, apk, procd), built once from ../shared/platform.

``platform_prefix()`` returns the directory the kit's ``build-all.sh`` installed
into: ``$BACROUTER_PLATFORM`` if set, else a cache under the system temp
directory (built on first use, under a lock, so parallel test sessions build it
once). ``.ci/run`` installs the Debian packages the build needs and builds it
before the tests run. Nothing here is mocked: when the kit cannot be built the
tests that need it fail, and say why.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT.parent / "shared" / "platform"
DEFAULT_PREFIX = Path(tempfile.gettempdir()) / "bacrouter-openwrt-platform"
#: what the kit's build leaves behind when it is complete
MARKERS = ("bin/uci", "bin/ubus", "sbin/ubusd", "bin/opkg", "bin/apk")


def platform_prefix() -> Path:
    prefix = Path(os.environ.get("BACROUTER_PLATFORM") or DEFAULT_PREFIX)
    if all((prefix / marker).exists() for marker in MARKERS) and python_ubus(prefix):
        return prefix
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{prefix}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (all((prefix / marker).exists() for marker in MARKERS) and python_ubus(prefix)):
            log = Path(f"{prefix}.build.log")
            with open(log, "w") as out:
                done = subprocess.run(["bash", str(KIT / "build-all.sh"), str(prefix)], stdout=out,
                                      stderr=subprocess.STDOUT, env=dict(os.environ, PYTHON=sys.executable))
            if done.returncode != 0:
                raise RuntimeError(f"building the OpenWrt platform kit failed; see {log} (needs the Debian "
                                   f"packages listed in {KIT / 'README.md'})")
    return prefix


def python_ubus(prefix: Path) -> bool:
    """The ubus binding built for this Python."""
    return any((prefix / "lib" / "python").glob(f"ubus.cpython-{sys.version_info.major}{sys.version_info.minor}*.so"))


def tool(name: str) -> str:
    """Path of one of the kit's programs (bin/ or sbin/)."""
    prefix = platform_prefix()
    for sub in ("bin", "sbin"):
        path = prefix / sub / name
        if path.exists():
            return str(path)
    raise FileNotFoundError(f"{name} is not in the platform kit at {prefix}")
