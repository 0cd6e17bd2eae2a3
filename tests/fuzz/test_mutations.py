"""Property-based run over mutated datagrams: not in the default run.

    .venv/bin/python -m pytest -m fuzz tests/fuzz            (100,000 examples)
    FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -m fuzz tests/fuzz

Each example takes a real datagram (the corpus, or the demo agent's when the corpus
is absent), overwrites words with hostile values, flips bytes and truncates it, and
checks that decoding ends in a Datagram or a DecodeError, that every output
renders it, and that the pcap bridge's own path (its walk, accounting and framing)
takes it without an exception.
"""

from __future__ import annotations

import gc
import os
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.pipeline.pcap_bridge import Bridge, Output
from bridge.sflow import DecodeError, decode
from bridge.sources.demo import Population
from tests.corpus import corpus_datagrams
from tests.unit.test_bad_input import all_sinks

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100000"))
HOSTILE = [0, 1, 2, 3, 4, 5, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x3FFFFFFF, 0x40000001, 0x7FFFFFFF, 0x80000000,
           0xFFFFFFF0, 0xFFFFFFFC, 0xFFFFFFFF]  # fmt: skip


def seeds() -> list[bytes]:
    found = [d for _, d in corpus_datagrams() if 8 <= len(d) <= 9000]
    if not found:
        pop = Population(agents=5, flows=100, seed=5)
        found = [pop.datagram() for _ in range(200)]
    return found


SEEDS = seeds()
SINKS = all_sinks()
BRIDGE = Bridge(Output(open(os.devnull, "wb")), None)  # noqa: SIM115 - for the whole run
STATS = {"examples": 0, "errors": 0, "slowest": 0.0, "gc_pause": 0.0}
GC = {"started": 0.0, "paused": 0.0}  # the interpreter's collections, timed apart from the decoder's work


def _gc_timer(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        GC["started"] = time.perf_counter()
    else:
        pause = time.perf_counter() - GC["started"]
        GC["paused"] += pause
        STATS["gc_pause"] = max(STATS["gc_pause"], pause)


gc.callbacks.append(_gc_timer)

mutation = st.one_of(
    st.tuples(st.just("word"), st.integers(0, 4095), st.sampled_from(HOSTILE)),
    st.tuples(st.just("byte"), st.integers(0, 16383), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 16383), st.just(0)),
)


@pytest.mark.fuzz
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, len(SEEDS) - 1), st.lists(mutation, min_size=1, max_size=6))
def test_mutated_datagrams(seed: int, mutations: list[tuple[str, int, int]]) -> None:
    data = bytearray(SEEDS[seed])
    for kind, where, value in mutations:
        if not data:
            break
        if kind == "word":
            i = (where * 4) % len(data)
            data[i : i + 4] = struct.pack(">I", value)[: len(data) - i]
        elif kind == "byte":
            data[where % len(data)] = value
        else:
            del data[where % len(data) :]
    started = time.perf_counter()
    paused = GC["paused"]
    try:
        dg = decode(bytes(data))
    except DecodeError as err:
        assert err.kind in (1, 2, 3)
        dg = err.datagram
        STATS["errors"] += 1
    for sink in SINKS:
        sink.render(dg)
    BRIDGE.datagram(bytes(data), "192.0.2.1", 0, 0, 1.0)  # a malformed one is counted, never raised
    # a full collection of this process's heap (hypothesis keeps much) is not the datagram's cost
    STATS["slowest"] = max(STATS["slowest"], time.perf_counter() - started - (GC["paused"] - paused))
    STATS["examples"] += 1


@pytest.mark.fuzz
def test_report() -> None:
    """Prints what the run above covered (run with -s to see it)."""
    print(f"\nfuzz: {STATS['examples']} mutated datagrams, {STATS['errors']} DecodeError, "
          f"slowest decode+render+bridge {STATS['slowest'] * 1000:.1f} ms (garbage collections left out; the "
          f"longest took {STATS['gc_pause'] * 1000:.1f} ms); the bridge counted {BRIDGE.acct.datagrams} datagrams, "
          f"{BRIDGE.acct.malformed} malformed")  # fmt: skip
