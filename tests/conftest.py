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
NO_CORPUS = "sFlow conformance corpus not found: set SFLOW_CONFORMANCE_DIR or place it at ../shared/conformance"
needs_corpus = pytest.mark.skipif(CORPUS is None, reason=NO_CORPUS)
_not_run: list[pytest.Item] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the external corpus (a clone has none), its tests are left out and that is said once.

    In CI they stay, so that test_corpus_present_in_ci fails: a missing corpus must not pass as green.
    """
    if CORPUS is not None or os.environ.get("CI"):
        return
    for item in items:
        marks = [m for m in item.iter_markers("skipif") if m.kwargs.get("reason") == NO_CORPUS]
        empty = any(m.name == "skip" and "got empty parameter set" in str(m.kwargs) for m in item.iter_markers())
        if marks or empty:
            _not_run.append(item)
    if _not_run:
        items[:] = [i for i in items if i not in _not_run]
        config.hook.pytest_deselected(items=_not_run)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _not_run:
        terminalreporter.write_line(
            f"{len(_not_run)} tests of the external sFlow conformance corpus not run: it is not here "
            "(SFLOW_CONFORMANCE_DIR, or ../shared/conformance); the in-repository vectors (tests/data) ran"
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
