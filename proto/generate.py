"""Regenerate airlock/_proto from proto/ (the only way generated code changes).

Usage: python proto/generate.py [--out DIR]

protoc writes imports relative to the proto root (``from airlock.v1 import ...``); the
generated modules live in the ``airlock._proto`` package, so those imports are rewritten.
tests/unit/test_proto_current.py runs this into a temporary directory and fails when the
committed files differ, so an edited .proto cannot land without its generated code.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = "airlock._proto"
DEFAULT_OUT = ROOT / "airlock" / "_proto"
_IMPORT = re.compile(r"^(from|import) airlock\.", re.MULTILINE)


def generate(out: Path) -> list[Path]:
    """Generate Python, typing stubs and gRPC stubs for every .proto into ``out``."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    # protoc finds the mypy-protobuf plugins on PATH; they live beside this interpreter.
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--mypy_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--mypy_grpc_out={tmp}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        written = []
        for src in sorted(Path(tmp).rglob("*.py*")):
            rel = src.relative_to(tmp)
            text = _IMPORT.sub(lambda m: f"{m.group(1)} {PACKAGE}.airlock.", src.read_text())
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text)
            written.append(dst)
    for leaf in {p.parent for p in written} | {out}:
        for package_dir in (leaf, *leaf.parents):
            if package_dir == out.parent:
                break
            (package_dir / "__init__.py").touch()
    return written


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if args.out == DEFAULT_OUT and DEFAULT_OUT.exists():
        shutil.rmtree(DEFAULT_OUT)
    for path in generate(args.out):
        print(path.relative_to(args.out.parent), file=sys.stderr)


if __name__ == "__main__":
    main()
