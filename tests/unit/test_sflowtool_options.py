"""sflowtool's VLAN filters (-V/-v, and the long options sflowtool swaps) and payload removal (-x)."""

from __future__ import annotations

import struct

import pytest

from bridge.sflow import decode
from tests.conftest import CORPUS, needs_corpus
from tests.corpus import corpus_datagrams
from tests.helpers import sflowtool

NAME = "akvorado-data-1140"


def flows(args: list[str]) -> list[str]:
    assert CORPUS is not None
    out, _, rc = sflowtool(["-r", str(CORPUS / "captures" / f"{NAME}.pcap"), "-l", *args])
    assert rc == 0
    return [line for line in out.decode().splitlines() if line.startswith("FLOW")]


def vlans(line: str) -> tuple[int, int]:
    f = line.split(",")
    return int(f[7]), int(f[8])


@needs_corpus
def test_include_and_exclude_split_the_samples() -> None:
    every = flows([])
    kept = flows(["-V", "100"])
    dropped = flows(["-v", "100"])
    assert kept and every
    assert all(100 in vlans(line) for line in kept)
    assert all(100 not in vlans(line) for line in dropped)
    assert sorted(kept + dropped) == sorted(every)


@needs_corpus
def test_long_options_mean_what_they_say() -> None:
    # sflowtool 6.11 maps --include-vlans to -v (exclude) and --exclude-vlans to -V: swapped
    assert flows(["--include-vlans=100"]) == flows(["-V", "100"])
    assert flows(["--exclude-vlans", "100"]) == flows(["-v", "100"])


@needs_corpus
def test_ranges_lists_and_c_numbers() -> None:
    assert flows(["-V", "0x64"]) == flows(["-V", "100"]) == flows(["-V", "99-101"]) == flows(["-V", "5, 100,7"])
    assert flows(["-V", "0144"]) == flows(["-V", "100"])  # octal, as strtol reads it
    assert flows(["+v", "100"]) == flows(["-V", "100"])  # the legacy spelling


@pytest.mark.parametrize(
    ("arg", "rc", "message"),
    [("5000", 236, "error parsing vlan filter (vlan = <5000> out of range)"),
     ("1,x", 237, "error parsing vlan filter ranges (next char = <x>)"),
     ("10-", 237, "error parsing vlan filter ranges (next char = <\0>)")],
)  # fmt: skip
def test_bad_vlan_lists(arg: str, rc: int, message: str) -> None:
    out, err, code = sflowtool(["-V", arg])
    assert code == rc and err == (message + "\n").encode() and out == b""


@needs_corpus
def test_x_cuts_each_header_where_its_payload_starts() -> None:
    assert CORPUS is not None
    name = "crafted-mixed-realistic"
    full, _, _ = sflowtool(["-r", str(CORPUS / "captures" / f"{name}.pcap"), "-t"])
    cut, _, rc = sflowtool(["-r", str(CORPUS / "captures" / f"{name}.pcap"), "-t", "-x"])
    assert rc == 0
    expected = []
    for n, data in corpus_datagrams():
        if n == name:
            for s in decode(data).samples:
                if s.sample_type in (1, 3):
                    expected.append(s.offset_to_payload or s.header_len)

    def caplens(stream: bytes) -> list[int]:
        out, pos = [], 24
        while pos < len(stream):
            caplen = struct.unpack_from("<I", stream, pos + 8)[0]
            out.append(caplen)
            pos += 16 + caplen
        return out

    assert caplens(cut) == expected
    assert caplens(cut) != caplens(full)


LONG_AND_SHORT = [
    (["--line"], ["-l"]), (["--json"], ["-j"]), (["--json-indented"], ["-J"]), (["--grep"], ["-g"]),
    (["--write-pcap"], ["-t"]), (["--write-pcap-discards"], ["-T"]), (["--write-pcap-datagrams"], ["-M"]),
    (["--common-logfile"], ["-H"]), (["-t", "--redact-payload"], ["-t", "-x"]),
    (["--fields=agent,srcIP"], ["-L", "agent,srcIP"]),
    (["--fields", "srcIP"], ["-L", "srcIP"]), (["-l", "--exclude-vlans", "10"], ["-l", "-v", "10"]),
    (["-l", "+v", "10"], ["-l", "-V", "10"]), (["-l", "--keep-going-on-error"], ["-l", "-k"]), (["-l", "-k"], ["-l"]),
    (["--allow-dns", "-l"], ["-D", "-l"]),
]  # fmt: skip


@needs_corpus
@pytest.mark.parametrize(("long", "short"), LONG_AND_SHORT)
def test_every_long_option_is_its_short_one(long: list[str], short: list[str]) -> None:
    assert CORPUS is not None
    capture = str(CORPUS / "captures" / "crafted-mixed-realistic.pcap")
    a = sflowtool(["--read-pcap", capture, *long])
    b = sflowtool(["-r", capture, *short])
    assert a == b and a[2] == 0
    assert a[0] or long == ["--common-logfile"]  # this capture has no HTTP samples for -H


@pytest.mark.parametrize(("long", "short"), [(["--version"], ["-z"]), (["--help"], ["-h"]), (["--usage"], ["-?"])])
def test_version_and_help_long_options(long: list[str], short: list[str]) -> None:
    assert sflowtool(long) == sflowtool(short)
