"""The router with its features: what the daemon runs, composed from the registry.

:class:`Runtime` builds the :class:`~bacrouter.net.node.RouterNode` with the
registered port kinds, then every configured feature on the node as its
device host. A new configuration is applied as a difference: the node
restarts the ports that changed, each feature the parts of its own that
changed, and the summary names every part by kind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config.model import Config
from .feature import Feature, FeatureKind, Summary, new_summary
from .net.host import PortFactory
from .net.node import RouterNode
from .registry import PORT_KINDS, feature_kinds

__all__ = ["Runtime"]

log = logging.getLogger("bacrouter")


class Runtime:
    """Owns the router node and the running features, in registry order."""

    def __init__(self, config: Config, run_dir: Path | None = None, kinds: list[FeatureKind] | None = None,
                 port_kinds: Mapping[str, PortFactory] | None = None) -> None:
        self.config = config
        self.node = RouterNode(config, port_kinds if port_kinds is not None else PORT_KINDS, run_dir)
        self.kinds = kinds if kinds is not None else feature_kinds()
        self.features: dict[str, Feature] = {}

    @property
    def app(self) -> Any:
        """The router's device (bacrouter.net.device.RouterDevice)."""
        return self.node.app

    def feature(self, name: str) -> Any | None:
        """A running feature by name, or None when it is not configured."""
        return self.features.get(name)

    async def start(self) -> Summary:
        summary = new_summary()
        summary["started"] += await self.node.start()
        for kind in self.kinds:
            if kind.configured(self.config):
                _merge(summary, await self._start_feature(kind, self.config))
        if self.node.app is not None:
            self.node.app.announce()
        return summary

    async def _start_feature(self, kind: FeatureKind, config: Config) -> Summary:
        feature = kind.build(config, self.node)
        try:
            summary = await feature.start()  # type: ignore[misc]
        except Exception:  # a gateway that cannot start must not take routing down with it
            log.exception("%s could not start", kind.name)
            feature.stop()
            return new_summary()
        self.features[kind.name] = feature
        return summary

    async def apply(self, config: Config) -> Summary:
        """Switch to ``config``; restart only what changed. Returns every part by verb."""
        summary, device_rebuilt = await self.node.apply(config)
        self.config = config
        for kind in self.kinds:
            feature = self.features.get(kind.name)
            wanted = kind.configured(config)
            if feature is not None and not wanted:
                _merge(summary, await feature.apply(config))  # says what stops
                feature.stop()
                del self.features[kind.name]
            elif feature is not None and device_rebuilt:
                # its objects were in the old device: start it afresh
                feature.stop()
                del self.features[kind.name]
                restarted = await self._start_feature(kind, config)
                restarted["restarted"], restarted["started"] = restarted["started"], []
                _merge(summary, restarted)
            elif feature is not None:
                try:
                    _merge(summary, await feature.apply(config))
                except Exception:
                    log.exception("%s could not apply the new configuration", kind.name)
            elif wanted:
                _merge(summary, await self._start_feature(kind, config))
        return summary

    def stop(self) -> None:
        for feature in reversed(list(self.features.values())):
            try:
                feature.stop()
            except Exception:  # the others, and the ports, must still stop
                log.exception("stopping a feature failed")
        self.features.clear()
        self.node.stop()

    def status(self) -> dict[str, Any]:
        status = self.node.status()
        for kind in self.kinds:
            feature = self.features.get(kind.name)
            status[kind.name] = feature.summary() if feature is not None else None
        return status


def _merge(into: Summary, more: Summary) -> None:
    for verb, labels in more.items():
        into.setdefault(verb, []).extend(labels)
