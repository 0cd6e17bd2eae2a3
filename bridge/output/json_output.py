"""sflowtool's JSON output: ``-j`` one object per line, ``-J`` indented.

Every value is a JSON string and nothing is escaped, exactly as sflowtool prints
it; a datagram that fails to decode is closed with a single ``}`` whatever was open.
"""

from __future__ import annotations

from bridge.output.timefmt import iso_local
from bridge.sflow import events as E
from bridge.sflow.datagram import Datagram


class JsonSink:
    def __init__(self, indent: bool = False) -> None:
        self.indent = indent
        self.list_start = False  # sflowtool keeps this flag across datagrams

    def render(self, dg: Datagram) -> tuple[str, str]:
        if not self.indent:
            return self._compact(dg), ""
        out: list[str] = []
        add = out.append
        indent = self.indent
        depth = 0
        first = True  # the datagram object itself gets no comma
        list_start = self.list_start

        def nl() -> None:
            if indent:
                add("\n" + " " * depth)

        def open_(name: str | None, bracket: str) -> None:
            nonlocal first, depth, list_start
            if first:
                first = False
            elif not list_start:
                add(",")
                nl()
            if name:
                add(f'"{name}":')
            add(bracket)
            depth += 1
            list_start = True

        def close(bracket: str) -> None:
            nonlocal depth, list_start
            depth -= 1
            nl()
            add(bracket)
            list_start = False

        def field(name: str, value: str) -> None:
            nonlocal list_start
            if not list_start:
                add(",")
            else:
                list_start = False
            nl()
            add(f'"{name}":"{value}"')

        open_(None, "{")
        for k, v in dg.events:
            if isinstance(k, str):
                field(k, v)
            elif isinstance(k, E.Block):
                if not list_start:
                    add(",")
                list_start = False
                add((k.json_indented(depth) if indent else k.json) % v)
            elif k == E.OBJ:
                open_(v, "{")
            elif k == E.OBJ_END:
                close("}")
            elif k == E.ARR:
                open_(v, "[")
            elif k == E.ARR_END:
                close("]")
            elif k == E.TIME:
                field(v[0], iso_local(v[1]))
            elif k == E.JSON_FIELD:
                field(v[0], v[1])
            elif k == E.JSON_ITEM:
                if v == ",":
                    add(",")
                else:
                    nl()
                    add(f'"{v}" ')
        close("}")
        add("\n")
        if indent:
            add("\n")
        self.list_start = list_start
        return "".join(out), ""

    def _compact(self, dg: Datagram) -> str:
        """``-j``: the same walk as :meth:`render` without indentation, inlined (the common case)."""
        out = ["{"]
        list_start = True  # nothing yet in the open object or array: no comma before the next member
        for k, v in dg.events:
            if isinstance(k, str):
                if list_start:
                    list_start = False
                    out.append(f'"{k}":"{v}"')
                else:
                    out.append(f',"{k}":"{v}"')  # the comma in the same string: one piece fewer to join
                continue
            if isinstance(k, E.Block):
                if list_start:
                    list_start = False
                    out.append(k.json % v)
                else:
                    out.append(k.json_after % v)
                continue
            code: int = k  # the event codes are ints: compared natively once compiled
            if code == E.OBJ or code == E.ARR:
                if not list_start:
                    out.append(",")
                if v:
                    out.append(f'"{v}":')
                out.append("{" if code == E.OBJ else "[")
                list_start = True
            elif code == E.OBJ_END:
                out.append("}")
                list_start = False
            elif code == E.ARR_END:
                out.append("]")
                list_start = False
            elif code == E.TIME or code == E.JSON_FIELD:
                if list_start:
                    list_start = False
                else:
                    out.append(",")
                out.append(f'"{v[0]}":"{iso_local(v[1]) if code == E.TIME else v[1]}"')
            elif code == E.JSON_ITEM:
                out.append("," if v == "," else f'"{v}" ')
        out.append("}\n")
        self.list_start = False
        return "".join(out)
