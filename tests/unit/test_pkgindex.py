"""The test package index (tests/pkgindex.py), checked with the real pip of this venv.

Each test runs pip as a subprocess against the index served on 127.0.0.1, isolated from the
machine's pip configuration, and asserts what pip did (its exit status, its messages, its
report) and what it asked the index for (``PackageIndex.requests``).
"""

from __future__ import annotations

import html.parser
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from tests import pkgindex
from tests.pkgindex import (
    PackageIndex,
    build_wheel,
    pip,
    requirement_lock,
    unreachable_url,
    write_simple_index,
)

pytestmark = pytest.mark.timeout(60)
# The index's fixtures, taken into this module (a conftest would list "tests.pkgindex" in
# pytest_plugins instead).
index_root = pkgindex.index_root
package_index_server = pkgindex.package_index_server
package_index = pkgindex.package_index

DEMO_1_0 = "airlock_demo_index-1.0-py3-none-any.whl"
DEMO_0_9 = "airlock_demo_index-0.9-py3-none-any.whl"
LEAF_0_1 = "airlock_index_leaf-0.1-py3-none-any.whl"
LEAF_0_2 = "airlock_index_leaf-0.2-py3-none-any.whl"
#: Fail fast: one attempt per URL, a short read timeout (the hang test waits for it).
FAST = ("--retries", "0", "--timeout", "2")


def dry_run(index: PackageIndex, *requirements: str) -> subprocess.CompletedProcess[str]:
    return pip("install", "--dry-run", "--quiet", "--report", "-", "--index-url", index.url, *FAST, *requirements)


def failing(index_url: str, *requirements: str) -> str:
    """The output of a dry run that fails: stderr's error, then stdout's debug log.

    pip 23 says why a page could not be fetched only at debug level (``-vv``); without it,
    an index that refuses, hangs or is not there reads "from versions: none", like a
    project it does not have.
    """
    done = pip("install", "--dry-run", "-vv", "--index-url", index_url, *FAST, *requirements)
    assert done.returncode != 0
    assert "No matching distribution found for airlock-demo-index" in done.stderr
    return done.stdout


def installed(report: str) -> dict[str, str]:
    return {i["metadata"]["name"]: i["metadata"]["version"] for i in json.loads(report)["install"]}


class Links(html.parser.HTMLParser):
    """The anchors of a simple-index page, as attribute dictionaries."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def anchors(page: Path) -> list[dict[str, str | None]]:
    links = Links()
    links.feed(page.read_text())
    return links.anchors


def test_pages_link_each_file_with_its_hash_and_each_wheel_with_its_metadata(index_root: Path) -> None:
    import hashlib  # noqa: PLC0415

    def sha256(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    links = anchors(index_root / "simple" / "airlock-demo-index" / "index.html")
    assert [a["href"] for a in links] == [
        f"../../files/{DEMO_0_9}#sha256={sha256(index_root / 'files' / DEMO_0_9)}",
        f"../../files/{DEMO_1_0}#sha256={sha256(index_root / 'files' / DEMO_1_0)}",
    ]
    for link, wheel in zip(links, (DEMO_0_9, DEMO_1_0), strict=True):
        metadata = index_root / "files" / f"{wheel}.metadata"
        assert metadata.read_text().startswith("Metadata-Version: 2.1\nName: airlock-demo-index\n")
        assert link["data-core-metadata"] == link["data-dist-info-metadata"] == f"sha256={sha256(metadata)}"
    [sdist] = anchors(index_root / "simple" / "airlock-sdist-only" / "index.html")
    assert "data-core-metadata" not in sdist  # PEP 658 metadata is a wheel's (an sdist's may be dynamic)
    roots = [a["href"] for a in anchors(index_root / "simple" / "index.html")]
    assert roots == ["airlock-demo-index/", "airlock-index-leaf/", "airlock-sdist-only/"]


def test_a_later_call_publishes_more_versions_beside_the_earlier_ones(tmp_path: Path) -> None:
    root = tmp_path / "index"
    write_simple_index(root, [build_wheel(tmp_path, "late-pkg", "1.0", {"late_pkg.py": ""})])
    write_simple_index(root, [build_wheel(tmp_path, "late-pkg", "2.0", {"late_pkg.py": ""})])
    names = [a["href"] for a in anchors(root / "simple" / "late-pkg" / "index.html")]
    assert [n.split("#")[0].rsplit("/", 1)[1] for n in names if n] == [
        "late_pkg-1.0-py3-none-any.whl",
        "late_pkg-2.0-py3-none-any.whl",
    ]


def test_pip_installs_a_wheel_and_its_dependency_from_the_index(package_index: PackageIndex, tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = pip("install", "--index-url", package_index.url, *FAST, "--target", str(site), "airlock-demo-index")
    assert done.returncode == 0, done.stderr
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r}); import airlock_demo_index as m; print(m.ORIGIN, '|', m.LEAF)"
    )
    imported = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert imported.stdout == "package index | leaf\n"
    # Every wheel pip chose was read as metadata first (PEP 658), then downloaded once.
    requests = package_index.requests
    assert package_index.downloads() == [f"/files/{DEMO_1_0}", f"/files/{LEAF_0_2}"]
    for wheel in (DEMO_1_0, LEAF_0_2):
        assert requests.index(f"/files/{wheel}.metadata") < requests.index(f"/files/{wheel}")


def test_a_resolution_reads_candidates_metadata_and_downloads_no_rejected_wheel(package_index: PackageIndex) -> None:
    # airlock-demo-index 1.0 needs airlock-index-leaf>=0.2, which the second requirement
    # excludes: pip rejects 1.0 from its metadata alone and settles on 0.9.
    done = dry_run(package_index, "airlock-demo-index", "airlock-index-leaf<0.2")
    assert done.returncode == 0, done.stderr
    assert installed(done.stdout) == {"airlock-demo-index": "0.9", "airlock-index-leaf": "0.1"}
    assert f"/files/{DEMO_1_0}.metadata" in package_index.requests
    assert f"/files/{DEMO_1_0}" not in package_index.requests
    # pip before 25.3 prepares (downloads) every chosen wheel when resolution ends, dry run or
    # not; 25.3 returns from a dry run first. So on pip 23 a resolution that must download
    # nothing cannot be a dry run: only a rejected candidate is never fetched.
    chosen = [f"/files/{DEMO_0_9}", f"/files/{LEAF_0_1}"]
    expected = chosen if Version(importlib.metadata.version("pip")) < Version("25.3") else []
    assert package_index.downloads() == expected


def test_a_second_download_into_the_same_directory_fetches_no_wheel(
    package_index: PackageIndex, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    arguments = ("download", "--index-url", package_index.url, *FAST, "--only-binary=:all:", "-d", str(wheels))
    first = pip(*arguments, "airlock-demo-index")
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in wheels.iterdir()) == [DEMO_1_0, LEAF_0_2]
    package_index.clear()
    package_index.refuse_downloads = True  # any wheel pip still wanted would now fail the command
    second = pip(*arguments, "airlock-demo-index")
    assert second.returncode == 0, second.stderr
    assert "File was already downloaded" in second.stdout
    assert package_index.downloads() == []
    assert "/simple/airlock-demo-index/" in package_index.requests  # it did resolve again


def test_a_hash_pinned_lock_installs_and_skips_the_metadata_files(
    package_index: PackageIndex, index_root: Path, tmp_path: Path
) -> None:
    lock = tmp_path / "runtime.txt"
    lock.write_text(requirement_lock([index_root / "files" / DEMO_1_0, index_root / "files" / LEAF_0_2]))
    assert lock.read_text().startswith("airlock-demo-index==1.0 \\\n    --hash=sha256:")
    done = pip("install", "--index-url", package_index.url, *FAST, "--target", str(tmp_path / "site"), "-r", str(lock))
    assert done.returncode == 0, done.stderr
    assert package_index.downloads() == [f"/files/{DEMO_1_0}", f"/files/{LEAF_0_2}"]
    # With hashes required pip never fetches metadata alone: it hashes whole files.
    assert not [p for p in package_index.requests if p.endswith(".metadata")]


def test_a_wrong_hash_in_a_lock_fails_the_install(package_index: PackageIndex, tmp_path: Path) -> None:
    lock = tmp_path / "runtime.txt"
    lock.write_text(f"airlock-index-leaf==0.2 --hash=sha256:{'0' * 64}\n")
    done = pip("install", "--index-url", package_index.url, *FAST, "--target", str(tmp_path / "site"), "-r", str(lock))
    assert done.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in done.stderr


def test_an_sdist_only_project_has_no_match_when_only_wheels_are_allowed(package_index: PackageIndex) -> None:
    done = dry_run(package_index, "--only-binary=:all:", "airlock-sdist-only")
    assert done.returncode != 0
    assert "No matching distribution found for airlock-sdist-only" in done.stderr
    assert "/simple/airlock-sdist-only/" in package_index.requests  # found the project, refused its file
    assert package_index.downloads() == []


def test_the_sdist_is_one_pip_can_prepare(package_index: PackageIndex, tmp_path: Path) -> None:
    # Without --only-binary pip takes the sdist and prepares its metadata with the setuptools
    # build backend it names (this venv's, as build isolation would fetch one from an index).
    done = pip(
        "download", "--index-url", package_index.url, *FAST, "--no-deps", "--no-build-isolation",
        "-d", str(tmp_path), "airlock-sdist-only",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["airlock_sdist_only-1.0.tar.gz"]
    assert package_index.downloads() == ["/files/airlock_sdist_only-1.0.tar.gz"]


def test_a_refusing_index_fails_pip(package_index: PackageIndex) -> None:
    package_index.refuse = True
    log = failing(package_index.url, "airlock-demo-index")
    assert f"Could not fetch URL {package_index.url}/airlock-demo-index/" in log
    assert "too many 503 error responses" in log
    assert package_index.requests == ["/simple/airlock-demo-index/"]  # --retries 0: asked once


def test_a_hanging_index_fails_pip_at_its_timeout(package_index: PackageIndex) -> None:
    package_index.hang = True
    log = failing(package_index.url, "airlock-demo-index")
    assert f"Could not fetch URL {package_index.url}/airlock-demo-index/" in log
    # pip 26 says "... didn't respond within 2.0 seconds - skipping" (23.x: "Read timed out").
    assert "respond within 2.0 seconds" in log
    assert package_index.requests == ["/simple/airlock-demo-index/"]


def test_an_unreachable_index_fails_pip() -> None:
    url = unreachable_url()
    log = failing(url, "airlock-demo-index")
    assert f"Could not fetch URL {url}/airlock-demo-index/" in log
    assert "Connection refused" in log
