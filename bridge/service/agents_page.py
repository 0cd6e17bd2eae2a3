"""The status page's agents, served a page at a time: sorted, filtered and cut by the server.

With 10,000 agents the page asks for the 50 rows it shows, not for all of them each
second; sorting by address is numeric (192.0.2.2 before 192.0.2.10, IPv4 before IPv6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from bridge.pipeline.accounting import KIND_NAMES, Accounting, AgentStats, reason_name
from bridge.service.history import History
from bridge.sflow.reader import agent_text

MAX_LIMIT: Final = 500
MAX_FILTER: Final = 100

Key = tuple[bytes | str, int]


def number(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {text[:40]!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high}")
    return value


def name_of(key: Key) -> str:
    agent, sub = key
    if sub < 0:
        return f"{agent_text(agent)} (unparsed)"
    return agent_text(agent) + (f"/{sub}" if sub > 0 else "")


def address_order(key: Key) -> tuple[int, bytes, int]:
    agent, sub = key
    if isinstance(agent, bytes):
        return (len(agent), agent, sub)
    return (99, agent.encode(), sub)


def _samples(st: AgentStats) -> int:
    return sum(list(st.samples.values()))


def _lost_samples(st: AgentStats) -> int:
    return sum(v[1] for v in list(st.sources.values()))


def _discards(st: AgentStats) -> int:
    return sum(list(st.discards.values()))


def _drops(st: AgentStats) -> int:
    return sum(list(st.drops.values()))


SORTS: Final[dict[str, Callable[[Key, AgentStats, History], Any]]] = {
    "agent": lambda k, st, h: address_order(k),
    "datagrams": lambda k, st, h: st.datagrams,
    "rate": lambda k, st, h: h.rate(k) or 0.0,
    "datagramsLost": lambda k, st, h: st.lost,
    "samples": lambda k, st, h: _samples(st),
    "samplesLost": lambda k, st, h: _lost_samples(st),
    "drops": lambda k, st, h: _drops(st),
    "discards": lambda k, st, h: _discards(st),
    "malformed": lambda k, st, h: st.malformed,
    "lastSeen": lambda k, st, h: st.last_seen,
}


def row(key: Key, st: AgentStats, history: History) -> dict[str, Any]:
    agent, sub = key
    spark = history.spark.get(key)
    return {
        "name": name_of(key),
        "agent": agent_text(agent),
        "subAgent": sub if sub >= 0 else None,
        "datagrams": st.datagrams,
        "rate": history.rate(key),
        "datagramsLost": st.lost,
        "samples": _samples(st),
        "samplesLost": _lost_samples(st),
        "drops": _drops(st),
        "discards": _discards(st),
        "malformed": st.malformed,
        "lastSeen": st.last_seen,
        "spark": list(spark) if spark else [],
    }


def page(acct: Accounting, history: History, query: dict[str, str]) -> dict[str, Any]:
    sort = query.get("sort") or "agent"
    if sort not in SORTS:
        raise ValueError(f"sort is one of {', '.join(SORTS)}")
    order = query.get("order") or ("asc" if sort == "agent" else "desc")
    if order not in ("asc", "desc"):
        raise ValueError("order is asc or desc")
    text = (query.get("filter") or "").strip().lower()
    if len(text) > MAX_FILTER:
        raise ValueError(f"the filter may be at most {MAX_FILTER} characters")
    offset = number(query, "offset", 0, 0, 10**9)
    limit = number(query, "limit", 50, 1, MAX_LIMIT)
    agents = list(acct.agents.items())  # a copy: the receive loop adds agents
    chosen = [(k, st) for k, st in agents if text in name_of(k).lower()] if text else agents
    by = SORTS[sort]
    # ties in address order, so that a page's rows stay put between refreshes
    chosen.sort(key=lambda kv: address_order(kv[0]))
    if sort != "agent" or order == "desc":
        chosen.sort(key=lambda kv: by(kv[0], kv[1], history), reverse=order == "desc")
    return {
        "total": len(agents),
        "matched": len(chosen),
        "offset": offset,
        "limit": limit,
        "sort": sort,
        "order": order,
        "rows": [row(k, st, history) for k, st in chosen[offset : offset + limit]],
    }


def _direction(inbound: int, outbound: int) -> str:
    if inbound and outbound:
        return "both"
    return "in" if inbound else "out" if outbound else "unknown"


def detail(acct: Accounting, history: History, query: dict[str, str]) -> dict[str, Any]:
    """One agent and its data sources: direction, rate, pool, samples and losses per source, drops by reason."""
    name = query.get("agent") or ""
    sub = number(query, "subAgent", 0, -1, 0xFFFFFFFF)
    found = None
    for key, st in list(acct.agents.items()):
        if key[1] == sub and agent_text(key[0]) == name:
            found = (key, st)
            break
    if found is None:
        raise LookupError(f"no agent {name!r} sub-agent {sub}")
    key, st = found
    sources = []
    for ds_key, (_seq, lost, count, rate, pool, inbound, outbound) in sorted(list(st.sources.items())):
        kind, ds = ds_key & 7, ds_key >> 3
        cls, index = ds >> 32, ds & 0xFFFFFFFF
        sources.append({
            "kind": KIND_NAMES.get(kind, "other"),
            "dataSource": str(index) if cls == 0 else f"{cls}.{index}",
            "samples": count,
            "samplesLost": lost,
            "samplingRate": rate if kind == 1 else None,
            "samplePool": pool if kind == 1 else None,
            "drops": st.drops.get(ds) if kind == 1 else None,
            # the sampled packets' direction at this port: input, output, both, or neither known
            "direction": _direction(inbound, outbound) if kind == 1 else None,
            "samplesIn": inbound if kind == 1 else None,
            "samplesOut": outbound if kind == 1 else None,
        })  # fmt: skip
    return {
        **row(key, st, history),
        "firstSeen": st.first_seen,
        "sequenceRestarts": st.restarts,
        "samplesByKind": {KIND_NAMES.get(k, "other"): n for k, n in list(st.samples.items())},
        "discardsByReason": {reason_name(r): n for r, n in list(st.discards.items())},
        "dataSources": sources,
    }
