"""Fixtures running one real Open WebUI for the whole test session.

``openwebui`` starts it (11-21 s; the first run on a machine also installs it, about a
minute or two, see install.py) and ``openwebui_model`` gives it a model to click under. Tests
reach it through ``admin_api`` (REST as the admin), ``openwebui_user`` (a second, plain user)
and ``install_function`` (a function installed for one test, deleted after it); they click
with ``tests.openwebui.chat.browser``. Tests in this directory set a long pytest timeout
(``pytestmark``): pytest-timeout counts fixture setup, and so the install.

A test needing other server environment (a bridge's ``AIRLOCK_*`` variables, say) starts its
own with ``running_openwebui(ensure_openwebui(), data_dir, env={...})``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.openwebui.api import JSON, OpenWebUIApi
from tests.openwebui.install import ensure_openwebui
from tests.openwebui.server import PASSWORD, OpenWebUI, running_openwebui

PLUGINS = Path(__file__).parent / "plugins"

#: The id of the Pipe function serving as the session's model.
MODEL_ID = "airlock_test_model"

#: ``install_function(function_id, source, *, active=True, is_global=False)``.
InstallFunction = Callable[..., Awaitable[JSON]]


def plugin_source(name: str) -> str:
    """The source of ``tests/openwebui/plugins/<name>.py``."""
    return (PLUGINS / f"{name}.py").read_text()


@dataclass(frozen=True)
class OpenWebUIUser:
    """A signed-in user of the session's server."""

    id: str
    email: str
    token: str
    role: str


@pytest.fixture(scope="session")
def openwebui_venv() -> Path:
    """The cached Open WebUI venv (built on first use)."""
    return ensure_openwebui()


@pytest.fixture(scope="session")
def openwebui(openwebui_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenWebUI]:
    """The session's Open WebUI server, with its admin signed up."""
    data_dir = tmp_path_factory.mktemp("openwebui") / "data"
    with running_openwebui(openwebui_venv, data_dir) as server:
        yield server


@pytest.fixture
async def admin_api(openwebui: OpenWebUI) -> AsyncIterator[OpenWebUIApi]:
    """REST calls as the admin."""
    async with OpenWebUIApi(openwebui.url, openwebui.admin_token) as api:
        yield api


@pytest.fixture(scope="session")
async def openwebui_model(openwebui: OpenWebUI) -> str:
    """The id of an active Pipe function, the model every user may click actions under."""
    async with OpenWebUIApi(openwebui.url, openwebui.admin_token) as api:
        await api.create_function(MODEL_ID, plugin_source("echo_pipe"))
        await api.set_active(MODEL_ID, True)
        # Registered with a public read grant: a non-admin's click checks access to it.
        await api.publish_model(MODEL_ID, "Airlock Test Model")
        models = await api.models(refresh=True)
        assert MODEL_ID in models, sorted(models)
    return MODEL_ID


@pytest.fixture(scope="session")
async def openwebui_user(openwebui: OpenWebUI) -> OpenWebUIUser:
    """A second user, role ``user`` (made by the admin, so not pending approval)."""
    async with OpenWebUIApi(openwebui.url, openwebui.admin_token) as api:
        body = await api.add_user("Plain User", "user@airlock.test", PASSWORD)
    return OpenWebUIUser(id=str(body["id"]), email=str(body["email"]), token=str(body["token"]), role=str(body["role"]))


@pytest.fixture
async def install_function(admin_api: OpenWebUIApi, openwebui_model: str) -> AsyncIterator[InstallFunction]:
    """Install functions for one test: created (or updated), activated as asked, then deleted.

    Refreshes the models afterwards, as the UI does, so the action shows on them.
    """
    installed: list[str] = []

    async def install(function_id: str, source: str, *, active: bool = True, is_global: bool = False) -> JSON:
        if await admin_api.get_function(function_id) is None:
            await admin_api.create_function(function_id, source)
        else:
            await admin_api.update_function(function_id, source)
        installed.append(function_id)
        await admin_api.set_active(function_id, active)
        function = await admin_api.set_global(function_id, is_global)
        await admin_api.models(refresh=True)
        return function

    yield install
    for function_id in installed:
        await admin_api.delete_function(function_id)
    await admin_api.models(refresh=True)
