"""Running the sflowtool command in-process on byte streams."""

from __future__ import annotations

import io
import threading

from bridge.cli.sflowtool import run


def sflowtool(args: list[str], stdin: bytes = b"", timeout: float = 120) -> tuple[bytes, bytes, int]:
    """(stdout, stderr, exit code). Fails instead of hanging if the command does not return (it would be
    listening on UDP, which an in-process test never wants)."""
    out, err = io.BytesIO(), io.BytesIO()
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(run(args, io.BytesIO(stdin), out, err)), daemon=True)
    worker.start()
    worker.join(timeout)
    assert result, f"sflowtool {' '.join(args)} did not return within {timeout} s: is it listening on UDP?"
    return out.getvalue(), err.getvalue(), result[0]
