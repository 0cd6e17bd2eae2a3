"""The Wireshark capture interface: real tshark lists it and captures through it, in both modes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.agent import datagram, packets, send
from tests.integration.test_api import bridge
from tests.natsd import NatsServer, require

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
    assert "sflow-bus (sFlow: sampled packets from the sFlow bus (NATS))" in out


def capture(env: dict[str, str], args: list[str], sender: callable) -> tuple[str, str]:  # type: ignore[valid-type]
    tshark = subprocess.Popen(["tshark", "-n", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 30
    try:
        while tshark.poll() is None and time.monotonic() < deadline:
            sender()  # until the interface is up and tshark has its 20 packets
            time.sleep(0.5)
        out, err = tshark.communicate(timeout=10)
    finally:
        end(tshark)
    return out, err


def end(tshark: subprocess.Popen[str]) -> None:
    """tshark, with its dumpcap and extcap: a dumpcap left waiting on a FIFO would outlive the test."""
    if tshark.poll() is None:
        os.killpg(tshark.pid, signal.SIGKILL)
        tshark.wait(timeout=10)


def test_udp_mode_captures_exactly_the_matching_packets(installed: dict[str, str]) -> None:
    port = free_port()
    seq = iter(range(1, 10_000))
    out, err = capture(installed, ["-i", "sflow", "-o", f"extcap.sflow.port:{port}", "-c", "20", "-f", "udp port 53"],
                       lambda: send(("127.0.0.1", port), [datagram(next(seq), FRAMES)]))  # fmt: skip
    lines = out.splitlines()
    assert len(lines) == 20, err
    assert "extcap" not in err  # a normal stop shows nothing: no "Error by extcap pipe" dialog
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
    assert "extcap" not in err
    assert all("ICMP" in line and "Echo (ping) request" in line for line in lines)
    assert totals["streams"] == []  # type: ignore[index]  # the extcap's stream ended with the capture
    assert not extcap_running()


def failed_capture(env: dict[str, str], args: list[str], during: Callable[[], None] | None = None) -> tuple[int, str]:
    """tshark on a capture that fails: it must end by itself, with the extcap's reason in one line."""
    tshark = subprocess.Popen(["tshark", "-n", "-c", "5", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, start_new_session=True)  # fmt: skip
    try:
        if during is not None:
            during()
        _out, err = tshark.communicate(timeout=20)  # before the change: no end at all, until killed
    finally:
        end(tshark)
    reasons = [line for line in err.splitlines() if "Error by extcap pipe" in line]
    assert len(reasons) == 1, err
    assert not extcap_running()
    return tshark.returncode, reasons[0].split("Error by extcap pipe: ", 1)[1]


def closed_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connections are refused


HTTP = ["-i", "sflow-http", "-o"]


def test_a_bridge_that_is_not_there_is_named_at_once(installed: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{closed_tcp_port()}"
    status, reason = failed_capture(installed, [*HTTP, f"extcap.sflow_http.url:{url}"])
    assert (status, reason) == (1, f"sflow-bridge extcap: cannot reach the bridge at {url}: connection refused")


def test_an_unknown_host_is_named(installed: dict[str, str]) -> None:
    status, reason = failed_capture(installed, [*HTTP, "extcap.sflow_http.url:http://bridge.invalid:8008"])
    assert status == 1
    assert reason.startswith("sflow-bridge extcap: cannot reach the bridge at http://bridge.invalid:8008: unknown host")


def test_a_url_that_is_not_http_is_refused(installed: dict[str, str]) -> None:
    status, reason = failed_capture(installed, [*HTTP, "extcap.sflow_http.url:ftp://bridge"])
    assert (status, reason) == (1, "sflow-bridge extcap: the bridge URL must start with http:// or https://, not "
                                   "'ftp://bridge'")  # fmt: skip


def test_a_refused_token_and_a_bad_filter_show_the_bridges_reason(installed: dict[str, str]) -> None:
    env = {k: v for k, v in installed.items() if k != "SFLOW_BRIDGE_API_TOKEN"}
    with bridge("--api-token", "S3CRET") as b:
        url = ["-o", f"extcap.sflow_http.url:{b.base}"]
        status, reason = failed_capture(env, ["-i", "sflow-http", *url])
        assert status == 1
        assert reason.startswith(f"sflow-bridge extcap: the bridge at {b.base} refused the stream: 401 Unauthorized: ")
        assert "give the bridge's token" in reason
        status, reason = failed_capture(env, ["-i", "sflow-http", *url, "-o", "extcap.sflow_http.token:WRONG"])
        assert status == 1 and "401 Unauthorized" in reason and "the token given is not the bridge's" in reason
        status, reason = failed_capture(env, ["-i", "sflow-http", *url, "-o", "extcap.sflow_http.token:S3CRET",
                                              "-f", "bogus filter"])  # fmt: skip
        assert (status, reason) == (1, f"sflow-bridge extcap: the bridge at {b.base} refused the stream: 400 Bad "
                                       "Request: bad capture filter 'bogus filter': can't parse filter expression: "
                                       "syntax error")  # fmt: skip


def test_the_token_reaches_the_extcap_from_the_command_line(installed: dict[str, str]) -> None:
    env = {k: v for k, v in installed.items() if k != "SFLOW_BRIDGE_API_TOKEN"}
    with bridge("--api-token", "S3CRET") as b:
        seq = iter(range(1, 10_000))
        args = ["-i", "sflow-http", "-o", f"extcap.sflow_http.url:{b.base}", "-o", "extcap.sflow_http.token:S3CRET",
                "-c", "20", "-f", "icmp"]  # fmt: skip
        out, err = capture(env, args, lambda: send(("127.0.0.1", b.udp), [datagram(next(seq), FRAMES)]))
    assert len(out.splitlines()) == 20, err
    assert "extcap" not in err


def test_a_bridge_going_away_mid_capture_ends_it_with_the_reason(installed: dict[str, str]) -> None:
    with bridge() as b:
        seq = iter(range(1, 10_000))

        def stop_the_bridge_once_streaming() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not b.call("GET", "/analyzer/json")[1]["streams"]:  # type: ignore[index]
                send(("127.0.0.1", b.udp), [datagram(next(seq), FRAMES[:1])])
            b.proc.send_signal(signal.SIGTERM)
            b.proc.wait(timeout=10)

        status, reason = failed_capture(installed, ["-i", "sflow-http", "-o", f"extcap.sflow_http.url:{b.base}"],
                                        stop_the_bridge_once_streaming)  # fmt: skip
    # tshark's own status is 0 here: the capture had started, and ended with what it had
    assert status == 0
    assert reason.startswith(f"sflow-bridge extcap: the bridge at {b.base} ended the stream after ")


def test_udp_mode_failures_are_one_line(installed: dict[str, str]) -> None:
    port = free_port()
    status, reason = failed_capture(installed, ["-i", "sflow", "-o", f"extcap.sflow.port:{port}", "-f", "bogus filter"])
    assert (status, reason) == (1, "sflow-bridge extcap: bad capture filter 'bogus filter': can't parse filter "
                                   "expression: syntax error")  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", 0))
        port = taken.getsockname()[1]
        status, reason = failed_capture(installed, ["-i", "sflow", "-o", f"extcap.sflow.port:{port}"])
    assert status == 1
    assert reason.startswith("sflow-bridge extcap: unable to open a UDP socket for sFlow (")
    assert reason.endswith(f"port = {port} : Address already in use)")


def test_bus_mode_replays_the_stream_then_ends(installed: dict[str, str], tmp_path: Path) -> None:
    require()
    bus = NatsServer(tmp_path).start()
    try:
        site_a = [datagram(i, FRAMES, agent="192.0.2.11") for i in range(1, 6)]
        site_b = [datagram(i, FRAMES, agent="198.51.100.22") for i in range(1, 4)]
        with bridge("--publish", bus.url) as b:
            send(("127.0.0.1", b.udp), site_a + site_b)
            deadline = time.monotonic() + 20
            while b.call("GET", "/analyzer/json")[1]["bus"]["published"] < 8:  # type: ignore[index]
                assert time.monotonic() < deadline, "not published"
                time.sleep(0.05)  # polling the publisher's counter
        bus_args = ["-i", "sflow-bus", "-o", f"extcap.sflow_bus.server:{bus.url}", "-o", "extcap.sflow_bus.since:15m",
                    "-o", "extcap.sflow_bus.follow:false"]  # fmt: skip
        # the replay ends by itself, and so does tshark: every packet of both agents, the capture filter applied
        r = subprocess.run(["tshark", "-n", *bus_args, "-f", "udp port 53"], capture_output=True, text=True,
                           timeout=60, env=installed)  # fmt: skip
        assert r.returncode == 0, r.stderr
        dns = sum(1 for f in FRAMES if b"example" in f)
        assert len(r.stdout.splitlines()) == 8 * dns and "Standard query" in r.stdout, r.stdout + r.stderr
        assert "extcap pipe" not in r.stderr
        # an agent prefix: only that agent's packets, with its interface in pcapng
        one = ["-o", "extcap.sflow_bus.agent:198.51.100.0/24", "-T", "fields", "-e", "frame.interface_name"]
        r = subprocess.run(["tshark", "-n", *bus_args, *one], capture_output=True, text=True, timeout=60, env=installed)
        names = r.stdout.split()
        assert len(names) == 3 * len(FRAMES) and all(n.startswith("198.51.100.22-") for n in names), r.stdout
        assert not extcap_running()
        bus.stop()  # a bus that is not there: one line, at once
        status, reason = failed_capture(installed, bus_args)
        assert status == 1 and reason.startswith(f"sflow-bridge extcap: cannot reach {bus.url}: "), reason
    finally:
        bus.stop()


def test_bus_mode_config_offers_the_replay(installed: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "bridge.cli.bridge", "extcap", "--extcap-interface", "sflow-bus", "--extcap-config"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=installed).stdout
    calls = [line.split("{call=")[1].split("}")[0] for line in out.splitlines()]
    assert calls == ["--server", "--since", "--follow", "--agent", "--stream", "--creds"], out
