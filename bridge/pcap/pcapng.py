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


class PcapngWriter:
    """Turns packets into pcapng blocks, adding an interface block the first time one is seen.

    Bounded: past ``max_interfaces`` data sources (made-up agent addresses cost a sender
    nothing), packets go to one shared interface per link type; their comments still
    name their agent and ports.
    """

    def __init__(self, max_interfaces: int = MAX_INTERFACES) -> None:
        self.interfaces: dict[tuple[bytes, int, int, int, int], int] = {}
        self.max_interfaces = max_interfaces

    def start(self) -> bytes:
        return section_header()

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
        _, dsc, dsi, _seq, drops, rate, pool, inf, inp, outf, outp = info
        key = (agent, sub_agent, dsc, dsi, linktype)
        out = b""
        ifid = self.interfaces.get(key)
        if ifid is None and len(self.interfaces) >= self.max_interfaces:
            key = (b"", -1, -1, -1, linktype)  # the shared interface of this link type
            ifid = self.interfaces.get(key)
        if ifid is None:
            ifid = self.interfaces[key] = len(self.interfaces)
            if key[1] == -1:
                if_name = "other-data-sources"
                descr = f"sFlow data sources beyond the first {self.max_interfaces} (see each packet's comment)"
            else:
                name = agent_text(agent)
                if_name = interface_name(name, sub_agent, dsc, dsi)
                kind = "ifIndex" if dsc == 0 else f"data source class {dsc} index"
                descr = f"sFlow agent {name} sub-agent {sub_agent} {kind} {dsi}"
            opts = (
                _option(IF_NAME, if_name.encode())
                + _option(IF_DESCRIPTION, descr.encode())
                + _option(IF_TSRESOL, b"\x06")  # microsecond timestamps
                + _option(OPT_ENDOFOPT, b"")
            )
            out = _block(INTERFACE_DESCRIPTION_BLOCK, struct.pack("<HHI", linktype, 0, 262144) + opts)
        if inf == 0 and inp == dsi and dsc == 0:
            flags = 1  # inbound
        elif outf == 0 and outp == dsi and dsc == 0:
            flags = 2  # outbound
        else:
            flags = 0
        comment = (
            f"agent={agent_text(agent)} sub_agent={sub_agent} in={_port(inf, inp)} out={_port(outf, outp)} "
            f"rate={rate} pool={pool} drops={drops}"
        )
        ts = sec * 1_000_000 + usec
        head = struct.pack("<IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF, len(body), wire)
        opts = _option(OPT_COMMENT, comment.encode()) + (_option(EPB_FLAGS, struct.pack("<I", flags)) if flags else b"")
        opts += _option(OPT_ENDOFOPT, b"")
        return out + _block(ENHANCED_PACKET_BLOCK, head + body + bytes(-len(body) % 4) + opts)


def _port(fmt: int, value: int) -> str:
    if fmt == 0:
        return str(value)
    if fmt == 1:
        return f"discarded({value})"
    if fmt == 2:
        return f"multiple({value})"
    return f"format{fmt}({value})"
