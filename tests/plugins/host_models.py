"""
title: Host models
"""

from open_webui.config import CACHE_DIR, WEBUI_URL
from open_webui.env import VERSION, WEBUI_NAME
from open_webui.models.models import ModelModel, Models


class Action:
    async def action(self, body, __model__=None):
        mode = body["mode"]
        if mode == "model":
            model = await Models.get_model_by_id(body["id"])
            if model is None:
                return None
            return {
                "type": type(model).__name__,
                "is_model_model": isinstance(model, ModelModel),
                "name": model.name,
                "description": model.meta.description,
                "params": model.params.model_dump(),
                "dump": model.model_dump(mode="json"),
            }
        if mode == "lists":
            return {
                "all": [m.id for m in await Models.get_all_models()],
                "by_ids": [m.id for m in await Models.get_models_by_ids(body["ids"])],
                "custom": [(m.id, m.user.email if m.user else None) for m in await Models.get_models(ids=body["ids"])],
                "base": [m.id for m in await Models.get_base_models(tag=body.get("tag"))],
            }
        if mode == "write":
            try:
                await Models.delete_model_by_id(body["id"])
            except AttributeError as exc:
                return {"raised": type(exc).__name__, "message": str(exc)}
            return "deleted"
        if mode == "constants":
            cache = CACHE_DIR / "note.txt"
            cache.write_text("kept for this invocation only")
            return {"version": VERSION, "name": WEBUI_NAME, "url": WEBUI_URL, "cache": cache.read_text()}
        raise ValueError(mode)
