"""Loading a whole configuration: the router's files, then each configured feature's.

A feature's code is imported only when the configuration has its sections, so
checking a plain router's configuration loads neither bacpypes3 nor lupa.
"""

from __future__ import annotations

from .config import Config, Problem, load_core
from .config.library import load_library
from .config.validate import resource_problems
from .paths import Paths
from .registry import feature_kinds, feature_section_types

__all__ = ["load_config"]


def load_config(paths: Paths) -> tuple[Config | None, list[Problem]]:
    """Read and validate everything; the model is None when the files cannot be parsed.

    Problems come back sorted by file and line, errors and warnings together.
    """
    config, problems = load_core(paths, feature_section_types())
    problems += load_library(paths.data_dir).problems
    if config is not None:
        for kind in feature_kinds():
            if kind.configured(config):
                problems += kind.load(config, paths.data_dir)
        # what the loaded files claim (a line named in a definition file) against everything else
        known = {(p.section, p.option, p.message) for p in problems}
        problems += [p for p in resource_problems(config) if (p.section, p.option, p.message) not in known]
        for kind in feature_kinds():
            if kind.configured(config):
                problems += kind.check(config)
    problems.sort(key=lambda p: (p.file, p.line))
    return config, problems
