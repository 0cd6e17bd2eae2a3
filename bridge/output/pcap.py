"""Writing sampled packets as libpcap (and pcapng) records.

Two writers live here: ``SflowtoolPcapSink`` reproduces ``sflowtool -t/-T/-M``
byte for byte (every header under the Ethernet link type, as sflowtool does), and
``frame()`` is the sflow-bridge framing that does better: each sampled header is
written so that tcpdump and tshark decode it as what it is.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from bridge.sflow import events as E
from bridge.sflow.datagram import Datagram
from bridge.sflow.reader import Sample

DLT_EN10MB: Final = 1
DLT_RAW: Final = 101
DLT_IEEE802_11: Final = 105

_FILE: Final = struct.Struct("<IHHiIII")
RECORD_HEADER: Final = struct.Struct("<IIII")  # ts_sec, ts_usec, caplen, len


def file_header(linktype: int = DLT_EN10MB, snaplen: int = 65535) -> bytes:
    return _FILE.pack(0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def record(ts_sec: int, ts_usec: int, data: bytes, orig_len: int) -> bytes:
    return RECORD_HEADER.pack(ts_sec & 0xFFFFFFFF, ts_usec & 0xFFFFFFFF, len(data), orig_len & 0xFFFFFFFF) + data


# sflowtool -M wraps each datagram in a fixed Ethernet/IPv4/UDP header (its UDP length omits the UDP header)
_DUMMY_ETH: Final = bytes((0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00))


class SflowtoolPcapSink:
    """``sflowtool -t`` (flow samples), ``-T`` (discard samples) or ``-M`` (whole datagrams)."""

    def __init__(self, mode: str, from_socket: bool, remove_content: bool = False) -> None:
        self.mode = mode
        self.from_socket = from_socket
        self.remove_content = remove_content  # -x: cut each header where its payload starts
        self.sample_filter: Callable[[Sample], bool] | None = None

    def start(self) -> bytes:
        return file_header(DLT_EN10MB, 65536)

    def render(self, dg: Datagram) -> tuple[bytes, str]:
        if dg.pcap_time:
            ts, us = dg.pcap_time, dg.pcap_time_us
        else:
            ts, us = dg.read_time, dg.read_time_us
        if self.mode == "M":
            if not self.from_socket:
                return b"", ""  # sflowtool writes datagrams only as they arrive from a socket
            n = len(dg.data)
            ip = struct.pack(">BBHHHBBHII", 0x45, 0, 28 + n, 0, 0, 64, 17, 0, 0, 0)
            udp = struct.pack(">HHHH", 6343, 6343, n & 0xFFFF, 0)
            frame = _DUMMY_ETH + ip + udp + dg.data
            return record(dg.read_time, dg.read_time_us, frame, len(frame)), ""
        want = (E.DONE_FLOW, E.DONE_FLOW_V2V4) if self.mode == "t" else (E.DONE_DISCARD,)
        out = []
        buf = dg.buf
        for k, v in dg.events:
            if k == E.DONE and v[0] in want:
                s = v[1]
                if self.sample_filter is not None and not self.sample_filter(s):
                    continue
                n = s.header_len
                if self.remove_content and s.offset_to_payload:
                    n = s.offset_to_payload
                out.append(record(ts, us, buf[s.header_off : s.header_off + n], s.sampled_packet_size))
        return b"".join(out), ""


# ---- sflow-bridge's framing

ETH_FOR_IP: Final = {11: b"\0" * 12 + b"\x08\x00", 12: b"\0" * 12 + b"\x86\xdd"}
PROTOCOL_NAMES: Final = {
    0: "unknown", 2: "token bus", 3: "token ring", 4: "FDDI", 5: "frame relay", 6: "X.25", 7: "PPP", 8: "SMDS",
    9: "AAL5", 10: "AAL5-IP", 13: "MPLS", 14: "POS", 15: "802.11", 16: "802.11 A-MPDU",
    17: "802.11 A-MSDU subframe", 18: "InfiniBand",
}  # fmt: skip
