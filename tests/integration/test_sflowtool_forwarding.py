"""sflowtool -f: datagrams forwarded unchanged, as the corpus's forwarding recordings show."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import CORPUS, needs_corpus
from tests.helpers import capture_payloads, receive_all, sflowtool

NAMES = ["loadme-sflow", "overflowd-sflow-first25", "hsflowd-s1-v4", "sflowtool-R1-lo", "crafted-mixed-realistic",
         "crafted-v2v4"]  # fmt: skip


def recorded(name: str) -> list[bytes]:
    """The UDP payloads of what sflowtool sent, recorded with tcpdump on lo."""
    assert CORPUS is not None
    return capture_payloads(CORPUS / "golden" / f"{name}.fwd.pcap")


@needs_corpus
@pytest.mark.parametrize("name", NAMES)
def test_forwarded_datagrams_match_the_recording(name: str) -> None:
    assert CORPUS is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        rx.bind(("127.0.0.1", 0))
        port = rx.getsockname()[1]
        out, err, rc = sflowtool(["-r", str(CORPUS / "captures" / f"{name}.pcap"), "-f", f"127.0.0.1/{port}"])
        got = receive_all(rx)
    assert rc == 0
    assert out == b""  # forwarding alone prints nothing, as in sflowtool
    want = recorded(name)
    assert len(want) > 0
    assert got == want


@needs_corpus
def test_forwarding_keeps_the_other_outputs() -> None:
    assert CORPUS is not None
    name = "crafted-mixed-realistic"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        out, _, rc = sflowtool(
            ["-r", str(CORPUS / "captures" / f"{name}.pcap"), "-f", f"127.0.0.1/{rx.getsockname()[1]}", "-l"]
        )
        got = receive_all(rx)
    assert rc == 0 and got == recorded(name)
    assert out == (CORPUS / "golden" / f"{name}.l").read_bytes()


@pytest.mark.parametrize(
    ("target", "message"),
    [("127.0.0.1", "host/port - no '/' found"), ("127.0.0.1/0", "invalid forwarding target port: 0"),
     ("127.0.0.1/70000", "invalid forwarding target port: 70000"),
     ("not-an-address/6343", "getaddrinfo(not-an-address) failed")],
)  # fmt: skip
def test_bad_forwarding_targets(target: str, message: str) -> None:
    out, err, rc = sflowtool(["-f", target])
    assert rc == 221 and message.encode() in err and out == b""
