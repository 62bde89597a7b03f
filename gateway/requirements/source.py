"""Where packages come from: the index pip is configured with, an index URL, or a wheelhouse.

The default is what ``pip install`` on the gateway's host would use: pip's own option parser
reads its configuration files and ``PIP_*`` variables (the same precedence pip applies), so
an operator who has pip working has Airlock working. What the installer sandbox needs for
that source is derived here once, at start:

* the pip options, passed explicitly (the installer runs pip with ``--isolated``: nothing
  in the sandbox can reconfigure it);
* the ``HOST:PORT`` destinations of its egress allow-list: each index's host, and for PyPI
  the host its files are served from;
* the local paths to show it read-only: ``file://`` indexes, local ``find-links``
  directories, the CA bundle pip verifies TLS with.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from gateway.errors import AirlockError

PYPI_INDEX = "https://pypi.org/simple"
#: Index hosts that serve their files from another host (PyPI's CDN).
FILE_HOSTS = {"pypi.org": ("files.pythonhosted.org",)}
_DEFAULT_PORTS = {"https": 443, "http": 80}


class SourceError(AirlockError):
    """A package source that cannot be used (named in the message)."""


@dataclass(frozen=True)
class PackageSource:
    """Indexes, find-links and the CA bundle the installer uses (``index_url`` None: no index)."""

    index_url: str | None = PYPI_INDEX
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    cert: str | None = None
    #: Where it came from, for logs and errors ("pip configuration", a setting's name).
    origin: str = "pip configuration"

    @classmethod
    def wheelhouse(cls, path: Path) -> PackageSource:
        """A directory of wheels and nothing else (offline)."""
        return cls(index_url=None, find_links=(str(path),), origin="requirements_wheelhouse")

    @classmethod
    def index(cls, url: str, cert: str | None = None) -> PackageSource:
        """One index URL (the ``requirements_index_url`` setting)."""
        return cls(index_url=url, cert=cert, origin="requirements_index_url")

    @classmethod
    def from_pip_configuration(cls) -> PackageSource:
        """The source ``pip install`` would use here (its config files and ``PIP_*`` variables)."""
        # pip's private API, like the installer's (bounded and tested: tests/unit/test_pip_api.py).
        from pip._internal.commands import create_command  # noqa: PLC0415 - only at start

        command = create_command("install")
        try:
            options, _ = command.parse_args([])
        except SystemExit:
            raise SourceError("pip's configuration is invalid (run 'pip config list' to see it)") from None
        index_url = None if options.no_index else str(options.index_url)
        return cls(
            index_url=index_url,
            extra_index_urls=() if options.no_index else tuple(options.extra_index_urls),
            find_links=tuple(options.find_links),
            cert=options.cert or None,
            origin="pip configuration",
        )

    def urls(self) -> tuple[str, ...]:
        """Every index and find-links location."""
        return (*((self.index_url,) if self.index_url else ()), *self.extra_index_urls, *self.find_links)

    def pip_options(self) -> list[str]:
        """The options that make pip use exactly this source."""
        options = ["--index-url", self.index_url] if self.index_url else ["--no-index"]
        for url in self.extra_index_urls:
            options += ["--extra-index-url", url]
        for location in self.find_links:
            options += ["--find-links", location]
        if self.cert:
            options += ["--cert", self.cert]
        # Fail within the installer's time, not after pip's default five retries of 15 s each.
        options += ["--timeout", "15", "--retries", "1"]
        return options

    def egress_allow(self) -> tuple[str, ...]:
        """``HOST:PORT`` of every remote location (the installer's egress allow-list)."""
        destinations: list[str] = []
        for url in self.urls():
            parts = urlsplit(url)
            if parts.scheme not in _DEFAULT_PORTS:
                continue
            if not parts.hostname:
                raise SourceError(f"package source {url!r} ({self.origin}) has no host")
            host = parts.hostname
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
            for name in (host, *FILE_HOSTS.get(host, ())):
                entry = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
                if entry not in destinations:
                    destinations.append(entry)
        return tuple(destinations)

    def readonly_paths(self) -> tuple[str, ...]:
        """Local directories and files the installer must see: ``file://`` and path locations, the CA bundle."""
        paths: list[str] = []
        for url in self.urls():
            parts = urlsplit(url)
            if parts.scheme in _DEFAULT_PORTS:
                continue
            if parts.scheme not in ("", "file"):
                raise SourceError(f"package source {url!r} ({self.origin}): only http(s), file:// and paths")
            path = Path(unquote(parts.path) if parts.scheme == "file" else url).resolve()
            if not path.exists():
                # pip itself ignores such a location with a warning; the sandbox cannot bind it.
                continue
            # A PEP 503 tree links its files relatively (../../files/x.whl): show its parent too.
            paths.append(str(path.parent if path.name == "simple" else path))
        if self.cert:
            paths.append(str(Path(self.cert).resolve()))
        return tuple(dict.fromkeys(paths))

    def private_networks(self) -> tuple[str, ...]:
        """The special addresses (private, loopback...) the remote hosts resolve to now.

        The relay refuses names that resolve into special networks unless they are listed:
        that protects against a plugin's DNS answer pointing into the gateway's network. The
        package source is the operator's own choice, and a private index (or a mirror on a
        private address) is common, so its hosts' current addresses are allowed, exactly.
        Resolved once per process and source (the installer profiles are built at start).
        """
        return _special_addresses(self.egress_allow())

    def address(self) -> dict[str, str]:
        """What enters a requirement set's content address (where its packages came from)."""
        return {
            "index": self.index_url or "",
            "extra": " ".join(self.extra_index_urls),
            "links": " ".join(self.find_links),
        }

    def describe(self) -> str:
        """One line for logs and errors."""
        return f"{', '.join(self.urls()) or 'nothing'} ({self.origin})"


@functools.cache
def _special_addresses(destinations: tuple[str, ...]) -> tuple[str, ...]:
    networks: list[str] = []
    for entry in destinations:
        host, _, port = entry.rpartition(":")
        host = host.strip("[]")
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        except OSError:
            continue  # unreachable now: pip will say so at install time
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global:
                network = f"{address}/{address.max_prefixlen}"
                if network not in networks:
                    networks.append(network)
    return tuple(networks)
