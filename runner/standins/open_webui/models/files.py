"""``open_webui.models.files`` stand-in: ``Files.get_file_by_id`` asks the host (runs in the sandbox).

Upstream's ``FileModel.path`` is a path on the server; a sandbox cannot open it (nothing of
the host's filesystem is visible), so file contents reach a plugin only as the host puts
them in ``data`` (Open WebUI keeps extracted text in ``data["content"]``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ._lookup import Table, by_id


class FileModel(BaseModel):
    """A file record, as Open WebUI's ``FileModel`` (0.12.4)."""

    model_config = ConfigDict(extra="allow", from_attributes=True)

    id: str
    user_id: str
    hash: str | None = None
    filename: str
    path: str | None = None
    data: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    created_at: int | None = None
    updated_at: int | None = None


class FilesTable(Table):
    """The part of Open WebUI's ``Files`` repository plugins use: its lookups, never its writes."""

    _name = "Files"

    async def get_file_by_id(self, id: str, db: Any = None) -> FileModel | None:
        """The file record with this id (the host's method ``files.get_file_by_id``), or None."""
        return await by_id("files.get_file_by_id", "Files.get_file_by_id", FileModel, id)


Files = FilesTable()
