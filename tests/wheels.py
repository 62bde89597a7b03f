"""Build tiny wheels and sdists in tests (zipfile/tarfile, no build backend, no network)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(
    wheelhouse: Path, name: str, version: str, files: dict[str, str], requires: tuple[str, ...] = ()
) -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` holding ``files`` (path → text) into ``wheelhouse``."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents = {
        **{path: text.encode() for path, text in files.items()},
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(path, data) for path, data in contents.items()] + [f"{info}/RECORD,,"]
    path = wheelhouse / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in contents.items():
            wheel.writestr(member, data)
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def wheel_metadata(wheel: Path) -> bytes:
    """The ``METADATA`` file of ``wheel``, byte for byte (what PEP 658 serves beside it)."""
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        return archive.read(member)


def build_sdist(
    directory: Path, name: str, version: str, files: dict[str, str], requires: tuple[str, ...] = ()
) -> Path:
    """Write the sdist ``<name>-<version>.tar.gz`` (PEP 625 name) holding ``files`` into ``directory``.

    A real sdist's layout: one top directory with ``PKG-INFO`` and a ``pyproject.toml``
    naming setuptools as its build backend. Building it needs setuptools from somewhere;
    the tests only need it to exist as an sdist (what a wheels-only installer must refuse).
    The archive is reproducible (fixed mtimes and owners), so its hash is stable.
    """
    directory.mkdir(parents=True, exist_ok=True)
    base = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    dependencies = "".join(f"{r!r}, " for r in requires)
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{dependencies}]\n'
    )
    contents = {"PKG-INFO": metadata, "pyproject.toml": pyproject, **files}
    path = directory / f"{base}.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member, text in contents.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{member}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    # Compressed apart: tarfile's "w:gz" stamps the current time into the gzip header.
    path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return path


def demo_wheelhouse(wheelhouse: Path) -> Path:
    """The wheelhouse the requirement tests install from.

    ``airlock-demo`` (a module with a value), ``airlock-other`` (a second set),
    ``airlock-parent`` (depends on ``airlock-leaf``), ``airlock-sneaky`` (depends on the
    denied ``airlock-evil``), ``airlock-broken`` (not a zip: pip fails on it).
    """
    build_wheel(wheelhouse, "airlock-demo", "1.0", {"airlock_demo/__init__.py": "VALUE = 42\n"})
    build_wheel(wheelhouse, "airlock-other", "2.5", {"airlock_other.py": "NAME = 'other'\n"})
    build_wheel(wheelhouse, "airlock-leaf", "0.1", {"airlock_leaf.py": "LEAF = True\n"})
    build_wheel(
        wheelhouse, "airlock-parent", "1.0", {"airlock_parent.py": "import airlock_leaf\n"}, ("airlock-leaf>=0.1",)
    )
    build_wheel(wheelhouse, "airlock-evil", "1.0", {"airlock_evil.py": "EVIL = True\n"})
    build_wheel(wheelhouse, "airlock-sneaky", "1.0", {"airlock_sneaky.py": ""}, ("airlock-evil",))
    (wheelhouse / "airlock_broken-1.0-py3-none-any.whl").write_bytes(b"this is not a zip file")
    return wheelhouse
