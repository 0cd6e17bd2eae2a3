"""The datagrams of the conformance corpus, as the pcap source yields them."""

from __future__ import annotations

from functools import lru_cache

from bridge.pcap.reader import PcapError, PcapReader, Record
from tests.conftest import CORPUS


@lru_cache(maxsize=1)
def corpus_datagrams() -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    if CORPUS is None:
        return out
    for path in sorted((CORPUS / "captures").glob("*.pcap")):
        with path.open("rb") as f:
            try:
                for item in PcapReader(f, str(path)):
                    if isinstance(item, Record):
                        out.append((path.stem, item.data))
            except PcapError:
                pass  # crafted-malformed-pcap ends with a record sflowtool cannot read
    return out
