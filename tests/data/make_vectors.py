#!/usr/bin/env python3
"""Makes the in-repository test vectors: captures of crafted sFlow, and what sflowtool prints for them.

    .venv/bin/python tests/data/make_vectors.py captures          # tests/data/captures/*.pcap
    .venv/bin/python tests/data/make_vectors.py expected SFLOWTOOL  # tests/data/expected/*, from that binary

The captures are made by this project's own encoder (bridge/sflow/encode.py and the
framing below). A record's body is found by a seeded random search: words are drawn
(small numbers, letters, large numbers) until this project's decoder reads the record
whole; the same seed gives the same bytes. Whether those bytes mean what this
project's decoder says is then up to sflowtool: ``expected`` runs a given sflowtool
6.11 binary (built from its source; neither is part of this project) in every mode,
with TZ=UTC LC_ALL=C, and stores stdout, stderr and the exit code.
tests/data/README.md lists the captures and the commands.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from bridge.pcap.writer import DLT_EN10MB, file_header, record  # noqa: E402
from bridge.sflow import DecodeError, decode  # noqa: E402
from bridge.sflow import encode as enc  # noqa: E402
from bridge.sflow.counters import COUNTER_RECORDS  # noqa: E402
from bridge.sflow.flow import FLOW_RECORDS  # noqa: E402

# sflowtool's modes, as the conformance corpus runs them (tests/conformance/test_goldens.py)
L_FIELDS = "localtime,agent,srcIP,dstIP,IPProtocol,TCPSrcPort,TCPDstPort,sampledPacketSize,meanSkipCount"
MODES: dict[str, list[str]] = {
    "text": [], "g": ["-g"], "l": ["-l"], "L": ["-L", L_FIELDS], "j": ["-j"], "J": ["-J"], "H": ["-H"],
    "t.pcap": ["-t"], "T.pcap": ["-T"], "M.pcap": ["-M"],
}  # fmt: skip
AGENT = "192.0.2.77"
TRIES = 400  # random bodies per length before the next length is tried


def _word(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.45:
        return rng.randrange(0, 5)  # counts, lengths, address types, enums
    if r < 0.65:
        return int.from_bytes(bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(4)), "big")  # text
    if r < 0.9:
        return rng.randrange(5, 1 << 32)
    return rng.choice((0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 1 << 16))


def _clean(datagram: bytes) -> bool:
    try:
        decode(datagram, source_ip="10.0.0.1")
    except DecodeError:
        return False
    return True


def search(make: Callable[[bytes], bytes], rng: random.Random, max_words: int = 48) -> bytes | None:
    """The first datagram ``make(body)`` that the decoder reads whole, shortest bodies first."""
    for n in range(max_words + 1):
        for _ in range(TRIES if n else 1):
            body = b"".join(struct.pack(">I", _word(rng)) for _ in range(n))
            datagram = make(body)
            if _clean(datagram):
                return datagram
    return None


def v5(samples: list[bytes], seq: int = 1) -> bytes:
    return enc.datagram(AGENT, 3, seq, 123_456_789, samples)


def flow_sample(records: list[bytes], tag: int = 1) -> bytes:
    body = struct.pack(">IIIIIIII", 7, 0x00000005, 1000, 5000, 0, 5, 7, len(records)) + b"".join(records)
    return struct.pack(">II", tag, len(body)) + body


def counters_sample(records: list[bytes]) -> bytes:
    body = struct.pack(">III", 9, 0x00000005, len(records)) + b"".join(records)
    return struct.pack(">II", 2, len(body)) + body


def expanded_flow(records: list[bytes]) -> bytes:
    body = struct.pack(">IIIIIIIIIII", 11, 0, 5, 1000, 5000, 2, 0, 5, 0, 7, len(records)) + b"".join(records)
    return struct.pack(">II", 3, len(body)) + body


def expanded_counters(records: list[bytes]) -> bytes:
    body = struct.pack(">IIII", 12, 0, 5, len(records)) + b"".join(records)
    return struct.pack(">II", 4, len(body)) + body


def discard(records: list[bytes], reason: int = 3) -> bytes:
    return enc.discard_sample(13, 5, reason, records, in_if=5, out_if=0, drops=4)


def header_record() -> bytes:
    tcp = enc.l4(6, 40000, 443, b"x" * 20, flags=0x02)
    frame = enc.ethernet(bytes.fromhex("02aa00000001"), bytes.fromhex("020000000007"), 0x0800,
                         enc.ipv4("10.1.1.1", "10.3.3.3", 6, tcp), vlan=30)  # fmt: skip
    return enc.sampled_header(frame)


def record_vectors(table: dict[int, object], wrap: Callable[[list[bytes]], bytes], seed: int) -> list[bytes]:
    """One datagram per record tag of ``table``, its body found by search; the tags not found are reported."""
    rng = random.Random(seed)
    out, missed = [], []
    for seq, tag in enumerate(sorted(table), 1):
        datagram = search(lambda body, tag=tag, seq=seq: v5([wrap([enc.record(tag, body)])], seq), rng)
        if datagram is None:
            missed.append(f"{tag >> 12}:{tag & 0xFFF}")
        else:
            out.append(datagram)
    if missed:
        print(f"make_vectors: no body found for {', '.join(missed)}", file=sys.stderr)
    return out


def sample_kinds(seed: int) -> list[bytes]:
    """Every kind of sample and datagram version, with a sampled header where one fits."""
    rng = random.Random(seed)
    hdr = header_record()
    udp = enc.l4(17, 40001, 53, b"y" * 12)
    hdr6 = enc.sampled_header(enc.ethernet(bytes.fromhex("02aa00000001"), bytes.fromhex("020000000007"), 0x86DD,
                                           enc.ipv6("2001:db8::1", "2001:db8::53", 17, udp)))  # fmt: skip
    out = [
        v5([flow_sample([hdr, enc.extended_switch(30, 40, 1, 2)])], 1),
        v5([expanded_flow([hdr])], 2),
        v5([counters_sample([enc.generic_counters(5, 10**9, 1000, 2000, 10, 20)])], 3),
        v5([expanded_counters([enc.generic_counters(7, 10**10, 3, 4, 5, 6)])], 4),
        v5([discard([hdr], reason) for reason in (0, 3, 256, 263, 289, 9999)], 5),
        v5([flow_sample([hdr]), counters_sample([enc.ethernet_counters()]), discard([hdr])], 6),
        # sflowtool keeps the IPv4 offset of the first header for the second, whose header is empty, and reads
        # IPv4 fields from the records after it (its length check is unsigned)
        v5(
            [
                flow_sample(
                    [
                        hdr,
                        enc.sampled_header(b"", 64, protocol=3),
                        *[enc.extended_switch(0x0A000001, 0x0A000002, 6, 7)] * 3,
                    ]
                )
            ],
            9,
        ),
        # the same for IPv6: the bytes after the empty header are read as an IPv6 header; the priority 0x6000 of the
        # first switch record puts a 6 where the version goes, 0 does not
        *[
            v5(
                [
                    flow_sample(
                        [hdr6, enc.sampled_header(b"", 64, protocol=3), *[enc.extended_switch(1, 2, pri, 7)] * 3]
                    )
                ],
                seq,
            )
            for seq, pri in ((10, 0x6000), (11, 0))
        ],
    ]
    unclean = [i for i, datagram in enumerate(out) if not _clean(datagram)]
    assert not unclean, f"sample-kinds: datagrams {unclean} do not decode"
    for seq, tag in ((7, (4300 << 12) + 1002), (8, (4300 << 12) + 1003)):  # rtmetric, rtflow
        found = search(lambda body, tag=tag, seq=seq: v5([struct.pack(">II", tag, len(body)) + body], seq), rng, 24)
        if found is not None:
            out.append(found)
    for version in (2, 4):
        for kind in (1, 2):  # flow, counters: their bodies are not length-prefixed
            head = struct.pack(">IIIIII", version, 1, 0xC000024D, 9, 1000, 1) + struct.pack(">I", kind)
            found = search(lambda body, head=head: head + body, rng, 40)
            if found is not None:
                out.append(found)
            else:
                print(f"make_vectors: no v{version} sample of kind {kind} found", file=sys.stderr)
    return out


def broken(good: list[bytes]) -> list[bytes]:
    """Truncated datagrams (at every 16th byte of a few good ones) and lengths that lie."""
    out = []
    for datagram in good[:6]:
        out += [datagram[:cut] for cut in range(4, len(datagram), 16)]
    sample = good[0]
    # a sample length past the end, a record count that wraps, a version nobody speaks
    out.append(sample[:32] + struct.pack(">I", 0xFFFFFFF0) + sample[36:])
    out.append(sample[: 28 + 8 + 28] + struct.pack(">I", 0xFFFFFFFF) + sample[28 + 8 + 32 :])
    out.append(struct.pack(">I", 3) + sample[4:])
    return out


def write_pcap(path: Path, datagrams: list[bytes]) -> None:
    """Ethernet/IPv4/UDP to port 6343 around each datagram, a second apart from 2026-01-01."""
    with path.open("wb") as f:
        f.write(file_header(DLT_EN10MB, 65535))
        for i, data in enumerate(datagrams):
            udp = struct.pack(">HHHH", 50000, 6343, 8 + len(data), 0)
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(data), i & 0xFFFF, 0, 64, 17, 0,
                             bytes((10, 0, 0, 1)), bytes((10, 0, 0, 2)))  # fmt: skip
            frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp + data
            f.write(record(1_767_225_600 + i, 0, frame, len(frame)))


def captures() -> None:
    folder = HERE / "captures"
    folder.mkdir(exist_ok=True)
    hdr = header_record()
    sets = {
        # the record first: a header before it would leave its IPv4 offset for a header record found by the search,
        # which sflowtool then reads past the datagram, in its stale buffer (sample-kinds has that case in bounds)
        "flow-records": record_vectors(FLOW_RECORDS, lambda recs: flow_sample([*recs, hdr]), 1),
        "counter-records": record_vectors(COUNTER_RECORDS, counters_sample, 2),
        "sample-kinds": sample_kinds(3),
    }
    sets["truncated-and-malformed"] = broken(sets["sample-kinds"] + sets["flow-records"][:3])
    for name, datagrams in sets.items():
        write_pcap(folder / f"{name}.pcap", datagrams)
        print(f"{name}.pcap: {len(datagrams)} datagrams", file=sys.stderr)


def expected(sflowtool: str) -> None:
    folder = HERE / "expected"
    folder.mkdir(exist_ok=True)
    env = dict(os.environ, TZ="UTC", LC_ALL="C")
    for capture in sorted((HERE / "captures").glob("*.pcap")):
        codes = []
        for mode, args in MODES.items():
            # run from tests/data with a relative path, as the test does: two messages print the path
            run = subprocess.run([sflowtool, "-r", f"./captures/{capture.name}", *args], cwd=HERE, env=env,
                                 stdin=subprocess.DEVNULL, capture_output=True, timeout=60)  # fmt: skip
            (folder / f"{capture.stem}.{mode}").write_bytes(run.stdout)
            (folder / f"{capture.stem}.{mode}.stderr").write_bytes(run.stderr)
            codes.append(f"{mode} {run.returncode}\n")
        (folder / f"{capture.stem}.rc").write_text("".join(codes))


if __name__ == "__main__":
    if sys.argv[1:2] == ["captures"]:
        captures()
    elif sys.argv[1:2] == ["expected"] and len(sys.argv) == 3:
        expected(sys.argv[2])
    else:
        sys.exit(__doc__)
