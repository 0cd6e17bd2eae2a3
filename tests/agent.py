"""A test sFlow agent: known packets, encoded as flow samples and sent over loopback."""

from __future__ import annotations

import socket
import struct

from bridge.sflow import encode as enc

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def dns_query(name: str = "example.com", ident: int = 0x1234) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + q


def packets() -> list[tuple[str, bytes]]:
    """(label, Ethernet frame) for a known mix of traffic."""
    dns4 = enc.ipv4("10.1.1.1", "10.2.2.2", 17, enc.l4(17, 40000, 53, dns_query()))
    dns6 = enc.ipv6("2001:db8::1", "2001:db8::53", 17, enc.l4(17, 40001, 53, dns_query("example.org")))
    syn = enc.ipv4("10.1.1.1", "10.3.3.3", 6, enc.l4(6, 50000, 443, b"", flags=0x02))
    ack = enc.ipv4("10.1.1.1", "10.3.3.3", 6, enc.l4(6, 50000, 443, b"x" * 100, flags=0x10))
    ping = enc.ipv4("10.1.1.1", "10.4.4.4", 1, enc.l4(1, 8, 0, b"p" * 56))
    return [
        ("dns4", enc.ethernet(MAC_A, MAC_B, 0x0800, dns4)),
        ("dns6", enc.ethernet(MAC_A, MAC_B, 0x86DD, dns6)),
        ("syn", enc.ethernet(MAC_A, MAC_B, 0x0800, syn)),
        ("ack", enc.ethernet(MAC_A, MAC_B, 0x0800, ack, vlan=10)),
        ("ping", enc.ethernet(MAC_A, MAC_B, 0x0800, ping)),
    ]


def datagram(
    seq: int, frames: list[bytes], agent: str = "192.0.2.7", protocol: int = 1, counters: bool = False
) -> bytes:
    """One datagram with a flow sample per frame; protocol 11/12 sends the IP packet without its MAC header.

    With ``counters``, a counter sample for ifIndex 5 follows, with ifInOctets = 1000000 * seq.
    """
    samples = []
    for i, f in enumerate(frames):
        if protocol == 1:
            rec = enc.sampled_header(f)
        else:
            ip = f[18:] if f[12:14] == b"\x81\x00" else f[14:]
            rec = enc.sampled_header(ip, protocol=protocol)
        n = (seq - 1) * len(frames) + i + 1  # sample sequence numbers run on from datagram to datagram
        samples.append(enc.flow_sample(n, 5, 1000, n * 1000, [rec], 5, 7))
    if counters:
        generic = enc.generic_counters(5, 10**9, 1_000_000 * seq, 500_000 * seq, 1000 * seq, 500 * seq)
        samples.append(enc.counters_sample(seq, 5, [generic, enc.ethernet_counters()]))
    return enc.datagram(agent, 0, seq, 1000 * seq, samples)


def send(dest: tuple[str, int], datagrams: list[bytes]) -> None:
    family = socket.AF_INET6 if ":" in dest[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, dest)
