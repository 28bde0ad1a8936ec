"""Configuration files: export and import of a big router, and a CSV points import.

    python bench/configfiles_bench.py

1. A router with 50 Modbus slaves (on two TCP masters, so no hardware is
   needed) and 10,000 points (200 each), built in a scratch --config-dir.
2. ``export``: export_router + the JSON text, as ``bacrouter export`` does.
3. ``import``: read_document + plan_import (the scratch copy checked with the
   real loader, the difference against the current configuration) +
   apply_import (one transaction) into an empty configuration directory.
4. ``csv``: a 5,000-row points CSV, as ``bacrouter modbus points --csv``
   writes it, imported into one slave (parsed, the slave's new points checked,
   committed as one change), as ``bacrouter modbus points s0 --import`` does.

Each phase runs in a process of its own, so its peak RSS (ru_maxrss, the
interpreter included) is its own. Target (issue 12): each under 5 s and 64 MB.

Ends with: BENCH configfiles export_s=… import_s=… import_peak_mb=… export_peak_mb=… csv_import_s=…
csv_peak_mb=…
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLAVES, POINTS_EACH, CSV_ROWS = 50, 200, 5000


def point(index: int) -> dict:
    kind = ("ai", "av", "bi", "mv")[index % 4]
    raw = {"name": f"p{index}", "instance": index, "object_type": kind, "enable": True,
           "address_type": "holding" if kind != "bi" else "coil", "address": index * 2 % 60000,
           "data_type": "u16", "description": f"point {index}"}
    if kind == "mv":
        raw["state_texts"] = ["Auto", "Hand", "Off"]
    if kind in ("ai", "av"):
        raw.update(scale=0.1, unit="degrees-celsius")
    return raw


def build(root: Path) -> None:
    (root / "config").mkdir(parents=True)
    (root / "bacrouter" / "modbus").mkdir(parents=True)
    (root / "bacrouter" / "resource.conf").write_text("{}")
    uci = "config bacrouter 'main'\n\toption device_instance '4001'\n"
    for master in ("m1", "m2"):
        uci += f"\nconfig modbus_master '{master}'\n\toption protocol 'tcp'\n\toption host '10.0.0.{master[1]}'\n"
    for n in range(SLAVES):
        uci += (f"\nconfig modbus_slave 's{n}'\n\toption master 'm{n % 2 + 1}'\n\toption station '{n + 1}'\n"
                f"\toption block '{n + 1}'\n")
        points = [point(i) for i in range(POINTS_EACH)]
        (root / "bacrouter" / "modbus" / f"s{n}.json").write_text(json.dumps({"points": points}, indent=1))
    (root / "config" / "bacrouter").write_text(uci)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_export(source: str, out: str) -> dict:
    from bacrouter.configfile import dumps_document, export_router
    from bacrouter.paths import Paths

    start = time.perf_counter()
    Path(out).write_text(dumps_document(export_router(Paths(Path(source)))))
    return {"s": time.perf_counter() - start, "peak_mb": peak_mb()}


def phase_import(target: str, document: str) -> dict:
    from bacrouter.configfile import apply_import, plan_import, read_document
    from bacrouter.paths import Paths

    start = time.perf_counter()
    paths = Paths(Path(target))
    data, migrated = read_document(Path(document).read_bytes())
    plan = plan_import(paths, data, migrated)
    assert plan.ok, [str(p) for p in plan.problems if p.severity == "error"][:5]
    apply_import(paths, plan)
    assert plan.summary["points"]["added"] == SLAVES * POINTS_EACH, plan.summary
    return {"s": time.perf_counter() - start, "peak_mb": peak_mb()}


def write_csv(path: Path) -> None:
    """The 5,000 points as `bacrouter modbus points --csv` writes them (UTF-8 with BOM, state texts in one cell)."""
    from bacrouter.pointscsv import MODBUS_KEYS, to_csv

    path.write_bytes(to_csv([point(i) for i in range(CSV_ROWS)], MODBUS_KEYS))


def phase_csv(root: str, csv_file: str) -> dict:
    """`bacrouter modbus points s0 --import FILE`: parse, check the slave's new points, commit them."""
    from bacrouter.paths import Paths
    from bacrouter.pointscsv import apply, import_modbus_points

    start = time.perf_counter()
    paths = Paths(Path(root))
    report = import_modbus_points(paths, "s0", Path(csv_file).read_bytes())
    assert report.ok, report.problems[:3]
    apply(paths, report)
    return {"s": time.perf_counter() - start, "peak_mb": peak_mb()}


def run_phase(*argv: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt(value: float | None, digits: int = 2) -> str:
    return "na" if value is None else f"{value:.{digits}f}"


def main() -> None:
    if len(sys.argv) > 1:
        phases = {"export": phase_export, "import": phase_import, "csv": phase_csv}
        print(json.dumps(phases[sys.argv[1]](*sys.argv[2:])))
        return
    with tempfile.TemporaryDirectory(prefix="bacrouter-bench-") as scratch:
        base = Path(scratch)
        build(base / "source")
        document = base / "router.json"
        export = run_phase("export", str(base / "source"), str(document))
        imported = run_phase("import", str(base / "target"), str(document))
        write_csv(base / "points.csv")
        csv_run = run_phase("csv", str(base / "target"), str(base / "points.csv"))
        print(f"router: {SLAVES} slaves, {SLAVES * POINTS_EACH} points; router file {document.stat().st_size:,} bytes")
        print(f"export {export['s']:.2f} s, peak {export['peak_mb']:.1f} MB")
        print(f"import (check in scratch + diff + one transaction) {imported['s']:.2f} s, peak "
              f"{imported['peak_mb']:.1f} MB")
        print(f"CSV import of {CSV_ROWS:,} rows into one slave {csv_run['s']:.2f} s, peak {csv_run['peak_mb']:.1f} MB")
        print(f"ratio to the 5 s / 64 MB bound: export {export['s'] / 5:.2f}, import {imported['s'] / 5:.2f} and "
              f"{imported['peak_mb'] / 64:.2f}, csv {csv_run['s'] / 5:.2f} and {csv_run['peak_mb'] / 64:.2f}")
        print(f"BENCH configfiles export_s={fmt(export['s'])} import_s={fmt(imported['s'])} "
              f"import_peak_mb={fmt(imported['peak_mb'], 1)} export_peak_mb={fmt(export['peak_mb'], 1)} "
              f"csv_import_s={fmt(csv_run['s'])} csv_peak_mb={fmt(csv_run['peak_mb'], 1)}")


if __name__ == "__main__":
    main()
