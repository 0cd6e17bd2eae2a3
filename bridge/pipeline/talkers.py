"""Top talkers: what is really on the wire, estimated from the samples.

Each flow sample stands for ``sampling rate`` packets of its frame length (sFlow's
estimate, as sFlow-RT's flow views make it), so a flow's packets and bytes are the
sum over its samples of ``rate`` and ``rate x frame length``. Two sketches, by flow
(IP version, source, destination, protocol, ports) and by agent data source, over
the last minute in six 10-second buckets.

Bounded: each bucket keeps at most ``2 x capacity`` keys. When it is full the lighter
half goes, and the heaviest weight gone is kept as ``floor``: a key seen again after
that may have had up to ``floor`` bytes before (its estimate is a lower bound, short
by at most ``floor``); keys heavier than that are never removed, so the top talkers
are counted whole. What the sketch costs the receive loop is bounded too: past
``budget`` samples a second it reads one datagram in k and weighs its samples k times (the
samples it reads are still a uniform sample of the traffic: the estimates stay
unbiased, with the error of the samples read).
"""

from __future__ import annotations

import struct
from typing import Final

from bridge.sflow.headers import FLOW, Headers

BUCKET_SECONDS: Final = 10
BUCKETS: Final = 6  # the last minute
CAPACITY: Final = 1000
BUDGET: Final = 5_000  # samples a second read one by one (--top-talkers-budget)
SLICES: Final = 8  # the budget is kept per eighth of a second

_PREFIX4: Final = [bytes((4, p)) for p in range(256)]  # key prefix: IP version, protocol
_PREFIX6: Final = [bytes((6, p)) for p in range(256)]
_NO_PORTS: Final = b"\0\0\0\0"
_SUB: Final = struct.Struct(">I")  # an agent key: address, sub-agent


def flow_key(data: bytes, off: int, length: int, proto: int) -> bytes | None:
    """version, protocol, source, destination, ports (zero where none) of a sampled header; None if not IP."""
    end = off + length
    i = off
    if proto == 1:  # Ethernet, VLAN tags skipped
        if length < 14:
            return None
        et = data[off + 12] << 8 | data[off + 13]
        i = off + 14
        tags = 0
        while (et == 0x8100 or et == 0x88A8 or et == 0x9100) and i + 4 <= end and tags < 4:
            et = data[i + 2] << 8 | data[i + 3]
            i += 4
            tags += 1
    elif proto == 11:
        et = 0x0800
    elif proto == 12:
        et = 0x86DD
    else:
        return None
    if et == 0x0800:
        if i + 20 > end or data[i] >> 4 != 4:
            return None
        p = data[i + 9]
        ihl = (data[i] & 15) * 4
        first = (data[i + 6] & 0x1F) == 0 and data[i + 7] == 0  # not a later fragment: it has the ports
        j = i + ihl
        ports = (
            data[j : j + 4] if first and (p == 6 or p == 17 or p == 132) and ihl >= 20 and j + 4 <= end else _NO_PORTS
        )
        return _PREFIX4[p] + data[i + 12 : i + 20] + ports
    if et == 0x86DD:
        if i + 40 > end or data[i] >> 4 != 6:
            return None
        nh = data[i + 6]
        j = i + 40
        first = True
        hops = 0
        while (nh == 0 or nh == 43 or nh == 60 or nh == 44) and j + 8 <= end and hops < 4:
            if nh == 44:
                first = ((data[j + 2] << 8 | data[j + 3]) >> 3) == 0
                nh = data[j]
                j += 8
            else:
                nh2 = data[j]
                j += (data[j + 1] + 1) * 8
                nh = nh2
            hops += 1
        ports = data[j : j + 4] if first and (nh == 6 or nh == 17 or nh == 132) and j + 4 <= end else _NO_PORTS
        return _PREFIX6[nh] + data[i + 8 : i + 40] + ports
    return None


class Entry:
    __slots__ = ("bytes", "packets", "samples")

    def __init__(self) -> None:
        self.bytes = 0  # estimated: the sum of rate x frame length
        self.packets = 0  # estimated: the sum of rates
        self.samples = 0  # samples read


class Sketch:
    """One bucket's keys, at most 2 x capacity of them, and the heaviest weight removed."""

    def __init__(self, start: int, capacity: int) -> None:
        self.start = start
        self.capacity = capacity
        self.entries: dict[bytes, Entry] = {}
        self.floor = 0  # bytes: what a key removed may have had

    def add(self, key: bytes, packets: int, nbytes: int) -> None:
        e = self.entries.get(key)
        if e is None:
            if len(self.entries) >= 2 * self.capacity:
                self._prune()
            e = self.entries[key] = Entry()
        e.bytes += nbytes
        e.packets += packets
        e.samples += 1

    def _prune(self) -> None:
        """Removes the keys below about the median weight: one pass, no sort (this runs on the receive path)."""
        values = list(self.entries.values())
        step = len(values) // 63 + 1
        probe = sorted([values[i].bytes for i in range(0, len(values), step)])
        cut = probe[len(probe) // 2]
        kept: dict[bytes, Entry] = {}
        floor = self.floor
        for key, e in self.entries.items():
            if e.bytes > cut:
                kept[key] = e
            elif e.bytes > floor:
                floor = e.bytes
        self.floor = floor
        self.entries = kept


class Bucket:
    """Ten seconds of talkers: by flow, by agent data source, and the totals of every flow sample read."""

    def __init__(self, start: int, capacity: int) -> None:
        self.start = start
        self.flows = Sketch(start, capacity)
        self.sources: dict[bytes, dict[int, Entry]] = {}  # agent key -> data source -> entry
        self.source_count = 0
        self.totals = Entry()


class Talkers:
    def __init__(self, capacity: int = CAPACITY, budget: int = BUDGET) -> None:
        self.capacity = capacity
        self.budget = budget
        self.buckets: list[Bucket] = []  # oldest first; the last is being filled. Replaced, never changed in place
        self.bucket = -1
        self.quota = max(budget // SLICES, 1)  # samples read per slice
        self.slice = -1
        self.seen = 0  # sampled headers this slice
        self.read = 0  # of which read
        self.step = 1  # read one datagram in step, weighed step times
        self.skip = 0

    def _rotate(self, bucket: int) -> None:
        self.bucket = bucket
        start = bucket * BUCKET_SECONDS
        kept = [b for b in self.buckets if b.start > start - BUCKETS * BUCKET_SECONDS][-(BUCKETS - 1) :]
        self.buckets = [*kept, Bucket(start, self.capacity)]  # one assignment: a reader sees the old or the new

    def add(self, data: bytes, h: Headers, now: float) -> None:
        slice_ = int(now * SLICES)
        if slice_ != self.slice:
            # about quota samples read a slice: one in step, from what the last slice brought
            self.step = self.seen // self.quota + 1 if slice_ == self.slice + 1 else 1
            self.seen = 0
            self.read = 0
            self.slice = slice_
            bucket = int(now) // BUCKET_SECONDS
            if bucket != self.bucket:
                self._rotate(bucket)
        # whole datagrams are read or passed over (one in step, weighed step times): what is passed over costs
        # a few operations, not a look at each of its samples
        n = len(h.packets)
        self.seen += n
        step = self.step
        if step > 1:
            self.skip += 1
            if self.skip < step:
                return
            self.skip = 0
        self.read += n
        if self.read >= self.quota:  # a surge within the slice: a step from the rate seen so far
            elapsed = max(now - self.slice / SLICES, 0.001)
            expected = int(self.seen / elapsed / SLICES)
            self.read = 0
            self.step = max(step * 2, expected // self.quota + 1)
        bucket_now = self.buckets[-1]
        flows = bucket_now.flows
        totals = bucket_now.totals
        table: dict[int, Entry] | None = None
        samples = h.samples
        for offset, length, proto, frame_length, _stripped, index in h.packets:
            info = samples[index]
            if info[0] != FLOW:
                continue  # packets the agent dropped are not on the wire
            rate = info[5] * step
            nbytes = rate * frame_length
            totals.bytes += nbytes
            totals.packets += rate
            totals.samples += 1
            if table is None:
                table = self._sources(bucket_now, h.agent + _SUB.pack(h.sub_agent))
            if table is not None:
                ds = info[1] << 24 | info[2]
                e = table.get(ds)
                if e is None and bucket_now.source_count < 2 * self.capacity:
                    bucket_now.source_count += 1
                    e = table[ds] = Entry()
                if e is not None:
                    e.bytes += nbytes
                    e.packets += rate
                    e.samples += 1
            key = flow_key(data, offset, length, proto)
            if key is not None:
                flows.add(key, rate, nbytes)

    def _sources(self, bucket: Bucket, agent: bytes) -> dict[int, Entry] | None:
        """The agent's data sources in this bucket; None past 2 x capacity data sources (counted in totals only)."""
        by_agent = bucket.sources
        table = by_agent.get(agent)
        if table is None and bucket.source_count < 2 * self.capacity:
            table = by_agent[agent] = {}
        return table
