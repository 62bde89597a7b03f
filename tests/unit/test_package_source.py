"""Where requirements come from: pip's own configuration, a setting, or a wheelhouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import GatewayConfig
from gateway.requirements.policy import InstallPolicy
from gateway.requirements.source import PYPI_INDEX, PackageSource


def test_pips_configuration_is_read_as_pip_reads_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "pip.conf"
    config.write_text(
        "[global]\nindex-url = https://mirror.example:8443/simple\nextra-index-url = https://extra.example/simple\n"
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    source = PackageSource.from_pip_configuration()
    assert source.index_url == "https://mirror.example:8443/simple"
    assert source.extra_index_urls == ("https://extra.example/simple",)
    assert source.find_links == (str(tmp_path),)
    assert source.egress_allow() == ("mirror.example:8443", "extra.example:443")
    # The CA bundle too, when pip's configuration names one (this machine's does).
    expected = (str(tmp_path.resolve()), *((str(Path(source.cert).resolve()),) if source.cert else ()))
    assert source.readonly_paths() == expected


def test_no_index_in_pips_configuration_means_no_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    source = PackageSource.from_pip_configuration()
    assert source.index_url is None
    assert source.pip_options()[:1] == ["--no-index"]
    assert source.egress_allow() == ()


def test_pypi_brings_the_host_its_files_come_from() -> None:
    assert PackageSource(index_url=PYPI_INDEX).egress_allow() == ("pypi.org:443", "files.pythonhosted.org:443")


def test_a_file_index_shows_its_tree_and_a_cert_is_bound(tmp_path: Path) -> None:
    (tmp_path / "simple").mkdir()
    cert = tmp_path / "ca.pem"
    cert.write_text("x")
    source = PackageSource(index_url=f"file://{tmp_path}/simple", cert=str(cert))
    assert source.readonly_paths() == (str(tmp_path), str(cert))
    assert source.pip_options()[-6:] == ["--cert", str(cert), "--timeout", "15", "--retries", "1"]


def test_a_loopback_index_needs_no_private_exception() -> None:
    source = PackageSource(index_url="http://127.0.0.1:9/simple")
    assert source.egress_allow() == ("127.0.0.1:9",)
    assert source.private_networks() == ("127.0.0.1/32",)


def test_settings_choose_the_source(tmp_path: Path) -> None:
    wheelhouse = InstallPolicy.from_config(GatewayConfig(requirements_wheelhouse=tmp_path)).source
    assert wheelhouse.index_url is None
    assert wheelhouse.find_links == (str(tmp_path),)
    index = InstallPolicy.from_config(GatewayConfig(requirements_index_url="https://i.example/simple")).source
    assert index.index_url == "https://i.example/simple"
    assert index.origin == "requirements_index_url"


@pytest.mark.parametrize("url", ["ftp://x.example/simple", "https:///simple", "not a url"])
def test_a_bad_index_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="is not an http"):
        GatewayConfig(requirements_index_url=url)


def test_installs_are_on_by_default() -> None:
    assert GatewayConfig().requirements_install is True


def test_the_installer_reaches_the_sources_hosts_only() -> None:
    from gateway.profiles import Profile  # noqa: PLC0415

    policy = InstallPolicy(source=PackageSource(index_url="https://mirror.example/simple"), cache_dir=Path("/c"))
    profile = policy.installer_profile(Profile(name="default"))
    assert profile.network == "egress"
    assert profile.egress_allow == ("mirror.example:443",)
    assert "/c" in profile.readonly_paths
    offline = InstallPolicy(source=PackageSource.wheelhouse(Path("/w"))).installer_profile(Profile(name="default"))
    assert offline.network == "none"
