"""The source of an Open WebUI bridge: the function Open WebUI runs in place of a plugin.

A bridge looks to Open WebUI exactly like the plugin it stands for (frontmatter, icon,
sub-actions, Valves and UserValves schemas) and runs each click in Airlock. Its text is
the frontmatter, :mod:`airlock.openwebui.bridge_runtime` verbatim, and a few constants and
a class for this function; it imports nothing of Airlock.
"""

from __future__ import annotations

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
    """Whether a function's source is a bridge Airlock wrote."""
    head = source.lstrip()[:4096]
    return head.startswith('"""') and any(
        line.strip().startswith(f"{BRIDGE_MARK}:") for line in head.split('"""', 2)[1].splitlines()
    )


def _runtime_text() -> str:
    text = _RUNTIME.read_text(encoding="utf-8")
    # The bridge's own docstring is its frontmatter: the runtime's comments stay, its
    # docstring goes, and `from __future__` must then be the first statement.
    start = text.index("from __future__ import annotations")
    return text[start:]


#: A frontmatter line, as Open WebUI reads it (utils/plugin.py, extract_frontmatter).
_FRONTMATTER_LINE = re.compile(r"^\s*([a-z_]+):\s*(.*)\s*$", re.IGNORECASE)


def _in_source_order(record: FunctionRecord) -> dict[str, str]:
    """The manifest in the order its keys appear in the plugin's frontmatter.

    The registry hands the manifest over as a map, whose order is not kept; the bridge
    must read the same every time, or every ``push`` would see a changed source.
    """
    order: list[str] = []
    lines = record.source.splitlines()
    if lines and lines[0].strip() == '"""':
        for line in lines[1:]:
            if '"""' in line:
                break
            found = _FRONTMATTER_LINE.match(line)
            if found and found.group(1).strip() in record.manifest:
                order.append(found.group(1).strip())
    order += sorted(set(record.manifest) - set(order))
    return {key: record.manifest[key] for key in dict.fromkeys(order)}


def _frontmatter(record: FunctionRecord) -> str:
    lines = ['"""']
    manifest = _in_source_order(record)
    manifest.setdefault("title", record.name)
    if record.description and "description" not in manifest:
        manifest["description"] = record.description
    for key, value in manifest.items():
        if key in _DROPPED_KEYS:
            continue
        if '"""' in value or "\n" in value or "\\" in value or ":" in key or not key.strip():
            raise BridgeError(f"frontmatter {key!r} of {record.id!r} cannot be written into a bridge as it is")
        lines.append(f"{key}: {value}")
    lines.append(f"{BRIDGE_MARK}: {BRIDGE_VERSION}")
    lines.append('"""')
    return "\n".join(lines)


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
    body = [
        _frontmatter(record),
        "# Airlock bridge: Open WebUI runs this in place of the plugin, which runs sandboxed in",
        "# Airlock. Written by `airlock openwebui`; edit the plugin in Airlock, not this text.",
        _runtime_text().rstrip(),
        "",
        "",
        "# --- This function --------------------------------------------------------------------",
        "",
        f"AIRLOCK_FUNCTION_ID = {record.id!r}",
        f"AIRLOCK_TITLE = {record.name!r}",
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
        "        if __id__ and __id__ != AIRLOCK_FUNCTION_ID:",
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
    return "\n".join(body)
