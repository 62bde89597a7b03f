"""``open_webui.models.models`` stand-in: the ``Models`` lookups ask the host (runs in the sandbox).

Upstream's "models" are the workspace's model entries (a name, parameters and metadata
over a base model). The classes mirror upstream's (0.12.4) field by field, with what a
stand-in adds everywhere: the records keep fields upstream lacks (``extra="allow"``) and
server-side timestamps default to 0, so that a host may send only what it has.

Upstream's validators guard the server's own writes (image URLs, tag spelling, the
shape of a voice avatar); they are not repeated here: a record comes from the host,
which is the server that validated it, and a plugin cannot write one back. What a
plugin does see is kept: the same attributes and types, and the same dumps (a
parameter set dumps without ``model_controls`` when it has none, as upstream's does,
since plugins merge ``params.model_dump()`` into completion requests).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from ._lookup import Table, by_id, ids_of, listed
from .users import UserResponse


def _without(data: Any, unset: dict[str, Any]) -> Any:
    """``data`` (a model's dump) without the keys whose value is the one upstream leaves out."""
    if isinstance(data, dict):
        for key, value in unset.items():
            if key in data and data[key] == value:
                del data[key]
    return data


class AccessGrantModel(BaseModel):
    """Who may read or write a model (upstream's ``open_webui.models.access_grants`` record)."""

    model_config = ConfigDict(extra="allow", from_attributes=True)

    id: str
    resource_type: str
    resource_id: str
    principal_type: str
    principal_id: str
    permission: str
    created_at: int = 0


class ModelControlOption(BaseModel):
    """One choice of a model control: a label and the parameters it sets."""

    label: str
    params: dict[str, Any]


class ModelControl(BaseModel):
    """A control offered with a model (a menu or a slider over named options)."""

    display: Literal["menu", "slider"] = "menu"
    label: str
    description: str | None = None
    default: str | None = None
    options: dict[str, ModelControlOption]

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Upstream's dumps leave out the default display and the absent texts.
        return _without(handler(self), {"display": "menu", "description": None, "default": None})


class ModelParams(BaseModel):
    """Inference parameters (``temperature``, ``top_p``, ``system``, ...), any of them, plus the controls."""

    model_config = ConfigDict(extra="allow")

    model_controls: dict[str, ModelControl] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Upstream's dumps leave out an empty model_controls: the rest is what a request takes.
        return _without(handler(self), {"model_controls": {}})


class ModelVoice(BaseModel):
    """The voice a model speaks with."""

    voice: str | None = None


class ModelAvatarAnimation(BaseModel):
    """An animation file of a voice avatar."""

    file_id: str


class ModelAvatarGesture(ModelAvatarAnimation):
    """A named gesture of a voice avatar."""

    name: str
    description: str


class ModelVoiceAvatar(BaseModel):
    """A model's voice avatar: its file, state animations and gestures."""

    file_id: str
    states: dict[Literal["idle", "listening", "speaking"], ModelAvatarAnimation] = Field(default_factory=dict)
    gestures: list[ModelAvatarGesture] = Field(default_factory=list)


class ModelMeta(BaseModel):
    """A model's metadata: profile, description, capabilities, knowledge; ``tags`` and the rest as extra fields."""

    model_config = ConfigDict(extra="allow")

    profile_image_url: str | None = None
    background_image_url: str | None = None
    description: str | None = None
    i18n: dict[str, Any] | None = None
    capabilities: dict[str, Any] | None = None
    knowledge: list[Any] | None = None
    voice: ModelVoice | None = None
    voice_avatar: ModelVoiceAvatar | None = None


class ModelModel(BaseModel):
    """A workspace model entry, as Open WebUI's ``ModelModel``."""

    model_config = ConfigDict(extra="allow", from_attributes=True)

    version_id: str | None = None
    id: str
    user_id: str
    base_model_id: str | None = None
    name: str
    params: ModelParams
    meta: ModelMeta
    access_grants: list[AccessGrantModel] = Field(default_factory=list)
    is_active: bool
    updated_at: int = 0
    created_at: int = 0


class ModelUserResponse(ModelModel):
    """A model entry with its owner (what ``Models.get_models`` returns)."""

    user: UserResponse | None = None


class ModelResponse(ModelModel):
    """Upstream's API shape of a model entry (the same fields)."""


class ModelForm(BaseModel):
    """The form upstream writes a model from; here only to build and read (``Models`` writes nothing)."""

    model_config = ConfigDict(extra="ignore")

    commit_message: str | None = None
    id: str = Field(pattern=r"^\S+$")
    base_model_id: str | None = None
    name: str
    meta: ModelMeta
    params: ModelParams
    access_grants: list[dict[str, Any]] | None = None
    is_active: bool = True


class ModelsTable(Table):
    """The read-only part of Open WebUI's ``Models`` repository: each lookup is a host request."""

    _name = "Models"

    async def get_model_by_id(self, id: str, db: Any = None) -> ModelModel | None:
        """The model with this id (the host's method ``models.get_model_by_id``), or None."""
        return await by_id("models.get_model_by_id", "Models.get_model_by_id", ModelModel, id)

    async def get_models_by_ids(self, ids: list[str], db: Any = None) -> list[ModelModel]:
        """The models among these ids that exist (``models.get_models_by_ids``)."""
        what = "Models.get_models_by_ids"
        return await listed("models.get_models_by_ids", what, ModelModel, {"ids": ids_of(what, ids)})

    async def get_all_models(self, db: Any = None) -> list[ModelModel]:
        """Every model entry, base models included (``models.get_all_models``)."""
        return await listed("models.get_all_models", "Models.get_all_models", ModelModel, {})

    async def get_models(
        self, writable_by_user_id: str | None = None, db: Any = None, ids: list[str] | None = None
    ) -> list[ModelUserResponse]:
        """The custom models (those with a base model), each with its owner (``models.get_models``).

        ``writable_by_user_id`` keeps those this user may change; ``ids`` (when not None)
        those with these ids. The host applies both, as upstream's query does.
        """
        what = "Models.get_models"
        if writable_by_user_id is not None and not isinstance(writable_by_user_id, str):
            raise TypeError(f"{what}: writable_by_user_id must be a str, got {type(writable_by_user_id).__name__}")
        args = {"writable_by_user_id": writable_by_user_id or None, "ids": None if ids is None else ids_of(what, ids)}
        return await listed("models.get_models", what, ModelUserResponse, args)

    async def get_base_models(self, tag: str | None = None, db: Any = None) -> list[ModelModel]:
        """The base models (no base model of their own), only those tagged ``tag`` if given.

        The host's method ``models.get_base_models``.
        """
        what = "Models.get_base_models"
        if tag is not None and not isinstance(tag, str):
            raise TypeError(f"{what}: tag must be a str, got {type(tag).__name__}")
        return await listed("models.get_base_models", what, ModelModel, {"tag": tag or None})


Models = ModelsTable()
