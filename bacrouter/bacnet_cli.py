"""BACnet from the router's shell: ``discover``, ``read``, ``write``, ``objects``; ``freeclient status|test``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_commands"]


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    pass
