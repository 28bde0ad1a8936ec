"""Run every benchmark in bench/ (files named *_bench.py), one after another.

Each prints its figures and ends with one ``BENCH <name> key=value ...`` line;
this runner repeats those lines at the end so they are easy to collect.

What the benchmarks need beyond the Python environment (socat for their
serial lines) is checked first: a machine without it stops at once, saying
what to install, instead of failing half-way through the run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: programs the benchmarks start, and how a machine gets them
NEEDS = {"socat": "apt-get install socat (Debian, Ubuntu), opkg install socat (OpenWrt), brew install socat"}


def missing() -> list[str]:
    return [f"{program}: {how}" for program, how in NEEDS.items() if shutil.which(program) is None]


def main() -> int:
    absent = missing()
    if absent:
        print("make bench needs programs this machine does not have; install them first:", file=sys.stderr)
        for line in absent:
            print(f"  {line}", file=sys.stderr)
        return 2
    lines, failed = [], []
    for bench in sorted(HERE.glob("*_bench.py")):
        print(f"== {bench.name}", flush=True)
        result = subprocess.run([sys.executable, str(bench)], stdout=subprocess.PIPE, text=True)
        print(result.stdout, end="", flush=True)
        if result.returncode != 0:
            failed.append(bench.name)
        lines += [line for line in result.stdout.splitlines() if line.startswith("BENCH ")]
    print("== summary")
    print("\n".join(lines))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
