"""The engine fixture: a container engine with the images built, once per test session."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images.engine import engine_ok

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def engine() -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    started = False
    if not engine_ok(env):
        if not (os.environ.get("CI") or os.environ.get("SFLOW_IMAGE_TESTS") == "setup"):
            pytest.skip('no container engine: run eval "$(scripts/engine-setup)" first (or SFLOW_IMAGE_TESTS=setup)')
        setup = subprocess.run([str(ROOT / "scripts" / "engine-setup")], capture_output=True, text=True, timeout=900)
        if setup.returncode != 0:
            pytest.fail(f"scripts/engine-setup failed:\n{setup.stderr}")
        for word in setup.stdout.split():
            if "=" in word:
                k, v = word.split("=", 1)
                env[k] = v
        started = "DOCKER_HOST" in setup.stdout
        assert engine_ok(env), "the engine scripts/engine-setup started does not answer"
    build = subprocess.run([str(ROOT / "scripts" / "build-images")], env=env, capture_output=True, text=True,
                           timeout=1800)  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"scripts/build-images failed:\n{build.stderr[-4000:]}")
    yield env
    if started:
        pid_file = Path(os.environ.get("SFLOW_ENGINE_DIR", "/run/sflow-bridge-engine")) / "service.pid"
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().strip()], capture_output=True)
