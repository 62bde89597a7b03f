"""The default runtime's lock and the script that generates it (deploy/runtimes/lock_openwebui.py).

No network: the lock's header records Open WebUI's Requires-Dist as the generator read them
from the wheel, so the committed lock is checked against upstream offline, and the script's
parsing and closure checks run on small inputs built here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "runtimes" / "lock_openwebui.py"
LOCK = ROOT / "sandbox_profiles" / "runtimes" / "openwebui-0.12.4.txt"
DIGEST_A = "a" * 64
DIGEST_B = "b" * 64


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_openwebui", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve their module through sys.modules while the class is created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lock_openwebui = _load_script()


@pytest.fixture(scope="module")
def lock() -> Any:
    return lock_openwebui.parse_lock(LOCK.read_text())


# --- the committed lock --------------------------------------------------------------------


def test_every_package_is_pinned_exactly_with_a_sha256(lock: Any) -> None:
    # parse_lock refuses anything but name==version followed by --hash=sha256 options.
    assert len(lock.pins) > 100
    for pin in lock.pins:
        assert pin.hashes, pin.name
        assert all(len(digest) == 64 for digest in pin.hashes)


def test_packages_are_sorted_and_unique(lock: Any) -> None:
    names = [pin.name for pin in lock.pins]
    assert names == sorted(names)
    assert len(set(names)) == len(names)


def test_the_runner_finds_orjson_and_pydantic(lock: Any) -> None:
    names = {pin.name for pin in lock.pins}
    assert {"orjson", "pydantic"} <= names


def test_nothing_left_out_is_locked(lock: Any) -> None:
    locked_left_out = [pin.name for pin in lock.pins if lock_openwebui.left_out_reason(pin.name)]
    assert locked_left_out == []
    assert not [pin.name for pin in lock.pins if pin.name in {"torch", "triton"} or pin.name.startswith("nvidia-")]


def test_every_kept_upstream_requirement_is_locked_at_upstreams_version(lock: Any) -> None:
    assert len(lock.upstream) > 50, "the header must record the wheel's Requires-Dist"
    assert "orjson" in {canonicalize_name(r.name) for r in lock.upstream}
    versions = {pin.name: pin.version for pin in lock.pins}
    for requirement in lock.upstream:
        name = canonicalize_name(requirement.name)
        if lock_openwebui.left_out_reason(name):
            continue
        assert versions.get(name) == lock_openwebui.exact_version(requirement), str(requirement)
    lock_openwebui.check_lock({pin.name: pin for pin in lock.pins}, lock.upstream)


def test_the_header_states_the_scripts_left_out_table(lock: Any) -> None:
    expected = dict(lock_openwebui.LEFT_OUT)
    expected.update({prefix + "*": reason for prefix, reason in lock_openwebui.LEFT_OUT_PREFIXES.items()})
    assert lock.left_out == expected
    # What upstream asks for and the lock leaves out is exactly the table's part that applies.
    dropped = {canonicalize_name(r.name) for r in lock.upstream if lock_openwebui.left_out_reason(r.name)}
    assert dropped == {
        "accelerate",
        "chromadb",
        "faster-whisper",
        "onnxruntime",
        "opencv-python-headless",
        "rapidocr",
        "sentence-transformers",
        "transformers",
    }


def test_the_lock_is_what_render_lock_writes(lock: Any) -> None:
    # A hand edit (a reordered hash, a stray blank line) shows up as a difference.
    text = LOCK.read_text()
    lines = text.splitlines()
    header = [line.removeprefix("# ") for line in lines[: lines.index("#")]]
    rendered = lock_openwebui.render_lock({pin.name: pin for pin in lock.pins}, lock.upstream, header)
    assert rendered == text


# --- the script's parts, on inputs made here -----------------------------------------------


def _wheel(tmp_path: Path, requires: list[str]) -> Path:
    wheel = tmp_path / "open_webui-9.9.9-py3-none-any.whl"
    metadata = "Metadata-Version: 2.4\nName: open-webui\nVersion: 9.9.9\n"
    metadata += "".join(f"Requires-Dist: {line}\n" for line in requires) + "\nlong description\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("open_webui/__init__.py", "")
        archive.writestr("open_webui-9.9.9.dist-info/METADATA", metadata)
    return wheel


def test_base_requirements_skip_extras(tmp_path: Path) -> None:
    wheel = _wheel(
        tmp_path,
        [
            "orjson==3.11.9",
            "httpx[http2,socks]==0.28.1",
            "pgvector==0.4.2; extra == 'postgres'",
            "tomli==2.0.1; python_version < '3.11'",
            "uvloop==0.23.0; sys_platform != 'win32'",
        ],
    )
    requirements = lock_openwebui.base_requirements(lock_openwebui.wheel_metadata(wheel))
    assert [str(r) for r in requirements] == [
        "orjson==3.11.9",
        "httpx[http2,socks]==0.28.1",
        'uvloop==0.23.0; sys_platform != "win32"',
    ]


def test_a_requirement_for_one_architecture_only_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, ["intel-only==1.0; platform_machine == 'x86_64'"])
    with pytest.raises(lock_openwebui.LockError, match="some target architectures"):
        lock_openwebui.base_requirements(lock_openwebui.wheel_metadata(wheel))


def test_upstream_requirements_must_be_exact() -> None:
    assert lock_openwebui.exact_version(Requirement("pydantic==2.13.4")) == "2.13.4"
    for loose in ("pydantic>=2", "pydantic==2.*", "pydantic"):
        with pytest.raises(lock_openwebui.LockError):
            lock_openwebui.exact_version(Requirement(loose))


def test_left_out_matches_normalized_names_and_prefixes() -> None:
    assert lock_openwebui.left_out_reason("Sentence_Transformers")
    assert lock_openwebui.left_out_reason("nvidia-cublas-cu12")
    assert lock_openwebui.left_out_reason("orjson") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("orjson\n", "not pinned"),
        ("orjson>=3 --hash=sha256:" + DIGEST_A + "\n", "not pinned"),
        ("orjson==3.11.9\n", "no --hash"),
        ("orjson==3.11.9 --hash=md5:abc\n", "unexpected option"),
        ("orjson==3.11.9 \\\n", "continued line"),
    ],
)
def test_parse_lock_refuses_what_pip_would_not_pin(text: str, message: str) -> None:
    with pytest.raises(lock_openwebui.LockError, match=message):
        lock_openwebui.parse_lock(text)


def test_render_and_parse_round_trip() -> None:
    pin = lock_openwebui.Pin
    pins = {
        canonicalize_name("pydantic"): pin("pydantic", "2.13.4", frozenset({DIGEST_A})),
        canonicalize_name("orjson"): pin("orjson", "3.11.9", frozenset({DIGEST_B, DIGEST_A})),
    }
    upstream = [Requirement("orjson==3.11.9"), Requirement("torch==2.0")]
    parsed = lock_openwebui.parse_lock(lock_openwebui.render_lock(pins, upstream, ["made here"]))
    assert parsed.pins == [pins[canonicalize_name("orjson")], pins[canonicalize_name("pydantic")]]
    assert [str(r) for r in parsed.upstream] == ["orjson==3.11.9", "torch==2.0"]
    assert parsed.left_out["torch"] == lock_openwebui.LEFT_OUT["torch"]


def test_check_lock_names_what_is_missing_or_moved() -> None:
    pin = lock_openwebui.Pin
    pins = {"orjson": pin("orjson", "3.11.8", frozenset({DIGEST_A})), "torch": pin("torch", "2", frozenset({DIGEST_A}))}
    with pytest.raises(lock_openwebui.LockError) as raised:
        lock_openwebui.check_lock(pins, [Requirement("orjson==3.11.9")])
    assert "imports pydantic" in str(raised.value)
    assert "torch is locked but left out" in str(raised.value)
    assert "orjson==3.11.9, locked 3.11.8" in str(raised.value)


def test_platform_tags_list_every_older_manylinux() -> None:
    x86 = lock_openwebui.platform_tags("x86_64", "2.28")
    assert x86[0] == "manylinux_2_28_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(x86)
    arm = lock_openwebui.platform_tags("aarch64", "2.28")
    assert arm[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert "manylinux_2_29_x86_64" not in x86


def test_pip_runs_without_the_hosts_constraints_file() -> None:
    # An empty PIP_CONSTRAINT is skipped by pip's config loader; os.devnull replaces the file.
    assert lock_openwebui.pip_environment()["PIP_CONSTRAINT"] == os.devnull


def _item(name: str, version: str, requires: list[str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "version": version, "requires_dist": requires}}


def test_check_closure_follows_extras_and_markers_for_the_target() -> None:
    pin = lock_openwebui.Pin
    items = [
        _item("boto3", "1", ["botocore==1", "botocore[crt]==1; extra == 'crt'"]),
        _item("botocore", "1", ["awscrt==0.31; extra == 'crt'"]),
        _item("sqlalchemy", "2", ["greenlet>=1; platform_machine == 'aarch64'"]),
    ]
    pins = {
        canonicalize_name(i["metadata"]["name"]): pin(i["metadata"]["name"], "1", frozenset({DIGEST_A})) for i in items
    }
    top = [Requirement("boto3==1"), Requirement("sqlalchemy==2")]
    # boto3 without its crt extra does not need awscrt; x86_64 does not need greenlet here.
    lock_openwebui.check_closure(top, items, pins, "x86_64")
    with pytest.raises(lock_openwebui.LockError, match=r"greenlet>=1.* on aarch64, which is not locked"):
        lock_openwebui.check_closure(top, items, pins, "aarch64")
    with pytest.raises(lock_openwebui.LockError, match="awscrt"):
        lock_openwebui.check_closure([Requirement("boto3[crt]==1")], items, pins, "x86_64")


def test_merge_platforms_unions_hashes_and_refuses_disagreement() -> None:
    pin = lock_openwebui.Pin
    name = canonicalize_name("orjson")
    merged = lock_openwebui.merge_platforms(
        {
            "x86_64": {name: pin(name, "3.11.9", frozenset({DIGEST_A}))},
            "aarch64": {name: pin(name, "3.11.9", frozenset({DIGEST_B}))},
        }
    )
    assert merged[name].hashes == {DIGEST_A, DIGEST_B}
    with pytest.raises(lock_openwebui.LockError, match=r"resolved 3\.11\.8"):
        lock_openwebui.merge_platforms(
            {"x86_64": {name: pin(name, "3.11.9", frozenset())}, "aarch64": {name: pin(name, "3.11.8", frozenset())}}
        )


def test_pulled_in_by_names_the_chain() -> None:
    items = [
        _item("sentence-transformers", "5", ["transformers>=4", "torch>=1.11"]),
        _item("transformers", "5", ["numpy"]),
        _item("torch", "2", ["nvidia-cublas-cu12; platform_machine == 'x86_64'"]),
    ]
    chains = lock_openwebui.pulled_in_by("nvidia-cublas-cu12", [Requirement("sentence-transformers==5")], items)
    assert chains == ["sentence-transformers -> torch -> nvidia-cublas-cu12"]
