"""The Wireshark capture interface: real tshark lists it and captures through it, in both modes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from tests.agent import datagram, packets, send
from tests.integration.test_api import bridge

FRAMES = [f for _, f in packets()]
pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The launcher installed in a home of the test's own, and the environment whose tshark looks there.

    Wireshark's personal extcap folder is under $HOME (as root, tshark ignores WIRESHARK_EXTCAP_DIR): a
    private HOME keeps the user's own folder, and any launcher in it, untouched, and test runs apart.
    """
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    env["HOME"] = str(home)
    cmd = [sys.executable, "-m", "bridge.cli.bridge", "extcap", "--install"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and str(home) in r.stdout, r
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def extcap_running() -> bool:
    return subprocess.run(["pgrep", "-f", "bridge.cli.bridge extcap --capture"], capture_output=True).returncode == 0


def test_tshark_lists_the_interfaces(installed: dict[str, str]) -> None:
    out = subprocess.run(["tshark", "-D"], capture_output=True, text=True, timeout=60, env=installed).stdout
    assert "sflow (sFlow: sampled packets received on a UDP port)" in out
    assert "sflow-http (sFlow: sampled packets from a bridge over HTTP)" in out


def capture(env: dict[str, str], args: list[str], sender: callable) -> tuple[str, str]:  # type: ignore[valid-type]
    tshark = subprocess.Popen(["tshark", "-n", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env)  # fmt: skip
    deadline = time.monotonic() + 30
    try:
        while tshark.poll() is None and time.monotonic() < deadline:
            sender()  # until the interface is up and tshark has its 20 packets
            time.sleep(0.5)
        out, err = tshark.communicate(timeout=10)
    finally:
        if tshark.poll() is None:
            tshark.kill()
    return out, err


def test_udp_mode_captures_exactly_the_matching_packets(installed: dict[str, str]) -> None:
    port = free_port()
    seq = iter(range(1, 10_000))
    out, err = capture(installed, ["-i", "sflow", "-o", f"extcap.sflow.port:{port}", "-c", "20", "-f", "udp port 53"],
                       lambda: send(("127.0.0.1", port), [datagram(next(seq), FRAMES)]))  # fmt: skip
    lines = out.splitlines()
    assert len(lines) == 20, err
    assert all("Standard query 0x1234 A example.co" in line or "Standard query 0x1234 A example.or" in line
               for line in lines)  # fmt: skip
    time.sleep(1.0)
    assert not extcap_running()  # tshark stopped, so did the extcap program


def test_http_mode_pulls_from_a_remote_bridge(installed: dict[str, str]) -> None:
    with bridge() as b:
        seq = iter(range(1, 10_000))
        args = ["-i", "sflow-http", "-o", f"extcap.sflow_http.url:{b.base}", "-c", "20", "-f", "icmp"]
        out, err = capture(installed, args, lambda: send(("127.0.0.1", b.udp), [datagram(next(seq), FRAMES)]))
        time.sleep(1.0)
        status, totals = b.call("GET", "/analyzer/json")
    lines = out.splitlines()
    assert len(lines) == 20, err
    assert all("ICMP" in line and "Echo (ping) request" in line for line in lines)
    assert totals["streams"] == []  # type: ignore[index]  # the extcap's stream ended with the capture
    assert not extcap_running()
