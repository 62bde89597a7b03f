"""Gateway settings: sources and their precedence, validation, and ``serve --help``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from gateway.cli.main import cli
from gateway.config import ENV_PREFIX, NOT_ON_COMMAND_LINE, GatewayConfig
from gateway.errors import AirlockError
from gateway.server import exposure_warnings


@pytest.fixture(autouse=True)
def _no_airlock_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def test_defaults_without_any_source() -> None:
    config = GatewayConfig.load()
    assert config.listen == "127.0.0.1:50051"
    assert config.metrics_listen == "127.0.0.1:9464"
    assert config.max_inflight == 256
    assert config.auth_enabled is False


def test_options_beat_variables_beat_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "airlock.toml"
    path.write_text('max_inflight = 3\nmax_streams = 5\nlisten = "127.0.0.1:7000"\nwarm_up = false\n')
    monkeypatch.setenv("AIRLOCK_MAX_STREAMS", "50")
    monkeypatch.setenv("AIRLOCK_LISTEN", "127.0.0.1:7001")
    config = GatewayConfig.load(path, listen="127.0.0.1:7002")
    assert config.max_inflight == 3  # the file only
    assert config.max_streams == 50  # the variable over the file
    assert config.listen == "127.0.0.1:7002"  # the option over both
    assert config.warm_up is False


def test_structured_settings_come_from_json_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRLOCK_TLS_CLIENT_ROLES", '{"ops": "admin", "*": "invoker"}')
    pem = tmp_path / "x.pem"
    pem.write_text("")
    config = GatewayConfig.load(tls_cert=str(pem), tls_key=str(pem), tls_client_ca=str(pem))
    assert config.tls_client_roles == {"ops": "admin", "*": "invoker"}
    assert config.auth_enabled


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("max_inflight = 0\n", "max_inflight (AIRLOCK_MAX_INFLIGHT): Input should be greater than or equal to 1"),
        ("bogus = 1\n", "bogus (AIRLOCK_BOGUS): Extra inputs are not permitted"),
        ('listen = "nowhere"\n', "listen (AIRLOCK_LISTEN): Value error, 'nowhere' is not HOST:PORT"),
        ('log_format = "xml"\n', "log_format (AIRLOCK_LOG_FORMAT): Input should be 'auto', 'json' or 'console'"),
        ('unix_socket_mode = "999"\n', "unix_socket_mode (AIRLOCK_UNIX_SOCKET_MODE): String should match pattern"),
    ],
)
def test_invalid_file_settings_name_the_setting(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "airlock.toml"
    path.write_text(content)
    with pytest.raises(AirlockError) as caught:
        GatewayConfig.load(path)
    assert str(caught.value).startswith(f"invalid settings (config file {path}")
    assert expected in str(caught.value)


def test_a_missing_or_broken_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AirlockError, match="does not exist"):
        GatewayConfig.load(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("max_inflight = [\n")
    with pytest.raises(AirlockError, match=f"config file {broken}: "):
        GatewayConfig.load(broken)


def test_error_messages_never_echo_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_ADMIN_TOKEN", "hunter2-short")
    with pytest.raises(AirlockError) as caught:
        GatewayConfig.load()
    assert "admin_token (AIRLOCK_ADMIN_TOKEN): Value error, a bearer token needs at least 16 characters" in str(
        caught.value
    )
    assert "hunter2" not in str(caught.value)


def test_secrets_are_hidden_in_the_config_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_INVOKER_TOKEN", "a-long-invoker-token-value")
    config = GatewayConfig.load()
    assert config.invoker_token is not None
    assert config.invoker_token.get_secret_value() == "a-long-invoker-token-value"
    assert "a-long-invoker-token-value" not in repr(config)


def test_serve_help_lists_every_setting_with_its_default_and_variable() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # help wraps lines; compare word sequences
    for name in GatewayConfig.model_fields:
        variable = f"{ENV_PREFIX}{name.upper()}"
        assert variable in text, name
        if name in NOT_ON_COMMAND_LINE:
            assert f"--{name.replace('_', '-')}" not in text, f"{name} must not be an option"
        else:
            assert f"--{name.replace('_', '-')}" in text, name
            assert f"; env: {variable}]" in text, f"{name}: no [default: ...; env: ...] note"
    assert "[default: 127.0.0.1:50051; env: AIRLOCK_LISTEN]" in text
    assert "[default: 256; env: AIRLOCK_MAX_INFLIGHT]" in text
    assert "[default: true; env: AIRLOCK_WARM_UP]" in text
    assert "AIRLOCK_CONFIG" in text


def test_serve_reports_invalid_settings_before_starting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_MAX_STREAMS", "many")
    result = CliRunner().invoke(cli, ["serve", "--max-inflight", "0"])
    assert result.exit_code == 2
    assert "max_inflight (AIRLOCK_MAX_INFLIGHT): Input should be greater than or equal to 1" in result.output
    assert "max_streams (AIRLOCK_MAX_STREAMS): Input should be a valid integer" in result.output


def test_a_misspelt_variable_is_an_error_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_ADMIN_TOKN", "x" * 32)
    monkeypatch.setenv("AIRLOCK_TARGET", "127.0.0.1:1")  # a client variable: allowed
    with pytest.raises(AirlockError) as caught:
        GatewayConfig.load()
    assert str(caught.value) == "unknown setting variables: AIRLOCK_ADMIN_TOKN (airlock serve --help lists them)"


def test_an_empty_path_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_TLS_CERT", "")
    monkeypatch.setenv("AIRLOCK_UNIX_SOCKET", "")
    config = GatewayConfig.load()
    assert config.tls_cert is None
    assert config.unix_socket is None


def test_mtls_that_would_admit_nobody_is_refused(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("")
    with pytest.raises(AirlockError, match="tls_client_ca without tls_client_roles or a token would let nobody in"):
        GatewayConfig.load(tls_cert=str(pem), tls_key=str(pem), tls_client_ca=str(pem))


def test_a_direct_validation_error_never_shows_a_token() -> None:
    with pytest.raises(ValidationError) as caught:
        GatewayConfig(admin_token="hunter2-short")
    assert "hunter2" not in str(caught.value)


def test_a_world_accessible_unix_socket_without_auth_is_warned_about(tmp_path: Path) -> None:
    socket_path = tmp_path / "a.sock"
    open_socket = GatewayConfig.load(listen="", unix_socket=str(socket_path), unix_socket_mode="0666")
    (warning,) = exposure_warnings(open_socket)
    assert warning.startswith(f"the unix socket {socket_path} is open to every local user (mode 0666)")
    assert exposure_warnings(open_socket.model_copy(update={"unix_socket_mode": "0660"})) == []
