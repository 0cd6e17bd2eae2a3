"""Broken, truncated and hostile datagrams: a clean error, never a crash or a hang."""

from __future__ import annotations

import struct
import time

import pytest

from bridge.output.clf import CommonLogSink
from bridge.output.json_output import JsonSink
from bridge.output.lines import CustomLineSink, LineSink
from bridge.output.text import GrepSink, TextSink
from bridge.pipeline.pcap_bridge import Bridge, Output
from bridge.sflow import DecodeError, decode
from bridge.sflow import encode as enc
from tests.conftest import CORPUS, needs_corpus
from tests.corpus import all_datagrams
from tests.helpers import sflowtool


def all_sinks() -> list:
    return [
        TextSink(),
        GrepSink(),
        LineSink(),
        CustomLineSink(["agent", "srcIP", "discarded_srcIP", "ifInOctets"]),
        JsonSink(False),
        JsonSink(True),
        CommonLogSink(),
    ]


def decode_any(data: bytes):
    try:
        return decode(data), None
    except DecodeError as err:
        return err.datagram, err


def good_datagram() -> bytes:
    frame = enc.ethernet(
        b"\x02" * 6, b"\x04" * 6, 0x0800, enc.ipv4("10.0.0.1", "10.0.0.2", 6, enc.l4(6, 1234, 80, b"x" * 40))
    )
    fs = enc.flow_sample(1, 3, 100, 100, [enc.sampled_header(frame), enc.extended_switch(5, 5)], 3, 4)
    cs = enc.counters_sample(1, 3, [enc.generic_counters(3, 10**9, 1, 2, 3, 4)])
    return enc.datagram("192.0.2.1", 0, 1, 1000, [fs, cs])


def test_every_datagram_truncated_at_every_4_bytes() -> None:
    # the vectors in every clone, the external corpus too where it is present
    sinks = all_sinks()
    cuts = errors = 0
    started = time.monotonic()
    for _, data in all_datagrams():
        for cut in range(0, min(len(data), 4096), 4):
            dg, err = decode_any(data[:cut])
            cuts += 1
            if err is not None:
                errors += 1
                assert err.kind in (1, 2, 3)
                assert 0 <= err.offset <= len(data[:cut]) + 4
                assert err.reason
            for sink in sinks:
                out, _ = sink.render(dg)
                assert isinstance(out, str)
    assert cuts > 3_000
    assert errors > cuts // 2
    assert time.monotonic() - started < 600


def test_error_carries_offset_reason_and_partial_datagram() -> None:
    data = good_datagram()
    with pytest.raises(DecodeError) as info:
        decode(data[:60])
    err = info.value
    assert err.kind == 1
    assert err.offset >= 56
    assert "past the end" in err.reason
    assert err.datagram is not None
    assert err.datagram.agent == "192.0.2.1"
    assert ("sampleType", "FLOWSAMPLE") in err.datagram.events


@pytest.mark.parametrize("length", [0xFFFFFFF0, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 0x00010000])
def test_huge_lengths_fail_fast_without_allocating(length: int) -> None:
    # a sampled header claiming `length` bytes
    body = struct.pack(">IIII", 1, 1500, 4, length) + b"\0" * 64
    fs = enc.flow_sample(1, 1, 1, 1, [enc.record(1, body)], 1, 2)
    data = enc.datagram("192.0.2.1", 0, 1, 1, [fs])
    started = time.perf_counter()
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert time.perf_counter() - started < 0.1
    assert info.value.kind == 1


@pytest.mark.parametrize("count", [0x40000001, 0x3FFFFFFF, 0xFFFFFFFF])
def test_wrapping_label_stack_depth_is_an_error_not_a_walk(count: int) -> None:
    # sflowtool checks depth*4 after it wraps at 32 bits and then walks 2^30 labels (SIGSEGV)
    body = enc.address("10.0.0.1") + struct.pack(">II", count, 0x12345678) + struct.pack(">I", 0)
    fs = enc.flow_sample(1, 1, 1, 1, [enc.record(1006, body)], 1, 2)
    with pytest.raises(DecodeError) as info:
        decode(enc.datagram("192.0.2.1", 0, 1, 1, [fs]))
    assert info.value.kind == 1


def test_good_datagram_after_bad_ones_decodes_normally() -> None:
    good = good_datagram()
    for bad in (b"", b"\x00", good[:7], b"\x00\x00\x00\x05\x00\x00\x00\x07", good[:-3] + b"\xff" * 3):
        decode_any(bad)
    dg = decode(good)
    assert dg.error is None
    assert len(dg.samples) == 2


@needs_corpus
@pytest.mark.parametrize("mode", [[], ["-g"], ["-l"], ["-L", "agent,srcIP,http_method"], ["-j"], ["-J"], ["-H"]])
def test_inputs_that_crash_sflowtool_are_survived(mode: list[str]) -> None:
    assert CORPUS is not None
    files = sorted((CORPUS / "malformed-excluded").glob("*.pcap"))
    assert files
    for path in files:
        out, err, rc = sflowtool(["-r", str(path), *mode])
        assert rc == 0, path.name
        assert b"Traceback" not in err
        assert err.startswith(b"pcap version=")


def test_not_a_pcap_file_is_refused_like_sflowtool(tmp_path) -> None:
    path = tmp_path / "x.pcapng"
    path.write_bytes(bytes.fromhex("0a0d0d0a") + b"\0" * 40)
    out, err, rc = sflowtool(["-r", str(path)])
    assert rc == 225
    assert err == f"{path} not recognized as a tcpdump file\n(magic number = 0a0d0d0a instead of a1b2c3d4)\n".encode()


def test_missing_file(tmp_path) -> None:
    out, err, rc = sflowtool(["-r", str(tmp_path / "nope.pcap")])
    assert rc == 255
    assert err.startswith(b"cannot open ") and b"No such file or directory" in err


def test_big_endian_pcap_reads_the_same(tmp_path) -> None:
    data = good_datagram()
    frame = b"\0" * 12 + b"\x08\x00" + b"\x45" + b"\0" * 19 + b"\0" * 8 + data
    le = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + struct.pack("<IIII", 5, 6, len(frame), len(frame))
    be = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + struct.pack(">IIII", 5, 6, len(frame), len(frame))
    (tmp_path / "le.pcap").write_bytes(le + frame)
    (tmp_path / "be.pcap").write_bytes(be + frame)
    a = sflowtool(["-r", str(tmp_path / "le.pcap"), "-j"])
    b = sflowtool(["-r", str(tmp_path / "be.pcap"), "-j"])
    assert a[0] == b[0] and a[2] == b[2] == 0
    assert b'"agent":"192.0.2.1"' in a[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["-q"], "invalid option -- 'q'"), (["-p"], "option requires an argument -- 'p'"),
     (["--no-such-option"], "unrecognized option '--no-such-option'"),
     (["--port"], "option '--port' requires an argument"), (["--json=1"], "option '--json' doesn't allow an argument"),
     (["--js"], "option '--js' is ambiguous; possibilities: '--json' '--json-indented'")],
)  # fmt: skip
def test_bad_options_get_glibc_getopt_messages_the_usage_and_exit_0_as_sflowtool(args: list[str], message: str) -> None:
    out, err, rc = sflowtool(args)
    assert rc == 0 and out == b""
    first, _, rest = err.partition(b"\n")
    assert first == f"sflowtool: {message}".encode()
    assert rest.startswith(b"Copyright (c) InMon Corporation") and b"-N version" in rest


@pytest.mark.parametrize("args", [["-c", "127.0.0.1"], ["-d", "2055"], ["stray"]])
def test_mistakes_sflowtool_ignores_get_a_clear_message(args: list[str]) -> None:
    # sflowtool goes on silently (sending no NetFlow, ignoring the stray word); this says why it stops
    out, err, rc = sflowtool(args)
    assert rc == 2
    assert out == b""
    assert err.startswith(b"sflowtool: ") and b"Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [(["-N", "7"], "invalid netflow version specified (use 5 or 9)\n", 248),
     (["-c", "not-an-address", "-d", "2055"],
      "getaddrinfo(not-an-address) failed: Name or service not known (expecting numeric address)\n"
      "netflow collector address lookup failed\n", 248)],
)  # fmt: skip
def test_bad_netflow_options_exit_as_sflowtool(args: list[str], message: str, code: int) -> None:
    out, err, rc = sflowtool(args)
    assert (out, err.decode(), rc) == (b"", message, code)


def test_names_need_allow_dns_which_may_come_after_them() -> None:
    _, err, rc = sflowtool(["-f", "localhost/6399", "-r", "/nonexistent.pcap"])
    assert rc == 221 and b"(expecting numeric address)" in err
    # with -D, anywhere on the line, the name resolves (sflowtool only honours a -D given before -f)
    _, err, rc = sflowtool(["-f", "localhost/6399", "-D", "-r", "/nonexistent.pcap"])
    assert rc == 255 and err == b"cannot open /nonexistent.pcap : No such file or directory\n"


def test_help_and_version() -> None:
    _, err, rc = sflowtool(["-h"])
    assert rc == 0 and b"-L <fields>" in err
    _, err, rc = sflowtool(["-z"])
    assert rc == 0 and err == b"6.11\n"


@pytest.mark.parametrize("protocol", [1, 11, 12])
@pytest.mark.parametrize(("frame_length", "stripped"), [(0xFFFFFFFF, 0), (0xFFFFFFF5, 0), (0, 0xFFFFFFFF)])
def test_the_bridge_bounds_hostile_frame_lengths(tmp_path, protocol: int, frame_length: int, stripped: int) -> None:
    # found by the fuzz run: the pcap record's original length is 32 bits, frame length + 14 is not
    ip = enc.ipv4("10.1.1.1", "10.2.2.2", 17, enc.l4(17, 40000, 53, b"x" * 20))
    head = enc.ethernet(b"\x02" * 6, b"\x04" * 6, 0x0800, ip) if protocol == 1 else ip
    rec = enc.record(1, struct.pack(">III", protocol, frame_length, stripped) + enc._opaque(head))  # length, bytes
    data = enc.datagram("192.0.2.7", 0, 1, 1000, [enc.flow_sample(1, 5, 1000, 1000, [rec], 5, 7)])
    path = tmp_path / "out.pcap"
    with open(path, "wb") as f:
        out = Output(f)
        out.add(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        bridge = Bridge(out, None)
        bridge.datagram(data, "192.0.2.7", 0, 0, 1.0)
        out.flush()
    assert bridge.acct.written == 1
    size, wire = struct.unpack_from("<II", path.read_bytes(), 24 + 8)
    assert size == len(head) + (14 if protocol != 1 else 0)
    on_the_wire = frame_length - stripped + (14 if protocol != 1 else 0)
    assert wire == min(max(on_the_wire, size), 0xFFFFFFFF)  # never less than captured, never past 32 bits
