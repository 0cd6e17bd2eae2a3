"""Top talkers' parts: the flow key of every header shape, the sketch's bounds, the receive budget."""

from __future__ import annotations

import ipaddress

from bridge.pipeline.talkers import Sketch, Talkers, flow_key
from bridge.service.flows import report
from bridge.sflow import encode as enc
from bridge.sflow.headers import walk
from tests.agent import MAC_A, MAC_B


def _key(frame: bytes, proto: int = 1) -> bytes | None:
    return flow_key(b"xx" + frame, 2, len(frame), proto)


def test_flow_key_ipv4_tcp_under_two_vlan_tags() -> None:
    ip = enc.ipv4("10.0.0.1", "10.0.0.2", 6, enc.l4(6, 1234, 443, b"data"))
    inner = enc.ethernet(MAC_A, MAC_B, 0x0800, ip, vlan=20)
    qinq = inner[:12] + bytes.fromhex("88a8000a") + inner[12:]
    expected = bytes((4, 6)) + ipaddress.ip_address("10.0.0.1").packed + ipaddress.ip_address("10.0.0.2").packed
    assert _key(qinq) == expected + (1234).to_bytes(2, "big") + (443).to_bytes(2, "big")
    assert _key(ip, 11) == _key(qinq)  # the same packet sampled without its MAC header


def test_flow_key_ipv6_past_extension_headers_and_fragments() -> None:
    udp = enc.l4(17, 5353, 53, b"q")
    hop_by_hop = bytes((17, 0)) + bytes(6)  # next header UDP, 8 bytes
    ip = enc.ipv6("2001:db8::1", "2001:db8::2", 0, hop_by_hop + udp)
    key = _key(ip, 12)
    assert key is not None and key[:2] == bytes((6, 17)) and key[-4:] == bytes.fromhex("14e90035")
    later_fragment = bytes((17, 0, 0x00, 0x08)) + bytes(4)  # offset 1 (x 8 bytes): no ports in it
    frag = enc.ipv6("2001:db8::1", "2001:db8::2", 44, later_fragment + udp)
    key = _key(frag, 12)
    assert key is not None and key[1] == 17 and key[-4:] == bytes(4)


def test_flow_key_refuses_what_is_not_ip_or_is_cut_short() -> None:
    arp = enc.ethernet(MAC_A, MAC_B, 0x0806, bytes(28))
    assert _key(arp) is None
    ip = enc.ipv4("10.0.0.1", "10.0.0.2", 17, enc.l4(17, 1, 2, b""))
    assert _key(ip[:19], 11) is None  # shorter than an IPv4 header
    assert _key(ip[:22], 11) == bytes((4, 17)) + ip[12:20] + bytes(4)  # the ports cut off: zero
    assert _key(bytes(10)) is None  # not even an Ethernet header
    assert _key(ip, 15) is None  # 802.11: not read


def test_sketch_stays_bounded_and_keeps_the_heavy_keys_whole() -> None:
    s = Sketch(0, 100)
    for i in range(20_000):
        s.add(i.to_bytes(4, "big"), 1, 1 + i % 7)
        if i % 10 == 0:
            s.add(b"heavy", 10, 10_000)
    assert len(s.entries) <= 200
    heavy = s.entries[b"heavy"]
    assert heavy.bytes == 2000 * 10_000 and heavy.samples == 2000  # never removed: counted whole
    assert 0 < s.floor <= 7  # what a removed key may have had: at most the light keys' weight


def _datagram(seq: int) -> bytes:
    ip = enc.ipv4("10.0.0.1", "10.0.0.2", 6, enc.l4(6, 1234, 443, b"x" * 50))
    rec = enc.sampled_header(enc.ethernet(MAC_A, MAC_B, 0x0800, ip), 1000)
    return enc.datagram("192.0.2.1", 0, seq, seq, [enc.flow_sample(seq, 3, 64, seq * 64, [rec], 3, 4)])


def test_budget_reads_one_datagram_in_k_and_weighs_it_k_times() -> None:
    t = Talkers(budget=800)  # 100 a slice of 1/8 s
    datagrams = [_datagram(i + 1) for i in range(4000)]
    for i, d in enumerate(datagrams):  # 1,000 datagrams in each of four slices
        t.add(d, walk(d), 1000.0 + (i // 1000) / 8 + 0.001)
    doc = report(t, ("src", "dst"), 5, now=1001.0)
    (row,) = doc["top"]
    assert doc["samples"] < 1000  # far fewer read than the 4,000 seen
    assert doc["sampling"] > 1
    # each read weighs step x 64 packets: the estimate stays near the 4,000 x 64 that were sampled
    assert abs(row["packets"] - 4000 * 64) <= 0.15 * 4000 * 64, row


def test_buckets_cover_the_last_minute_only() -> None:
    t = Talkers()
    d = _datagram(1)
    for second in range(0, 120, 5):
        t.add(d, walk(d), 10_000.0 + second)
    assert len(t.buckets) == 6
    doc = report(t, ("src",), 5, now=10_120.0)
    assert doc["samples"] == 12  # 60 s: one sample every 5 s
    assert 60 <= doc["window"] <= 70
