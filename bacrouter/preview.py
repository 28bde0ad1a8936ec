"""The configuration as a change would make it, loaded and checked before anything is written.

:func:`preview` copies the configuration tree (UCI file, resource.conf, the
data directory without the undo copy) into a scratch directory, applies the
change there and loads it with every feature's rules, so an import can say
what is wrong with the result while the live files are untouched. Problems
come back with the live paths, as the files will be called.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .config import transaction
from .config.model import Config, Problem
from .paths import Paths

__all__ = ["preview"]


def preview(paths: Paths, changes: Mapping[Path, bytes | None]) -> tuple[Config | None, list[Problem]]:
    """Load the configuration ``changes`` (path → new bytes, None: removed) would give."""
    from .loader import load_config  # the loader imports the features

    transaction.recover(paths)
    with tempfile.TemporaryDirectory(prefix="bacrouter-preview-") as scratch:
        staged = Paths(Path(scratch))
        if paths.uci_file.exists():
            staged.uci_dir.mkdir(parents=True)
            shutil.copy2(paths.uci_file, staged.uci_file)
        if paths.data_dir.is_dir():
            shutil.copytree(paths.data_dir, staged.data_dir,
                            ignore=shutil.ignore_patterns(transaction.PREVIOUS, transaction.JOURNAL))
        moved: dict[str, str] = {}
        for target, data in changes.items():
            here = _inside(Path(target), paths, staged)
            moved[str(here)] = str(target)
            if data is None:
                here.unlink(missing_ok=True)
            else:
                here.parent.mkdir(parents=True, exist_ok=True)
                here.write_bytes(data)
        config, problems = load_config(staged)
        roots = [(str(staged.data_dir), str(paths.data_dir)), (str(staged.uci_dir), str(paths.uci_dir))]
        located = []
        for problem in problems:
            file, message = problem.file, problem.message
            for old, new in roots:
                if file.startswith(old):
                    file = new + file[len(old):]
                message = message.replace(old, new)
            located.append(dataclasses.replace(problem, file=file, message=message))
    return config, located


def _inside(target: Path, paths: Paths, staged: Paths) -> Path:
    for live, scratch in ((paths.data_dir, staged.data_dir), (paths.uci_dir, staged.uci_dir)):
        try:
            return scratch / target.relative_to(live)
        except ValueError:
            continue
    raise ValueError(f"{target} is outside the configuration ({paths.uci_dir}, {paths.data_dir})")
