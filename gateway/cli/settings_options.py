"""``airlock serve`` options generated from GatewayConfig, so ``--help`` lists every setting.

Each option passes its raw text on, unset options pass nothing: pydantic validates every
source (option, variable, file) the same way, and a setting's default lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gateway.config import ENV_PREFIX, NOT_ON_COMMAND_LINE, GatewayConfig

F = Callable[..., Any]
#: Shorter names kept from before the options were generated (scripts use them).
_ALIASES = {"profiles_dir": ("--profiles",)}


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return None if field.default is PydanticUndefined else field.default


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if value == "":
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _option(name: str, field: FieldInfo) -> Callable[[F], F]:
    flag = name.replace("_", "-")
    help_text = f"{field.description}  [default: {_shown(_default(field))}; env: {ENV_PREFIX}{name.upper()}]"
    if field.annotation is bool:
        return click.option(f"--{flag}/--no-{flag}", name, default=None, help=help_text)
    names = (f"--{flag}", *_ALIASES.get(name, ()))
    return click.option(*names, name, default=None, metavar=name.upper(), help=help_text)


def settings_options(command: F) -> F:
    """Add one option per command-line setting of GatewayConfig to ``command``."""
    for name, field in reversed(list(GatewayConfig.model_fields.items())):
        if name not in NOT_ON_COMMAND_LINE:
            command = _option(name, field)(command)
    return command


def environment_only_help() -> str:
    """The help epilog naming the settings that are not options."""
    lines = ["\b", "Settings only read from the environment or the config file (never a command line):"]
    for name in sorted(NOT_ON_COMMAND_LINE):
        field = GatewayConfig.model_fields[name]
        lines.append(f"  {ENV_PREFIX}{name.upper()}: {field.description}")
    lines.append("Precedence: options, then AIRLOCK_* variables, then the config file, then defaults.")
    return "\n".join(lines)
