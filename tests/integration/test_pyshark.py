"""pyshark, how Python network engineers drive tshark: a live capture of the bridge's stream and a file the
bridge wrote, as the README shows them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent import datagram, send
from tests.data.make_vectors import write_pcap
from tests.integration.test_discards import drops_datagram
from tests.integration.test_extcap import FRAMES, free_port

pyshark = pytest.importorskip("pyshark", reason="pyshark is a test dependency: pip install -e '.[test]'")
PipeCapture = pytest.importorskip("pyshark.capture.pipe_capture").PipeCapture


@pytest.fixture(autouse=True)
def no_wakeup_fd_left() -> Iterator[None]:
    """pyshark's asyncio loop is never closed and leaves its signal wake-up pipe set: later signals would fill it.

    pyshark takes the thread's current event loop, which an earlier asyncio.run() (the bus tests) leaves unset:
    each test gets one of its own."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    signal.set_wakeup_fd(-1)


def test_live_capture_from_the_bridge_through_a_pipe() -> None:
    """pyshark's LiveCapture runs dumpcap, which cannot open extcap interfaces (KimiNewt/pyshark#405), so a live
    capture in pyshark reads the bridge's pcapng stream through PipeCapture."""
    port = free_port()
    cmd = [sys.executable, "-m", "bridge.cli.bridge", "-p", str(port), "-4", "--api", "none", "--pcapng", "-f",
           "udp port 53"]  # fmt: skip
    bridge = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert bridge.stderr is not None and bridge.stdout is not None
    assert b"listening" in bridge.stderr.readline()
    done = threading.Event()

    def agent() -> None:
        seq = 0
        while not done.wait(0.2) and seq < 300:  # until the capture has its packets (at most a minute)
            seq += 1
            send(("127.0.0.1", port), [datagram(seq, FRAMES)])

    sender = threading.Thread(target=agent, daemon=True)
    sender.start()
    capture = PipeCapture(pipe=os.dup(bridge.stdout.fileno()))  # tshark -r - on the bridge's stream
    packets: list[object] = []
    try:
        capture.apply_on_packets(packets.append, packet_count=4, timeout=60)
    finally:
        done.set()
        capture.close()
        bridge.terminate()
        bridge.wait(timeout=10)
        sender.join(timeout=10)
    assert [p.dns.qry_name for p in packets] == ["example.com", "example.org"] * 2  # type: ignore[attr-defined]
    assert all(p.layers[0].interface_name == "192.0.2.7-0-5" for p in packets)  # type: ignore[attr-defined]


def test_file_capture_of_a_bridge_output(tmp_path: Path) -> None:
    sflow = tmp_path / "sflow.pcap"
    write_pcap(sflow, [drops_datagram()])
    out = tmp_path / "sampled.pcapng"
    run = subprocess.run([sys.executable, "-m", "bridge.cli.bridge", "-r", str(sflow), "--pcapng", "-w", str(out)],
                         capture_output=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    with pyshark.FileCapture(str(out), display_filter='frame.comment contains "drop="') as capture:
        drops = [(p.frame_info.frame_comment.split()[0], p.ip.dst, p.tcp.dstport) for p in capture]
    assert drops[:3] == [("drop=net_unreachable", "10.3.3.3", "443"), ("drop=port_unreachable", "10.3.3.3", "443"),
                         ("drop=ttl_exceeded", "10.3.3.3", "443")]  # fmt: skip
    assert len(drops) == 14
