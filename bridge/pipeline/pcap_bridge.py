"""The pcap bridge's per-datagram path: sampled headers out of each datagram, pcap records out.

Kept apart from the command line (bridge/cli/bridge.py) so that scripts/build_native.py
can compile it: it runs once per datagram received.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections import Counter
from typing import BinaryIO, Final, Protocol

from bridge.pcap.bpf import CaptureFilter, FilterError
from bridge.pcap.pcapng import PcapngWriter
from bridge.pcap.reader import Notice, PcapReader
from bridge.pcap.writer import DLT_EN10MB, OWN_LINKTYPE, RECORD_HEADER, SYNTH_ETHERNET
from bridge.pipeline.accounting import Accounting
from bridge.pipeline.talkers import Talkers
from bridge.sflow import DecodeError, decode
from bridge.sflow.bus_frame import FRAME as BUS_RECORD
from bridge.sflow.headers import DISCARD, Headers, walk
from bridge.sources.udp import source_text
from bridge.transport.capture_stream import StreamHub
from bridge.transport.forwarding import Forwarder

BATCH = 1 << 16  # write when this much is waiting, or when the sockets are drained
# about 0.4 s of 50,000 datagrams/s of 1,700 bytes: what the socket must hold while the receive loop is held up
# (a blocked write, a busy core); the kernel charges up to twice this while datagrams wait, and nothing when none do
RCVBUF = 32 << 20


class Output:
    """Batched writes to stdout or a file; notices when a pipe's reader has gone."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.fd = stream.fileno()
        self.pending: list[bytes] = []
        self.size = 0
        self.closed = False

    def add(self, data: bytes) -> None:
        self.pending.append(data)
        self.size += len(data)
        if self.size >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending or self.closed:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        self.size = 0
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except BrokenPipeError:
            self.closed = True


# sFlow's header protocols that classic pcap cannot carry, by name (pcapng writes some under their own link type)
PROTOCOL_NAMES: Final = {
    0: "unknown", 2: "token bus", 3: "token ring", 4: "FDDI", 5: "frame relay", 6: "X.25", 7: "PPP", 8: "SMDS",
    9: "AAL5", 10: "AAL5-IP", 13: "MPLS", 14: "POS", 15: "802.11", 16: "802.11 A-MPDU",
    17: "802.11 A-MSDU subframe", 18: "InfiniBand",
}  # fmt: skip
# the reasons packets go unwritten are counted by name: a fixed set, whatever numbers senders make up
_SKIP_REASONS = {p: f"with header protocol {p} ({name})" for p, name in PROTOCOL_NAMES.items()}
_UNKNOWN_PROTOCOL = "with an unknown header protocol"
_DROPS_LEFT_OUT = "dropped by their agent (discard samples: --pcapng writes them marked, --discards into pcap)"


class Publisher(Protocol):
    """Where --publish hands datagrams (bridge/transport/bus.py's BusLink; a protocol here, so that compiling this
    module does not reach the bus's client)."""

    def offer(self, data: bytes, now_us: int) -> None: ...

    def flush(self) -> None: ...


class Bridge:
    def __init__(
        self,
        out: Output,
        capture_filter: CaptureFilter | None,
        pcapng: PcapngWriter | None = None,
        forwarder: Forwarder | None = None,
        hub: StreamHub | None = None,
        discards: bool = False,
    ) -> None:
        self.out = out
        self.filter = capture_filter
        self.discards = discards  # classic pcap: write the packets agents dropped too (pcapng always does)
        self.acct = Accounting()
        self.pcapng = pcapng
        self.forwarder = forwarder
        self.hub = hub
        self.talkers: Talkers | None = None  # top talkers for the API, when it runs
        self.publisher: Publisher | None = None  # the sFlow bus (--publish)

    def datagram(self, data: bytes, source: str, sec: int, usec: int, now: float = 0.0) -> None:
        """Writes the datagram's sampled headers as pcap records, all under the Ethernet link type.

        Ethernet headers go as they are. IPv4, IPv6 and MPLS headers (header protocols
        11, 12 and 13, from routers and hosts) get a 14-byte Ethernet header with zero
        MACs and the right EtherType, so that one stream carries all and tcpdump reads it.
        The original length is the sample's frame length less the stripped bytes (the
        FCS, and any encapsulation removed before the header was taken), plus the
        synthesized header, and never less than what was captured.
        """
        if self.forwarder is not None:
            self.forwarder.forward(data)  # unchanged, and before anything can go wrong with decoding it
        now = now or time.time()
        publisher = self.publisher
        if publisher is not None:
            publisher.offer(data, sec * 1_000_000 + usec)  # as received, with when: never waits for the bus
        acct = self.acct
        try:
            h = walk(data) if data[:4] == b"\0\0\0\x05" else _headers_v2v4(data)
        except DecodeError:
            acct.bad_datagram(source_text(source) if source != "-" else source, now)
            return
        acct.datagram(h.agent, h.sub_agent, h.sequence, h.samples, now)
        acct.no_header += h.no_header
        if h.packets:
            talkers = self.talkers
            if talkers is not None:
                talkers.add(data, h, now)
            chunk, n, d = self.frame(data, h, sec, usec, self.filter, self.pcapng, acct.skipped, self.discards)
            if n:
                acct.written += n - d
                acct.drops_written += d
                self.out.add(chunk)
            hub = self.hub
            if hub is not None:
                # an unfiltered pcap client gets the very records of an unfiltered pcap output: framed once
                same = self.filter is None and self.pcapng is None and n == len(h.packets) and not self.discards
                for client in hub.clients:  # each HTTP stream client with its own filter and format
                    if client.wants(h.agent):
                        if same and client.filter is None and client.writer is None and not client.discards:
                            own, k = chunk, n
                        else:
                            own, k, _ = self.frame(data, h, sec, usec, client.filter, client.writer, client.skipped,
                                                   client.discards)  # fmt: skip
                        if k:
                            client.offer(own, k)

    def from_capture(self, reader: PcapReader, err: BinaryIO) -> None:
        """Every datagram of a capture, in order; stops early when the output's reader has gone."""
        out = self.out
        for item in reader:
            if isinstance(item, Notice):
                err.write(f"sflow-bridge: {item.message}".encode())
            else:
                self.datagram(item.data, "-", item.ts_sec, item.ts_usec)
            if out.closed:
                break

    def from_records(self, buf: bytes) -> int:
        """Every whole bus record of ``buf`` (receive time in microseconds, length, datagram), in order; returns
        where the first one not whole begins. Stops early when the output's reader has gone."""
        out = self.out
        head = BUS_RECORD.size
        end = len(buf)
        at = 0
        while end - at >= head:
            ts, n = BUS_RECORD.unpack_from(buf, at)
            if end - at - head < n:
                break
            self.datagram(buf[at + head : at + head + n], "-", ts // 1_000_000, ts % 1_000_000)
            at += head + n
            if out.closed:
                break
        return at

    @staticmethod
    def frame(
        data: bytes,
        h: Headers,
        sec: int,
        usec: int,
        flt: CaptureFilter | None,
        writer: PcapngWriter | None,
        skipped: Counter[str],
        discards: bool,
    ) -> tuple[bytes, int, int]:
        """The datagram's packets as pcap records (or pcapng blocks with ``writer``): (bytes, packets, drops).

        Packets from discard samples (the agent dropped them) go into pcapng, marked, and into
        classic pcap, which cannot mark them, only with ``discards``; ``drops`` counts them.
        """
        out = []
        count = 0
        drops = 0
        for offset, length, proto, frame_length, stripped, index in h.packets:
            dropped = h.dropped != 0 and h.samples[index][0] == DISCARD
            if dropped and writer is None and not discards:
                skipped[_DROPS_LEFT_OUT] += 1
                continue
            linktype = DLT_EN10MB
            body = data[offset : offset + length]
            wire = frame_length - stripped
            if proto == 11 or proto == 12 or proto == 13:
                body = SYNTH_ETHERNET[proto] + body
                wire += 14
            elif proto != 1:
                # pcapng can carry other link types; tcpdump refuses a stream that mixes them, so IP stays Ethernet
                own = OWN_LINKTYPE.get(proto) if writer is not None else None
                if own is None:
                    skipped[_SKIP_REASONS.get(proto, _UNKNOWN_PROTOCOL)] += 1
                    continue
                linktype = own
            if wire < len(body):
                wire = len(body)
            elif wire > 0xFFFFFFFF:  # a frame length near 2**32 plus the synthesized Ethernet header
                wire = 0xFFFFFFFF
            if flt is not None:
                try:
                    if not flt.matches(linktype, body, wire):
                        skipped["filtered out"] += 1
                        continue
                except FilterError:
                    skipped[f"the filter does not apply to link type {linktype}"] += 1
                    continue
            if writer is None:
                out.append(RECORD_HEADER.pack(sec, usec, len(body), wire))
                out.append(body)
            else:
                writer.add_packet(out, h.agent, h.sub_agent, h.samples[index], linktype, body, wire, sec, usec)
            count += 1
            drops += dropped
        return b"".join(out), count, drops


def _headers_v2v4(data: bytes) -> Headers:
    """sFlow v2/v4 (or anything not v5) through the full decoder."""
    dg = decode(data)
    h = Headers()
    h.version = dg.version
    h.agent = ipaddress.ip_address(dg.agent).packed if dg.agent != "-" else b""
    h.sequence = dg.sequence
    for s in dg.samples:
        kind = 1 if s.sample_type == 1 else 2 if s.sample_type == 2 else 0
        index = len(h.samples)
        h.samples.append((kind, s.ds_class, s.ds_index, s.samples_generated, s.drop_events, s.mean_skip_count,
                          s.sample_pool, 0, s.input_port, 0, s.output_port, 0))  # fmt: skip
        if kind == 1 and s.packet_data_tag == 1:
            h.packets.append((s.header_off, s.header_len, s.header_protocol, s.sampled_packet_size, 0, index))
        elif kind == 1:
            h.no_header += 1
    return h


def drain(sock: socket.socket, bridge: Bridge, limit: int) -> int:
    """Reads and writes at most ``limit`` datagrams waiting on ``sock``; how many there were."""
    for n in range(limit):
        try:
            data, peer = sock.recvfrom(65536)
        except BlockingIOError:
            return n
        t = time.time_ns() // 1000
        # the sender's address is only formatted when it is needed: for a malformed datagram
        bridge.datagram(data, peer[0], t // 1_000_000, t % 1_000_000, t / 1e6)
    return limit
