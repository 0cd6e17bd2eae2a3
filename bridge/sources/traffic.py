"""Well-formed traffic for the demo agent: whole frames of conversations, as a switch port would see them.

Every frame is complete and correct (lengths, and the IPv4, TCP, UDP, ICMP and ICMPv6
checksums over the whole packet) before an agent takes its first 128 bytes: TCP
connections with a handshake, a request, the response's segments with advancing
sequence numbers and a FIN; DNS queries and their answers; pings and their replies;
ARP. A flow moves on by a few packets each time it is sampled, as 1-in-N sampling
skips packets, and never goes back: tshark sees no retransmission, no bad checksum
and no malformed packet in the demo's stream (tests/integration/test_demo_traffic.py).
"""

from __future__ import annotations

import ipaddress
import random
import struct
from typing import Final

from bridge.sflow.encode import checksum

MSS: Final = 1448
ETH_MIN: Final = 60  # frames are padded to Ethernet's minimum, FCS not included
_TCP_FIN, _TCP_SYN, _TCP_PSH, _TCP_ACK = 0x01, 0x02, 0x08, 0x10


def _sum16(data: bytes) -> int:
    """The one's complement sum of 16-bit words, before folding (checksums of parts add up)."""
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f">{len(data) // 2}H", data))


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF or 0xFFFF  # a computed 0 is sent as 0xFFFF (UDP: 0 means "no checksum")


class Host:
    __slots__ = ("mac", "ip", "packed", "v6")

    def __init__(self, mac: bytes, ip: str) -> None:
        self.mac = mac
        self.ip = ip
        self.packed = ipaddress.ip_address(ip).packed
        self.v6 = len(self.packed) == 16


def ip_packet(src: Host, dst: Host, proto: int, l4: bytes, l4_sum: int, ident: int, ttl: int = 64) -> bytes:
    """IPv4 or IPv6 around ``l4``, whose checksum field (at the protocol's place) is filled in from ``l4_sum``."""
    if src.v6:
        pseudo = _sum16(src.packed + dst.packed + struct.pack(">IxxxB", len(l4), proto))
        head = struct.pack(">IHBB", 0x60000000, len(l4), proto, ttl) + src.packed + dst.packed
    else:
        pseudo = _sum16(src.packed + dst.packed + struct.pack(">xBH", proto, len(l4))) if proto != 1 else 0
        head = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0x4000, ttl, proto, 0,
                           src.packed, dst.packed)  # fmt: skip
        head = head[:10] + struct.pack(">H", checksum(head)) + head[12:]
    at = {6: 16, 17: 6, 1: 2, 58: 2}[proto]
    cs = _fold(pseudo + l4_sum)
    return head + l4[:at] + struct.pack(">H", cs) + l4[at + 2 :]


def frame(src: Host, dst: Host, ethertype: int, payload: bytes, vlan: int | None) -> bytes:
    tag = struct.pack(">HH", 0x8100, vlan) if vlan is not None else b""
    f = dst.mac + src.mac + tag + struct.pack(">H", ethertype) + payload
    return f + bytes(max(0, ETH_MIN - len(f)))


def _ip_frame(src: Host, dst: Host, proto: int, l4: bytes, l4_sum: int, ident: int, vlan: int | None) -> bytes:
    return frame(src, dst, 0x86DD if src.v6 else 0x0800, ip_packet(src, dst, proto, l4, l4_sum, ident), vlan)


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


NAMES: Final = ("example.com", "example.org", "www.example.net", "ntp.example.com", "mail.example.org",
                "api.example.com", "cdn.example.net", "login.example.com")  # fmt: skip


class Conversation:
    """One flow's packets in order; ``step`` moves on by ``n`` and returns the frame there."""

    def __init__(self, client: Host, server: Host, vlan: int | None, rnd: random.Random) -> None:
        self.client = client
        self.server = server
        self.vlan = vlan
        self.rnd = rnd
        self.ident = rnd.randrange(1 << 16)
        self.index = -1
        self.restart()

    def restart(self) -> None:
        self.index = -1

    def length(self) -> int:
        raise NotImplementedError

    def packet(self, i: int) -> bytes:
        raise NotImplementedError

    def step(self, n: int) -> bytes:
        self.index += n
        if self.index >= self.length():
            self.restart()  # a new connection (new port, new sequence numbers) from the same pair of hosts
            self.index = 0
        self.ident += 1
        return self.packet(self.index)


# payload bytes for response segments, shared by every connection: a flow's segments are cut from one of these
_BLOCKS: Final = [random.Random(n).randbytes(MSS) for n in range(8)]


class TcpConversation(Conversation):
    """SYN, SYN-ACK, ACK, the request, the response in MSS-sized segments, the client's FIN."""

    def __init__(self, client: Host, server: Host, vlan: int | None, rnd: random.Random, port: int) -> None:
        self.port = port
        super().__init__(client, server, vlan, rnd)

    def restart(self) -> None:
        rnd = self.rnd
        self.index = -1
        self.sport = rnd.randrange(32768, 61000)
        self.isn_c = rnd.randrange(1 << 32)
        self.isn_s = rnd.randrange(1 << 32)
        self.block = _BLOCKS[rnd.randrange(len(_BLOCKS))]
        self.segments = rnd.randrange(2, 40)
        self.last = rnd.randrange(64, MSS)  # the last segment's length; the others are MSS long
        size = (self.segments - 1) * MSS + self.last
        name = rnd.choice(NAMES)
        if self.port == 80:
            self.request = f"GET /file/{rnd.randrange(10**6)} HTTP/1.1\r\nHost: {name}\r\nAccept: */*\r\n\r\n".encode()
            self.head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: "
                         f"{size - 100}\r\n\r\n").encode()  # fmt: skip
            self.head = self.head + bytes(100 - len(self.head))  # the body starts 100 bytes in: sizes add up
        else:
            self.request = b"\x17\x03\x03" + struct.pack(">H", 64) + rnd.randbytes(64)  # a TLS application record
            self.head = b""

    def length(self) -> int:
        return 4 + self.segments + 1

    def _tcp(self, src: Host, dst: Host, sport: int, dport: int, seq: int, ack: int, flags: int,
             payload: bytes = b"") -> bytes:  # fmt: skip
        win = 502 if flags & _TCP_SYN == 0 else 64240
        head = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, win, 0, 0)
        return _ip_frame(src, dst, 6, head + payload, _sum16(head + payload), self.ident, self.vlan)

    def segment(self, k: int) -> bytes:
        n = MSS if k < self.segments - 1 else self.last
        if self.port == 80:
            return (self.head + self.block)[:n] if k == 0 else self.block[:n]
        return b"\x17\x03\x03" + struct.pack(">H", n - 5) + self.block[: n - 5]  # one TLS record per segment

    def packet(self, i: int) -> bytes:
        c, s, cp, sp = self.client, self.server, self.sport, self.port
        after_request = self.isn_c + 1 + len(self.request)
        if i == 0:
            return self._tcp(c, s, cp, sp, self.isn_c, 0, _TCP_SYN)
        if i == 1:
            return self._tcp(s, c, sp, cp, self.isn_s, self.isn_c + 1, _TCP_SYN | _TCP_ACK)
        if i == 2:
            return self._tcp(c, s, cp, sp, self.isn_c + 1, self.isn_s + 1, _TCP_ACK)
        if i == 3:
            return self._tcp(c, s, cp, sp, self.isn_c + 1, self.isn_s + 1, _TCP_PSH | _TCP_ACK, self.request)
        k = i - 4
        if k < self.segments:
            flags = _TCP_ACK | (_TCP_PSH if k == self.segments - 1 else 0)
            return self._tcp(s, c, sp, cp, self.isn_s + 1 + k * MSS, after_request, flags, self.segment(k))
        done = self.isn_s + 1 + (self.segments - 1) * MSS + self.last
        return self._tcp(c, s, cp, sp, after_request, done, _TCP_FIN | _TCP_ACK)


class DnsConversation(Conversation):
    """A query and its answer, again and again, each with a new ID and port."""

    def restart(self) -> None:
        self.index = -1
        self.sport = self.rnd.randrange(32768, 61000)
        self.qid = self.rnd.randrange(1 << 16)
        self.name = self.rnd.choice(NAMES)

    def length(self) -> int:
        return 2

    def _udp(self, src: Host, dst: Host, sport: int, dport: int, payload: bytes) -> bytes:
        head = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0)
        return _ip_frame(src, dst, 17, head + payload, _sum16(head + payload), self.ident, self.vlan)

    def packet(self, i: int) -> bytes:
        qtype = 28 if self.client.v6 else 1
        question = dns_name(self.name) + struct.pack(">HH", qtype, 1)
        if i == 0:
            query = struct.pack(">HHHHHH", self.qid, 0x0100, 1, 0, 0, 0) + question
            return self._udp(self.client, self.server, self.sport, 53, query)
        rdata = ipaddress.ip_address("2001:db8:80::" + str(self.qid % 99 + 1) if qtype == 28 else
                                     f"203.0.113.{self.qid % 250 + 1}").packed  # fmt: skip
        answer = struct.pack(">HHHIH", 0xC00C, qtype, 1, 300, len(rdata)) + rdata
        reply = struct.pack(">HHHHHH", self.qid, 0x8180, 1, 1, 0, 0) + question + answer
        return self._udp(self.server, self.client, 53, self.sport, reply)


class PingConversation(Conversation):
    """Echo requests and replies (ICMP or ICMPv6), the sequence number going up."""

    def restart(self) -> None:
        self.index = -1
        self.echo_id = self.rnd.randrange(1 << 16)
        self.payload = self.rnd.randbytes(56)

    def length(self) -> int:
        return 64

    def packet(self, i: int) -> bytes:
        v6 = self.client.v6
        kind = (128 if i % 2 == 0 else 129) if v6 else (8 if i % 2 == 0 else 0)
        src, dst = (self.client, self.server) if i % 2 == 0 else (self.server, self.client)
        body = struct.pack(">BBHHH", kind, 0, 0, self.echo_id, i // 2 + 1) + self.payload
        return _ip_frame(src, dst, 58 if v6 else 1, body, _sum16(body), self.ident, self.vlan)


class ArpConversation(Conversation):
    """Who-has and is-at between two IPv4 hosts."""

    def length(self) -> int:
        return 2

    def packet(self, i: int) -> bytes:
        c, s = self.client, self.server
        if i == 0:
            body = struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + c.mac + c.packed + bytes(6) + s.packed
            who = Host(b"\xff" * 6, s.ip)
            return frame(c, who, 0x0806, body, self.vlan)
        body = struct.pack(">HHBBH", 1, 0x0800, 6, 4, 2) + s.mac + s.packed + c.mac + c.packed
        return frame(s, c, 0x0806, body, self.vlan)


# discard samples of the demo: (reason code, what the dropped packet is)
DROPS: Final = ((258, "acl"), (257, "ttl_exceeded"), (269, "blackhole_route"), (259, "no_buffer_space"))


def dropped_packet(rnd: random.Random, reason: int, client: Host, server: Host, vlan: int | None) -> bytes:
    """A packet a switch would drop for ``reason``: well-formed, and never a repeat of one before it."""
    sport = rnd.randrange(32768, 61000)
    ident = rnd.randrange(1 << 16)
    if reason == 258:  # acl: telnet refused
        head = struct.pack(">HHIIBBHHH", sport, 23, rnd.randrange(1 << 32), 0, 5 << 4, _TCP_SYN, 64240, 0, 0)
        return _ip_frame(client, server, 6, head, _sum16(head), ident, vlan)
    if reason == 257:  # ttl_exceeded: a traceroute probe
        payload = bytes(32)
        head = struct.pack(">HHHH", sport, 33434 + rnd.randrange(30), 8 + len(payload), 0)
        ip = ip_packet(client, server, 17, head + payload, _sum16(head + payload), ident, ttl=1)
        return frame(client, server, 0x86DD if client.v6 else 0x0800, ip, vlan)
    # blackhole_route, no_buffer_space: a connection attempt to a web server
    dst = Host(server.mac, "2001:db8:dead::1" if client.v6 else "198.18.0.1") if reason == 269 else server
    head = struct.pack(">HHIIBBHHH", sport, 443, rnd.randrange(1 << 32), 0, 5 << 4, _TCP_SYN, 64240, 0, 0)
    return _ip_frame(client, dst, 6, head, _sum16(head), ident, vlan)
