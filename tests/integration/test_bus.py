"""The sFlow bus against a real nats-server with JetStream: publish byte for byte, the bus down and back, retention."""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.sflow.bus_frame import agent_filter, agent_subject, frame, unframe
from tests.agent import datagram, packets, send
from tests.integration.test_api import Bridge, bridge
from tests.natsd import NatsServer, require

FRAMES = [f for _, f in packets()]


def _bus(b: Bridge) -> dict[str, Any]:
    status, doc = b.call("GET", "/analyzer/json")
    assert status == 200 and isinstance(doc, dict) and doc["bus"] is not None, doc
    return dict(doc["bus"])


def _until(b: Bridge, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    bus = _bus(b)
    while not done(bus):
        assert time.monotonic() < deadline, f"{what}: {bus}"
        time.sleep(0.05)  # polling the bridge's own counters
        bus = _bus(b)
    return bus


def _stream(url: str, stream: str = "SFLOW") -> tuple[Any, list[tuple[str, bytes]]]:
    """The stream's state and every message in it, (subject, payload), in order."""
    import nats

    async def read() -> tuple[Any, list[tuple[str, bytes]]]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                out.append((str(msg.subject), bytes(msg.data or b"")))
            return info, out
        finally:
            await nc.close()

    return asyncio.run(read())


@pytest.fixture
def server(tmp_path: Path) -> Any:
    require()
    s = NatsServer(tmp_path).start()
    yield s
    s.stop()


def test_publishes_every_datagram_unchanged_under_its_agent(server: NatsServer) -> None:
    sent = [datagram(i, FRAMES, agent="192.0.2.7") for i in range(1, 11)]
    sent += [datagram(i, FRAMES[:2], agent="2001:db8::9") for i in range(1, 6)]
    before = time.time()
    with bridge("--publish", server.url, "--retain", "10m") as b:
        send(("127.0.0.1", b.udp), sent)
        bus = _until(b, lambda s: s["published"] >= len(sent), "published")
        after = time.time()
        assert bus["unpublished"] == {} and bus["connected"]
        _, totals = b.call("GET", "/analyzer/json")
        assert isinstance(totals, dict) and totals["packetsWritten"] == 10 * len(FRAMES) + 5 * 2  # local output too
    info, messages = _stream(server.url)
    assert info.config.max_age == 600 and info.config.subjects == ["sflow.>"]
    got: dict[str, list[bytes]] = {}
    for subject, payload in messages:
        for ts, data in unframe(payload):
            assert before * 1e6 - 1e6 <= ts <= after * 1e6  # when the bridge received it
            got.setdefault(subject, []).append(data)
    assert (
        got
        == {
            "sflow.192.0.2.7": sent[:10],  # byte for byte, in order
            "sflow.ip6.2001.0db8.0000.0000.0000.0000.0000.0009": sent[10:],
        }
    )
    assert len(messages) < len(sent)  # several datagrams to a message


def test_the_bus_down_and_back(server: NatsServer) -> None:
    batch = [datagram(i, FRAMES, agent="192.0.2.7") for i in range(1, 16)]
    with bridge("--publish", server.url) as b:
        send(("127.0.0.1", b.udp), batch[:5])
        _until(b, lambda s: s["published"] == 5, "first five published")
        server.stop()
        _until(b, lambda s: not s["connected"], "the bridge sees the bus gone")
        send(("127.0.0.1", b.udp), batch[5:10])
        bus = _until(b, lambda s: sum(s["unpublished"].values()) == 5, "five counted as unpublished")
        assert bus["unpublished"] == {"the bus was disconnected": 5}, bus
        server.start()
        _until(b, lambda s: s["connected"], "the bridge reconnects by itself")
        send(("127.0.0.1", b.udp), batch[10:])
        _until(b, lambda s: s["published"] == 10, "publishing resumed")
        _, totals = b.call("GET", "/analyzer/json")
        assert isinstance(totals, dict) and totals["datagramsReceived"] == 15  # nothing lost locally
        assert totals["packetsWritten"] == 15 * len(FRAMES)
        status, metrics = b.call("GET", "/metrics")
        assert 'sflow_bridge_bus_unpublished_total{reason="the bus was disconnected"} 5.0' in str(metrics)
    _, messages = _stream(server.url)
    stored = [data for _, payload in messages for _, data in unframe(payload)]
    assert stored == batch[:5] + batch[10:]
    said = [line for line in b.said.decode().splitlines() if "publishing to" in line]  # the log says when
    assert [line.split(" to ")[0] for line in said] == ["sflow-bridge: publishing", "sflow-bridge: not publishing",
                                                       "sflow-bridge: publishing"], said  # fmt: skip
    assert f"not publishing to {server.url} (" in said[1], said


def test_retention_by_size(server: NatsServer) -> None:
    big = [datagram(i, FRAMES * 6, agent="192.0.2.8") for i in range(1, 1201)]  # some 2.5 MB
    with bridge("--publish", server.url, "--retain-bytes", "1M") as b:
        for i in range(0, len(big), 100):
            send(("127.0.0.1", b.udp), big[i : i + 100])
            _until(b, lambda s, n=i + 100: s["published"] == n, "published")  # type: ignore[misc]
    info, messages = _stream(server.url)
    assert info.config.max_bytes == 1 << 20
    assert info.state.bytes <= 1 << 20 and info.state.first_seq > 1  # the oldest went
    stored = [data for _, payload in messages for _, data in unframe(payload)]
    assert stored == big[-len(stored) :] and 0 < len(stored) < len(big)  # what is kept is the newest, whole


def test_subjects_and_filters() -> None:
    v4 = datagram(1, FRAMES[:1], agent="10.1.2.3")
    assert agent_subject("sflow", v4) == "sflow.10.1.2.3"
    assert agent_subject("sflow", b"\0\0\0\x05\0\0\0\x07junk") == "sflow.unparsed"
    assert agent_filter("sflow", "10.0.0.0/8") == ["sflow.10.>"]
    assert agent_filter("sflow", "10.1.2.3/32") == ["sflow.10.1.2.3"]
    assert agent_filter("sflow", "10.1.2.0/23") == ["sflow.10.1.>"]  # rounded out to whole bytes
    assert agent_filter("sflow", "2001:db8::/32") == ["sflow.ip6.2001.0db8.>"]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--publish", "http://127.0.0.1:4222"], "--publish http://127.0.0.1:4222: a nats://HOST:PORT"),
        (["--publish", "nats://127.0.0.1:4222", "--retain", "soon"], "'soon' is not a duration"),
        (["--publish", "nats://127.0.0.1:4222", "--retain-bytes", "10k"], "'10k': at least 1M"),
        (["--publish", "nats://127.0.0.1:4222", "--bus-stream", "a.b"], "--bus-stream 'a.b'"),
        (["--publish", "nats://127.0.0.1:4222", "--bus-creds", "/nonexistent"], "no such file"),
    ],
)
def test_bad_bus_flags_stop_with_one_line(flags: list[str], words: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bridge.cli.bridge", "-w", os.devnull, *flags],
                          capture_output=True, timeout=30)  # fmt: skip
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and words in lines[-1], done.stderr


def test_bus_unreachable_counts_and_the_capture_goes_on(tmp_path: Path) -> None:
    require()
    s = NatsServer(tmp_path).start()
    url = s.url
    s.stop()  # a port where nothing answers
    with bridge("--publish", url) as b:
        send(("127.0.0.1", b.udp), [datagram(i, FRAMES) for i in range(1, 4)])
        bus = _until(b, lambda st: sum(st["unpublished"].values()) == 3, "counted")
        assert bus["unpublished"] == {"the bus could not be reached": 3} and "cannot reach the bus" in bus["problem"]
        _, totals = b.call("GET", "/analyzer/json")
        assert isinstance(totals, dict) and totals["packetsWritten"] == 3 * len(FRAMES)
    assert f"sflow-bridge: not publishing to {url} (cannot reach the bus: ".encode() in b.said, b.said


def _consume(url: str, *flags: str, out: Path) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "bridge.cli.bridge", "--from", url, "--api", "none", "-w", str(out), *flags]
    return subprocess.run(cmd, capture_output=True, timeout=60)


def test_consumer_replays_byte_for_byte(server: NatsServer, tmp_path: Path) -> None:
    sent = [datagram(i, FRAMES, agent="192.0.2.7") for i in range(1, 21)]
    sent += [datagram(i, FRAMES[:3], agent="2001:db8::9") for i in range(1, 11)]
    here = tmp_path / "publisher.pcap"
    with bridge("--publish", server.url, "-w", str(here)) as b:  # the publisher's own pcap: what it received
        send(("127.0.0.1", b.udp), sent)
        _until(b, lambda s: s["published"] == len(sent), "published")
    there = tmp_path / "consumer.pcap"
    done = _consume(server.url, "--since", "10m", out=there)
    assert done.returncode == 0, done.stderr
    assert b"sflow-bridge: 30 datagrams, 0 malformed" in done.stderr
    # the same records, timestamps included (the publisher's receive times): the pcaps are identical
    assert there.read_bytes() == here.read_bytes()
    only = _consume(server.url, "--since", "10m", "--agent", "2001:db8::/32", out=tmp_path / "v6.pcap")
    assert b"(sflow.ip6.2001.0db8.>)" in only.stderr and b"sflow-bridge: 10 datagrams" in only.stderr, only.stderr


def test_two_publishers_one_consumer_in_tcpdump(server: NatsServer, tmp_path: Path) -> None:
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("tcpdump is not installed")
    site_a = [datagram(i, FRAMES, agent="192.0.2.1") for i in range(1, 11)]
    site_b = [datagram(i, FRAMES[:2], agent="198.51.100.1") for i in range(1, 11)]
    with bridge("--publish", server.url) as a, bridge("--publish", server.url) as b:
        send(("127.0.0.1", a.udp), site_a)
        send(("127.0.0.1", b.udp), site_b)
        _until(a, lambda s: s["published"] == 10, "site a published")
        _until(b, lambda s: s["published"] == 10, "site b published")
    cmd = [sys.executable, "-m", "bridge.cli.bridge", "--from", server.url, "--since", "5m", "--api", "none"]
    bridge_proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert bridge_proc.stdout is not None
    shown = subprocess.run([tcpdump, "-n", "-r", "-"], stdin=bridge_proc.stdout, capture_output=True, timeout=60)
    bridge_proc.stdout.close()
    _, err = bridge_proc.communicate(timeout=30)
    lines = shown.stdout.decode().splitlines()
    assert len(lines) == 10 * len(FRAMES) + 10 * 2, shown.stderr
    text = err.decode()
    assert "agent 192.0.2.1 sub-agent 0: 10 datagrams (0 lost)" in text, text  # each agent's sequence intact
    assert "agent 198.51.100.1 sub-agent 0: 10 datagrams (0 lost)" in text, text


def test_since_rewinds_to_a_time(server: NatsServer, tmp_path: Path) -> None:
    before = [datagram(i, FRAMES[:1], agent="192.0.2.5") for i in range(1, 6)]
    after = [datagram(i, FRAMES[:1], agent="192.0.2.5") for i in range(6, 9)]
    with bridge("--publish", server.url) as b:
        send(("127.0.0.1", b.udp), before)
        _until(b, lambda s: s["published"] == 5, "first published")
        cut = datetime.datetime.now(datetime.UTC)  # after the first five were received, before the next
        send(("127.0.0.1", b.udp), after)
        _until(b, lambda s: s["published"] == 8, "all published")
    done = _consume(server.url, "--since", cut.isoformat(), out=tmp_path / "since.pcap")
    assert b"sflow-bridge: 3 datagrams" in done.stderr, done.stderr
    until = _consume(server.url, "--since", "1h", "--until", cut.isoformat(), out=tmp_path / "until.pcap")
    assert b"sflow-bridge: 5 datagrams" in until.stderr, until.stderr


def test_consumer_failures_are_one_line(server: NatsServer, tmp_path: Path) -> None:
    none_yet = _consume(server.url, "--since", "1m", out=tmp_path / "a.pcap")  # nothing published: no stream
    assert none_yet.returncode == 1 and b"no stream SFLOW on the bus" in none_yet.stderr, none_yet.stderr
    port = server.port
    server.stop()
    gone = _consume(f"nats://127.0.0.1:{port}", "--since", "1m", out=tmp_path / "b.pcap")
    assert gone.returncode == 1 and b"cannot reach nats://127.0.0.1:" in gone.stderr, gone.stderr
    assert gone.stderr.count(b"\n") == 1, gone.stderr  # one line
    assert not (tmp_path / "a.pcap").exists() and not (tmp_path / "b.pcap").exists()  # found out before any output
    for flags, words in [(["--since", "yesterday"], "'yesterday' is not a time"),
                         (["--since", "1m", "--until", "2m"], "--until is not after --since"),
                         (["--agent", "10.0.0.0/8"], "--agent goes with --from")]:  # fmt: skip
        cmd = [sys.executable, "-m", "bridge.cli.bridge", "-w", os.devnull, *flags]
        if flags[0] != "--agent":
            cmd += ["--from", f"nats://127.0.0.1:{port}"]
        done = subprocess.run(cmd, capture_output=True, timeout=30)
        assert done.returncode == 2 and words in done.stderr.decode().strip().splitlines()[-1], done.stderr


def test_a_live_reader_of_a_quiet_stream_stops_at_once(server: NatsServer, tmp_path: Path) -> None:
    with bridge("--publish", server.url) as b:
        send(("127.0.0.1", b.udp), [datagram(1, FRAMES)])
        _until(b, lambda s: s["published"] == 1, "published")
    cmd = [sys.executable, "-m", "bridge.cli.bridge", "--from", server.url, "--api", "none", "-w", str(tmp_path / "o")]
    reader = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    assert reader.stderr is not None
    assert b"reading stream SFLOW" in reader.stderr.readline()
    reader.send_signal(signal.SIGTERM)  # nothing comes: before the change, it waited for a datagram for ever
    _, said = reader.communicate(timeout=5)
    assert reader.returncode == 0 and b"sflow-bridge: 0 datagrams" in said, said


def test_hostile_messages_on_the_bus_are_skipped_and_counted(server: NatsServer, tmp_path: Path) -> None:
    """Anyone who may publish on the stream's subjects can send anything: the reader skips what is not ours."""
    import nats

    good = [datagram(i, FRAMES, agent="192.0.2.7") for i in range(1, 7)]
    with bridge("--publish", server.url) as b:
        send(("127.0.0.1", b.udp), good[:3])
        _until(b, lambda s: s["published"] == 3, "published")
        whole = frame([(1, good[0])])

        async def hostile() -> None:
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            for payload in (
                b"",
                b"not ours at all",
                whole[:-1],  # cut short
                whole[:4] + b"\0" * 8 + b"\xff\xff\xff\xff" + good[0],
            ):  # a length far past the end
                await js.publish("sflow.192.0.2.7", payload)
            await nc.close()

        asyncio.run(hostile())
        send(("127.0.0.1", b.udp), good[3:])
        _until(b, lambda s: s["published"] == 6, "published")
    done = _consume(server.url, "--since", "1m", out=tmp_path / "o.pcap")
    assert done.returncode == 0, done.stderr
    assert b"sflow-bridge: 6 datagrams, 0 malformed" in done.stderr, done.stderr
    assert b"agent 192.0.2.7 sub-agent 0: 6 datagrams (0 lost)" in done.stderr, done.stderr
    assert b"sflow-bridge: skipped 4 messages on the bus that are not sflow-bridge's framing" in done.stderr
