"""Per-agent accounting: what the packet stream does not show.

Datagrams and samples received, datagrams and samples lost (gaps in the agent's
datagram sequence numbers and in each data source's sample sequence numbers),
the drops agents report in flow samples, malformed datagrams, and packets not
written, with the reason.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

KIND_NAMES = {1: "flow", 2: "counters", 5: "discard", 0: "other"}


class _Seq:
    """Gap counting over a 32-bit sequence number; a step back means the sender restarted."""

    __slots__ = ("last", "lost", "restarts")

    def __init__(self) -> None:
        self.last: int | None = None
        self.lost = 0
        self.restarts = 0

    def see(self, seq: int) -> int:
        last = self.last
        self.last = seq
        if last is None:
            return 0
        gap = (seq - last - 1) & 0xFFFFFFFF
        if gap == 0:
            return 0
        if gap < 0x80000000:
            self.lost += gap
            return gap
        self.restarts += 1  # seq <= last: agent restart or reordering
        return 0


class AgentStats:
    __slots__ = ("datagrams", "samples", "seq", "sources", "drops", "malformed", "first_seen", "last_seen")

    def __init__(self, now: float) -> None:
        self.datagrams = 0
        self.samples: Counter[str] = Counter()
        self.seq = _Seq()
        self.sources: dict[tuple[int, int, int], _Seq] = {}
        self.drops: dict[tuple[int, int], int] = {}  # latest drop counter per flow data source
        self.malformed = 0
        self.first_seen = now
        self.last_seen = now

    @property
    def lost_samples(self) -> int:
        return sum(s.lost for s in self.sources.values())


class Accounting:
    def __init__(self) -> None:
        self.agents: dict[tuple[bytes | str, int], AgentStats] = {}
        self.datagrams = 0
        self.malformed = 0
        self.written = 0
        self.skipped: Counter[str] = Counter()
        self.no_header = 0

    def agent(self, agent: bytes | str, sub_agent: int, now: float) -> AgentStats:
        key = (agent, sub_agent)
        st = self.agents.get(key)
        if st is None:
            st = self.agents[key] = AgentStats(now)
        st.last_seen = now
        return st

    def datagram(self, agent: bytes, sub_agent: int, sequence: int, samples: list[tuple[int, int, int, int, int]],
                 now: float) -> None:  # fmt: skip
        self.datagrams += 1
        st = self.agent(agent, sub_agent, now)
        st.datagrams += 1
        st.seq.see(sequence)
        for kind, dsc, dsi, seq, drops in samples:
            st.samples[KIND_NAMES.get(kind, "other")] += 1
            if kind:
                src = st.sources.get((kind, dsc, dsi))
                if src is None:
                    src = st.sources[(kind, dsc, dsi)] = _Seq()
                src.see(seq)
            if kind == 1:
                st.drops[(dsc, dsi)] = drops

    def bad_datagram(self, source: str, now: float) -> None:
        self.datagrams += 1
        self.malformed += 1
        self.agent(source, -1, now).malformed += 1

    def summary(self) -> str:
        lines = [
            f"sflow-bridge: {self.datagrams} datagrams, {self.malformed} malformed, {self.written} packets written, "
            f"{self.no_header} flow samples without a sampled header"
        ]
        for reason, n in sorted(self.skipped.items()):
            lines.append(f"  not written: {n} {reason}")
        for (agent, sub), st in sorted(self.agents.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
            name = _agent_text(agent)
            if sub < 0:
                lines.append(f"  from {name}: {st.malformed} malformed datagrams")
                continue
            samples = ", ".join(f"{n} {k}" for k, n in sorted(st.samples.items())) or "no samples"
            drops = sum(st.drops.values())
            lines.append(
                f"  agent {name} sub-agent {sub}: {st.datagrams} datagrams ({st.seq.lost} lost), "
                f"samples: {samples} ({st.lost_samples} lost), agent-reported drops {drops}"
                + (f", {st.seq.restarts} sequence restarts" if st.seq.restarts else "")
            )
        return "\n".join(lines) + "\n"


def _agent_text(agent: bytes | str) -> str:
    if isinstance(agent, str):
        return agent
    if len(agent) in (4, 16):
        return str(ipaddress.ip_address(agent))
    return "-"
