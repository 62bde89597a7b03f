"""The committed generated code matches proto/ (regenerate with `python proto/generate.py`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_current(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "proto" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate"] = module
    spec.loader.exec_module(module)
    out = tmp_path / "_proto"
    written = module.generate(out)
    committed = ROOT / "airlock" / "_proto"
    assert written
    for path in written:
        rel = path.relative_to(out)
        assert (committed / rel).read_text() == path.read_text(), f"{rel} is stale: run python proto/generate.py"
    assert {p.relative_to(committed) for p in committed.rglob("*_pb2*")} == {p.relative_to(out) for p in written}
