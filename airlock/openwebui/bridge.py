"""The source of an Open WebUI bridge: the function Open WebUI runs in place of a plugin.

A bridge looks to Open WebUI exactly like the plugin it stands for (frontmatter, icon,
sub-actions, Valves and UserValves schemas) and runs each click in Airlock. Its text is
the frontmatter, :mod:`airlock.openwebui.bridge_runtime` verbatim, and a few constants and
a class for this function; it imports nothing of Airlock.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from airlock._proto.airlock.v1 import airlock_pb2
from airlock.domain.functions import FunctionRecord

#: The frontmatter key that marks a function as a bridge (``pull`` never imports one back).
BRIDGE_MARK = "airlock_bridge"
#: The version of the bridge's text; a bridge of another version is rewritten by ``push``.
BRIDGE_VERSION = "1"
#: Frontmatter keys the bridge does not carry over: Open WebUI would pip-install the
#: requirements into its own server, while the plugin has them in its sandbox.
_DROPPED_KEYS = frozenset({"requirements", BRIDGE_MARK})
_RUNTIME = Path(__file__).with_name("bridge_runtime.py")


class BridgeError(ValueError):
    """A function that cannot be bridged (say which and why)."""


@dataclass(frozen=True)
class BridgeSettings:
    """How a bridge reaches Airlock; written into the bridge, never sent to the sandbox."""

    address: str
    #: Embedded only when given: without it the bridge reads AIRLOCK_TOKEN in Open WebUI.
    token: str | None = None
    tls: bool = False
    #: CA bundle (PEM) the bridge trusts; implies TLS.
    tls_ca_pem: str | None = None


def is_bridge(source: str) -> bool:
    """Whether a function's source is a bridge Airlock wrote (its mark and its runtime both)."""
    return BRIDGE_MARK in extract_frontmatter(source) and all(part in source for part in _BRIDGE_PARTS)


#: Text every bridge holds beside its frontmatter mark: a plugin that only copies the mark
#: into its own frontmatter is not taken for a bridge (and so not left unmigrated).
_BRIDGE_PARTS = ("\nAIRLOCK_FUNCTION_ID = ", "\nasync def run_click(", "\nAIRLOCK_DESCRIPTOR = (")


def _runtime_text() -> str:
    text = _RUNTIME.read_text(encoding="utf-8")
    # The bridge's own docstring is its frontmatter: the runtime's comments stay, its
    # docstring goes, and `from __future__` must then be the first statement.
    start = text.index("from __future__ import annotations")
    return text[start:]


#: A frontmatter line, as Open WebUI reads it (utils/plugin.py, extract_frontmatter).
_FRONTMATTER_LINE = re.compile(r"^\s*([a-z_]+):\s*(.*)\s*$", re.IGNORECASE)


def extract_frontmatter(source: str) -> dict[str, str]:
    """The frontmatter as Open WebUI 0.12.4 reads it from a source, in order."""
    lines = source.splitlines()
    if not lines or lines[0].strip() != '"""':
        return {}
    found: dict[str, str] = {}
    for line in lines[1:]:
        if '"""' in line:
            break
        match = _FRONTMATTER_LINE.match(line)
        if match:
            found[match.group(1).strip()] = match.group(2).strip()
    return found


def _frontmatter(record: FunctionRecord) -> dict[str, str]:
    """The bridge's frontmatter: the plugin's own, read from its source, less requirements.

    Read from the source, as Open WebUI reads it, never from what the worker reported: the
    plugin's code runs in that worker and could report anything, and the bridge runs
    unsandboxed in Open WebUI, which reads a ``requirements`` line as packages to install.
    """
    if not record.source:
        raise BridgeError(f"{record.id!r}: the function's source is needed to write its bridge")
    manifest = {k: v for k, v in extract_frontmatter(record.source).items() if k not in _DROPPED_KEYS}
    for key, value in manifest.items():
        # One printable line, nothing Python would read as an escape or the docstring's end.
        if not value.isprintable() or '"""' in value or "\\" in value:
            raise BridgeError(
                f"{record.id!r}: the frontmatter line {key!r} holds characters a bridge cannot carry "
                "(a backslash, control characters or three quotes): edit it in the plugin"
            )
    manifest[BRIDGE_MARK] = BRIDGE_VERSION
    return manifest


def _checked(source: str, record: FunctionRecord, intended: dict[str, str]) -> str:
    """``source``, once it is certain Open WebUI reads exactly the intended frontmatter from it."""
    ast.parse(source)
    # `intended` never holds requirements (_frontmatter drops them), so equality rules them out.
    if extract_frontmatter(source) != intended:
        raise BridgeError(f"{record.id!r}: its bridge would not read as intended; refusing to write it")
    return source


def _literal(value: object) -> str:
    """A Python literal for JSON data (json.loads of a repr'd JSON string: exact and safe)."""
    return f"json.loads({json.dumps(json.dumps(value, sort_keys=False))})"


def _descriptor_b64() -> str:
    encoded = base64.b64encode(airlock_pb2.DESCRIPTOR.serialized_pb).decode()
    return "\n".join(f'    "{line}"' for line in textwrap.wrap(encoded, 96))


def render(record: FunctionRecord, settings: BridgeSettings) -> str:
    """The bridge's Python source for ``record``."""
    if record.kind != "action":
        raise BridgeError(f"{record.id!r} is a {record.kind}: Airlock runs actions, so only actions get bridges")
    connection = {
        "address": settings.address,
        "token": settings.token,
        "tls": settings.tls or settings.tls_ca_pem is not None,
        "tls_ca_pem": settings.tls_ca_pem,
    }
    frontmatter = _frontmatter(record)
    body = [
        "\n".join(['"""', *(f"{key}: {value}" for key, value in frontmatter.items()), '"""']),
        "# Airlock bridge: Open WebUI runs this in place of the plugin, which runs sandboxed in",
        "# Airlock. Written by `airlock openwebui`; edit the plugin in Airlock, not this text.",
        _runtime_text().rstrip(),
        "",
        "",
        "# --- This function --------------------------------------------------------------------",
        "",
        f"AIRLOCK_FUNCTION_ID = {record.id!r}",
        f"AIRLOCK_TITLE = {record.name!r}",
        f"AIRLOCK_SUB_ACTIONS = {_literal([a.id for a in record.actions] if record.declares_actions else [])}",
        f"AIRLOCK_CONNECTION: dict[str, Any] = {_literal(connection)}",
        "AIRLOCK_DESCRIPTOR = (",
        _descriptor_b64(),
        ")",
    ]
    if record.icon_url and "icon_url" not in record.manifest:
        body.append(f"icon_url = {record.icon_url!r}")
    body += ["", "", "class Action:", '    """The plugin, run in Airlock."""', ""]
    if record.declares_actions:
        entries = [
            {"id": a.id, "name": a.name, **({"icon_url": a.icon_url} if a.icon_url else {})} for a in record.actions
        ]
        body.append(f"    actions = {_literal(entries)}")
    if record.valves_schema is not None:
        body.append(f'    Valves = valves_model("Valves", {_literal(record.valves_schema)})')
    if record.user_valves_schema is not None:
        body.append(f'    UserValves = valves_model("UserValves", {_literal(record.user_valves_schema)})')
    body += ["", "    def __init__(self) -> None:"]
    if record.valves_schema is not None:
        # Like the plugin's own __init__, but never failing on a required valve: Open WebUI
        # sets Valves(**stored) before every call, which raises as the plugin's would.
        body.append("        self.valves = self.Valves.model_construct()")
    else:
        body.append("        pass")
    body += [
        "",
        "    async def action(",
        "        self,",
        "        body: dict[str, Any],",
        "        __user__: dict[str, Any] | None = None,",
        "        __event_emitter__: Any = None,",
        "        __event_call__: Any = None,",
        "        __model__: Any = None,",
        "        __request__: Any = None,",
        "        __metadata__: Any = None,",
        "        __id__: str | None = None,",
        "    ) -> Any:",
        "        action_id = AIRLOCK_FUNCTION_ID",
        "        # Open WebUI passes a sub-action's id, or the function's own (whatever id it",
        "        # was installed under): only a declared sub-action is one.",
        "        if __id__ in AIRLOCK_SUB_ACTIONS:",
        '            action_id = f"{AIRLOCK_FUNCTION_ID}.{__id__}"',
        "        return await run_click(",
        "            descriptor_b64=AIRLOCK_DESCRIPTOR,",
        "            settings=AIRLOCK_CONNECTION,",
        "            action_id=action_id,",
        "            title=AIRLOCK_TITLE,",
        '            valves=getattr(self, "valves", None),',
        "            body=body,",
        "            user=__user__,",
        "            event_emitter=__event_emitter__,",
        "            event_call=__event_call__,",
        "            model=__model__,",
        "            request=__request__,",
        "            metadata=__metadata__,",
        "        )",
        "",
    ]
    return _checked("\n".join(body), record, frontmatter)
