"""Which agents a reader asked for: a capture stream's ``agent=`` prefixes, a bus reader's ``--agent``."""

from __future__ import annotations

import ipaddress

MAX_AGENT_PREFIXES = 256  # agent prefixes of one reader
_MATCH_CACHE = 4096  # agents whose answer a reader remembers; forgotten all at once past that


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
