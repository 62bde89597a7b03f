"""Parsing frontmatter requirements, the content address, the operator's lists and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import GatewayConfig
from gateway.errors import AirlockError, InvalidRequest, PackageRefused
from gateway.requirements import sites, specs
from gateway.requirements.policy import InstallPolicy


def test_entries_split_on_commas_and_version_ranges_stay_whole() -> None:
    assert specs.split_entries(" requests>=2,<3 , ,numpy ,pydantic!=2.0,~=2.1") == [
        "requests>=2,<3",
        "numpy",
        "pydantic!=2.0,~=2.1",
    ]


def test_specs_are_normalised_sorted_and_unique() -> None:
    parsed = specs.parse('Foo_Bar[Extra]>=1.0 ; python_version >= "3.8", requests, REQUESTS, zope.Interface')
    assert parsed.specs == ('foo-bar[extra]>=1.0; python_version >= "3.8"', "requests", "zope-interface")
    assert parsed.names == frozenset({"foo-bar", "requests", "zope-interface"})
    assert not specs.parse(" , ")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-r requirements.txt", "requirement '-r requirements.txt' is a pip option"),
        ("ok, --extra-index-url=https://x", "requirement '--extra-index-url=https://x' is a pip option"),
        ("pkg @ git+https://x/y.git", "requirement 'pkg @ git+https://x/y.git' names a URL, path or VCS reference"),
        ("pkg @ file:///etc/passwd", "requirement 'pkg @ file:///etc/passwd' names a URL"),
        ("/abs/path.whl", "invalid requirement '/abs/path.whl'"),
        ("pkg>>1", "invalid requirement 'pkg>>1'"),
        ("x" * 300, "is longer than 256 characters"),
        (",".join(f"p{i}" for i in range(65)), "requirements has 65 entries; at most 64"),
    ],
)
def test_anything_but_a_package_requirement_is_refused_by_name(value: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        specs.parse(value)
    assert message in str(caught.value)


def test_the_content_address_depends_on_the_set_and_the_source_only() -> None:
    source = {"wheelhouse": "/srv/wheels"}
    one = sites.digest(["b", "a>=1"], source)
    assert one == sites.digest(["a>=1", "b"], source)
    assert one != sites.digest(["a>=1"], source)
    assert one != sites.digest(["a>=1", "b"], {"wheelhouse": "/srv/other"})
    assert len(one) == 64


def test_the_lists_refuse_by_normalised_name_and_name_the_setting() -> None:
    policy = InstallPolicy(enabled=True, allow=frozenset({"good", "evil"}), deny=frozenset({"evil"}))
    policy.check({"good"})
    with pytest.raises(PackageRefused, match=r"^package 'evil' \(required by the function\) is denied by requ"):
        policy.check({"good", "evil"})
    with pytest.raises(PackageRefused, match=r"^package 'other' \(pulled in as a dependency\) is not in requ"):
        policy.check({"other"}, dependencies=True)


def test_settings_normalise_the_lists_and_refuse_what_cannot_work(tmp_path: Path) -> None:
    config = GatewayConfig.load(
        requirements_allow="Foo_Bar, requests,,", requirements_deny=["Evil.Pkg"], requirements_wheelhouse=str(tmp_path)
    )
    assert config.requirements_allow == ("foo-bar", "requests")
    assert config.requirements_deny == ("evil-pkg",)
    refusals: dict[str, tuple[dict[str, Any], str]] = {
        "two sources": (
            {"requirements_index_url": "https://pypi.org/simple", "requirements_wheelhouse": str(tmp_path)},
            "requirements_index_url and requirements_wheelhouse are two sources: set one",
        ),
        "not a url": ({"requirements_index_url": "pypi.org/simple"}, "is not an http(s):// or file:// URL"),
        "relative": ({"requirements_wheelhouse": "wheels"}, "is not an absolute path to a directory"),
        "overlap": (
            {"requirements_allow": "a,b", "requirements_deny": "B", "requirements_wheelhouse": str(tmp_path)},
            "requirements_allow and requirements_deny both name b",
        ),
        "bad name": ({"requirements_deny": "not a name!"}, "'not a name!' is not a project name"),
    }
    for case, (overrides, message) in refusals.items():
        with pytest.raises(AirlockError) as caught:
            GatewayConfig.load(**overrides)
        assert message in str(caught.value), case
