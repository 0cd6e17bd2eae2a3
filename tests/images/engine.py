"""The container engine the image tests drive: a running Docker, or the Podman of scripts/engine-setup."""

from __future__ import annotations

import shutil
import subprocess

CLI = shutil.which("docker") or shutil.which("podman") or "docker"


def engine_ok(env: dict[str, str]) -> bool:
    try:
        return subprocess.run([CLI, "info"], env=env, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_command(env: dict[str, str]) -> list[str] | None:
    """Docker Compose v2 where the engine is Docker; Debian's podman-compose where it is Podman; else docker-compose."""
    if env.get("CONTAINERS_CONF") and shutil.which("podman-compose"):
        return ["podman-compose"]
    try:
        if subprocess.run([CLI, "compose", "version"], env=env, capture_output=True, timeout=20).returncode == 0:
            return [CLI, "compose"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None
