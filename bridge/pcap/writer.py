"""libpcap files as written: the file header, records, and the link types sflow-bridge writes.

The link-type numbers are tcpdump.org's LINKTYPE_ values. sFlow names the protocol of
each sampled header with its own numbers (sFlow v5, sampled_header's header_protocol);
the tables at the end say which link type carries each, so that tcpdump and tshark
decode a header as what it is.
"""

from __future__ import annotations

import struct
from typing import Final

LINKTYPE_ETHERNET: Final = 1
LINKTYPE_IEEE802_5: Final = 6  # token ring
LINKTYPE_PPP: Final = 9
LINKTYPE_FDDI: Final = 10
LINKTYPE_PPP_HDLC: Final = 50  # PPP over SONET/SDH (POS)
LINKTYPE_IEEE802_11: Final = 105
LINKTYPE_FRELAY: Final = 107
DLT_EN10MB: Final = LINKTYPE_ETHERNET  # the name libpcap and tcpdump use

_FILE: Final = struct.Struct("<IHHiIII")
RECORD_HEADER: Final = struct.Struct("<IIII")  # ts_sec, ts_usec, caplen, len


def file_header(linktype: int = DLT_EN10MB, snaplen: int = 65535) -> bytes:
    return _FILE.pack(0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def record(ts_sec: int, ts_usec: int, data: bytes, orig_len: int) -> bytes:
    return RECORD_HEADER.pack(ts_sec & 0xFFFFFFFF, ts_usec & 0xFFFFFFFF, len(data), orig_len & 0xFFFFFFFF) + data


# IPv4 (11), IPv6 (12) and MPLS (13) headers go out under Ethernet, behind a made-up Ethernet header of their
# EtherType: every tool decodes them there (tshark 4.0 has no decoder for LINKTYPE_MPLS, 219)
SYNTH_ETHERNET: Final = {11: b"\0" * 12 + b"\x08\x00", 12: b"\0" * 12 + b"\x86\xdd", 13: b"\0" * 12 + b"\x88\x47"}
# pcapng only: these header protocols are written under their own link type (classic pcap has one per file)
OWN_LINKTYPE: Final = {
    3: LINKTYPE_IEEE802_5,  # ISO 8802-5 token ring
    4: LINKTYPE_FDDI,
    5: LINKTYPE_FRELAY,
    7: LINKTYPE_PPP,
    14: LINKTYPE_PPP_HDLC,  # POS
    15: LINKTYPE_IEEE802_11,
}
# every link type the bridge writes, each one a capture filter is compiled for (bridge/pcap/bpf.py)
LINKTYPES: Final = (LINKTYPE_ETHERNET, *sorted(set(OWN_LINKTYPE.values())))
