"""A real package index for tests: PEP 503 pages with PEP 658/714 metadata, served over HTTP.

``write_simple_index`` lays a directory out as a simple index; ``PackageIndex`` serves it
on 127.0.0.1 (port 0) from a thread, counts every request path, and fails on demand
(``refuse``: 503 for everything, ``refuse_downloads``: 503 for distribution files only,
``hang``: read the request and never answer). pip talks to it as to PyPI: it reads the
project page, takes a wheel's metadata from ``<wheel>.metadata`` (so a resolution downloads
no wheel) and checks each file against the page's ``#sha256=``.

Fixtures (plain pytest fixtures defined here; a module uses them by importing them, or a
conftest registers them for everyone with ``pytest_plugins = ["tests.pkgindex"]``):

* ``index_root`` (module): a directory holding the demo distributions (``demo_index``);
* ``package_index_server`` (module): a ``PackageIndex`` serving ``index_root``;
* ``package_index`` (function): the same server, reset (no recorded requests, no failure mode).
"""

from __future__ import annotations

import hashlib
import html
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from tests.wheels import build_sdist, build_wheel, wheel_metadata

__all__ = [
    "DEMO_INDEX_MODULE",
    "PackageIndex",
    "build_sdist",
    "build_wheel",
    "demo_index",
    "index_root",
    "package_index",
    "package_index_server",
    "pip",
    "requirement_lock",
    "unreachable_url",
    "write_simple_index",
]

#: What ``import airlock_demo_index`` from the demo index gives (its ``ORIGIN``, its leaf's ``LEAF``).
DEMO_INDEX_MODULE = """
import airlock_index_leaf

ORIGIN = "package index"
LEAF = airlock_index_leaf.LEAF
"""

_DISTRIBUTIONS = (".whl", ".tar.gz")


def _is_distribution(path: str) -> bool:
    return path.partition("?")[0].endswith(_DISTRIBUTIONS)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def project_of(file: Path) -> tuple[str, str]:
    """The normalised project name and the version of a wheel or sdist file."""
    if file.name.endswith(".whl"):
        name, version, _, _ = parse_wheel_filename(file.name)
    else:
        name, version = parse_sdist_filename(file.name)
    return canonicalize_name(name), str(version)


def _anchor(file: Path) -> str:
    """One PEP 503 link to ``file`` (in ``<root>/files``), with PEP 658/714 metadata for a wheel."""
    href = f"../../files/{file.name}#sha256={_sha256(file.read_bytes())}"
    attributes = f'href="{html.escape(href)}"'
    if file.name.endswith(".whl"):
        metadata = wheel_metadata(file)
        file.with_name(file.name + ".metadata").write_bytes(metadata)
        digest = f"sha256={_sha256(metadata)}"
        # PEP 714 renamed the attribute; pip 23.2 reads the new name first and falls back to
        # the old one. Both are written, as PyPI does, so either reader skips the download.
        attributes += f' data-dist-info-metadata="{digest}" data-core-metadata="{digest}"'
    return f"    <a {attributes}>{html.escape(file.name)}</a><br/>\n"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n{body}  </body>\n</html>\n"
    )


def write_simple_index(root: Path, files: list[Path]) -> None:
    """Publish ``files`` (wheels, sdists) in the simple index at ``root``.

    The files are copied to ``root/files/`` (unless already there); then every project page
    ``root/simple/<normalised name>/index.html`` and the root page are rewritten from all the
    distributions in ``root/files/``, so a later call adds versions or projects to what an
    earlier one published, as an upload to a live index would.
    """
    store = root / "files"
    store.mkdir(parents=True, exist_ok=True)
    for file in files:
        if file.resolve().parent != store.resolve():
            shutil.copyfile(file, store / file.name)
    projects: dict[str, list[Path]] = {}
    for file in sorted(store.iterdir()):
        if file.name.endswith(_DISTRIBUTIONS):
            projects.setdefault(project_of(file)[0], []).append(file)
    simple = root / "simple"
    for name, distributions in projects.items():
        page = simple / name / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(_page(f"Links for {name}", "".join(_anchor(f) for f in distributions)))
    links = "".join(f'    <a href="{html.escape(n)}/">{html.escape(n)}</a><br/>\n' for n in sorted(projects))
    (simple / "index.html").write_text(_page("Simple index", links))


def requirement_lock(files: Iterable[Path]) -> str:
    """A hash-pinned requirements file (``name==version --hash=sha256:...``) for ``files``.

    One line per project and version, with the hash of each of its files (wheel and sdist),
    the format ``pip install --require-hashes -r`` takes and a runtime's lock file uses.
    """
    pins: dict[tuple[str, str], list[str]] = {}
    for file in files:
        pins.setdefault(project_of(file), []).append(_sha256(file.read_bytes()))
    lines = []
    for (name, version), digests in sorted(pins.items()):
        hashes = "".join(f" \\\n    --hash=sha256:{d}" for d in sorted(digests))
        lines.append(f"{name}=={version}{hashes}\n")
    return "".join(lines)


def demo_index(root: Path) -> Path:
    """A simple index at ``root`` with the demo distributions; returns ``root``.

    * ``airlock-demo-index`` 0.9 and 1.0 (wheels; 1.0 depends on ``airlock-index-leaf``;
      ``import airlock_demo_index`` gives the module ``DEMO_INDEX_MODULE``);
    * ``airlock-index-leaf`` 0.1 and 0.2 (wheels; asking for ``<0.2`` makes a resolver
      reject ``airlock-demo-index`` 1.0 after reading its metadata);
    * ``airlock-sdist-only`` 1.0 (an sdist and nothing else: a wheels-only install refuses it).
    """
    built = root / "built"
    files = [
        build_wheel(built, "airlock-demo-index", "0.9", {"airlock_demo_index/__init__.py": "ORIGIN = 'old'\n"}),
        build_wheel(
            built,
            "airlock-demo-index",
            "1.0",
            {"airlock_demo_index/__init__.py": DEMO_INDEX_MODULE},
            ("airlock-index-leaf>=0.2",),
        ),
        build_wheel(built, "airlock-index-leaf", "0.1", {"airlock_index_leaf.py": "LEAF = 'old leaf'\n"}),
        build_wheel(built, "airlock-index-leaf", "0.2", {"airlock_index_leaf.py": "LEAF = 'leaf'\n"}),
        build_sdist(built, "airlock-sdist-only", "1.0", {"airlock_sdist_only.py": "SOURCE = True\n"}),
    ]
    write_simple_index(root, files)
    shutil.rmtree(built)  # published copies are in root/files
    return root


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def _intercept(self) -> bool:
        """Record the request; True when a failure mode answered (or will never answer) it.

        Called once the request line and headers are read, before the file is served.
        """
        index = self.server.index
        index._record(self.path)
        if index.hang:
            # Accepted and read, never answered: the client's read timeout must end it. The
            # thread waits for the server's close, so none outlives the test.
            index._closing.wait()
            self.close_connection = True
            return True
        if index.refuse or (index.refuse_downloads and _is_distribution(self.path)):
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "refused by the test")
            return True
        return False

    def do_GET(self) -> None:
        if not self._intercept():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self._intercept():
            super().do_HEAD()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the requests are in PackageIndex.requests; stderr stays the test's


class _Server(ThreadingHTTPServer):
    index: PackageIndex


class PackageIndex:
    """Serves the simple index at ``root`` on 127.0.0.1 while entered.

    ``url`` is the index URL (``http://127.0.0.1:<port>/simple``) for ``--index-url``.
    ``requests`` lists the paths asked for, in order (a copy; ``clear()`` empties it).
    Failure modes, settable at any time: ``refuse`` (503 for every request),
    ``refuse_downloads`` (503 for ``.whl``/``.tar.gz`` only: pages and metadata still
    served), ``hang`` (read the request, never answer). ``reset()`` clears all of them.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = 0
        self.refuse = False
        self.refuse_downloads = False
        self.hang = False
        self._requests: list[str] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/simple"

    @property
    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    def downloads(self) -> list[str]:
        """The requested paths that are distribution files (wheels and sdists, not metadata)."""
        return [p for p in self.requests if _is_distribution(p)]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """No recorded requests and no failure mode."""
        self.clear()
        self.refuse = self.refuse_downloads = self.hang = False

    def _record(self, path: str) -> None:
        with self._lock:
            self._requests.append(path)

    def __enter__(self) -> PackageIndex:
        root = str(self.root)

        def handler(*args: Any) -> _Handler:
            return _Handler(*args, directory=root)

        self._closing.clear()
        server = _Server((self.host, 0), handler)
        server.index = self
        self.port = server.server_address[1]
        self._server = server
        # A short poll: shutdown() waits for serve_forever's next look at its flag.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=f"package-index-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._closing.set()  # releases hanging handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None


#: Sockets bound and never listening: their ports refuse connections for the whole session,
#: and no other process can take them meanwhile (a port freed after a probe could be reused).
_RESERVED: list[socket.socket] = []


def unreachable_url() -> str:
    """An index URL on 127.0.0.1 whose port refuses connections (nothing listens, nothing will)."""
    reserved = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reserved.bind(("127.0.0.1", 0))
    _RESERVED.append(reserved)
    return f"http://127.0.0.1:{reserved.getsockname()[1]}/simple"


def pip(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run this interpreter's pip, isolated from the machine's pip configuration.

    ``--isolated`` ignores pip.conf and ``PIP_*`` variables (the host's extra indexes,
    find-links and constraints would otherwise join every resolution); the variables are
    removed as well, and there is no cache, so every file pip needs is a request the index sees.
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    command = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir"]
    return subprocess.run(
        [*command, *arguments], capture_output=True, text=True, timeout=timeout, env=environment, check=False
    )


@pytest.fixture(scope="module")
def index_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_index(tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="module")
def package_index_server(index_root: Path) -> Iterator[PackageIndex]:
    with PackageIndex(index_root) as index:
        yield index


@pytest.fixture
def package_index(package_index_server: PackageIndex) -> PackageIndex:
    package_index_server.reset()
    return package_index_server
