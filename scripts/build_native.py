#!/usr/bin/env python3
"""Compiles the decoder's hot modules to C extensions with mypyc, beside their sources.

Optional: without them the same modules run as plain Python, byte for byte the same
output, about half as fast (scripts/bench.py measures both). Python imports an
extension before the .py of the same name, so nothing else changes.

    .venv/bin/python scripts/build_native.py          # build (needs mypy and a C compiler)
    .venv/bin/python scripts/build_native.py --clean  # back to plain Python
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# the per-datagram path of every output: decoding, header decode, the text/JSON/pcap writers
MODULES = [
    "bridge/sflow/reader.py",
    "bridge/sflow/events.py",
    "bridge/sflow/datagram.py",
    "bridge/sflow/flow.py",
    "bridge/sflow/counters.py",
    "bridge/sflow/headers.py",
    "bridge/sflow/tags.py",
    "bridge/sflow/sampled_header.py",
    "bridge/output/text.py",
    "bridge/output/json_output.py",
    "bridge/output/lines.py",
    "bridge/output/sflowtool_pcap.py",
    "bridge/pcap/reader.py",
    "bridge/pcap/writer.py",
    "bridge/pcap/pcapng.py",
    "bridge/pipeline/accounting.py",
    "bridge/pipeline/pcap_bridge.py",
    "bridge/pipeline/talkers.py",
    "bridge/transport/forwarding.py",
    "bridge/pipeline/printer.py",
    "bridge/output/netflow.py",
]
GROUP = "bridge._native"  # the shared library lands in the package: bridge/_native__mypyc*.so


def built() -> list[Path]:
    return sorted((ROOT / "bridge").rglob("*.so")) + sorted(ROOT.glob("*__mypyc*.so"))


def clean() -> None:
    for so in built():
        so.unlink()


def extensions(work: Path) -> list[object]:
    from mypyc.build import mypycify

    try:
        return mypycify(MODULES, group_name=GROUP, opt_level="3", target_dir=str(work / "c"))
    except TypeError:
        # mypyc before 1.1 (Debian 12's, in the images) names the shared library itself, at the top level
        return mypycify(MODULES, opt_level="3", target_dir=str(work / "c"))


def up_to_date() -> bool:
    for module in MODULES:
        source = ROOT / module
        so = list(source.parent.glob(source.stem + ".*.so"))
        if not so or so[0].stat().st_mtime < source.stat().st_mtime:
            return False
    return True


def build() -> None:
    from setuptools import setup

    clean()
    with tempfile.TemporaryDirectory(prefix="sflow-bridge-native-") as tmp:
        # built in a copy of the package, away from the project's pyproject.toml and its build/ folder
        work = Path(tmp)
        shutil.copytree(ROOT / "bridge", work / "bridge", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        here = os.getcwd()
        os.chdir(work)
        try:
            setup(
                name="sflow-bridge-native",
                ext_modules=extensions(work),
                script_args=["-q", "build_ext", "--inplace", "--build-temp", str(work / "temp")],
            )
        finally:
            os.chdir(here)
        for so in [*(work / "bridge").rglob("*.so"), *work.glob("*__mypyc*.so")]:
            shutil.copy2(so, ROOT / so.relative_to(work))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", action="store_true", help="remove the compiled modules")
    ap.add_argument("--force", action="store_true", help="build even if the compiled modules are up to date")
    args = ap.parse_args()
    if args.clean:
        clean()
        print("removed the compiled modules: plain Python")
        return 0
    if up_to_date() and not args.force:
        print(f"the {len(MODULES)} compiled modules are up to date")
        return 0
    build()
    print(f"compiled {len(MODULES)} modules with mypyc")
    return 0


if __name__ == "__main__":
    sys.exit(main())
