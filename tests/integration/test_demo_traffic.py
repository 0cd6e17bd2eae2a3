"""The demo agent's traffic looks real to the real tools, and to scapy, an independent packet crafter.

- tshark's expert info on a demo capture: no error, no malformed packet, no bad checksum, no retransmission;
  the only warnings are the two that sampling itself causes (a segment before this one, or the one an ACK
  acknowledges, was not sampled).
- tcpdump decodes the demo's DNS, and the SYN filter finds connections starting.
- scapy recomputes every checksum of every whole frame the demo samples and gets the same bytes.
- Frames scapy builds (QinQ, MPLS, VXLAN, DNS over IPv6, ARP) go through the bridge byte for byte.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.sflow import encode as enc
from bridge.sflow.headers import walk
from bridge.sources.demo import Population
from tests.data.make_vectors import write_pcap

scapy_all = pytest.importorskip("scapy.all", reason="scapy is a test dependency: pip install -e '.[test]'")
mpls = pytest.importorskip("scapy.contrib.mpls")
pytestmark = pytest.mark.skipif(not (shutil.which("tcpdump") and shutil.which("tshark")),
                                reason="tcpdump and tshark are not installed")  # fmt: skip

# what 1-in-N sampling shows any TCP analysis: gaps, never faults
SAMPLING_WARNINGS = {"ACKed segment that wasn't captured (common at capture start)",
                     "Previous segment(s) not captured (common at capture start)"}  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """2,000 datagrams of the demo's five agents, as a capture, and the datagrams."""
    pop = Population(agents=5, flows=500, seed=1)
    datagrams = [pop.datagram() for _ in range(2000)]
    path = tmp_path_factory.mktemp("demo") / "demo.pcap"
    write_pcap(path, datagrams)
    return path, datagrams


def bridge(capture: Path, *args: str) -> bytes:
    run = subprocess.run([sys.executable, "-m", "bridge.cli.bridge", "-r", str(capture), *args], capture_output=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_tshark_expert_info_finds_nothing_wrong(demo: tuple[Path, list[bytes]]) -> None:
    stream = bridge(demo[0], "--pcapng")
    expert = subprocess.run(["tshark", "-n", "-r", "-", "-q", "-z", "expert"], input=stream, capture_output=True,
                            timeout=300)  # fmt: skip
    text = expert.stdout.decode()
    sections = dict(re.findall(r"^(\w+) \((\d+)\)\n=+\n", text, re.M))
    assert "Errors" not in sections, text
    warnings = re.search(r"^Warns \(\d+\)\n=+\n.*?\n(.*?)(?:\n\n|\Z)", text, re.M | re.S)
    summaries = {line.split(None, 3)[3] for line in warnings.group(1).splitlines()} if warnings else set()
    assert summaries <= SAMPLING_WARNINGS, summaries
    for bad in ("Malformed", "Checksum", "etransmission", "Duplicate IP"):
        assert bad not in text, bad
    # and it is the traffic the README shows: connections starting, web and DNS, drops with their reasons
    assert "Connection establish request (SYN): server port 443" in text
    assert "HTTP/1.1 200 OK" in text


def test_tcpdump_reads_dns_and_finds_syns(demo: tuple[Path, list[bytes]]) -> None:
    stream = bridge(demo[0])
    dns = subprocess.run(["tcpdump", "-n", "-r", "-", "port 53"], input=stream, capture_output=True, timeout=60)
    lines = dns.stdout.decode().splitlines()
    assert len(lines) > 100
    queries = [line for line in lines if re.search(r": \d+\+ A{1,4}\? [a-z.]+\. \(\d+\)$", line)]
    answers = [line for line in lines if re.search(r": \d+ 1/0/0 A{1,4} [0-9a-f.:]+ \(\d+\)$", line)]
    assert len(queries) + len(answers) == len(lines), [x for x in lines if x not in queries + answers][:3]
    assert queries and answers
    syn = subprocess.run(["tcpdump", "-n", "-r", "-", "tcp[tcpflags] == tcp-syn"], input=stream,
                         capture_output=True, timeout=60)  # fmt: skip
    assert len(syn.stdout.decode().splitlines()) > 50


def sampled_frames(datagrams: list[bytes]) -> list[tuple[bytes, int]]:
    """(header bytes, frame length without the FCS) of every sampled header, drops included."""
    out = []
    for data in datagrams:
        h = walk(data)
        out += [(data[off : off + length], frame - stripped) for off, length, _, frame, stripped, _ in h.packets]
    return out


def test_scapy_recomputes_the_same_checksums(demo: tuple[Path, list[bytes]]) -> None:
    whole = [f for f, wire in sampled_frames(demo[1]) if len(f) == wire]  # taken whole: every checksum checkable
    assert len(whole) > 1000
    kinds = set()
    for f in whole:
        pkt = scapy_all.Ether(f)
        for layer in (scapy_all.IP, scapy_all.TCP, scapy_all.UDP, scapy_all.ICMP, scapy_all.IPv6):
            if layer in pkt:
                kinds.add(layer.__name__)
                if hasattr(pkt[layer], "chksum"):
                    del pkt[layer].chksum
        for layer in (scapy_all.ICMPv6EchoRequest, scapy_all.ICMPv6EchoReply):
            if layer in pkt:
                kinds.add("ICMPv6")
                del pkt[layer].cksum
        if scapy_all.ARP in pkt:
            kinds.add("ARP")
        assert bytes(pkt.__class__(bytes(pkt))) == f, pkt.summary()  # rebuilt with scapy's checksums: the same
    assert kinds >= {"IP", "TCP", "UDP", "ICMP", "IPv6", "ICMPv6", "ARP"}, kinds
    truncated = [f for f, wire in sampled_frames(demo[1]) if len(f) < wire]
    for f in truncated[:2000]:  # the IPv4 header checksum covers only the header: checkable on every one
        pkt = scapy_all.Ether(f)
        if scapy_all.IP in pkt:
            ip = pkt[scapy_all.IP]
            header = bytes(ip)[: ip.ihl * 4]
            assert enc.checksum(header) == 0


def scapy_frames() -> dict[str, bytes]:
    s = scapy_all
    tcp = s.TCP(sport=40000, dport=443, flags="S", seq=1000)
    return {
        "QinQ": bytes(
            s.Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x88A8)
            / s.Dot1Q(vlan=100)
            / s.Dot1Q(vlan=200)
            / s.IP(src="10.1.1.1", dst="10.2.2.2")
            / tcp
        ),  # fmt: skip
        "MPLS": bytes(
            s.Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / mpls.MPLS(label=100, s=0)
            / mpls.MPLS(label=200, s=1)
            / s.IP(src="10.1.1.1", dst="10.2.2.2")
            / s.ICMP()
        ),  # fmt: skip
        "VXLAN": bytes(
            s.Ether()
            / s.IP(src="192.0.2.1", dst="192.0.2.2")
            / s.UDP(sport=50000, dport=4789)
            / s.VXLAN(vni=5000)
            / s.Ether(src="02:00:00:00:00:03", dst="02:00:00:00:00:04")
            / s.IP(src="172.16.0.1", dst="172.16.0.2")
            / s.UDP(sport=1234, dport=53)
            / s.DNS(rd=1, qd=s.DNSQR(qname="example.com"))
        ),  # fmt: skip
        "DNS over IPv6": bytes(
            s.Ether()
            / s.IPv6(src="2001:db8::1", dst="2001:db8::53")
            / s.UDP(sport=5353, dport=53)
            / s.DNS(rd=1, qd=s.DNSQR(qname="example.org", qtype="AAAA"))
        ),  # fmt: skip
        "ARP": bytes(s.Ether(dst="ff:ff:ff:ff:ff:ff") / s.ARP(psrc="10.0.0.1", pdst="10.0.0.2")),
    }


def test_frames_scapy_builds_come_out_byte_for_byte(tmp_path: Path) -> None:
    frames = scapy_frames()
    samples = [enc.flow_sample(i + 1, 5, 1000, 1000, [enc.sampled_header(f, snap=256)], 5, 7)
               for i, f in enumerate(frames.values())]  # fmt: skip
    capture = tmp_path / "scapy.pcap"
    write_pcap(capture, [enc.datagram("192.0.2.7", 0, 1, 1000, samples)])
    out = bridge(capture)
    records = []
    pos = 24
    while pos < len(out):
        caplen = int.from_bytes(out[pos + 8 : pos + 12], "little")
        records.append(out[pos + 16 : pos + 16 + caplen])
        pos += 16 + caplen
    assert records == list(frames.values())
    decoded = subprocess.run(["tshark", "-n", "-r", "-", "-T", "fields", "-e", "frame.protocols"], input=out,
                             capture_output=True, timeout=60)  # fmt: skip
    layers = decoded.stdout.decode().split()
    assert layers == ["eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:tcp", "eth:ethertype:mpls:ip:icmp",
                      "eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:udp:dns", "eth:ethertype:ipv6:udp:dns",
                      "eth:ethertype:arp"], layers  # fmt: skip
