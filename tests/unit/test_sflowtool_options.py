"""sflowtool's VLAN filters (-V/-v, and the long options sflowtool swaps) and payload removal (-x)."""

from __future__ import annotations

import struct

import pytest

from bridge.sflow import decode
from bridge.sflow import encode as enc
from tests.corpus import VECTORS, vector_datagrams
from tests.data.make_vectors import flow_sample, header_record, v5, write_pcap
from tests.helpers import sflowtool

# flow samples whose extended-switch records carry these (input, output) VLANs
VLAN_PAIRS = [(100, 100), (20, 20), (100, 100), (30, 30), (40, 50), (0, 0), (4095, 4095), (200, 200)]


@pytest.fixture(scope="module")
def vlan_capture(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("vlans") / "vlans.pcap"
    samples = [flow_sample([header_record(), enc.extended_switch(i, o)]) for i, o in VLAN_PAIRS]
    write_pcap(path, [v5(samples[:4], 1), v5(samples[4:], 2)])
    return str(path)


def flows(capture: str, args: list[str]) -> list[str]:
    out, _, rc = sflowtool(["-r", capture, "-l", *args])
    assert rc == 0
    return [line for line in out.decode().splitlines() if line.startswith("FLOW")]


def vlans(line: str) -> tuple[int, int]:
    f = line.split(",")
    return int(f[7]), int(f[8])


def test_include_and_exclude_split_the_samples(vlan_capture: str) -> None:
    every = flows(vlan_capture, [])
    kept = flows(vlan_capture, ["-V", "100"])
    dropped = flows(vlan_capture, ["-v", "100"])
    assert kept and every
    assert all(100 in vlans(line) for line in kept)
    assert all(100 not in vlans(line) for line in dropped)
    assert sorted(kept + dropped) == sorted(every)


def test_long_options_mean_what_they_say(vlan_capture: str) -> None:
    # sflowtool 6.11 maps --include-vlans to -v (exclude) and --exclude-vlans to -V: swapped
    assert flows(vlan_capture, ["--include-vlans=100"]) == flows(vlan_capture, ["-V", "100"])
    assert flows(vlan_capture, ["--exclude-vlans", "100"]) == flows(vlan_capture, ["-v", "100"])


def test_ranges_lists_and_c_numbers(vlan_capture: str) -> None:
    assert (
        flows(vlan_capture, ["-V", "0x64"])
        == flows(vlan_capture, ["-V", "100"])
        == flows(vlan_capture, ["-V", "99-101"])
        == flows(vlan_capture, ["-V", "5, 100,7"])
    )
    assert flows(vlan_capture, ["-V", "0144"]) == flows(vlan_capture, ["-V", "100"])  # octal, as strtol reads it
    assert flows(vlan_capture, ["+v", "100"]) == flows(vlan_capture, ["-V", "100"])  # the legacy spelling


@pytest.mark.parametrize(
    ("arg", "rc", "message"),
    [("5000", 236, "error parsing vlan filter (vlan = <5000> out of range)"),
     ("1,x", 237, "error parsing vlan filter ranges (next char = <x>)"),
     ("10-", 237, "error parsing vlan filter ranges (next char = <\0>)")],
)  # fmt: skip
def test_bad_vlan_lists(arg: str, rc: int, message: str) -> None:
    out, err, code = sflowtool(["-V", arg])
    assert code == rc and err == (message + "\n").encode() and out == b""


def test_x_cuts_each_header_where_its_payload_starts() -> None:
    name = "sample-kinds"
    full, _, _ = sflowtool(["-r", str(VECTORS / f"{name}.pcap"), "-t"])
    cut, _, rc = sflowtool(["-r", str(VECTORS / f"{name}.pcap"), "-t", "-x"])
    assert rc == 0
    expected = []
    for n, data in vector_datagrams():
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


@pytest.mark.parametrize(("long", "short"), LONG_AND_SHORT)
def test_every_long_option_is_its_short_one(long: list[str], short: list[str]) -> None:
    capture = str(VECTORS / "sample-kinds.pcap")
    a = sflowtool(["--read-pcap", capture, *long])
    b = sflowtool(["-r", capture, *short])
    assert a == b and a[2] == 0
    assert a[0] or long == ["--common-logfile"]  # this capture has no HTTP samples for -H


@pytest.mark.parametrize(("long", "short"), [(["--version"], ["-z"]), (["--help"], ["-h"]), (["--usage"], ["-?"])])
def test_version_and_help_long_options(long: list[str], short: list[str]) -> None:
    assert sflowtool(long) == sflowtool(short)
