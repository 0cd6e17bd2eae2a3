"""The pcap bridge's fast path: only what a packet capture needs from a datagram.

One linear walk over an sFlow v5 datagram that skips every record but sampled
headers (0:1) and notes, per sample, what accounting needs. No object per field:
a datagram becomes one :class:`Headers` with a list of flat tuples. sFlow v2/v4
datagrams go through the full decoder instead (they carry no record lengths to
skip by). Malformed input raises :class:`~bridge.sflow.reader.DecodeError`.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from bridge.sflow.reader import DECODE_ERROR, EOS, DecodeError

_U32 = struct.Struct(">I").unpack_from
_II = struct.Struct(">II").unpack_from
_FLOW = struct.Struct(">8I").unpack_from  # compact flow sample after its tag
_FLOW_X = struct.Struct(">11I").unpack_from  # expanded flow sample after its tag
_HDR = struct.Struct(">4I").unpack_from  # protocol, frame length, stripped, header length
_COUNTER_HEAD = struct.Struct(">III").unpack_from  # length, sequence, source id

# sample kinds in Headers.samples
FLOW, COUNTERS, DISCARD, OTHER = 1, 2, 5, 0


class Packet(NamedTuple):
    """A sampled header and the sample it came from."""

    protocol: int  # sFlow header protocol: 1 Ethernet, 11 IPv4, 12 IPv6, 15 802.11, ...
    frame_length: int  # the sample's frame_length: the packet on the wire, stripped bytes included
    stripped: int  # bytes removed before the header was taken (the FCS, often)
    offset: int  # where the header starts in the datagram
    length: int  # header bytes present
    ds_class: int
    ds_index: int
    seq: int  # sample sequence number
    rate: int  # sampling rate (1 in N)
    pool: int
    drops: int
    in_format: int
    in_port: int
    out_format: int
    out_port: int


class Headers:
    """What one datagram holds for a packet capture."""

    __slots__ = ("version", "agent", "sub_agent", "sequence", "packets", "samples", "no_header")

    def __init__(self) -> None:
        self.version = 5
        self.agent = b""  # packed address: 4 or 16 bytes
        self.sub_agent = 0
        self.sequence = 0
        self.packets: list[Packet] = []
        # (kind, ds_class, ds_index, sample sequence, drops) per sample, for loss accounting
        self.samples: list[tuple[int, int, int, int, int]] = []
        self.no_header = 0  # flow samples that carried no sampled header


def _eos(pos: int, what: str) -> DecodeError:
    return DecodeError(EOS, pos, f"{what} runs past the end of the datagram")


def walk(data: bytes) -> Headers:
    """The sampled headers of one sFlow v5 datagram, in order."""
    end = len(data)
    if end < 28:
        raise _eos(0, "datagram header")
    version, atype = _II(data, 0)
    if version != 5:
        raise DecodeError(DECODE_ERROR, 0, f"not an sFlow v5 datagram (version {version})")
    h = Headers()
    if atype == 1:
        h.agent = data[8:12]
        p = 12
    elif atype == 2:
        h.agent = data[8:24]
        p = 24
    else:
        raise DecodeError(EOS, 4, f"unknown agent address type {atype}")
    if p + 16 > end:
        raise _eos(p, "datagram header")
    h.sub_agent, h.sequence, _, count = struct.unpack_from(">4I", data, p)
    p += 16
    packets = h.packets
    samples = h.samples
    for _ in range(count):
        if p + 8 > end:
            raise _eos(p, "sample")
        tag, length = _II(data, p)
        body = p + 8
        nxt = body + ((length + 3) & ~3)
        if nxt > end:
            raise _eos(p, "sample")
        if tag == 1 or tag == 3:
            if tag == 1:
                if body + 32 > nxt:
                    raise DecodeError(EOS, body, "flow sample shorter than its fixed fields")
                seq, sid, rate, pool, drops, inp, outp, n = _FLOW(data, body)
                dsc, dsi = sid >> 24, sid & 0xFFFFFF
                inf, outf = inp >> 30, outp >> 30
                inp &= 0x3FFFFFFF
                outp &= 0x3FFFFFFF
                r = body + 32
            else:
                if body + 44 > nxt:
                    raise DecodeError(EOS, body, "flow sample shorter than its fixed fields")
                seq, dsc, dsi, rate, pool, drops, inf, inp, outf, outp, n = _FLOW_X(data, body)
                r = body + 44
            samples.append((FLOW, dsc, dsi, seq, drops))
            found = False
            for _ in range(n):
                if r + 8 > nxt:
                    raise _eos(r, "flow record")
                rtag, rlen = _II(data, r)
                rbody = r + 8
                r = rbody + ((rlen + 3) & ~3)
                if r > nxt:
                    raise _eos(rbody, "flow record")
                if rtag == 1:
                    if rlen < 16:
                        raise DecodeError(EOS, rbody, "sampled header record too short")
                    proto, frame_length, stripped, hlen = _HDR(data, rbody)
                    if rbody + 16 + hlen > r:
                        raise DecodeError(EOS, rbody + 12, f"sampled header of {hlen} bytes overruns its record")
                    packets.append(
                        Packet(
                            proto,
                            frame_length,
                            stripped,
                            rbody + 16,
                            hlen,
                            dsc,
                            dsi,
                            seq,
                            rate,
                            pool,
                            drops,
                            inf,
                            inp,
                            outf,
                            outp,
                        )  # fmt: skip
                    )
                    found = True
            if not found:
                h.no_header += 1
        elif tag == 2 or tag == 4:
            if tag == 2:
                if body + 8 > nxt:
                    raise _eos(body, "counter sample")
                seq, sid = _II(data, body)
                samples.append((COUNTERS, sid >> 24, sid & 0xFFFFFF, seq, 0))
            else:
                if body + 12 > nxt:
                    raise _eos(body, "counter sample")
                seq, dsc, dsi = struct.unpack_from(">3I", data, body)
                samples.append((COUNTERS, dsc, dsi, seq, 0))
        elif tag == 5:
            if body + 16 > nxt:
                raise _eos(body, "discard sample")
            seq, dsc, dsi, drops = struct.unpack_from(">4I", data, body)
            samples.append((DISCARD, dsc, dsi, seq, drops))
        else:
            samples.append((OTHER, 0, 0, 0, 0))
        p = nxt
    return h
