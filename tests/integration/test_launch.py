"""The images' entrypoint (bridge/cli/launch.py) run on this host with the real tcpdump and tshark."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import termios

import pytest

from tests.agent import datagram, packets, send
from tests.helpers import read_until
from tests.integration.test_api import free_port

FRAMES = [f for _, f in packets()]
needs_tools = pytest.mark.skipif(not (shutil.which("tcpdump") and shutil.which("tshark")),
                                 reason="tcpdump and tshark are needed (apt-get install tcpdump tshark)")  # fmt: skip


def _terminal() -> None:
    """In the child: a session of its own whose controlling terminal is its stdin, as docker run -it gives PID 1."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@needs_tools
def test_ctrl_c_in_a_terminal_ends_the_capture_as_docker_stop_does() -> None:
    port = free_port()
    master, slave = os.openpty()
    env = {**os.environ, "SFLOW_BRIDGE_ARGS": f"-4 -p {port} --api none"}
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli.launch", "tcpdump", "-n"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, preexec_fn=_terminal)  # fmt: skip
    os.close(slave)
    try:
        seen = read_until(master, b"listening for sFlow")
        send(("127.0.0.1", port), [datagram(1, FRAMES)])
        seen += read_until(master, b"ICMP echo request")
        os.write(master, b"\x03")  # ^C: the terminal sends SIGINT to its foreground process group
        assert proc.wait(timeout=10) == 0
        seen += read_until(master, b"sflow-bridge: 1 datagrams", 10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = seen.decode(errors="replace")
    assert "Interrupted system call" not in text, text
    assert text.count("10.1.1.1") >= 4, text  # every packet printed before the end


@needs_tools
def test_a_bad_capture_filter_exits_non_zero_in_one_line() -> None:
    r = subprocess.run([sys.executable, "-m", "bridge.cli.launch", "tshark", "-f", "bogus filter"],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "SFLOW_BRIDGE_ARGS": f"-4 -p {free_port()} --api none"})  # fmt: skip
    assert r.returncode == 2, r
    assert r.stderr.startswith("sflow/tshark: bad capture filter 'bogus filter'")
    assert len(r.stderr.splitlines()) == 1
    assert "usage" not in r.stderr.lower()


@needs_tools
def test_a_bridge_that_cannot_start_fails_the_container() -> None:
    env = {**os.environ, "SFLOW_BRIDGE_ARGS": "--max-sessions 999 --api none"}
    r = subprocess.run([sys.executable, "-m", "bridge.cli.launch", "tcpdump", "-n"], capture_output=True, text=True,
                       timeout=60, env=env)  # fmt: skip
    assert r.returncode == 2, r
    assert "sflow-bridge: --max-sessions 999: from 0 to 255" in r.stderr
