"""The ``open_webui`` stand-ins' own behaviour, imported here as a plugin imports them.

What needs a host (the lookups) is tested with a real gateway in
tests/integration/test_host_requests.py and test_host_models.py; these are what a module
gives before any host is asked: its constants, its models and its refusals.
"""

from __future__ import annotations

import importlib
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
