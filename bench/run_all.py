"""Run every benchmark in bench/ (files named *_bench.py), one after another.

Each prints its figures and ends with one ``BENCH <name> key=value ...`` line;
this runner repeats those lines at the end so they are easy to collect.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
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
