"""Packets agents dropped (sFlow discard samples) in the stream: on interfaces of their own in pcapng, with the
reason in each comment, read back by real tshark; in classic pcap only with --discards; counted apart."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bridge.sflow import encode as enc
from tests.agent import datagram, packets, send
from tests.data.make_vectors import write_pcap
from tests.integration.test_api import bridge as api_bridge

pytestmark = pytest.mark.skipif(not (shutil.which("tcpdump") and shutil.which("tshark")),
                                reason="tcpdump and tshark are not installed")  # fmt: skip

FRAMES = dict(packets())
# a reason of each family of sflow_drop.h: ICMP unreachables, generic, layer 2, routing, parsing, the Linux
# kernel's (332 and 366 are the codes sflowtool's table misspells), and one no table knows
REASONS = {
    0: "net_unreachable", 3: "port_unreachable", 257: "ttl_exceeded", 258: "acl", 259: "no_buffer_space",
    264: "vlan_tag_mismatch", 269: "blackhole_route", 279: "unresolved_neigh", 307: "vxlan_parsing",
    329: "skb_csum", 332: "dev_hdr", 347: "tcp_reset", 366: "tc_egress", 9999: "reason9999",
}  # fmt: skip


def drops_datagram(seq: int = 1) -> bytes:
    """One sampled packet (a flow sample), then one dropped packet per reason, alternately ingress and egress: every
    other one has the same ports and drop count, only the reason differs."""
    samples = [enc.flow_sample(1, 5, 1000, 1000, [enc.sampled_header(FRAMES["dns4"])], 5, 7)]
    for i, reason in enumerate(REASONS):
        ports = (5, 0) if i % 2 == 0 else (0, 5)  # ingress, egress
        header = [enc.sampled_header(FRAMES["syn"])]
        samples.append(enc.discard_sample(i + 1, 5, reason, header, in_if=ports[0], out_if=ports[1], drops=i % 2))
    return enc.datagram("192.0.2.7", 0, seq, 1000, samples)


def run_bridge(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    capture = tmp_path / "drops.pcap"
    write_pcap(capture, [drops_datagram()])
    run = subprocess.run([sys.executable, "-m", "bridge.cli.bridge", "-r", str(capture), *args], capture_output=True,
                         timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run


def tshark_fields(stream: bytes, *args: str) -> list[list[str]]:
    fields = ["-e", "frame.interface_name", "-e", "frame.comment", "-e", "frame.interface_description", "-e",
              "tcp.flags.syn"]  # fmt: skip
    ts = subprocess.run(["tshark", "-n", "-r", "-", *args, "-T", "fields", *fields], input=stream, capture_output=True,
                        timeout=60)  # fmt: skip
    assert ts.returncode == 0, ts.stderr
    return [line.split("\t") for line in ts.stdout.decode().splitlines()]


def test_tshark_lists_what_the_switch_dropped_and_why(tmp_path: Path) -> None:
    stream = run_bridge(tmp_path, "--pcapng").stdout
    rows = tshark_fields(stream, "-Y", 'frame.comment contains "drop="')
    assert len(rows) == len(REASONS)
    for i, (row, name) in enumerate(zip(rows, REASONS.values(), strict=True)):
        ports = "in=5 out=0" if i % 2 == 0 else "in=0 out=5"
        assert row == ["192.0.2.7-0-5-drops", f"drop={name} agent=192.0.2.7 sub_agent=0 {ports} drops={i % 2}",
                       "packets dropped, from sFlow agent 192.0.2.7 sub-agent 0 ifIndex 5", "1"]  # fmt: skip
    every = tshark_fields(stream)
    assert len(every) == 1 + len(REASONS)
    assert every[0][:2] == ["192.0.2.7-0-5", "agent=192.0.2.7 sub_agent=0 in=5 out=7 rate=1000 drops=0"]
    # the other way to select them, and their direction
    assert len(tshark_fields(stream, "-Y", 'frame.interface_name contains "-drops"')) == len(REASONS)
    assert len(tshark_fields(stream, "-Y", 'frame.interface_name contains "-drops" && frame.p2p_dir == 1')) == 7


def test_classic_pcap_writes_drops_only_when_asked(tmp_path: Path) -> None:
    plain = run_bridge(tmp_path)
    dump = subprocess.run(["tcpdump", "-n", "-r", "-"], input=plain.stdout, capture_output=True, timeout=60)
    assert len(dump.stdout.decode().splitlines()) == 1  # the sampled packet only
    assert f"not written: {len(REASONS)} dropped by their agent" in plain.stderr.decode()
    asked = run_bridge(tmp_path, "--discards")
    dump = subprocess.run(["tcpdump", "-n", "-r", "-"], input=asked.stdout, capture_output=True, timeout=60)
    lines = dump.stdout.decode().splitlines()
    assert len(lines) == 1 + len(REASONS)
    assert all("10.1.1.1.50000 > 10.3.3.3.443: Flags [S]" in line for line in lines[1:])
    said = asked.stderr.decode()
    assert f"1 packets written, {len(REASONS)} dropped packets written" in said
    assert "dropped by reason: 1 net_unreachable, 1 port_unreachable" in said
    assert "1 reason9999" in said


def test_a_capture_filter_applies_to_drops_too(tmp_path: Path) -> None:
    stream = run_bridge(tmp_path, "--pcapng", "-f", "udp").stdout
    assert [row[0] for row in tshark_fields(stream)] == ["192.0.2.7-0-5"]


def test_the_api_counts_drops_apart_by_agent_and_reason() -> None:
    with api_bridge() as b:
        send(("127.0.0.1", b.udp), [datagram(1, [FRAMES["dns4"]]), drops_datagram(2)])
        deadline = time.monotonic() + 20
        while True:  # the datagrams are in once the analyzer has counted both
            _, totals = b.call("GET", "/analyzer/json")
            if totals["datagramsReceived"] == 2 or time.monotonic() > deadline:  # type: ignore[index]
                break
        _, agents = b.call("GET", "/agents/json")
        with urllib.request.urlopen(b.base + "/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    agent = agents["192.0.2.7"]  # type: ignore[index]
    assert agent["samples"] == {"flow": 2, "discard": len(REASONS)}
    assert agent["discards"] == {name: 1 for name in REASONS.values()}
    assert totals["packetsWritten"] == 2 and totals["dropsWritten"] == 0  # type: ignore[index]  # classic pcap
    assert 'sflow_bridge_agent_discards_total{agent="192.0.2.7",reason="acl",sub_agent="0"} 1.0' in metrics
    assert 'sflow_bridge_agent_samples_total{agent="192.0.2.7",kind="discard",sub_agent="0"} 14.0' in metrics
    assert json.dumps(agent)  # plain JSON


def test_capture_streams_carry_drops_in_pcapng_and_in_pcap_when_asked() -> None:
    with api_bridge() as b:
        queries = {"pcap": "", "pcap with drops": "?discards=1", "pcapng": "?format=pcapng"}
        streams = {name: urllib.request.urlopen(f"{b.base}/capture.pcap{q}", timeout=10) for name, q in queries.items()}
        try:
            got = {name: resp.read(24) for name, resp in streams.items()}  # the header came: the stream is there
            deadline = time.monotonic() + 20
            seq = 0
            while time.monotonic() < deadline and not all(len(v) > 3000 for v in got.values()):
                seq += 1
                send(("127.0.0.1", b.udp), [drops_datagram(seq)])  # a DNS packet and 14 drops (TCP SYNs)
                for name, resp in streams.items():
                    got[name] += resp.read1(65536)
        finally:
            for resp in streams.values():
                resp.close()
        status, bad = b.call("GET", "/capture.pcap?discards=maybe")
    assert status == 400 and bad == {"error": "discards is 1 or 0"}
    syns = {name: [row[3] for row in tshark_fields(body)].count("1") for name, body in got.items()}
    assert syns["pcap"] == 0 and syns["pcap with drops"] > 0 and syns["pcapng"] > 0, syns
    pcapng = tshark_fields(got["pcapng"], "-Y", "tcp.flags.syn == 1")
    assert all(row[0] == "192.0.2.7-0-5-drops" and row[1].startswith("drop=") for row in pcapng)
