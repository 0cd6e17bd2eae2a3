"""The HTTP API and forwarding, against a real bridge on loopback with real UDP receivers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge import __version__ as VERSION
from tests.agent import datagram, packets, send

FRAMES = [f for _, f in packets()]


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bridge:
    def __init__(self, proc: subprocess.Popen[bytes], udp: int, api: int) -> None:
        self.proc = proc
        self.udp = udp
        self.base = f"http://127.0.0.1:{api}"
        self.said = b""  # all it wrote on stderr, once it stopped

    def call(self, method: str, path: str, body: object = None, raw: bytes | None = None,
             token: str | None = None) -> tuple[int, object]:  # fmt: skip
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
                status = r.status
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            status = e.code
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text


def start_bridge(*extra: str, api_host: str = "127.0.0.1",
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int, int, bytes]:  # fmt: skip
    """A bridge listening on a free UDP port with its API on a free TCP port: (process, udp, api, its stderr so far).

    Returns once it has said "listening", which it says only when it is ready (its forwarding process too).
    """
    udp, api = free_port(), free_port(socket.SOCK_STREAM)
    cmd = [sys.executable, "-m", "bridge.cli.bridge", "-4", "-p", str(udp), "--api", f"{api_host}:{api}",
           "-w", os.devnull, *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env)  # fmt: skip
    assert proc.stderr is not None
    seen = b""
    while b"listening for sFlow" not in seen:
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    return proc, udp, api, seen


@contextmanager
def bridge(*extra: str) -> Iterator[Bridge]:
    proc, udp, api, seen = start_bridge(*extra)
    assert b"HTTP API on" in seen
    b = Bridge(proc, udp, api)
    try:
        yield b
    finally:
        proc.send_signal(signal.SIGTERM)
        b.said = seen + proc.communicate(timeout=10)[1]  # read: a summary of thousands of agents outgrows the pipe


@contextmanager
def receiver(host: str = "127.0.0.2") -> Iterator[tuple[socket.socket, int]]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(5)
        yield s, s.getsockname()[1]


def receive(sock: socket.socket, n: int) -> list[bytes]:
    return [sock.recv(65536) for _ in range(n)]


def nothing_more(sock: socket.socket) -> bool:
    sock.settimeout(0.5)
    try:
        sock.recv(65536)
    except TimeoutError:
        return True
    return False


def test_sessions_like_sflow_rt_with_byte_identical_forwarding() -> None:
    with bridge() as b, receiver() as (rx_a, port_a), receiver() as (rx_b, port_b), receiver() as (rx_c, port_c):
        assert b.call("PUT", "/forwarding/SessionA/json", {"address": "127.0.0.2", "port": port_a}) == (
            201, {"address": "127.0.0.2", "port": port_a, "agents": []})  # fmt: skip
        assert b.call("PUT", "/forwarding/SessionB/json", {"address": "127.0.0.2", "port": port_b})[0] == 201
        status, _ = b.call("PUT", "/forwarding/SessionC/json",
                           {"address": "127.0.0.2", "port": port_c, "agents": ["192.0.2.254"]})  # fmt: skip
        assert status == 201
        status, listing = b.call("GET", "/forwarding/json")
        assert status == 200 and sorted(listing) == ["SessionA", "SessionB", "SessionC"]  # type: ignore[arg-type]
        sent = [datagram(i + 1, FRAMES[:2]) for i in range(3)] + [datagram(1, FRAMES[:1], agent="192.0.2.254")]
        send(("127.0.0.1", b.udp), sent)
        assert receive(rx_a, 4) == sent  # unchanged, byte for byte, in order
        assert receive(rx_b, 4) == sent
        assert receive(rx_c, 1) == sent[3:]  # only the listed agent
        assert nothing_more(rx_c)
        assert b.call("DELETE", "/forwarding/SessionB/json")[0] == 204
        assert b.call("GET", "/forwarding/SessionB/json")[0] == 404
        send(("127.0.0.1", b.udp), sent[:1])
        assert receive(rx_a, 1) == sent[:1]
        assert nothing_more(rx_b)
        status, one = b.call("GET", "/forwarding/SessionA/json")
        assert status == 200 and one["forwarded"] == 5  # type: ignore[index]


def test_forwarding_to_ipv6_and_at_start_up() -> None:
    with receiver("::1") as (rx6, port6), receiver() as (rx4, port4), bridge("--forward", f"127.0.0.2/{port4}") as b:
        assert b.call("PUT", "/forwarding/v6/json", {"address": "::1", "port": port6})[0] == 201
        sent = [datagram(1, FRAMES)]
        send(("127.0.0.1", b.udp), sent)
        assert receive(rx4, 1) == sent and receive(rx6, 1) == sent


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def test_the_forwarding_process_yields_the_cpu_to_the_capture() -> None:
    from bridge.transport.forward_worker import NICENESS

    with bridge() as b:
        want = min(os.getpriority(os.PRIO_PROCESS, b.proc.pid) + NICENESS, 19)
        seen: list[tuple[int, int]] = []
        for _ in range(100):  # bounded: 10 s for the process to start and lower its priority
            seen = [(os.getpriority(os.PRIO_PROCESS, p), os.sched_getscheduler(p)) for p in _children(b.proc.pid)]
            if seen == [(want, os.SCHED_IDLE)]:
                break
            time.sleep(0.1)
        # SCHED_IDLE: it runs only when no process of normal priority (the capture) wants the core
        assert seen == [(want, os.SCHED_IDLE)]
        assert os.sched_getscheduler(b.proc.pid) == os.SCHED_OTHER


def test_a_forwarding_process_that_falls_behind_costs_copies_not_packets() -> None:
    with bridge() as b, receiver() as (rx, port):
        try:  # room for the burst the forwarding process sends when it wakes (as root, past rmem_max)
            rx.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
        except OSError:
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        assert b.call("PUT", "/forwarding/slow/json", {"address": "127.0.0.2", "port": port})[0] == 201
        # the forwarding process: ready (it said so) before the bridge said "listening"
        (worker,) = [
            pid for pid in _children(b.proc.pid) if b"forward_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        os.kill(worker, signal.SIGSTOP)
        try:
            sent = [datagram(i + 1, FRAMES) for i in range(4000)]  # 2.8 MB: more than the 1 MB pipe holds
            for i in range(0, len(sent), 250):  # in bursts the bridge's socket buffer holds
                send(("127.0.0.1", b.udp), sent[i : i + 250])
                time.sleep(0.02)
            for _ in range(100):  # bounded: 10 s
                totals = b.call("GET", "/analyzer/json")[1]
                if totals["datagramsReceived"] == len(sent):  # type: ignore[index]
                    break
                time.sleep(0.1)
            assert totals["packetsWritten"] == len(sent) * len(FRAMES)  # type: ignore[index]  # the capture: whole
            session = b.call("GET", "/forwarding/slow/json")[1]
        finally:
            os.kill(worker, signal.SIGCONT)
        forwarded, dropped = session["forwarded"], session["dropped"]  # type: ignore[index]
        assert forwarded + dropped == len(sent) and dropped > 0 and forwarded > 0, session
        got = []
        rx.settimeout(2)
        try:
            while len(got) <= forwarded:
                got.append(rx.recv(65536))
        except TimeoutError:
            pass
        assert len(got) == forwarded  # every copy handed over arrived, unchanged, in order
        assert got == sent[:forwarded]


BAD = [
    ("PUT", "/forwarding/x/json", None, b"{not json", 400, "not valid JSON"),
    ("PUT", "/forwarding/x/json", None, b"", 400, "JSON object"),
    ("PUT", "/forwarding/x/json", {"port": 7343}, None, 400, "address is required"),
    ("PUT", "/forwarding/x/json", {"address": "10.0.0.300"}, None, 400, "not an IPv4 or IPv6"),
    ("PUT", "/forwarding/x/json", {"address": "example.com"}, None, 400, "not an IPv4 or IPv6"),
    ("PUT", "/forwarding/x/json", {"address": "127.0.0.2", "port": 0}, None, 400, "port must be"),
    ("PUT", "/forwarding/x/json", {"address": "127.0.0.2", "port": 65536}, None, 400, "port must be"),
    ("PUT", "/forwarding/x/json", {"address": "127.0.0.2", "port": "7343"}, None, 400, "port must be"),
    ("PUT", "/forwarding/x/json", {"address": "127.0.0.2", "agents": "10.0.0.1"}, None, 400, "agents must be"),
    ("PUT", "/forwarding/x/json", {"address": "127.0.0.2", "agents": ["10.0.0.0/33"]}, None, 400, "bad agent"),
    ("PUT", "/forwarding/x/json", {"address": "127.0.0.2", "colour": "red"}, None, 400, "unknown field"),
    ("PUT", "/forwarding/a%20b/json", {"address": "127.0.0.2"}, None, 400, "session name"),
    ("PUT", "/forwarding/a;b/json", {"address": "127.0.0.2"}, None, 400, "session name"),
    ("GET", "/nothing/here", None, None, 404, "no such resource"),
    ("POST", "/forwarding/x/json", {"address": "127.0.0.2"}, None, 405, "not allowed"),
    ("DELETE", "/agents/json", None, None, 405, "not allowed"),
    ("DELETE", "/forwarding/nobody/json", None, None, 404, "no forwarding session"),
]


@pytest.mark.parametrize(("method", "path", "body", "raw", "code", "message"), BAD)
def test_bad_requests_get_a_4xx_and_change_nothing(method: str, path: str, body: object, raw: bytes | None, code: int,
                                                   message: str) -> None:  # fmt: skip
    with bridge() as b:
        assert b.call("PUT", "/forwarding/keep/json", {"address": "127.0.0.2", "port": 9999})[0] == 201
        before = b.call("GET", "/forwarding/json")
        status, answer = b.call(method, path, body, raw)
        assert status == code
        assert isinstance(answer, dict) and message in answer["error"]
        assert b.call("GET", "/forwarding/json") == before


def test_a_session_to_the_bridge_itself_is_refused() -> None:
    with bridge() as b:
        for address in ("127.0.0.1", "0.0.0.0", "::1"):
            status, answer = b.call("PUT", "/forwarding/loop/json", {"address": address, "port": b.udp})
            assert status == 400 and "loop" in answer["error"]  # type: ignore[index]


def test_token_and_read_only() -> None:
    with bridge("--api-token", "s3cret") as b:
        session = {"address": "127.0.0.2", "port": 9999}
        assert b.call("PUT", "/forwarding/a/json", session)[0] == 401
        assert b.call("PUT", "/forwarding/a/json", session, token="wrong")[0] == 401
        assert b.call("PUT", "/forwarding/a/json", session, token="s3cret")[0] == 201
        assert b.call("DELETE", "/forwarding/a/json")[0] == 401
        assert b.call("GET", "/forwarding/a/json")[0] == 200  # reading needs no token
        assert b.call("DELETE", "/forwarding/a/json", token="s3cret")[0] == 204
    with bridge("--read-only") as b:
        assert b.call("PUT", "/forwarding/a/json", {"address": "127.0.0.2"})[0] == 403
        assert b.call("GET", "/forwarding/json") == (200, {})


def test_session_limit_and_state_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "sessions.json"
    with bridge("--max-sessions", "2", "--state", str(state)) as b:
        assert b.call("PUT", "/forwarding/one/json", {"address": "127.0.0.2", "port": 9001})[0] == 201
        assert (
            b.call("PUT", "/forwarding/two/json", {"address": "127.0.0.3", "port": 9002, "agents": ["10.0.0.0/8"]})[0]
            == 201
        )
        status, answer = b.call("PUT", "/forwarding/three/json", {"address": "127.0.0.4"})
        assert status == 400 and "at most 2" in answer["error"]  # type: ignore[index]
        assert b.call("PUT", "/forwarding/two/json", {"address": "127.0.0.3", "port": 9003})[0] == 200  # replaced
    with bridge("--state", str(state)) as b:
        status, listing = b.call("GET", "/forwarding/json")
        assert status == 200
        assert {n: (v["address"], v["port"]) for n, v in listing.items()} == {  # type: ignore[union-attr]
            "one": ("127.0.0.2", 9001), "two": ("127.0.0.3", 9003)}  # fmt: skip


def test_status_documents_and_prometheus_metrics() -> None:
    with bridge() as b:
        send(("127.0.0.1", b.udp), [datagram(i + 1, FRAMES, counters=True) for i in range(3)] + [b"\0\0\0\5junk"])
        send(("127.0.0.1", b.udp), [datagram(5, FRAMES)])  # datagram 4 lost
        time.sleep(0.5)
        status, version = b.call("GET", "/version")
        assert status == 200 and version.strip()  # type: ignore[union-attr]
        status, agents = b.call("GET", "/agents/json")
        assert status == 200
        a = agents["192.0.2.7"]  # type: ignore[index]
        assert a["datagrams"] == 4 and a["datagramsLost"] == 1
        assert a["samples"] == {"flow": 20, "counters": 3}
        assert a["samplesLost"] == 5  # the five flow samples of the missing datagram
        status, totals = b.call("GET", "/analyzer/json")
        assert totals["datagramsReceived"] == 5 and totals["datagramsMalformed"] == 1  # type: ignore[index]
        assert totals["packetsWritten"] == 20  # type: ignore[index]
        req = urllib.request.urlopen(b.base + "/metrics", timeout=10)
        families = {f.name: f for f in text_string_to_metric_families(req.read().decode())}
        assert families["sflow_bridge_datagrams_received"].samples[0].value == 5
        assert families["sflow_bridge_packets_written"].samples[0].value == 20
        lost = families["sflow_bridge_agent_datagrams_lost"].samples
        assert [(s.labels["agent"], s.value) for s in lost] == [("192.0.2.7", 1)]
        bad = families["sflow_bridge_source_malformed"].samples
        assert [(s.labels["source"], s.value) for s in bad] == [("127.0.0.1", 1)]


def test_the_api_listens_on_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    port = free_port(socket.SOCK_STREAM)
    with bridge("--api", f"[::1]:{port}"), urllib.request.urlopen(f"http://[::1]:{port}/version", timeout=10) as r:
        assert r.read().decode().strip() == VERSION
