"""pcapng: what classic pcap cannot carry about a sampled packet.

One interface per agent, sub-agent and data source, named ``AGENT-SUBAGENT-IFINDEX``
(``AGENT-SUBAGENT-CLASS.INDEX`` for data sources that are not interfaces) and
described in words; the packet's direction when the sample tells it (the data
source is the input or the output port); and a comment per packet with the agent,
ports, sampling rate, sample pool and drops, for display filters such as
``frame.comment contains "in=21"`` and ``frame.interface_name == "192.0.2.7-0-5"``.
"""

from __future__ import annotations

import struct
from typing import Final

from bridge import __version__
from bridge.sflow.datagram import drop_name
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
_FLAGS: Final = (b"", _option(EPB_FLAGS, struct.pack("<I", 1)), _option(EPB_FLAGS, struct.pack("<I", 2)))  # in, out
_END: Final = _option(OPT_ENDOFOPT, b"")
_PAD: Final = (b"", b"\0\0\0", b"\0\0", b"\0")  # to a 4-byte boundary, by length % 4


class PcapngWriter:
    """Turns packets into pcapng blocks, adding an interface block the first time one is seen.

    Sampled packets and dropped packets (from discard samples) of a data source go to
    interfaces of their own: ``AGENT-SUBAGENT-IFINDEX`` and ``AGENT-SUBAGENT-IFINDEX-drops``.
    What is the same for every packet of an interface (its number, the agent's text) is
    made once, with the interface. Bounded: past ``max_interfaces`` data sources (made-up
    agent addresses cost a sender nothing), packets go to one shared interface per link
    type; their comments still name their agent and ports.
    """

    def __init__(self, max_interfaces: int = MAX_INTERFACES) -> None:
        # (agent, sub-agent, class, index, link type, drops?) -> (interface number, "agent=... sub_agent=... ")
        self.interfaces: dict[tuple[bytes, int, int, int, int, bool], tuple[int, str]] = {}
        self.max_interfaces = max_interfaces

    def start(self) -> bytes:
        return section_header()

    def _interface(self, key: tuple[bytes, int, int, int, int, bool]) -> tuple[int, str, bytes]:
        """The interface of ``key``, made now: (number, comment prefix, its description block)."""
        agent, sub_agent, dsc, dsi, linktype, dropped = key
        name = agent_text(agent)
        prefix = f"agent={name} sub_agent={sub_agent} "
        if sub_agent == -1:
            if_name = "other-data-sources"
            descr = f"sFlow data sources beyond the first {self.max_interfaces} (see each packet's comment)"
            prefix = ""
        else:
            if_name = interface_name(name, sub_agent, dsc, dsi)
            kind = "ifIndex" if dsc == 0 else f"data source class {dsc} index"
            descr = f"sFlow agent {name} sub-agent {sub_agent} {kind} {dsi}"
        if dropped:
            if_name += "-drops"
            descr = "packets dropped, from " + descr[0].lower() + descr[1:]
        ifid = len(self.interfaces)
        self.interfaces[key] = (ifid, prefix)
        opts = (
            _option(IF_NAME, if_name.encode())
            + _option(IF_DESCRIPTION, descr.encode())
            + _option(IF_TSRESOL, b"\x06")  # microsecond timestamps
            + _END
        )
        return ifid, prefix, _block(INTERFACE_DESCRIPTION_BLOCK, struct.pack("<HHI", linktype, 0, 262144) + opts)

    def packet(
        self,
        agent: bytes,
        sub_agent: int,
        info: tuple[int, ...],
        linktype: int,
        body: bytes,
        wire: int,
        sec: int,
        usec: int,
    ) -> bytes:
        kind, dsc, dsi, _seq, drops, rate, pool, inf, inp, outf, outp, reason = info
        dropped = kind == 5
        key = (agent, sub_agent, dsc, dsi, linktype, dropped)
        idb = b""
        known = self.interfaces.get(key)
        if known is None and len(self.interfaces) >= self.max_interfaces:
            key = (b"", -1, -1, -1, linktype, dropped)  # the shared interface of this link type
            known = self.interfaces.get(key)
        if known is None:
            ifid, prefix, idb = self._interface(key)
        else:
            ifid, prefix = known
        if key[1] == -1:
            prefix = f"agent={agent_text(agent)} sub_agent={sub_agent} "
        if dsc == 0 and inf == 0 and inp == dsi:
            flags = _FLAGS[1]  # inbound
        elif dsc == 0 and outf == 0 and outp == dsi:
            flags = _FLAGS[2]  # outbound
        else:
            flags = b""
        if dropped:
            comment = f"drop={drop_name(reason)} {prefix}in={inp} out={outp} drops={drops}".encode()
        else:
            ports = (
                f"in={inp} out={outp}" if inf == 0 and outf == 0 else f"in={_port(inf, inp)} out={_port(outf, outp)}"
            )
            comment = f"{prefix}{ports} rate={rate} pool={pool} drops={drops}".encode()
        n = len(body)
        c = len(comment)
        total = 28 + n + (-n & 3) + 4 + c + (-c & 3) + len(flags) + 4 + 4
        ts = sec * 1_000_000 + usec
        return b"".join((idb, _EPB_HEAD.pack(ENHANCED_PACKET_BLOCK, total, ifid, ts >> 32, ts & 0xFFFFFFFF, n, wire),
                         body, _PAD[n & 3], _OPTION_HEAD.pack(OPT_COMMENT, c), comment, _PAD[c & 3], flags, _END,
                         total.to_bytes(4, "little")))  # fmt: skip


def _port(fmt: int, value: int) -> str:
    if fmt == 0:
        return str(value)
    if fmt == 1:
        return f"discarded({value})"
    if fmt == 2:
        return f"multiple({value})"
    return f"format{fmt}({value})"
