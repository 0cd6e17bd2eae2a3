"""A real nats-server (Debian's) with JetStream, on loopback, in a folder of the test's own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

# Debian installs it in /usr/sbin, which a user's PATH may not have
NATS_SERVER = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin")


def require() -> None:
    if NATS_SERVER is None:
        why = "nats-server is not installed (apt-get install nats-server)"
        (pytest.fail if os.environ.get("CI") else pytest.skip)(why)  # CI installs it (.ci/run)


class NatsServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = -1  # the first start takes a free port; restarts keep it
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NatsServer:
        assert NATS_SERVER is not None
        log = self.folder / "nats.log"
        log.unlink(missing_ok=True)
        cmd = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.folder / "store"),
               "-l", str(log)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:  # ready when its log says so (it writes the port it took before that)
            text = log.read_text() if log.exists() else ""
            if "Server is ready" in text:
                break
            assert self.proc.poll() is None, text
            assert time.monotonic() < deadline, text
            time.sleep(0.02)
        m = re.search(r"Listening for client connections on 127\.0\.0\.1:(\d+)", text)
        assert m, text
        self.port = int(m.group(1))
        return self

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
