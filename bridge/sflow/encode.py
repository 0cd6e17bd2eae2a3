"""Encoding sFlow v5 datagrams, for the demo agent, the benchmark and tests.

Small builders for the structures a switch sends most: flow samples with a sampled
header and extended switch/router/gateway records, counter samples with generic
and Ethernet interface counters.
"""

from __future__ import annotations

import ipaddress
import random
import struct
import time
from collections.abc import Callable, Iterable


def _u32(v: int) -> bytes:
    return struct.pack(">I", v & 0xFFFFFFFF)


def _u64(v: int) -> bytes:
    return struct.pack(">Q", v & 0xFFFFFFFFFFFFFFFF)


def _opaque(b: bytes) -> bytes:
    return _u32(len(b)) + b + bytes(-len(b) % 4)


def address(text: str) -> bytes:
    ip = ipaddress.ip_address(text)
    return _u32(1 if ip.version == 4 else 2) + ip.packed


def record(tag: int, body: bytes) -> bytes:
    return _u32(tag) + _u32(len(body)) + body


def sampled_header(frame: bytes, frame_length: int | None = None, protocol: int = 1, snap: int = 128) -> bytes:
    """flow record 0:1; frame_length counts the 4-byte FCS, reported as stripped."""
    head = frame[:snap]
    length = (len(frame) if frame_length is None else frame_length) + 4
    return record(1, _u32(protocol) + _u32(length) + _u32(4) + _opaque(head))


def extended_switch(in_vlan: int, out_vlan: int, in_pri: int = 0, out_pri: int = 0) -> bytes:
    return record(1001, _u32(in_vlan) + _u32(in_pri) + _u32(out_vlan) + _u32(out_pri))


def extended_router(next_hop: str, src_mask: int, dst_mask: int) -> bytes:
    return record(1002, address(next_hop) + _u32(src_mask) + _u32(dst_mask))


def extended_gateway(next_hop: str, my_as: int, src_as: int, src_peer_as: int, path: list[int]) -> bytes:
    segs = _u32(1) + _u32(2) + _u32(len(path)) + b"".join(_u32(a) for a in path) if path else _u32(0)
    return record(1003, address(next_hop) + _u32(my_as) + _u32(src_as) + _u32(src_peer_as) + segs + _u32(0) + _u32(100))


def flow_sample(
    seq: int, ds_index: int, rate: int, pool: int, records: Iterable[bytes], in_port: int, out_port: int, drops: int = 0
) -> bytes:
    recs = list(records)
    body = (
        _u32(seq)
        + _u32(ds_index & 0xFFFFFF)
        + _u32(rate)
        + _u32(pool)
        + _u32(drops)
        + _u32(in_port)
        + _u32(out_port)
        + _u32(len(recs))
        + b"".join(recs)
    )
    return record(1, body)


def discard_sample(
    seq: int, ds_index: int, reason: int, records: Iterable[bytes], in_if: int = 0, out_if: int = 0, drops: int = 0
) -> bytes:
    """A discarded packet event (sample 0:5, sFlow drop monitoring): reason is a sflow_drop.h code."""
    recs = list(records)
    body = _u32(seq) + _u32(0) + _u32(ds_index) + _u32(drops) + _u32(in_if) + _u32(out_if) + _u32(reason)
    return record(5, body + _u32(len(recs)) + b"".join(recs))


def generic_counters(if_index: int, speed: int, in_octets: int, out_octets: int, in_pkts: int, out_pkts: int) -> bytes:
    body = (
        _u32(if_index)
        + _u32(6)
        + _u64(speed)
        + _u32(1)
        + _u32(3)
        + _u64(in_octets)
        + _u32(in_pkts)
        + _u32(in_pkts // 50)
        + _u32(in_pkts // 100)
        + _u32(0) * 3
        + _u64(out_octets)
        + _u32(out_pkts)
        + _u32(out_pkts // 50)
        + _u32(out_pkts // 100)
        + _u32(0) * 3
    )
    return record(1, body)


def ethernet_counters() -> bytes:
    return record(2, _u32(0) * 13)


def counters_sample(seq: int, ds_index: int, records: Iterable[bytes]) -> bytes:
    recs = list(records)
    return record(2, _u32(seq) + _u32(ds_index & 0xFFFFFF) + _u32(len(recs)) + b"".join(recs))


def datagram(agent: str, sub_agent: int, seq: int, uptime_ms: int, samples: list[bytes]) -> bytes:
    return (
        _u32(5)
        + address(agent)
        + _u32(sub_agent)
        + _u32(seq)
        + _u32(uptime_ms)
        + _u32(len(samples))
        + b"".join(samples)
    )


# ---- sampled packets


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    tag = struct.pack(">HH", 0x8100, vlan) if vlan is not None else b""
    return dst + src + tag + struct.pack(">H", ethertype) + payload


def l4(proto: int, sport: int, dport: int, payload: bytes, flags: int = 0x18) -> bytes:
    if proto == 6:
        return struct.pack(">HHIIBBHHH", sport, dport, 1000, 2000, 5 << 4, flags, 65535, 0, 0) + payload
    if proto == 17:
        return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    return struct.pack(">BBHHH", sport, dport, 0, 1, 1) + payload  # ICMP: sport=type, dport=code


def ipv4(src: str, dst: str, proto: int, l4data: bytes, ttl: int = 64, ident: int = 1) -> bytes:
    hdr = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(l4data),
        ident,
        0x4000,
        ttl,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    hdr = hdr[:10] + struct.pack(">H", checksum(hdr)) + hdr[12:]
    return hdr + l4data


def ipv6(src: str, dst: str, proto: int, l4data: bytes, hop_limit: int = 64) -> bytes:
    return (
        struct.pack(">IHBB", 0x60000000, len(l4data), proto, hop_limit)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + l4data
    )


def expanded_flow_sample(
    seq: int, ds_class: int, ds_index: int, rate: int, pool: int, records: Iterable[bytes],
    in_port: int = 0, out_port: int = 0, drops: int = 0,
) -> bytes:  # fmt: skip
    """flow sample 0:3 (the expanded form, with 32-bit data source and interface fields)."""
    recs = list(records)
    head = struct.pack(">11I", seq & 0xFFFFFFFF, ds_class, ds_index, rate, pool & 0xFFFFFFFF, drops, 0, in_port,
                       0, out_port, len(recs))  # fmt: skip
    return record(3, head + b"".join(recs))


class SamplingAgent:
    """A software sFlow agent: samples 1 in ``rate`` of the packets it is shown and exports them.

    What ``sflowtool -R N`` does with a capture of plain packets: each sampled packet
    becomes an expanded flow sample from data source 0:0 with one sampled-header record
    (Ethernet, frame length = wire length + 4, stripped 4, at most 128 header bytes);
    samples are packed into datagrams of under 1,500 bytes from agent 0.0.0.0,
    sub-agent 24336, sent when the next sample would not fit, when 500 ms have passed
    since the last one, and (unlike sflowtool) by ``flush()`` at the end of the input.
    The skip between samples is random, 1 to 2N-1 packets (mean N), the first packet
    always sampled. Sequence numbers and the sample pool run as an agent's do.
    """

    MAX_DATAGRAM = 1500
    HEADER_BYTES = 128
    FLUSH_MS = 500

    def __init__(
        self,
        rate: int,
        send: Callable[[bytes], None],
        now_ms: Callable[[], int] | None = None,
        agent: str = "0.0.0.0",
        sub_agent: int = 0x5F10,
        rnd: random.Random | None = None,
    ) -> None:
        self.rate = max(1, rate)
        self.send = send
        self.now_ms = now_ms or (lambda: time.monotonic_ns() // 1_000_000)
        self.rnd = rnd or random.Random()
        self.agent = agent
        self.sub_agent = sub_agent
        self.empty = len(datagram(agent, sub_agent, 0, 0, []))  # the datagram header's size
        self.boot_ms = self.now_ms()
        self.last_send_ms = -self.FLUSH_MS - 1  # the first sample goes out at once, as sflowtool's does
        self.pool = 0
        self.skip = 0
        self.sample_seq = 0
        self.datagram_seq = 0
        self.samples: list[bytes] = []
        self.length = self.empty

    def packet(self, frame: bytes, wire_length: int) -> None:
        """One packet seen on the wire (``frame`` as captured, maybe cut short of ``wire_length``)."""
        self.pool += 1
        self.skip -= 1
        if self.skip <= 0:
            self.skip = self.rnd.randint(1, 2 * self.rate - 1)
            self.sample_seq += 1
            header = sampled_header(frame[: self.HEADER_BYTES], wire_length)
            self.add(expanded_flow_sample(self.sample_seq, 0, 0, self.rate, self.pool, [header]))
        self.tick()

    def add(self, sample: bytes) -> None:
        if self.length + len(sample) >= self.MAX_DATAGRAM:
            self.flush()
        self.samples.append(sample)
        self.length += len(sample)

    def due_ms(self) -> int | None:
        """When what waits must go out, on the agent's clock (None when nothing waits)."""
        return self.last_send_ms + self.FLUSH_MS + 1 if self.samples else None

    def tick(self) -> None:
        """Sends what is waiting once it is 500 ms old; call it while no packet comes."""
        if self.now_ms() - self.last_send_ms > self.FLUSH_MS:
            self.flush()

    def flush(self) -> None:
        if not self.samples:
            return
        now = self.now_ms()
        self.last_send_ms = now
        self.datagram_seq += 1
        self.send(datagram(self.agent, self.sub_agent, self.datagram_seq, now - self.boot_ms, self.samples))
        self.samples = []
        self.length = self.empty
