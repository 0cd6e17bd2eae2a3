"""The in-repository test vectors: this project's crafted captures against sflowtool 6.11's own output.

tests/data/README.md says how each capture and each expected file was made. Unlike the
external corpus (test_goldens.py), these are in every clone: nothing here skips.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.make_vectors import MODES
from tests.helpers import sflowtool

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = sorted(p.stem for p in (DATA / "captures").glob("*.pcap"))


def _expected_rc(name: str, mode: str) -> int:
    for line in (DATA / "expected" / f"{name}.rc").read_text().splitlines():
        recorded, code = line.split()
        if recorded == mode:
            return int(code)
    raise AssertionError(f"no exit code recorded for {name} {mode}")


def test_the_vectors_are_there() -> None:
    assert {"flow-records", "counter-records", "sample-kinds", "truncated-and-malformed"} <= set(CAPTURES)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", CAPTURES)
def test_vector(name: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)  # the expected files were made with -r ./captures/NAME.pcap, a path two messages print
    out, err, rc = sflowtool(["-r", f"./captures/{name}.pcap", *MODES[mode]])
    assert out == (DATA / "expected" / f"{name}.{mode}").read_bytes()
    assert err == (DATA / "expected" / f"{name}.{mode}.stderr").read_bytes()
    assert rc == _expected_rc(name, mode)
