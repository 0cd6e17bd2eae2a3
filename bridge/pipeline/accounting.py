"""Per-agent accounting: what the packet stream does not show.

Datagrams and samples received, datagrams and samples lost (gaps in the agent's
datagram sequence numbers and in each data source's sample sequence numbers),
the drops agents report in flow samples, malformed datagrams, and packets not
written, with the reason.

Bounded: anyone can send UDP to port 6343 with made-up agent addresses and data
sources, so at most MAX_AGENTS agents (and senders of malformed datagrams) and
MAX_SOURCES data sources in all are tracked one by one; what comes from beyond
those is still counted in the totals, and in ``untracked_datagrams`` and
``untracked_samples``.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from bridge.sflow.datagram import drop_name
from bridge.sflow.headers import SampleInfo
from bridge.sflow.reader import agent_text

KIND_NAMES = {1: "flow", 2: "counters", 5: "discard", 0: "other"}


class AgentStats:
    __slots__ = ("datagrams", "samples", "seq", "lost", "restarts", "sources", "drops", "discards", "malformed",
                 "first_seen", "last_seen")  # fmt: skip

    def __init__(self, now: float) -> None:
        self.datagrams = 0
        self.samples: dict[int, int] = {}  # by sample kind
        self.seq: int | None = None  # last datagram sequence number
        self.lost = 0  # datagrams missing from the sequence
        self.restarts = 0  # steps back in the sequence: agent restarts or reordering
        # per (kind, ds_class, ds_index): [last sample sequence number, samples lost, samples, sampling rate,
        # sample pool, samples of packets coming in at the data source, going out of it], keyed by data
        # source as one int, (class << 32 | index) << 3 | sample kind: cheaper to hash than a tuple
        self.sources: dict[int, list[int]] = {}
        self.drops: dict[int, int] = {}  # latest drop counter per flow data source (class << 32 | index)
        # discard samples by drop reason code: at most MAX_REASONS codes (senders make them up), the rest under -1
        self.discards: dict[int, int] = {}
        self.malformed = 0
        self.first_seen = now
        self.last_seen = now

    @property
    def lost_samples(self) -> int:
        return sum(s[1] for s in self.sources.values())


MAX_REASONS: Final = 32  # drop reasons counted one by one per agent
MAX_AGENTS: Final = 10_000  # agent/sub-agent pairs and malformed senders: some 10 MB at most
MAX_SOURCES: Final = 200_000  # data sources of all agents together: some 40 MB at most


class Accounting:
    def __init__(self, max_agents: int = MAX_AGENTS, max_sources: int = MAX_SOURCES) -> None:
        self.max_agents = max_agents
        self.max_sources = max_sources
        self.agents: dict[tuple[bytes | str, int], AgentStats] = {}
        self.tracked_sources = 0  # data sources tracked, over all agents
        self.untracked_datagrams = 0  # from agents beyond max_agents
        self.untracked_samples = 0  # from data sources beyond max_sources: their sample loss is not measured
        self.datagrams = 0
        self.samples = 0  # samples of every kind, from every agent
        self.datagrams_lost = 0  # gaps in the agents' datagram sequences, all agents tracked
        self.samples_lost = 0  # gaps in the data sources' sample sequences, all sources tracked
        self.malformed = 0
        self.written = 0  # sampled packets written
        self.drops_written = 0  # packets agents dropped (discard samples) written
        self.skipped: Counter[str] = Counter()
        self.no_header = 0
        self.socket_drops: int | None = None  # datagrams the kernel dropped before we read them

    def agent(self, agent: bytes | str, sub_agent: int, now: float) -> AgentStats | None:
        """The agent's entry, made when first seen; None (and counted) beyond max_agents."""
        key = (agent, sub_agent)
        st = self.agents.get(key)
        if st is None:
            if len(self.agents) >= self.max_agents:
                self.untracked_datagrams += 1
                return None
            st = self.agents[key] = AgentStats(now)
        st.last_seen = now
        return st

    def datagram(self, agent: bytes, sub_agent: int, sequence: int, samples: list[SampleInfo], now: float) -> None:
        self.datagrams += 1
        self.samples += len(samples)
        st = self.agent(agent, sub_agent, now)
        if st is None:
            return
        st.datagrams += 1
        last = st.seq
        st.seq = sequence
        if last is not None:
            gap = (sequence - last - 1) & 0xFFFFFFFF
            if gap:
                if gap < 0x80000000:
                    st.lost += gap
                    self.datagrams_lost += gap
                else:
                    st.restarts += 1
        sources = st.sources
        counts = st.samples
        for info in samples:
            kind = info[0]
            counts[kind] = counts.get(kind, 0) + 1
            if kind:
                ds = info[1] << 32 | info[2]
                key = ds << 3 | kind
                src = sources.get(key)
                if src is None:
                    if self.tracked_sources >= self.max_sources:
                        self.untracked_samples += 1
                        continue
                    self.tracked_sources += 1
                    src = sources[key] = [info[3], 0, 1, info[5], info[6], 0, 0]
                else:
                    gap = (info[3] - src[0] - 1) & 0xFFFFFFFF
                    src[0] = info[3]
                    src[2] += 1
                    src[3] = info[5]
                    src[4] = info[6]
                    if gap and gap < 0x80000000:
                        src[1] += gap
                        self.samples_lost += gap
                if kind == 1:
                    st.drops[ds] = info[4]
                    if info[7] == 0 and info[8] == info[2]:
                        src[5] += 1
                    elif info[9] == 0 and info[10] == info[2]:
                        src[6] += 1
                elif kind == 5:
                    reason = info[11]
                    discards = st.discards
                    if reason not in discards and len(discards) >= MAX_REASONS:
                        reason = -1
                    discards[reason] = discards.get(reason, 0) + 1

    def bad_datagram(self, source: str, now: float) -> None:
        self.datagrams += 1
        self.malformed += 1
        st = self.agent(source, -1, now)
        if st is not None:
            st.malformed += 1

    def summary(self) -> str:
        lines = [
            f"sflow-bridge: {self.datagrams} datagrams, {self.malformed} malformed, {self.written} packets written, "
            + (f"{self.drops_written} dropped packets written, " if self.drops_written else "")
            + f"{self.no_header} flow samples without a sampled header"
            + (
                f", {self.socket_drops} dropped by the kernel (socket buffer full)"
                if self.socket_drops is not None
                else ""
            )
        ]
        for reason, n in sorted(self.skipped.items()):
            lines.append(f"  not written: {n} {reason}")
        if self.untracked_datagrams:
            lines.append(f"  {self.untracked_datagrams} datagrams from agents beyond the {self.max_agents} tracked "
                         "one by one")  # fmt: skip
        if self.untracked_samples:
            lines.append(f"  {self.untracked_samples} samples from data sources beyond the {self.max_sources} "
                         "tracked (their loss not measured)")  # fmt: skip
        for (agent, sub), st in sorted(self.agents.items(), key=lambda kv: (_sort_key(kv[0][0]), kv[0][1])):
            name = agent_text(agent)
            if sub < 0:
                lines.append(f"  from {name}: {st.malformed} malformed datagrams")
                continue
            samples = ", ".join(f"{n} {KIND_NAMES.get(k, 'other')}" for k, n in sorted(st.samples.items())) or "none"
            drops = sum(st.drops.values())
            lines.append(
                f"  agent {name} sub-agent {sub}: {st.datagrams} datagrams ({st.lost} lost), "
                f"samples: {samples} ({st.lost_samples} lost), agent-reported drops {drops}"
                + (f", {st.restarts} sequence restarts" if st.restarts else "")
            )
            if st.discards:
                by_count = sorted(st.discards.items(), key=lambda item: -item[1])
                lines.append("    dropped by reason: " + ", ".join(f"{n} {reason_name(r)}" for r, n in by_count))
        return "\n".join(lines) + "\n"


def reason_name(code: int) -> str:
    return "other reasons" if code == -1 else drop_name(code)


def _sort_key(agent: bytes | str) -> tuple[int, bytes]:
    if isinstance(agent, bytes):
        return (len(agent), agent)
    return (99, agent.encode())
