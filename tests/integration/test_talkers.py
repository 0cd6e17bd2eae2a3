"""Top talkers against ground truth: a known mix, sampled by a software agent, estimated by the bridge.

sFlow's sampling theory (sFlow.org, "Packet Sampling Basics"): a count estimated from
n samples (n x the sampling rate) has a relative error of at most 1.96 x sqrt(1/n) at
95 % confidence, the normal approximation of the binomial count of samples. The test
asserts every flow within 3.89 x sqrt(1/n) (99.99 %), so that the outcome does not
depend on the seed: with five flows the chance that any seed fails is about 0.05 %.
"""

from __future__ import annotations

import math
import random
import socket
import time

from bridge.sflow import encode as enc
from tests.agent import MAC_A, MAC_B
from tests.integration.test_api import bridge

RATE = 100
Z = 3.89  # 99.99 % two-sided
# (source, destination, protocol, source port, destination port, packets, wire length)
MIX = [
    ("10.0.0.1", "10.9.0.1", 6, 40001, 443, 60_000, 1500),
    ("10.0.0.2", "10.9.0.2", 17, 40002, 53, 30_000, 120),
    ("2001:db8::3", "2001:db8:9::3", 6, 40003, 80, 20_000, 900),
    ("10.0.0.4", "10.9.0.4", 6, 40004, 22, 8_000, 200),
    ("10.0.0.5", "10.9.0.5", 17, 40005, 4789, 4_000, 1400),
]


def frame(src: str, dst: str, proto: int, sport: int, dport: int) -> bytes:
    l4 = enc.l4(proto, sport, dport, b"x" * 64)
    if ":" in src:
        return enc.ethernet(MAC_A, MAC_B, 0x86DD, enc.ipv6(src, dst, proto, l4))
    return enc.ethernet(MAC_A, MAC_B, 0x0800, enc.ipv4(src, dst, proto, l4), vlan=20)


def wait_for(b: object, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, totals = b.call("GET", "/analyzer/json")  # type: ignore[attr-defined]
        if totals["datagramsReceived"] >= count:
            return
        time.sleep(0.05)  # polling the bridge's own count: ready when it has read them all
    raise AssertionError(f"the bridge read {totals['datagramsReceived']} of {count} datagrams")


def test_estimates_within_sampling_error() -> None:
    rnd = random.Random(2026)
    order = [i for i, flow in enumerate(MIX) for _ in range(flow[5])]
    rnd.shuffle(order)  # the flows' packets interleaved on the wire, as a switch port sees them
    frames = [frame(*flow[:5]) for flow in MIX]
    sent: list[bytes] = []
    agent = enc.SamplingAgent(RATE, sent.append, now_ms=lambda: 0, agent="192.0.2.50", rnd=rnd)
    for i in order:
        agent.packet(frames[i], MIX[i][6])
    agent.flush()
    # a budget above the burst: every sample read (the budget's own weighing is tests/unit/test_talkers.py's)
    with bridge("--top-talkers-budget", "100000") as b, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in sent:
            s.sendto(d, ("127.0.0.1", b.udp))
        wait_for(b, len(sent))
        status, doc = b.call("GET", "/flows/json?by=src,dst,proto,sport,dport&top=10")
        _, by_source = b.call("GET", "/flows/json?by=agent,interface&top=5")
    assert status == 200, doc
    assert isinstance(doc, dict) and isinstance(by_source, dict)
    rows = {(r["src"], r["dst"], r["sport"], r["dport"]): r for r in doc["top"]}
    assert len(rows) == len(MIX), doc
    total_samples = 0
    for src, dst, proto, sport, dport, true_packets, wire in MIX:
        r = rows[(src, dst, sport, dport)]
        assert r["proto"] == {6: "tcp", 17: "udp"}[proto]
        n = r["samples"]
        total_samples += n
        bound = Z * math.sqrt(1 / n)
        assert abs(r["packets"] - true_packets) / true_packets <= bound, (r, true_packets, bound)
        # frame length on the wire: the agent reports wire + 4 (the FCS), as sflowtool -R does
        true_bytes = true_packets * (wire + 4)
        assert abs(r["bytes"] - true_bytes) / true_bytes <= bound, (r, true_bytes, bound)
        assert r["packets"] == n * RATE  # each sample stands for RATE packets
    # the heaviest in bytes first
    assert [r["src"] for r in doc["top"]][:2] == ["10.0.0.1", "2001:db8::3"]
    assert doc["samples"] == total_samples == agent.sample_seq
    assert doc["sampling"] == 1  # under the budget: every sample read
    (only,) = by_source["top"]  # SamplingAgent samples data source 0:0
    assert only["agent"] == "192.0.2.50/24336" and only["samples"] == total_samples
