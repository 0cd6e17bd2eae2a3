"""sflowtool's default text output and its grep-friendly ``-g`` variant.

Default: ``name value`` lines between ``startDatagram``/``endDatagram`` markers.
``-g``: the same lines, each prefixed with the datagram time, agent, sub-agent,
sequence number, data source, sample tag and record tag current when it was printed.
"""

from __future__ import annotations

from bridge.output.timefmt import iso_local
from bridge.sflow import events as E
from bridge.sflow.datagram import Datagram
from bridge.sflow.reader import fmt_tag

_START = "startDatagram =================================\n"
_END = "endDatagram   =================================\n"


class TextSink:
    """Renders datagrams as sflowtool's default output."""

    def render(self, dg: Datagram) -> tuple[str, str]:
        out = [_START]
        add = out.append
        for k, v in dg.events:
            if k.__class__ is str:
                add(f"{k} {v}\n")
            elif k == E.BLOCK:
                add(v[0].text % v[1])
            elif k == E.LOG:
                add(v)
            elif k == E.TIME:
                add(f"{v[0]} {iso_local(v[1])}\n")
            elif k == E.FLAT_FIELD:
                add(f"{v[0]} {v[1]}\n")
        add(_END)
        return "".join(out), ""


def _context(now: str, c: tuple[str, int, int, int, int, int, int]) -> str:
    return f"{now} {c[0]} {c[1]} {c[2]} {c[3]}:{c[4]} {fmt_tag(c[5])} {fmt_tag(c[6])} "


class GrepSink:
    """Renders datagrams as ``sflowtool -g``: every line carries its context."""

    def render(self, dg: Datagram) -> tuple[str, str]:
        now = iso_local(dg.timestamp)
        ctx: tuple[str, int, int, int, int, int, int] = ("-", 0, 0, 0, 0, 0, 0)
        pre = _context(now, ctx)
        out = [pre + _START]
        add = out.append
        for k, v in dg.events:
            if k.__class__ is str:
                add(f"{pre}{k} {v}\n")
            elif k == E.BLOCK:
                text = v[0].text % v[1]
                add(pre + text[:-1].replace("\n", "\n" + pre) + "\n")
            elif k == E.CTX:
                ctx = v
                pre = _context(now, ctx)
            elif k == E.CTX_ELEMENT:
                ctx = (*ctx[:6], v)
                pre = _context(now, ctx)
            elif k == E.LOG:
                add(pre + v)
            elif k == E.TIME:
                add(f"{pre}{v[0]} {iso_local(v[1])}\n")
            elif k == E.FLAT_FIELD:
                add(f"{pre}{v[0]} {v[1]}\n")
        add(pre + _END)
        return "".join(out), ""
