"""The pcap bridge's fast path (headers.walk) and the full decoder agree on what is malformed, but for one kind.

The bridge reads sFlow v5 with walk() and everything else with the decoder. walk() checks
the framing the decoder checks: the datagram header, every sample inside the datagram,
every record inside its sample with the sample holding just its records, and every
sampled header record. It does not read the inside of the records and samples it has
no use for (extended flow records, counter records, discard records, rtmetric and
rtflow samples): a datagram damaged only there is one the decoder rejects while the
bridge writes its sampled headers, which lie whole inside their records. That is the
only difference allowed, and this test holds it to that over every datagram of the
vectors and of the external corpus where it is present.
"""

from __future__ import annotations

import struct

from bridge.pipeline.pcap_bridge import _headers_v2v4
from bridge.sflow import DecodeError, decode
from bridge.sflow.headers import walk
from bridge.sflow.reader import LENGTH_ERROR
from tests.corpus import all_datagrams


def bridge_reads(data: bytes) -> DecodeError | None:
    try:
        walk(data) if data[:4] == b"\0\0\0\x05" else _headers_v2v4(data)
    except DecodeError as exc:
        return exc
    return None


def unread_parts(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges walk() does not look inside: records other than sampled headers, samples other than these."""
    words = struct.unpack(f">{len(data) // 4}I", data[: len(data) // 4 * 4])
    i = 7 if words[1] == 1 else 10
    parts = []
    for _ in range(words[i - 1]):
        tag, length = words[i], words[i + 1]
        body, nxt = i + 2, i + 2 + (length + 3) // 4
        first = {1: 7, 3: 10, 2: 2, 4: 3, 5: 7}.get(tag)
        if first is None:
            parts.append((i * 4, nxt * 4))
        else:
            r = body + first + 1
            for _ in range(words[body + first]):
                rend = r + 2 + (words[r + 1] + 3) // 4
                if not (tag in (1, 3) and words[r] == 1):
                    parts.append((r * 4, rend * 4))
                r = rend
        i = nxt
    return parts


def test_the_fast_path_rejects_what_the_decoder_rejects_but_inside_records_it_does_not_read() -> None:
    datagrams = all_datagrams()
    assert len(datagrams) > 200
    differences = 0
    for name, data in datagrams:
        try:
            decode(data)
            decoded: DecodeError | None = None
        except DecodeError as exc:
            decoded = exc
        read = bridge_reads(data)
        if read is not None:
            assert decoded is not None, (name, read)  # the bridge never rejects what the decoder reads
        elif decoded is not None:
            differences += 1
            parts = unread_parts(data)
            inside = any(start <= decoded.offset <= end for start, end in parts)
            # a length error is reported where the reader stopped: past the part it overran, the last one before
            overran = decoded.kind == LENGTH_ERROR and any(start <= decoded.offset for start, _ in parts)
            assert inside or overran, (name, str(decoded), parts)
    # the vectors alone have none; the corpus's crafted-malformed captures have some (34 of its datagrams)
    assert differences < 50
