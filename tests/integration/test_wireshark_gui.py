"""The real Wireshark (Qt, under Xvfb) capturing from the sflow extcap interface: packets written, no dialog
on a normal stop, an error dialog on a failure.

The dialog's text is the extcap's stderr line, which the tshark tests (test_extcap.py) check word for word:
here the windows Wireshark shows are listed with xwininfo and xprop.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent import datagram, send
from tests.integration.test_extcap import FRAMES, extcap_running, free_port, installed  # noqa: F401 - a fixture

NEEDED = ("wireshark", "Xvfb", "xwininfo", "xprop")
MISSING = [tool for tool in NEEDED if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (Debian: wireshark-qt, "
                                                       "xvfb, x11-utils)")  # fmt: skip


def test_wireshark_is_there_in_ci() -> None:
    """CI installs the GUI: its tests must not pass there as skipped."""
    if os.environ.get("CI"):
        assert not MISSING, f"CI must install {MISSING}"


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private X server; -displayfd says its number once it accepts clients (no waiting on a guess)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(write)
    try:
        assert select.select([read], [], [], 30)[0], "Xvfb did not start"
        number = os.read(read, 64).decode().strip()
        assert number.isdigit(), number
        yield f":{number}"
    finally:
        os.close(read)
        xvfb.terminate()
        xvfb.wait(timeout=10)


class Wireshark:
    """wireshark with its log read as it comes: "Capture stopped." is the moment the file is complete."""

    def __init__(self, env: dict[str, str], args: list[str]) -> None:
        self.proc = subprocess.Popen(["wireshark", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=env, start_new_session=True)  # fmt: skip
        self.log: list[str] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if "Capture stopped." in line:
                self.stopped.set()

    def close(self) -> None:
        os.killpg(self.proc.pid, 15)  # Wireshark with its dumpcap and extcap children
        self.proc.wait(timeout=20)


def dialogs(env: dict[str, str]) -> list[str]:
    """The titles of Wireshark's viewable dialogs: its top-level windows that are transient for another."""
    tree = subprocess.run(["xwininfo", "-root", "-children"], capture_output=True, text=True, env=env,
                          timeout=30).stdout  # fmt: skip
    found = []
    for wid, name in re.findall(r"^\s+(0x[0-9a-f]+) \"([^\"]*)\": \(\"wireshark\" \"Wireshark\"\)", tree, re.M):
        info = subprocess.run(["xwininfo", "-id", wid], capture_output=True, text=True, env=env, timeout=30).stdout
        owner = subprocess.run(["xprop", "-id", wid, "WM_TRANSIENT_FOR"], capture_output=True, text=True, env=env,
                               timeout=30).stdout  # fmt: skip
        if "IsViewable" in info and "window id #" in owner:
            found.append(name)
    return found


@pytest.fixture
def gui_env(installed: dict[str, str], display: str, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    return {**installed, "DISPLAY": display, "XDG_RUNTIME_DIR": str(tmp_path)}


def test_wireshark_captures_from_the_sflow_interface(gui_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "sampled.pcapng"
    args = ["-i", "sflow", "-o", f"extcap.sflow.port:{port}", "-k", "-a", "duration:4", "-w", str(out)]
    ws = Wireshark(gui_env, args)
    try:
        deadline = time.monotonic() + 60
        seq = 0
        while not ws.stopped.is_set() and time.monotonic() < deadline:
            seq += 1
            send(("127.0.0.1", port), [datagram(seq, FRAMES)])  # until the capture is up, and then for 4 s
            ws.stopped.wait(0.1)
        assert ws.stopped.is_set(), "".join(ws.log)
        # a dialog comes, if it does, as the extcap ends, just after "Capture stopped.": Wireshark showed the
        # old bridge's notice and summary within milliseconds; watch for 3 s
        shown = []
        deadline = time.monotonic() + 3
        while not shown and time.monotonic() < deadline:
            shown = dialogs(gui_env)
    finally:
        ws.close()
    assert shown == [], "".join(ws.log)  # a normal stop: no "Error by extcap pipe" dialog
    assert not extcap_running()
    read = ["tshark", "-n", "-r", str(out), "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment",
            "-e", "ip.src"]  # fmt: skip
    fields = subprocess.run(read, capture_output=True, text=True, timeout=60)
    rows = [line.split("\t") for line in fields.stdout.splitlines()]
    assert len(rows) >= len(FRAMES), fields.stderr  # at least one whole datagram's packets
    assert {row[0] for row in rows} == {"192.0.2.7-0-5"}, rows[:3]  # the agent-0-ifIndex interface
    assert all(row[1].startswith("agent=192.0.2.7 sub_agent=0 in=5 out=7 rate=1000 ") for row in rows), rows[:3]
    assert "10.1.1.1" in {row[2] for row in rows}, rows[:5]


def test_a_failure_is_an_error_dialog_and_ends_the_capture(gui_env: dict[str, str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken, socket.socket() as closed:
        taken.bind(("0.0.0.0", 0))
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
        for args in (["-i", "sflow", "-o", f"extcap.sflow.port:{taken.getsockname()[1]}"],
                     ["-i", "sflow-http", "-o", f"extcap.sflow_http.url:{refused}"]):  # fmt: skip
            ws = Wireshark(gui_env, [*args, "-k"])
            try:
                # before: the HTTP capture ran for ever, no packet and no message
                assert ws.stopped.wait(30), "".join(ws.log)
                deadline = time.monotonic() + 30
                shown = dialogs(gui_env)
                while not shown and time.monotonic() < deadline:
                    shown = dialogs(gui_env)
            finally:
                ws.close()
            assert shown == ["Wireshark"], "".join(ws.log)  # its text: test_extcap.py, through tshark
            assert not extcap_running()
