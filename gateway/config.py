"""Gateway settings: defaults, then a TOML config file, then ``AIRLOCK_*`` variables, then CLI options.

One pydantic-settings model defines every setting once (name, type, default, description);
``airlock serve --help`` is generated from it and docs/OPERATIONS.md lists the same fields.
"""

from __future__ import annotations

import ipaddress
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from packaging.utils import InvalidName, canonicalize_name
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gateway.errors import AirlockError
from gateway.profiles.loader import shipped_profiles_dir
from gateway.uids import (
    MAX_UID,
    SANDBOX_UID_COUNT,
    SANDBOX_UID_FIRST,
    SANDBOX_UID_LOCK_DIR,
    SANDBOX_UIDS_PER_GATEWAY,
)

MIB = 1024 * 1024
ENV_PREFIX = "AIRLOCK_"
#: Where ``load`` reads the config file from (a context variable: sources are built per class).
_config_file: ContextVar[Path | None] = ContextVar("airlock_config_file", default=None)

Role = Literal["admin", "invoker"]
#: Settings that hold secrets or structures: environment or config file only, never a CLI
#: option (a command line is readable by every user of the host through /proc).
NOT_ON_COMMAND_LINE = frozenset({"admin_token", "invoker_token", "tls_client_roles"})
#: ``AIRLOCK_*`` variables of the client commands, not settings of a gateway.
CLIENT_VARIABLES = frozenset(
    {
        "AIRLOCK_TARGET",
        "AIRLOCK_TOKEN",
        "AIRLOCK_CONFIG",
        "AIRLOCK_CLIENT_TLS_CA",
        "AIRLOCK_CLIENT_TLS_CERT",
        "AIRLOCK_CLIENT_TLS_KEY",
        "AIRLOCK_OPENAI_URL",
        "AIRLOCK_OPENAI_API_KEY",
        "AIRLOCK_OPENAI_MODEL",
    }
)
#: Shortest bearer token accepted: a guessable token is worse than none, because it looks safe.
MIN_TOKEN_CHARS = 16


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/airlock``, else ``~/.local/share/airlock``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "airlock"


def split_host_port(address: str) -> tuple[str, int]:
    """``("host", port)`` of ``HOST:PORT`` (IPv6 hosts in brackets); ValueError if malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything


class GatewayConfig(BaseSettings):
    """How one gateway runs. Every field is a setting; docs/OPERATIONS.md explains them."""

    # hide_input_in_errors: a validation error must never print a token it rejected.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", env_ignore_empty=False, hide_input_in_errors=True
    )

    # -- listeners ------------------------------------------------------------------------
    listen: str = Field(
        default="127.0.0.1:50051",
        description='gRPC TCP address, HOST:PORT (port 0 picks one); "" for none (unix_socket only).',
    )
    unix_socket: Path | None = Field(default=None, description="Also serve gRPC on this unix-domain socket.")
    unix_socket_mode: str = Field(
        default="0660", pattern=r"^0?[0-7]{3}$", description="Permission bits of the unix socket (octal)."
    )
    metrics_listen: str = Field(
        default="127.0.0.1:9464", description='Prometheus /metrics HTTP address, HOST:PORT; "" to disable.'
    )
    # -- storage and profiles ---------------------------------------------------------------
    data_dir: Path = Field(default_factory=default_data_dir, description="Where registry.sqlite3 lives.")
    profiles_dir: Path = Field(default_factory=shipped_profiles_dir, description="Directory of *.toml profiles.")
    # -- logs ------------------------------------------------------------------------------
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: a readable console on a terminal, JSON lines otherwise."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="Lowest level logged.")
    # -- admission -------------------------------------------------------------------------
    # At most 16 MiB: what a host sends (a Start, a call answer) is forwarded to a sandbox in
    # one frame, and the runner reads frames of up to 64 MiB (gateway.sandbox.worker.MAX_JOB_BYTES).
    max_message_bytes: int = Field(
        default=8 * MIB, ge=64 * 1024, le=16 * MIB, description="Largest gRPC message accepted, and sent."
    )
    max_source_bytes: int = Field(default=1 * MIB, ge=1024, description="Largest function source accepted.")
    max_inflight: int = Field(
        default=256, ge=1, description="Invocations admitted at once (running or waiting for a sandbox)."
    )
    max_inflight_per_user: int = Field(
        default=16, ge=1, description="Invocations admitted at once per user id (Start.user_json id)."
    )
    max_streams: int = Field(default=2048, ge=1, description="Open Invoke streams, with or without a Start yet.")
    retry_after_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="Retry hint sent with RESOURCE_EXHAUSTED rejections."
    )
    first_message_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long an Invoke stream may stay open without a Start."
    )
    # -- lifecycle -------------------------------------------------------------------------
    shutdown_grace_seconds: float = Field(
        default=20.0, ge=0, description="On SIGTERM, how long running invocations get to finish before CANCELLED."
    )
    warm_up: bool = Field(
        default=True, description="Start every warm profile's zygote and pool at start, not on first use."
    )
    keepalive_time_seconds: float = Field(
        default=30.0, ge=1, description="Ping idle connections this often (streams wait on humans for minutes)."
    )
    keepalive_timeout_seconds: float = Field(
        default=10.0, ge=1, description="Close a connection whose ping is unanswered this long."
    )
    # -- sandbox uids (a root gateway only; an unprivileged one runs sandboxes as itself) ----
    sandbox_uid_first: int = Field(
        default=SANDBOX_UID_FIRST,
        ge=1,  # never root
        le=MAX_UID,
        description="First host uid (and gid) of the range sandboxes run as; each sandbox gets one of its own.",
    )
    sandbox_uid_count: int = Field(
        default=SANDBOX_UID_COUNT, ge=1, description="Uids in that range, shared by every gateway of the host."
    )
    sandbox_uids_per_gateway: int = Field(
        default=SANDBOX_UIDS_PER_GATEWAY,
        ge=1,
        description="Uids one gateway claims from the range (a slice): at least the sandboxes it can run at once.",
    )
    sandbox_uid_lock_dir: Path = Field(
        default=SANDBOX_UID_LOCK_DIR,
        description="Host-wide directory where gateways claim their slices (a lock file each); "
        "gateways of one host (containers too) must share it.",
    )
    # -- plugin requirements -----------------------------------------------------------------
    requirements_install: bool = Field(
        default=True,
        description="Install a function's frontmatter requirements (in a sandbox, from the package source), "
        "as Open WebUI does by default; off: skip them and load the function anyway, like Open WebUI with "
        "ENABLE_PIP_INSTALL_FRONTMATTER_REQUIREMENTS off.",
    )
    requirements_wheelhouse: Path | None = Field(
        default=None,
        description="Install from this directory of wheels only (offline), instead of a package index.",
    )
    requirements_index_url: str = Field(
        default="",
        description="Install from this package index (PEP 503 'simple' URL) instead of the index pip is "
        "configured with on this host (its config files and PIP_* variables).",
    )
    requirements_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated project names that may be installed, dependencies included; empty: any.",
    )
    requirements_deny: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated project names that may never be installed, dependencies included."
    )
    requirements_timeout_seconds: float = Field(
        default=300.0, gt=0, le=3600, description="Wall clock (and CPU seconds) of one installation."
    )
    requirements_memory_mib: int = Field(
        default=1024, ge=256, le=65_536, description="Memory of the installer sandbox besides its /tmp, in MiB."
    )
    requirements_disk_mib: int = Field(
        default=1024, ge=16, le=65_536, description="Size of the installer's /tmp, where pip unpacks, in MiB."
    )
    # -- plugin runtimes -----------------------------------------------------------------------
    runtimes_dir: Path | None = Field(
        default=None,
        description="Where built runtimes live, one read-only directory per lock (content-addressed; "
        "gateways may share it); unset: <data_dir>/runtimes.",
    )
    wheel_cache_dir: Path | None = Field(
        default=None,
        description="Where downloaded wheels are kept, by SHA-256, for every later runtime build and "
        "requirement set (gateways may share it); unset: <data_dir>/wheels.",
    )
    runtime_build_timeout_seconds: float = Field(
        default=1800.0, gt=0, le=86_400, description="Wall clock (and CPU seconds) of one runtime build."
    )
    runtime_build_disk_mib: int = Field(
        default=2048, ge=256, le=65_536, description="Size of the runtime builder's /tmp (pip's downloads), in MiB."
    )
    # -- authentication --------------------------------------------------------------------
    tls_cert: Path | None = Field(default=None, description="Server certificate chain (PEM): serve TLS.")
    tls_key: Path | None = Field(default=None, description="Server private key (PEM).")
    tls_client_ca: Path | None = Field(
        default=None, description="CA bundle (PEM) client certificates must chain to: require mTLS."
    )
    tls_client_roles: dict[str, Role] = Field(
        default_factory=dict,
        description='Role of a client certificate by common name or SAN; "*" matches any verified one.',
    )
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token of the admin role (Registry writes, and all invoker rights)."
    )
    invoker_token: SecretStr | None = Field(
        default=None, description="Bearer token of the invoker role (Runtime, Registry reads)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """CLI options (init) over ``AIRLOCK_*`` variables over the config file over defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("requirements_allow", "requirements_deny", mode="before")
    @classmethod
    def _project_names(cls, value: object) -> object:
        # One comma-separated string from a variable or an option, a list from a config file.
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list | tuple):
            return value
        normalised = []
        for name in names:
            if not isinstance(name, str) or not name.strip():
                continue
            try:
                normalised.append(canonicalize_name(name.strip(), validate=True))
            except InvalidName:
                raise ValueError(f"{name.strip()!r} is not a project name") from None
        return tuple(sorted(set(normalised)))

    @field_validator(
        "unix_socket",
        "tls_cert",
        "tls_key",
        "tls_client_ca",
        "requirements_wheelhouse",
        "runtimes_dir",
        "wheel_cache_dir",
        mode="before",
    )
    @classmethod
    def _empty_path_is_unset(cls, value: object) -> object:
        # AIRLOCK_TLS_CERT="" in a compose file means "no certificate", not the directory ".".
        return None if value == "" else value

    @field_validator("listen", "metrics_listen")
    @classmethod
    def _host_port_or_empty(cls, value: str) -> str:
        if value:
            split_host_port(value)
        return value

    @field_validator("admin_token", "invoker_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"a bearer token needs at least {MIN_TOKEN_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GatewayConfig:
        if not self.listen and self.unix_socket is None:
            raise ValueError('listen is "" and unix_socket is unset: the gateway would not listen anywhere')
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("tls_client_ca (mTLS) needs tls_cert and tls_key")
        if self.tls_client_roles and self.tls_client_ca is None:
            raise ValueError("tls_client_roles needs tls_client_ca: without it no client certificate is verified")
        if self.tls_client_ca is not None and not self.tls_client_roles and not self.has_tokens:
            raise ValueError(
                "tls_client_ca without tls_client_roles or a token would let nobody in: map certificate names "
                'to roles (tls_client_roles, "*" for any verified certificate) or set a token'
            )
        self._requirements_consistent()
        self._sandbox_uids_consistent()
        admin, invoker = self.admin_token, self.invoker_token
        if admin is not None and invoker is not None and admin.get_secret_value() == invoker.get_secret_value():
            raise ValueError("admin_token and invoker_token must differ")
        return self

    def _requirements_consistent(self) -> None:
        if self.requirements_index_url:
            parts = urlsplit(self.requirements_index_url)
            if parts.scheme not in ("http", "https", "file") or (parts.scheme != "file" and not parts.hostname):
                raise ValueError(
                    f"requirements_index_url {self.requirements_index_url!r} is not an http(s):// or file:// URL"
                )
            if self.requirements_wheelhouse is not None:
                raise ValueError("requirements_index_url and requirements_wheelhouse are two sources: set one")
        wheelhouse = self.requirements_wheelhouse
        if wheelhouse is not None and (not wheelhouse.is_absolute() or not wheelhouse.is_dir()):
            raise ValueError(f"requirements_wheelhouse {wheelhouse} is not an absolute path to a directory")
        for name in ("runtimes_dir", "wheel_cache_dir"):
            value = getattr(self, name)
            if value is not None and not value.is_absolute():
                raise ValueError(f"{name} {value} is not an absolute path")
        if overlap := set(self.requirements_allow) & set(self.requirements_deny):
            raise ValueError(f"requirements_allow and requirements_deny both name {', '.join(sorted(overlap))}")

    def _sandbox_uids_consistent(self) -> None:
        last = self.sandbox_uid_first + self.sandbox_uid_count - 1
        if last > MAX_UID:
            raise ValueError(
                f"sandbox_uid_first + sandbox_uid_count goes past the largest uid, {MAX_UID} (ends at {last})"
            )
        if self.sandbox_uids_per_gateway > self.sandbox_uid_count:
            raise ValueError("sandbox_uids_per_gateway is larger than sandbox_uid_count: no slice fits the range")
        if not self.sandbox_uid_lock_dir.is_absolute():
            raise ValueError(f"sandbox_uid_lock_dir {self.sandbox_uid_lock_dir} is not an absolute path")

    @property
    def runtimes_root(self) -> Path:
        """Where built runtimes live (``runtimes_dir``, or ``<data_dir>/runtimes``)."""
        return self.runtimes_dir if self.runtimes_dir is not None else self.data_dir / "runtimes"

    @property
    def wheel_cache_root(self) -> Path:
        """Where downloaded wheels are cached (``wheel_cache_dir``, or ``<data_dir>/wheels``)."""
        return self.wheel_cache_dir if self.wheel_cache_dir is not None else self.data_dir / "wheels"

    @property
    def has_tokens(self) -> bool:
        """Whether any bearer token is configured."""
        return self.admin_token is not None or self.invoker_token is not None

    @property
    def auth_enabled(self) -> bool:
        """Whether callers must present a token or a client certificate."""
        return self.has_tokens or self.tls_client_ca is not None

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> GatewayConfig:
        """Settings from ``config_file`` (TOML), the environment and ``overrides``; AirlockError if invalid."""
        if config_file is not None and not config_file.is_file():
            raise AirlockError(f"config file {config_file} does not exist")
        unknown = sorted(
            name
            for name in os.environ
            if name.startswith(ENV_PREFIX)
            and name not in CLIENT_VARIABLES
            and name.removeprefix(ENV_PREFIX).lower() not in cls.model_fields
        )
        if unknown:
            # A misspelt AIRLOCK_ADMIN_TOKEN silently ignored would leave the gateway open.
            raise AirlockError(f"unknown setting variables: {', '.join(unknown)} (airlock serve --help lists them)")
        token = _config_file.set(config_file)
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise AirlockError(describe(exc, config_file)) from None
        except ValueError as exc:  # a config file that is not TOML
            raise AirlockError(f"config file {config_file}: {exc}") from None
        finally:
            _config_file.reset(token)


def describe(exc: ValidationError, config_file: Path | None) -> str:
    """One line per invalid setting, naming its variable; input values are left out (they may be secrets)."""
    where = f" (config file {config_file}, {ENV_PREFIX}* variables or options)" if config_file else ""
    lines = [f"invalid settings{where}:"]
    for error in exc.errors(include_input=False):
        name = ".".join(str(part) for part in error["loc"])
        label = f"{name} ({ENV_PREFIX}{name.upper()})" if name else "settings"
        lines.append(f"  {label}: {error['msg']}")
    return "\n".join(lines)
