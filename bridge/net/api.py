"""The bridge's HTTP API (sFlow-RT's forwarding calls, status and metrics).

    PUT    /forwarding/{name}/json   {"address":"10.0.0.30","port":7343,"agents":["10.0.0.254"]}
    GET    /forwarding/{name}/json   that session, with its counters
    GET    /forwarding/json          every session, by name
    DELETE /forwarding/{name}/json
    GET    /version                  the version, as text
    GET    /agents/json              per agent: datagrams, samples, losses, drops, malformed
    GET    /analyzer/json            totals
    GET    /metrics                  the same figures in the Prometheus text format
    GET    /                         a status page for people: agents and rates, refreshed every second
    GET    /capture.pcap             a live pcap stream; ?filter=BPF&agent=CIDR&format=pcapng

Errors are JSON, ``{"error": "..."}``, with the right 4xx code, and change nothing.
With a token, every request that changes state needs ``Authorization: Bearer TOKEN``;
read-only refuses them all.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import select
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.net.accounting import KIND_NAMES, Accounting, agent_text
from bridge.net.capture_stream import StreamClient, StreamHub
from bridge.net.forwarding import NAME, Forwarder, SessionError, parse_session
from bridge.output.bpf import CaptureFilter, FilterError
from bridge.output.pcap import DLT_EN10MB, file_header

_SESSION_PATH = re.compile(r"^/forwarding/([^/]+)/json$")
_STATUS_PAGE = (Path(__file__).with_name("status_page.html")).read_text(encoding="utf-8")
MAX_BODY = 65536
STREAM_BATCH_SECONDS = 0.01  # a capture stream writes at most 100 times a second; the first packet goes at once


class Api:
    def __init__(
        self,
        acct: Accounting,
        forwarder: Forwarder,
        token: str | None,
        read_only: bool,
        hub: StreamHub | None = None,
        protect_reads: bool = False,
    ) -> None:
        self.acct = acct
        self.forwarder = forwarder
        self.token = token
        self.read_only = read_only
        self.hub = hub or StreamHub()
        self.protect_reads = protect_reads
        self.started = time.time()
        self.server: ThreadingHTTPServer | None = None

    def serve(self, host: str, port: int) -> ThreadingHTTPServer:
        api = self

        class Handler(_Handler):
            pass

        Handler.api = api
        server = _Server((host, port), Handler)
        threading.Thread(target=server.serve_forever, name="sflow-bridge-api", daemon=True).start()
        self.server = server
        return server

    def close(self) -> None:
        self.hub.close_all()  # the streaming handlers write what is queued, end their responses and return
        deadline = time.monotonic() + 1.0
        while self.hub.clients and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # ---- documents
    def agents(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (agent, sub), st in list(self.acct.agents.items()):  # a copy: the receive loop adds agents
            name = agent_text(agent) if sub >= 0 or isinstance(agent, bytes) else f"{agent} (unparsed)"
            key = f"{name}/{sub}" if sub > 0 else name
            out[key] = {
                "agent": agent_text(agent),
                "subAgent": sub if sub >= 0 else None,
                "firstSeen": st.first_seen,
                "lastSeen": st.last_seen,
                "datagrams": st.datagrams,
                "datagramsLost": st.lost,
                "sequenceRestarts": st.restarts,
                "samples": {KIND_NAMES.get(k, "other"): n for k, n in list(st.samples.items())},
                "samplesLost": sum(v[1] for v in list(st.sources.values())),
                "drops": sum(list(st.drops.values())),
                "malformed": st.malformed,
            }
        return out

    def analyzer(self) -> dict[str, Any]:
        a = self.acct
        return {
            "datagramsReceived": a.datagrams,
            "datagramsDecoded": a.datagrams - a.malformed,
            "datagramsMalformed": a.malformed,
            "socketDrops": a.socket_drops,
            "packetsWritten": a.written,
            "packetsFiltered": a.skipped.get("filtered out", 0),
            "packetsSkipped": dict(list(a.skipped.items())),
            "flowSamplesWithoutHeader": a.no_header,
            # beyond the bounds of per-agent tracking (bridge/net/accounting.py): counted, not itemized
            "datagramsFromUntrackedAgents": a.untracked_datagrams,
            "samplesFromUntrackedSources": a.untracked_samples,
            "forwarded": {name: s.forwarded for name, s in self.forwarder.sessions.items()},
            "forwardErrors": {name: s.errors for name, s in self.forwarder.sessions.items()},
            "forwardDropped": {name: s.dropped for name, s in self.forwarder.sessions.items()},
            "uptime": round(time.time() - self.started, 3),
            "streams": [c.status() for c in self.hub.clients],
        }

    def metrics(self) -> str:
        a = self.analyzer()
        lines = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP sflow_bridge_{name} {help_}")
            lines.append(f"# TYPE sflow_bridge_{name} {kind}")
            for labels, value in samples:
                lines.append(f"sflow_bridge_{name}{labels} {value}")

        metric("datagrams_received_total", "counter", "sFlow datagrams received", [("", a["datagramsReceived"])])
        metric("datagrams_malformed_total", "counter", "datagrams that did not decode", [("", a["datagramsMalformed"])])
        metric("packets_written_total", "counter", "pcap records written", [("", a["packetsWritten"])])
        metric("packets_filtered_total", "counter", "packets the capture filter left out", [("", a["packetsFiltered"])])
        if a["socketDrops"] is not None:
            metric("socket_drops_total", "counter", "datagrams the kernel dropped", [("", a["socketDrops"])])
        metric("forwarded_total", "counter", "datagrams forwarded, per session",
               [(f'{{session="{n}"}}', v) for n, v in a["forwarded"].items()])  # fmt: skip
        metric("forward_dropped_total", "counter", "copies dropped while the forwarding process was behind",
               [(f'{{session="{n}"}}', v) for n, v in a["forwardDropped"].items()])  # fmt: skip
        every = list(self.agents().values())
        agents = [v for v in every if v["subAgent"] is not None]  # senders of datagrams that decoded

        def label(v: dict[str, Any]) -> str:
            return f'{{agent="{v["agent"]}",sub_agent="{v["subAgent"]}"}}'

        metric("agent_datagrams_total", "counter", "datagrams per agent", [(label(v), v["datagrams"]) for v in agents])
        metric("agent_datagrams_lost_total", "counter", "datagrams missing from each agent's sequence",
               [(label(v), v["datagramsLost"]) for v in agents])  # fmt: skip
        metric("agent_samples_lost_total", "counter", "samples missing from the data sources' sequences",
               [(label(v), v["samplesLost"]) for v in agents])  # fmt: skip
        metric("source_malformed_total", "counter", "datagrams that did not decode, per sender",
               [(f'{{source="{v["agent"]}"}}', v["malformed"]) for v in every if v["subAgent"] is None])  # fmt: skip
        metric("untracked_datagrams_total", "counter", "datagrams from agents beyond the tracked limit",
               [("", a["datagramsFromUntrackedAgents"])])  # fmt: skip
        metric("untracked_samples_total", "counter", "samples from data sources beyond the tracked limit",
               [("", a["samplesFromUntrackedSources"])])  # fmt: skip
        metric("uptime_seconds", "gauge", "seconds since the bridge started", [("", a["uptime"])])
        return "\n".join(lines) + "\n"


MAX_CONNECTIONS = 64  # open at once, each with a thread; capture streams count among them

_BUSY = json.dumps({"error": f"at most {MAX_CONNECTIONS} connections at once"}).encode()
_BUSY_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY), _BUSY))  # fmt: skip


class _Server(ThreadingHTTPServer):
    """One thread per connection, up to MAX_CONNECTIONS: idle or stalled clients cannot pile up threads."""

    daemon_threads = True  # a stuck client must not keep the process from exiting

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6  # --api [::1]:8008, or [::]:8008 for both families
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:  # from the accepting thread: never wait on this client
                request.setblocking(False)
                request.send(_BUSY_RESPONSE)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    api: Api
    server_version = f"sflow-bridge/{__version__}"
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a read or write may block: a client that stops reading is dropped

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: stderr belongs to the summary
        pass

    def _send(
        self, code: int, body: Any, content_type: str = "application/json", headers: dict[str, str] | None = None
    ):  # type: ignore[no-untyped-def]
        data = (json.dumps(body) + "\n").encode() if content_type == "application/json" else str(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(code, {"error": message}, headers=headers)

    def do_GET(self) -> None:  # noqa: N802
        path, _, query = self.path.partition("?")
        api = self.api
        if api.protect_reads and api.token is not None and not self._token_ok():
            return
        if path == "/capture.pcap":
            self._stream(query)
        elif path == "/":
            self._send(200, _STATUS_PAGE, "text/html; charset=utf-8")
        elif path == "/version":
            self._send(200, __version__ + "\n", "text/plain")
        elif path == "/forwarding/json":
            self._send(200, {n: {**s.to_json(), "forwarded": s.forwarded} for n, s in api.forwarder.sessions.items()})
        elif path == "/agents/json":
            self._send(200, api.agents())
        elif path == "/analyzer/json":
            self._send(200, api.analyzer())
        elif path == "/metrics":
            self._send(200, api.metrics(), "text/plain; version=0.0.4")
        elif m := _SESSION_PATH.match(path):
            s = api.forwarder.sessions.get(m.group(1))
            if s is None:
                self._error(404, f"no forwarding session {m.group(1)!r}")
            else:
                self._send(200, {**s.to_json(), "forwarded": s.forwarded, "errors": s.errors, "dropped": s.dropped})
        else:
            self._error(404, f"no such resource: {path}")

    def _peer_gone(self) -> bool:
        """Has a streaming client closed its end? (It sends nothing, so readable means EOF.)"""
        try:
            ready, _, _ = select.select([self.connection], [], [], 0)
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _token_ok(self) -> bool:
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.api.token}".encode()):
            self._error(401, "this request needs Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})
            return False
        return True

    def _may_change(self) -> bool:
        api = self.api
        if api.read_only:
            self._error(403, "this bridge's API is read-only")
            return False
        return api.token is None or self._token_ok()

    def _stream(self, query: str) -> None:
        """A live pcap (or pcapng) stream until the client goes away or the bridge stops."""
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        expression = params.get("filter", [""])[-1]
        try:
            flt = CaptureFilter(expression) if expression.strip() else None
        except FilterError as exc:
            self._error(400, str(exc))
            return
        try:
            agents = [ipaddress.ip_network(a, strict=False) for v in params.get("agent", []) for a in v.split(",") if a]
        except ValueError as exc:
            self._error(400, f"bad agent: {exc}")
            return
        fmt = params.get("format", ["pcap"])[-1]
        if fmt not in ("pcap", "pcapng"):
            self._error(400, "format is pcap or pcapng")
            return
        client = StreamClient(flt, agents, fmt == "pcapng", self.client_address[0])
        hub = self.api.hub
        if not hub.add(client):
            self._error(503, f"at most {hub.max_clients} capture streams at once")
            return
        try:
            self.send_response(200)
            self.send_header(
                "Content-Type", "application/vnd.tcpdump.pcap" if fmt == "pcap" else "application/octet-stream"
            )
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            head = client.writer.start() if client.writer else file_header(DLT_EN10MB, 262144)
            self.wfile.write(head)
            self.wfile.flush()
            while True:
                items = client.take(1.0)
                if items:
                    self.wfile.write(b"".join(chunk for chunk, _ in items))
                    self.wfile.flush()
                    client.sent += sum(n for _, n in items)
                    # let the next write gather what comes in meanwhile: one wake-up per datagram would
                    # cost the receive loop the GIL tens of thousands of times a second
                    time.sleep(STREAM_BATCH_SECONDS)
                elif client.closed:
                    break  # the bridge is stopping and everything queued has been written
                elif self._peer_gone():
                    break
        except OSError:
            pass  # the client went away
        finally:
            hub.remove(client)

    def do_PUT(self) -> None:  # noqa: N802
        m = _SESSION_PATH.match(self.path.split("?", 1)[0])
        if m is None:
            self._not_allowed()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(413, f"the body may hold at most {MAX_BODY} bytes")
            return
        raw = self.rfile.read(length) if length > 0 else b""
        if not self._may_change():
            return
        name = m.group(1)
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._error(400, f"the body is not valid JSON: {exc}")
            return
        try:
            session = parse_session(name, body)
            new = self.api.forwarder.put(session)
        except SessionError as exc:
            self._error(400, str(exc))
            return
        self._send(201 if new else 200, session.to_json())

    def do_DELETE(self) -> None:  # noqa: N802
        m = _SESSION_PATH.match(self.path.split("?", 1)[0])
        if m is None:
            self._not_allowed()
            return
        if not self._may_change():
            return
        name = m.group(1)
        if not NAME.match(name) or not self.api.forwarder.delete(name):
            self._error(404, f"no forwarding session {name!r}")
            return
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _not_allowed(self) -> None:
        path = self.path.split("?", 1)[0]
        if _SESSION_PATH.match(path):
            self._error(405, f"{self.command} is not allowed here", {"Allow": "GET, PUT, DELETE"})
        elif path in ("/forwarding/json", "/agents/json", "/analyzer/json", "/metrics", "/version", "/capture.pcap"):
            self._error(405, f"{self.command} is not allowed here", {"Allow": "GET"})
        else:
            self._error(404, f"no such resource: {path}")

    def do_POST(self) -> None:  # noqa: N802
        self._not_allowed()

    def do_PATCH(self) -> None:  # noqa: N802
        self._not_allowed()
