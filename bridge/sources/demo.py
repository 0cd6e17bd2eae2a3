"""A synthetic sFlow agent population: real datagrams for the demo, tests and benchmarks.

Agents sample a shared population of conversations (bridge/sources/traffic.py: TCP
connections to web servers over IPv4 and IPv6, DNS queries and answers, pings, ARP;
some 802.1Q tagged), every frame whole and correct before its first 128 bytes are
taken, and export flow samples with extended switch/router/gateway records, interface
counter samples, and now and then a discard sample: a packet a switch dropped, with
the reason. Sequence numbers, sample pools and counters advance as a real agent's do.
Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from bridge.sflow import encode as enc
from bridge.sources.traffic import (
    DROPS,
    ArpConversation,
    Conversation,
    DnsConversation,
    Host,
    PingConversation,
    TcpConversation,
    dropped_packet,
)


def _mac(a: int, b: int) -> bytes:
    return bytes((0x02, a & 255, 0, b >> 16 & 255, b >> 8 & 255, b & 255))


class Flow:
    """A conversation between a client and a server, sampled packet by packet."""

    __slots__ = ("talk", "v6", "vlan")

    def __init__(self, rnd: random.Random, i: int) -> None:
        self.v6 = rnd.random() < 0.3
        self.vlan = rnd.choice((None, None, 10, 20, 30))
        kind = rnd.choices(("http", "tls", "dns", "ping", "arp"), (0.3, 0.35, 0.2, 0.08, 0.07))[0]
        if kind == "arp":
            self.v6 = False
        if self.v6:
            client = Host(_mac(0, i), f"2001:db8:{i % 256:x}::{i % 9973 + 1:x}")
            server = Host(_mac(0xAB, i % 499 + 1), f"2001:db8:ff::{i % 499 + 1:x}")  # one MAC per address
        else:
            client = Host(_mac(0, i), f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 254 + 1}")
            server = Host(_mac(0xAA, i % 200 + 1), f"192.0.2.{i % 200 + 1}")
        self.talk: Conversation
        if kind == "http":
            self.talk = TcpConversation(client, server, self.vlan, rnd, 80)
        elif kind == "tls":
            self.talk = TcpConversation(client, server, self.vlan, rnd, 443)
        elif kind == "dns":
            self.talk = DnsConversation(client, server, self.vlan, rnd)
        elif kind == "ping":
            self.talk = PingConversation(client, server, self.vlan, rnd)
        else:
            self.talk = ArpConversation(client, server, self.vlan, rnd)


def agent_address(index: int) -> str:
    """The documentation ranges first (192.0.2.1 ..., then 198.51.100.1 ...), then 10.0.0.0/8 for large populations."""
    if index < 254:
        return f"192.0.2.{index + 1}"
    if index < 508:
        return f"198.51.100.{index - 253}"
    n = index - 508 + 1
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


class Agent:
    def __init__(self, rnd: random.Random, index: int) -> None:
        self.address = agent_address(index)
        self.seq = 0
        self.uptime = rnd.randrange(1_000_000, 90_000_000)
        self.rate = rnd.choice((256, 512, 1024, 2048))
        self.ports = [rnd.randrange(1, 49) for _ in range(8)]
        self.sample_seq = {p: 0 for p in self.ports}
        self.pool = {p: 0 for p in self.ports}
        self.counter_seq = {p: 0 for p in self.ports}
        self.discard_seq = {p: 0 for p in self.ports}
        self.octets = {p: rnd.randrange(1 << 40) for p in self.ports}


class Population:
    """Yields sFlow datagrams from ``agents`` agents sampling ``flows`` flows."""

    def __init__(self, agents: int = 50, flows: int = 20_000, seed: int = 1, first_agent: int = 0) -> None:
        self.rnd = random.Random(seed)
        self.flows = [Flow(self.rnd, i) for i in range(flows)]
        self.agents = [Agent(self.rnd, first_agent + i) for i in range(agents)]
        self.first = 0  # agents that have sent: each sends once, in order, before the rest is at random

    def datagram(self) -> bytes:
        rnd = self.rnd
        if self.first < len(self.agents):  # every agent appears within the first datagrams, however many there are
            a = self.agents[self.first]
            self.first += 1
        else:
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
            packet = flow.talk.step(rnd.randrange(1, 4))  # the packets between two samples are not seen
            records = [enc.sampled_header(packet)]
            if flow.vlan is not None or rnd.random() < 0.3:
                v = flow.vlan or 1
                records.append(enc.extended_switch(v, v))
            if rnd.random() < 0.3:
                nh = "2001:db8::1" if flow.v6 else "10.0.0.1"
                records.append(enc.extended_router(nh, 24, 24))
            if rnd.random() < 0.2:
                records.append(enc.extended_gateway("10.0.0.254", 64512, 64500, 64501, [64501, 64496, 65000]))
            samples.append(enc.flow_sample(a.sample_seq[port], port, a.rate, a.pool[port], records, port, out_port))
        if rnd.random() < 0.1:  # a packet the switch dropped, and why
            port = rnd.choice(a.ports)
            a.discard_seq[port] += 1
            reason = rnd.choice(DROPS)[0]
            talk = rnd.choice(self.flows).talk
            packet = dropped_packet(rnd, reason, talk.client, talk.server, talk.vlan)
            samples.append(enc.discard_sample(a.discard_seq[port], port, reason, [enc.sampled_header(packet)],
                                              in_if=port, drops=rnd.randrange(3)))  # fmt: skip
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
