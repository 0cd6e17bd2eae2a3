"""Every header protocol the bridge writes is decoded by real tshark and tcpdump down to the IP packet inside.

One ICMP echo request, carried under each header protocol an agent can name: the frame must come out of
tshark with no "unknown" or "unsupported" part and an ICMP layer, and out of tcpdump as the echo request.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.sflow import encode as enc
from tests.data.make_vectors import write_pcap

pytestmark = pytest.mark.skipif(not (shutil.which("tcpdump") and shutil.which("tshark")),
                                reason="tcpdump and tshark are not installed")  # fmt: skip

PING = enc.ipv4("10.1.1.1", "10.4.4.4", 1, enc.l4(1, 8, 0, b"p" * 32))
PING6 = enc.ipv6("2001:db8::1", "2001:db8::4", 58, enc.l4(58, 128, 0, b"p" * 32))
MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
SNAP_IP = bytes.fromhex("aaaa03000000") + b"\x08\x00"  # LLC/SNAP, EtherType IPv4
PPP_IP = bytes.fromhex("ff030021")  # address, control, protocol IPv4

# sFlow header protocol: (name, a header of that protocol carrying PING)
HEADERS = {
    1: ("Ethernet", enc.ethernet(MAC_A, MAC_B, 0x0800, PING)),
    3: ("token ring", b"\x10\x40" + MAC_A + MAC_B + SNAP_IP + PING),
    4: ("FDDI", b"\x50" + MAC_A + MAC_B + SNAP_IP + PING),
    5: ("frame relay", bytes.fromhex("1841") + b"\x03\xcc" + PING),  # Q.922 DLCI 100, RFC 2427 NLPID IP
    7: ("PPP", PPP_IP + PING),
    11: ("IPv4", PING),
    12: ("IPv6", PING6),
    13: ("MPLS", struct.pack(">I", 100 << 12 | 1 << 8 | 64) + PING),  # label 100, bottom of stack, TTL 64
    14: ("POS", PPP_IP + PING),
    15: ("802.11", bytes.fromhex("0802") + b"\0\0" + MAC_A + MAC_B + MAC_A + b"\0\0" + SNAP_IP + PING),
}
WORDS = ("unknown", "unsupported", "malformed", "undecoded")


def bridge(tmp_path: Path, protocols: list[int], *args: str) -> bytes:
    samples = [enc.flow_sample(i + 1, 5, 1000, (i + 1) * 1000, [enc.sampled_header(HEADERS[p][1], protocol=p)], 5, 7)
               for i, p in enumerate(protocols)]  # fmt: skip
    capture = tmp_path / "sflow.pcap"
    write_pcap(capture, [enc.datagram("192.0.2.7", 0, 1, 1000, samples)])
    run = subprocess.run([sys.executable, "-m", "bridge.cli.bridge", "-r", str(capture), *args], capture_output=True,
                         timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_tshark_decodes_every_header_protocol_in_one_pcapng_stream(tmp_path: Path) -> None:
    protocols = sorted(HEADERS)
    stream = bridge(tmp_path, protocols, "--pcapng")
    fields = subprocess.run(["tshark", "-n", "-r", "-", "-T", "fields", "-e", "frame.protocols", "-e", "_ws.col.Info"],
                            input=stream, capture_output=True, timeout=60)  # fmt: skip
    rows = [line.split("\t") for line in fields.stdout.decode().splitlines()]
    assert len(rows) == len(protocols), fields.stderr
    for p, (layers, info) in zip(protocols, rows, strict=True):
        assert not any(w in layers.lower() or w in info.lower() for w in WORDS), (HEADERS[p][0], layers, info)
        assert layers.endswith((":ip:icmp:data", ":ipv6:icmpv6:data")), (HEADERS[p][0], layers)
        assert "Echo (ping) request" in info, (HEADERS[p][0], info)
    assert rows[protocols.index(13)][0].startswith("eth:ethertype:mpls:ip:")  # MPLS under Ethernet, 0x8847


@pytest.mark.parametrize("protocol", sorted(HEADERS), ids=lambda p: HEADERS[p][0])
def test_tcpdump_decodes_each_header_protocol(tmp_path: Path, protocol: int) -> None:
    # tcpdump reads one link type per stream: a stream of each (classic pcap carries Ethernet and the IP kinds)
    stream = bridge(tmp_path, [protocol], "--pcapng")
    dump = subprocess.run(["tcpdump", "-n", "-r", "-"], input=stream, capture_output=True, timeout=60)
    lines = dump.stdout.decode().splitlines()
    assert len(lines) == 1, dump.stderr
    assert not any(w in lines[0].lower() for w in WORDS), lines
    assert "ICMP echo request" in lines[0] or "ICMP6, echo request" in lines[0], lines


def test_classic_pcap_carries_the_ethernet_kinds_and_counts_the_others(tmp_path: Path) -> None:
    stream = bridge(tmp_path, sorted(HEADERS))
    dump = subprocess.run(["tcpdump", "-n", "-r", "-"], input=stream, capture_output=True, timeout=60)
    lines = dump.stdout.decode().splitlines()
    assert len(lines) == 4, dump.stderr  # Ethernet, IPv4, IPv6, MPLS
    assert all("echo request" in line for line in lines), lines
    assert "MPLS (label 100, tc 0, [S], ttl 64)" in lines[3], lines
