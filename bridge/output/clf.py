"""sflowtool's ``-H``: a common-log-format line per flow sample with an HTTP record."""

from __future__ import annotations

from bridge.output.lines import SampleFilter
from bridge.output.timefmt import clf_local
from bridge.sflow import events as E
from bridge.sflow.datagram import Datagram
from bridge.sflow.flow import HTTP_METHODS

_MAX_LINE = 1999  # sflowtool formats into a 2000-byte buffer


class CommonLogSink:
    sample_filter: SampleFilter | None = None

    def render(self, dg: Datagram) -> tuple[str, str]:
        out = []
        for k, v in dg.events:
            if k == E.DONE and v[0] == E.DONE_FLOW and v[1].http is not None:
                if self.sample_filter is not None and not self.sample_filter(v[1]):
                    continue
                s = v[1]
                authuser, method, uri, protocol, status, resp_bytes, referrer, useragent = s.http
                # sflowtool indexes its 9-name table without a bound; "-" is the log format's blank
                name = HTTP_METHODS[method] if method < len(HTTP_METHODS) else "-"
                line = (
                    f'- {authuser or "-"} [{clf_local(dg.timestamp)}] "{name} {uri or "-"} '
                    f'HTTP/{protocol // 1000}.{protocol % 1000}" {status} {resp_bytes} '
                    f'"{referrer or "-"}" "{useragent or "-"}"'
                )
                out.append(f"{s.clf_client[:63]} {line[:_MAX_LINE]}\n")
        return "".join(out), ""
