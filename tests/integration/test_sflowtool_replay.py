"""sflowtool -R (encoding sFlow from plain packets) and -P (replay at a speed), over loopback.

The encoder's datagrams are checked against sflowtool's own -R recordings in the corpus,
and decoded by the project's decoder and by tshark's sFlow dissector.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bridge.pcap.reader import Packet, PcapReader, Record
from bridge.pcap.writer import file_header, record
from bridge.sflow import encode as enc
from tests.conftest import CORPUS, ROOT, needs_corpus
from tests.helpers import receive_timed, sflowtool

# raw packets -> what sflowtool -R 1 sent for them
RECORDINGS = {"crafted-seed1": "sflowtool-R1-crafted", "crafted-seed3": "sflowtool-R1-crafted-v6",
              "lo-traffic-1": "sflowtool-R1-lo"}  # fmt: skip


def receiver() -> socket.socket:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind(("127.0.0.1", 0))
    return rx


def sent(args: list[str]) -> tuple[list[bytes], bytes, int]:
    with receiver() as rx:
        out, err, rc = sflowtool([*args, "-f", f"127.0.0.1/{rx.getsockname()[1]}"])
        return [d for _, d in receive_timed(rx)], err, rc


def samples(datagrams: list[bytes]) -> list[tuple[bytes, bytes]]:
    """(flow sample up to the end of its sampled header, the header's pad bytes) of each sample."""
    out = []
    for d in datagrams:
        count = struct.unpack_from(">I", d, 24)[0]
        p = 28
        for _ in range(count):
            _, length = struct.unpack_from(">II", d, p)
            header_len = struct.unpack_from(">I", d, p + 8 + 44 + 8 + 12)[0]
            end = p + 8 + 44 + 8 + 16 + header_len
            out.append((d[p:end], d[end : p + 8 + length]))
            p += 8 + length
        assert p == len(d)
    return out


def raw_packets(name: str) -> list[Packet]:
    assert CORPUS is not None
    with (CORPUS / "raw-inputs" / f"{name}.pcap").open("rb") as f:
        return [p for p in PcapReader(f, name).packets() if isinstance(p, Packet)]


@needs_corpus
@pytest.mark.parametrize("raw", list(RECORDINGS))
def test_encoding_matches_sflowtools_own_samples(raw: str) -> None:
    assert CORPUS is not None
    got, err, rc = sent(["-r", str(CORPUS / "raw-inputs" / f"{raw}.pcap"), "-R", "1"])
    assert rc == 0 and err.startswith(b"pcap version=2.4")
    with (CORPUS / "captures" / f"{RECORDINGS[raw]}.pcap").open("rb") as f:
        recorded = [r.data for r in PcapReader(f, raw) if isinstance(r, Record)]
    ours, theirs = samples(got), samples(recorded)
    # the recording stops after its first pass (sflowtool -P replays forever); it holds a prefix of ours
    assert len(theirs) <= len(ours)
    assert [s for s, _ in ours[: len(theirs)]] == [s for s, _ in theirs]
    # sflowtool pads the header with stale bytes of an earlier sample; XDR padding is zeros
    assert all(pad == bytes(len(pad)) for _, pad in ours)
    # every packet sampled, the last datagram too (sflowtool keeps the last one until a later packet)
    assert len(ours) == len(raw_packets(raw))
    for i, d in enumerate(got):
        assert d[:16] == struct.pack(">IIII", 5, 1, 0, 24336)  # v5, agent 0.0.0.0, sub-agent 24336
        assert struct.unpack_from(">I", d, 16)[0] == i + 1
        assert len(d) < 1500


@needs_corpus
def test_one_in_n_keeps_pools_sequence_numbers_and_the_mean_rate() -> None:
    assert CORPUS is not None
    packets = raw_packets("lo-traffic-1")
    got, _, rc = sent(["-r", str(CORPUS / "raw-inputs" / "lo-traffic-1.pcap"), "-R", "4"])
    assert rc == 0
    fields = [struct.unpack_from(">11I", s, 8) for s, _ in samples(got)]
    assert [f[0] for f in fields] == list(range(1, len(fields) + 1))  # sample sequence numbers
    assert all(f[3] == 4 for f in fields)  # sampling rate
    pools = [f[4] for f in fields]
    assert pools[0] == 1  # the first packet is always sampled
    gaps = [b - a for a, b in zip(pools, pools[1:], strict=False)]
    assert all(1 <= g <= 7 for g in gaps)  # skips of 1 to 2N-1 packets
    assert pools[-1] <= len(packets)
    assert len(packets) / 4 * 0.6 < len(fields) < len(packets) / 4 * 1.6


@needs_corpus
def test_the_encoded_sflow_decodes_back_to_the_packets() -> None:
    assert CORPUS is not None
    packets = raw_packets("crafted-seed1")
    out, _, rc = sflowtool(["-r", str(CORPUS / "raw-inputs" / "crafted-seed1.pcap"), "-R", "1", "-j"])
    assert rc == 0
    decoded = [json.loads(line) for line in out.decode().splitlines()]
    flows = [s for d in decoded for s in d["samples"]]
    assert len(flows) == len(packets)
    for s, p in zip(flows, packets, strict=True):
        (header,) = [e for e in s["elements"] if e.get("flowBlock_tag") == "0:1"]
        assert header["sampledPacketSize"] == str(p.wire_length + 4)
        assert header["headerBytes"].replace("-", "").lower() == p.frame[:128].hex()


@needs_corpus
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (apt install tshark)")
def test_tshark_decodes_the_encoded_sflow(tmp_path: Path) -> None:
    assert CORPUS is not None
    packets = raw_packets("lo-traffic-1")
    got, _, _ = sent(["-r", str(CORPUS / "raw-inputs" / "lo-traffic-1.pcap"), "-R", "1"])
    capture = bytearray(file_header(1))
    for i, d in enumerate(got):
        frame = enc.ethernet(b"\x02" * 6, b"\x04" * 6, 0x0800, enc.ipv4("127.0.0.1", "127.0.0.1", 17,
                                                                         enc.l4(17, 40000, 6343, d)))  # fmt: skip
        capture += record(1_700_000_000 + i, 0, frame, len(frame))
    (tmp_path / "sflow.pcap").write_bytes(capture)
    proc = subprocess.run(
        ["tshark", "-n", "-r", str(tmp_path / "sflow.pcap"), "-T", "fields", "-E", "separator=;",
         "-e", "sflow_245.sequence_number", "-e", "sflow.flow_sample.sequence_number",
         "-e", "sflow.flow_sample.sample_pool", "-e", "sflow_245.header"],
        capture_output=True, timeout=120, check=True, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    rows = [row.split(";") for row in proc.stdout.decode().splitlines()]
    assert [r[0] for r in rows] == [str(i + 1) for i in range(len(got))]  # datagram sequence numbers
    seqs = [int(v) for r in rows for v in r[1].split(",")]
    pools = [int(v) for r in rows for v in r[2].split(",")]
    headers = [h.replace(":", "") for r in rows for h in r[3].split(",")]
    assert seqs == pools == list(range(1, len(packets) + 1))
    assert len(headers) == len(packets)
    for h, p in zip(headers, packets, strict=True):
        want = p.frame[:128].hex()
        # tshark shows the XDR padding too: zeros up to 4 bytes
        assert h.startswith(want) and set(h[len(want) :]) <= {"0"} and len(h) - len(want) < 8


def spaced_capture(path: Path, count: int, spacing: float) -> None:
    """sFlow datagrams ``spacing`` seconds apart in capture time."""
    frame = enc.ethernet(b"\x02" * 6, b"\x04" * 6, 0x0800, enc.ipv4("10.1.1.1", "10.2.2.2", 6, enc.l4(6, 1, 2, b"")))
    out = bytearray(file_header(1))
    for i in range(count):
        dg = enc.datagram("192.0.2.1", 0, i + 1, i * 1000, [enc.flow_sample(i + 1, 1, 1, i, [enc.sampled_header(frame)],
                                                                          1, 2)])  # fmt: skip
        udp = enc.l4(17, 6343, 6343, dg)
        wire = enc.ethernet(b"\x02" * 6, b"\x04" * 6, 0x0800, enc.ipv4("192.0.2.1", "127.0.0.1", 17, udp))
        t = 1_700_000_000 + i * spacing
        out += record(int(t), round((t % 1) * 1e6), wire, len(wire))
    path.write_bytes(out)


@pytest.mark.parametrize(("speed", "count", "spacing"), [("1", 16, 0.2), ("4", 31, 0.4), ("0.5", 9, 0.2)])
def test_replay_follows_the_requested_speed(speed: str, count: int, spacing: float, tmp_path: Path) -> None:
    capture = tmp_path / "spaced.pcap"
    spaced_capture(capture, count, spacing)
    with receiver() as rx:
        got: list[tuple[float, bytes]] = []
        listening = threading.Thread(target=lambda: got.extend(receive_timed(rx, quiet=3)))
        listening.start()
        started = time.monotonic()
        out, err, rc = sflowtool(["-r", str(capture), "-P", speed, "-f", f"127.0.0.1/{rx.getsockname()[1]}"])
        finished = time.monotonic()
        listening.join(10)
    assert rc == 0 and out == b"", err
    assert len(got) == count  # once through the file, then the command ends
    expected = (count - 1) * spacing / float(speed)
    spread = got[-1][0] - got[0][0]
    assert abs(spread - expected) <= 0.1 * expected, (spread, expected)
    assert finished - started < expected + 2
    # each datagram near its own moment, not only the first and last
    for i, (t, _) in enumerate(got):
        assert abs((t - got[0][0]) - i * spacing / float(speed)) < 0.1 * expected + 0.05


def test_encoding_while_replaying_flushes_on_the_agents_timer(tmp_path: Path) -> None:
    # 6 packets 0.3 s apart at -P 1: the agent sends within ~500 ms, not only when the next packet comes
    raw = bytearray(file_header(1))
    frame = enc.ethernet(b"\x02" * 6, b"\x04" * 6, 0x0800, enc.ipv4("10.1.1.1", "10.2.2.2", 17, enc.l4(17, 1, 2, b"x")))
    for i in range(6):
        raw += record(1_700_000_000 + (i * 3) // 10, (i * 300_000) % 1_000_000, frame, len(frame))
    (tmp_path / "raw.pcap").write_bytes(raw)
    with receiver() as rx:
        out, _, rc = sflowtool(["-r", str(tmp_path / "raw.pcap"), "-R", "1", "-P", "1",
                                "-f", f"127.0.0.1/{rx.getsockname()[1]}"])  # fmt: skip
        got = receive_timed(rx)
    assert rc == 0
    counts = [struct.unpack_from(">I", d, 24)[0] for _, d in got]
    assert sum(counts) == 6
    assert len(got) >= 3  # first packet at once, then batches about every 0.5 s, the last at the end
    uptimes = [struct.unpack_from(">I", d, 20)[0] for _, d in got]
    assert uptimes == sorted(uptimes) and uptimes[-1] <= 1600


def test_loop_replays_until_stopped(tmp_path: Path) -> None:
    capture = tmp_path / "spaced.pcap"
    spaced_capture(capture, 5, 0.1)
    with receiver() as rx:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli.sflowtool", "-r", str(capture), "-P", "10", "--loop",
             "-f", f"127.0.0.1/{rx.getsockname()[1]}"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            got = []
            rx.settimeout(5)
            while len(got) < 12:
                got.append(rx.recv(65536))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    seqs = [struct.unpack_from(">I", d, 16)[0] for d in got]
    assert seqs[:12] == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["-R", "0", "-r", "x.pcap"], "-R 0: the sampling rate"), (["-R", "4"], "-R encodes sFlow"),
     (["-r", "x.pcap", "-P", "1", "--loop", "-P", "0"], "--loop replays")],
)  # fmt: skip
def test_bad_replay_options(args: list[str], message: str) -> None:
    out, err, rc = sflowtool(args)
    assert rc == 2 and out == b"" and message.encode() in err


def test_a_playback_factor_sflowtool_reads_as_zero_replays_flat_out(tmp_path: Path) -> None:
    capture = tmp_path / "spaced.pcap"
    spaced_capture(capture, 5, 10.0)  # 40 s of capture time
    started = time.monotonic()
    out, _, rc = sflowtool(["-r", str(capture), "-P", "fast", "-l"])
    assert rc == 0 and out.count(b"FLOW,") == 5
    assert time.monotonic() - started < 20
