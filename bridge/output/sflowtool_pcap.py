"""``sflowtool -t/-T/-M``: sampled packets as libpcap records, byte for byte as sflowtool writes them.

Every header goes out under the Ethernet link type, as sflowtool does; the
sflow-bridge framing that does better is bridge/pipeline/pcap_bridge.py's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from bridge.pcap.writer import DLT_EN10MB, file_header, record
from bridge.sflow import events as E
from bridge.sflow.datagram import Datagram
from bridge.sflow.reader import Sample

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
