"""Where bacrouter keeps its files.

On the device everything lives under /etc and /var/run. ``--config-dir DIR``
(or ``BACROUTER_CONFIG_DIR``) moves the whole tree under DIR, laid out the same
way (DIR/config/bacrouter, DIR/bacrouter/resource.conf, DIR/run/...), so any
command can run from a directory on a development machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Paths"]


@dataclass(frozen=True)
class Paths:
    root: Path | None = None  # None: the system locations

    @classmethod
    def from_arg(cls, config_dir: str | os.PathLike[str] | None) -> Paths:
        chosen = config_dir or os.environ.get("BACROUTER_CONFIG_DIR") or None
        return cls(Path(chosen).resolve() if chosen else None)

    @property
    def uci_dir(self) -> Path:
        return self.root / "config" if self.root else Path("/etc/config")

    @property
    def uci_file(self) -> Path:
        return self.uci_dir / "bacrouter"

    @property
    def data_dir(self) -> Path:
        return self.root / "bacrouter" if self.root else Path("/etc/bacrouter")

    @property
    def resource_file(self) -> Path:
        return self.data_dir / "resource.conf"

    @property
    def run_dir(self) -> Path:
        return self.root / "run" if self.root else Path("/var/run/bacrouter")

    @property
    def control_socket(self) -> Path:
        return self.run_dir / "control.sock"
