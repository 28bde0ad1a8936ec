"""Configuration: UCI and resource.conf → typed model → validation."""

from __future__ import annotations

from ..paths import Paths
from . import uci
from .model import Config, Problem, build_config
from .resources import ResourceError, load_resources
from .validate import validate

__all__ = ["Config", "Problem", "load_config", "Paths"]


def load_config(paths: Paths) -> tuple[Config | None, list[Problem]]:
    """Read and validate everything; the model is None when the files cannot be parsed.

    Problems come back sorted by file and line, errors and warnings together.
    """
    problems: list[Problem] = []
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
    config, model_problems = build_config(package, resources, str(paths.resource_file))
    problems += model_problems
    from ..freeclient.definition import load_buses
    from ..modbus.configcheck import attach_points, load_conversions

    problems += load_conversions(paths.data_dir)
    problems += attach_points(config, paths.data_dir)
    problems += load_buses(config, paths.data_dir)
    problems += validate(config)
    problems.sort(key=lambda p: (p.file, p.line))
    return config, problems


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)
