"""pip's private API, which runner/install.py drives, as the installed pip has it.

pip promises nothing about ``pip._internal``: any release may move ``main`` or rename an
option. pyproject.toml bounds pip to the series tested; this checks that the installed pip
lies within that bound, that the one private name the runner imports is still there, and
that pip's own parser reads the runner's command line as meant.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from runner.install import _REPORT, DOWNLOADS, SITE, download_arguments, install_arguments, resolve_arguments

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def pip_requirement() -> Requirement:
    """The ``pip`` requirement of pyproject.toml."""
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (requirement,) = [r for r in map(Requirement, dependencies) if r.name == "pip"]
    return requirement


def test_pip_is_bounded_above_and_the_installed_pip_is_within_the_bound() -> None:
    requirement = pip_requirement()
    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), (
        "pip is driven through its private API: bound it to the series tested"
    )
    installed = Version(importlib.metadata.version("pip"))
    assert requirement.specifier.contains(installed), f"pip {installed} is outside {requirement.specifier}"


def test_the_private_entry_point_the_runner_imports_exists() -> None:
    from pip._internal.cli.main import main  # noqa: PLC0415 - exactly runner/install.py's import

    assert callable(main)


def test_pips_parser_reads_the_installers_download_as_meant() -> None:
    from pip._internal.commands import create_command  # noqa: PLC0415 - pip's own option parser

    source = ["--index-url", "https://index.example/simple", "--find-links", "/cache/sha256/ab", "--retries", "1"]
    argv = download_arguments("/tmp/requirements.txt", source)
    assert argv[0] == "download"
    # isolated=True: what pip's main does on seeing --isolated (no config files or PIP_* variables).
    options, args = create_command("download", isolated=True).parse_args(argv[1:])
    assert args == []
    assert options.requirements == ["/tmp/requirements.txt"]
    assert options.download_dir == DOWNLOADS
    assert options.ignore_dependencies is True
    assert options.format_control.only_binary == {":all:"}
    assert options.isolated_mode is True
    assert options.index_url == "https://index.example/simple"
    assert options.find_links == ["/cache/sha256/ab"]
    assert options.retries == 1
    assert options.cache_dir == "/tmp/pip-cache"  # the sandbox's private /tmp, this job only
    assert options.no_input is True
    assert options.progress_bar == "off"


def test_pips_parser_reads_the_installers_offline_install_as_meant() -> None:
    from pip._internal.commands import create_command  # noqa: PLC0415

    argv = install_arguments("/tmp/requirements.txt")
    assert argv[0] == "install"
    options, args = create_command("install", isolated=True).parse_args(argv[1:])
    assert args == []
    assert options.requirements == ["/tmp/requirements.txt"]
    assert options.target_dir == SITE
    assert options.json_report_file == _REPORT
    assert options.format_control.only_binary == {":all:"}
    assert options.no_index is True
    assert options.find_links == [DOWNLOADS]
    assert options.ignore_dependencies is True
    assert options.compile is False


def test_pips_parser_reads_the_resolution_as_meant() -> None:
    from pip._internal.commands import create_command  # noqa: PLC0415

    argv = resolve_arguments(["requests==2.32.3"], ["--no-index", "--find-links", "/wheels"])
    options, args = create_command("install", isolated=True).parse_args(argv[1:])
    assert args == ["requests==2.32.3"]
    assert options.dry_run is True
    assert options.target_dir is None  # resolved against the runtime on sys.path, installed nowhere
    assert options.json_report_file.endswith(".json")
    assert options.format_control.only_binary == {":all:"}
    assert options.no_index is True
