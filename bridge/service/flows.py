"""/flows/json: the top talkers of the last minute, grouped as asked, with their estimated rates."""

from __future__ import annotations

import ipaddress
import time
from typing import Any, Final

from bridge.pipeline.talkers import BUCKET_SECONDS, BUCKETS, Entry, Talkers
from bridge.sflow.reader import agent_text

FLOW_FIELDS: Final = ("src", "dst", "proto", "sport", "dport")
SOURCE_FIELDS: Final = ("agent", "interface")
MAX_TOP: Final = 1000
PROTOCOLS: Final = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 47: "gre", 50: "esp"}


class QueryError(ValueError):
    pass


def parse_by(text: str) -> tuple[str, ...]:
    fields = tuple(f.strip() for f in text.split(",") if f.strip()) or ("src", "dst", "proto")
    if len(set(fields)) != len(fields):
        raise QueryError("by names a field twice")
    if all(f in FLOW_FIELDS for f in fields) or all(f in SOURCE_FIELDS for f in fields):
        return fields
    raise QueryError(f"by takes fields of one kind: {','.join(FLOW_FIELDS)} (flows) or {','.join(SOURCE_FIELDS)}"
                     " (agent data sources)")  # fmt: skip


def _flow_fields(key: bytes) -> dict[str, Any]:
    alen = 4 if key[0] == 4 else 16
    src = ipaddress.ip_address(key[2 : 2 + alen])
    dst = ipaddress.ip_address(key[2 + alen : 2 + 2 * alen])
    p = 2 + 2 * alen
    return {"src": str(src), "dst": str(dst), "proto": PROTOCOLS.get(key[1], str(key[1])),
            "sport": key[p] << 8 | key[p + 1], "dport": key[p + 2] << 8 | key[p + 3]}  # fmt: skip


def _source_fields(key: bytes) -> dict[str, Any]:
    agent, sub, ds = key[:-8], int.from_bytes(key[-8:-4], "big"), int.from_bytes(key[-4:], "big")
    name = agent_text(agent) + (f"/{sub}" if sub else "")
    cls, index = ds >> 24, ds & 0xFFFFFF
    return {"agent": name, "interface": f"{name}:{index}" if cls == 0 else f"{name}:{cls}.{index}"}


def _source_entries(by_agent: dict[bytes, dict[int, Entry]]) -> list[tuple[bytes, Entry]]:
    return [
        (agent + ds.to_bytes(4, "big"), e) for agent, table in list(by_agent.items()) for ds, e in list(table.items())
    ]


def report(talkers: Talkers, by: tuple[str, ...], top: int, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    flows = by[0] in FLOW_FIELDS
    buckets = list(talkers.buckets)  # the receive loop replaces the list when it rotates
    oldest = now - BUCKETS * BUCKET_SECONDS
    chosen = [b for b in buckets if b.start + BUCKET_SECONDS > oldest]
    window = max(now - chosen[0].start, 1.0) if chosen else float(BUCKETS * BUCKET_SECONDS)
    fields_of = _flow_fields if flows else _source_fields
    groups: dict[tuple[Any, ...], list[int]] = {}
    floor = 0
    all_bytes = all_packets = all_samples = 0
    for bucket in chosen:
        total = bucket.totals
        all_bytes += total.bytes
        all_packets += total.packets
        all_samples += total.samples
        if flows:
            floor += bucket.flows.floor
            entries = list(bucket.flows.entries.items())
        else:
            entries = _source_entries(bucket.sources)
        for key, e in entries:
            fields = fields_of(key)
            g = tuple(fields[f] for f in by)
            acc = groups.get(g)
            if acc is None:
                groups[g] = [e.bytes, e.packets, e.samples]
            else:
                acc[0] += e.bytes
                acc[1] += e.packets
                acc[2] += e.samples
    ranked = sorted(groups.items(), key=lambda kv: kv[1][0], reverse=True)[:top]
    rows = []
    for g, (nbytes, packets, samples) in ranked:
        row: dict[str, Any] = dict(zip(by, g, strict=True))
        row.update(bitsPerSecond=round(nbytes * 8 / window, 1), packetsPerSecond=round(packets / window, 3),
                   bytes=nbytes, packets=packets, samples=samples)  # fmt: skip
        rows.append(row)
    return {
        "by": list(by),
        "window": round(window, 3),
        "bitsPerSecond": round(all_bytes * 8 / window, 1),
        "packetsPerSecond": round(all_packets / window, 3),
        "samples": all_samples,
        "underCountBytes": floor,  # an estimate below may be short by up to this much (keys removed from the sketch)
        "sampling": talkers.step,  # 1: every flow sample read; k: one in k, weighed k times (the receive budget)
        "top": rows,
    }
