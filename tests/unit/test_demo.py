"""The demo agent: what it sends decodes cleanly, and bad arguments get a message."""

from __future__ import annotations

import socket

import pytest

from bridge.cli import demo
from bridge.sflow import decode
from bridge.sources.demo import Population


def test_population_datagrams_decode_with_correct_sequence_numbers() -> None:
    pop = Population(agents=4, flows=100, seed=2)
    last: dict[str, int] = {}
    for _ in range(300):
        dg = decode(pop.datagram())
        assert dg.error is None
        assert dg.sequence == last.get(dg.agent, 0) + 1
        last[dg.agent] = dg.sequence
        kinds = [s.sample_type for s in dg.samples]
        assert 4 <= kinds.count(1) <= 8 and 1 <= kinds.count(2) <= 2 and kinds.count(5) <= 1
        for s in dg.samples:
            if s.sample_type in (1, 5):  # a sampled packet, or one the switch dropped
                assert s.header_protocol == 1
                assert s.header_len == min(128, s.sampled_packet_size - 4)  # the frame, or its first 128 bytes
                assert s.got_ipv4 or s.got_ipv6 or s.sampled_packet_size == 64  # IP, or a (64-byte) ARP frame


def test_demo_sends_over_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        port = rx.getsockname()[1]
        assert demo.main(["--to", f"127.0.0.1:{port}", "--count", "3", "--rate", "0"]) == 0
        got = [rx.recv(65536) for _ in range(3)]
    assert all(decode(d).version == 5 for d in got)


@pytest.mark.parametrize("target", ["nonsense", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:x"])
def test_demo_rejects_bad_targets(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        demo.main(["--to", target, "--count", "1"])
    assert info.value.code == 2
    assert "--to wants HOST:PORT" in capsys.readouterr().err
