"""Configuration: UCI and resource.conf → typed model → validation.

This package knows the router's own sections; each feature brings the schema
and checks of its sections (see :mod:`bacrouter.registry`), and
:func:`bacrouter.loader.load_config` puts the two together.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..paths import Paths
from . import transaction, uci
from .model import Config, Problem, Section, build_config
from .resources import ResourceError, load_resources
from .validate import validate

__all__ = ["Config", "Problem", "load_core", "has_errors", "Paths"]


def load_core(paths: Paths, feature_types: Mapping[str, type[Section]] | None = None,
              ) -> tuple[Config | None, list[Problem]]:
    """Read both files into the model and check the router's own rules.

    The model is None when the files cannot be parsed. ``feature_types`` are
    the section types features own: their sections are parsed here, their
    files and rules are the features' business.
    """
    problems: list[Problem] = []
    try:
        transaction.recover(paths)  # a change a kill interrupted: finish it (or drop it) before reading
    except OSError as err:
        problems.append(Problem(f"cannot finish an interrupted configuration change: {err}", str(paths.data_dir)))
    resources = None
    try:
        resources = load_resources(paths.resource_file)
    except ResourceError as err:
        problems.append(Problem(err.detail(), err.path, err.line))
    try:
        package = uci.load(paths.uci_file)
    except FileNotFoundError:
        problems.append(Problem("file not found (run 'bacrouter init' to create the defaults)", str(paths.uci_file)))
        return None, problems
    except uci.UciError as err:
        problems.append(Problem(err.detail(), err.path, err.line))
        return None, problems
    config, model_problems = build_config(package, resources, str(paths.resource_file), feature_types)
    problems += model_problems
    problems += validate(config)
    return config, problems


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)
