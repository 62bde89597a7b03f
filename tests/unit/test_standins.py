"""The ``open_webui`` stand-ins' own behaviour, imported here as a plugin imports them.

What needs a host (the lookups) is tested with a real gateway in
tests/integration/test_host_requests.py and test_host_models.py; these are what a module
gives before any host is asked: its constants, its models and its refusals.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import runner

STANDINS = Path(runner.__file__).resolve().parent / "standins"


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The directories the stand-ins create, recorded instead of created.

    ``open_webui.config`` creates its directories in /tmp, as upstream does in its data
    directory: inside a sandbox that is the sandbox's own /tmp, here the test host's.
    """
    created: list[Path] = []

    def mkdir(path: Path, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        created.append(path)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    return created


@pytest.fixture
def owui(monkeypatch: pytest.MonkeyPatch, made: list[Path]) -> Iterator[ModuleType]:
    """The stand-in package on sys.path, and nothing of it left behind afterwards."""
    monkeypatch.syspath_prepend(str(STANDINS))
    meta_path = list(sys.meta_path)
    yield importlib.import_module("open_webui")
    sys.meta_path[:] = meta_path
    for name in [n for n in sys.modules if n == "open_webui" or n.startswith("open_webui.")]:
        del sys.modules[name]


def test_a_method_a_repository_lacks_is_named_with_what_exists(owui: ModuleType) -> None:
    Users = importlib.import_module("open_webui.models.users").Users  # noqa: N806 - the name plugins use

    with pytest.raises(AttributeError) as refused:
        Users.update_user_by_id  # noqa: B018 - the attribute access itself must fail
    message = str(refused.value)
    assert message.startswith("Users.update_user_by_id is not available in Airlock's sandbox")
    assert "has only get_user_by_id" in message
    assert "never written from a sandbox" in message
    assert not hasattr(Users, "delete_user_by_id")
    assert getattr(Users, "insert_new_user", None) is None
    with pytest.raises(AttributeError, match=r"^__deepcopy__$"):
        Users.__deepcopy__  # noqa: B018 - dunder probes get the plain error


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def test_model_records_have_upstreams_fields_and_dumps(owui: ModuleType) -> None:
    models = _module("open_webui.models.models")
    record = {
        "id": "summarizer",
        "user_id": "u-1",
        "base_model_id": "llama3",
        "name": "Summarizer",
        "params": {"temperature": 0.2, "system": "Be brief."},
        "meta": {"description": "Short answers", "tags": [{"name": "work"}], "voice": {"voice": "alloy"}},
        "is_active": True,
        "access_grants": [
            {"id": "g", "resource_type": "model", "resource_id": "summarizer", "principal_type": "user",
             "principal_id": "*", "permission": "read"},
        ],
    }  # fmt: skip
    model = models.ModelModel.model_validate(record)
    assert (model.id, model.base_model_id, model.version_id, model.created_at) == ("summarizer", "llama3", None, 0)
    assert model.meta.description == "Short answers"
    assert model.meta.voice.voice == "alloy"
    assert model.meta.model_dump()["tags"] == [{"name": "work"}]  # an extra field, kept
    assert model.access_grants[0].principal_id == "*"
    # Upstream's params dump without an empty model_controls: plugins merge it into requests.
    assert model.params.model_dump() == {"temperature": 0.2, "system": "Be brief."}
    controls = {"effort": {"label": "Effort", "options": {"low": {"label": "Low", "params": {"top_p": 0.5}}}}}
    with_controls = models.ModelParams.model_validate({"model_controls": controls})
    assert with_controls.model_dump() == {"model_controls": controls}  # display "menu" left out, as upstream
    assert with_controls.model_controls["effort"].display == "menu"
    form = models.ModelForm(id="m", name="M", meta={}, params={}, unknown=1)
    assert form.is_active is True
    assert "unknown" not in form.model_dump()


def test_models_refuses_writes_by_name(owui: ModuleType) -> None:
    models = _module("open_webui.models.models").Models
    for write in ("insert_new_model", "update_model_by_id", "toggle_model_by_id", "delete_model_by_id", "sync_models"):
        with pytest.raises(AttributeError) as refused:
            getattr(models, write)
        message = str(refused.value)
        assert message.startswith(f"Models.{write} is not available in Airlock's sandbox")
        assert "has only get_all_models, get_base_models, get_model_by_id, get_models, get_models_by_ids" in message


@pytest.mark.anyio
async def test_lookup_arguments_are_checked_before_the_host_is_asked(owui: ModuleType) -> None:
    models = _module("open_webui.models.models").Models
    with pytest.raises(TypeError, match=re.escape("Models.get_model_by_id: id must be a str, got int")):
        await models.get_model_by_id(1)
    with pytest.raises(TypeError, match=re.escape("Models.get_models_by_ids: ids must be a list of str, got str")):
        await models.get_models_by_ids("m")
    with pytest.raises(TypeError, match="found a int"):
        await models.get_models(ids=["a", 2])
    with pytest.raises(TypeError, match=re.escape("Models.get_base_models: tag must be a str")):
        await models.get_base_models(tag=["work"])


def test_env_gives_upstreams_defaults_for_an_empty_environment(owui: ModuleType) -> None:
    env = _module("open_webui.env")
    assert (env.VERSION, env.WEBUI_NAME, env.ENV, env.GLOBAL_LOG_LEVEL) == ("0.12.4", "Open WebUI", "dev", "INFO")
    assert env.SRC_LOG_LEVELS == {}  # upstream's legacy dict is empty too
    assert Path("/tmp/open_webui_data") == env.DATA_DIR
    assert env.AIOHTTP_CLIENT_TIMEOUT is None
    assert "WEBUI_SECRET_KEY" not in env.__all__
    assert "VERSION" in env.__all__


@pytest.mark.parametrize(
    ("module", "name", "why"),
    [
        ("open_webui.env", "WEBUI_SECRET_KEY", "one of the Open WebUI server's secrets"),
        ("open_webui.env", "DATABASE_URL", "one of the Open WebUI server's secrets"),
        ("open_webui.env", "REDIS_URL", "one of the Open WebUI server's secrets"),
        ("open_webui.config", "OPENAI_API_KEYS", "one of the Open WebUI server's secrets"),
        ("open_webui.config", "OAUTH_CLIENT_SECRET", "one of the Open WebUI server's secrets"),
        ("open_webui.env", "STATIC_DIR", "only Open WebUI's non-secret constants are provided"),
        ("open_webui.config", "ENABLE_SIGNUP", "only Open WebUI's non-secret constants are provided"),
    ],
)
def test_a_constant_not_provided_fails_to_import_saying_why(owui: ModuleType, module: str, name: str, why: str) -> None:
    with pytest.raises(ImportError) as refused:
        exec(f"from {module} import {name}", {})  # noqa: S102 - the import statement itself is under test
    message = str(refused.value)
    assert message.startswith(f"{module}.{name} is not available in Airlock's sandbox: ")
    assert why in message
    assert "WEBUI_NAME" in message  # what exists is listed
    assert "docs/COMPATIBILITY.md" in message
    with pytest.raises(ImportError):  # read as an attribute too: a plugin never sees a value
        getattr(_module(module), name)


def test_names_that_are_not_constants_keep_the_plain_attribute_error(owui: ModuleType) -> None:
    env = _module("open_webui.env")
    assert getattr(env, "log", None) is None
    assert not hasattr(env, "__path__")
    with pytest.raises(AttributeError, match="has no attribute 'something'"):
        env.something  # noqa: B018 - the access itself is under test


def test_config_reexports_env_and_creates_its_directories(owui: ModuleType, made: list[Path]) -> None:
    config = _module("open_webui.config")
    assert ("Open WebUI", Path("/tmp/open_webui_data")) == (config.WEBUI_NAME, config.DATA_DIR)
    assert (config.WEBUI_URL, config.DEFAULT_LOCALE, config.DEFAULT_MODELS) == ("", "", None)
    assert made == [Path("/tmp/open_webui_data/uploads"), Path("/tmp/open_webui_data/cache")]
    assert Path("/tmp/open_webui_data/cache") == config.CACHE_DIR


def test_an_unknown_open_webui_module_lists_what_exists(owui: ModuleType) -> None:
    with pytest.raises(ModuleNotFoundError) as refused:
        _module("open_webui.main")
    assert "open_webui.models.models (Models" in str(refused.value)
    assert "open_webui.env and open_webui.config" in str(refused.value)


def test_a_host_answer_that_is_not_a_record_is_the_hosts_error(owui: ModuleType) -> None:
    lookup = importlib.import_module("open_webui.models._lookup")
    models = importlib.import_module("open_webui.models.models")
    from runner.host import HostError  # noqa: PLC0415

    with pytest.raises(HostError) as refused:
        lookup._record("models.get_model_by_id", models.ModelModel, {"id": "llama3", "name": "L"})
    message = str(refused.value)
    assert message.startswith("models.get_model_by_id: the host's answer is not a valid ModelModel (")
    assert "is_active: Field required" in message
