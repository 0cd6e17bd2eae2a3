"""``sflowtool``: a drop-in for sflowtool 6.11's command line and text outputs.

Reads sFlow from a UDP port (default 6343) or a pcap file (``-r``) and prints it
as sflowtool does: the default text, ``-g``, ``-l``, ``-L``, ``-j``, ``-J``, ``-H``.
"""

from __future__ import annotations

import getopt
import os
import re
import socket
import stat
import sys
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from bridge.output.clf import CommonLogSink
from bridge.output.json_output import JsonSink
from bridge.output.lines import CustomLineSink, LineSink
from bridge.output.netflow import NetflowEncoder
from bridge.output.sflowtool_pcap import SflowtoolPcapSink
from bridge.output.text import GrepSink, TextSink
from bridge.pcap.reader import Notice, PcapError, PcapReader
from bridge.pipeline.printer import NetflowExport, Pacer, Printer, Sink
from bridge.sflow.reader import signed32

SHORT_OPTS = "ljJgtTMHxesSD46Akh?zL:p:r:R:P:c:d:N:f:v:V:b:"
LONG_OPTS = {
    "line": "l", "json": "j", "json-indented": "J", "grep": "g", "write-pcap": "t",
    "write-pcap-discards": "T", "write-pcap-datagrams": "M", "common-logfile": "H",
    "redact-payload": "x", "netflow-peer-as": "e", "no-scaling": "s", "netflow-spoof-source": "S",
    "allow-dns": "D", "listen-v4-only": "4", "listen-v6-only": "6", "listen-v4-v6": "A",
    "keep-going-on-error": "k", "help": "h", "usage": "?", "version": "z",
    "fields=": "L", "port=": "p", "read-pcap=": "r", "read-pcap-sampling=": "R",
    "read-pcap-playback=": "P", "netflow-collector=": "c", "netflow-udp-dport=": "d",
    "netflow-version=": "N", "forwarding-target=": "f", "include-vlans=": "V", "exclude-vlans=": "v",
    "listen-address=": "b",
    "loop": "loop",  # not in sflowtool: with -P, replay the file again and again (sflowtool always does)
}  # fmt: skip

USAGE = """Copyright (c) InMon Corporation 2000-2019 ALL RIGHTS RESERVED
This software provided with NO WARRANTY WHATSOEVER

Usage: {cmd} [-p port]

{cmd} version: 6.11

usage:
   -h | -?            -  this help message

general:
   -k                 -  keep going on non-signal errors rather than aborting
   -D                 -  allow hosts to be referenced by DNS name

forwarding:
   -f host/port       -  forward sflow to IP (or hostname if -D added)
                      -   ...repeat for multiple collectors

text output:
   -l                 -  output in line-by-line CSV format
   -L <fields>        -  output selected fields in line-by-line CSV format
                      -    e.g. -L srcIP,dstIP
   -g                 -  output in 'grep-friendly' format
   -j                 -  output in JSON format (compact)
   -J                 -  output in JSON format (pretty-print)
   -H                 -  output HTTP common log file format

tcpdump output:
   -t                 -  output packet samples in binary tcpdump(1) format
   -T                 -  output discard samples in binary tcpdump(1) format
   -M                 -  output whole datagrams in binary tcpdump(1) format

tcpdump input:
   -r file            -  read binary tcpdump(1) format
   -R N               -  encode 1:N sFlow from raw tcpdump(1) file
   -P playback        -  0.1=slow, 1=normal, 100=max
   -x                 -  remove all IPV4 content

NetFlow output:
   -c host            -  netflow collector IP (or hostname if -D added)
   -d port            -  netflow collector UDP port
   -e                 -  netflow collector peer_as (default = origin_as)
   -s                 -  disable scaling of netflow output by sampling rate
   -S                 -  spoof source of netflow packets to input agent IP
   -N version         -  netflow version, 5 or 9 (default 5)

Filters:
   -V <vlans>         -  include vlans (e.g. -V 0-20,4091)
   -v <vlans>         -  exclude vlans
   -4                 -  listen on IPv4 socket only
   -6                 -  listen on IPv6 socket only
   -A                 -  listen on both IPv4 and IPv6 sockets
   -b <address>       -  listen on selected address only
                         (must match address family selected by -4 / -6)

=============== Advanced Tools ===========================================
| sFlow-RT (real time)  - https://sflow-rt.com                           |
| sFlowTrend (FREE)     - https://inmon.com/products/sFlowTrend.php      |
| Traffic Sentinel      - https://inmon.com/products/trafficsentinel.php |
==========================================================================
"""


def _usage() -> str:
    return USAGE.format(cmd=os.path.basename(sys.argv[0]) or "sflowtool")


class Config:
    def __init__(self) -> None:
        self.port = 6343
        self.read_file: str | None = None
        self.sink: Sink = TextSink()
        self.listen4 = False
        self.listen6 = True
        self.controlled = False
        self.address: str | None = None
        self.keep_going = False
        self.forward: list[tuple[str, int]] = []
        self.vlans: bytearray | None = None  # VLAN filter, indexed by VLAN id (0-4096)
        self.remove_content = False
        self.output = ""  # the last output option given, as sflowtool's last one wins ("" for none)
        self.allow_dns = False
        self.sample_filter: Callable[[Any], bool] | None = None  # the VLAN filter (sflowtool's sampleFilterOK)
        self.netflow_collectors: dict[int, str] = {}  # the last -c of each address family, resolved
        self.netflow_port = 0
        self.netflow_version = 5
        self.netflow_peer_as = False
        self.netflow_scale = True
        self.netflow_spoof = False
        self.sampling_n = 0  # -R: the file holds plain packets, to be sampled 1 in N and encoded as sFlow
        self.playback = 0.0  # -P: replay speed factor, 0 for as fast as possible
        self.loop = False


class UsageError(Exception):
    """A mistake sflowtool does not catch (it would go on silently): a message and exit code 2."""


class BadOption(Exception):
    """A mistake sflowtool's getopt catches: its message, the usage text and exit code 0, as sflowtool."""


def _atoi(text: str) -> int:
    digits = ""
    t = text.strip()
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    for ch in t:
        if not ch.isdigit():
            break
        digits += ch
    return sign * int(digits) if digits else 0


def parse_args(argv: list[str]) -> Config:
    # the legacy "+v" and "+4" spellings
    args = []
    for a in argv:
        if a.startswith("+v"):
            a = "-V" + a[2:]
        elif a.startswith("+4"):
            a = "-A" + a[2:]
        args.append(a)
    try:
        opts, rest = getopt.gnu_getopt(args, SHORT_OPTS, list(LONG_OPTS))
    except getopt.GetoptError as exc:
        raise BadOption(_glibc_message(exc)) from None
    cfg = Config()
    # like sflowtool -D, but wherever it stands (sflowtool only applies it to the -c/-f after it)
    cfg.allow_dns = any(_letter(opt) == "D" for opt, _ in opts)
    collectors: list[str] = []
    for opt, val in opts:
        o = _letter(opt)
        if o in ("l", "g", "j", "J", "H", "L", "t", "T", "M"):
            cfg.output = o
        if o == "p":
            cfg.port = _atoi(val)
        elif o == "f":
            cfg.forward.append(_forwarding_target(val, cfg.allow_dns))
        elif o == "c":
            collectors.append(val)
        elif o == "d":
            cfg.netflow_port = _atoi(val) & 0xFFFF
        elif o == "N":
            cfg.netflow_version = _atoi(val) & 0xFFFF
            if cfg.netflow_version not in (5, 9):
                raise _Exit("invalid netflow version specified (use 5 or 9)\n", 248)
        elif o == "e":
            cfg.netflow_peer_as = True
        elif o == "s":
            cfg.netflow_scale = False
        elif o == "S":
            cfg.netflow_spoof = True
        elif o == "R":
            cfg.sampling_n = _atoi(val)
            if cfg.sampling_n <= 0:
                raise UsageError(f"-R {val}: the sampling rate N (1 in N packets) must be 1 or more")
        elif o == "P":
            cfg.playback = _atof(val)
            if cfg.playback <= 0:
                cfg.playback = 0  # as fast as the file reads, as sflowtool does
            elif cfg.playback <= 0.00001:
                cfg.playback = 0.00001
        elif o == "loop":
            cfg.loop = True
        elif o == "V":
            if cfg.vlans is None:
                cfg.vlans = bytearray(4097)
            _parse_vlans(cfg.vlans, 1, val)
        elif o == "v":
            if cfg.vlans is None:
                # starting with an exclude list: everything else is included
                cfg.vlans = bytearray([1] * 4096 + [0])
            _parse_vlans(cfg.vlans, 0, val)
        elif o == "x":
            cfg.remove_content = True
        elif o == "l":
            cfg.sink = LineSink()
        elif o == "g":
            cfg.sink = GrepSink()
        elif o == "j":
            cfg.sink = JsonSink(indent=False)
        elif o == "J":
            cfg.sink = JsonSink(indent=True)
        elif o == "H":
            cfg.sink = CommonLogSink()
        elif o == "L":
            fields = [f for f in val.replace(",", " ").split(" ") if f]
            cfg.sink = CustomLineSink(fields)
        elif o == "r":
            cfg.read_file = val
        elif o == "4":
            cfg.controlled, cfg.listen4, cfg.listen6 = True, True, False
        elif o == "6":
            cfg.controlled, cfg.listen4, cfg.listen6 = True, False, True
        elif o == "A":
            cfg.controlled, cfg.listen4, cfg.listen6 = True, True, True
        elif o == "b":
            cfg.controlled = True
            cfg.address = val
        elif o == "k":
            cfg.keep_going = True
        elif o == "z":
            raise _Exit("6.11\n", 0)
        elif o in ("h", "?"):
            raise _Exit(_usage(), 0)
    if rest:
        raise UsageError(f"unexpected argument '{rest[0]}'")
    for host in collectors:
        family, address = _resolve(host, cfg.allow_dns, "netflow collector address lookup failed\n", 248)
        cfg.netflow_collectors[family] = address
    if cfg.sampling_n and cfg.read_file is None:
        raise UsageError("-R encodes sFlow from a capture of plain packets: give the capture with -r FILE")
    if cfg.loop and not cfg.playback:
        raise UsageError("--loop replays the file again and again at the speed -P gives: add -P SPEED")
    if collectors and not cfg.netflow_port:
        # sflowtool then silently sends nothing
        raise UsageError("-c needs the collector's UDP port too: -d PORT (NetFlow collectors often use 2055)")
    if cfg.netflow_port and not collectors:
        raise UsageError("-d needs the collector's address too: -c HOST")
    if cfg.output in ("t", "T", "M"):
        cfg.sink = SflowtoolPcapSink(cfg.output, from_socket=cfg.read_file is None,
                                     remove_content=cfg.remove_content)  # fmt: skip
    if cfg.vlans is not None:
        vlans = cfg.vlans

        def vlan_ok(s: Any) -> bool:
            # sflowtool's sampleFilterOK(): kept if either VLAN is selected
            return (s.in_vlan <= 4096 and bool(vlans[s.in_vlan])) or (s.out_vlan <= 4096 and bool(vlans[s.out_vlan]))

        cfg.sample_filter = vlan_ok
        if hasattr(cfg.sink, "sample_filter"):
            cfg.sink.sample_filter = vlan_ok
    return cfg


def _letter(opt: str) -> str:
    """The short option a getopt option stands for: "-j" and "--json" are both "j"."""
    return opt[1:] if not opt.startswith("--") else LONG_OPTS.get(opt[2:]) or LONG_OPTS[opt[2:] + "="]


def _atof(text: str) -> float:
    """C atof(): the longest number at the start, 0 if none."""
    m = re.match(r"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)", text)
    return float(m.group(0)) if m else 0.0


def _strtol(text: str, p: int) -> tuple[int, int]:
    """C strtol(base 0) from position p: (value, position after it)."""
    if text[p : p + 2].lower() == "0x" and p + 2 < len(text) and text[p + 2] in "0123456789abcdefABCDEF":
        q = p + 2
        while q < len(text) and text[q] in "0123456789abcdefABCDEF":
            q += 1
        return int(text[p + 2 : q], 16), q
    q = p
    while q < len(text) and text[q].isdigit():
        q += 1
    digits = text[p:q]
    if digits.startswith("0") and len(digits) > 1:
        q = p + 1
        while q < len(text) and text[q] in "01234567":
            q += 1
        return int(text[p:q], 8), q
    return int(digits), q


def _vlan_number(text: str, p: int) -> tuple[int, int]:
    """sflowtool's peekForNumber() and testVlan() around one strtol(): (vlan, position after it)."""
    if p >= len(text) or not text[p].isdigit():
        ch = text[p] if p < len(text) else "\0"
        raise _Exit(f"error parsing vlan filter ranges (next char = <{ch}>)\n", 237)
    vlan, p = _strtol(text, p)
    if vlan > 4096:
        raise _Exit(f"error parsing vlan filter (vlan = <{signed32(vlan)}> out of range)\n", 236)
    return vlan, p


def _parse_vlans(array: bytearray, flag: int, text: str) -> None:
    """sflowtool's parseVlanFilter(): "0-20,4091 100"; its messages and exit codes on errors."""
    p = 0
    while True:
        while p < len(text) and text[p] in " ,":
            p += 1
        first, p = _vlan_number(text, p)
        array[first] = flag
        if p < len(text) and text[p] == "-":
            last, p = _vlan_number(text, p + 1)
            for i in range(first, last + 1):
                array[i] = flag
        if p >= len(text):
            return


def _resolve(host: str, allow_dns: bool, then: str = "", code: int = 221) -> tuple[int, str]:
    """sflowtool's parseOrResolveAddress(): (family, numeric address), its message on failure."""
    flags = 0 if allow_dns else socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
    try:
        info = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_DGRAM, 0, flags)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else "Name or service not known"
        expecting = "hostname or numeric address" if allow_dns else "numeric address"
        raise _Exit(f"getaddrinfo({host}) failed: {reason} (expecting {expecting})\n{then}", code) from None
    family, _, _, _, sockaddr = info[0]
    return family, str(sockaddr[0]).split("%")[0]


def _forwarding_target(text: str, allow_dns: bool) -> tuple[str, int]:
    """sflowtool's -f host/port, with its messages; a host name only with -D."""
    host, sep, port_text = text.partition("/")
    if not sep:
        raise _Exit("host/port - no '/' found\n", 221)
    port = _atoi(port_text) & 0xFFFFFFFF
    if port <= 0 or port >= 65535:
        raise _Exit(f"invalid forwarding target port: {port}\n", 221)
    return _resolve(host, allow_dns)[1], port


def _glibc_message(exc: getopt.GetoptError) -> str:
    """What glibc's getopt_long prints for the same mistake."""
    opt, msg = exc.opt, exc.msg
    if len(opt) == 1 and not msg.startswith("option --"):
        if "requires" in msg:
            return f"option requires an argument -- '{opt}'"
        return f"invalid option -- '{opt}'"
    if "requires" in msg:
        return f"option '--{opt}' requires an argument"
    if "must not have" in msg:
        return f"option '--{opt}' doesn't allow an argument"
    if "unique prefix" in msg:
        names = [n.rstrip("=") for n in LONG_OPTS if n.startswith(opt)]
        return f"option '--{opt}' is ambiguous; possibilities:" + "".join(f" '--{n}'" for n in names)
    return f"unrecognized option '--{opt}'"


class _Exit(Exception):
    def __init__(self, text: str, code: int) -> None:
        self.text = text
        self.code = code


def run_file(cfg: Config, printer: Printer, stdin: BinaryIO) -> int:
    name = cfg.read_file or "-"
    stream: BinaryIO
    if name == "-":
        stream = stdin
    else:
        try:
            stream = open(name, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            printer.error(f"cannot open {name} : {exc.strerror}\n")
            return 255
    # a file read flat out: output in 64 KB writes (a pipe, a replay or a live source still flush per datagram)
    printer.batch = stream is not stdin and not cfg.playback and _regular(stream)
    try:
        reader = PcapReader(stream, name)
        printer.error(reader.banner)
        while True:
            pacer = Pacer(cfg.playback) if cfg.playback else None
            if cfg.sampling_n:
                encode_packets(cfg, reader, printer, pacer)
            else:
                printer.capture(reader, pacer)
            if not cfg.loop:
                break
            if not stream.seekable():
                printer.error("--loop: cannot read a pipe again; replayed once\n")
                break
            stream.seek(24)
    except PcapError as exc:
        # with -L, sflowtool's failed hsearch() lookups leave errno at ESRCH
        missed = getattr(printer.sink, "missed", False)
        printer.error(exc.text("No such process" if missed else "Success"))
        return exc.exit_code
    finally:
        printer.flush()
        if stream is not stdin:
            stream.close()
    return 0


def _regular(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError):
        return False


def encode_packets(cfg: Config, reader: PcapReader, printer: Printer, pacer: Pacer | None) -> None:
    """-R N: sample the capture's packets 1 in N as a software agent, on the capture's clock."""
    from bridge.sflow.encode import SamplingAgent

    clock_us = 0

    def send(datagram: bytes) -> None:
        printer.datagram(datagram, pcap_time=clock_us // 1_000_000, pcap_time_us=clock_us % 1_000_000)

    def now_ms() -> int:
        return clock_us // 1000

    agent: SamplingAgent | None = None
    for item in reader.packets():
        if isinstance(item, Notice):
            printer.error(item.message)
            continue
        ts_us = item.ts_sec * 1_000_000 + item.ts_usec
        if agent is None:
            # the agent boots with the first packet: uptimes count from it
            clock_us = ts_us
            agent = SamplingAgent(cfg.sampling_n, send, now_ms)
        due = agent.due_ms()
        if due is not None and due * 1000 < ts_us:
            # a quiet spell: what waits goes out on the agent's timer, not when this packet comes
            if pacer is not None:
                pacer.wait(due * 1000)
            clock_us = max(clock_us, due * 1000)
            agent.tick()
        if pacer is not None:
            pacer.wait(ts_us)
        clock_us = max(clock_us, ts_us)
        agent.packet(item.frame, item.wire_length)
    if agent is not None:
        agent.flush()  # the last, partly filled datagram too (sflowtool forgets it)


def run_udp(cfg: Config, printer: Printer) -> int:
    from bridge.sources.udp import open_listeners, receive

    socks = open_listeners(cfg.port, cfg.listen4, cfg.listen6, cfg.controlled, cfg.address, printer.error)
    if not socks:
        printer.error("unable to open UDP read socket\n")
        return 249
    for arrival in receive(socks):
        printer.datagram(arrival.data, source_ip=arrival.source, read_time=arrival.sec, read_time_us=arrival.usec)
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return run(args, sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer)


def run(args: list[str], stdin: BinaryIO, out: BinaryIO, err: BinaryIO) -> int:
    """The whole command, on the streams given (tests run it in-process)."""
    try:
        cfg = parse_args(args)
    except _Exit as ex:
        err.write(ex.text.encode())  # sflowtool prints help and version on stderr
        return ex.code
    except BadOption as exc:
        # sflowtool prints the usage and exits 0 on a bad option; scripts that check $? see success
        err.write(f"sflowtool: {exc}\n{_usage()}".encode())
        return 0
    except UsageError as exc:
        err.write(f"sflowtool: {exc}\nTry 'sflowtool -h' for the list of options.\n".encode())
        return 2
    forwarder = None
    if cfg.forward:
        from bridge.transport.forwarding import Forwarder, SessionError, parse_session

        # in file mode there is no listening port to loop back to
        forwarder = Forwarder(cfg.port if cfg.read_file is None else 0, max_sessions=len(cfg.forward), broadcast=True)
        try:
            for i, (host, port) in enumerate(cfg.forward):
                forwarder.put(parse_session(f"f{i}", {"address": host, "port": port}))
        except SessionError as exc:
            err.write(f"sflowtool: -f: {exc}\n".encode())
            return 221
    netflow = None
    if cfg.netflow_collectors:
        from bridge.transport.netflow_sender import NetflowError, NetflowSender

        try:
            sender = NetflowSender(list(cfg.netflow_collectors.values()), cfg.netflow_port, cfg.netflow_spoof)
        except NetflowError as exc:
            err.write(str(exc).encode())
            return exc.exit_code
        encoder = NetflowEncoder(cfg.netflow_version, cfg.netflow_peer_as, cfg.netflow_scale)
        encoder.sample_filter = cfg.sample_filter
        netflow = NetflowExport(encoder, sender)
    # forwarding or NetFlow alone print nothing, as in sflowtool; with an output option all go on
    # (sflowtool keeps only the last of them)
    exporting = forwarder is not None or netflow is not None
    sink = cfg.sink if (cfg.output or not exporting) else None
    printer = Printer(sink, out, err, forwarder, netflow)
    try:
        start = getattr(sink, "start", None)
        if start is not None:
            out.write(start())
            out.flush()
        if cfg.read_file is not None:
            return run_file(cfg, printer, stdin)
        return run_udp(cfg, printer)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (| head): stop quietly, as a C program killed by SIGPIPE does
        _silence_stdout()
        return 141


def _silence_stdout() -> None:
    # keep the interpreter from reporting the broken pipe again when it flushes at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
