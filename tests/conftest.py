"""Shared test fixtures: the conformance corpus and a UTC clock for sflowtool's local times."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def conformance_dir() -> Path | None:
    env = os.environ.get("SFLOW_CONFORMANCE_DIR")
    path = Path(env) if env else ROOT.parent / "shared" / "conformance"
    return path if (path / "captures").is_dir() and (path / "golden").is_dir() else None


CORPUS = conformance_dir()
needs_corpus = pytest.mark.skipif(
    CORPUS is None,
    reason="sFlow conformance corpus not found: set SFLOW_CONFORMANCE_DIR or place it at ../shared/conformance",
)


def capture_names() -> list[str]:
    if CORPUS is None:
        return []
    return sorted(p.stem for p in (CORPUS / "captures").glob("*.pcap"))


@pytest.fixture(scope="session", autouse=True)
def utc() -> None:
    # the goldens were made with TZ=UTC; local-time formatting follows the process time zone
    os.environ["TZ"] = "UTC"
    time.tzset()
    from bridge.output import timefmt

    timefmt.iso_local.cache_clear()
    timefmt.clf_local.cache_clear()
