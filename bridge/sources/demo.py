"""A synthetic sFlow agent population: real datagrams for the demo, tests and benchmarks.

Agents sample a shared population of flows (TCP, UDP and ICMP over IPv4 and IPv6,
some 802.1Q tagged) and export flow samples with 128-byte sampled headers and
extended switch/router/gateway records, plus interface counter samples. Sequence
numbers, sample pools and counters advance as a real agent's do. Deterministic for
a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from bridge.sflow import encode as enc


class Flow:
    __slots__ = ("frame", "length", "vlan", "v6")

    def __init__(self, rnd: random.Random, i: int) -> None:
        self.v6 = rnd.random() < 0.3
        proto = rnd.choices((6, 17, 1), (0.6, 0.3, 0.1))[0]
        sport = rnd.randrange(1024, 65535)
        dport = rnd.choice((53, 80, 443, 22, 123, 8080, 3306, 5201))
        if proto == 1:
            sport, dport = 8, 0  # echo request
        payload = bytes(rnd.randrange(256) for _ in range(160))
        l4 = enc.l4(proto, sport, dport, payload)
        if self.v6:
            proto6 = 58 if proto == 1 else proto
            ip = enc.ipv6(f"2001:db8:{i % 256:x}::{i % 9973 + 1:x}", f"2001:db8:ff::{i % 499 + 1:x}", proto6, l4)
            ethertype = 0x86DD
        else:
            ip = enc.ipv4(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 254 + 1}", f"192.0.2.{i % 200 + 1}", proto, l4)
            ethertype = 0x0800
        self.vlan = rnd.choice((None, None, 10, 20, 30))
        src = bytes((0x02, 0, 0, i >> 16 & 255, i >> 8 & 255, i & 255))
        dst = bytes((0x02, 0xAA, 0, 0, 0, i % 7 + 1))
        self.frame = enc.ethernet(dst, src, ethertype, ip, self.vlan)
        self.length = len(self.frame) + rnd.randrange(0, 1200)


class Agent:
    def __init__(self, rnd: random.Random, index: int) -> None:
        self.address = f"192.0.2.{index + 1}" if index < 254 else f"198.51.100.{index - 253}"
        self.seq = 0
        self.uptime = rnd.randrange(1_000_000, 90_000_000)
        self.rate = rnd.choice((256, 512, 1024, 2048))
        self.ports = [rnd.randrange(1, 49) for _ in range(8)]
        self.sample_seq = {p: 0 for p in self.ports}
        self.pool = {p: 0 for p in self.ports}
        self.counter_seq = {p: 0 for p in self.ports}
        self.octets = {p: rnd.randrange(1 << 40) for p in self.ports}


class Population:
    """Yields sFlow datagrams from ``agents`` agents sampling ``flows`` flows."""

    def __init__(self, agents: int = 50, flows: int = 20_000, seed: int = 1) -> None:
        self.rnd = random.Random(seed)
        self.flows = [Flow(self.rnd, i) for i in range(flows)]
        self.agents = [Agent(self.rnd, i) for i in range(agents)]

    def datagram(self) -> bytes:
        rnd = self.rnd
        a = rnd.choice(self.agents)
        a.seq += 1
        a.uptime += rnd.randrange(10, 1000)
        samples = []
        for _ in range(rnd.randrange(4, 9)):
            port = rnd.choice(a.ports)
            flow = rnd.choice(self.flows)
            a.sample_seq[port] += 1
            a.pool[port] += a.rate + rnd.randrange(-a.rate // 4, a.rate // 4)
            out_port = rnd.choice(a.ports)
            records = [enc.sampled_header(flow.frame, flow.length)]
            if flow.vlan is not None or rnd.random() < 0.3:
                v = flow.vlan or 1
                records.append(enc.extended_switch(v, v))
            if rnd.random() < 0.3:
                nh = "2001:db8::1" if flow.v6 else "10.0.0.1"
                records.append(enc.extended_router(nh, 24, 24))
            if rnd.random() < 0.2:
                records.append(enc.extended_gateway("10.0.0.254", 64512, 64500, 64501, [64501, 64496, 65000]))
            samples.append(enc.flow_sample(a.sample_seq[port], port, a.rate, a.pool[port], records, port, out_port))
        for _ in range(rnd.randrange(1, 3)):
            port = rnd.choice(a.ports)
            a.counter_seq[port] += 1
            a.octets[port] += rnd.randrange(1 << 20)
            pkts = a.octets[port] // 700 & 0xFFFFFFFF
            samples.append(
                enc.counters_sample(
                    a.counter_seq[port],
                    port,
                    [enc.generic_counters(port, 10_000_000_000, a.octets[port], a.octets[port] // 2, pkts, pkts // 2),
                     enc.ethernet_counters()],
                )
            )  # fmt: skip
        return enc.datagram(a.address, 0, a.seq, a.uptime, samples)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            yield self.datagram()
