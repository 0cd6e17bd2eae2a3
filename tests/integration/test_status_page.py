"""The human status page, in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agent import datagram, packets, send
from tests.integration.test_api import Bridge, bridge
from tests.png import pixels

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FRAMES = [f for _, f in packets()]


def browser(url: str, tmp: Path, *mode: str) -> subprocess.CompletedProcess[bytes]:
    # no background networking: this machine reaches no network, and chromium would keep trying
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=5000", *mode, url]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_status_page_shows_agents_and_losses(tmp_path: Path) -> None:
    with bridge() as b:
        send(("127.0.0.1", b.udp), [datagram(1, FRAMES), datagram(2, FRAMES)])
        send(
            ("127.0.0.1", b.udp),
            [datagram(1, FRAMES[:2], agent="192.0.2.9"), datagram(3, FRAMES[:2], agent="192.0.2.9")],
        )
        send(("127.0.0.1", b.udp), [datagram(1, FRAMES[:1], agent="192.0.2.10")])
        deadline = time.monotonic() + 10
        while b.call("GET", "/analyzer/json")[1]["datagramsReceived"] < 5:  # type: ignore[index]
            assert time.monotonic() < deadline
            time.sleep(0.05)  # polling the bridge's own count
        dom = browser(b.base + "/", tmp_path, "--dump-dom")
        shot = tmp_path / "status.png"
        browser(b.base + "/", tmp_path, f"--screenshot={shot}", "--window-size=1000,1000")
    html = dom.stdout.decode()
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<td>192.0.2.7</td><td>2</td>" in html
    assert '<tr class="lossy"><td>192.0.2.9</td><td>2</td>' in html  # one datagram of 192.0.2.9 was lost
    assert "<b>5</b> datagrams" in html
    # agents in address order, not text order (192.0.2.10 last)
    assert html.index("<td>192.0.2.7</td>") < html.index("<td>192.0.2.9</td>") < html.index("<td>192.0.2.10</td>")
    assert "<td>10.1.1.1</td><td>10.3.3.3</td><td>tcp</td>" in html  # a top talker, estimated
    assert html.count('class="chart"') == 7
    width, height, colours = pixels(shot.read_bytes())
    assert (width, height) == (1000, 1000)
    assert colours[(0x2A, 0x5D, 0x9F)] > 4000  # the table headers and the chart lines were drawn
    assert colours[(0xFD, 0xE8, 0xE8)] > 2000  # and the row of the agent that lost a datagram


def _wait_agents(b: Bridge, agents: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        _, page = b.call("GET", "/agents/page/json?limit=1")
        if isinstance(page, dict) and page["total"] == agents:
            return
        assert time.monotonic() < deadline, page
        time.sleep(0.1)  # polling the bridge's own count


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_status_page_with_two_thousand_demo_agents(tmp_path: Path) -> None:
    with bridge() as b:
        demo = [sys.executable, "-m", "bridge.cli.bridge", "demo", "--to", f"127.0.0.1:{b.udp}", "--agents", "2000",
                "--count", "4000", "--rate", "0"]  # fmt: skip
        subprocess.run(demo, check=True, timeout=120)
        _wait_agents(b, 2000)
        dom = browser(b.base + "/", tmp_path, "--dump-dom")
        shot = tmp_path / "status.png"
        browser(b.base + "/", tmp_path, f"--screenshot={shot}", "--window-size=1200,1000")
    html = dom.stdout.decode()
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "data-rendered-ms" in html  # the first full view was drawn
    table = re.search(r'<tbody id="agents">(.*?)</tbody>', html, re.S)
    assert table is not None
    agents = re.findall(r'<tr(?: class="lossy")?><td>([0-9.]+)</td>', table.group(1))
    assert len(agents) == 50  # one page, not 2,000 rows
    assert agents[:3] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]  # numeric order: 10/8 before 192.0.2.0/24
    assert "1-50 of 2000" in html
    talkers = re.search(r'<tbody id="talkers">(.*?)</tbody>', html, re.S)
    assert talkers is not None and talkers.group(1).count("<tr>") == 10  # the top ten talkers
    _, _, colours = pixels(shot.read_bytes())
    assert colours[(0x2A, 0x5D, 0x9F)] > 6000  # headers, chart lines and sparklines drawn


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_status_page_asks_for_the_token_under_protect_reads(tmp_path: Path) -> None:
    with bridge("--api-token", "S3CRET", "--protect-reads") as b:
        send(("127.0.0.1", b.udp), [datagram(1, FRAMES)])
        assert b.call("GET", "/agents/page/json")[0] == 401  # the figures need the token; the page itself does not
        asked = browser(b.base + "/", tmp_path, "--dump-dom").stdout.decode()
        # a token given once in the link is kept for the tab (sessionStorage) and taken out of the address bar
        given = browser(b.base + "/#token=S3CRET", tmp_path / "second", "--dump-dom").stdout.decode()
        wrong = browser(b.base + "/#token=nope", tmp_path / "third", "--dump-dom").stdout.decode()
    assert '<div id="token" style="display: block;">' in asked and "token needed" in asked
    assert "<td>192.0.2.7</td>" not in asked
    assert "<td>192.0.2.7</td>" in given and '<div id="token" style="display: none;">' in given
    assert '<div id="token" style="display: block;">' in wrong and "<td>192.0.2.7</td>" not in wrong


def test_chromium_present_in_ci() -> None:
    if os.environ.get("CI") and CHROMIUM is None:
        pytest.fail("CI=true but chromium is missing: .ci/run installs it with apt-get")
