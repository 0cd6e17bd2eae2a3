"""Running the sflowtool command in-process on byte streams."""

from __future__ import annotations

import io

from bridge.cli.sflowtool import run


def sflowtool(args: list[str], stdin: bytes = b"") -> tuple[bytes, bytes, int]:
    out, err = io.BytesIO(), io.BytesIO()
    rc = run(args, io.BytesIO(stdin), out, err)
    return out.getvalue(), err.getvalue(), rc
