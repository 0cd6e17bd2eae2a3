"""Byte-for-byte comparison with sflowtool 6.11's goldens, every capture in every text mode."""

from __future__ import annotations

import os

import pytest

from tests.conftest import CORPUS, capture_names, needs_corpus
from tests.helpers import sflowtool

L_FIELDS = "localtime,agent,srcIP,dstIP,IPProtocol,TCPSrcPort,TCPDstPort,sampledPacketSize,meanSkipCount"
MODES = {"text": [], "g": ["-g"], "l": ["-l"], "L": ["-L", L_FIELDS], "j": ["-j"], "J": ["-J"], "H": ["-H"]}
PCAP_MODES = {"t.pcap": ["-t"], "T.pcap": ["-T"], "M.pcap": ["-M"]}


def _expected_rc(name: str, mode: str) -> int:
    assert CORPUS is not None
    for line in (CORPUS / "golden" / f"{name}.rc").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == mode:
            return int(parts[1])
    raise AssertionError(f"no exit code recorded for {name} {mode}")


@needs_corpus
@pytest.mark.parametrize("mode", list(MODES) + list(PCAP_MODES))
@pytest.mark.parametrize("name", capture_names())
def test_golden(name: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CORPUS is not None
    golden = CORPUS / "golden"
    # the goldens were made from the corpus folder with -r ./captures/NAME.pcap, a path two messages print
    monkeypatch.chdir(CORPUS)
    out, err, rc = sflowtool(["-r", f"./captures/{name}.pcap", *(MODES[mode] if mode in MODES else PCAP_MODES[mode])])
    assert out == (golden / f"{name}.{mode}").read_bytes()
    assert err == (golden / f"{name}.{mode}.stderr").read_bytes()
    assert rc == _expected_rc(name, mode)


@needs_corpus
def test_reading_stdin_matches_file() -> None:
    assert CORPUS is not None
    name = "crafted-mixed-realistic"
    data = (CORPUS / "captures" / f"{name}.pcap").read_bytes()
    out, _, rc = sflowtool(["-r", "-", "-J"], stdin=data)
    assert rc == 0
    assert out == (CORPUS / "golden" / f"{name}.J").read_bytes()


def test_corpus_present_in_ci() -> None:
    """In CI the corpus must be there: a skipped conformance suite must not pass as green."""
    if os.environ.get("CI") and CORPUS is None:
        pytest.fail("CI=true but the conformance corpus is missing (SFLOW_CONFORMANCE_DIR or ../shared/conformance)")
