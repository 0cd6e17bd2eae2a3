"""sflow-bridge: sFlow for the packet tools network engineers already use."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__version__ = "0.1.0"


class _PlainPython:
    """With SFLOW_BRIDGE_PURE=1, imports each module from its .py even where a compiled one sits beside it."""

    @staticmethod
    def find_spec(name: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if not name.startswith("bridge.") or not path:
            return None
        leaf = name.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, leaf + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(name, source)
        return None


def compiled() -> bool:
    """Whether the decoder runs compiled (scripts/build_native.py) or as plain Python."""
    spec = importlib.util.find_spec("bridge.sflow.reader")  # where it is (or would be) imported from
    return spec is not None and not str(spec.origin).endswith(".py")


def _stale() -> bool:
    """A compiled module older than its source (edited since scripts/build_native.py ran)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder, _, files in os.walk(here):
        for f in files:
            if f.endswith(".so") and not f.startswith("_native__mypyc"):
                source = os.path.join(folder, f.split(".", 1)[0] + ".py")
                if os.path.exists(source) and os.path.getmtime(source) > os.path.getmtime(os.path.join(folder, f)):
                    return True
    return False


# stale compiled code never runs: then, as with SFLOW_BRIDGE_PURE=1, every module comes from its .py
if (os.environ.get("SFLOW_BRIDGE_PURE") or _stale()) and _PlainPython not in sys.meta_path:
    sys.meta_path.insert(0, _PlainPython)  # type: ignore[arg-type]
