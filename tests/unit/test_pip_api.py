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

from runner.install import _REPORT, SITE, pip_arguments

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


def test_pips_parser_reads_the_runners_command_line_as_meant() -> None:
    from pip._internal.commands import create_command  # noqa: PLC0415 - pip's own option parser

    argv = pip_arguments(["requests==2.32.3"], ["--no-index", "--find-links", "/wheels"])
    assert argv[0] == "install"
    # isolated=True: what pip's main does on seeing --isolated (no config files or PIP_* variables).
    options, args = create_command("install", isolated=True).parse_args(argv[1:])
    assert args == ["requests==2.32.3"]
    assert options.target_dir == SITE
    assert options.json_report_file == _REPORT
    assert options.format_control.only_binary == {":all:"}
    assert options.isolated_mode is True
    assert options.no_index is True
    assert options.find_links == ["/wheels"]
    assert options.compile is False
    assert options.cache_dir is False  # --no-cache-dir
    assert options.no_input is True
    assert options.progress_bar == "off"
