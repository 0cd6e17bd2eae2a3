"""What keeps a capture stream's filter and agent prefixes cheap: BPF compiled and freed, prefixes by length."""

from __future__ import annotations

import ipaddress
import random

import pytest

from bridge.pcap import bpf
from bridge.pcap.writer import DLT_EN10MB, OWN_LINKTYPE
from bridge.sflow.agent_match import AgentMatch


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_the_filter_is_compiled_for_every_link_type_the_bridge_writes() -> None:
    try:
        f = bpf.CaptureFilter("greater 10")  # a filter every link type can run
    except bpf.FilterError as exc:
        pytest.skip(str(exc))
    for linktype in {DLT_EN10MB, *OWN_LINKTYPE.values()}:
        assert f.program(linktype).bf_len > 0, linktype


def test_compiling_frees_what_libpcap_allocated() -> None:
    try:
        bpf.compile_here("tcp port 80", 1)
    except bpf.FilterError as exc:
        pytest.skip(str(exc))
    for i in range(2000):  # warm up the allocator
        bpf.compile_here(f"host 10.0.{i % 250}.1 and tcp port {i}", 1)
    before = rss_kb()
    for i in range(20000):
        bpf.compile_here(f"host 10.0.{i % 250}.1 and tcp port {i}", 1)
    assert rss_kb() - before < 1024  # was 6.8 MB for 20,000 filters without pcap_freecode


def test_a_filter_past_the_length_limit_is_refused_before_compiling() -> None:
    with pytest.raises(bpf.FilterError, match="at most 2048"):
        bpf.CaptureFilter("port 53 or " * 300)


def test_agent_prefixes_match_as_ipaddress_does() -> None:
    rng = random.Random(7)
    prefixes = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/{rng.choice([8, 16, 24, 32])}" for _ in range(100)]
    prefixes += [f"2001:db8:{rng.randrange(65536):x}::/{rng.choice([32, 48, 64, 128])}" for _ in range(100)]
    match = AgentMatch(prefixes)
    nets = [ipaddress.ip_network(p, strict=False) for p in prefixes]
    agents = [ipaddress.ip_address(rng.getrandbits(32)) for _ in range(2000)]
    agents += [ipaddress.ip_address(f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}")
               for _ in range(2000)]  # fmt: skip
    agents += [ipaddress.ip_address(f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}")
               for _ in range(2000)]  # fmt: skip
    for a in agents * 2:  # twice: the remembered answers too
        assert match(a.packed) == any(a in n for n in nets), a
    assert AgentMatch([])(b"\1\2\3\4")
    assert not AgentMatch(["10.0.0.0/8"])(b"")  # an agent with no address is in no prefix


def test_agent_prefixes_are_bounded() -> None:
    with pytest.raises(ValueError, match="at most 256"):
        AgentMatch(["10.0.0.0/8"] * 257)
