"""docker-compose.yml's gateway service as ``docker run`` options, read from the file itself.

The container check runs the image "with exactly the options docker-compose.yml documents".
Reading them from the file (not copying them into the check) keeps the two in step: every
key of the service is either translated here or refused, so an option added to the compose
file fails the check until it is translated, instead of being silently left out.

``docker run`` equivalents follow Compose's own mapping (the compose spec's service keys
and the engine's HostConfig fields they set); names are made as Compose makes them:
``<project>_<network>``, ``<project>_<volume>``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Keys that do not change how the container runs: ``build`` (the check builds the image
#: itself, the same Dockerfile) and ``image`` (the name the check builds and runs).
_NOT_RUN_OPTIONS = {"build", "image"}

#: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class ComposeError(ValueError):
    """The compose file holds something the check cannot translate, or refuses to interpolate."""


@dataclass(frozen=True)
class Removal:
    """One documented option taken out, and what its comment in the compose file promises."""

    key: str
    value: str
    #: A pattern the failure's message must match (what the comment says fails: EPERM, ...).
    expected: str

    def label(self) -> str:
        return f"{self.key}: {self.value}"


def load(path: Path) -> dict[str, Any]:
    """The compose file, parsed."""
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def service(compose: Mapping[str, Any], name: str = "gateway") -> dict[str, Any]:
    """One service's mapping (a deep copy: callers remove options from it)."""
    return copy.deepcopy(dict(compose["services"][name]))


def without(definition: Mapping[str, Any], removal: Removal) -> dict[str, Any]:
    """``definition`` with one item of a list-valued key taken out (it must be there)."""
    changed = copy.deepcopy(dict(definition))
    items = changed.get(removal.key)
    if not isinstance(items, list) or removal.value not in items:
        raise ComposeError(f"the service has no {removal.label()} to remove")
    items.remove(removal.value)
    return changed


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution, including ``${NAME:?message}``'s refusal."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if present:
            return env[name]
        if op in (":?", "?"):
            raise ComposeError(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-"):
            return arg
        return ""

    return _VARIABLE.sub(substitute, value)


def comment_above(path: Path, item: str) -> str:
    """The comment lines just above ``- item`` in the compose file (what the file promises)."""
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip() == f"- {item}":
            above: list[str] = []
            for previous in reversed(lines[:index]):
                stripped = previous.strip()
                if not stripped.startswith("#"):
                    break
                above.insert(0, stripped.lstrip("# "))
            return " ".join(above)
    raise ComposeError(f"no '- {item}' line in {path}")


def run_options(definition: Mapping[str, Any], *, project: str, env: Mapping[str, str]) -> list[str]:
    """``docker run`` options equivalent to the service ``definition`` (the image name excluded)."""
    options: list[str] = []
    for key, value in definition.items():
        if key in _NOT_RUN_OPTIONS:
            continue
        translate = _TRANSLATIONS.get(key)
        if translate is None:
            raise ComposeError(f"the check does not know how to run the compose key {key!r}: translate it")
        options += translate(value, project, env)
    return options


def _restart(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return ["--restart", str(value)]


def _init(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return [f"--init={'true' if value else 'false'}"]


def _duration_seconds(value: str) -> int:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    if not match or not value:
        raise ComposeError(f"duration {value!r}: only NmNs is translated")
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def _stop_grace(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return ["--stop-timeout", str(_duration_seconds(str(value)))]


def _environment(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    pairs = value.items() if isinstance(value, Mapping) else (str(item).split("=", 1) for item in value)
    return [part for name, text in pairs for part in ("-e", f"{name}={interpolate(str(text), env)}")]


def _ports(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return [part for port in value for part in ("-p", str(port))]


def _networks(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    names = list(value) if isinstance(value, list) else list(value.keys())
    if len(names) != 1:
        # docker run attaches one network; more need `docker network connect` afterwards.
        raise ComposeError(f"networks {names}: the check runs a service on exactly one network")
    return ["--network", f"{project}_{names[0]}"]


def _healthcheck(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    test = value["test"]
    if not (isinstance(test, list) and test[0] == "CMD"):
        raise ComposeError(f"healthcheck test {test!r}: only the exec form ['CMD', ...] is translated")
    # --health-cmd takes a shell command (CMD-SHELL): the same argv, run through /bin/sh.
    options = ["--health-cmd", " ".join(test[1:])]
    flags = {"interval": "--health-interval", "timeout": "--health-timeout", "start_period": "--health-start-period"}
    options += [part for key, flag in flags.items() if key in value for part in (flag, str(value[key]))]
    if "retries" in value:
        options += ["--health-retries", str(value["retries"])]
    return options


def _logging(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    options = ["--log-driver", str(value["driver"])]
    return options + [part for k, v in value.get("options", {}).items() for part in ("--log-opt", f"{k}={v}")]


def _cap_drop(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return [part for cap in value for part in ("--cap-drop", str(cap))]


def _cap_add(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return [part for cap in value for part in ("--cap-add", str(cap))]


def _security_opt(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return [part for option in value for part in ("--security-opt", str(option))]


def _cgroup(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return [f"--cgroupns={value}"]


def _read_only(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return ["--read-only"] if value else []


def _tmpfs(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    return [part for mount in ([value] if isinstance(value, str) else value) for part in ("--tmpfs", str(mount))]


def _volumes(value: Any, project: str, env: Mapping[str, str]) -> list[str]:
    options: list[str] = []
    for volume in value:
        if isinstance(volume, str):
            source, _, target = volume.partition(":")
            if source.startswith((".", "/")):
                raise ComposeError(f"volume {volume!r}: short-form binds are not translated")
            # A named volume: Compose creates <project>_<name>, docker run creates it on use.
            options += ["-v", f"{project}_{source}:{target}"]
            continue
        if volume.get("type") != "bind":
            raise ComposeError(f"volume {volume!r}: only binds and named volumes are translated")
        mode = "ro" if volume.get("read_only") else "rw"
        if volume.get("bind", {}).get("create_host_path"):
            # -v creates a missing source directory, as create_host_path asks; --mount would refuse it.
            options += ["-v", f"{volume['source']}:{volume['target']}:{mode}"]
        else:
            readonly = ",readonly" if mode == "ro" else ""
            options += ["--mount", f"type=bind,source={volume['source']},target={volume['target']}{readonly}"]
    return options


_TRANSLATIONS = {
    "restart": _restart,
    "init": _init,
    "stop_grace_period": _stop_grace,
    "environment": _environment,
    "ports": _ports,
    "networks": _networks,
    "healthcheck": _healthcheck,
    "logging": _logging,
    "cap_drop": _cap_drop,
    "cap_add": _cap_add,
    "security_opt": _security_opt,
    "cgroup": _cgroup,
    "read_only": _read_only,
    "tmpfs": _tmpfs,
    "volumes": _volumes,
}
