"""Where decoded sFlow goes in the ``sflowtool`` command: the chosen output, NetFlow, forwarding.

Kept apart from the command line (bridge/cli/sflowtool.py) so that scripts/build_native.py
can compile it: it runs once per datagram.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from bridge.output.netflow import NetflowEncoder
from bridge.output.text import GrepSink
from bridge.pcap.reader import Notice, PcapReader
from bridge.sflow import DecodeError, decode

if TYPE_CHECKING:
    from bridge.transport.forwarding import Forwarder
    from bridge.transport.netflow_sender import NetflowSender


class Sink(Protocol):
    def render(self, dg: Any) -> tuple[str | bytes, str]: ...


class Printer:
    """Writes each datagram's output at once and flushes, so pipes see it promptly.

    ``batch`` (reading a regular file flat out, where nobody waits on each datagram)
    flushes every 64 KB instead.
    """

    batch = False

    def __init__(
        self,
        sink: Sink | None,
        out: BinaryIO,
        err: BinaryIO,
        forwarder: Forwarder | None = None,
        netflow: NetflowExport | None = None,
    ) -> None:
        self.sink = sink
        self.out = out
        self.err = err
        self.forwarder = forwarder
        self.netflow = netflow
        self.context = isinstance(sink, GrepSink)  # only -g prints the line context

    def datagram(
        self,
        data: bytes,
        source_ip: str | None = None,
        read_time: int = 0,
        read_time_us: int = 0,
        pcap_time: int = 0,
        pcap_time_us: int = 0,
    ) -> None:
        if self.forwarder is not None:
            self.forwarder.forward(data)  # unchanged, every datagram, as sflowtool -f does
        if self.sink is None and self.netflow is None:
            return
        caught = ""  # sflowtool's report of a broken datagram, before what the output adds to stderr
        try:
            dg = decode(data, source_ip=source_ip, read_time=read_time, read_time_us=read_time_us,
                        pcap_time=pcap_time, pcap_time_us=pcap_time_us, context=self.context)  # fmt: skip
        except DecodeError as exc:
            dg = exc.datagram
            caught = f"{exc.message}caught exception: {exc.kind}\n"
        if self.netflow is not None:
            for pkt, _ in self.netflow.encoder.encode(dg):
                self.netflow.sender.send(pkt, dg.agent)
        if self.sink is None:
            if caught:
                self.error(caught)
            return
        out, err = self.sink.render(dg)
        err = caught + err
        if out:
            self.out.write(out.encode("latin-1") if isinstance(out, str) else out)
            if not self.batch:
                self.out.flush()
        if err:
            self.error(err)

    def capture(self, reader: PcapReader, pacer: Pacer | None) -> None:
        """The sFlow datagrams of a capture, each when its time comes with ``pacer`` (-P)."""
        for item in reader:
            if isinstance(item, Notice):
                self.error(item.message)
                continue
            if pacer is not None:
                pacer.wait(item.ts_sec * 1_000_000 + item.ts_usec)
            self.datagram(item.data, pcap_time=item.ts_sec, pcap_time_us=item.ts_usec)

    def error(self, text: str) -> None:
        self.err.write(text.encode("latin-1", "replace"))
        self.err.flush()

    def flush(self) -> None:
        self.out.flush()


class NetflowExport:
    def __init__(self, encoder: NetflowEncoder, sender: NetflowSender) -> None:
        self.encoder = encoder
        self.sender = sender


class Pacer:
    """Holds each record back until its time in the capture, divided by the speed, has passed.

    Time never runs backwards: a record stamped earlier than the one before goes at once.
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.start_wall = 0.0
        self.start_us = -1
        self.last_us = 0

    def due(self, ts_us: int) -> float:
        """The monotonic time at which the record stamped ``ts_us`` goes out."""
        if self.start_us < 0:
            self.start_us = self.last_us = ts_us
            self.start_wall = time.monotonic()
        self.last_us = max(self.last_us, ts_us)
        return self.start_wall + (self.last_us - self.start_us) / 1e6 / self.speed

    def wait(self, ts_us: int) -> None:
        delay = self.due(ts_us) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
