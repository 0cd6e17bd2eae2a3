"""The datagrams of the test vectors (tests/data) and of the external conformance corpus, as read from pcap."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from bridge.pcap.reader import PcapError, PcapReader, Record
from tests.conftest import CORPUS, ROOT

VECTORS = ROOT / "tests" / "data" / "captures"


def _datagrams(folder: Path) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for path in sorted(folder.glob("*.pcap")):
        with path.open("rb") as f:
            try:
                for item in PcapReader(f, str(path)):
                    if isinstance(item, Record):
                        out.append((path.stem, item.data))
            except PcapError:
                pass  # crafted-malformed-pcap ends with a record sflowtool cannot read
    return out


@lru_cache(maxsize=1)
def corpus_datagrams() -> list[tuple[str, bytes]]:
    return [] if CORPUS is None else _datagrams(CORPUS / "captures")


@lru_cache(maxsize=1)
def vector_datagrams() -> list[tuple[str, bytes]]:
    return _datagrams(VECTORS)


def all_datagrams() -> list[tuple[str, bytes]]:
    """The vectors, in every clone, and the external corpus where it is present."""
    return vector_datagrams() + corpus_datagrams()
