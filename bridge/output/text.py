"""sflowtool's default text output and its grep-friendly ``-g`` variant.

Default: ``name value`` lines between ``startDatagram``/``endDatagram`` markers.
``-g``: the same lines, each prefixed with the datagram time, agent, sub-agent,
sequence number, data source, sample tag and record tag current when it was printed.
"""

from __future__ import annotations

from typing import Final

from bridge.output.timefmt import iso_local
from bridge.sflow import events as E
from bridge.sflow.datagram import Datagram
from bridge.sflow.reader import fmt_tag

_START: Final = "startDatagram =================================\n"
_END: Final = "endDatagram   =================================\n"


class TextSink:
    """Renders datagrams as sflowtool's default output."""

    def render(self, dg: Datagram) -> tuple[str, str]:
        out = [_START]
        for k, v in dg.events:
            if isinstance(k, str):
                out.append(f"{k} {v}\n")
                continue
            if isinstance(k, E.Block):
                out.append(k.text % v)
                continue
            code: int = k  # the event codes are ints: compared natively once compiled
            if code == E.LOG:
                out.append(v)
            elif code == E.TIME:
                out.append(f"{v[0]} {iso_local(v[1])}\n")
            elif code == E.FLAT_FIELD:
                out.append(f"{v[0]} {v[1]}\n")
        out.append(_END)
        return "".join(out), ""


Context = tuple[str, int, int, int, int, int, int]  # agent, sub-agent, sequence, ds class, ds index, tags


def _head(now: str, c: Context) -> str:
    """The datagram's part of a -g line prefix: time, agent, sub-agent, sequence number."""
    return f"{now} {c[0]} {c[1]} {c[2]} "


def _sample_prefix(head: str, c: Context) -> str:
    """A -g line prefix up to the record tag: the datagram's part, then data source and sample tag."""
    return f"{head}{c[3]}:{c[4]} {fmt_tag(c[5])} "


class GrepSink:
    """Renders datagrams as ``sflowtool -g``: every line carries its context.

    Lines are gathered per context and prefixed together (one replace per run of
    lines), except a value holding a newline, whose continuation sflowtool leaves bare.
    """

    def render(self, dg: Datagram) -> tuple[str, str]:
        now = iso_local(dg.timestamp)
        ctx: Context = ("-", 0, 0, 0, 0, 0, 0)
        head = (ctx[0], ctx[1], ctx[2])
        head_text = _head(now, ctx)  # made again only when the datagram's part changes
        element = 0  # the record tag: within a sample only it changes, so the rest of the prefix is kept
        sample_pre = _sample_prefix(head_text, ctx)
        pre = f"{sample_pre}{fmt_tag(element)} "
        out: list[str] = []
        run: list[str] = [_START]
        for k, v in dg.events:
            if isinstance(k, str):
                if "\n" in v:
                    _flush(out, run, pre)
                    out.append(f"{pre}{k} {v}\n")
                else:
                    run.append(f"{k} {v}\n")
                continue
            if isinstance(k, E.Block):
                run.append(k.text % v)
                continue
            code: int = k
            if code == E.CTX:
                if v != ctx or v[6] != element:
                    _flush(out, run, pre)
                    ctx = v
                    element = ctx[6]
                    if (ctx[0], ctx[1], ctx[2]) != head:
                        head = (ctx[0], ctx[1], ctx[2])
                        head_text = _head(now, ctx)
                    sample_pre = _sample_prefix(head_text, ctx)
                    pre = f"{sample_pre}{fmt_tag(element)} "
            elif code == E.CTX_ELEMENT:
                if v != element:
                    _flush(out, run, pre)
                    element = v
                    pre = f"{sample_pre}{fmt_tag(element)} "
            elif code == E.LOG:
                run.append(v)
            elif code == E.TIME:
                run.append(f"{v[0]} {iso_local(v[1])}\n")
            elif code == E.FLAT_FIELD:
                if "\n" in v[1]:
                    _flush(out, run, pre)
                    out.append(f"{pre}{v[0]} {v[1]}\n")
                else:
                    run.append(f"{v[0]} {v[1]}\n")
        run.append(_END)
        _flush(out, run, pre)
        return "".join(out), ""


def _flush(out: list[str], run: list[str], pre: str) -> None:
    """Appends the gathered lines to ``out``, each prefixed with ``pre``."""
    if run:
        text = "".join(run)
        breaks = text.count("\n")
        if text.endswith("\n"):
            breaks -= 1  # no prefix after the last line's end
        out.append(pre)
        out.append(text.replace("\n", "\n" + pre, breaks) if breaks else text)
        run.clear()
