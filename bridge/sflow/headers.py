"""The pcap bridge's fast path: only what a packet capture needs from a datagram.

One linear walk over an sFlow v5 datagram that skips every record but sampled
headers (0:1), in flow samples and in discard samples (the header of a packet the
agent dropped), and notes, per sample, what accounting needs. No object per field:
a datagram becomes one :class:`Headers` with a list of flat tuples. sFlow v2/v4
datagrams go through the full decoder instead (they carry no record lengths to
skip by). Malformed input raises :class:`~bridge.sflow.reader.DecodeError`.
"""

from __future__ import annotations

import sys
from array import array
from typing import Final, cast

from bridge.sflow.reader import DECODE_ERROR, EOS, LENGTH_ERROR, DecodeError, compiled_function
from bridge.sflow.tags import (
    FLOW_SAMPLED_HEADER,
    SAMPLE_COUNTERS,
    SAMPLE_COUNTERS_EXPANDED,
    SAMPLE_DISCARD,
    SAMPLE_FLOW,
    SAMPLE_FLOW_EXPANDED,
)

_SWAP: Final = sys.byteorder == "little"
assert array("I").itemsize == 4

# sample kinds in Headers.samples
FLOW, COUNTERS, DISCARD, OTHER = 1, 2, 5, 0

# Headers.packets holds one tuple per sampled header:
#   (offset, length, protocol, frame_length, stripped, sample)
# offset/length: where the header bytes are in the datagram; protocol: the sFlow
# header protocol (1 Ethernet, 11 IPv4, 12 IPv6, 15 802.11, ...); frame_length: the
# packet on the wire, stripped bytes included; stripped: bytes removed before the
# header was taken (the FCS, often); sample: index into Headers.samples.
# Headers.samples holds one tuple per sample:
#   (kind, ds_class, ds_index, sequence, drops, rate, pool, in_format, in_port, out_format, out_port, reason)
# reason: a discard sample's drop reason code (sflow_drop.h), 0 for other kinds; a discard sample has no
# rate or pool (0), and its ports are plain ifIndexes (format 0; 0 is unknown)
Packet = tuple[int, int, int, int, int, int]
SampleInfo = tuple[int, int, int, int, int, int, int, int, int, int, int, int]


class Headers:
    """What one datagram holds for a packet capture."""

    __slots__ = ("version", "agent", "sub_agent", "sequence", "packets", "samples", "no_header", "dropped")

    def __init__(self) -> None:
        self.version = 5
        self.agent = b""  # packed address: 4 or 16 bytes
        self.sub_agent = 0
        self.sequence = 0
        self.packets: list[Packet] = []
        self.samples: list[SampleInfo] = []
        self.no_header = 0  # flow samples that carried no sampled header
        self.dropped = 0  # packets (in Headers.packets) from discard samples: packets the agent dropped


class Words:
    """A datagram's big-endian 32-bit words, read in place (the compiled walk's ``w``)."""

    __slots__ = ("b",)

    def __init__(self, b: bytes) -> None:
        self.b = b

    def __getitem__(self, i: int) -> int:
        # the same read as reader.Decoder.u32, written out: a shared helper call costs the conversion 1.7 %
        b = self.b
        p = i * 4
        return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]


def _word_array(data: bytes) -> array[int]:
    """The words all at once (the plain-Python walk's ``w``)."""
    w = array("I")
    w.frombytes(data[: len(data) & ~3])
    if _SWAP:
        w.byteswap()
    return w


def _eos(pos: int, what: str) -> DecodeError:
    return DecodeError(EOS, pos, f"{what} runs past the end of the datagram")


# XDR is a sequence of big-endian 32-bit words, and the walk indexes them: ``w[i]``.
# Compiled (scripts/build_native.py), Words reads them in place, natively; the
# interpreter is faster indexing an array of them made at once, so it gets that.
_COMPILED: Final = compiled_function(_eos)


def _frame_records(w: Words, r: int, n: int, end: int, what: str) -> None:
    """The decoder's framing checks for records the walk does not read: each inside the sample, all of it used."""
    for _ in range(n):
        if r + 2 > end:
            raise _eos(r * 4, f"{what} record")
        r += 2 + ((w[r + 1] + 3) >> 2)
        if r > end:
            raise _eos(r * 4, f"{what} record")
    if r != end:
        raise DecodeError(LENGTH_ERROR, r * 4, f"{what} sample longer than its records")


def walk(data: bytes) -> Headers:
    """The sampled headers of one sFlow v5 datagram, in order."""
    end = len(data)
    if end < 28:
        raise _eos(0, "datagram header")
    w: Words = Words(data) if _COMPILED else cast(Words, _word_array(data))
    nw = end >> 2
    if w[0] != 5:
        raise DecodeError(DECODE_ERROR, 0, f"not an sFlow v5 datagram (version {w[0]})")
    h = Headers()
    atype = w[1]
    if atype == 1:
        h.agent = data[8:12]
        i = 3
    elif atype == 2:
        h.agent = data[8:24]
        i = 6
    else:
        raise DecodeError(EOS, 4, f"unknown agent address type {atype}")
    if i + 4 > nw:
        raise _eos(i * 4, "datagram header")
    h.sub_agent = w[i]
    h.sequence = w[i + 1]
    count = w[i + 3]
    i += 4
    packets = h.packets
    samples = h.samples
    for _ in range(count):
        if i + 2 > nw:
            raise _eos(i * 4, "sample")
        tag = w[i]
        body = i + 2
        nxt = body + ((w[i + 1] + 3) >> 2)
        if nxt > nw:
            raise _eos(i * 4, "sample")
        if tag == SAMPLE_FLOW:
            if body + 8 > nxt:
                raise DecodeError(EOS, body * 4, "flow sample shorter than its fixed fields")
            sid = w[body + 1]
            inp = w[body + 5]
            outp = w[body + 6]
            info = (FLOW, sid >> 24, sid & 0xFFFFFF, w[body], w[body + 4], w[body + 2], w[body + 3], inp >> 30,
                    inp & 0x3FFFFFFF, outp >> 30, outp & 0x3FFFFFFF, 0)  # fmt: skip
            n = w[body + 7]
            r = body + 8
        elif tag == SAMPLE_FLOW_EXPANDED:
            if body + 11 > nxt:
                raise DecodeError(EOS, body * 4, "flow sample shorter than its fixed fields")
            info = (FLOW, w[body + 1], w[body + 2], w[body], w[body + 5], w[body + 3], w[body + 4], w[body + 6],
                    w[body + 7], w[body + 8], w[body + 9], 0)  # fmt: skip
            n = w[body + 10]
            r = body + 11
        elif tag == SAMPLE_DISCARD:
            if body + 8 > nxt:
                raise _eos(body * 4, "discard sample")
            info = (DISCARD, w[body + 1], w[body + 2], w[body], w[body + 3], 0, 0, 0, w[body + 4], 0, w[body + 5],
                    w[body + 6])  # fmt: skip
            n = w[body + 7]
            r = body + 8
        else:
            if tag in (SAMPLE_COUNTERS, SAMPLE_COUNTERS_EXPANDED):
                if body + (3 if tag == SAMPLE_COUNTERS else 4) > nxt:
                    raise _eos(body * 4, "counter sample")
                if tag == SAMPLE_COUNTERS:
                    sid = w[body + 1]
                    samples.append((COUNTERS, sid >> 24, sid & 0xFFFFFF, w[body], 0, 0, 0, 0, 0, 0, 0, 0))
                    _frame_records(w, body + 3, w[body + 2], nxt, "counter")
                else:
                    samples.append((COUNTERS, w[body + 1], w[body + 2], w[body], 0, 0, 0, 0, 0, 0, 0, 0))
                    _frame_records(w, body + 4, w[body + 3], nxt, "counter")
            else:
                samples.append((OTHER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
            i = nxt
            continue
        index = len(samples)
        samples.append(info)
        found = 0
        for _ in range(n):
            if r + 2 > nxt:
                raise _eos(r * 4, "flow record")
            rlen = w[r + 1]
            rbody = r + 2
            rtag = w[r]
            r = rbody + ((rlen + 3) >> 2)
            if r > nxt:
                raise _eos(rbody * 4, "flow record")
            if rtag == FLOW_SAMPLED_HEADER:
                if rlen < 16:
                    raise DecodeError(EOS, rbody * 4, "sampled header record too short")
                hlen = w[rbody + 3]
                if rbody + 4 + ((hlen + 3) >> 2) > r:
                    raise DecodeError(EOS, rbody * 4 + 12, f"sampled header of {hlen} bytes overruns its record")
                if rlen != 16 + ((hlen + 3) & ~3):  # the decoder's length check: the record holds just this
                    raise DecodeError(LENGTH_ERROR, rbody * 4, f"sampled header record declared {rlen} bytes")
                packets.append(((rbody + 4) * 4, hlen, w[rbody], w[rbody + 1], w[rbody + 2], index))
                found += 1
        if r != nxt:  # the decoder's length check: the sample holds just its records
            what = "discard" if info[0] == DISCARD else "flow"
            raise DecodeError(LENGTH_ERROR, body * 4, f"{what} sample declared {(nxt - body) * 4} bytes")
        if info[0] == DISCARD:
            h.dropped += found
        elif not found:
            h.no_header += 1
        i = nxt
    return h
