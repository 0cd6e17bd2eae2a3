"""Live pcap streams over HTTP (``GET /capture.pcap``), each client with its own filter.

    curl -sN 'http://bridge:8008/capture.pcap?filter=port%2053' | wireshark -k -i -
    curl -sN 'http://bridge:8008/capture.pcap?agent=10.0.0.0/8&format=pcapng' | tshark -r -

The receive loop only appends to each client's bounded queue and never waits for a
client: a slow reader loses its own oldest-but-unsent packets (counted, and shown
in ``/analyzer/json``), never anyone else's.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, deque

from bridge.pcap.bpf import CaptureFilter
from bridge.pcap.pcapng import PcapngWriter
from bridge.sflow.agent_match import AgentMatch

QUEUE_DATAGRAMS = 4096  # per client: about 6 MB of pcap at typical sizes


class StreamClient:
    _ids = itertools.count(1)

    def __init__(
        self,
        capture_filter: CaptureFilter | None,
        agents: AgentMatch,
        pcapng: bool,
        peer: str,
    ) -> None:
        self.id = next(self._ids)
        self.filter = capture_filter
        self.agents = agents
        self.writer = PcapngWriter() if pcapng else None
        self.discards = False  # in a pcap stream, packets agents dropped are left out (pcapng marks them)
        self.peer = peer
        self.queue: deque[tuple[bytes, int]] = deque()
        self.cond = threading.Condition()
        self.sent = 0  # packets handed to the socket
        self.dropped = 0  # packets lost because the client did not keep up
        self.skipped: Counter[str] = Counter()
        self.closed = False
        self.wants = agents  # wants(agent bytes): does this stream carry that agent's packets?

    def offer(self, chunk: bytes, packets: int) -> None:
        """From the receive loop: never blocks."""
        with self.cond:
            if len(self.queue) >= QUEUE_DATAGRAMS:
                self.dropped += packets
                return
            self.queue.append((chunk, packets))
            self.cond.notify()

    def take(self, timeout: float) -> list[tuple[bytes, int]]:
        """From the client's HTTP thread: what is waiting, or nothing after `timeout`."""
        with self.cond:
            if not self.queue and not self.closed:
                self.cond.wait(timeout)
            items = list(self.queue)
            self.queue.clear()
        return items

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def status(self) -> dict[str, object]:
        return {
            "peer": self.peer,
            "filter": self.filter.expression if self.filter else "",
            "agents": [str(n) for n in self.agents.networks],
            "format": "pcapng" if self.writer else "pcap",
            "packetsSent": self.sent,
            "packetsDropped": self.dropped,
            "queued": len(self.queue),
        }


class StreamHub:
    """The set of stream clients, shared by the receive loop and the HTTP threads."""

    def __init__(self, max_clients: int = 8) -> None:
        self.max_clients = max_clients
        self.clients: tuple[StreamClient, ...] = ()  # replaced whole, read without a lock
        self._reserved = 0  # places taken by requests whose filter is being compiled
        self._lock = threading.Lock()

    def reserve(self) -> bool:
        """Takes a place for a stream about to start: checked before its filter costs anything."""
        with self._lock:
            if len(self.clients) + self._reserved >= self.max_clients:
                return False
            self._reserved += 1
        return True

    def unreserve(self) -> None:
        with self._lock:
            self._reserved -= 1

    def add(self, client: StreamClient) -> None:
        """Adds a client in a place reserve() took (unreserve() gives the reservation back after)."""
        with self._lock:
            self.clients = (*self.clients, client)

    def remove(self, client: StreamClient) -> None:
        with self._lock:
            self.clients = tuple(c for c in self.clients if c is not client)
        client.close()

    def close_all(self) -> None:
        for c in self.clients:
            c.close()
