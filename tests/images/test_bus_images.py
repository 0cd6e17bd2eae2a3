"""The sFlow bus in containers: images/bus-compose.yaml (a bus, two sites publishing, a consumer) run for real
with the engine's compose tool, and the README's 3 a.m. command, sflow/tshark reading the last 15 minutes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent import datagram, packets, send
from tests.images.engine import CLI, compose_command

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "images" / "bus-compose.yaml"
FRAMES = [f for _, f in packets()]
PACKET_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{6} ", re.M)  # a packet in tcpdump -n


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Deployment:
    def __init__(self, engine: dict[str, str]) -> None:
        tool = compose_command(engine)
        if tool is None:
            why = "no compose tool (docker compose, podman-compose or docker-compose)"
            (pytest.fail if os.environ.get("CI") else pytest.skip)(why)  # CI installs podman-compose (.ci/run)
        assert tool is not None
        self.project = f"sflowtest{os.getpid()}"
        self.network = f"{self.project}-bus"
        self.ports = {"site-a": _free_udp_port(), "site-b": _free_udp_port()}
        self.env = {**engine, "SITE_A_PORT": str(self.ports["site-a"]), "SITE_B_PORT": str(self.ports["site-b"]),
                    "SFLOW_BUS_NETWORK": self.network}  # fmt: skip
        self.compose = [*tool, "-p", self.project, "-f", str(COMPOSE_FILE)]

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.compose, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def logs(self, service: str) -> str:
        r = self.run("logs", service, timeout=60)
        return r.stdout + r.stderr

    def wait_for(self, service: str, want: str, seconds: float = 60) -> str:
        deadline = time.monotonic() + seconds
        while want not in (text := self.logs(service)):
            assert time.monotonic() < deadline, f"{service} never said {want!r}:\n{text[-3000:]}"
            time.sleep(0.5)  # polling the container's log
        return text


@pytest.fixture
def deployment(engine: dict[str, str]) -> Iterator[Deployment]:
    d = Deployment(engine)
    up = d.run("up", "-d")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield d
    finally:
        d.run("down", "-v", "-t", "5")
        subprocess.run([CLI, "network", "rm", d.network], env=engine, capture_output=True, timeout=60)


def test_two_sites_one_bus_and_the_3am_command(engine: dict[str, str], deployment: Deployment) -> None:
    d = deployment
    for site in ("site-a", "site-b"):
        d.wait_for(site, "sflow-bridge: publishing to nats://bus:4222, stream SFLOW")
    site_a = [datagram(i, FRAMES, agent="192.0.2.11") for i in range(1, 11)]
    site_b = [datagram(i, FRAMES, agent="198.51.100.22") for i in range(1, 11)]
    send(("127.0.0.1", d.ports["site-a"]), site_a)
    send(("127.0.0.1", d.ports["site-b"]), site_b)
    total = 20 * len(FRAMES)

    # the live consumer prints both sites' packets (restarted by compose until a site had made the stream)
    deadline = time.monotonic() + 60
    while len(PACKET_LINE.findall(shown := d.logs("consumer"))) < total:
        assert time.monotonic() < deadline, shown[-3000:]
        time.sleep(0.5)  # polling the container's log
    assert len(PACKET_LINE.findall(shown)) == total, shown[-3000:]

    # 3 a.m.: the last 15 minutes of both sites, in tshark's protocol hierarchy, then it stops by itself
    cmd = [CLI, "run", "--rm", "--network", d.network, "-e", "SFLOW_BRIDGE_ARGS=--from nats://bus:4222 --since 15m",
           "sflow/tshark", "-q", "-z", "io,phs"]  # fmt: skip
    r = subprocess.run(cmd, env=engine, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Protocol Hierarchy Statistics" in r.stdout, r.stdout
    eth = re.search(r"^eth\s+frames:(\d+)", r.stdout, re.M)
    assert eth and int(eth.group(1)) == total, r.stdout
    assert "sflow-bridge: 20 datagrams, 0 malformed" in r.stderr, r.stderr
    for agent in ("192.0.2.11", "198.51.100.22"):  # each site's agent: its sequence accounting intact
        assert f"agent {agent} sub-agent 0: 10 datagrams (0 lost)" in r.stderr, r.stderr

    # one site only: the agent filter, asked of the server
    one_site = "SFLOW_BRIDGE_ARGS=--from nats://bus:4222 --since 15m --agent 198.51.100.0/24"
    cmd = [CLI, "run", "--rm", "--network", d.network, "-e", one_site, "sflow/tcpdump", "-n"]
    r = subprocess.run(cmd, env=engine, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(PACKET_LINE.findall(r.stdout)) == 10 * len(FRAMES), r.stdout + r.stderr
    assert "sflow-bridge: 10 datagrams, 0 malformed" in r.stderr, r.stderr
