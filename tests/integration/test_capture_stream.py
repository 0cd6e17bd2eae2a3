"""GET /capture.pcap: live streams read by real curl and tshark, per-client filters, a slow client."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bridge.sflow import encode as enc
from tests.agent import datagram, packets, send
from tests.integration.test_api import bridge

FRAMES = [f for _, f in packets()]
RATE = 20_000  # datagrams/s of the slow-client test (with two streams the bridge has kept up with 40,000/s)
needs_tools = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("tshark")),
    reason="curl and tshark are needed (apt-get install curl tshark)",
)


def wait_streams(b, n: int) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while True:
        status, totals = b.call("GET", "/analyzer/json")
        if len(totals["streams"]) >= n:
            return totals
        assert time.monotonic() < deadline, totals
        time.sleep(0.05)


@needs_tools
def test_two_clients_with_their_own_filters_through_curl_and_tshark() -> None:
    with bridge() as b:
        dns = subprocess.Popen(f"curl -sN '{b.base}/capture.pcap?filter=port%2053' | "
                               "tshark -l -n -r - -T fields -e dns.qry.name", shell=True, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)  # fmt: skip
        icmp = subprocess.Popen(f"curl -sN '{b.base}/capture.pcap?filter=icmp&format=pcapng' | "
                                "tshark -l -n -r - -T fields -e icmp.type -e frame.comment", shell=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_streams(b, 2)
        send(("127.0.0.1", b.udp), [datagram(i + 1, FRAMES) for i in range(3)])
        time.sleep(1.0)
        totals = wait_streams(b, 2)
        assert sorted(s["packetsSent"] for s in totals["streams"]) == [3, 6]
    # the bridge stopped: both streams ended, and the tools printed what they got
    dns_out = dns.communicate(timeout=30)[0].decode().split()
    icmp_out = icmp.communicate(timeout=30)[0].decode().splitlines()
    assert dns_out == ["example.com", "example.org"] * 3
    assert len(icmp_out) == 3
    assert all(line.startswith("8\tagent=192.0.2.7 sub_agent=0 in=5 out=7 rate=1000") for line in icmp_out)


def count_records(stream: bytes) -> int:
    n, pos = 0, 24
    while pos + 16 <= len(stream):
        caplen = struct.unpack_from("<I", stream, pos + 8)[0]
        if pos + 16 + caplen > len(stream):
            break
        pos += 16 + caplen
        n += 1
    return n


def test_a_slow_client_loses_its_own_packets_only() -> None:
    with bridge() as b:
        fast = urllib.request.urlopen(f"{b.base}/capture.pcap", timeout=30)
        got = bytearray()
        done = threading.Event()

        def read_fast() -> None:
            try:
                while chunk := fast.read1(1 << 16):
                    got.extend(chunk)
            except OSError:
                pass
            done.set()

        reader = threading.Thread(target=read_fast)
        reader.start()
        host, port = b.base.removeprefix("http://").split(":")
        slow = socket.create_connection((host, int(port)))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"GET /capture.pcap HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_streams(b, 2)
        # 60,000 datagrams, 300,000 packets (about 36 MB of pcap: more than the slow client's queue and
        # the kernel's socket buffers hold), paced at RATE datagrams/s; bounded in count and time
        batch = [datagram(i + 1, FRAMES) for i in range(200)]
        sent = 0
        started = time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            while sent < 60_000 and time.monotonic() - started < 30:
                due = min(60_000, int((time.monotonic() - started) * RATE) + 1)
                while sent < due:
                    tx.sendto(batch[sent % 200], ("127.0.0.1", b.udp))
                    sent += 1
                slow.recv(512)  # the slow client reads a little now and then
                time.sleep(0.002)
        rate = sent / (time.monotonic() - started)
        time.sleep(1.0)
        totals = wait_streams(b, 2)
        streams = sorted(totals["streams"], key=lambda s: s["packetsDropped"])
        assert totals["datagramsReceived"] == sent  # the bridge itself lost nothing
        slow.close()
    reader.join(timeout=30)
    fast_packets = count_records(bytes(got))
    assert fast_packets >= sent * 5 * 0.999  # loss of the fast client under 0.1 %
    assert streams[0]["packetsDropped"] == 0
    assert streams[-1]["packetsDropped"] > 0  # the slow one's own losses are counted
    print(f"\nslow-client test: {sent} datagrams at {rate:,.0f}/s, {sent * 5} packets; fast client got {fast_packets}; "
          f"slow client got {streams[-1]['packetsSent']} and lost {streams[-1]['packetsDropped']}")  # fmt: skip


def test_an_unfiltered_stream_carries_the_records_of_the_bridges_own_output(tmp_path: Path) -> None:
    """The records framed once for both (plain Ethernet, IP under a made-up Ethernet header), and framed
    again for the stream where the output skipped one (an 802.11 header, which classic pcap cannot hold)."""
    out = tmp_path / "out.pcap"
    ip = FRAMES[0][14:]
    wifi = [enc.flow_sample(1, 5, 1000, 1000, [enc.sampled_header(FRAMES[2])], 5, 7),
            enc.flow_sample(2, 5, 1000, 2000, [enc.sampled_header(ip, protocol=15)], 5, 7)]  # fmt: skip
    ipv4 = [f for f in FRAMES if f[12:14] != b"\x86\xdd"]
    datagrams = [datagram(1, FRAMES), datagram(2, ipv4, protocol=11), enc.datagram("192.0.2.7", 0, 3, 3000, wifi)]
    got, pings = bytearray(), bytearray()
    with bridge("-w", str(out)) as b:
        readers = []
        # a filtered client first: the unfiltered one after it must still get the output's own records
        for query, into in (("?filter=icmp", pings), ("", got)):
            stream = urllib.request.urlopen(f"{b.base}/capture.pcap{query}", timeout=30)

            def read(stream=stream, into=into) -> None:  # type: ignore[no-untyped-def]
                while chunk := stream.read1(1 << 16):
                    into.extend(chunk)

            readers.append(threading.Thread(target=read))
            readers[-1].start()
            wait_streams(b, len(readers))
        send(("127.0.0.1", b.udp), datagrams)
        deadline = time.monotonic() + 10
        while count_records(bytes(got)) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    for r in readers:
        r.join(timeout=30)
    written = out.read_bytes()
    assert count_records(written) == 10  # 5 + 4 + the Ethernet one of the last datagram
    assert bytes(got) == written
    assert count_records(bytes(pings)) == 2


def test_bad_stream_requests() -> None:
    with bridge("--max-streams", "1") as b:
        assert b.call("GET", "/capture.pcap?filter=port%20nonsense")[0] == 400
        assert b.call("GET", "/capture.pcap?agent=10.0.0.0/99")[0] == 400
        assert b.call("GET", "/capture.pcap?format=pcapx")[0] == 400
        first = urllib.request.urlopen(f"{b.base}/capture.pcap", timeout=10)
        assert first.read(24)[:4] == b"\xd4\xc3\xb2\xa1"
        wait_streams(b, 1)
        status, answer = b.call("GET", "/capture.pcap")
        assert status == 503 and "at most 1" in answer["error"]  # type: ignore[index]
        first.close()
    with bridge("--api-token", "t0k", "--protect-reads") as b:
        assert b.call("GET", "/capture.pcap")[0] == 401
        assert b.call("GET", "/agents/json")[0] == 401
        assert b.call("GET", "/agents/json", token="t0k")[0] == 200
