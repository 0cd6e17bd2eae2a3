"""NetFlow v5 and v9 records from sFlow flow samples, as ``sflowtool -c HOST -d PORT`` sends them.

One NetFlow datagram per flow sample: v5 for samples with an IPv4 layer; with v9
(``-N 9``) a template flowset and one data record, template 256 for IPv4 and 257
for IPv6. Byte for byte sflowtool's, except the clock: sflowtool computes
sysUpTime as ``htonl(now % 86400) * 1000`` (a byte-swapped value multiplied, so
not milliseconds at all on a little-endian host); here it is the milliseconds
since the exporter started, as a collector expects.

Pure: the clock comes from the caller; sockets live in ``bridge.transport.netflow_sender``.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

from bridge.sflow import events as E
from bridge.sflow.datagram import Datagram
from bridge.sflow.reader import Sample

_V5_HEADER = struct.Struct(">HHIIIIBBH")
_V5_RECORD = struct.Struct(">4s4s4sHHIIIIHHBBBBHHBBH")
_V9_HEADER = struct.Struct(">HHIIII")
_V9_IPV4 = struct.Struct(">4s4s4sIIIIIIHHBBBIIBBI")
_V9_IPV6 = struct.Struct(">16s16s16sIIIIIIIHHBBBIIBBI")

# (element id, size) of each field, in record order
_FIELDS_IPV4 = ((8, 4), (12, 4), (15, 4), (10, 4), (14, 4), (2, 4), (1, 4), (22, 4), (21, 4), (7, 2), (11, 2),
                (6, 1), (4, 1), (5, 1), (16, 4), (17, 4), (9, 1), (13, 1), (34, 4))  # fmt: skip
_FIELDS_IPV6 = ((27, 16), (28, 16), (62, 16), (10, 4), (14, 4), (2, 4), (1, 4), (22, 4), (21, 4), (31, 4), (7, 2),
                (11, 2), (6, 1), (4, 1), (5, 1), (16, 4), (17, 4), (9, 1), (13, 1), (34, 4))  # fmt: skip
TEMPLATE_IPV4 = 256
TEMPLATE_IPV6 = 257


def _template(template_id: int, fields: tuple[tuple[int, int], ...]) -> bytes:
    body = struct.pack(">HH", template_id, len(fields)) + b"".join(struct.pack(">HH", i, n) for i, n in fields)
    return struct.pack(">HH", 0, 4 + len(body)) + body


_TEMPLATE_FLOWSET_IPV4 = _template(TEMPLATE_IPV4, _FIELDS_IPV4)
_TEMPLATE_FLOWSET_IPV6 = _template(TEMPLATE_IPV6, _FIELDS_IPV6)


def _addr16(text: str) -> bytes:
    """An address as sflowtool's SFLAddress union holds it: 16 bytes, an IPv4 one in the first 4."""
    if text == "-" or not text:
        return bytes(16)
    if ":" in text:
        return socket.inet_pton(socket.AF_INET6, text)
    return socket.inet_aton(text) + bytes(12)


class NetflowEncoder:
    """Turns the flow samples of decoded datagrams into NetFlow datagrams (bytes).

    ``version`` 5 or 9; ``peer_as`` exports the peer AS numbers instead of the
    origin ones (``-e``); ``scale`` False sends packets=1 and the sampling rate
    instead of multiplying (``-s``).
    """

    sample_filter: Callable[[Sample], bool] | None = None

    def __init__(
        self,
        version: int = 5,
        peer_as: bool = False,
        scale: bool = True,
        clock: Callable[[], float] = time.time,
        uptime_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if version not in (5, 9):
            raise ValueError("invalid netflow version specified (use 5 or 9)")
        self.version = version
        self.peer_as = peer_as
        self.scale = scale
        self.clock = clock
        self.uptime_clock = uptime_clock
        self.started = uptime_clock()
        self.sequence = 0  # flow sequence: one per datagram sent, as sflowtool counts it

    def encode(self, dg: Datagram) -> list[tuple[bytes, Sample]]:
        """(NetFlow datagram, the sample it came from) for each exportable flow sample of ``dg``."""
        out: list[tuple[bytes, Sample]] = []
        for k, v in dg.events:
            if k != E.DONE or (v[0] != E.DONE_FLOW and v[0] != E.DONE_FLOW_V2V4):
                continue
            s = v[1]
            if self.sample_filter is not None and not self.sample_filter(s):
                continue
            if s.got_ipv4 or s.got_ipv4_struct:
                pkt = self.v5(s) if self.version == 5 else self.v9(s, ipv6=False)
                if pkt is not None:
                    out.append((pkt, s))
            if self.version == 9 and (s.got_ipv6 or s.got_ipv6_struct):
                pkt = self.v9(s, ipv6=True)
                if pkt is not None:
                    out.append((pkt, s))
        return out

    def _clock(self) -> tuple[int, int]:
        now = int(self.clock()) & 0xFFFFFFFF
        uptime = int((self.uptime_clock() - self.started) * 1000) & 0xFFFFFFFF
        return now, uptime

    def _counts(self, s: Sample, offset_to_ip: int) -> tuple[int, int]:
        # UDP counts its own length: the IP datagram may be fragmented, and fragments are not exported
        size = s.udp_pdu_len if s.udp_pdu_len > 0 else s.sampled_packet_size - s.stripped - offset_to_ip
        size &= 0xFFFFFFFF
        if self.scale:
            return s.mean_skip_count & 0xFFFFFFFF, (s.mean_skip_count * size) & 0xFFFFFFFF
        return 1, size

    def _as(self, s: Sample) -> tuple[int, int]:
        return (s.src_peer_as, s.dst_peer_as) if self.peer_as else (s.src_as, s.dst_as)

    def v5(self, s: Sample) -> bytes | None:
        if s.ip_fragment_offset > 0:
            return None
        now, uptime = self._clock()
        frames, size = self._counts(s, s.offset_to_ipv4)
        interval = 0 if self.scale else (s.mean_skip_count & 0xFFFF) | 0x4000
        src_as, dst_as = self._as(s)
        header = _V5_HEADER.pack(5, 1, uptime, now, 0, self.sequence & 0xFFFFFFFF, 0, 0, interval)
        self.sequence += 1
        record = _V5_RECORD.pack(
            _addr16(s.ipsrc)[:4], _addr16(s.ipdst)[:4], _addr16(s.next_hop)[:4],
            s.input_port & 0xFFFF, s.output_port & 0xFFFF, frames, size, uptime, uptime,
            s.sport & 0xFFFF, s.dport & 0xFFFF, 0, s.tcp_flags & 0xFF, s.ip_protocol & 0xFF, s.ip_tos & 0xFF,
            src_as & 0xFFFF, dst_as & 0xFFFF, s.src_mask & 0xFF, s.dst_mask & 0xFF, 0,
        )  # fmt: skip
        return header + record

    def v9(self, s: Sample, ipv6: bool) -> bytes | None:
        if s.ip_fragment_offset > 0:
            return None
        now, uptime = self._clock()
        frames, size = self._counts(s, s.offset_to_ipv6 if ipv6 else s.offset_to_ipv4)
        interval = 0 if self.scale else s.mean_skip_count & 0xFFFFFFFF
        src_as, dst_as = self._as(s)
        header = _V9_HEADER.pack(9, 2, uptime, now, self.sequence & 0xFFFFFFFF, 0)
        self.sequence += 1
        common = (s.input_port & 0xFFFFFFFF, s.output_port & 0xFFFFFFFF, frames, size, uptime, uptime)
        tail = (s.sport & 0xFFFF, s.dport & 0xFFFF, s.tcp_flags & 0xFF, s.ip_protocol & 0xFF, s.ip_tos & 0xFF,
                src_as & 0xFFFFFFFF, dst_as & 0xFFFFFFFF, s.src_mask & 0xFF, s.dst_mask & 0xFF, interval)  # fmt: skip
        if ipv6:
            body = _V9_IPV6.pack(_addr16(s.ipsrc), _addr16(s.ipdst), _addr16(s.next_hop), *common,
                                 s.flow_label & 0xFFFFFFFF, *tail)  # fmt: skip
            template, template_id = _TEMPLATE_FLOWSET_IPV6, TEMPLATE_IPV6
        else:
            body = _V9_IPV4.pack(_addr16(s.ipsrc)[:4], _addr16(s.ipdst)[:4], _addr16(s.next_hop)[:4], *common, *tail)
            template, template_id = _TEMPLATE_FLOWSET_IPV4, TEMPLATE_IPV4
        # the data flowset is not padded to 4 bytes, as sflowtool sends it (length 61 or 101)
        return header + template + struct.pack(">HH", template_id, 4 + len(body)) + body
