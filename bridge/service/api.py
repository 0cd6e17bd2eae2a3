"""The bridge's HTTP API (sFlow-RT's forwarding calls, status and metrics).

    PUT    /forwarding/{name}/json   {"address":"10.0.0.30","port":7343,"agents":["10.0.0.254"]}
    GET    /forwarding/{name}/json   that session, with its counters
    GET    /forwarding/json          every session, by name
    DELETE /forwarding/{name}/json
    GET    /version                  the version, as text
    GET    /agents/json              per agent: datagrams, samples, losses, drops, malformed
    GET    /analyzer/json            totals
    GET    /metrics                  the same figures in the Prometheus text format
    GET    /history/json             the totals' rates, second by second, for the last 15 minutes
    GET    /agents/page/json         one page of agents: ?sort=FIELD&order=asc|desc&filter=TEXT&offset=N&limit=N
    GET    /agents/detail/json       one agent's data sources: ?agent=ADDRESS&subAgent=N
    GET    /flows/json               top talkers of the last minute, estimated: ?by=src,dst,proto&top=20
    GET    /                         a status page for people: charts, agents, top talkers
    GET    /capture.pcap             a live pcap stream; ?filter=BPF&agent=CIDR&format=pcapng&discards=1

Errors are JSON, ``{"error": "..."}``, with the right 4xx or 5xx code, and change nothing.

Who may do what (the threat model; the README says it for people):
- Reads (status, agents, totals, metrics, the page) carry no packet contents: anyone who reaches the
  API may read them, unless ``--protect-reads`` asks the token for them too.
- Changes (PUT, DELETE) and capture streams (packet contents): with a token, only requests that
  carry ``Authorization: Bearer TOKEN``; without one, on an API that listens beyond loopback,
  only clients on loopback (protected mode, after Redis) unless ``--api-open`` says otherwise.
- ``--read-only`` refuses every change, token or not.
- The Host header must be an IP address, ``localhost`` or a name given with ``--api-host``: a web
  page cannot reach the API through a name of its own (DNS rebinding), and a PUT must be
  ``application/json``, which a browser cannot send across origins without a preflight (refused).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from bridge import __version__
from bridge.pcap.bpf import MAX_FILTER_LENGTH, CaptureFilter, FilterError
from bridge.pcap.writer import DLT_EN10MB, file_header
from bridge.pipeline.accounting import KIND_NAMES, Accounting, reason_name
from bridge.pipeline.talkers import Talkers
from bridge.service import agents_page
from bridge.service.flows import MAX_TOP, QueryError, parse_by, report
from bridge.service.history import History
from bridge.service.http_server import ClientGone, Exchange, HttpServer, Request, is_loopback, json_error
from bridge.sflow.agent_match import MAX_AGENT_PREFIXES, AgentMatch
from bridge.sflow.reader import agent_text
from bridge.transport.bus import BusLink
from bridge.transport.capture_stream import StreamClient, StreamHub
from bridge.transport.forwarding import NAME, Forwarder, SessionError, StateError, parse_session

_SESSION_PATH = re.compile(r"^/forwarding/([^/]+)/json$")
_STATUS_PAGE = (Path(__file__).with_name("status_page.html")).read_text(encoding="utf-8").encode()
_READ_PATHS = (
    "/",
    "/forwarding/json",
    "/agents/json",
    "/analyzer/json",
    "/metrics",
    "/version",
    "/capture.pcap",
    "/history/json",
    "/agents/page/json",
    "/agents/detail/json",
    "/flows/json",
)
STREAM_BATCH_SECONDS = 0.01  # a capture stream writes at most 100 times a second; the first packet goes at once


def protected_mode_message(token_env: str = "SFLOW_BRIDGE_API_TOKEN") -> str:
    return (
        "this bridge's API listens beyond loopback without a token, so only clients on loopback may change it or "
        f"stream packets. Start the bridge with a token (docker run -e {token_env}=... , or {token_env}=... "
        "sflow-bridge), then call it with: curl -H 'Authorization: Bearer ...'; or start it with --api-open to "
        "allow everyone (sFlow-RT's behaviour)"
    )


class Api:
    def __init__(
        self,
        acct: Accounting,
        forwarder: Forwarder,
        token: str | None,
        read_only: bool,
        hub: StreamHub | None = None,
        protect_reads: bool = False,
        open_to_all: bool = False,
        host_names: list[str] | None = None,
    ) -> None:
        self.acct = acct
        self.forwarder = forwarder
        self.token = token
        self.read_only = read_only
        self.hub = hub or StreamHub()
        self.protect_reads = protect_reads
        self.open_to_all = open_to_all
        self.host_names = {"localhost", *(n.lower().rstrip(".") for n in host_names or [])}
        self.protected = False  # set by serve(): beyond loopback without a token
        self.started = time.time()
        self.server: HttpServer | None = None
        self.talkers: Talkers | None = None
        self.publisher: BusLink | None = None  # the sFlow bus, when the bridge publishes to one
        self.history = History(acct)
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(self))  # type: ignore[arg-type]

    def serve(self, host: str, port: int) -> HttpServer:
        server = HttpServer(host, port, self.handle, self.gate)
        bound = str(server.listener.getsockname()[0])
        self.protected = self.token is None and not self.open_to_all and not is_loopback(bound)
        server.start()
        self.server = server
        return server

    def attach(self, acct: Accounting, talkers: Talkers | None, socket_drops: Any = None) -> None:
        """The bridge's counters and top talkers; the history starts reading them each second."""
        self.acct = acct
        self.talkers = talkers
        self.history = History(acct, socket_drops)
        self.history.start()

    def mode(self) -> str:
        """One line for the start-up message: who may change this API and stream from it."""
        if self.read_only:
            return "read-only"
        if self.token is not None:
            return "changes and capture streams need the token" + (", reads too" if self.protect_reads else "")
        if self.protected:
            return ("protected mode: other hosts may only read status; set SFLOW_BRIDGE_API_TOKEN to let them "
                    "change it and stream packets")  # fmt: skip
        if self.open_to_all:
            return "open to everyone who reaches it (--api-open)"
        return "loopback only"

    def close(self) -> None:
        self.history.stop()
        self.hub.close_all()  # the streaming handlers write what is queued, end their responses and return
        deadline = time.monotonic() + 1.0
        while self.hub.clients and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.server is not None:
            self.server.close()

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
                "discards": {reason_name(r): n for r, n in list(st.discards.items())},
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
            "dropsWritten": a.drops_written,
            "packetsFiltered": a.skipped.get("filtered out", 0),
            "packetsSkipped": dict(list(a.skipped.items())),
            "flowSamplesWithoutHeader": a.no_header,
            # beyond the bounds of per-agent tracking (bridge/pipeline/accounting.py): counted, not itemized
            "datagramsFromUntrackedAgents": a.untracked_datagrams,
            "samplesFromUntrackedSources": a.untracked_samples,
            "forwarded": {name: s.forwarded for name, s in self.forwarder.sessions.items()},
            "forwardErrors": {name: s.errors for name, s in self.forwarder.sessions.items()},
            "forwardDropped": {name: s.dropped for name, s in self.forwarder.sessions.items()},
            "uptime": round(time.time() - self.started, 3),
            "streams": [c.status() for c in self.hub.clients],
            "bus": self.publisher.status() if self.publisher is not None else None,
        }

    def metrics(self) -> bytes:
        return generate_latest(self._registry)

    # ---- who may do what, decided before a body is read
    def gate(self, req: Request, ex: Exchange) -> bool:
        method, path = req.method, req.path
        if method not in ("GET", "PUT", "DELETE"):
            if method in ("HEAD", "OPTIONS", "POST", "PATCH", "TRACE", "CONNECT"):
                _not_allowed(ex, method, path)
            else:
                json_error(ex, 501, f"method {method} is not implemented")
            return False
        if not self._host_ok(req.header("host")):
            json_error(ex, 403, f"Host {req.header('host')!r} is not a name of this API: use its address, localhost, "
                                "or start it with --api-host NAME")  # fmt: skip
            return False
        # the page itself holds no figures (it asks for them, with the token): served to all, so it can ask for it
        page = method == "GET" and path == "/"
        if self.protect_reads and self.token is not None and not page and not self._token_ok(req, ex):
            return False
        changes = method != "GET"
        if changes and _SESSION_PATH.match(path) is None:
            _not_allowed(ex, method, path)
            return False
        if changes or path == "/capture.pcap":
            if changes and self.read_only:
                json_error(ex, 403, "this bridge's API is read-only")
                return False
            if self.token is not None:
                if not self.protect_reads and not self._token_ok(req, ex):
                    return False
            elif self.protected and not is_loopback(req.client):
                json_error(ex, 403, protected_mode_message())
                return False
        if method == "PUT" and req.header("content-type").split(";")[0].strip().lower() != "application/json":
            json_error(ex, 415, "a PUT body must be sent as Content-Type: application/json")
            return False
        return True

    def _host_ok(self, host: str) -> bool:
        name = host.strip()
        if name.startswith("["):
            name = name[1 : name.find("]")] if "]" in name else ""
            return _is_ip(name)
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
        name = name.lower().rstrip(".")
        # an address cannot be rebound: a page that uses it came from that address
        return _is_ip(name) or name in self.host_names

    def _token_ok(self, req: Request, ex: Exchange) -> bool:
        given = req.header("authorization")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            json_error(ex, 401, "this request needs Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})
            return False
        return True

    # ---- answers
    def handle(self, req: Request, ex: Exchange) -> None:
        try:
            if req.method == "GET":
                self._get(req, ex)
            elif req.method == "PUT":
                self._put(req, ex)
            else:
                self._delete(req, ex)
        except ClientGone:
            raise
        except Exception as exc:  # a defect of ours: one line for the client, the bridge goes on
            ex.close_after = True
            json_error(ex, 500, f"internal error: {type(exc).__name__}: {exc}")

    def _json(self, ex: Exchange, code: int, body: Any) -> None:
        ex.reply(code, (json.dumps(body) + "\n").encode(), "application/json")

    def _get(self, req: Request, ex: Exchange) -> None:
        path, fwd = req.path, self.forwarder
        if path == "/capture.pcap":
            self._stream(req, ex)
        elif path == "/":
            ex.reply(200, _STATUS_PAGE, "text/html; charset=utf-8")
        elif path == "/version":
            ex.reply(200, (__version__ + "\n").encode(), "text/plain")
        elif path == "/forwarding/json":
            self._json(ex, 200, {n: fwd.describe(s) for n, s in fwd.sessions.items()})
        elif path == "/agents/json":
            self._json(ex, 200, self.agents())
        elif path == "/analyzer/json":
            self._json(ex, 200, self.analyzer())
        elif path == "/history/json":
            self._json(ex, 200, self.history.document())
        elif path == "/agents/page/json":
            self._query(ex, req, lambda q: agents_page.page(self.acct, self.history, q))
        elif path == "/agents/detail/json":
            self._query(ex, req, lambda q: agents_page.detail(self.acct, self.history, q))
        elif path == "/flows/json":
            self._query(ex, req, self._flows)
        elif path == "/metrics":
            ex.reply(200, self.metrics(), "text/plain; version=0.0.4; charset=utf-8")
        elif m := _SESSION_PATH.match(path):
            s = fwd.sessions.get(m.group(1))
            if s is None:
                json_error(ex, 404, f"no forwarding session {m.group(1)!r}")
            else:
                self._json(ex, 200, {**fwd.describe(s), "errors": s.errors, "dropped": s.dropped})
        else:
            json_error(ex, 404, f"no such resource: {path}")

    def _query(self, ex: Exchange, req: Request, answer: Any) -> None:
        try:
            params = urllib.parse.parse_qs(req.query, keep_blank_values=True, max_num_fields=16)
            query = {k: v[-1] for k, v in params.items()}
            self._json(ex, 200, answer(query))
        except (ValueError, QueryError) as exc:  # parse_qs's too many fields, or a bad value
            json_error(ex, 400, str(exc))
        except LookupError as exc:
            json_error(ex, 404, str(exc.args[0]))

    def _flows(self, query: dict[str, str]) -> dict[str, Any]:
        if self.talkers is None:
            raise LookupError("top talkers are off (--top-talkers 0)")
        by = parse_by(query.get("by", ""))
        top = agents_page.number(query, "top", 20, 1, MAX_TOP)
        return report(self.talkers, by, top)

    def _put(self, req: Request, ex: Exchange) -> None:
        m = _SESSION_PATH.match(req.path)
        assert m is not None  # the gate let only session paths through
        try:
            body = json.loads(req.body.decode("utf-8")) if req.body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            json_error(ex, 400, f"the body is not valid JSON: {exc}")
            return
        except RecursionError:
            json_error(ex, 400, "the body is not valid JSON: nested too deeply")
            return
        try:
            session = parse_session(m.group(1), body)
            new = self.forwarder.put(session)
        except SessionError as exc:
            json_error(ex, 400, str(exc))
            return
        except StateError as exc:
            json_error(ex, 500, str(exc))
            return
        self._json(ex, 201 if new else 200, self.forwarder.describe(session, counters=False))

    def _delete(self, req: Request, ex: Exchange) -> None:
        m = _SESSION_PATH.match(req.path)
        assert m is not None
        name = m.group(1)
        try:
            gone = NAME.match(name) is not None and self.forwarder.delete(name)
        except StateError as exc:
            json_error(ex, 500, str(exc))
            return
        if not gone:
            json_error(ex, 404, f"no forwarding session {name!r}")
            return
        ex.reply(204, b"", "application/json")

    def _stream(self, req: Request, ex: Exchange) -> None:
        """A live pcap (or pcapng) stream until the client goes away or the bridge stops."""
        hub = self.hub
        if not hub.reserve():  # before the filter costs anything
            json_error(ex, 503, f"at most {hub.max_clients} capture streams at once")
            return
        try:
            client = self._new_stream(req)
            if isinstance(client, StreamClient):
                hub.add(client)
        finally:
            hub.unreserve()  # before any answer: a client's next request must find the place free
        if not isinstance(client, StreamClient):
            json_error(ex, 400, client)
            return
        try:
            ex.streaming()
            ctype = "application/octet-stream" if client.writer else "application/vnd.tcpdump.pcap"  # pcapng, pcap
            ex.stream(200, {"Content-Type": ctype, "Cache-Control": "no-store"}, self._chunks(client, ex))
        finally:
            hub.remove(client)

    @staticmethod
    def _new_stream(req: Request) -> StreamClient | str:
        """The stream a request asks for, or what is wrong with the request."""
        try:
            params = urllib.parse.parse_qs(req.query, keep_blank_values=True, max_num_fields=MAX_AGENT_PREFIXES + 8)
        except ValueError as exc:  # too many fields
            return f"bad query: {exc}"
        expression = params.get("filter", [""])[-1]
        if len(expression) > MAX_FILTER_LENGTH:
            return f"the filter may be at most {MAX_FILTER_LENGTH} characters"
        fmt = params.get("format", ["pcap"])[-1]
        if fmt not in ("pcap", "pcapng"):
            return "format is pcap or pcapng"
        discards = params.get("discards", ["0"])[-1]
        if discards not in ("0", "1", "true", "false", ""):
            return "discards is 1 or 0"
        try:
            agents = AgentMatch([a for v in params.get("agent", []) for a in v.split(",") if a])
        except ValueError as exc:
            return f"bad agent: {exc}"
        try:
            flt = CaptureFilter(expression) if expression.strip() else None
        except FilterError as exc:
            return str(exc)
        client = StreamClient(flt, agents, fmt == "pcapng", req.client)
        client.discards = discards in ("1", "true", "")  # pcap: the packets agents dropped too (pcapng has them)
        return client

    @staticmethod
    def _chunks(client: StreamClient, ex: Exchange) -> Iterator[bytes]:
        yield client.writer.start() if client.writer else file_header(DLT_EN10MB, 262144)
        while True:
            items = client.take(1.0)
            if items:
                yield b"".join(chunk for chunk, _ in items)
                client.sent += sum(n for _, n in items)
                # let the next write gather what comes in meanwhile: one wake-up per datagram would
                # cost the receive loop the GIL tens of thousands of times a second
                time.sleep(STREAM_BATCH_SECONDS)
            elif client.closed or ex.peer_gone():
                return  # the bridge is stopping and everything queued has been written, or the client left


def _not_allowed(ex: Exchange, method: str, path: str) -> None:
    if _SESSION_PATH.match(path):
        json_error(ex, 405, f"{method} is not allowed here", {"Allow": "GET, PUT, DELETE"})
    elif path in _READ_PATHS:
        json_error(ex, 405, f"{method} is not allowed here", {"Allow": "GET"})
    else:
        json_error(ex, 404, f"no such resource: {path}")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _Collector:
    """/metrics: built from the counters when scraped, nothing kept on the receive path."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        api = self.api
        a = api.analyzer()

        def counter(name: str, help_: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"sflow_bridge_{name}", help_, value=value)

        yield counter("datagrams_received", "sFlow datagrams received", a["datagramsReceived"])
        yield counter("datagrams_malformed", "datagrams that did not decode", a["datagramsMalformed"])
        yield counter("packets_written", "sampled packets written", a["packetsWritten"])
        yield counter("drops_written", "packets agents dropped (discard samples) written", a["dropsWritten"])
        yield counter("packets_filtered", "packets the capture filter left out", a["packetsFiltered"])
        if a["socketDrops"] is not None:
            yield counter("socket_drops", "datagrams the kernel dropped", a["socketDrops"])
        by_session = (
            ("forwarded", "datagrams forwarded, per session", "forwarded"),
            ("forward_errors", "copies that could not be sent, per session", "forwardErrors"),
            ("forward_dropped", "copies dropped while the forwarding process was behind", "forwardDropped"),
        )
        for name, help_, key in by_session:
            family = CounterMetricFamily(f"sflow_bridge_{name}", help_, labels=["session"])
            for session, value in a[key].items():
                family.add_metric([session], value)
            yield family
        every = list(api.agents().values())
        agents = [v for v in every if v["subAgent"] is not None]  # senders of datagrams that decoded
        per_agent = (
            ("agent_datagrams", "datagrams per agent", "datagrams"),
            ("agent_datagrams_lost", "datagrams missing from each agent's sequence", "datagramsLost"),
            ("agent_samples_lost", "samples missing from the data sources' sequences", "samplesLost"),
        )
        for name, help_, key in per_agent:
            family = CounterMetricFamily(f"sflow_bridge_{name}", help_, labels=["agent", "sub_agent"])
            for v in agents:
                family.add_metric([v["agent"], str(v["subAgent"])], v[key])
            yield family
        samples = CounterMetricFamily("sflow_bridge_agent_samples", "samples per agent, by kind",
                                      labels=["agent", "sub_agent", "kind"])  # fmt: skip
        discards = CounterMetricFamily("sflow_bridge_agent_discards", "discard samples per agent, by drop reason",
                                       labels=["agent", "sub_agent", "reason"])  # fmt: skip
        for v in agents:
            for kind, n in v["samples"].items():
                samples.add_metric([v["agent"], str(v["subAgent"]), kind], n)
            for reason, n in v["discards"].items():
                discards.add_metric([v["agent"], str(v["subAgent"]), reason], n)
        yield samples
        yield discards
        bad = CounterMetricFamily("sflow_bridge_source_malformed", "datagrams that did not decode, per sender",
                                  labels=["source"])  # fmt: skip
        for v in every:
            if v["subAgent"] is None:
                bad.add_metric([v["agent"]], v["malformed"])
        yield bad
        yield counter("untracked_datagrams", "datagrams from agents beyond the tracked limit",
                      a["datagramsFromUntrackedAgents"])  # fmt: skip
        yield counter("untracked_samples", "samples from data sources beyond the tracked limit",
                      a["samplesFromUntrackedSources"])  # fmt: skip
        bus = a["bus"]
        if bus is not None:
            yield counter("bus_published", "datagrams the bus's stream acknowledged", bus["published"])
            family = CounterMetricFamily("sflow_bridge_bus_unpublished", "datagrams not published, by reason",
                                         labels=["reason"])  # fmt: skip
            for reason, n in bus["unpublished"].items():
                family.add_metric([reason], n)
            yield family
        yield GaugeMetricFamily("sflow_bridge_uptime_seconds", "seconds since the bridge started", value=a["uptime"])
