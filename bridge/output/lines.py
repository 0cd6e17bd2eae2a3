"""sflowtool's CSV outputs: ``-l`` (fixed FLOW/CNTR lines) and ``-L fields`` (chosen fields)."""

from __future__ import annotations

from collections.abc import Callable

from bridge.output.timefmt import iso_local
from bridge.sflow import events as E
from bridge.sflow.datagram import Datagram
from bridge.sflow.reader import Sample, signed32

SampleFilter = Callable[[Sample], bool]


def flow_line(agent: str, s: Sample) -> str:
    return (
        f"FLOW,{agent},{signed32(s.input_port)},{signed32(s.output_port)},"
        f"{s.eth_src.hex()},{s.eth_dst.hex()},0x{s.eth_type:04x},{signed32(s.in_vlan)},{signed32(s.out_vlan)},"
        f"{s.ipsrc},{s.ipdst},{signed32(s.ip_protocol)},0x{s.ip_tos:02x},{signed32(s.ip_ttl)},"
        f"{signed32(s.sport)},{signed32(s.dport)},0x{s.tcp_flags:02x},"
        f"{signed32(s.sampled_packet_size)},{signed32(s.sampled_packet_size - s.stripped - s.offset_to_ipv4)},"
        f"{signed32(s.mean_skip_count)}\n"
    )


def counters_line(agent: str, s: Sample) -> str:
    return f"CNTR,{agent}," + ",".join(str(v) for v in s.if_counters) + "\n"


class LineSink:
    """``-l``: a FLOW line per flow sample, a CNTR line per counter sample."""

    sample_filter: SampleFilter | None = None

    def render(self, dg: Datagram) -> tuple[str, str]:
        out = []
        for k, v in dg.events:
            if k == E.DONE:
                kind, s = v
                if kind == E.DONE_FLOW or kind == E.DONE_FLOW_V2V4:
                    if self.sample_filter is None or self.sample_filter(s):
                        out.append(flow_line(dg.agent, s))
                elif kind == E.DONE_COUNTERS:
                    out.append(counters_line(dg.agent, s))
        return "".join(out), ""


class CustomLineSink:
    """``-L a,b,c``: one CSV line per sample that set at least one requested sample field."""

    sample_filter: SampleFilter | None = None

    CAP = 2047  # sflowtool keeps each value in a 2 KB string

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields
        self.slot: dict[str, int] = {}
        for i, name in enumerate(fields):
            self.slot.setdefault(name, i)
        self.values = [""] * len(fields)
        self.scopes = [E.SCOPE_NONE] * len(fields)
        self.sample_fields = 0
        self.scope = E.SCOPE_NONE
        self.missed = False  # a field name was looked up and not found (sflowtool's errno is then ESRCH)
        self._matches: dict[E.Block, list[tuple[int, str]]] = {}

    def _block_matches(self, blk: E.Block) -> list[tuple[int, str]]:
        m = self._matches.get(blk)
        if m is None:
            m = self._matches[blk] = [(i, n) for i, n in enumerate(blk.names) if n in self.slot]
        if len(m) < len(blk.names):
            self.missed = True
        return m

    def _clear(self, scope: int, err: list[str]) -> None:
        if self.sample_fields > 0:
            err.append(f"WARNING: clearLineCustom: {self.sample_fields} fields ignored\n")
        for i, sc in enumerate(self.scopes):
            if sc == scope:
                self.values[i] = ""
        self.sample_fields = 0

    def _set(self, name: str, value: str) -> None:
        i = self.slot.get(name)
        if i is None:
            self.missed = True
        else:
            self.values[i] = value[: self.CAP]
            self.scopes[i] = self.scope
            if self.scope == E.SCOPE_SAMPLE:
                self.sample_fields += 1

    def render(self, dg: Datagram) -> tuple[str, str]:
        out: list[str] = []
        err: list[str] = []
        slot = self.slot
        for k, v in dg.events:
            if isinstance(k, str):
                if k in slot:
                    self._set(k, v)
                else:
                    self.missed = True
            elif isinstance(k, E.Block):
                for i, name in self._block_matches(k):
                    self._set(name, str(v[i]))
            elif k == E.TIME:
                if v[0] in slot:
                    self._set(v[0], iso_local(v[1]))
                else:
                    self.missed = True
            elif k == E.FLAT_FIELD:
                self._set(v[0], v[1])
            elif k == E.SCOPE:
                self.scope = v
            elif k == E.DONE:
                rejected = (
                    self.sample_filter is not None
                    and v[0] in (E.DONE_FLOW, E.DONE_FLOW_V2V4, E.DONE_DISCARD)
                    and not self.sample_filter(v[1])
                )
                if self.sample_fields and not rejected:
                    out.append(",".join(self.values) + "\n")
                    self.sample_fields = 0
                self._clear(E.SCOPE_SAMPLE, err)
        self._clear(E.SCOPE_DATAGRAM, err)
        return "".join(out), "".join(err)
