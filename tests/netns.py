"""A test host of our own: a network namespace joined to this one by a veth pair.

Its address, and this side's, are in 198.18.0.0/15 (RFC 2544's benchmarking range): traffic
to it never leaves this machine. Tests use it as a client that is not on loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class TestHost:
    name: str
    address: str  # the namespace's own address
    gateway: str  # this side's address, as the namespace reaches it

    def run(self, code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Python code run inside the namespace."""
        return subprocess.run(["ip", "netns", "exec", self.name, sys.executable, "-c", code, *args],
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip


def available() -> str | None:
    """None when a namespace can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2 (apt-get install iproute2)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextmanager
def test_host() -> Iterator[TestHost]:
    tag = os.getpid() % 16000
    name, outside, inside = f"sfb-{tag}", f"sfb{tag}a", f"sfb{tag}b"
    base = (198 << 24) | (18 << 16) | (tag * 4)
    gateway = ".".join(str(base + 1 >> s & 255) for s in (24, 16, 8, 0))
    address = ".".join(str(base + 2 >> s & 255) for s in (24, 16, 8, 0))
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)  # a leftover of a killed run
    subprocess.run(["ip", "link", "del", outside], capture_output=True, timeout=30)
    _ip("netns", "add", name)
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", name)
        _ip("addr", "add", f"{gateway}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{address}/30", "dev", inside)
        _ip("netns", "exec", name, "ip", "link", "set", inside, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield TestHost(name, address, gateway)
    finally:
        subprocess.run(["ip", "link", "del", outside], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
