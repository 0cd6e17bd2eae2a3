"""What the bridge keeps per agent and per data source stays bounded whatever the senders make up."""

from __future__ import annotations

import os
import struct

from bridge.pcap.pcapng import PcapngWriter
from bridge.pipeline.accounting import MAX_AGENTS, Accounting
from bridge.pipeline.pcap_bridge import Bridge, Output
from bridge.sflow import encode as enc
from tests.agent import datagram, packets

FRAMES = [f for _, f in packets()]


def flow(ds_index: int, seq: int) -> tuple[int, ...]:
    """A flow sample's accounting tuple (bridge.sflow.headers.SampleInfo) for data source 0:ds_index."""
    return (1, 0, ds_index, seq, 0, 1000, seq * 1000, 0, 5, 0, 7, 0)


def test_made_up_agent_addresses_do_not_grow_the_table() -> None:
    bridge = Bridge(Output(open(os.devnull, "wb")), None)  # noqa: SIM115
    real = datagram(1, FRAMES[:1])
    bridge.datagram(real, "192.0.2.7", 0, 0, 1.0)
    sample = [enc.flow_sample(1, 5, 1000, 1000, [enc.sampled_header(FRAMES[0])], 5, 7)]
    n = MAX_AGENTS + 2_000
    for i in range(n):  # every datagram from an agent address of its own
        agent = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        bridge.datagram(enc.datagram(agent, 0, 1, 1000, sample), "192.0.2.7", 0, 0, 1.0)
    bridge.datagram(datagram(2, FRAMES[:1]), "192.0.2.7", 0, 0, 2.0)
    acct = bridge.acct
    assert len(acct.agents) == MAX_AGENTS
    assert acct.datagrams == n + 2 and acct.malformed == 0
    assert acct.untracked_datagrams == n + 1 - MAX_AGENTS
    assert acct.written == n + 2  # the packets themselves all went out
    known = acct.agents[(bytes([192, 0, 2, 7]), 0)]
    assert known.datagrams == 2 and known.lost == 0  # an agent tracked before the table filled still is
    assert f"{acct.untracked_datagrams} datagrams from agents beyond the 10000 tracked" in acct.summary()


def test_malformed_senders_share_the_bound() -> None:
    acct = Accounting(max_agents=3)
    for i in range(10):
        acct.bad_datagram(f"198.51.100.{i}", 1.0)
    assert len(acct.agents) == 3
    assert acct.malformed == 10 and acct.untracked_datagrams == 7


def test_data_sources_beyond_the_bound_are_counted_not_tracked() -> None:
    acct = Accounting(max_sources=5)
    agent = bytes([192, 0, 2, 7])
    acct.datagram(agent, 0, 1, [flow(i, 1) for i in range(8)], 1.0)  # 8 data sources, 5 tracked
    acct.datagram(agent, 0, 2, [flow(i, 3) for i in range(8)], 2.0)  # sample 2 of each lost
    st = acct.agents[(agent, 0)]
    assert acct.tracked_sources == 5 and len(st.sources) == 5
    assert acct.untracked_samples == 6  # 3 sources, twice
    assert st.lost_samples == 5  # the loss of each tracked source is still measured
    assert st.samples == {1: 16}  # every sample is still counted by kind
    assert "6 samples from data sources beyond the 5 tracked" in acct.summary()


def blocks(stream: bytes) -> list[tuple[int, bytes]]:
    """(block type, body) of each pcapng block."""
    out, pos = [], 0
    while pos + 12 <= len(stream):
        kind, length = struct.unpack_from("<II", stream, pos)
        out.append((kind, stream[pos + 8 : pos + length - 4]))
        pos += length
    return out


def test_pcapng_interfaces_stay_bounded() -> None:
    writer = PcapngWriter(max_interfaces=4)
    stream = writer.start()
    body = FRAMES[0]
    out = [stream]
    for i in range(10):  # ten data sources of ten agents, then the first again
        writer.add_packet(out, bytes([10, 0, 0, i]), 0, flow(i, 1), 1, body, len(body), 0, 0)
    writer.add_packet(out, bytes([10, 0, 0, 0]), 0, flow(0, 2), 1, body, len(body), 0, 0)
    found = blocks(b"".join(out))
    interfaces = [b for kind, b in found if kind == 1]
    packets_ = [b for kind, b in found if kind == 6]
    assert len(interfaces) == 5  # four of their own and the shared one
    assert b"other-data-sources" in interfaces[4]
    assert [struct.unpack_from("<I", b)[0] for b in packets_] == [0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 0]
    assert b"agent=10.0.0.9 " in packets_[9]  # a shared interface's packet still names its agent
