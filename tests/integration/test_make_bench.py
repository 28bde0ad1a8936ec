"""The developer targets on a fresh machine: the build says nothing to worry about, `make bench` says what is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .netns import ROOT


def _venv() -> Path:
    return Path(sys.prefix) if sys.prefix != sys.base_prefix else ROOT / ".venv"


def test_make_bench_without_socat_stops_at_once_saying_what_to_install(tmp_path):
    empty = tmp_path / "bin"  # a PATH with no socat (nor anything else: make and python are named in full)
    empty.mkdir()
    venv = _venv()
    started = time.monotonic()
    result = subprocess.run([shutil.which("make") or "/usr/bin/make", "-C", str(ROOT), "-o", f"{venv}/.installed",
                             "bench", f"VENV={venv}"], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PATH=str(empty)))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert time.monotonic() - started < 10, "it ran benchmarks before saying what is missing"
    assert "socat" in result.stderr and "install" in result.stderr
    assert "== " not in result.stdout, "a benchmark was started"
    assert "Traceback" not in output and "FileNotFoundError" not in output


def test_the_build_prints_no_licence_warnings(tmp_path):
    source = tmp_path / "src"  # a copy: the build leaves build/ and *.egg-info where it runs
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "bacrouter", source / "bacrouter", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", str(source), "-w", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "SetuptoolsDeprecationWarning" not in output
    assert "project.license" not in output and "License classifiers" not in output
    wheel = next(tmp_path.glob("bacrouter-*.whl"))
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        metadata = next(archive.read(n).decode() for n in archive.namelist() if n.endswith("/METADATA"))
    assert "License-Expression: GPL-2.0-or-later" in metadata
