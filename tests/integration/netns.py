"""Throw-away test networks: hosts in network namespaces, joined by bridged segments.

Each segment is a Linux bridge inside a private "switch" namespace; each host
is a namespace with one veth (e0, e1, ...) per segment it is on. Nothing is
created in the namespace the tests run in, and everything is removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bacrouter.control import ControlError, call

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT / "tests" / "peers" / "bp3peer.py"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root for ip netns"
    for tool, package in (("ip", "iproute2"), ("tshark", "tshark")):
        if shutil.which(tool) is None:
            return f"needs {package}"
    return None


def needs_netns():
    """Skip on a developer machine without root or tools; in CI (BACROUTER_REQUIRE_ALL=1) run and fail instead."""
    import pytest

    reason = available()
    if reason is not None and os.environ.get("BACROUTER_REQUIRE_ALL"):
        reason = None
    return [pytest.mark.netns, pytest.mark.skipif(reason is not None, reason=reason or "")]


@dataclass
class Host:
    net: Network
    name: str
    ns: str
    addresses: dict[str, str] = field(default_factory=dict)  # segment -> ip
    ifnames: dict[str, str] = field(default_factory=dict)  # segment -> e0/e1...

    def ip(self, segment: str) -> str:
        return self.addresses[segment]

    def address(self, action: str, segment: str, cidr: str, label: str | None = None) -> None:
        """``ip addr add|del`` on the interface this host has on ``segment``."""
        args = ["-n", self.ns, "addr", action, cidr, "dev", self.ifnames[segment]]
        if label:
            args += ["label", label]
        _ip(*args)

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns, *args], env=env, **kwargs)
        self.net.procs.append(proc)
        return proc

    def run(self, args: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        return subprocess.run(["ip", "netns", "exec", self.ns, *args], env=env, capture_output=True, text=True,
                              timeout=timeout)

    def peer(self, command: str, segment: str, instance: int, *extra: str, timeout: float = 30.0) -> Any:
        """Run a bacpypes3 client command here and return its JSON answer."""
        prefix = self.net.prefixes[segment]
        result = self.run([sys.executable, str(PEER), command, "--address", f"{self.ip(segment)}/{prefix}",
                           "--instance", str(instance), *extra], timeout=timeout)
        try:
            return json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise AssertionError(f"peer {command} failed: {result.stdout}\n{result.stderr}") from None

    def device(self, segment: str, instance: int, *extra: str) -> subprocess.Popen:
        """Start a bacpypes3 device here and wait until it serves."""
        ready = self.net.tmp / f"ready-{instance}"
        prefix = self.net.prefixes[segment]
        proc = self.popen([sys.executable, str(PEER), "device", "--address", f"{self.ip(segment)}/{prefix}",
                           "--instance", str(instance), "--ready", str(ready), *extra],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: ready.exists() or proc.poll() is not None, 20, f"device {instance}")
        if proc.poll() is not None:
            raise AssertionError(f"device {instance} died: {proc.stderr.read().decode()}")
        return proc


class Daemon:
    """A bacrouter daemon running in a host namespace with its own config directory."""

    def __init__(self, host: Host, config_dir: Path, proc: subprocess.Popen) -> None:
        self.host, self.config_dir, self.proc = host, config_dir, proc
        self.socket = config_dir / "run" / "control.sock"

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return call(self.socket, method, params)

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"bacrouter exited {self.proc.returncode}:\n{self.log()}")
            try:
                ports = self.call("ports")
            except (OSError, ControlError):
                return False
            return all(p["state"] == "up" for p in ports if p["kind"] == "bip")

        wait_for(ready, timeout, "bacrouter to bring its ports up")

    def write_config(self, uci_text: str) -> None:
        (self.config_dir / "config" / "bacrouter").write_text(textwrap.dedent(uci_text))

    def log(self) -> str:
        path = self.config_dir / "daemon.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


class Network:
    def __init__(self, tmp: Path, tag: str) -> None:
        self.tmp = tmp
        self.prefix = f"brt{os.getpid() % 100000}{tag}"
        self.switch = f"{self.prefix}sw"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.prefixes: dict[str, int] = {}
        self.hosts: dict[str, Host] = {}
        self._veths = 0
        self._add_ns(self.switch)

    def _add_ns(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")

    def segment(self, name: str, prefixlen: int = 24) -> None:
        _ip("-n", self.switch, "link", "add", name, "type", "bridge")
        _ip("-n", self.switch, "link", "set", name, "up")
        self.prefixes[name] = prefixlen

    def host(self, name: str, links: dict[str, str | None], gateway: str | None = None, forward: bool = False) -> Host:
        ns = f"{self.prefix}{name}"
        self._add_ns(ns)
        host = Host(self, name, ns)
        for index, (segment, address) in enumerate(links.items()):
            inside, outside = f"e{index}", f"v{self._veths}"
            self._veths += 1
            _ip("link", "add", inside, "netns", ns, "type", "veth", "peer", "name", outside, "netns", self.switch)
            _ip("-n", self.switch, "link", "set", outside, "master", segment, "up")
            if address is not None:
                _ip("-n", ns, "addr", "add", f"{address}/{self.prefixes[segment]}", "dev", inside)
                host.addresses[segment] = address
            _ip("-n", ns, "link", "set", inside, "up")
            host.ifnames[segment] = inside
        if gateway:
            _ip("-n", ns, "route", "add", "default", "via", gateway)
        if forward:
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        self.hosts[name] = host
        return host

    def bacrouter(self, host: Host, name: str, uci_text: str, resources: dict[str, str], wait: bool = True,
                  serial: dict[str, str] | None = None, files: dict[str, str] | None = None) -> Daemon:
        """Start a bacrouter on ``host``; ``resources`` maps resource names to segments (or to ifnames),
        ``serial`` maps RS485 resource names to tty paths, ``files`` holds more files of its data
        directory (such as ``modbus/meter.json``)."""
        config_dir = self.tmp / name
        (config_dir / "config").mkdir(parents=True)
        (config_dir / "bacrouter").mkdir()
        for relative, text in (files or {}).items():
            (config_dir / "bacrouter" / relative).parent.mkdir(parents=True, exist_ok=True)
            (config_dir / "bacrouter" / relative).write_text(text)
        conf = {res: {"type": "ETH", "ifname": host.ifnames.get(seg, seg)} for res, seg in resources.items()}
        conf.update({res: {"type": "USB", "ifname": tty} for res, tty in (serial or {}).items()})
        (config_dir / "bacrouter" / "resource.conf").write_text(json.dumps(conf))
        (config_dir / "config" / "bacrouter").write_text(textwrap.dedent(uci_text))
        log = open(config_dir / "daemon.log", "w")
        proc = host.popen([sys.executable, "-m", "bacrouter", "run", "--config-dir", str(config_dir)],
                          stdout=log, stderr=subprocess.STDOUT)
        daemon = Daemon(host, config_dir, proc)
        if wait:
            daemon.wait_ready()
        return daemon

    def capture(self, segments: list[str], path: Path) -> Capture:
        """tshark on the segments' bridges, from the switch's point of view (sees every frame)."""
        args = ["tshark", "-q", "-w", str(path)]
        for segment in segments:
            args += ["-i", segment]
        proc = subprocess.Popen(["ip", "netns", "exec", self.switch, *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        started = []

        def capturing() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"tshark failed: {proc.stderr.read()}")
            line = proc.stderr.readline()
            if "Capturing on" in line:
                started.append(line)
            return bool(started)

        wait_for(capturing, 20, "tshark to start")
        time.sleep(0.3)
        return Capture(proc, path)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class Capture:
    def __init__(self, proc: subprocess.Popen, path: Path) -> None:
        self.proc, self.path = proc, path

    def stop(self) -> Path:
        time.sleep(0.5)  # let the last frames reach the file
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(10)
        return self.path


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def tshark_fields(pcap: Path, display_filter: str, fields: list[str], decode_as: list[str] | None = None) -> list[list[str]]:
    args = ["tshark", "-r", str(pcap), "-Y", display_filter, "-T", "fields", "-E", "separator=|"]
    for rule in decode_as or []:
        args += ["-d", rule]
    for f in fields:
        args += ["-e", f]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return [line.split("|") for line in result.stdout.splitlines() if line]


def tshark_problems(pcap: Path, sources: list[str], decode_as: list[str] | None = None) -> list[str]:
    """Every frame from ``sources`` (IP addresses) that tshark calls malformed or flags as a warning or error."""
    from_us = " || ".join(f"ip.src == {ip}" for ip in sources)
    args = ["tshark", "-r", str(pcap), "-Y", f"({from_us}) && (_ws.malformed || _ws.expert.severity >= warning)"]
    for rule in decode_as or []:
        args += ["-d", rule]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return [line for line in result.stdout.splitlines() if line.strip()]
