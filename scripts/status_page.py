#!/usr/bin/env python3
"""The status page with many agents, in headless chromium: how long it takes, and a screenshot.

    .venv/bin/python scripts/status_page.py                       # 0, 2,000 and 10,000 demo agents
    .venv/bin/python scripts/status_page.py --agents 2000 --screenshot docs/status-page.png

For each population it starts a bridge (API on a free port) and the demo agent with
``--agents N`` (each agent sends, in turn, then the traffic goes on at random), waits
until the bridge has every agent, then times a headless chromium that loads the page
and dumps it once the first full view is drawn, best of ``--repeat`` runs. The page
with no agent is the baseline: chromium's own start-up is in every figure, so the
difference to it is what the agents cost. It also times ``/agents/page/json`` (the
request the page makes each refresh) from here, best of 20.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return dict(json.load(r))


class Bridge:
    def __init__(self) -> None:
        self.udp = free_port(socket.SOCK_DGRAM)
        self.api = free_port(socket.SOCK_STREAM)
        cmd = [sys.executable, "-m", "bridge.cli.bridge", "-4", "-p", str(self.udp), "--api", f"127.0.0.1:{self.api}",
               "-w", os.devnull]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        seen = b""
        while b"listening for sFlow" not in seen:  # said once it is ready
            line = self.proc.stderr.readline()
            if not line:
                raise SystemExit(f"status_page: the bridge did not start: {seen.decode()}")
            seen += line
        self.base = f"http://127.0.0.1:{self.api}"

    def feed(self, agents: int, seconds: float = 0.0) -> subprocess.Popen[bytes] | None:
        """Every agent sends; with ``seconds``, the demo goes on at 300 datagrams/s that long, and is returned
        still sending once that much is left as the charts need (a screenshot of live traffic)."""
        if not agents:
            return None
        rate, count = ("0", agents * 3) if not seconds else ("300", int(seconds * 300))
        demo = [sys.executable, "-m", "bridge.cli.bridge", "demo", "--to", f"127.0.0.1:{self.udp}",
                "--agents", str(agents), "--count", str(count), "--rate", rate]  # fmt: skip
        sender = subprocess.Popen(demo, cwd=ROOT)
        started = time.monotonic()
        if not seconds:
            sender.wait(120)
        deadline = time.monotonic() + 60 + seconds
        while get(self.base + "/agents/page/json?limit=1")["total"] != agents:
            if time.monotonic() > deadline:
                raise SystemExit("status_page: the bridge did not see every agent in time")
            time.sleep(0.1)  # polling the bridge's own count
        if not seconds:
            time.sleep(5.5)  # a sparkline point is taken every 5 s: the rows have one
            return None
        time.sleep(max(0.0, seconds - 10 - (time.monotonic() - started)))
        return sender

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=30)  # its stderr read: a summary of 10,000 agents outgrows the pipe


def chromium(binary: str, url: str, profile: Path, *mode: str) -> tuple[float, str]:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=3000", *mode, url]  # fmt: skip
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, timeout=180)
    return time.monotonic() - start, done.stdout.decode(errors="replace")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, action="append", help="populations to measure (default 0, 2000, 10000)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--screenshot", type=Path, help="write a screenshot of the last population's page here")
    p.add_argument(
        "--seconds",
        type=float,
        default=0.0,
        help="with --screenshot: the demo sends at 300 datagrams/s this long first (charts to draw)",
    )
    args = p.parse_args()
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise SystemExit("status_page: chromium is not installed (apt-get install chromium)")
    populations = args.agents or [0, 2000, 10_000]
    if 0 not in populations:
        populations = [0, *populations]
    rows = []
    for agents in populations:
        bridge = Bridge()
        try:
            last = agents == populations[-1]
            sender = bridge.feed(agents, args.seconds if args.screenshot and last else 0.0)
            with tempfile.TemporaryDirectory(prefix="sflow-page-") as tmp:
                if args.screenshot and last:  # first, while the demo still sends
                    shot = f"--screenshot={args.screenshot.resolve()}"
                    chromium(binary, bridge.base + "/", Path(tmp) / "shot", shot, "--window-size=1200,1000")
                if sender is not None:
                    sender.wait(120)
                api = []
                for _ in range(20):
                    start = time.monotonic()
                    get(bridge.base + "/agents/page/json?sort=rate&limit=50")
                    api.append(time.monotonic() - start)
                best = float("inf")
                for _ in range(args.repeat):
                    secs, dom = chromium(binary, bridge.base + "/", Path(tmp) / "profile", "--dump-dom")
                    if "data-rendered-ms" not in dom:
                        raise SystemExit(f"status_page: the page drew nothing with {agents} agents")
                    best = min(best, secs)
            rows.append((agents, best, min(api)))
        finally:
            bridge.stop()
    base = rows[0][1]
    print(f"status page in headless chromium, best of {args.repeat} (chromium's start-up included):")
    for agents, secs, api in rows:
        print(
            f"  {agents:6,} agents: page drawn in {secs:6.2f} s ({secs - base:+.2f} s against no agent); "
            f"/agents/page/json {api * 1000:6.1f} ms"
        )
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
