"""The sflowtool command on real UDP sockets over loopback, IPv4 and IPv6."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bridge.output.lines import LineSink
from bridge.output.text import TextSink
from bridge.sflow import decode
from bridge.sources.demo import Population


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def sflowtool_listening(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = dict(os.environ, TZ="UTC")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli.sflowtool", "-p", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def send_until_seen(proc: subprocess.Popen[bytes], dest: tuple[str, int], datagrams: list[bytes]) -> bytes:
    """Sends the first datagram until the listener answers (it may still be binding), then the rest."""
    family = socket.AF_INET6 if ":" in dest[0] else socket.AF_INET
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    got = b""
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        deadline = time.monotonic() + 10
        while b"endDatagram" not in got:
            assert time.monotonic() < deadline, "no output from sflowtool within 10 s"
            s.sendto(datagrams[0], dest)
            time.sleep(0.1)
            got += proc.stdout.read() or b""
        for d in datagrams[1:]:
            s.sendto(d, dest)
        deadline = time.monotonic() + 10
        while got.count(b"endDatagram") < len(datagrams):
            assert time.monotonic() < deadline, "datagrams lost on loopback"
            time.sleep(0.05)
            got += proc.stdout.read() or b""
    return got


def split_datagrams(text: bytes) -> list[bytes]:
    parts = text.split(b"endDatagram   =================================\n")
    return [p + b"endDatagram   =================================\n" for p in parts if p]


@pytest.mark.parametrize(
    ("flags", "host", "source"),
    [
        ((), "127.0.0.1", "127.0.0.1"),
        (("-4",), "127.0.0.1", "127.0.0.1"),
        (("-6",), "::1", "0.0.0.1"),
        (("-A",), "127.0.0.1", "127.0.0.1"),
        (("-4", "-b", "127.0.0.1"), "127.0.0.1", "127.0.0.1"),
        (("+4",), "127.0.0.1", "127.0.0.1"),  # the legacy spelling of -A
    ],
)
# sflowtool unwraps IPv4-compatible addresses (::a.b.c.d), so ::1 prints as 0.0.0.1; this copies it
def test_udp_text_output_matches_decoder(flags: tuple[str, ...], host: str, source: str) -> None:
    pop = Population(agents=3, flows=50, seed=7)
    sent = [pop.datagram() for _ in range(20)]
    with sflowtool_listening(*flags) as (proc, port):
        got = send_until_seen(proc, (host, port), sent)
    blocks = split_datagrams(got)
    # the first datagram may have been repeated while the listener started
    first = blocks[0]
    while blocks and blocks[0] == first:
        blocks.pop(0)
    blocks.insert(0, first)
    assert len(blocks) == len(sent)
    sink = TextSink()
    for data, block in zip(sent, blocks, strict=True):
        secs = int(re.search(rb"unixSecondsUTC (\d+)\n", block).group(1))  # type: ignore[union-attr]
        usecs = int(re.search(rb"unixSecondsUTC_uS (\d+)\n", block).group(1))  # type: ignore[union-attr]
        assert abs(secs - time.time()) < 60
        expected, _ = sink.render(decode(data, source_ip=source, read_time=secs, read_time_us=usecs))
        assert block == expected.encode("latin-1")


def test_bad_datagram_between_good_ones_is_reported_and_skipped() -> None:
    pop = Population(agents=2, flows=20, seed=9)
    good = [pop.datagram() for _ in range(3)]
    with sflowtool_listening("-4", "-l") as (proc, port):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            deadline = time.monotonic() + 10
            assert proc.stdout is not None
            os.set_blocking(proc.stdout.fileno(), False)
            out = b""
            while not out:
                assert time.monotonic() < deadline
                s.sendto(good[0], ("127.0.0.1", port))
                time.sleep(0.1)
                out += proc.stdout.read() or b""
            s.sendto(good[1][:50], ("127.0.0.1", port))  # truncated
            s.sendto(b"\x00\x00\x00\x05" + b"\xff" * 40, ("127.0.0.1", port))  # bad agent address type
            s.sendto(good[2], ("127.0.0.1", port))
            want = out + LineSink().render(decode(good[2], source_ip="127.0.0.1"))[0].encode()
            while len(out) < len(want):
                assert time.monotonic() < deadline, "the good datagram after the bad ones was not printed"
                time.sleep(0.05)
                out += proc.stdout.read() or b""
            assert out == want
        proc.terminate()
        _, err = proc.communicate(timeout=5)
    assert b"caught exception: 1" in err
    assert b"unknown address type = -1" in err
    assert proc.returncode is not None
