"""``open_webui.models.users`` stand-in: ``Users.get_user_by_id`` asks the host (runs in the sandbox).

The model mirrors upstream's ``UserModel`` (0.12.4) field by field; the server-side
timestamps default to 0 so that a host may send only what it has, and fields upstream
does not have are kept (``extra="allow"``) rather than lost.
"""

from __future__ import annotations

import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._lookup import Table, by_id


class UserModel(BaseModel):
    """A user, as Open WebUI's ``UserModel``."""

    model_config = ConfigDict(extra="allow", from_attributes=True)

    id: str
    email: str
    username: str | None = None
    role: str = "pending"
    name: str
    profile_image_url: str | None = None
    profile_banner_image_url: str | None = None
    bio: str | None = None
    gender: str | None = None
    date_of_birth: datetime.date | None = None
    timezone: str | None = None
    presence_state: str | None = None
    status_emoji: str | None = None
    status_message: str | None = None
    status_expires_at: int | None = None
    info: dict[str, Any] | None = None
    variables: dict[str, Any] = Field(default_factory=dict, exclude=True)
    settings: dict[str, Any] | None = None
    oauth: dict[str, Any] | None = None
    scim: dict[str, Any] | None = None
    last_active_at: int = 0
    updated_at: int = 0
    created_at: int = 0


class UserNameResponse(BaseModel):
    """A user as upstream shows one to others (the owner of a model in ``Models.get_models``)."""

    id: str
    name: str
    role: str = "pending"  # upstream requires it; a host that omits it gets UserModel's default


class UserResponse(UserNameResponse):
    """``UserNameResponse`` with the email, as upstream's; other fields of the host's user are dropped."""

    email: str


class UsersTable(Table):
    """The part of Open WebUI's ``Users`` repository plugins use: its lookups, never its writes."""

    _name = "Users"

    async def get_user_by_id(self, id: str, db: Any = None) -> UserModel | None:
        """The user with this id (the host's method ``users.get_user_by_id``), or None."""
        return await by_id("users.get_user_by_id", "Users.get_user_by_id", UserModel, id)


Users = UsersTable()
