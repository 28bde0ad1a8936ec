"""An MS/TP port of the router: the worker thread on one side, the router's node on the other."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.model import MstpPort
from ..config.resources import Resource
from ..net.router import PortInfo
from . import port as worker_module
from .capture import PcapWriter
from .link import MstpLink
from .master import MstpTimers
from .port import MstpWorker, destination_of

if TYPE_CHECKING:
    from ..ifaddr import IfAddr
    from ..net.host import PortHost

__all__ = ["MstpPortRuntime"]

log = logging.getLogger("bacrouter.mstp")

#: USB serial adapters hand octets over in packets: widen the gap rules to their jitter
USB_TOLERANCE = 0.002
#: a built-in UART's octets are timestamped when the thread wakes to read them, 50-300 us late:
#: at 76800 baud and up the 20-bit abort gap is shorter than that
UART_TOLERANCE = 0.0003


class MstpPortRuntime:
    def __init__(self, host: PortHost, config: MstpPort, port_id: int, resource: Resource) -> None:
        self.host, self.config, self.port_id, self.resource = host, config, port_id, resource
        self.name = config.name
        self.state, self.reason = "stopped", ""
        self.up_since: float | None = None
        self.worker: MstpWorker | None = None

    def _link(self) -> MstpLink:
        cfg = self.config
        device = os.path.realpath(self.resource.ifname)  # udev names such as /dev/rs485-1 are links
        tolerance = USB_TOLERANCE if "ttyUSB" in device or "ttyACM" in device else UART_TOLERANCE
        return MstpLink(cfg.mac, baud=cfg.baud, baud_mode=cfg.baud_mode, max_master=cfg.max_master,
                        max_info_frames=cfg.max_info_frames, extended_frames=cfg.extended_frames,
                        timers=MstpTimers(), tolerance=tolerance)

    async def start(self) -> None:
        loop = self.host.loop
        self.state = "starting"

        def deliver(source: int, npdu: bytes, broadcast: bool) -> None:
            loop.call_soon_threadsafe(self.host.receive, self.port_id, bytes([source]), npdu, broadcast)

        def on_state(state: str, reason: str) -> None:
            loop.call_soon_threadsafe(self._state_changed, state, reason)

        self.worker = MstpWorker(self.name, self.resource.ifname, self._link, deliver, on_state)
        self.worker.start()

    def _state_changed(self, state: str, reason: str) -> None:
        if self.worker is None:
            return
        previous, self.state, self.reason = self.state, state, reason
        if state == "up" and previous != "up":
            cfg = self.config
            self.up_since = time.time()
            info = PortInfo(self.port_id, cfg.network, max_npdu=cfg.effective_max_npdu, mac_len=1,
                            mac=bytes([cfg.mac]), name=self.name)
            self.host.port_up(self, info)
        elif state != "up" and previous == "up":
            self.up_since = None
            self.host.port_down(self)
        # one line per change of state (a line that keeps failing is retried quietly, its schedule in status)
        if state == "fault" and previous != "fault":
            log.warning("MS/TP port %s: %s; retrying after %g s, then less and less often (at most every %g s)",
                        self.name, reason, worker_module.RETRY_FIRST, worker_module.RETRY_MAX)
        elif state == "fault":
            log.debug("MS/TP port %s still failing: %s", self.name, reason)

    def stop(self) -> None:
        if self.state == "up":
            self.host.port_down(self)
        if self.worker is not None:
            worker, self.worker = self.worker, None
            worker.stop()
        self.state, self.reason, self.up_since = "stopped", "", None

    def send(self, dest: bytes | None, npdu: bytes) -> None:
        if self.worker is not None and self.state == "up":
            self.worker.send(destination_of(dest), npdu, len(npdu) > 1 and bool(npdu[1] & 0x04))

    def poll(self, now: float) -> None:
        pass  # the port's thread keeps its own time

    async def recheck(self, addresses: list[IfAddr]) -> None:
        pass

    # ------------------------------------------------------------------ status and control

    def status(self, now: float) -> dict[str, Any]:
        cfg = self.config
        info: dict[str, Any] = {
            "name": self.name, "kind": "mstp", "port_id": self.port_id, "network": cfg.network,
            "state": self.state, "reason": self.reason, "resource": self.resource.name,
            "interface": self.resource.ifname, "address": f"MAC {cfg.mac}", "up_since": self.up_since,
            "extended_frames": cfg.extended_frames,
        }
        worker = self.worker
        if worker is not None:
            info["line"] = worker.line_notes + (["real-time priority"] if worker.realtime else [])
            info["turnaround_ms"] = worker.turnaround_ms()
            info["echo_octets_removed"] = worker.echo.echoed
            info["retry"] = worker.retry_status()
            if worker.snapshot is not None:
                info["link"] = worker.snapshot
        return info

    def capture(self, action: str, path: str | None = None) -> dict[str, Any]:
        """Start or stop a pcap capture of this port; returns the capture's status."""
        if self.worker is None or self.state != "up":
            raise RuntimeError(f"MS/TP port {self.name} is not up")
        if action == "start":
            target = Path(path) if path else self.host.capture_dir / f"{self.name}-{time.strftime('%Y%m%d-%H%M%S')}.pcap"

            def begin(link: MstpLink) -> dict[str, Any]:
                if link.capture is not None:
                    link.capture.close()
                link.capture = PcapWriter(target)
                return link.capture.status()

            return self.worker.call(begin)
        if action == "stop":
            def end(link: MstpLink) -> dict[str, Any] | None:
                writer, link.capture = link.capture, None
                if writer is None:
                    return None
                writer.close()
                return writer.status()

            result = self.worker.call(end)
            if result is None:
                raise RuntimeError(f"no capture is running on {self.name}")
            return result
        raise ValueError(f"unknown capture action {action!r} (start or stop)")
