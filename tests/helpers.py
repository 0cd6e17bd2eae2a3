"""Running the sflowtool command in-process on byte streams."""

from __future__ import annotations

import io
import os
import select
import socket
import threading
import time
from pathlib import Path

from bridge.cli.sflowtool import run
from bridge.pcap.reader import PcapReader, Record


def sflowtool(args: list[str], stdin: bytes = b"", timeout: float = 120) -> tuple[bytes, bytes, int]:
    """(stdout, stderr, exit code). Fails instead of hanging if the command does not return (it would be
    listening on UDP, which an in-process test never wants)."""
    out, err = io.BytesIO(), io.BytesIO()
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(run(args, io.BytesIO(stdin), out, err)), daemon=True)
    worker.start()
    worker.join(timeout)
    assert result, f"sflowtool {' '.join(args)} did not return within {timeout} s: is it listening on UDP?"
    return out.getvalue(), err.getvalue(), result[0]


def receive_timed(sock: socket.socket, quiet: float = 0.5) -> list[tuple[float, bytes]]:
    """(arrival time, payload) of every datagram on ``sock`` until it has been quiet for ``quiet`` seconds."""
    got = []
    sock.settimeout(quiet)
    try:
        while True:
            data = sock.recv(65536)
            got.append((time.monotonic(), data))
    except TimeoutError:
        return got


def receive_all(sock: socket.socket, quiet: float = 0.5) -> list[bytes]:
    return [data for _, data in receive_timed(sock, quiet)]


def capture_payloads(path: Path) -> list[bytes]:
    """The UDP payloads of a capture (such as the corpus's recordings of what sflowtool sent)."""
    with path.open("rb") as f:
        return [r.data for r in PcapReader(f, str(path)) if isinstance(r, Record)]


def read_until(fd: int, want: bytes, seconds: float = 20) -> bytes:
    """What a terminal (or pipe) shows until ``want``, or until it closes; fails past ``seconds``."""
    got = b""
    deadline = time.monotonic() + seconds
    while want not in got:
        left = deadline - time.monotonic()
        assert left > 0, got
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal's other side closed
                break
            if not chunk:
                break
            got += chunk
    return got
