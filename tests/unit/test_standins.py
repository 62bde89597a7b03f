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
def owui(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
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
    assert "never writes" in message
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
