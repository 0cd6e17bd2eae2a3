"""Live pcap streams over HTTP (``GET /capture.pcap``), each client with its own filter.

    curl -sN 'http://bridge:8008/capture.pcap?filter=port%2053' | wireshark -k -i -
    curl -sN 'http://bridge:8008/capture.pcap?agent=10.0.0.0/8&format=pcapng' | tshark -r -

The receive loop only appends to each client's bounded queue and never waits for a
client: a slow reader loses its own oldest-but-unsent packets (counted, and shown
in ``/analyzer/json``), never anyone else's.
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
from collections import Counter, deque

from bridge.pcap.bpf import CaptureFilter
from bridge.pcap.pcapng import PcapngWriter

QUEUE_DATAGRAMS = 4096  # per client: about 6 MB of pcap at typical sizes
MAX_AGENT_PREFIXES = 256  # agent= prefixes of one stream
_MATCH_CACHE = 4096  # agents whose answer a stream remembers; forgotten all at once past that


class AgentMatch:
    """Is an agent address in one of a stream's prefixes? Time per agent independent of how many there are.

    The prefixes are grouped by family and length, so a lookup is one masked set membership per
    distinct length (at most 33 + 129), and each agent's answer is remembered (bounded).
    """

    def __init__(self, prefixes: list[str]) -> None:
        if len(prefixes) > MAX_AGENT_PREFIXES:
            raise ValueError(f"at most {MAX_AGENT_PREFIXES} agent prefixes per stream")
        self.networks = [ipaddress.ip_network(p, strict=False) for p in prefixes]
        by_length: dict[tuple[int, int], set[int]] = {}
        for n in self.networks:
            bits = n.max_prefixlen - n.prefixlen
            by_length.setdefault((n.max_prefixlen // 8, bits), set()).add(int(n.network_address) >> bits)
        self._groups = [(size, bits, nets) for (size, bits), nets in by_length.items()]
        self._seen: dict[bytes, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __call__(self, agent: bytes) -> bool:
        if not self.networks:
            return True
        known = self._seen.get(agent)
        if known is None:
            value = int.from_bytes(agent, "big")
            known = any(len(agent) == size and value >> bits in nets for size, bits, nets in self._groups)
            if len(self._seen) >= _MATCH_CACHE:
                self._seen.clear()
            self._seen[agent] = known
        return known


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
