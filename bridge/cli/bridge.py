"""``sflow-bridge``: sampled packets as a live libpcap stream for tcpdump and tshark.

    sflow-bridge | tcpdump -l -r - 'tcp[tcpflags] == tcp-syn'
    sflow-bridge | tshark -l -r - -Y dns
    sflow-bridge -w sampled.pcap
    sflow-bridge demo --to 127.0.0.1:6343

Listens for sFlow on UDP 6343 (``-p``, ``-4``, ``-6``, ``-A``, ``-b`` as sflowtool) or
reads a capture of sFlow datagrams (``-r``), and writes every sampled packet
header it carries as a pcap record; ``-f`` applies a capture filter first. A
summary of what was received, lost and not written goes to stderr at exit and on
SIGUSR1.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, NoReturn

from bridge import __version__
from bridge.pcap.bpf import CaptureFilter, FilterError
from bridge.pcap.pcapng import PcapngWriter
from bridge.pcap.reader import PcapError, PcapReader
from bridge.pcap.writer import DLT_EN10MB, file_header
from bridge.pipeline.accounting import Accounting
from bridge.pipeline.pcap_bridge import RCVBUF, Bridge, Output, drain
from bridge.pipeline.talkers import BUDGET, Talkers
from bridge.sflow.bus_frame import parse_duration, parse_size
from bridge.transport.bus import BusLink
from bridge.transport.capture_stream import StreamHub
from bridge.transport.forwarding import Forwarder, SessionError, StateError, parse_session

if TYPE_CHECKING:
    from bridge.service.api import Api
    from bridge.sources.bus import BusReader

STOP_SECONDS = 0.5  # after SIGTERM or ^C: writing what had arrived, and the forwarding process's last copies
TOKEN_ENV = "SFLOW_BRIDGE_API_TOKEN"
BUS_TOKEN_ENV = "SFLOW_BRIDGE_BUS_TOKEN"  # a NATS token, kept out of the process list


class _Parser(argparse.ArgumentParser):
    """Errors in one line (no usage dump): they end up in Wireshark's dialogs and containers' logs."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


class _Signals:
    def __init__(self) -> None:
        self.stop = False
        self.report = False
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGUSR1, self._report)

    def _stop(self, signum: int, frame: object) -> None:
        self.stop = True

    def _report(self, signum: int, frame: object) -> None:
        self.report = True


def _warner(err: BinaryIO) -> Callable[[str], None]:
    def warn(text: str) -> None:
        err.write(text.encode())
        err.flush()

    return warn


def open_udp(args: argparse.Namespace, err: BinaryIO) -> list[socket.socket]:
    """The sFlow sockets, opened before any output: a busy port fails before a pcap header is written."""
    from bridge.sources.udp import open_listeners

    said: list[str] = []
    show = _warner(err)

    def warn(text: str) -> None:
        said.append(text.strip())
        show(text)

    controlled = args.listen4 or args.listen6 or args.both or args.bind is not None
    listen4 = args.listen4 or args.both
    listen6 = args.listen6 or args.both or not (args.listen4 or args.both)
    socks = open_listeners(args.port, listen4, listen6, controlled, args.bind, warn, RCVBUF, force=True)
    if not socks:
        why = [line for line in said if "failed" in line or "parse" in line]
        warn(f"sflow-bridge: unable to open a UDP socket for sFlow ({why[-1] if why else f'port {args.port}'})\n")
    return socks


def run_udp(socks: list[socket.socket], bridge: Bridge, err: BinaryIO, watch_stdout: bool) -> int:
    from bridge.sources.udp import close_door, kernel_drops

    warn = _warner(err)
    sig = _Signals()
    out = bridge.out
    forwarder = bridge.forwarder
    if forwarder is not None and (bridge.hub is not None or forwarder.sessions):  # sessions there or to come
        try:  # live, copies go from a process of their own (bridge/transport/forwarding.py); ready before "listening"
            forwarder.start_process()
        except OSError as exc:
            warn(f"sflow-bridge: {exc}\n")
            return 1
    where = ", ".join(f"[{s.getsockname()[0]}]:{s.getsockname()[1]}" for s in socks)
    warn(f"sflow-bridge: listening for sFlow on UDP {where}\n")
    poller = select.poll()
    by_fd = {}
    for s in socks:
        poller.register(s.fileno(), select.POLLIN)
        by_fd[s.fileno()] = s
    if watch_stdout:
        poller.register(bridge.out.fd, 0)  # only POLLERR/POLLHUP: the reader went away
    try:
        while not sig.stop and not out.closed:
            if sig.report:
                sig.report = False
                warn(bridge.acct.summary())
            try:
                ready = poller.poll(20 if out.pending else 250)
            except InterruptedError:
                continue
            for fd, _ev in ready:
                if fd == out.fd:
                    out.closed = True
                    break
                drain(by_fd[fd], bridge, 1024)  # bounded, so that a flood cannot starve the flush
            out.flush()
            if forwarder is not None:
                forwarder.flush()
            if bridge.publisher is not None:
                bridge.publisher.flush()
        if sig.stop and not out.closed:
            # what had arrived before the signal is still in the socket buffers: write that, and only
            # that (nothing that arrives later), within STOP_SECONDS even under a flood
            for s in socks:
                close_door(s)
            deadline = time.monotonic() + STOP_SECONDS
            for s in socks:
                while drain(s, bridge, 1024) == 1024 and time.monotonic() < deadline:
                    out.flush()
    finally:
        out.flush()
        if forwarder is not None:
            forwarder.close(STOP_SECONDS / 2)
        drops = [kernel_drops(s) for s in socks]
        for s in socks:
            s.close()
    known = [d for d in drops if d is not None]
    if known:
        bridge.acct.socket_drops = sum(known)
    warn(bridge.acct.summary())
    return 0


def run_bus(consumer: BusReader, bridge: Bridge, err: BinaryIO) -> int:
    """Every datagram the bus holds from --since (then live with --follow), with the time it was first received."""
    from bridge.sources.bus import BusEnded

    sig = _Signals()
    consumer.should_stop = lambda: sig.stop
    out = bridge.out
    warn = _warner(err)
    where = ", ".join(consumer.servers)
    warn(f"sflow-bridge: reading stream {consumer.stream} ({consumer.subject}) from {where}\n")
    ended = ""
    last_flush = time.monotonic()
    rest = b""
    try:
        for chunk in consumer.chunks():
            buf = rest + chunk if rest else chunk
            rest = buf[bridge.from_records(buf) :]
            now = time.monotonic()
            if out.pending and (consumer.idle() or now - last_flush > 0.1):
                out.flush()
                last_flush = now
            if sig.stop or out.closed:
                break
    except BusEnded as exc:
        ended = f"sflow-bridge: {exc}\n"
    finally:
        consumer.close()
        out.flush()
    warn(bridge.acct.summary())
    for note in consumer.notes():
        warn(f"sflow-bridge: {note}\n")
    if ended:
        warn(ended)  # last: the line a log's tail, or Wireshark's dialog, shows
        return 1
    return 0


def run_file(args: argparse.Namespace, bridge: Bridge, err: BinaryIO, stdin: BinaryIO) -> int:
    name = args.read
    try:
        stream = stdin if name == "-" else open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        err.write(f"sflow-bridge: cannot open {name}: {exc.strerror}\n".encode())
        return 1
    try:
        bridge.from_capture(PcapReader(stream, name), err)
    except PcapError as exc:
        err.write(f"sflow-bridge: {exc.text()}".encode())
        return 1
    finally:
        if stream is not stdin:
            stream.close()
        bridge.out.flush()
    err.write(bridge.acct.summary().encode())
    return 0


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="sflow-bridge",
        description="Writes the packet headers sampled by sFlow agents as a libpcap stream.",
        epilog="Subcommands: 'sflow-bridge demo --help' (a demo agent sending sFlow), "
        "'sflow-bridge extcap --help' (a capture interface for Wireshark).",
    )
    p.add_argument("-p", "--port", type=int, default=6343, help="UDP port for sFlow (default 6343)")
    p.add_argument("-4", dest="listen4", action="store_true", help="listen on IPv4 only")
    p.add_argument("-6", dest="listen6", action="store_true", help="listen on IPv6 only")
    p.add_argument("-A", dest="both", action="store_true", help="listen on IPv4 and IPv6 sockets")
    p.add_argument("-b", dest="bind", metavar="ADDRESS", help="listen on this address only")
    p.add_argument("-r", dest="read", metavar="FILE", help="read sFlow datagrams from a pcap file ('-' for stdin)")
    p.add_argument("-w", dest="write", metavar="FILE", default="-", help="write the pcap here (default '-': stdout)")
    p.add_argument(
        "--pcapng",
        action="store_true",
        help="write pcapng: an interface per agent and data source, direction, and a comment per packet",
    )
    p.add_argument("--discards", action="store_true",
                   help="classic pcap: write the packets agents report dropping too, unmarked (pcapng always writes "
                        "them, on interfaces of their own, with the reason in each comment)")  # fmt: skip
    p.add_argument("-f", dest="filter", metavar="FILTER", help="capture filter in tcpdump syntax, e.g. 'port 53'")
    p.add_argument(
        "--api",
        default=None,
        metavar="HOST:PORT",
        help="where the HTTP API listens (default 127.0.0.1:8008; 'none' turns it off)",
    )
    p.add_argument("--api-token", default=None,
                   help=f"require 'Authorization: Bearer TOKEN' for API changes and capture streams; prefer "
                        f"${TOKEN_ENV}, which other users cannot read in the process list")  # fmt: skip
    p.add_argument("--read-only", action="store_true", help="the API refuses every call that changes state")
    p.add_argument(
        "--protect-reads",
        action="store_true",
        help="with a token, every API request needs it, status and metrics included",
    )
    p.add_argument("--api-open", action="store_true",
                   help="without a token, let every host that reaches the API change it and stream packets "
                        "(sFlow-RT's behaviour; by default only loopback clients may)")  # fmt: skip
    p.add_argument("--api-host", action="append", default=[], metavar="NAME",
                   help="a host name the API answers to besides its addresses and localhost; repeatable")  # fmt: skip
    p.add_argument("--max-streams", type=int, default=8, help="most /capture.pcap clients at once (default 8)")
    p.add_argument("--top-talkers", type=int, default=1000, metavar="N",
                   help="flows the top talkers (/flows/json) keep per 10 seconds (default 1000; 0: off)")  # fmt: skip
    p.add_argument("--top-talkers-budget", type=int, default=BUDGET, metavar="N",
                   help=f"flow samples a second the top talkers read one by one; beyond, one datagram in k, "
                        f"weighed k times (default {BUDGET})")  # fmt: skip
    p.add_argument("--forward", action="append", default=[], metavar="HOST[/PORT]",
                   help="forward every datagram, unchanged, to HOST port PORT (default 6343); repeatable")  # fmt: skip
    p.add_argument("--forward-broadcast", action="store_true",
                   help="allow forwarding to broadcast, multicast and unspecified addresses")  # fmt: skip
    p.add_argument("--max-sessions", type=int, default=32, help="most forwarding sessions (default 32, at most 255)")
    p.add_argument("--state", metavar="FILE", help="keep forwarding sessions in FILE across restarts")
    bus = p.add_argument_group("the sFlow bus (NATS JetStream; docs/bus.md)")
    bus.add_argument(
        "--publish",
        action="append",
        default=[],
        metavar="nats://HOST:4222",
        help="publish every datagram, unchanged, to this NATS server's JetStream; repeatable (a cluster)",
    )
    bus.add_argument("--bus-stream", default="SFLOW", metavar="NAME", help="the stream (default SFLOW)")
    bus.add_argument("--bus-subject", default="sflow", metavar="PREFIX",
                     help="subject prefix: PREFIX.<agent> (default sflow)")  # fmt: skip
    bus.add_argument("--retain", default="1h", metavar="AGE", help="the stream keeps datagrams this long (default 1h)")
    bus.add_argument("--retain-bytes", default=None, metavar="SIZE", help="and at most this much (like 2G)")
    bus.add_argument("--bus-creds", default=None, metavar="FILE", help="NATS credentials file (.creds)")
    bus.add_argument(
        "--from",
        dest="from_bus",
        action="append",
        default=[],
        metavar="nats://HOST:4222",
        help="read the bus instead of UDP: live, or from --since; repeatable (a cluster)",
    )
    bus.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="CIDR",
        help="with --from: only these agents (a prefix on byte boundaries is asked of the server)",
    )
    bus.add_argument("--since", metavar="WHEN", help="with --from: replay from then (15m ago, or 2026-12-03T03:00Z)")
    bus.add_argument("--until", metavar="WHEN", help="with --from: stop at that time")
    bus.add_argument("--follow", action="store_true", help="with --since: go on live once the replay caught up")
    p.add_argument("--version", action="version", version=f"sflow-bridge {__version__}")
    return p


def _bus_options(args: argparse.Namespace, p: argparse.ArgumentParser, urls: list[str], flag: str) -> dict[str, object]:
    """What --publish and --from share: nats-py present, the addresses, the stream and subject names, credentials."""
    try:
        import nats  # noqa: F401 - only to say at once that it is missing
    except ImportError:
        p.error(f"{flag} needs nats-py: pip install 'sflow-bridge[bus]' (or pip install nats-py)")
    for url in urls:
        if not url.startswith(("nats://", "tls://")):
            p.error(f"{flag} {url}: a nats://HOST:PORT or tls://HOST:PORT address")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", args.bus_stream):
        p.error(f"--bus-stream {args.bus_stream!r}: letters, digits, - and _ only")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}(\.[A-Za-z0-9_-]{1,32}){0,3}", args.bus_subject):
        p.error(f"--bus-subject {args.bus_subject!r}: tokens of letters, digits, - and _, joined by dots")
    options: dict[str, object] = {}
    if args.bus_creds:
        if not os.path.isfile(args.bus_creds):
            p.error(f"--bus-creds {args.bus_creds}: no such file")
        options["user_credentials"] = args.bus_creds
    if os.environ.get(BUS_TOKEN_ENV):
        options["token"] = os.environ[BUS_TOKEN_ENV]
    return options


def _consumer(args: argparse.Namespace, p: argparse.ArgumentParser) -> BusReader | None:
    if not args.from_bus:
        for flag, given in (("--agent", args.agent), ("--since", args.since), ("--until", args.until),
                            ("--follow", args.follow)):  # fmt: skip
            if given:
                p.error(f"{flag} goes with --from")
        return None
    if args.read is not None or args.publish:
        p.error("--from reads the bus: it goes with neither -r nor --publish")
    from bridge.sflow.agent_match import AgentMatch
    from bridge.sflow.bus_frame import BusError, parse_time
    from bridge.sources.bus import BusReader

    _bus_options(args, p, args.from_bus, "--from")
    try:
        AgentMatch(args.agent)  # checked here: the reading process takes them as they are
    except ValueError as exc:
        p.error(f"--agent: {exc}")
    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except BusError as exc:
        p.error(str(exc))
    if since is not None and until is not None and until <= since:
        p.error("--until is not after --since")
    follow = args.follow or since is None
    return BusReader(args.from_bus, args.bus_stream, args.bus_subject, args.agent, since, until, follow,
                     args.bus_creds)  # fmt: skip


def _publisher(args: argparse.Namespace, p: argparse.ArgumentParser) -> BusLink | None:
    """The bus publisher the options ask for (started by the caller), or None."""
    if not args.publish:
        return None
    from bridge.sflow.bus_frame import BusError

    options = _bus_options(args, p, args.publish, "--publish")
    try:
        retain = parse_duration(args.retain)
        retain_bytes = parse_size(args.retain_bytes) if args.retain_bytes else None
    except BusError as exc:
        p.error(str(exc))
    config = {
        "servers": args.publish,
        "stream": args.bus_stream,
        "prefix": args.bus_subject,
        "retain": retain,
        "retain_bytes": retain_bytes,
        "creds": options.get("user_credentials"),
    }  # the token: by environment
    return BusLink(config)


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "demo":
        from bridge.cli import demo

        return demo.main(args_list[1:])
    if args_list and args_list[0] == "extcap":
        from bridge.cli import extcap

        return extcap.main(args_list[1:], run_bridge=main)  # the bridge runs here for a local capture
    p = parser()
    args = p.parse_args(args_list)
    if not 0 <= args.port <= 65535:
        p.error(f"port {args.port} out of range")
    if not 0 <= args.max_sessions <= 255:
        p.error(f"--max-sessions {args.max_sessions}: from 0 to 255")
    if not 0 <= args.top_talkers <= 100_000:
        p.error(f"--top-talkers {args.top_talkers}: from 0 (off) to 100000")
    if not 8 <= args.top_talkers_budget <= 10_000_000:
        p.error(f"--top-talkers-budget {args.top_talkers_budget}: from 8 to 10000000")
    err = sys.stderr.buffer
    if args.api_token is None:
        args.api_token = os.environ.get(TOKEN_ENV)
    if args.api_token is not None and not args.api_token.strip():
        p.error(f"the API token is empty ({TOKEN_ENV} or --api-token): give one, or unset it")
    if args.protect_reads and args.api_token is None:
        p.error(f"--protect-reads needs a token ({TOKEN_ENV} or --api-token)")
    if args.api_open and args.api_token is not None:
        p.error("--api-open opens the API to everyone; it cannot go with a token")
    try:
        flt = CaptureFilter(args.filter) if args.filter else None
    except FilterError as exc:
        p.error(str(exc))
    to_stdout = args.write == "-"
    if to_stdout and sys.stdout.isatty():
        p.error("will not write a binary pcap stream to a terminal: pipe it (| tcpdump -r -) or use -w FILE")
    publisher = _publisher(args, p)
    consumer = _consumer(args, p)
    socks = open_udp(args, err) if args.read is None and consumer is None else []
    if args.read is None and consumer is None and not socks:
        return 1
    if consumer is not None:
        from bridge.sources.bus import BusEnded

        try:
            consumer.start()  # the bus reached and its stream found before a pcap header is written
        except BusEnded as exc:
            err.write(f"sflow-bridge: {exc}\n".encode())
            return 1
    try:
        stream = sys.stdout.buffer if to_stdout else open(args.write, "wb")  # noqa: SIM115
    except OSError as exc:
        p.error(f"cannot write {args.write}: {exc.strerror}")
    try:
        forwarder = Forwarder(args.port, args.max_sessions, args.state, args.forward_broadcast)
    except StateError as exc:
        p.error(str(exc))
    for i, target in enumerate(args.forward):
        host, _, port = target.rpartition("/") if "/" in target else (target, "", "6343")
        if not port.isdigit():
            p.error(f"--forward {target}: the port must be a number")
        try:
            forwarder.put(parse_session(f"startup-{i + 1}", {"address": host.strip("[]"), "port": int(port)}))
        except (SessionError, StateError) as exc:
            p.error(f"--forward {target}: {exc}")
    api = _start_api(args, forwarder, err, p)
    out = Output(stream)
    writer = PcapngWriter() if args.pcapng else None
    out.add(writer.start() if writer else file_header(DLT_EN10MB, 262144))
    out.flush()
    bridge = Bridge(out, flt, writer, forwarder, api.hub if api is not None else None, args.discards)
    if api is not None:
        if args.top_talkers > 0:
            bridge.talkers = Talkers(args.top_talkers, args.top_talkers_budget)
        api.attach(bridge.acct, bridge.talkers, lambda: _socket_drops(bridge, socks))
    if publisher is not None:
        bridge.publisher = publisher
        if api is not None:
            api.publisher = publisher
        try:
            publisher.start()
        except OSError as exc:
            err.write(f"sflow-bridge: {exc}\n".encode())
            return 1
    try:
        if args.read is not None:
            return run_file(args, bridge, err, sys.stdin.buffer)
        if consumer is not None:
            return run_bus(consumer, bridge, err)
        # a pipe or FIFO (tcpdump, Wireshark's extcap FIFO): its reader going away ends the bridge
        return run_udp(socks, bridge, err, watch_stdout=_is_pipe(out.fd))
    finally:
        for s in socks:
            s.close()
        if publisher is not None:
            publisher.close()
            err.write(publisher.summary().encode())
        if api is not None:
            api.close()
        if not to_stdout:
            stream.close()


def _start_api(args: argparse.Namespace, forwarder: Forwarder, err: BinaryIO, p: argparse.ArgumentParser) -> Api | None:
    if args.api == "none" or (args.api is None and args.read is not None):
        return None  # no API unless asked for when converting a file
    from bridge.service.api import Api  # here: its HTTP modules take a third of the start-up time

    where = args.api or "127.0.0.1:8008"
    host, _, port_text = where.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        p.error(f"--api wants HOST:PORT, not {where!r}")
    api = Api(Accounting(), forwarder, args.api_token, args.read_only, StreamHub(args.max_streams), args.protect_reads,
              args.api_open, args.api_host)  # fmt: skip
    try:
        api.serve(host.strip("[]") or "0.0.0.0", port)
    except OSError as exc:
        if args.api is not None:
            p.error(f"the HTTP API cannot listen on {where}: {exc.strerror}")
        # the default address is busy (another bridge?): carry on without the API, and say so
        err.write(f"sflow-bridge: no HTTP API: {where} is not available ({exc.strerror})\n".encode())
        return None
    err.write(f"sflow-bridge: HTTP API on http://{where}/ ({api.mode()})\n".encode())
    return api


def _socket_drops(bridge: Bridge, socks: list[socket.socket]) -> None:
    """The kernel's drop count, read for the API's history while the bridge runs."""
    from bridge.sources.udp import kernel_drops

    try:
        known = [d for d in (kernel_drops(s) for s in socks if s.fileno() >= 0) if d is not None]
    except OSError:  # closed meanwhile: the bridge is stopping, and counts them at the end
        return
    if known:
        bridge.acct.socket_drops = sum(known)


def _is_pipe(fd: int) -> bool:
    import stat

    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
