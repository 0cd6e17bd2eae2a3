"""The bus's framing: a message wholly within a replay's time goes on as it is, anything else is read record by
record, and what is not whole framing is told apart (the reader skips it)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.sflow.bus_frame import FRAME, BusError, frame, records_within, unframe

RECORDS = [(1_000, b"a" * 10), (2_000, b"b" * 3), (3_000, b"")]


def test_records_within_a_time() -> None:
    m = frame(RECORDS)
    assert records_within(m, None, None) is True
    assert records_within(m, 1_000, 3_000) is True  # the bounds are inclusive
    assert records_within(m, 1_001, None) is False  # the first is before since
    assert records_within(m, None, 2_999) is False  # the last is past until
    assert records_within(m[4:], None, None) is None  # no mark
    assert records_within(m[:-1], None, None) is None  # cut short
    assert records_within(m + b"x", None, None) is None  # trailing bytes
    assert records_within(frame([]), None, None) is True


@given(st.binary(max_size=64))
def test_records_within_says_whole_exactly_when_unframe_reads_it(tail: bytes) -> None:
    payload = b"SFB1" + tail
    try:
        unframe(payload)
        whole = True
    except BusError:
        whole = False
    assert (records_within(payload, None, None) is not None) == whole


def test_a_record_header_is_twelve_bytes() -> None:
    assert FRAME.size == 12 and frame([(1, b"xy")]) == b"SFB1" + FRAME.pack(1, 2) + b"xy"


def test_the_publishers_subjects_are_right_and_bounded() -> None:
    from bridge.sflow.bus_frame import agent_subject
    from bridge.transport.bus import SUBJECTS_KEPT, Publisher

    p = Publisher(["nats://127.0.0.1:4222"])
    v6 = b"\0\0\0\x05\0\0\0\x02" + bytes(range(16)) + b"\0" * 16
    for data in (v6, b"\0\0\0\x05\0\0\0\x09junk", b"\0\0"):
        assert p._subject(FRAME.pack(1, len(data)) + data) == agent_subject("sflow", data)
    for i in range(SUBJECTS_KEPT + 10):  # as many agents as a hostile sender makes up, and more
        data = b"\0\0\0\x05\0\0\0\x01" + i.to_bytes(4, "big") + b"\0\0\0\0" + i.to_bytes(4, "big")
        assert p._subject(FRAME.pack(1, len(data)) + data) == "sflow." + ".".join(str(b) for b in i.to_bytes(4, "big"))
        assert len(p._subjects) <= SUBJECTS_KEPT
