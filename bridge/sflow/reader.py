"""XDR reading with sflowtool's bounds rules, and the decode state of one datagram.

Reads follow sflowtool 6.11 exactly, because where a broken datagram stops decoding
is part of its output: a 32-bit read fails only when it ends past the datagram, a
skip of N bytes moves by N rounded up to 4 and fails when N exceeds the datagram
length or the new position is past its end. Lengths computed as ``count * 4``
wrap at 32 bits as they do in C; where sflowtool would then walk past the buffer
(and crash) this decoder stops with a clean error instead.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import types
from typing import Any, Final

from bridge.sflow import events as E

# sflowtool's exception codes ("caught exception: N")
EOS: Final = 1  # read past the end of the datagram
DECODE_ERROR: Final = 2  # unexpected version, tag or type
LENGTH_ERROR: Final = 3  # a record or sample did not consume its declared length

_REASONS: Final = {
    EOS: "read past the end of the datagram",
    DECODE_ERROR: "decode error",
    LENGTH_ERROR: "length mismatch",
}

# Bytes of zeros after the datagram: the header decoders peek up to a few dozen
# bytes beyond a sampled header, which sflowtool reads from its (stale) buffer.
PAD: Final = 128
_PADDING: Final = bytes(PAD)

U32: Final = struct.Struct(">I")
U64: Final = struct.Struct(">Q")
F32: Final = struct.Struct(">f")
F64: Final = struct.Struct(">d")
_U32_FROM: Final = U32.unpack_from
_TAG_LEN: Final = struct.Struct(">II").unpack_from


def compiled_function(fn: object) -> bool:
    """Whether ``fn``, a function of the calling module, runs compiled (scripts/build_native.py).

    Compiled functions are built-in functions, not Python ones. (``__file__`` cannot
    tell: Debian 12's mypyc runs a module's body before it is set.)
    """
    return not isinstance(fn, types.FunctionType)


# compiled code reads words and bytes natively; the interpreter is faster through struct and socket
_COMPILED: Final = compiled_function(compiled_function)


class DecodeError(Exception):
    """A malformed datagram.

    ``kind`` is sflowtool's exception code (1, 2 or 3), ``offset`` the byte offset in
    the datagram where decoding stopped, ``reason`` a short explanation and
    ``message`` what sflowtool prints on stderr before ``caught exception: N``
    (possibly empty). ``datagram`` holds everything decoded before the error.
    """

    def __init__(self, kind: int, offset: int, reason: str, message: str = "") -> None:
        super().__init__(f"{reason} (offset {offset})")
        self.kind = kind
        self.offset = offset
        self.reason = reason
        self.message = message
        self.datagram: Any = None


def signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def fmt_ip4(b: bytes) -> str:
    if _COMPILED:
        return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"  # natively: no call into libc's snprintf
    return socket.inet_ntoa(b)


def fmt_ip6(b: bytes) -> str:
    """All eight groups, zeros kept, as sflowtool prints them."""
    return b.hex(":", 2)


def agent_text(agent: bytes | str) -> str:
    """A packed agent address (or a sender's text) as people read it."""
    if isinstance(agent, str):
        return agent
    if len(agent) in (4, 16):
        return str(ipaddress.ip_address(agent))
    return "-"


_TAGS: Final[dict[int, str]] = {}


def fmt_tag(tag: int) -> str:
    """A record or sample tag as ``enterprise:format``, remembered (at most 4096 of them)."""
    t = _TAGS.get(tag)
    if t is None:
        t = f"{tag >> 12}:{tag & 0xFFF}"
        if len(_TAGS) < 4096:
            _TAGS[tag] = t
    return t


def fmt_float(v: float) -> str:
    """printf("%.3f") of a C float or double, glibc's spelling of NaN included."""
    if v != v:
        return "-nan" if struct.pack(">d", v)[0] & 0x80 else "nan"
    return "%.3f" % v


class SFStr:
    """sflowtool's 2048-byte string builder: appends are cut silently when full."""

    CAP = 2048
    __slots__ = ("s",)

    def __init__(self) -> None:
        self.s = ""

    def append(self, text: str) -> bool:
        room = self.CAP - 1 - len(self.s)
        if len(text) <= room:
            self.s += text
            return True
        if room > 0:
            self.s += text[:room]
        return False

    def append_array32(self, values: list[int] | tuple[int, ...], sep: str) -> bool:
        for i, v in enumerate(values):
            item = str(v)
            if len(self.s) + 1 + len(item) >= self.CAP:
                return False
            self.s += sep + item if i else item
        return True


def hex_upper_dash(b: bytes) -> str:
    # SFStr_append_hex with '-' separators: at most 682 bytes fit in 2047 characters
    if len(b) > 682:
        b = b[:682]
    return b.hex("-").upper() if b else ""


class Sample:
    """Per-sample decode state (sflowtool's ``sample->s``, zeroed for each sample).

    Class attributes are the zero defaults; decoding sets instance attributes.
    Sinks read it from DONE events: the ``-l`` line, the ``-L`` filter, the
    common-log line, and later the pcap writer.
    """

    sample_type = 0
    element_type = 0
    ds_class = 0
    ds_index = 0
    if_counters: tuple[int, ...] = (0,) * 19
    samples_generated = 0
    mean_skip_count = 0
    sample_pool = 0
    drop_events = 0
    sampled_packet_size = 0
    packet_data_tag = 0
    header_protocol = 0
    header_off = 0  # offset of the sampled header in Datagram.buf
    header_len = 0
    stripped = 0
    got_ipv4 = False
    got_ipv4_struct = False
    offset_to_ipv4 = 0
    got_ipv6 = False
    got_ipv6_struct = False
    offset_to_ipv6 = 0
    offset_to_payload = 0
    ipsrc = "-"
    ipdst = "-"
    ip_protocol = 0
    ip_tos = 0
    ip_ttl = 0
    sport = 0
    dport = 0
    tcp_flags = 0
    flow_label = 0
    ip_fragment_offset = 0
    udp_pdu_len = 0
    input_port_format = 0
    output_port_format = 0
    input_port = 0
    output_port = 0
    eth_type = 0
    eth_len = 0
    eth_src = b"\0" * 6
    eth_dst = b"\0" * 6
    in_vlan = 0
    in_priority = 0
    out_vlan = 0
    out_priority = 0
    num_extended = 0
    extended_data_tag = 0
    next_hop = "-"
    src_mask = 0
    dst_mask = 0
    bgp_next_hop = "-"
    my_as = 0
    src_as = 0
    src_peer_as = 0
    dst_peer_as = 0
    dst_as = 0
    localpref = 0
    stats_sampling_interval = 0
    counter_block_version = 0
    timestamp_ns = 0
    clf_client = ""
    # (authuser, method, uri, protocol, status, resp_bytes, referrer, useragent) of an HTTP record
    http: tuple[Any, ...] | None = None


class Decoder:
    """Cursor and output log of one datagram. Pure: it touches no socket, clock or global."""

    __slots__ = ("buf", "pos", "end", "ev", "prefix", "version", "agent", "sub_id", "seq", "s", "samples", "source_ip",
                 "context")  # fmt: skip

    def __init__(self, data: bytes, source_ip: str = "-", context: bool = True) -> None:
        self.source_ip = source_ip
        self.context = context  # log the -g line context (CTX events); only the -g output reads them
        self.buf = data + _PADDING
        self.pos = 0
        self.end = len(data)
        self.ev: list[E.Event] = []
        self.prefix = ""
        self.version = 0
        self.agent = "-"
        self.sub_id = 0
        self.seq = 0
        self.s = Sample()
        self.samples: list[Sample] = []

    # ---- errors
    def error(self, kind: int, message: str = "", reason: str | None = None) -> DecodeError:
        return DecodeError(kind, self.pos, reason or message.strip() or _REASONS[kind], message)

    def receive_error(self, what: str) -> DecodeError:
        """sflowtool's receiveError(): message, sender, and a hex dump marking the read position."""
        data = self.buf[: self.end]
        lines = [f"{what} (source IP = {self.source_ip})\n"]
        mark = self.pos
        ii = 0
        n = len(data)
        while ii < n:
            to_eol = min(n - ii, 16)
            to_mark = mark - ii
            text = ""
            if 0 <= to_mark < to_eol:
                text = data[ii : ii + to_mark].hex("-") + "-<*>-"
                ii += to_mark
                to_eol -= to_mark
            text += data[ii : ii + to_eol].hex("-")
            ii += to_eol
            lines.append(text + "\n")
        return DecodeError(DECODE_ERROR, self.pos, what.strip(), "".join(lines))

    # ---- primitive reads
    def u32(self) -> int:
        p = self.pos
        if p + 4 > self.end:
            raise self.error(EOS)  # offset: where the read started
        self.pos = p + 4
        if _COMPILED:
            b = self.buf
            return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]
        return _U32_FROM(self.buf, p)[0]

    def u64(self) -> int:
        hi = self.u32()
        return (hi << 32) | self.u32()

    def raw4(self) -> bytes:
        p = self.pos
        self.u32()
        return self.buf[p : p + 4]

    def skip(self, n: int) -> int:
        """skipBytes(): returns the start offset of the skipped bytes."""
        n &= 0xFFFFFFFF
        p = self.pos
        np = p + (((n + 3) & 0xFFFFFFFF) >> 2) * 4
        if n > self.end or np > self.end:
            raise self.error(EOS, "", f"{n} bytes at offset {p} run past the end of the datagram")
        self.pos = np
        return p

    def string(self, buflen: int) -> tuple[int, str]:
        """getString(): (declared length, text cut to buflen-1 bytes and at the first NUL)."""
        n = self.u32()
        p = self.skip(n)
        raw = self.buf[p : p + (n if n < buflen else buflen - 1)]
        z = raw.find(0)
        if z >= 0:
            raw = raw[:z]
        return n, raw.decode("latin-1")

    def address(self) -> str:
        t = self.u32()
        if t == 1:
            return fmt_ip4(self.raw4())
        if t == 2:
            p = self.skip(16)
            return fmt_ip6(self.buf[p : p + 16])
        raise self.error(EOS, f"unknown address type = {signed32(t)}\n", f"unknown address type {t}")

    def mac_at(self, p: int) -> str:
        return self.buf[p : p + 6].hex()

    # ---- output log
    def f(self, name: str, value: str) -> None:
        p = self.prefix
        self.ev.append((p + name if p else name, value))

    def n32(self, name: str) -> int:
        v = self.u32()
        self.ev.append((self.prefix + name, str(v)))
        return v

    def n64(self, name: str) -> int:
        v = self.u64()
        self.ev.append((self.prefix + name, str(v)))
        return v

    def log(self, text: str) -> None:
        self.ev.append((E.LOG, text))

    def ctx(self) -> None:
        if not self.context:
            return
        s = self.s
        self.ev.append(
            (E.CTX, (self.agent, self.sub_id, self.seq, s.ds_class, s.ds_index, s.sample_type, s.element_type))
        )

    def ctx_element(self, tag: int) -> None:
        self.s.element_type = tag
        if self.context:
            self.ev.append((E.CTX_ELEMENT, tag))

    def records(self, count: int, registry: dict[int, Any], tag_field: str, what: str) -> None:
        """A list of tag-length records (flow or counter records), each read by its registered reader.

        Unknown tags are skipped by their length, as sflowtool does; every record
        must consume exactly its declared length.
        """
        ev = self.ev
        for _ in range(count):
            ev.append(E.OBJ_OPEN)
            p = self.pos
            if p + 8 <= self.end:
                tag, length = _TAG_LEN(self.buf, p)
                self.pos = p + 8
                self.ctx_element(tag)
                ev.append((self.prefix + tag_field, fmt_tag(tag)))
            else:
                tag = self.u32()
                self.ctx_element(tag)
                self.f(tag_field, fmt_tag(tag))
                length = self.u32()
            start = self.pos
            reader = registry.get(tag)
            if reader is None:
                self.log(f"skipping unknown {what}: {fmt_tag(tag)} len={signed32(length)}\n")
                self.skip(length)
            else:
                reader(self, tag, length)
            self.length_check(what, start, length)
            ev.append(E.OBJ_CLOSE)

    def length_check(self, what: str, start: int, length: int) -> None:
        actual = self.pos - start
        if actual != (((length + 3) >> 2) << 2) & 0xFFFFFFFF:
            raise self.error(
                LENGTH_ERROR,
                f"{what} length error (expected {signed32(length)}, found {actual})\n",
                f"{what} declared {length} bytes but holds {actual}",
            )
