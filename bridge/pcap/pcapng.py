"""pcapng: what classic pcap cannot carry about a sampled packet.

One interface per agent, sub-agent and data source, named ``AGENT-SUBAGENT-IFINDEX``
(``AGENT-SUBAGENT-CLASS.INDEX`` for data sources that are not interfaces) and
described in words; the packet's direction when the sample tells it (the data
source is the input or the output port); and a comment per packet with the agent,
ports, sampling rate and drops, for display filters such as
``frame.comment contains "in=21"`` and ``frame.interface_name == "192.0.2.7-0-5"``.
Packets agents dropped (discard samples) carry ``drop=REASON`` first in their comment.
"""

from __future__ import annotations

import struct
from typing import Final

from bridge import __version__
from bridge.sflow.datagram import drop_name
from bridge.sflow.headers import SampleInfo
from bridge.sflow.reader import agent_text

_LE = "<"

# block types and option codes of the pcapng specification (draft-ietf-opsawg-pcapng)
SECTION_HEADER_BLOCK: Final = 0x0A0D0D0A
INTERFACE_DESCRIPTION_BLOCK: Final = 1
ENHANCED_PACKET_BLOCK: Final = 6
BYTE_ORDER_MAGIC: Final = 0x1A2B3C4D
OPT_ENDOFOPT: Final = 0
OPT_COMMENT: Final = 1
SHB_USERAPPL: Final = 4
IF_NAME: Final = 2
IF_DESCRIPTION: Final = 3
IF_TSRESOL: Final = 9
EPB_FLAGS: Final = 2


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def section_header() -> bytes:
    opts = _option(SHB_USERAPPL, f"sflow-bridge {__version__}".encode()) + _option(OPT_ENDOFOPT, b"")
    return _block(SECTION_HEADER_BLOCK, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts)


def interface_name(agent: str, sub_agent: int, ds_class: int, ds_index: int) -> str:
    source = str(ds_index) if ds_class == 0 else f"{ds_class}.{ds_index}"
    return f"{agent}-{sub_agent}-{source}"


MAX_INTERFACES: Final = 16_384  # data sources given an interface of their own; the rest share one per link type

_EPB_HEAD: Final = struct.Struct("<IIIIIII")  # block type, length, interface, timestamp high and low, lengths
_OPTION_HEAD: Final = struct.Struct("<HH")
_U32: Final = struct.Struct("<I")
_FLAGS: Final = [b"", _option(EPB_FLAGS, struct.pack("<I", 1)), _option(EPB_FLAGS, struct.pack("<I", 2))]  # in, out
_END: Final = _option(OPT_ENDOFOPT, b"")
_PAD: Final = [b"", b"\0\0\0", b"\0\0", b"\0"]  # to a 4-byte boundary, by length % 4 (a list: compiled, a
# tuple indexed by a variable is boxed again each time)
_TRAILERS: Final = [_U32.pack(total) for total in range(0, 4096, 4)]  # a block's closing length, by length // 4


class _Options:
    """A packet's options (comment, direction) and what they were made from besides its ports."""

    __slots__ = ("rate", "drops", "data")

    def __init__(self, rate: int, drops: int, data: bytes) -> None:
        self.rate = rate  # the sampling rate, or the drop reason
        self.drops = drops
        self.data = data


class _Interface:
    """An interface written, and what its packets share: comment prefix, and options by ports."""

    __slots__ = ("ifid", "prefix", "options", "shared")

    def __init__(self, ifid: int, prefix: bytes, shared: bool) -> None:
        self.ifid = ifid
        self.prefix = prefix  # b"agent=... sub_agent=... "
        self.options: dict[int, _Options] = {}  # by (in, out) port as sent
        self.shared = shared  # other-data-sources: each packet names its own agent


_OPTIONS_PER_INTERFACE: Final = 256  # (in, out) port pairs whose options an interface remembers


class PcapngWriter:
    """Turns packets into pcapng blocks, adding an interface block the first time one is seen.

    Sampled packets and dropped packets (from discard samples) of a data source go to
    interfaces of their own: ``AGENT-SUBAGENT-IFINDEX`` and ``AGENT-SUBAGENT-IFINDEX-drops``.
    What packets share is made once: the interface's number and comment prefix, and a
    packet's options (comment and direction) for each pair of ports, sampling rate and
    drop count, so that pcapng costs little more than classic pcap. Bounded: past
    ``max_interfaces`` data sources (made-up agent addresses cost a sender nothing),
    packets go to one shared interface per link type; their comments still name their
    agent and ports.
    """

    def __init__(self, max_interfaces: int = MAX_INTERFACES) -> None:
        self.max_interfaces = max_interfaces
        self.count = 0  # interfaces written
        # (agent, sub-agent) -> {(link type << 1 | drops?) << 32 | class << 24 | index: interface}: the data
        # source in the low bits, where a dict's hash table looks first
        self._agents: dict[tuple[bytes, int], dict[int, _Interface]] = {}
        self._shared: dict[int, _Interface] = {}  # by link type << 1 | drops?
        self._agent = b"-"  # the agent of the last packet, and its table: the same for a datagram's packets
        self._sub = -2
        self._table: dict[int, _Interface] = {}
        self._sec = -1  # the timestamp of the last packet, split as pcapng wants it: the same for a datagram's packets
        self._usec = -1
        self._ts_high = 0
        self._ts_low = 0

    def start(self) -> bytes:
        return section_header()

    def _interface(self, agent: bytes, sub_agent: int, dsc: int, dsi: int, linktype: int, dropped: bool,
                   key: int) -> tuple[_Interface, bytes]:  # fmt: skip
        """The interface of a data source seen for the first time, and its description block (none if shared)."""
        if self.count >= self.max_interfaces:
            shared = self._shared.get(linktype << 1 | dropped)
            if shared is not None:
                return shared, b""
            if_name = "other-data-sources"
            descr = f"sFlow data sources beyond the first {self.max_interfaces} (see each packet's comment)"
            iface = _Interface(self.count, b"", True)
            self._shared[linktype << 1 | dropped] = iface
        else:
            name = agent_text(agent)
            if_name = interface_name(name, sub_agent, dsc, dsi)
            kind = "ifIndex" if dsc == 0 else f"data source class {dsc} index"
            descr = f"sFlow agent {name} sub-agent {sub_agent} {kind} {dsi}"
            iface = _Interface(self.count, f"agent={name} sub_agent={sub_agent} ".encode(), False)
            self._table[key] = iface
            self._agents[(agent, sub_agent)] = self._table  # kept from its first interface on
        if dropped:
            if_name += "-drops"
            descr = "packets dropped, from " + descr[0].lower() + descr[1:]
        self.count += 1
        opts = (
            _option(IF_NAME, if_name.encode())
            + _option(IF_DESCRIPTION, descr.encode())
            + _option(IF_TSRESOL, b"\x06")  # microsecond timestamps
            + _END
        )
        return iface, _block(INTERFACE_DESCRIPTION_BLOCK, struct.pack("<HHI", linktype, 0, 262144) + opts)

    def add_packet(
        self,
        out: list[bytes],
        agent: bytes,
        sub_agent: int,
        info: SampleInfo,  # a fixed-size tuple: compiled, it is passed unboxed, not rebuilt per packet
        linktype: int,
        body: bytes,
        wire: int,
        sec: int,
        usec: int,
    ) -> None:
        """Appends the packet's blocks to ``out`` (joined once per datagram by the caller)."""
        if agent is not self._agent or sub_agent != self._sub:
            self._agent = agent
            self._sub = sub_agent
            self._table = self._agents.get((agent, sub_agent)) or {}
        dsc = info[1]
        dsi = info[2]
        dropped = info[0] == 5
        key = (linktype << 1 | dropped) << 32 | dsc << 24 | dsi
        iface = self._table.get(key)
        if iface is None:
            iface, idb = self._interface(agent, sub_agent, dsc, dsi, linktype, dropped, key)
            out.append(idb)
        drops = info[4]
        rate = info[11] if dropped else info[5]  # what else a packet's options depend on: its reason, or the rate
        inf = info[7]
        inp = info[8]
        outf = info[9]
        outp = info[10]
        # options by ports as small ints (ports are 30 bits): only plain ifIndexes, the common case, are remembered
        ports = inp << 30 | outp if inf == 0 and outf == 0 and not iface.shared else -1
        known = iface.options.get(ports) if ports >= 0 else None
        if known is not None and known.rate == rate and known.drops == drops:
            opts = known.data
        else:
            opts = self._options(iface, agent, sub_agent, dsc, dsi, dropped, info[11], inf, inp, outf, outp, info[5],
                                 drops)  # fmt: skip
            if ports >= 0:
                if len(iface.options) >= _OPTIONS_PER_INTERFACE:
                    iface.options.clear()
                iface.options[ports] = _Options(rate, drops, opts)
        n = len(body)
        total = 32 + n + (-n & 3) + len(opts)
        if sec != self._sec or usec != self._usec:
            self._sec = sec
            self._usec = usec
            ts = sec * 1_000_000 + usec
            self._ts_high = ts >> 32
            self._ts_low = ts & 0xFFFFFFFF
        out.append(_EPB_HEAD.pack(ENHANCED_PACKET_BLOCK, total, iface.ifid, self._ts_high, self._ts_low, n, wire))
        out.append(body)
        if n & 3:
            out.append(_PAD[n & 3])
        out.append(opts)
        out.append(_TRAILERS[total >> 2] if total < 4096 else _U32.pack(total))

    @staticmethod
    def _options(iface: _Interface, agent: bytes, sub_agent: int, dsc: int, dsi: int, dropped: bool, reason: int,
                 inf: int, inp: int, outf: int, outp: int, rate: int, drops: int) -> bytes:  # fmt: skip
        """A packet's options: its comment, its direction when the data source is one of its ports, the end."""
        prefix = f"agent={agent_text(agent)} sub_agent={sub_agent} ".encode() if iface.shared else iface.prefix
        if dropped:
            comment = b"drop=%s %sin=%d out=%d drops=%d" % (drop_name(reason).encode(), prefix, inp, outp, drops)
        else:
            ports = f"in={_port(inf, inp)} out={_port(outf, outp)}".encode()
            comment = b"%s%s rate=%d drops=%d" % (prefix, ports, rate, drops)
        if dsc == 0 and inf == 0 and inp == dsi:
            flags = _FLAGS[1]  # inbound
        elif dsc == 0 and outf == 0 and outp == dsi:
            flags = _FLAGS[2]  # outbound
        else:
            flags = b""
        c = len(comment)
        return _OPTION_HEAD.pack(OPT_COMMENT, c) + comment + _PAD[c & 3] + flags + _END


def _port(fmt: int, value: int) -> str:
    if fmt == 0:
        return str(value)
    if fmt == 1:
        return f"discarded({value})"
    if fmt == 2:
        return f"multiple({value})"
    return f"format{fmt}({value})"
